"""Import settings proposed for an export that is not contract-shaped (issue 19).

`propose(entity, path)` reads the start of a file (64 KB) and proposes what a
source in sources.yml would need to load it: the encoding, the delimiter, the
line of the header, the decimal and thousands separators, date and timestamp
formats, and a mapping of the file's column names to contract columns (by known
names in several languages and by similarity). It never guesses silently: the
loader still rejects the file, and the proposal goes into the rejection message
and, as YAML ready to paste, into `crm inbox check`. Nothing it prints quotes a
value of the file, only its column names (and only when they look like names).
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import difflib
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from crm.contract import ENTITIES, Entity

SAMPLE_BYTES = 64 * 1024
DELIMITERS = (",", ";", "\t", "|")
# Column names seen in exports, normalised (lower case, letters and digits only).
KNOWN_NAMES = {
    "source_contact_id": "kundennummer kundennr kundenid kdnr customerid customerno customernumber "
    "clientid numeroclient idclient contactid kontaktid",
    "first_name": "vorname firstname givenname prenom nombre voornaam",
    "last_name": "nachname name familienname lastname surname nom apellido achternaam",
    "email": "email emailadresse mail mailadresse courriel correo",
    "phone": "telefon telefonnummer tel phone phonenumber mobile handy mobil telephone telefono",
    "birth_date": "geburtsdatum geburtstag birthdate dateofbirth dob datenaissance",
    "address_line1": "strasse strase adresse address street anschrift rue calle straat",
    "address_line2": "adresszusatz zusatz address2 addressline2 complement",
    "postal_code": "plz postleitzahl zip zipcode postcode postalcode codepostal",
    "city": "ort stadt city town ville ciudad wohnort",
    "region": "bundesland region state province kanton",
    "country": "land country pays pais",
    "marketing_opt_in": "newsletter optin einwilligung werbeeinwilligung",
    "order_id": "bestellnummer bestellnr auftragsnummer ordernumber orderno orderid commande",
    "ordered_at": "bestelldatum datum date orderdate auftragsdatum zeitpunkt",
    "order_total": "betrag summe gesamt gesamtbetrag total amount umsatz montant",
    "currency": "wahrung wahrungscode wahrung currency devise",
    "status": "status bestellstatus",
    "channel": "kanal channel vertriebskanal",
    "store_id": "filiale filialnummer store storeid shop",
    "product_id": "artikelnummer artikelnr sku productid produktid",
    "quantity": "menge anzahl quantity qty",
    "unit_price": "einzelpreis stuckpreis preis unitprice price",
    "line_number": "position pos zeile line linenumber",
}
# A bare number or id column: the entity's own id (contacts: source_contact_id).
GENERIC_IDS = {"nummer", "nr", "no", "number", "id", "numero", "num"}
DATE_FORMATS = ("%d.%m.%Y", "%d/%m/%Y", "%m/%d/%Y", "%d-%m-%Y", "%Y-%m-%d", "%d.%m.%y", "%Y%m%d")
TIME_SUFFIXES = (" %H:%M", " %H:%M:%S", "T%H:%M:%S", " %I:%M %p")


@dataclass
class Proposal:
    """What a source would need to load a file; `settings` in sources.yml's names."""

    entity: str
    file: str
    settings: dict = field(default_factory=dict)
    columns: dict[str, str] = field(default_factory=dict)  # file name -> contract column
    unmapped: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # required columns nobody gives
    notes: list[str] = field(default_factory=list)
    looks_like_data: bool = False  # the header line holds values: nothing quoted

    def summary(self) -> str:
        """One line for a rejection message: the settings, not the values."""
        parts = [f"{k} {v!r}" for k, v in self.settings.items() if k not in ("entity", "files")]
        if self.columns:
            parts.append(
                "columns "
                + ", ".join(f"{k} -> {v}" for k, v in list(self.columns.items())[:8])
                + (" ..." if len(self.columns) > 8 else "")
            )
        if self.missing:
            parts.append(f"still missing: {', '.join(self.missing)}")
        return "; ".join(parts) if parts else "no settings found"

    def yaml(self, name: str | None = None) -> str:
        """A source for sources.yml, ready to paste under `sources:`."""
        name = name or re.sub(r"[^a-z0-9]+", "_", Path(self.file).stem.lower()).strip("_")
        out = [f"  {name or self.entity}:   # proposed by `crm inbox check` for {self.file}"]
        out.append(f"    entity: {self.entity}")
        out.append(f"    files: {_yaml_text(self.file)}")
        for key, value in self.settings.items():
            shown = (
                "[" + ", ".join(_yaml_text(v) for v in value) + "]"
                if isinstance(value, list)
                else _yaml_text(value)
            )
            out.append(f"    {key}: {shown}")
        for column in self.missing:
            out.append(f"    # {column}: required, not found in the file: map a column or set")
            if column == "source_system":
                out.append("    source_system: CHANGE_ME   # the system the file comes from")
        if self.columns or self.unmapped:
            out.append("    columns:")
            for file_name, column in self.columns.items():
                out.append(f"      {_yaml_text(file_name)}: {column}")
            for file_name in self.unmapped:
                out.append(
                    f"      # {_yaml_text(file_name)}: ?   (no contract column; kept in _extra)"
                )
        return "\n".join(out) + "\n"


def _yaml_text(value: object) -> str:
    if isinstance(value, int):
        return str(value)
    text = str(value)
    if text == "\t":
        return '"\\t"'
    if (
        re.fullmatch(r"[A-Za-z_][A-Za-z0-9_./*\- ]*", text)
        and text.lower()
        not in (
            "yes",
            "no",
            "on",
            "off",
            "true",
            "false",
            "null",
        )
        and not text.endswith(" ")
    ):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _normalised(name: str) -> str:
    text = name.lower().replace("ß", "ss").replace("ä", "a").replace("ö", "o").replace("ü", "u")
    return re.sub(r"[^a-z0-9]", "", text)


def detect_encoding(sample: bytes) -> str:
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start >= len(sample) - 3:  # a character cut by the sample's end
            return "utf-8"
    try:
        sample.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"


def _rows(text: str, delimiter: str) -> list[list[str]]:
    lines = text.splitlines()[:-1] if not text.endswith("\n") else text.splitlines()
    try:
        return list(csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter))
    except csv.Error:
        return []


def _delimiter_and_header(text: str) -> tuple[str, int, list[list[str]]]:
    """The delimiter giving most rows the same number (>1) of fields, and the first line
    of that shape (title lines before a table have fewer fields)."""
    best = (",", 1, [])
    best_score = -1.0
    for delimiter in DELIMITERS:
        rows = [r for r in _rows(text, delimiter)]
        widths = Counter(len(r) for r in rows if any(c.strip() for c in r))
        if not widths:
            continue
        width, count = widths.most_common(1)[0]
        if width < 2:
            continue
        score = count * width
        if score > best_score:
            header = next(i for i, r in enumerate(rows) if len(r) == width)
            best, best_score = (delimiter, header + 1, rows[header:]), score
    return best


_DATA_LIKE = re.compile(r"@|\d[^\d]?\d[^\d]?\d")


def _number_style(values: list[str]) -> tuple[str | None, str | None]:
    """(decimal, thousands) when values are numbers written the European way."""
    comma = sum(bool(re.fullmatch(r"-?\d{1,3}(\.\d{3})*,\d+|-?\d+,\d+", v)) for v in values)
    dotted = sum(bool(re.fullmatch(r"-?\d{1,3}(\.\d{3})+(,\d+)?", v)) for v in values)
    english = sum(bool(re.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?", v)) for v in values)
    if comma or dotted:
        return ",", ("." if dotted else None)
    if english:
        return ".", ","
    return None, None


def _formats_of(values: list[str]) -> list[str]:
    """strptime formats (dates, and with a time) that read at least 90% of `values`."""
    values = [v for v in values if v]
    if not values:
        return []
    found = []
    for date in DATE_FORMATS:
        for suffix in ("", *TIME_SUFFIXES):
            fmt = date + suffix
            ok = 0
            for v in values:
                try:
                    dt.datetime.strptime(v, fmt)
                    ok += 1
                except ValueError:
                    pass
            if ok >= 0.9 * len(values):
                found.append(fmt)
    if "%d/%m/%Y" in found and "%m/%d/%Y" in found:
        found.remove("%m/%d/%Y")  # no day above 12 seen: day first, as most of the world
    return [f for f in found if not f.startswith("%Y-%m-%d")]  # ISO needs no setting


def propose(entity: Entity | str, path: Path, rel: str | None = None) -> Proposal:
    """Settings that would load `path` as `entity` (read from its first 64 KB)."""
    entity = ENTITIES[entity] if isinstance(entity, str) else entity
    rel = rel or f"{entity.name}/{path.name}"
    proposal = Proposal(entity.name, rel)
    opener = __import__("gzip").open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as handle:
        sample = handle.read(SAMPLE_BYTES)
    encoding = detect_encoding(sample)
    text = sample.decode(encoding if encoding != "utf-8" else "utf-8", errors="ignore")
    text = text.removeprefix("\ufeff")
    if encoding not in ("utf-8", "utf-8-sig"):
        proposal.settings["encoding"] = {"cp1252": "windows-1252"}.get(encoding, encoding)
    delimiter, header_line, rows = _delimiter_and_header(text)
    if not rows:
        proposal.notes.append("no table found in the start of the file")
        return proposal
    if delimiter != ",":
        proposal.settings["delimiter"] = delimiter
    if header_line > 1:
        proposal.settings["header_line"] = header_line
    header, data = rows[0], rows[1:]
    if any(_DATA_LIKE.search(name) for name in header):
        proposal.looks_like_data = True
        proposal.notes.append(
            "the first line of the table looks like data, not a header: export the file "
            "with its header line"
        )
        return proposal
    if not any(rows):
        return proposal
    columns = [[r[i].strip() for r in data if i < len(r)] for i in range(len(header))]
    decimals = [_number_style(c) for c in columns]
    decimal = next((d for d in decimals if d[0] == ","), None) or next(
        (d for d in decimals if d[1]), (None, None)
    )
    if decimal[0] == ",":
        proposal.settings["decimal"] = ","
    if decimal[1]:
        proposal.settings["thousands"] = decimal[1]
    date_formats, stamp_formats = [], []
    for values in columns:
        for fmt in _formats_of(values):
            target = stamp_formats if "%H" in fmt or "%I" in fmt else date_formats
            if fmt not in target:
                target.append(fmt)
    if date_formats:
        proposal.settings["date_format"] = (
            date_formats[0] if len(date_formats) == 1 else date_formats
        )
    if stamp_formats:
        proposal.settings["timestamp_format"] = (
            stamp_formats[0] if len(stamp_formats) == 1 else stamp_formats
        )
    if stamp_formats or any(
        c.type == "timestamp" and c.name in {_guess(entity, h) for h in header}
        for c in entity.columns
    ):
        proposal.notes.append("timestamps without an offset are UTC unless you set timezone")
    from crm.load.readers.headers import normalise_name

    taken: set[str] = set()
    for name in header:
        column = _guess(entity, name)
        if column and column not in taken and normalise_name(name) != column:
            proposal.columns[name] = column
            taken.add(column)
        elif column and column not in taken:
            taken.add(column)  # the loader reads the contract's own name as it is
        else:
            proposal.unmapped.append(name)
    proposal.missing = [c for c in entity.required if c not in taken]
    return proposal


def _guess(entity: Entity, name: str) -> str | None:
    """The contract column a file's column name means: its own name, a known name in
    several languages, or the most similar contract name (ratio >= 0.8)."""
    key = _normalised(name)
    names = {c.name for c in entity.columns}
    for column in entity.column_names:
        if key == column.replace("_", ""):
            return column
    for column, known in KNOWN_NAMES.items():
        if column in names and key in known.split():
            return column
    if key in GENERIC_IDS:
        return entity.key[-1]  # "Nummer", "ID": the entity's own id
    scored = [
        (difflib.SequenceMatcher(None, key, c.replace("_", "")).ratio(), c)
        for c in entity.column_names
    ]
    score, column = max(scored)
    return column if score >= 0.8 else None
