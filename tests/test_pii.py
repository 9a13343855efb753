"""Personal data: tags in the dbt YAML, the keyed hash, the two published files.

The end-to-end part builds ONE small demo warehouse (250 customers), refreshes
it twice and checks the analytics file against the personal values the raw
store and the restricted output hold: none of them may appear in it.
"""

from __future__ import annotations

import datetime as dt
import json
import stat
from pathlib import Path

import duckdb
import pytest

from crm.config import Settings
from crm.contract import ENTITIES
from crm.pii import (
    POLICIES,
    PiiPolicyError,
    Policy,
    TablePolicy,
    key_file,
    keyed_hash,
    load_key,
    read_policy,
)
from crm.publish import publish
from tests.conftest import Env, copy_base

CONTRACT_PII = {c.name for c in ENTITIES["contacts"].columns if c.pii}


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _settings(tmp_path: Path) -> Settings:
    return Settings(
        home=tmp_path / "home",
        inbox=tmp_path / "inbox",
        warehouse=tmp_path / "pub" / "w.duckdb",
        as_of=dt.date(2025, 1, 31),
        currency="EUR",
        threads=1,
        memory_limit="1GB",
        keep_generations=2,
    )


def _build(path: Path, extra_sql: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        con.execute("create schema intermediate")
        con.execute(
            "create table marts.people as select * from (values "
            "('C1', 'anna@example.com', date '1980-02-29', 'Hamburg'), "
            "('C2', null, null, 'Köln')) as t(customer_id, email, birth_date, city)"
        )
        con.execute("create table intermediate.contacts as select 'anna@example.com' as email")
        if extra_sql:
            con.execute(extra_sql)
    return path


POLICY = Policy(
    {
        ("marts", "people"): TablePolicy(
            columns={"email": ("email", "hash"), "birth_date": ("birth_date", "redact")}
        ),
        ("intermediate", "contacts"): TablePolicy(exclude=True, columns={"email": ("email", None)}),
    }
)


def _publish(settings: Settings, run: str, extra_sql: str = "", policy: Policy = POLICY):
    build = _build(settings.builds_dir / f"build-{run}.duckdb", extra_sql)
    return publish(build, settings, run, settings.as_of, policy)


def test_publish_writes_an_owner_only_restricted_file_and_a_hashed_analytics_file(
    tmp_path, monkeypatch
):
    monkeypatch.delenv("CRM_PII_KEY", raising=False)
    settings = _settings(tmp_path)
    _publish(settings, "run-1")

    key_path = key_file(settings.home)
    assert _mode(key_path) == 0o600 and _mode(key_path.parent) == 0o700
    key = key_path.read_text().strip()
    assert len(bytes.fromhex(key)) == 32
    assert _mode(settings.restricted) == 0o600 and _mode(settings.restricted.parent) == 0o700

    with duckdb.connect(str(settings.restricted), read_only=True) as con:
        assert con.execute("select email, birth_date from marts.people order by 1").fetchone() == (
            "anna@example.com",
            dt.date(1980, 2, 29),
        )
        assert con.execute("select count(*) from intermediate.contacts").fetchone() == (1,)
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        rows = con.execute(
            "select customer_id, email, birth_date, city from marts.people order by 1"
        ).fetchall()
        tables = {
            r[0]
            for r in con.execute(
                "select schema_name || '.' || table_name from duckdb_tables()"
            ).fetchall()
        }
        comment = con.execute(
            "select comment from duckdb_columns() where table_name = 'people' "
            "and column_name = 'email'"
        ).fetchone()[0]
    assert rows == [
        ("C1", keyed_hash(key, "anna@example.com"), None, "Hamburg"),
        ("C2", None, None, "Köln"),
    ]
    assert "intermediate.contacts" not in tables and "meta.warehouse_info" in tables
    assert "keyed hash" in comment
    # The key is in neither file.
    for path in (settings.warehouse, settings.restricted):
        assert key.encode() not in path.read_bytes()


def test_the_hash_is_keyed_and_stable_for_one_key(tmp_path, monkeypatch):
    monkeypatch.setenv("CRM_PII_KEY", "a" * 64)
    settings = _settings(tmp_path)

    def published_hash(run: str) -> str:
        _publish(settings, run)
        with duckdb.connect(str(settings.warehouse), read_only=True) as con:
            return con.execute(
                "select email from marts.people where customer_id = 'C1'"
            ).fetchone()[0]

    first = published_hash("run-1")
    assert published_hash("run-2") == first == keyed_hash("a" * 64, "anna@example.com")
    monkeypatch.setenv("CRM_PII_KEY", "b" * 64)
    assert published_hash("run-3") != first
    assert not key_file(settings.home).exists()  # the environment's key: no file made


def test_unsafe_builds_are_refused_and_nothing_is_published(tmp_path, monkeypatch):
    monkeypatch.setenv("CRM_PII_KEY", "a" * 64)
    settings = _settings(tmp_path)
    # a table no dbt model declares: its columns' nature is unknown
    with pytest.raises(PiiPolicyError, match="marts.stray"):
        _publish(settings, "run-1", "create table marts.stray as select 'x' as email")
    # a tagged column without a policy
    untagged = Policy(
        {**POLICY.tables, ("marts", "people"): TablePolicy(columns={"email": ("email", None)})}
    )
    with pytest.raises(PiiPolicyError, match="analytics policy"):
        _publish(settings, "run-2", policy=untagged)
    # a hash asked of a date
    wrong = Policy(
        {
            **POLICY.tables,
            ("marts", "people"): TablePolicy(columns={"birth_date": ("birth_date", "hash")}),
        }
    )
    with pytest.raises(PiiPolicyError, match="VARCHAR"):
        _publish(settings, "run-3", policy=wrong)
    assert not settings.warehouse.exists() and not settings.restricted.exists()
    assert list(settings.warehouse.parent.iterdir()) == []  # no incoming copy left


def test_a_key_file_readable_by_others_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("CRM_PII_KEY", raising=False)
    load_key(tmp_path)
    key_file(tmp_path).chmod(0o644)
    with pytest.raises(PiiPolicyError, match="readable by others"):
        load_key(tmp_path)


def _pii_name(column: str) -> str | None:
    base = column.lower().removesuffix("_normalized")
    return base if base in CONTRACT_PII else None


def test_every_personal_column_is_tagged_in_the_dbt_yaml():
    """The YAML drives the analytics file: a column named like a contract PII field
    must carry meta.pii in every source and model, and a tagged column of a model the
    analytics file carries must say what it becomes there."""
    from orchestration.project import ensure_manifest

    manifest = json.loads(ensure_manifest().read_text())
    policy = read_policy(ensure_manifest())
    untagged, no_policy, seen = [], [], 0
    for node in [*manifest["nodes"].values(), *manifest["sources"].values()]:
        if node["resource_type"] not in ("model", "seed", "source"):
            continue
        for column in node.get("columns", {}).values():
            meta = {**column.get("meta", {}), **column.get("config", {}).get("meta", {})}
            if _pii_name(column["name"]) and not meta.get("pii"):
                untagged.append(f"{node['unique_id']}.{column['name']}")
            seen += bool(meta.get("pii"))
    for (schema, table), rules in policy.tables.items():
        for name, (_, rule) in rules.columns.items():
            if not rules.exclude and rule not in POLICIES:
                no_policy.append(f"{schema}.{table}.{name}")
    assert not untagged, untagged
    assert not no_policy, no_policy
    assert seen >= 40
    dim = policy.tables[("marts", "dim_customers")].columns
    assert set(dim) >= CONTRACT_PII
    assert policy.tables[("intermediate", "int_contacts_normalized")].exclude
    assert policy.tables[("intermediate", "int_contacts_resolved")].exclude


# ---- end to end: one small demo warehouse, refreshed twice ------------------


@pytest.fixture(scope="module")
def twice(base_warehouse: Path, tmp_path_factory) -> dict:
    env = copy_base(base_warehouse, tmp_path_factory.mktemp("pii") / "env")
    first = _published(env)
    env.crm("refresh")
    return {"env": env, "first": first, "second": _published(env)}


def _published(env: Env) -> dict:
    with duckdb.connect(str(env.warehouse), read_only=True) as con:
        analytics = con.execute(
            "select customer_id, email, phone, last_name from marts.dim_customers"
        ).fetchall()
        xref = con.execute(
            "select source_system, source_contact_id, customer_id from marts.customer_xref"
        ).fetchall()
    return {"analytics": sorted(analytics), "xref": sorted(xref)}


def _personal_values(env: Env) -> set[str]:
    """The generator's personal values as loaded (raw store), and as the golden
    record normalises them (restricted output): the e-mails, phones and last names."""
    values = set()
    with duckdb.connect(str(env.home / "raw.duckdb"), read_only=True) as con:
        for column in ("email", "phone", "last_name", "address_line1"):
            values |= {
                r[0]
                for r in con.execute(
                    f"select distinct trim({column}) from contacts where {column} is not null"
                ).fetchall()
            }
    with duckdb.connect(str(env.restricted), read_only=True) as con:
        for column in ("email", "phone", "last_name"):
            values |= {
                r[0]
                for r in con.execute(
                    f"select distinct {column} from marts.dim_customers where {column} is not null"
                ).fetchall()
            }
    # very short values (a two-letter name) would match unrelated codes
    return {v for v in values if v and len(v) >= 4}


def _varchar_hits(path: Path, values: set[str]) -> dict[str, int]:
    """Per column: how many of its values ARE one of `values`, in every VARCHAR
    column of every table of the file (e-mails also found inside longer text)."""
    hits = {}
    with duckdb.connect(str(path), read_only=True) as con:
        con.execute("create temp table pii(v varchar)")
        con.executemany("insert into pii values (?)", [[v] for v in values])
        columns = con.execute(
            "select schema_name, table_name, column_name from duckdb_columns() "
            "where database_name = current_database() and data_type = 'VARCHAR' "
            "and schema_name <> 'pg_catalog'"
        ).fetchall()
        for schema, table, column in columns:
            ref = f'"{schema}"."{table}"."{column}"'
            n = con.execute(
                f'select count(*) from "{schema}"."{table}" '
                f"where {ref} in (select v from pii) "
                f"or exists (select 1 from pii where pii.v like '%@%' "
                f"and contains(lower({ref}), lower(pii.v)))"
            ).fetchone()[0]
            if n:
                hits[f"{schema}.{table}.{column}"] = n
    return hits


@pytest.mark.e2e
def test_analytics_file_has_no_plain_personal_data(twice):
    env = twice["env"]
    values = _personal_values(env)
    assert len(values) > 300
    # The scan finds them where they are (so it can fail)...
    assert _varchar_hits(env.restricted, values)
    # ...and nowhere in the analytics file.
    assert _varchar_hits(env.warehouse, values) == {}


@pytest.mark.e2e
def test_restricted_output_is_owner_only_and_holds_the_golden_record(twice):
    env = twice["env"]
    path = env.restricted
    assert _mode(path) == 0o600 and _mode(path.parent) == 0o700
    key = key_file(env.home)
    assert _mode(key) == 0o600 and _mode(key.parent) == 0o700
    assert _mode(env.home / "builds") == 0o700
    with duckdb.connect(str(path), read_only=True) as con:
        n_email = con.execute(
            "select count(*) from marts.dim_customers where email like '%@%'"
        ).fetchone()[0]
        tables = {r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()}
    assert n_email > 50
    assert {"int_contacts_resolved", "int_contact_match_pairs_all", "dim_customers"} <= tables
    out = env.crm("status").stdout
    assert str(path) in out and "file 0600, folder 0700" in out and "WARNING" not in out
    assert key.read_text().strip() not in out


@pytest.mark.e2e
def test_hashes_and_customer_ids_are_stable_across_refreshes(twice):
    env, first, second = twice["env"], twice["first"], twice["second"]
    assert first["xref"] == second["xref"]  # identity state read from the restricted file
    assert first["analytics"] == second["analytics"]
    key = key_file(env.home).read_text().strip()
    with duckdb.connect(str(env.restricted), read_only=True) as con:
        golden = dict(
            con.execute(
                "select customer_id, email from marts.dim_customers where email is not null"
            ).fetchall()
        )
        # the second build carried the scored pairs over from the first (the state)
        origins = dict(
            con.execute(
                "select pair_origin, count(*) from intermediate.int_contact_match_pairs_all "
                "group by 1"
            ).fetchall()
        )
    assert origins.get("carried", 0) > 0 and origins.get("scored", 0) == 0
    hashed = {cid: email for cid, email, _, _ in second["analytics"] if email is not None}
    assert hashed.keys() == golden.keys()
    assert all(hashed[c] == keyed_hash(key, golden[c]) for c in golden)
