"""Sniffing: import settings proposed for exports that are not contract-shaped, in the
rejection message and by `crm inbox check` (which loads nothing)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from crm.cli import main
from crm.config import Settings
from crm.load import load_inbox
from crm.sniff import detect_encoding, propose
from crm.sources import parse_sources
from tests.conftest import make_settings

GERMAN_ORDERS = (
    "\ufeffBestellnummer;Kundennummer;Bestelldatum;Betrag;Währung;Status\n"
    "B-1;C1;05.01.2024 10:00;1.234,50;EUR;completed\n"
    "B-2;C2;25.07.2024 10:30;12,50;EUR;completed\n"
    "B-3;C1;15.03.2024 10:00;1,00;EUR;returned\n"
)
LATIN1_CONTACTS = (
    "Kundenliste Stand 31.12.2024\n"
    "Nummer\tVorname\tName\tE-Mail\tGeburtsdatum\tOrt\n"
    "C1\tJürgen\tMüller\tj@example.de\t03.02.1961\tKöln\n"
    "C2\tZoë\tWeiß\tz@example.de\t24.12.1990\tDüsseldorf\n"
)


def _settings(root: Path) -> Settings:
    return make_settings(root, threads=1, memory_limit="1GB")


def _put(root: Path, rel: str, data: bytes) -> Path:
    path = root / "inbox" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_the_proposal_reads_the_dialect_and_maps_the_names(tmp_path: Path):
    orders = propose("orders", _put(tmp_path, "orders/b.csv", GERMAN_ORDERS.encode()))
    assert orders.settings == {
        "delimiter": ";",
        "decimal": ",",
        "thousands": ".",
        "timestamp_format": "%d.%m.%Y %H:%M",
    }
    assert orders.columns == {
        "Bestellnummer": "order_id",
        "Kundennummer": "source_contact_id",
        "Bestelldatum": "ordered_at",
        "Betrag": "order_total",
        "Währung": "currency",
    }
    assert orders.missing == [] and orders.unmapped == []  # Status is the contract's name
    contacts = propose(
        "contacts", _put(tmp_path, "contacts/k.txt", LATIN1_CONTACTS.encode("latin-1"))
    )
    assert contacts.settings == {
        "encoding": "windows-1252",
        "delimiter": "\t",
        "header_line": 2,
        "date_format": "%d.%m.%Y",
    }
    assert contacts.columns["Nummer"] == "source_contact_id"
    assert contacts.columns["E-Mail"] == "email"  # the loader reads e-mail, not email
    assert contacts.missing == ["source_system"]
    # The YAML validates, and under it the file loads.
    source = parse_sources("sources:\n" + orders.yaml()).sources[0]
    assert source.decimal == "," and dict(source.columns)["Betrag"] == "order_total"


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        ("Köln".encode(), "utf-8"),
        ("\ufeffKöln".encode(), "utf-8-sig"),
        ("Köln €".encode("cp1252"), "cp1252"),
        ("Köln".encode("utf-16"), "utf-16"),
        ("Köln".encode()[:-1] + "ö".encode()[:1], "utf-8"),  # a character cut by the sample
    ],
)
def test_the_encoding_is_read_from_the_bytes(data: bytes, encoding: str):
    assert detect_encoding(data) == encoding


def test_a_header_that_is_data_gets_no_proposal_and_no_quote(tmp_path: Path):
    path = _put(tmp_path, "contacts/x.csv", b"web;C1;Anna;Berg;anna@example.org\n" * 3)
    proposal = propose("contacts", path)
    assert proposal.looks_like_data and not proposal.columns
    assert "anna" not in proposal.summary().lower() and "anna" not in proposal.yaml().lower()


def test_the_rejection_names_the_settings_that_would_load_it(tmp_path: Path):
    settings = _settings(tmp_path)
    _put(tmp_path, "orders/Bestellungen.csv", GERMAN_ORDERS.encode())
    (result,) = load_inbox(settings).files
    assert result.status == "rejected"
    assert "Import settings would read it: delimiter ';'; decimal ','" in result.error
    assert "Betrag -> order_total" in result.error
    assert "`crm inbox check orders/Bestellungen.csv`" in result.error


def test_inbox_check_previews_and_proposes_without_loading(tmp_path: Path, monkeypatch, capsys):
    for name, value in {
        "CRM_HOME": tmp_path / "home",
        "CRM_INBOX": tmp_path / "inbox",
        "CRM_WAREHOUSE": tmp_path / "warehouse.duckdb",
    }.items():
        monkeypatch.setenv(name, str(value))
    monkeypatch.delenv("CRM_SOURCES", raising=False)
    path = _put(tmp_path, "orders/Bestellungen.csv", GERMAN_ORDERS.encode())
    assert main(["inbox", "check", str(path)]) == 1  # rejected as it is
    out = capsys.readouterr().out
    assert "rejected: required column(s) missing" in out
    assert '    delimiter: ";"\n' in out and "      Betrag: order_total\n" in out
    after = out.split("with these settings:")[1]
    assert "loads 3 of 3 rows (quarantined 0" in after and "1234.5" in after
    assert not (tmp_path / "home" / "raw.duckdb").exists()  # nothing was loaded

    # Pasted into sources.yml, the file now loads as it is; a bad row is named.
    yaml = out.split("):\n\n", 1)[1].split("\n\n")[0]
    (tmp_path / "home").mkdir(exist_ok=True)
    (tmp_path / "home" / "sources.yml").write_text("sources:\n" + yaml + "\n")
    path.write_text(GERMAN_ORDERS + "B-4;C1;31.02.2024 10:00;1,00;EUR;completed\n")
    assert main(["inbox", "check", str(path)]) == 0
    out = capsys.readouterr().out
    assert "read with import settings bestellungen@" in out
    assert "loads 3 of 4 rows (quarantined 1" in out
    assert "row 5: ordered_at '31.02.2024 10:00' is not a valid timestamp" in out
    load_inbox(_settings(tmp_path))
    with duckdb.connect(str(tmp_path / "home" / "raw.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from orders").fetchone()[0] == 3
