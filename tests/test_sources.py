"""Import settings (sources.yml): validation that names the line, and the settings
that a source gives the loader."""

from __future__ import annotations

import textwrap

import pytest

from crm.sources import SourcesError, parse_sources

GERMAN = """\
version: 1
sources:
  shop_kunden:
    entity: contacts
    files: contacts/Kunden*.csv
    source_system: shop
    delimiter: ";"
    encoding: windows-1252
    header_line: 3
    decimal: ","
    thousands: .
    date_format: "%d.%m.%Y"
    timezone: Europe/Berlin
    columns:
      Kundennummer: source_contact_id
      Vorname: first_name
      E-Mail: email
    constants:
      country: NO
    derived:
      address_line1: "{Strasse} {Hausnummer}"
  call_centre:
    entity: interactions
    files: [interactions/cc-*.txt, interactions/cc-*.tsv]
    delimiter: \\t
"""


def test_a_source_gives_every_setting_as_text():
    sources = parse_sources(GERMAN)
    kunden, calls = sources.sources
    assert kunden.name == "shop_kunden" and kunden.line == 3
    assert kunden.encoding == "cp1252" and kunden.header_line == 3
    assert (kunden.delimiter, kunden.decimal, kunden.thousands) == (";", ",", ".")
    assert kunden.date_format == ("%d.%m.%Y",) and kunden.timezone == "Europe/Berlin"
    assert kunden.constants == (("country", "NO"),)  # Norway, not YAML 1.1's false
    assert dict(kunden.columns)["E-Mail"] == "email"
    assert kunden.derived_fields("address_line1") == ["Strasse", "Hausnummer"]
    assert calls.delimiter == "\t" and calls.files == (
        "interactions/cc-*.txt",
        "interactions/cc-*.tsv",
    )
    assert sources.for_file("contacts", "contacts/Kunden_2024.csv") is kunden
    assert sources.for_file("contacts", "contacts/other.csv") is None
    assert sources.for_file("orders", "contacts/Kunden_2024.csv") is None
    assert not kunden.reads_text_like_the_contract and calls.reads_text_like_the_contract


def test_the_version_follows_the_settings_not_the_name_or_place():
    version = parse_sources(GERMAN).sources[0].version
    moved = parse_sources(GERMAN.replace("shop_kunden", "kunden") + "\n# a comment\n")
    assert moved.sources[0].version == version
    changed = parse_sources(GERMAN.replace("Europe/Berlin", "Europe/Vienna"))
    assert changed.sources[0].version != version and len(version) == 12


@pytest.mark.parametrize(
    ("old", "new", "line", "message"),
    [
        ('delimiter: ";"', 'delimter: ";"', 7, "unknown setting 'delimter'"),
        ("entity: contacts", "entity: contact", 4, "unknown entity 'contact'"),
        ("files: contacts/K", "files: K", 5, "must start with the entity's folder, contacts/"),
        ("windows-1252", "windows-9999", 8, "unknown encoding 'windows-9999'"),
        ("header_line: 3", "header_line: 0", 9, "header_line must be 1 or more"),
        ('decimal: ","', 'decimal: ";"', 10, "decimal must be . or ,"),
        ("thousands: .", 'thousands: ","', 11, "not the decimal separator"),
        ('date_format: "%d.%m.%Y"', "date_format: dd.mm.yyyy", 12, "not a strptime format"),
        ("Europe/Berlin", "Europe/Berln", 13, "unknown time zone 'Europe/Berln'"),
        ("Vorname: first_name", "Vorname: firstname", 16, "'firstname' is not a column"),
        ("E-Mail: email", "E-Mail: email\n      Land: country", 20, "country is set twice"),
        ('"{Strasse} {Hausnummer}"', "Strasse", 21, "must name the file's columns"),
    ],
)
def test_a_mistake_names_its_line(old, new, line, message):
    assert old in GERMAN
    with pytest.raises(SourcesError, match=f"sources.yml: line {line}: .*{message}"):
        parse_sources(GERMAN.replace(old, new, 1))


def test_the_file_itself_is_checked():
    with pytest.raises(SourcesError, match="line 5: 'files' is given twice \\(also line 4\\)"):
        parse_sources("sources:\n  a:\n    entity: orders\n    files: x\n    files: y\n")
    with pytest.raises(SourcesError, match="line 2: unknown key 'source'"):
        parse_sources("version: 1\nsource:\n  a: {}\n")
    with pytest.raises(SourcesError, match="only version 1 exists"):
        parse_sources("version: 2\n")
    with pytest.raises(SourcesError, match="not valid YAML"):
        parse_sources("sources: [a\n")
    with pytest.raises(SourcesError, match="source 'a' needs 'files'"):
        parse_sources("sources:\n  a:\n    entity: orders\n")
    assert parse_sources("").sources == () and parse_sources("sources:\n").sources == ()


def test_two_sources_for_one_file_are_an_error_naming_both():
    text = textwrap.dedent(
        """\
        sources:
          a:
            entity: orders
            files: orders/*.csv
          b:
            entity: orders
            files: orders/shop-*.csv
        """
    )
    sources = parse_sources(text)
    assert sources.for_file("orders", "orders/pos.csv").name == "a"
    with pytest.raises(SourcesError, match="matches source 'a' \\(line 2\\) and 'b' \\(line 5\\)"):
        sources.for_file("orders", "orders/shop-1.csv")
