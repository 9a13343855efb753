"""Bad input end to end: malformed files, repeated files and overlapping extracts,
schema drift and null keys, through `crm refresh` into the published warehouse.

Every good row must reach fct_orders exactly once, every bad one the quarantine
with its reason, and a change in a source's shape must stop publication with a
message that names the column.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import Env
from tests.conftest import read_only as _ro

pytestmark = pytest.mark.e2e

HEADER = "order_id,ordered_at,order_total,currency,status,channel"


def _good(prefix: str, n: int) -> list[str]:
    return [
        f"{prefix}-{i},2025-06-0{1 + i % 9}T10:00:00Z,{10 + i}.25,EUR,completed,web"
        for i in range(n)
    ]


def _write(env: Env, name: str, content: str | bytes) -> Path:
    path = env.inbox / "orders" / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def _published_run(env: Env) -> str:
    with _ro(env.warehouse) as con:
        return con.execute("select run_id from meta.warehouse_info").fetchone()[0]


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Env:
    env = Env(tmp_path_factory.mktemp("input"))
    env.crm(
        "generate",
        "--customers",
        "150",
        "--seed",
        "12",
        "--format",
        "csv",
        "--truth",
        str(env.truth),
    )
    env.crm("refresh")
    return env


def test_malformed_repeated_and_overlapping_files_lose_nothing_and_double_nothing(env: Env):
    good: list[str] = []  # order ids that must be published exactly once
    bad: dict[tuple[str, int], str] = {}  # (file, line) -> a word the reason must contain

    # Truncated mid-row (the export was cut off): the last line has too few columns.
    rows = _good("TRUNC", 25)
    _write(env, "m-truncated.csv", HEADER + "\n" + "\n".join(rows) + "\nTRUNC-X,2025-06-0")
    good += [r.split(",")[0] for r in rows]
    bad["orders/m-truncated.csv", 27] = "missing columns"

    # Bad encoding: Latin-1 bytes in two lines of a UTF-8 file.
    rows = _good("ENC", 25)
    lines = [line.encode() for line in [HEADER, *rows]]
    lines[5] = "ENC-4,2025-06-05T10:00:00Z,14.25,EUR,completed,caf\xe9".encode("latin-1")
    lines[9] = "ENC-8,2025-06-09T10:00:00Z,18.25,EUR,completed,\xfcber".encode("latin-1")
    _write(env, "m-latin1.csv", b"\n".join(lines) + b"\n")
    good += [r.split(",")[0] for r in rows if not r.startswith(("ENC-4,", "ENC-8,"))]
    bad["orders/m-latin1.csv", 6] = "encoding"
    bad["orders/m-latin1.csv", 10] = "encoding"

    # An extra column the contract does not know (kept aside), and rows with too
    # many or too few fields.
    rows = [r + f",CPN{i}" for i, r in enumerate(_good("EXTRA", 25))]
    rows[3] += ",surplus"
    rows[7] = "EXTRA-7,2025-06-08T10:00:00Z"
    _write(env, "m-extra.csv", HEADER + ",coupon\n" + "\n".join(rows) + "\n")
    good += [f"EXTRA-{i}" for i in range(25) if i not in (3, 7)]
    bad["orders/m-extra.csv", 5] = "too many columns"
    bad["orders/m-extra.csv", 9] = "missing columns"

    # Bad dates and numbers, a missing key, a status the contract does not allow.
    rows = _good("VAL", 40)
    rows[0] = "VAL-0,31/12/2025,10.25,EUR,completed,web"
    rows[1] = "VAL-1,2025-06-02T10:00:00Z,12;50,EUR,completed,web"
    rows[2] = ",2025-06-03T10:00:00Z,12.25,EUR,completed,web"
    rows[3] = "VAL-3,2025-06-04T10:00:00Z,13.25,EUR,shipped,web"  # optional: kept, status unknown
    _write(env, "m-values.csv", HEADER + "\n" + "\n".join(rows) + "\n")
    good += [f"VAL-{i}" for i in range(40) if i not in (0, 1, 2)]
    bad["orders/m-values.csv", 2] = "ordered_at '31/12/2025' is not a valid timestamp"
    bad["orders/m-values.csv", 3] = "order_total '12;50' is not a valid number"
    bad["orders/m-values.csv", 4] = "order_id is missing"

    # The same file twice (a re-sent drop under another name), and an extract that
    # overlaps the previous one: half old orders unchanged, ten new ones.
    shutil.copy(env.inbox / "orders" / "m-values.csv", env.inbox / "orders" / "m-values_resent.csv")
    orders_file = next((env.inbox / "orders").glob("orders*.csv"))
    old = pd.read_csv(orders_file, dtype=str, keep_default_na=False)
    old = old[old["order_id"].str.match(r"^[A-Za-z0-9-]+$")].head(len(old) // 2)
    new = old.head(10).assign(order_id=[f"OVER-{i}" for i in range(10)])
    pd.concat([old, new]).to_csv(env.inbox / "orders" / "m-overlap.csv", index=False)
    good += list(new["order_id"])

    with _ro(env.warehouse) as con:
        before = con.execute("select count(*) from marts.fct_orders").fetchone()[0]
    env.crm("refresh")

    with _ro(env.warehouse) as con:
        published = con.execute("select order_id, count(*) from marts.fct_orders group by all").df()
        extra = con.execute(
            "select count(*) from marts.fct_orders where order_id like 'EXTRA-%'"
        ).fetchone()[0]
        val3 = con.execute(
            "select status from marts.fct_orders where order_id = 'VAL-3'"
        ).fetchone()
    assert published["count_star()"].max() == 1  # nothing doubled
    assert len(published) == before + len(good)  # every good row, nothing else
    assert set(good) <= set(published["order_id"])
    assert extra == 23 and val3 == ("unknown",)
    with _ro(env.home / "raw.duckdb") as raw:
        quarantine = raw.execute(
            "select file_name, row_number, reason from quarantine where file_name like 'orders/m-%'"
        ).fetchall()
        ledger = raw.execute(
            "select file_name, rows_in_file, rows_loaded, rows_quarantined, rows_duplicate "
            "from load_ledger where file_name like 'orders/m-%'"
        ).fetchall()
        kept = raw.execute("select _extra from orders where order_id = 'EXTRA-0'").fetchone()[0]
    reasons = {(f, n): r for f, n, r in quarantine}
    assert set(reasons) == set(bad)
    for where, word in bad.items():
        assert word in reasons[where], (where, reasons[where])
    # The re-sent copy is the same content: recognised and not loaded at all.
    assert "orders/m-values_resent.csv" not in {row[0] for row in ledger}
    for name, n_in, loaded, quarantined, duplicate in ledger:
        assert n_in == loaded + quarantined + duplicate, name
    overlap = next(row for row in ledger if row[0] == "orders/m-overlap.csv")
    assert overlap[2:] == (10, 0, len(old))
    assert '"coupon":"CPN0"' in kept.replace(" ", "")


def test_schema_drift_and_null_keys_stop_publication_naming_the_cause(env: Env):
    published = _published_run(env)

    # A wrong delimiter: nothing in the header matches the contract. The file is
    # rejected whole and reported; by default the rest publishes (DECISIONS 69).
    semicolon = [line.replace(",", ";") for line in [HEADER, *_good("SEMI", 30)]]
    _write(env, "d-semicolon.csv", "\n".join(semicolon) + "\n")
    result = env.crm("refresh")
    assert "1 file(s) rejected whole" in result.stderr
    assert "orders/d-semicolon.csv: required column(s) missing: order_id, ordered_at, " in (
        result.stderr
    )
    assert _published_run(env) != published
    published = _published_run(env)
    status = env.crm("status").stdout
    assert "WARNING  raw.orders" in status and "rejected_because" in status
    # An operator who wants a rejected file to hold everything back says so.
    tabs = [line.replace(",", "\t") for line in [HEADER, *_good("TAB", 30)]]
    _write(env, "d-tabs.csv", "\n".join(tabs) + "\n")
    result = env.crm("refresh", check=False, CRM_REJECTED_FILE_BLOCKS="true")
    assert result.returncode == 1 and "rejected_blocking" in result.stderr
    assert "orders/d-tabs.csv (holds back publication): required column(s)" in result.stderr
    assert "file_name=orders/d-tabs.csv" in result.stderr
    assert _published_run(env) == published

    # Fixed by re-exporting under the same name; but now a source renamed one
    # column, retyped another, and a third file has 30% of its keys missing.
    _write(env, "d-semicolon.csv", "\n".join([HEADER, *_good("SEMI", 30)]) + "\n")
    renamed = HEADER.replace("currency", "currency_code")
    _write(env, "d-renamed.csv", "\n".join([renamed, *_good("REN", 30)]) + "\n")
    retyped = [r.replace(".25,", " EUR,") for r in _good("TYPE", 30)]
    _write(env, "d-retyped.csv", "\n".join([HEADER, *retyped]) + "\n")
    nulls = [
        ("" if i % 10 < 3 else f"NULL-{i}") + r[r.index(",") :]
        for i, r in enumerate(_good("X", 30))
    ]
    _write(env, "d-null-keys.csv", "\n".join([HEADER, *nulls]) + "\n")
    result = env.crm("refresh", check=False)
    assert result.returncode == 1
    err = result.stderr
    assert "column currency is missing and currency_code is new" in err
    assert "file_name=orders/d-renamed.csv" in err
    assert "column order_total: 30 of 30 values are invalid" in err and "retyped?" in err
    assert "file_name=orders/d-null-keys.csv, reject_rate=0.3" in err
    assert "d-semicolon.csv" not in err  # the fixed file passes
    assert _published_run(env) == published
    status = env.crm("status").stdout
    assert "BLOCKED  raw.orders" in status and "currency" in status

    # The operator decides the renamed column is fine for now (its currency is
    # the default) and the bad rows stay quarantined: accept for this run.
    env.crm("refresh", "--accept", "raw.orders")
    assert _published_run(env) != published
    with _ro(env.warehouse) as con:
        n = con.execute(
            "select count(*) from marts.fct_orders where order_id like 'SEMI-%' "
            "or order_id like 'REN-%' or order_id like 'NULL-%'"
        ).fetchone()[0]
        retyped_in = con.execute(
            "select count(*) from marts.fct_orders where order_id like 'TYPE-%'"
        ).fetchone()[0]
    assert n == 30 + 30 + 21 and retyped_in == 0
