"""Hand-made raw stores for the dbt tests, and a helper that runs dbt on them.

`create_raw_store` writes a DuckDB file with exactly the raw DDL the loader
produces (crm/contract.py: RAW_TYPES per column + LINEAGE_COLUMNS; one table
per entity, every table present even when empty, plus the loader's
bookkeeping tables), so the dbt project can be built without the loader.
`sample_rows` is a small CRM world whose answers are known by construction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from crm.contract import ENTITIES, LINEAGE_COLUMNS

REPO = Path(__file__).resolve().parents[1]

DEFAULT_LOADED_AT = dt.datetime(2024, 1, 1)

# The loader's bookkeeping tables; the models only declare them as sources.
_FILE_ROW = "load_id VARCHAR, entity VARCHAR, file_name VARCHAR, row_number BIGINT"
BOOKKEEPING_DDL = {
    "load_ledger": "load_id VARCHAR, entity VARCHAR, file_name VARCHAR, n_rows BIGINT, "
    "loaded_at TIMESTAMP",
    "quarantine": f"{_FILE_ROW}, raw_row VARCHAR, reason VARCHAR",
    "duplicates": f"{_FILE_ROW}, row_hash VARCHAR",
    "value_issues": f"{_FILE_ROW}, column_name VARCHAR, value VARCHAR, problem VARCHAR",
}


def raw_ddl(entity: str) -> str:
    columns = [f"{c.name} {c.raw_type}" for c in ENTITIES[entity].columns]
    columns += [f"{name} {sql_type}" for name, sql_type in LINEAGE_COLUMNS.items()]
    return f"create table main.{entity} ({', '.join(columns)})"


def create_raw_store(path: Path, rows: Mapping[str, Iterable[Mapping[str, Any]]]) -> Path:
    """Write a raw store at `path` with `rows` per entity (missing entities stay empty).

    A row gives contract columns by name (absent = null) and may override the
    lineage columns `_load_id`, `_loaded_at`, `_row_number`, `_file_name`.
    """
    unknown = set(rows) - set(ENTITIES)
    if unknown:
        raise ValueError(f"not contract entities: {sorted(unknown)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    try:
        for name, ddl in BOOKKEEPING_DDL.items():
            con.execute(f"create table main.{name} ({ddl})")
        for entity_name, entity in ENTITIES.items():
            con.execute(raw_ddl(entity_name))
            names = entity.column_names + list(LINEAGE_COLUMNS)
            records = []
            for i, row in enumerate(rows.get(entity_name, ())):
                extra = set(row) - set(names)
                if extra:
                    raise ValueError(f"{entity_name}: unknown columns {sorted(extra)}")
                values = {c: row.get(c) for c in entity.column_names}
                lineage = {
                    "_load_id": row.get("_load_id", "fixture-1"),
                    "_file_name": row.get("_file_name", f"{entity_name}/fixture.csv"),
                    "_row_number": row.get("_row_number", i + 2),
                    "_row_hash": hashlib.md5(
                        json.dumps(values, default=str, sort_keys=True).encode()
                    ).hexdigest(),
                    "_extra": None,
                    "_loaded_at": row.get("_loaded_at", DEFAULT_LOADED_AT),
                }
                records.append([*values.values(), *lineage.values()])
            if records:
                placeholders = ", ".join("?" for _ in names)
                con.executemany(
                    f"insert into main.{entity_name} ({', '.join(names)}) values ({placeholders})",
                    records,
                )
        con.execute("checkpoint")
    finally:
        con.close()
    return path


def _contact(system: str, contact_id: str, **values: Any) -> dict[str, Any]:
    return {"source_system": system, "source_contact_id": contact_id, **values}


def sample_rows(n_random_customers: int = 40, seed: int = 7) -> dict[str, list[dict[str, Any]]]:
    """A small CRM world. Known answers (with identity_max_contacts_per_value = 3):

    * Anna: web:W1, store:S1 (same e-mail, other case), call_center:CC1 (same
      phone, international format), loyalty:L1 (same loyalty id as S1, other
      spelling) -> one customer of 4 records.
    * Bob: web:W2 (two versions: the later renames Bobby -> Bob) and
      dealer:D1 (same phone as '0049 ...') -> one customer.
    * Carla: web:W3 and store:S3 share nothing deterministic -> two customers.
    * store:P1..P4 share a placeholder e-mail (4 > 3) -> four singletons.
    * call_center:CC2 US phone in national format -> singleton.
    * web:W9 is created after 2024-06-30 -> absent at that as-of.
    * web:W77 is only named by an order -> a stub customer.
    * rnd:R000.. random singletons with random orders, for RFM.
    """
    contacts = [
        _contact(
            "web",
            "W1",
            first_name="Anna",
            last_name="Muster",
            email="Anna.Muster@Example.COM",
            phone="0151-2345678",
            country="DE",
            city="Berlin",
            postal_code="10115",
            address_line1="Invalidenstr. 1",
            marketing_opt_in=True,
            created_at=dt.datetime(2023, 1, 5),
            updated_at=dt.datetime(2023, 6, 1),
        ),
        _contact(
            "store",
            "S1",
            first_name="anna",
            last_name="muster",
            email="anna.muster@example.com",
            country="Germany",
            loyalty_id="ly 1001",
            updated_at=dt.datetime(2023, 3, 1),
        ),
        _contact(
            "call_center",
            "CC1",
            first_name="Anna",
            last_name="Muster",
            phone="+49 151 2345678",
            marketing_opt_in=False,
            updated_at=dt.datetime(2024, 2, 1),
        ),
        _contact(
            "loyalty",
            "L1",
            first_name="Anna-Lena",
            last_name="Muster",
            loyalty_id="LY-1001",
            birth_date=dt.date(1985, 4, 12),
            updated_at=dt.datetime(2022, 1, 1),
        ),
        _contact(
            "web",
            "W2",
            first_name="Bobby",
            last_name="Meyer",
            email="bob@example.org",
            phone="030 1234567",
            country="DE",
            updated_at=dt.datetime(2023, 1, 1),
            _load_id="fixture-1",
            _loaded_at=dt.datetime(2024, 1, 1),
        ),
        _contact(
            "web",
            "W2",
            first_name="Bob",
            last_name="Meyer",
            email="bob@example.org",
            phone="030 1234567",
            country="DE",
            updated_at=dt.datetime(2024, 1, 15),
            _load_id="fixture-2",
            _loaded_at=dt.datetime(2024, 2, 1),
        ),
        _contact("dealer", "D1", first_name="Robert", last_name="Meyer", phone="0049 30 1234567"),
        _contact("web", "W3", first_name="Carla", last_name="Rossi", email="carla@example.net"),
        _contact(
            "store",
            "S3",
            first_name="Carla",
            last_name="Rossi",
            email="c.rossi@example.it",
            country="IT",
        ),
        *[
            _contact("store", f"P{i}", first_name=f"Walk-in {i}", email="noreply@shop.de")
            for i in range(1, 5)
        ],
        _contact("call_center", "CC2", first_name="Dave", phone="(212) 555-0100", country="us"),
        _contact(
            "web",
            "W9",
            first_name="Future",
            email="future@example.com",
            created_at=dt.datetime(2024, 8, 1),
        ),
    ]
    orders: list[dict[str, Any]] = [
        # Anna: completed on three days (two orders on one day), one returned
        {
            "order_id": "A1",
            "source_system": "web",
            "source_contact_id": "W1",
            "ordered_at": dt.datetime(2024, 1, 10, 9),
            "order_total": "100.00",
            "channel": "web",
        },
        {
            "order_id": "A2",
            "source_system": "store",
            "source_contact_id": "S1",
            "ordered_at": dt.datetime(2024, 1, 10, 17),
            "order_total": "50.00",
            "store_id": "ST1",
            "channel": "store",
        },
        {
            "order_id": "A3",
            "source_system": "call_center",
            "source_contact_id": "CC1",
            "ordered_at": dt.datetime(2024, 3, 5, 12),
            "order_total": "80.00",
            "currency": "USD",
            "channel": "phone",
        },
        {
            "order_id": "A4",
            "source_system": "loyalty",
            "source_contact_id": "L1",
            "ordered_at": dt.datetime(2024, 6, 30, 23, 59),
            "order_total": "20.00",
            "store_id": "ST1",
        },
        {
            "order_id": "A5",
            "source_system": "web",
            "source_contact_id": "W1",
            "ordered_at": dt.datetime(2024, 4, 1, 8),
            "order_total": "60.00",
            "status": "returned",
        },
        # Bob: B1 first loaded completed, a later file cancels it
        {
            "order_id": "B1",
            "source_system": "web",
            "source_contact_id": "W2",
            "ordered_at": dt.datetime(2024, 2, 2, 10),
            "order_total": "70.00",
            "_load_id": "fixture-1",
            "_loaded_at": dt.datetime(2024, 2, 3),
        },
        {
            "order_id": "B1",
            "source_system": "web",
            "source_contact_id": "W2",
            "ordered_at": dt.datetime(2024, 2, 2, 10),
            "order_total": "70.00",
            "status": "cancelled",
            "_load_id": "fixture-2",
            "_loaded_at": dt.datetime(2024, 2, 10),
        },
        {
            "order_id": "B2",
            "source_system": "dealer",
            "source_contact_id": "D1",
            "ordered_at": dt.datetime(2024, 5, 20, 10),
            "order_total": "300.00",
            "channel": "dealer",
        },
        # after the main as-of (2024-06-30): only in later replays
        {
            "order_id": "B3",
            "source_system": "web",
            "source_contact_id": "W2",
            "ordered_at": dt.datetime(2024, 7, 1, 0, 0),
            "order_total": "40.00",
        },
        {
            "order_id": "F1",
            "source_system": "web",
            "source_contact_id": "W9",
            "ordered_at": dt.datetime(2024, 8, 2, 10),
            "order_total": "10.00",
        },
        # Carla's two records, the walk-ins, a stub buyer, an anonymous sale
        {
            "order_id": "C1",
            "source_system": "web",
            "source_contact_id": "W3",
            "ordered_at": dt.datetime(2024, 6, 1, 10),
            "order_total": "15.00",
        },
        {
            "order_id": "C2",
            "source_system": "store",
            "source_contact_id": "S3",
            "ordered_at": dt.datetime(2024, 6, 2, 10),
            "order_total": "25.00",
        },
        {
            "order_id": "P1",
            "source_system": "store",
            "source_contact_id": "P1",
            "ordered_at": dt.datetime(2024, 5, 1, 10),
            "order_total": "5.00",
        },
        {
            "order_id": "X1",
            "source_system": "web",
            "source_contact_id": "W77",
            "ordered_at": dt.datetime(2024, 4, 4, 10),
            "order_total": "33.00",
        },
        {
            "order_id": "N1",
            "ordered_at": dt.datetime(2024, 4, 5, 10),
            "order_total": "12.00",
            "channel": "store",
            "store_id": "ST1",
        },
    ]
    rng = np.random.default_rng(seed)
    start = dt.datetime(2023, 1, 1)
    for i in range(n_random_customers):
        contact_id = f"R{i:03d}"
        contacts.append(_contact("rnd", contact_id, first_name=f"Random {i}"))
        n_orders = int(rng.integers(1, 6))
        for j in range(n_orders):
            # few distinct days, so same-day orders and ties happen
            day = int(rng.integers(0, 600))
            amount = float(rng.choice([10, 20, 35.5, 50, 99.99]))
            status = str(rng.choice(["completed"] * 8 + ["cancelled", "returned"]))
            orders.append(
                {
                    "order_id": f"R{i:03d}-{j}",
                    "source_system": "rnd",
                    "source_contact_id": contact_id,
                    "ordered_at": start + dt.timedelta(days=day, hours=int(rng.integers(0, 24))),
                    "order_total": f"{amount:.2f}",
                    "status": status,
                    "currency": str(rng.choice(["EUR", "EUR", "EUR", "USD"])),
                }
            )
    order_lines = [
        {
            "order_id": "A1",
            "line_number": 1,
            "product_id": "P-1",
            "quantity": "2",
            "unit_price": "30.00",
        },
        {
            "order_id": "A1",
            "line_number": 2,
            "product_id": "P-2",
            "quantity": "1",
            "unit_price": "45.00",
            "discount": "5.00",
        },
        {
            "order_id": "A2",
            "line_number": 1,
            "product_id": "P-3",
            "quantity": "1",
            "unit_price": "50.00",
        },
        {
            "order_id": "B3",
            "line_number": 1,
            "product_id": "P-1",
            "quantity": "1",
            "unit_price": "40.00",
        },
    ]
    products = [
        {"product_id": "P-1", "name": "Kettle", "category": "kitchen", "unit_cost": "12.00"},
        {"product_id": "P-2", "name": "Toaster", "category": "kitchen", "unit_cost": "20.00"},
        {"product_id": "P-3", "name": "Lamp", "category": "living"},
    ]
    stores = [{"store_id": "ST1", "name": "Berlin Mitte", "city": "Berlin", "country": "DE"}]
    interactions = [
        {
            "interaction_id": "I1",
            "source_system": "call_center",
            "source_contact_id": "CC1",
            "channel": "phone",
            "type": "complaint",
            "opened_at": dt.datetime(2024, 3, 6, 9),
        },
        {
            "interaction_id": "I2",
            "source_system": "call_center",
            "source_contact_id": "CC1",
            "channel": "phone",
            "type": "inquiry",
            "opened_at": dt.datetime(2024, 7, 6, 9),
        },
    ]
    campaigns = [{"campaign_id": "K1", "name": "Spring", "started_at": dt.datetime(2024, 3, 1)}]
    campaign_touches = [
        {
            "campaign_id": "K1",
            "source_system": "web",
            "source_contact_id": "W1",
            "touched_at": dt.datetime(2024, 3, 2),
            "event": "sent",
        },
    ]
    return {
        "contacts": contacts,
        "orders": orders,
        "order_lines": order_lines,
        "products": products,
        "stores": stores,
        "interactions": interactions,
        "campaigns": campaigns,
        "campaign_touches": campaign_touches,
    }


def dbt_env(build_path: Path, raw_store: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRM_", "DBT_"))}
    env.update(
        DO_NOT_TRACK="1",
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        DBT_PROFILES_DIR=str(REPO),
        CRM_BUILD_PATH=str(build_path),
        CRM_RAW_STORE=str(raw_store),
        CRM_THREADS="4",
        CRM_MEMORY_LIMIT="2GB",
    )
    env.update(extra)
    return env


def run_dbt(
    args: list[str], workdir: Path, env: Mapping[str, str], check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run dbt on this repository's project with target/logs under `workdir`: through
    orchestration/dbt_runner.py, which keeps the parsed project between processes as
    a refresh does (a new target folder would otherwise parse it whole, ~7 s)."""
    command = [
        sys.executable,
        "-m",
        "orchestration.dbt_runner",
        *args,
        "--project-dir",
        str(REPO),
        "--target-path",
        str(workdir / "target"),
        "--log-path",
        str(workdir / "logs"),
    ]
    result = subprocess.run(command, env=dict(env), cwd=REPO, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(command)} exited {result.returncode}\n"
            f"{result.stdout[-20000:]}\n{result.stderr}"
        )
    return result


def build_args(
    variables: Mapping[str, Any],
    select: Iterable[str] = (),
    unit_tests: bool = False,
    data_tests: bool = True,
) -> list[str]:
    """`dbt build` arguments. YAML unit tests check SQL, not data: they run once, in
    test_dbt_models' main build, not in every build of a fixture world. A `select`
    builds those nodes and their ancestors (`+name`) with the data tests of the
    selection only (cautious): a test reaching outside it would fail on a missing
    table. Without data tests, a build is the models alone (a chain of refreshes
    whose tables a test compares)."""
    excluded = [*([] if unit_tests else ["unit_test"]), *([] if data_tests else ["test"])]
    return [
        "build",
        *(["--select", *(f"+{name}" for name in select)] if select else []),
        *(["--indirect-selection", "cautious"] if select else []),
        *(["--exclude-resource-type", *excluded] if excluded else []),
        "--vars",
        json.dumps(dict(variables)),
    ]


def build(
    workdir: Path,
    rows: Mapping[str, Iterable[Mapping[str, Any]]],
    variables: Mapping[str, Any],
    **options: Any,
) -> Path:
    """Create a raw store from `rows`, `dbt build` it into a new file; return the build
    file. `options`: build_args' select, unit_tests and data_tests."""
    raw_store = create_raw_store(workdir / "raw.duckdb", rows)
    build_path = workdir / "build.duckdb"
    run_dbt(build_args(variables, **options), workdir, dbt_env(build_path, raw_store))
    return build_path


def build_with_previous(
    workdir: Path,
    rows: Mapping[str, Iterable[Mapping[str, Any]]],
    variables: Mapping[str, Any],
    previous: Path | None,
    **options: Any,
) -> Path:
    """`build`, with an earlier build file attached as `previous` (the identity state
    and the recorded snapshots), as a refresh attaches the restricted output."""
    workdir.mkdir(parents=True, exist_ok=True)
    variables = dict(variables)
    if previous is not None:
        variables["previous_restricted_output"] = str(previous)
    return build(workdir, rows, variables, **options)
