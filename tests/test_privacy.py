"""Personal data at rest (issue 18), end to end: after good and failed refreshes, an
auditor walks CRM_HOME and the warehouse's folder. Every file that holds a loaded
e-mail, phone, name or street must be owner-only; the analytics warehouse and its
generations hold none in the clear; run logs and records, alerts, Dagster's storage
and the quality gate's data docs quote none at all.
"""

from __future__ import annotations

import dataclasses
import stat
from pathlib import Path

import pytest

from crm.privacy import folder_mode, readable_by_others, secure_home
from tests.conftest import Env, drop_resent_orders, make_settings
from tests.conftest import read_only as _ro
from tests.privacy_audit import audit, personal_values

pytestmark = pytest.mark.e2e

CONTACT_HEADER = (
    "source_system,source_contact_id,first_name,last_name,email,phone,birth_date,"
    "address_line1,city,postal_code,country"
)
BIRTH_DATES = ["31.02.1980", "1980-13-40", "1975-01-01", "x", "1990-05-05", "?"]
# Files where no personal value may appear, owner-only or not (issue 18, item 2).
NEVER_QUOTED = ("runs", "dagster", "data_docs", "alerts.log")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _drop_bad_contacts(env: Env) -> None:
    """Real people's rows in the shapes that end in quarantine or in a rejected file."""
    with _ro(env.home / "raw.duckdb") as raw:
        people = raw.execute(
            "select first_name, last_name, email, phone, address_line1, city, postal_code "
            "from contacts where email is not null and phone is not null "
            "and address_line1 is not null order by source_contact_id limit 6"
        ).fetchall()
    rows = [
        f"web,BAD{i},{first},{last},{email},{phone},{birth},{street},{city},{postcode},DE"
        for i, ((first, last, email, phone, street, city, postcode), birth) in enumerate(
            zip(people, BIRTH_DATES, strict=True)
        )
    ]
    rows[2] += ",surplus"  # a row with too many fields: the quarantine keeps the raw line
    (env.inbox / "contacts" / "bad-contacts.csv").write_text(
        CONTACT_HEADER + "\n" + "\n".join(rows) + "\n"
    )
    # An export without its header line: the first person is read as the header.
    (env.inbox / "contacts" / "no-header.csv").write_text("\n".join(rows[3:]) + "\n")


def test_an_auditor_finds_personal_data_only_in_owner_only_files(crm_env: Env):
    env = crm_env
    env.crm("generate", "--customers", "150", "--seed", "18", "--truth", str(env.truth))
    generated = [p for p in [*env.inbox.rglob("*"), *env.truth.rglob("*")] if p.is_file()]
    assert generated and {_mode(p) for p in generated} == {0o600}  # names, e-mails, truth
    assert _mode(env.inbox) == _mode(env.truth) == 0o700
    env.crm("refresh")
    assert _mode(env.warehouse) == 0o644  # the documented mode for readers
    assert _mode(env.warehouse.parent) == 0o755

    # Quarantined rows and a rejected file, published: the gate's warning about the
    # rejection reaches the analytics file (meta.quality_results) and the data docs.
    _drop_bad_contacts(env)
    quarantined = env.crm("refresh")
    assert "contacts/no-header.csv: required column(s) missing" in quarantined.stderr
    failed = env.crm("refresh", check=False, CRM_MEMORY_LIMIT="1MB")
    assert failed.returncode == 1 and "memory" in failed.stderr  # dbt fails midway
    # Last, so that the files it writes after the raw load (which tightens what older
    # refreshes left) are private through the umask alone: a build kept for diagnosis.
    drop_resent_orders(env)  # 30% of the orders again, as cancelled: the gate blocks
    blocked = env.crm("refresh", check=False)
    assert blocked.returncode == 1 and "volume.orders" in blocked.stderr
    with _ro(env.home / "raw.duckdb") as raw:
        kept_aside = raw.execute(
            "select (select count(*) from quarantine where file_name = $bad),"
            " (select count(*) from value_issues where file_name = $bad),"
            " (select status from load_ledger where file_name = 'contacts/no-header.csv')",
            {"bad": "contacts/bad-contacts.csv"},
        ).fetchone()
    assert kept_aside == (1, 4, "rejected"), quarantined.stderr
    assert list((env.home / "builds").glob("build-*.duckdb"))

    values = personal_values(env.home / "raw.duckdb", env.restricted)
    result = audit([env.home, env.warehouse.parent], values)
    holding = set(result.holding())
    # The auditor sees what it must see (else it could not fail) ...
    assert {env.home / "raw.duckdb", env.restricted} <= holding
    assert any(p.parent == env.home / "builds" for p in holding)
    # ... and every such file is owner-only.
    assert not result.readable_by_others(), [
        (str(f.path), oct(f.mode)) for f in result.readable_by_others()
    ]

    def under(path: Path, name: str) -> bool:
        return any(path.is_relative_to(root / name) for root in (env.home, env.warehouse.parent))

    never_quoted = [f for f in result.findings if any(under(f.path, n) for n in NEVER_QUOTED)]
    assert not never_quoted, [(str(f.path), f.hits[:3]) for f in never_quoted]
    published = [env.warehouse, *(env.home / "generations").glob("*.duckdb")]
    assert len(published) >= 2 and not result.unreadable
    assert not holding & set(published)  # the analytics file and its generations: hashed
    # Folders too: nobody else may list or enter where personal data lives.
    for name in ("builds", "restricted", "secrets", "runs", "dagster", "tmp", "dbt-target"):
        assert _mode(env.home / name) == 0o700, name
    assert _mode(env.home) == 0o755  # it leads to the generations
    assert "owner-only" in env.crm("status").stdout.split("others", 1)[1].splitlines()[0]


def test_an_installation_from_before_is_tightened(tmp_path: Path):
    settings = dataclasses.replace(
        make_settings(tmp_path),
        warehouse=tmp_path / "home" / "warehouse.duckdb",  # the generations' folder too
        warehouse_mode=0o640,
    )
    home = settings.home
    for folder in ("runs", "dagster/history", "secrets", "generations", "builds"):
        (home / folder).mkdir(parents=True, mode=0o755)
    files = {
        home / "raw.duckdb": 0o644,
        home / "runs" / "r.log": 0o644,
        home / "dagster" / "history" / "runs.db": 0o664,
        home / "secrets" / "pii.key": 0o600,
        home / "warehouse.duckdb": 0o644,
        home / "generations" / "warehouse-1.duckdb": 0o644,
    }
    for path, mode in files.items():
        path.write_text("x")
        path.chmod(mode)
    settings.inbox.mkdir()
    (settings.inbox / "export.csv").write_text("x")
    (settings.inbox / "export.csv").chmod(0o644)

    assert home / "raw.duckdb" in readable_by_others(settings)  # what `crm status` warns of
    tightened = secure_home(settings)
    assert _mode(home / "raw.duckdb") == 0o600
    assert _mode(home / "runs") == 0o700 and _mode(home / "runs" / "r.log") == 0o600
    assert _mode(home / "dagster" / "history" / "runs.db") == 0o600
    assert _mode(home / "warehouse.duckdb") == 0o640  # CRM_WAREHOUSE_MODE, both ways
    assert _mode(home / "generations" / "warehouse-1.duckdb") == 0o640
    assert _mode(settings.inbox / "export.csv") == 0o644  # the inbox is not ours
    assert home / "raw.duckdb" in tightened.changed
    assert home / "secrets" / "pii.key" not in tightened.changed  # was private already
    note = tightened.note()
    assert "owner-only" in note and "1 inbox file(s) are readable" in note
    assert secure_home(settings).changed == [] and readable_by_others(settings) == []


def test_folder_mode_follows_the_warehouse_mode():
    assert folder_mode(0o644) == 0o755
    assert folder_mode(0o640) == 0o750
    assert folder_mode(0o600) == 0o700
