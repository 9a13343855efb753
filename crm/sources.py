"""Import settings: how to read exports that are not in contract v1's shape.

One YAML file that the operator keeps, `$CRM_HOME/sources.yml` (`CRM_SOURCES`),
names sources. Each says which inbox files it applies to (globs under the inbox)
and how to read them: the CSV dialect, the encoding, where the header is, the
decimal and thousands separators, date and timestamp formats, the time zone of
naive timestamps, a mapping of the file's column names to contract columns, and
values the file lacks (constants, `source_system`, columns derived from others).
docs/inbox.md ("Import settings") has the reference and examples.

Every scalar is read as text, never as YAML 1.1's booleans or numbers (`country:
NO` is Norway, `0049` stays a string), and every mistake names its line. A
source's `version` is a hash of its settings: the ledger records which version
read each file, and a file rejected under other settings is tried again.
"""

from __future__ import annotations

import codecs
import datetime as dt
import fnmatch
import hashlib
import json
import string
import zoneinfo
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from crm.contract import ENTITIES

FORMATS = ("csv", "excel", "parquet", "jsonl")
SOURCE_KEYS = {
    "entity": "the contract entity the files hold (contacts, orders, ...)",
    "files": "glob(s) under the inbox, e.g. contacts/Kunden*.csv",
    "format": f"one of {', '.join(FORMATS)} (default: from the file name)",
    "source_system": "the value of source_system when a file lacks the column",
    "delimiter": "the field separator of CSV files (one character; \\t for tab)",
    "quote": 'the quote character of CSV files (default ")',
    "escape": "the escape character inside quotes (default: the quote doubled)",
    "encoding": "the text encoding, e.g. utf-8, windows-1252, latin-1, utf-16",
    "header_line": "the line (CSV) or row (Excel) of the header, 1 = the first",
    "decimal": "the decimal separator of numbers: . or ,",
    "thousands": "the thousands separator of numbers, if any: . , ' or a space",
    "date_format": "strptime format(s) of dates, e.g. %d.%m.%Y",
    "timestamp_format": "strptime format(s) of timestamps, e.g. %d.%m.%Y %H:%M",
    "timezone": "the IANA time zone of timestamps without an offset (default UTC)",
    "sheet": "the Excel sheet to read (name or 1-based number; default the first)",
    "columns": "the file's column names -> contract columns",
    "constants": "contract column -> one value for every row",
    "derived": "contract column -> a template of the file's columns, e.g. '{Datum} {Zeit}'",
    "rejected_file_blocks": "true: a file of this source rejected whole holds back "
    "publication (default CRM_REJECTED_FILE_BLOCKS)",
}
TOP_KEYS = ("version", "sources")


class SourcesError(ValueError):
    """sources.yml is not valid: the message names the file and the line."""


@dataclass(frozen=True)
class Source:
    """One source's import settings, validated."""

    name: str
    entity: str
    files: tuple[str, ...]
    line: int  # where the source starts in sources.yml
    format: str | None = None
    source_system: str | None = None
    delimiter: str = ","
    quote: str = '"'
    escape: str | None = None
    encoding: str = "utf-8"
    header_line: int = 1
    decimal: str = "."
    thousands: str | None = None
    date_format: tuple[str, ...] = ()
    timestamp_format: tuple[str, ...] = ()
    timezone: str = "UTC"
    sheet: str | None = None
    columns: tuple[tuple[str, str], ...] = ()
    constants: tuple[tuple[str, str], ...] = ()
    derived: tuple[tuple[str, str], ...] = ()
    rejected_file_blocks: bool | None = None
    version: str = field(default="", compare=False)

    def matches(self, entity: str, rel: str) -> bool:
        return entity == self.entity and any(fnmatch.fnmatchcase(rel, g) for g in self.files)

    @property
    def label(self) -> str:
        """How the ledger names the settings that read a file: name@version."""
        return f"{self.name}@{self.version}"

    @property
    def reads_text_like_the_contract(self) -> bool:
        """Numbers, dates and timestamps parse as contract v1 says (ISO, '.', UTC)."""
        return (
            self.decimal == "."
            and self.thousands is None
            and not self.date_format
            and not self.timestamp_format
            and self.timezone == "UTC"
        )

    def derived_fields(self, column: str) -> list[str]:
        template = dict(self.derived)[column]
        return [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]


@dataclass(frozen=True)
class Sources:
    path: Path | None
    sources: tuple[Source, ...] = ()

    def for_file(self, entity: str, rel: str) -> Source | None:
        """The source whose globs match an inbox file; two matching sources are an error
        of the settings, named with both lines."""
        found = [s for s in self.sources if s.matches(entity, rel)]
        if len(found) > 1:
            raise SourcesError(
                f"{self.path}: {rel} matches source {found[0].name!r} (line {found[0].line}) "
                f"and {found[1].name!r} (line {found[1].line}): make their files patterns "
                "exclusive"
            )
        return found[0] if found else None


# ---------------------------------------------------------------- YAML with lines


class _Map(dict):
    """A YAML mapping that remembers the line of itself and of each key."""

    line: int = 0
    lines: dict


class _Loader(yaml.SafeLoader):
    pass


def _mapping(loader: _Loader, node: yaml.MappingNode) -> _Map:
    loader.flatten_mapping(node)
    result = _Map()
    result.line, result.lines = node.start_mark.line + 1, {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if not isinstance(key, str):
            raise SourcesError(f"line {line}: a key must be text")
        if key in result:
            raise SourcesError(
                f"line {line}: {key!r} is given twice (also line {result.lines[key]})"
            )
        result[key] = loader.construct_object(value_node, deep=True)
        result.lines[key] = line
    return result


def _scalar(loader: _Loader, node: yaml.ScalarNode) -> str | None:
    """Every scalar as its text: no YAML 1.1 booleans (NO, off) or octal numbers."""
    if node.style is None and node.value in ("", "~", "null", "Null", "NULL"):
        return None
    return node.value


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
for _tag in ("str", "bool", "int", "float", "null", "timestamp"):
    _Loader.add_constructor(f"tag:yaml.org,2002:{_tag}", _scalar)


# ---------------------------------------------------------------- validation


def _text(value, where: str, line: int, *, one_char: bool = False) -> str:
    if not isinstance(value, str) or value == "":
        raise SourcesError(f"line {line}: {where} must be text")
    if one_char:
        value = {"\\t": "\t", "tab": "\t"}.get(value, value)
        if len(value) != 1:
            raise SourcesError(f"line {line}: {where} must be one character, got {value!r}")
    return value


def _texts(value, where: str, line: int) -> tuple[str, ...]:
    values = value if isinstance(value, list) else [value]
    return tuple(_text(v, where, line) for v in values)


def _mapping_of(value, where: str, line: int) -> _Map:
    if not isinstance(value, _Map):
        raise SourcesError(f"line {line}: {where} must be a mapping (name: value)")
    return value


def _format(value: str, where: str, line: int, sample: dt.datetime) -> str:
    if "%" not in value:
        raise SourcesError(
            f"line {line}: {where} {value!r} is not a strptime format (e.g. %d.%m.%Y)"
        )
    if "%z" in value or "%Z" in value:
        raise SourcesError(
            f"line {line}: {where} {value!r}: give the format without the offset and the "
            "zone as timezone (offsets in the values are honoured anyway)"
        )
    try:
        sample.strftime(value)
    except ValueError as exc:
        raise SourcesError(f"line {line}: {where} {value!r}: {exc}") from exc
    return value


def _source(name: str, spec, line: int) -> Source:
    spec = _mapping_of(spec, f"source {name!r}", line)
    unknown = [k for k in spec if k not in SOURCE_KEYS]
    if unknown:
        key = unknown[0]
        known = ", ".join(SOURCE_KEYS)
        raise SourcesError(f"line {spec.lines[key]}: unknown setting {key!r} (known: {known})")
    for key in ("entity", "files"):
        if key not in spec:
            raise SourcesError(f"line {line}: source {name!r} needs {key!r}: {SOURCE_KEYS[key]}")

    def at(key: str) -> int:
        return spec.lines.get(key, line)

    entity = _text(spec["entity"], "entity", at("entity"))
    if entity not in ENTITIES:
        raise SourcesError(
            f"line {at('entity')}: unknown entity {entity!r} (one of {', '.join(ENTITIES)})"
        )
    contract = ENTITIES[entity]
    names = set(contract.column_names)
    files = _texts(spec["files"], "files", at("files"))
    for glob in files:
        if not glob.startswith(f"{entity}/"):
            raise SourcesError(
                f"line {at('files')}: {glob!r} must start with the entity's folder, {entity}/"
            )
    out: dict = {"name": name, "entity": entity, "files": files, "line": line}
    if "format" in spec:
        out["format"] = _text(spec["format"], "format", at("format")).lower()
        if out["format"] not in FORMATS:
            raise SourcesError(f"line {at('format')}: format must be one of {', '.join(FORMATS)}")
    if "source_system" in spec:
        if "source_system" not in names:
            raise SourcesError(f"line {at('source_system')}: {entity} has no source_system")
        out["source_system"] = _text(spec["source_system"], "source_system", at("source_system"))
    for key in ("delimiter", "quote", "escape"):
        if key in spec:
            out[key] = _text(spec[key], key, at(key), one_char=True)
    if "encoding" in spec:
        encoding = _text(spec["encoding"], "encoding", at("encoding"))
        try:
            out["encoding"] = codecs.lookup(encoding).name
        except LookupError:
            raise SourcesError(f"line {at('encoding')}: unknown encoding {encoding!r}") from None
    if "header_line" in spec:
        text = _text(spec["header_line"], "header_line", at("header_line"))
        if not text.isdigit() or int(text) < 1:
            raise SourcesError(f"line {at('header_line')}: header_line must be 1 or more")
        out["header_line"] = int(text)
    if "decimal" in spec:
        out["decimal"] = _text(spec["decimal"], "decimal", at("decimal"), one_char=True)
        if out["decimal"] not in ".,":
            raise SourcesError(f"line {at('decimal')}: decimal must be . or ,")
    if "thousands" in spec and spec["thousands"] is not None:
        out["thousands"] = _text(spec["thousands"], "thousands", at("thousands"), one_char=True)
        if out["thousands"] not in ".,' \u00a0\u202f" or out["thousands"] == out.get(
            "decimal", "."
        ):
            raise SourcesError(
                f"line {at('thousands')}: thousands must be . , ' or a space, "
                "and not the decimal separator"
            )
    sample = dt.datetime(2024, 1, 31, 13, 45, 30)
    for key in ("date_format", "timestamp_format"):
        if key in spec:
            out[key] = tuple(
                _format(v, key, at(key), sample) for v in _texts(spec[key], key, at(key))
            )
    if "timezone" in spec:
        zone = _text(spec["timezone"], "timezone", at("timezone"))
        try:
            zoneinfo.ZoneInfo(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise SourcesError(
                f"line {at('timezone')}: unknown time zone {zone!r} (e.g. Europe/Berlin, UTC)"
            ) from None
        out["timezone"] = zone
    if "sheet" in spec:
        out["sheet"] = _text(spec["sheet"], "sheet", at("sheet"))
    if "rejected_file_blocks" in spec:
        flag = _text(
            spec["rejected_file_blocks"], "rejected_file_blocks", at("rejected_file_blocks")
        )
        if flag.lower() not in ("true", "false", "yes", "no"):
            raise SourcesError(
                f"line {at('rejected_file_blocks')}: rejected_file_blocks: true or false"
            )
        out["rejected_file_blocks"] = flag.lower() in ("true", "yes")
    targets: dict[str, str] = {}  # contract column -> where it is set

    def claim(column: str, how: str, where: int) -> None:
        if column not in names:
            raise SourcesError(
                f"line {where}: {column!r} is not a column of {entity} "
                f"({', '.join(contract.column_names)})"
            )
        if column in targets:
            raise SourcesError(f"line {where}: {column} is set twice ({targets[column]} and {how})")
        targets[column] = how

    if "columns" in spec:
        mapping = _mapping_of(spec["columns"], "columns", at("columns"))
        pairs = []
        for file_name, column in mapping.items():
            where = mapping.lines[file_name]
            column = _text(column, f"columns: {file_name}", where)
            claim(column, f"column {file_name!r}", where)
            pairs.append((file_name, column))
        out["columns"] = tuple(pairs)
    for key in ("constants", "derived"):
        if key in spec:
            mapping = _mapping_of(spec[key], key, at(key))
            pairs = []
            for column, value in mapping.items():
                where = mapping.lines[column]
                claim(column, key, where)
                value = _text(value, f"{key}: {column}", where)
                if key == "derived":
                    try:
                        fields = [
                            f for _, f, _, _ in string.Formatter().parse(value) if f is not None
                        ]
                    except ValueError as exc:
                        raise SourcesError(f"line {where}: derived {column}: {exc}") from None
                    if not fields or any(not f for f in fields):
                        raise SourcesError(
                            f"line {where}: derived {column} must name the file's columns in "
                            "braces, e.g. '{Datum} {Uhrzeit}'"
                        )
                pairs.append((column, value))
            out[key] = tuple(pairs)
    source = Source(**out)
    facts = {k: v for k, v in asdict(source).items() if k not in ("name", "line", "version")}
    version = hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:12]
    return Source(**out, version=version)


def parse_sources(text: str, path: Path | None = None) -> Sources:
    """Validate the text of a sources.yml; SourcesError names the line of a mistake."""
    where = str(path) if path else "sources.yml"
    try:
        document = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except SourcesError as exc:
        raise SourcesError(f"{where}: {exc}") from None
    except yaml.YAMLError as exc:
        raise SourcesError(f"{where}: not valid YAML: {exc}") from None
    if document is None:
        return Sources(path)
    try:
        document = _mapping_of(document, "the file", 1)
        unknown = [k for k in document if k not in TOP_KEYS]
        if unknown:
            raise SourcesError(
                f"line {document.lines[unknown[0]]}: unknown key {unknown[0]!r} "
                "(expected version: 1 and sources:)"
            )
        if document.get("version", "1") != "1":
            raise SourcesError(f"line {document.lines['version']}: only version 1 exists")
        specs = _mapping_of(document.get("sources") or _Map(), "sources", document.line)
        return Sources(
            path, tuple(_source(name, spec, specs.lines[name]) for name, spec in specs.items())
        )
    except SourcesError as exc:
        raise SourcesError(f"{where}: {exc}") from None


def load_sources(path: Path) -> Sources:
    """The import settings at `path`; none when the file does not exist."""
    if not path.exists():
        return Sources(None)
    return parse_sources(path.read_text(encoding="utf-8"), path)
