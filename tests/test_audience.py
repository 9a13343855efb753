"""Audience export (crm/audience.py, `crm audience`, the Dagster job audience_export)
on a small restricted-like file built by hand, checked against pandas."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from crm import cli
from crm.audience import (
    COLUMNS,
    AudienceError,
    AudienceSpec,
    export_audience,
    manifest_path_for,
)

SEGMENTS = ["Champions", "Loyal", "At Risk", "Hibernating", "Lost"]
TIERS = ["top", "high", "medium", "low", "negative"]
STAGES = ["prospect", "new", "active", "at_risk", "lapsed", "reactivated"]
REGIONS = ["Bayern", "Berlin", "Hamburg", "Île-de-France", None]
RUN_ID = "run-0042"


def make_customers(n: int = 400, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ids = [f"C{i:05d}" for i in range(n)]
    frame = pd.DataFrame(
        {
            "customer_id": ids,
            "first_name": [f"Anna {i}" for i in range(n)],
            "last_name": [f'Müller, "{i}"' for i in range(n)],  # comma and quotes survive
            "email": [f"p{i}@example.com" for i in range(n)],
            "phone": [f"+4915{i:08d}" for i in range(n)],
            "address_line1": [f"Hauptstraße {i}" for i in range(n)],
            "address_line2": [None] * n,
            "postal_code": [f"{10000 + i}" for i in range(n)],
            "city": ["Berlin"] * n,
            "region": rng.choice(np.array(REGIONS, dtype=object), n),
            "country": rng.choice(np.array(["DE", "FR", "AT"], dtype=object), n),
            # true / false / unknown (null): unknown counts as no
            "marketing_opt_in": rng.choice(np.array([True, False, None], dtype=object), n),
        }
    )
    no_email = rng.random(n) < 0.3
    no_phone = rng.random(n) < 0.4
    no_address = rng.random(n) < 0.3
    frame.loc[no_email, "email"] = None
    frame.loc[no_phone, "phone"] = None
    frame.loc[no_address, ["address_line1", "postal_code", "city"]] = None
    frame.loc[3, "email"] = "  "  # blank counts as missing
    frame.loc[5, "region"] = "bayern"  # another spelling of a known region
    return frame


def build_restricted(path: Path, customers: pd.DataFrame, *, lifecycle: bool = True) -> dict:
    """A file with the tables and columns the export reads, as the restricted output has them."""
    rng = np.random.default_rng(11)
    n = len(customers)
    buyers = customers["customer_id"][rng.random(n) < 0.8].tolist()  # the rest: no orders
    rfm = pd.DataFrame(
        {
            "customer_id": buyers,
            "rfm_segment": rng.choice(np.array(SEGMENTS, dtype=object), len(buyers)),
        }
    )
    clv = pd.DataFrame(
        {
            "customer_id": buyers,
            "value_tier": rng.choice(np.array(TIERS, dtype=object), len(buyers)),
            "predicted_clv": np.round(rng.gamma(2.0, 150.0, len(buyers)), 6),
        }
    )
    clv.loc[clv.index[:7], "predicted_clv"] = np.nan  # fits without a prediction
    stages = pd.DataFrame(
        {
            "customer_id": customers["customer_id"],
            "lifecycle_stage": rng.choice(np.array(STAGES, dtype=object), n),
        }
    )
    con = duckdb.connect(str(path))
    try:
        for schema in ("marts", "meta", "seeds"):
            con.execute(f"create schema {schema}")
        con.execute(
            """create table marts.dim_customers (
                customer_id varchar not null, first_name varchar, last_name varchar,
                email varchar, phone varchar, birth_date date, address_line1 varchar,
                address_line2 varchar, city varchar, postal_code varchar, region varchar,
                country varchar, loyalty_id varchar, marketing_opt_in boolean,
                household_id varchar, has_email boolean, has_phone boolean)"""
        )
        con.execute(
            "insert into marts.dim_customers by name select * exclude (marketing_opt_in), "
            "cast(marketing_opt_in as boolean) as marketing_opt_in from customers"
        )
        con.execute(
            "create table marts.customer_rfm as select customer_id, "
            "cast('2025-12-31' as date) as as_of, 3 as r_score, rfm_segment from rfm"
        )
        con.execute(
            "create table marts.customer_clv as select customer_id, "
            "cast('2025-12-31' as date) as as_of, predicted_clv, value_tier from clv"
        )
        if lifecycle:
            con.execute("create table marts.customer_lifecycle as select * from stages")
        # every segment of the map, one of them ('Need Attention') with nobody in it
        con.execute(
            "create table seeds.rfm_segments as select unnest(?) as rfm_segment",
            [[*SEGMENTS, "Need Attention"]],
        )
        con.execute(
            "create table meta.warehouse_info as select ? as run_id, "
            "cast('2025-12-31' as date) as as_of, current_timestamp as published_at",
            [RUN_ID],
        )
    finally:
        con.close()
    os.chmod(path, 0o600)
    return {"rfm": rfm, "clv": clv, "stages": stages if lifecycle else None}


def expected(customers: pd.DataFrame, tables: dict, spec: AudienceSpec) -> dict:
    """The selection and its counts, computed independently with pandas."""
    frame = customers.merge(tables["rfm"], on="customer_id", how="left").merge(
        tables["clv"], on="customer_id", how="left"
    )
    if tables["stages"] is not None:
        frame = frame.merge(tables["stages"], on="customer_id", how="left")
    else:
        frame["lifecycle_stage"] = None

    def blank(col):
        return frame[col].isna() | (frame[col].astype(str).str.strip() == "")

    mask = pd.Series(True, index=frame.index)
    for col, wanted in (
        ("rfm_segment", spec.segments),
        ("value_tier", spec.tiers),
        ("lifecycle_stage", spec.stages),
        ("region", spec.regions),
        ("country", spec.countries),
    ):
        if wanted:
            mask &= frame[col].str.lower().isin([w.lower() for w in wanted]).fillna(False)
    if spec.min_clv is not None:
        mask &= frame["predicted_clv"] >= spec.min_clv
    if spec.max_clv is not None:
        mask &= frame["predicted_clv"] <= spec.max_clv
    matching = frame[mask]
    opted = matching["marketing_opt_in"].map(lambda v: v is True)
    reach = {
        "email": ~blank("email"),
        "phone": ~blank("phone"),
        "post": ~blank("address_line1") & ~(blank("postal_code") & blank("city")),
    }
    channels = spec.channels or ("email", "phone", "post")
    has_channel = pd.Series(False, index=frame.index)
    for channel in channels:
        has_channel |= reach[channel]
    has_channel = has_channel[matching.index]
    eligible = matching[opted & has_channel]
    if spec.limit is not None:
        eligible = eligible.assign(_clv=eligible["predicted_clv"].fillna(-np.inf)).sort_values(
            ["_clv", "customer_id"], ascending=[False, True], kind="mergesort"
        )
        eligible = eligible.head(spec.limit)
    return {
        "ids": sorted(eligible["customer_id"]),
        "frame": eligible.sort_values("customer_id"),
        "counts": {
            "matching": len(matching),
            "excluded_no_opt_in": int((~opted).sum()),
            "excluded_no_channel": int((opted & ~has_channel).sum()),
            "selected": len(eligible),
        },
    }


@pytest.fixture
def restricted(tmp_path):
    customers = make_customers()
    path = tmp_path / "restricted" / "crm_restricted.duckdb"
    path.parent.mkdir(mode=0o700)
    tables = build_restricted(path, customers)
    return path, customers, tables


@pytest.fixture
def audience_settings(settings, restricted):
    return dataclasses.replace(settings, restricted_path=restricted[0])


SPECS = {
    "everyone": AudienceSpec(),
    "segments": AudienceSpec(segments=("Champions", "at risk")),
    "tier_region_email": AudienceSpec(
        tiers=("top", "high"), regions=("BAYERN",), channels=("email",)
    ),
    "stage_country_phone": AudienceSpec(
        stages=("active", "new"), countries=("de",), channels=("phone",)
    ),
    "clv_range_post": AudienceSpec(min_clv=100.0, max_clv=400.0, channels=("post",)),
    "limit": AudienceSpec(segments=("Loyal", "Champions"), limit=15),
}


@pytest.mark.parametrize("name", list(SPECS))
def test_selection_equals_an_independent_pandas_filter(
    name, audience_settings, restricted, tmp_path
):
    _, customers, tables = restricted
    spec = SPECS[name]
    out = tmp_path / "out" / f"{name}.csv"
    result = export_audience(audience_settings, spec, out)
    want = expected(customers, tables, spec)

    got = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(got.columns) == list(COLUMNS)
    assert got["customer_id"].tolist() == want["ids"]  # sorted by customer_id
    assert want["ids"], "the spec should select somebody"
    counts = result.counts
    for key, value in want["counts"].items():
        assert counts[key] == value, key
    # the manifest reconciles: everyone matching is selected or excluded for one reason
    assert counts["matching"] == (
        counts["selected"]
        + counts["excluded_no_opt_in"]
        + counts["excluded_no_channel"]
        + counts["excluded_by_limit"]
    )
    manifest = json.loads(manifest_path_for(out).read_text())
    assert manifest["counts"] == counts
    assert manifest["file"]["rows"] == len(got)
    assert manifest["file"]["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert manifest["source"]["run_id"] == RUN_ID
    assert manifest["source"]["as_of"] == "2025-12-31"
    assert [c["name"] for c in manifest["columns"]] == list(COLUMNS)
    assert manifest["criteria"]["channels"] == list(spec.channels or ("email", "phone", "post"))
    if name == "segments":  # recorded in the warehouse's spelling
        assert manifest["criteria"]["segments"] == ["Champions", "At Risk"]

    # the contact details are the golden record's, unchanged
    frame = want["frame"].set_index("customer_id")
    got = got.set_index("customer_id")
    for col in ("first_name", "last_name", "email", "phone", "region", "country", "rfm_segment"):
        assert got[col].tolist() == frame[col].fillna("").tolist(), col
    assert "  " not in got["email"].tolist()


def test_parquet_round_trip_and_owner_only_files(audience_settings, restricted, tmp_path):
    _, customers, tables = restricted
    out_dir = tmp_path / "exports"
    out_dir.mkdir(mode=0o755)
    spec = AudienceSpec(segments=("Champions", "Loyal"))
    result = export_audience(audience_settings, spec, out_dir / "champions.parquet")
    want = expected(customers, tables, spec)

    got = pd.read_parquet(result.path)
    assert list(got.columns) == list(COLUMNS)
    assert got["customer_id"].tolist() == want["ids"]
    frame = want["frame"]
    assert got["last_name"].tolist() == frame["last_name"].tolist()  # 'Müller, "12"'
    assert got["email"].tolist() == frame["email"].tolist()
    assert got["lifecycle_stage"].tolist() == frame["lifecycle_stage"].tolist()
    np.testing.assert_allclose(
        got["predicted_clv"].astype(float).to_numpy(),
        frame["predicted_clv"].round(2).to_numpy(),
        atol=0.0051,
        equal_nan=True,
    )
    types = {c["name"]: c["type"] for c in json.loads(result.manifest_path.read_text())["columns"]}
    assert types["predicted_clv"] == "DECIMAL(18,2)"

    for path in (result.path, result.manifest_path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    # nothing else left beside them (the private temporary folder is gone)
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "champions.parquet",
        "champions.parquet.manifest.json",
    ]


def test_csv_round_trip_gzip_and_overwrite(audience_settings, restricted, tmp_path):
    _, customers, tables = restricted
    out = tmp_path / "a.csv.gz"
    spec = AudienceSpec(countries=("AT",))
    result = export_audience(audience_settings, spec, out)
    assert result.compression == "gzip"
    got = pd.read_csv(out, dtype=str, keep_default_na=False, compression="gzip")
    assert got["customer_id"].tolist() == expected(customers, tables, spec)["ids"]

    with pytest.raises(FileExistsError):
        export_audience(audience_settings, spec, out)
    again = export_audience(audience_settings, AudienceSpec(countries=("FR",)), out, overwrite=True)
    assert again.sha256 != result.sha256
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_csv_defuses_spreadsheet_formulas_and_parquet_keeps_values(settings, tmp_path):
    customers = make_customers(40)
    customers["marketing_opt_in"] = True
    customers.loc[0, "first_name"] = '=HYPERLINK("http://x.example","click")'
    customers.loc[1, "last_name"] = "+SUM(A1:A9)"
    customers.loc[2, "city"] = "@cmd"
    customers.loc[3, "address_line1"] = "-2+3"
    customers.loc[4, "first_name"] = "\tTabbed"
    customers.loc[5, "last_name"] = "Smith-Jones = ok"  # a formula sign inside is harmless
    customers.loc[6, "email"] = "=x@example.com"
    customers.loc[6, "phone"] = "+4930111222"  # E.164: stays as it is
    path = tmp_path / "formula.duckdb"
    build_restricted(path, customers, lifecycle=False)
    local = dataclasses.replace(settings, restricted_path=path)

    csv = export_audience(local, AudienceSpec(), tmp_path / "f.csv")
    got = pd.read_csv(csv.path, dtype=str, keep_default_na=False).set_index("customer_id")
    want = customers.set_index("customer_id")
    assert got.loc["C00000", "first_name"] == "'" + want.loc["C00000", "first_name"]
    assert got.loc["C00001", "last_name"] == "'+SUM(A1:A9)"
    assert got.loc["C00002", "city"] == "'@cmd"
    assert got.loc["C00003", "address_line1"] == "'-2+3"
    assert got.loc["C00004", "first_name"] == "'\tTabbed"
    assert got.loc["C00005", "last_name"] == "Smith-Jones = ok"
    assert got.loc["C00006", "email"] == "'=x@example.com"
    assert got.loc["C00006", "phone"] == "+4930111222"
    # every other value is the golden record's, unchanged
    changed = {("C00000", "first_name"), ("C00001", "last_name"), ("C00002", "city")}
    changed |= {("C00003", "address_line1"), ("C00004", "first_name"), ("C00006", "email")}
    for customer in got.index:
        for column in ("first_name", "last_name", "email", "address_line1", "city"):
            if (customer, column) not in changed:
                value = want.loc[customer, column]
                # (a blank value is exported empty, as missing)
                assert got.loc[customer, column] == ("" if pd.isna(value) else value.strip())
    assert got.index.tolist() == sorted(got.index)
    assert csv.counts["csv_values_guarded"] == len(changed)
    manifest = json.loads(csv.manifest_path.read_text())
    assert manifest["counts"]["csv_values_guarded"] == len(changed)
    assert "csv_formula_guard" in manifest["rules"]

    parquet = export_audience(local, AudienceSpec(), tmp_path / "f.parquet")
    raw = pd.read_parquet(parquet.path).set_index("customer_id")
    assert raw.loc["C00000", "first_name"] == want.loc["C00000", "first_name"]
    assert raw.loc["C00001", "last_name"] == "+SUM(A1:A9)"
    assert "csv_values_guarded" not in parquet.counts


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            AudienceSpec(segments=("Champion",)),
            "unknown rfm segment 'Champion' (did you mean 'Champions'",
        ),
        (AudienceSpec(segments=("Loyal", "Sleeping")), "Known rfm segments: At Risk, Champions"),
        (AudienceSpec(tiers=("gold",)), "unknown value tier 'gold'"),
        (AudienceSpec(stages=("churned",)), "unknown lifecycle stage 'churned'"),
        (AudienceSpec(regions=("Bavaria",)), "unknown region 'Bavaria'"),
        (AudienceSpec(countries=("XX",)), "unknown country 'XX'"),
        (AudienceSpec(channels=("fax",)), "unknown channel 'fax'"),
        (AudienceSpec(min_clv=500.0, max_clv=100.0), "greater than max_clv"),
        (AudienceSpec(limit=0), "limit must be at least 1"),
    ],
)
def test_unknown_values_are_refused_and_nothing_is_written(
    spec, message, audience_settings, tmp_path
):
    out = tmp_path / "typo.csv"
    with pytest.raises(AudienceError, match=None) as info:
        export_audience(audience_settings, spec, out)
    assert message in str(info.value)
    assert not out.exists() and not manifest_path_for(out).exists()
    assert list(tmp_path.glob(".typo.csv*")) == []


def test_a_segment_with_nobody_in_it_is_known_and_selects_nobody(audience_settings, tmp_path):
    result = export_audience(
        audience_settings, AudienceSpec(segments=("need attention",)), tmp_path / "x.csv"
    )
    assert result.counts["matching"] == 0 and result.selected == 0
    assert pd.read_csv(result.path).columns.tolist() == list(COLUMNS)  # header only


def test_format_from_name_or_flag(audience_settings, tmp_path):
    with pytest.raises(AudienceError, match="cannot tell the format"):
        export_audience(audience_settings, AudienceSpec(), tmp_path / "a.txt")
    with pytest.raises(AudienceError, match="looks like csv but the format is parquet"):
        export_audience(
            audience_settings, AudienceSpec(), tmp_path / "a.csv", file_format="parquet"
        )
    result = export_audience(
        audience_settings, AudienceSpec(), tmp_path / "a.dat", file_format="parquet"
    )
    assert len(pd.read_parquet(result.path)) == result.selected


def test_without_the_lifecycle_mart(settings, tmp_path):
    customers = make_customers(120)
    path = tmp_path / "old.duckdb"
    tables = build_restricted(path, customers, lifecycle=False)
    old = dataclasses.replace(settings, restricted_path=path)

    with pytest.raises(AudienceError, match="no marts.customer_lifecycle"):
        export_audience(old, AudienceSpec(stages=("active",)), tmp_path / "s.csv")
    assert not (tmp_path / "s.csv").exists()

    spec = AudienceSpec(tiers=("top",))
    result = export_audience(old, spec, tmp_path / "t.csv")
    got = pd.read_csv(result.path, dtype=str, keep_default_na=False)
    assert got["customer_id"].tolist() == expected(customers, tables, spec)["ids"]
    assert set(got["lifecycle_stage"]) <= {""}
    assert any("customer_lifecycle" in w for w in result.warnings)


def test_reads_the_restricted_output_read_only_while_another_process_holds_it(
    audience_settings, restricted, tmp_path
):
    """A refresh attaches the restricted output read-only as the identity state: an
    export at the same time must work and must not change the file."""
    path = restricted[0]
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time, duckdb
                con = duckdb.connect({str(path)!r}, read_only=True)
                con.execute("select count(*) from marts.dim_customers").fetchone()
                print("open", flush=True)
                sys.stdin.read()
                """
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        result = export_audience(audience_settings, AudienceSpec(), tmp_path / "busy.csv")
        assert result.selected > 0
    finally:
        holder.communicate("", timeout=30)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert not path.with_name(path.name + ".wal").exists()


def _cli_env(monkeypatch, settings, path):
    monkeypatch.setenv("CRM_HOME", str(settings.home))
    monkeypatch.setenv("CRM_RESTRICTED", str(path))
    monkeypatch.setenv("CRM_THREADS", "2")
    monkeypatch.setenv("CRM_MEMORY_LIMIT", "2GB")


def test_cli_exports_and_uses_exit_code_2_for_usage_errors(
    monkeypatch, capsys, settings, restricted, tmp_path
):
    path, customers, tables = restricted
    _cli_env(monkeypatch, settings, path)
    out = tmp_path / "cli.csv"
    argv = ["audience", "--segment", "Champions,Loyal", "--segment", "At Risk", "--tier", "top"]
    argv += ["--channel", "email", "--min-clv", "50", "--out", str(out)]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    spec = AudienceSpec(
        segments=("Champions", "Loyal", "At Risk"), tiers=("top",), channels=("email",), min_clv=50
    )
    want = expected(customers, tables, spec)
    assert pd.read_csv(out, dtype=str)["customer_id"].tolist() == want["ids"]
    assert f"audience: {len(want['ids']):,} customers -> {out}" in printed

    assert cli.main(argv) == 2  # the file exists
    assert "already exists" in capsys.readouterr().err
    assert cli.main([*argv, "--overwrite"]) == 0
    # --restricted names the source for this export alone, over CRM_RESTRICTED.
    monkeypatch.setenv("CRM_RESTRICTED", str(tmp_path / "nowhere.duckdb"))
    assert cli.main([*argv, "--overwrite"]) == 1
    assert cli.main([*argv, "--overwrite", "--restricted", str(path)]) == 0
    _cli_env(monkeypatch, settings, path)

    assert cli.main(["audience", "--segment", "Champs", "--out", str(tmp_path / "no.csv")]) == 2
    err = capsys.readouterr().err
    assert "unknown rfm segment 'Champs'" in err and "Champions" in err
    assert not (tmp_path / "no.csv").exists()

    monkeypatch.setenv("CRM_RESTRICTED", str(tmp_path / "missing.duckdb"))
    assert cli.main(["audience", "--out", str(tmp_path / "m.csv")]) == 1
    assert "no restricted output" in capsys.readouterr().err


def test_dagster_job_writes_the_same_file_as_the_cli(monkeypatch, settings, restricted, tmp_path):
    from orchestration.audience import audience_export
    from orchestration.resources import settings_resource

    path, _, _ = restricted
    _cli_env(monkeypatch, settings, path)
    by_cli = tmp_path / "cli.parquet"
    argv = ["audience", "--stage", "active,reactivated", "--region", "Bayern,Berlin"]
    assert cli.main([*argv, "--channel", "email", "--channel", "phone", "--out", str(by_cli)]) == 0

    by_job = tmp_path / "job.parquet"
    ops = {
        "export_audience": {
            "config": {
                "out": str(by_job),
                "stages": ["active", "reactivated"],
                "regions": ["Bayern", "Berlin"],
                "channels": ["email", "phone"],
            }
        }
    }
    result = audience_export.execute_in_process(
        run_config={"ops": ops}, resources={"settings": settings_resource}
    )
    assert result.success
    assert by_job.read_bytes() == by_cli.read_bytes()
    assert stat.S_IMODE(by_job.stat().st_mode) == 0o600
    cli_manifest = json.loads(manifest_path_for(by_cli).read_text())
    job_manifest = json.loads(manifest_path_for(by_job).read_text())
    assert job_manifest["counts"] == cli_manifest["counts"]
    assert job_manifest["criteria"] == cli_manifest["criteria"]
    assert job_manifest["exported_by"] == f"dagster run {result.run_id}"
    [materialization] = [e for e in result.all_node_events if e.event_type_value == "STEP_OUTPUT"]
    metadata = materialization.event_specific_data.metadata
    assert metadata["selected"].value == cli_manifest["counts"]["selected"]
    assert metadata["source_run_id"].value == RUN_ID

    failed = audience_export.execute_in_process(
        run_config={
            "ops": {
                "export_audience": {"config": {"out": str(tmp_path / "f.csv"), "tiers": ["gold"]}}
            }
        },
        resources={"settings": settings_resource},
        raise_on_error=False,
    )
    assert not failed.success
    assert not (tmp_path / "f.csv").exists()


def test_a_lifecycle_mart_with_repeated_customers_is_refused(settings, tmp_path):
    from crm.audience import AudienceSourceError

    path = tmp_path / "dup.duckdb"
    build_restricted(path, make_customers(50))
    con = duckdb.connect(str(path))
    con.execute("insert into marts.customer_lifecycle values ('C00001', 'lapsed')")
    con.close()
    with pytest.raises(AudienceSourceError, match="one row per customer"):
        export_audience(
            dataclasses.replace(settings, restricted_path=path), AudienceSpec(), tmp_path / "d.csv"
        )
    assert not (tmp_path / "d.csv").exists()
