"""The loader: inbox files -> the persistent raw store (a DuckDB file).

Each file under ``<inbox>/<entity>/`` is loaded at most once (by content
hash), in one transaction, with set-based SQL only: one scan of the file into a
temporary table of text values, one statement turning those into typed and
checked values, then a handful of ``INSERT ... SELECT`` statements. No Python
loop ever touches a row, so the same code loads a ten-row test file and a
100M-row orders extract.

What a file becomes (the rules of data contract v1):

* rows that pass the contract -> the entity table (append-only history);
* rows that break it (required value missing or unparseable, a line the CSV
  reader cannot split, an invalid JSON line, rows that share a key but
  differ) -> ``quarantine`` with row number, raw row and reason;
* exact repeats within the file (same normalised contract values), and rows
  equal to the current version already loaded for their key -> ``duplicates``;
* optional values that do not parse or are outside their allowed set/range
  -> the row is kept with a null, the problem goes to ``value_issues``;
* a file that cannot be read as a whole -> a 'rejected' ledger row, nothing
  else; the run goes on with the other files;
* a file whose content was loaded or rejected before (under any name) ->
  'skipped', nothing written.

Row numbers (``_row_number`` and ``row_number`` everywhere) are 1-based
*physical line numbers* for CSV (the header is line 1, so the first data row is
line 2; a quoted value spanning lines numbers the record by its first line)
and JSONL (blank lines count), and 1-based row positions for Parquet.

Versions: a row whose key was loaded before but whose values differ is
appended as a new version. Staging picks the current version of a key as the
row with the greatest ``_loaded_at`` (strictly increasing per load, one row
per key per load), e.g.::

    qualify row_number() over (partition by <key> order by _loaded_at desc) = 1
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import dataclasses
import datetime as dt
import gzip
import hashlib
import io
import os
import re
import string
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import duckdb

from crm.config import Settings
from crm.contract import ENTITIES, FILE_SUFFIXES, SYNONYMS, Column, Entity
from crm.faults import fault_point
from crm.rawstore import ensure_raw_store, quote_ident
from crm.rawstore import quote_literal as _lit
from crm.sources import Source, Sources, load_sources

__all__ = [
    "FileRejected",
    "FileResult",
    "LoadIntegrityError",
    "LoadReport",
    "connect_raw_store",
    "discover_inbox",
    "ensure_raw_store",
    "load_inbox",
    "normalise_name",
]

Progress = Callable[[str], None]
T = TypeVar("T")

# Leading/trailing whitespace trimmed from every value, including the no-break
# space that spreadsheet exports like to leave behind. A regex is ~3x faster
# in DuckDB than trim() with an explicit character set.
_TRIM_RE = "'^[\\s\\v\\x{a0}]+|[\\s\\v\\x{a0}]+$'"
# A delimiter that never occurs in text, to read a file as whole lines.
_LINE_DELIM_SQL = "E'\\x1f\\x1e\\x1d'"
_TRUE = ("true", "1", "yes", "y", "t")
_FALSE = ("false", "0", "no", "n", "f")
_MAX_SHOWN = 100  # characters of a raw value quoted in a reason
_CHUNK = 1 << 20

# DuckDB errors that mean "this file cannot be read", as opposed to a bug in
# the loader (binder/catalog errors) or a resource problem (out of memory,
# interrupt) that must not mark the file as rejected forever.
_READ_ERRORS: tuple[type[Exception], ...] = (
    duckdb.InvalidInputException,
    duckdb.IOException,
    duckdb.ConversionException,
    duckdb.NotImplementedException,
    duckdb.SerializationException,
)

# Per-file temporary objects (dropped after every file).
_TEMP_TABLES = (
    "_ld_scan",
    "_ld_rows",
    "_ld_rejl",
    "_ld_rej",
    "_ld_lines",
    "_ld_map",
    "_ld_kmap",
    "_ld_phys",
    "_ld_logical",
    "_ld_keys",
    "_ld_out",
    "_ld_prior",
    "_ld_rejects",
    "_ld_rejects_scan",
)


class FileRejected(Exception):
    """The file as a whole cannot be parsed: recorded as 'rejected', never half-loaded."""


class LoadIntegrityError(RuntimeError):
    """Counts of a file do not reconcile: a loader bug; the file's transaction is rolled back."""


# --------------------------------------------------------------------------
# Results


@dataclass
class FileResult:
    """What happened to one inbox file (or one ignored folder) in this run.

    status: 'loaded' | 'rejected' (whole file unreadable, recorded in the ledger)
    | 'skipped' (same content seen before, nothing written) | 'ignored' (not a
    contract file: unknown entity folder or suffix) | 'failed' (the file could
    not even be read from disk; nothing recorded, retried next run).
    """

    entity: str | None
    file: str
    status: str
    rows_in_file: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_duplicate: int = 0
    n_value_issues: int = 0
    error: str | None = None
    load_id: str | None = None
    content_hash: str | None = None
    file_format: str | None = None
    extra_columns: list[str] = field(default_factory=list)
    note: str | None = None
    seconds: float = 0.0
    blocks_publication: bool = False  # a rejected file that holds back publication

    def summary(self) -> str:
        """One line for logs and progress callbacks."""
        head = f"{self.file}: {self.status}"
        if self.status == "loaded":
            head += (
                f" {self.rows_loaded}/{self.rows_in_file} rows"
                f" (quarantined {self.rows_quarantined}, duplicates {self.rows_duplicate},"
                f" value issues {self.n_value_issues}) in {self.seconds:.2f}s"
            )
        tail = self.error or self.note
        return f"{head}: {tail}" if tail else head


@dataclass
class LoadReport:
    """All file results of one ``load_inbox`` run, with totals."""

    files: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0

    def _count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)

    @property
    def files_loaded(self) -> int:
        return self._count("loaded")

    @property
    def files_rejected(self) -> int:
        return self._count("rejected")

    @property
    def files_skipped(self) -> int:
        return self._count("skipped")

    @property
    def files_ignored(self) -> int:
        return self._count("ignored")

    @property
    def files_failed(self) -> int:
        return self._count("failed")

    def _sum(self, attr: str) -> int:
        return sum(getattr(f, attr) for f in self.files if f.status == "loaded")

    @property
    def rows_in_files(self) -> int:
        return self._sum("rows_in_file")

    @property
    def rows_loaded(self) -> int:
        return self._sum("rows_loaded")

    @property
    def rows_quarantined(self) -> int:
        return self._sum("rows_quarantined")

    @property
    def rows_duplicate(self) -> int:
        return self._sum("rows_duplicate")

    @property
    def n_value_issues(self) -> int:
        return self._sum("n_value_issues")

    def totals(self) -> dict[str, int | float]:
        """Flat totals, e.g. for Dagster metadata."""
        return {
            "files_loaded": self.files_loaded,
            "files_rejected": self.files_rejected,
            "files_skipped": self.files_skipped,
            "files_ignored": self.files_ignored,
            "files_failed": self.files_failed,
            "rows_in_files": self.rows_in_files,
            "rows_loaded": self.rows_loaded,
            "rows_quarantined": self.rows_quarantined,
            "rows_duplicate": self.rows_duplicate,
            "n_value_issues": self.n_value_issues,
            "seconds": round(self.seconds, 3),
        }


# --------------------------------------------------------------------------
# Discovery


@dataclass(frozen=True)
class InboxFile:
    """One candidate found under the inbox; ``problem`` set means it is ignored."""

    entity: str | None
    path: Path
    rel: str  # relative to the inbox, '/' separated: the name used in every table
    fmt: str | None  # FILE_SUFFIXES without the leading dot
    problem: str | None = None
    source: Source | None = None  # the import settings that read it (crm/sources.py)


def _file_format(name: str) -> str | None:
    lower = name.lower()
    for suffix in sorted(FILE_SUFFIXES, key=len, reverse=True):
        if lower.endswith(suffix):
            return suffix[1:]
    return None


def _source_format(source: Source | None, name: str) -> str | None:
    """The format import settings name for a file whatever its suffix (e.g. .txt as CSV)."""
    if source is None or source.format is None:
        return None
    if source.format == "excel":
        return "xlsx"
    gz = ".gz" if name.lower().endswith(".gz") and source.format != "parquet" else ""
    return source.format + gz


def _visible_files(folder: Path) -> Iterator[Path]:
    """Files below ``folder``, skipping hidden names (``.x.csv.part`` while a writer copies)."""
    for path in folder.rglob("*"):
        rel_parts = path.relative_to(folder).parts
        if any(part.startswith(".") for part in rel_parts):
            continue
        if path.is_file():
            yield path


def discover_inbox(inbox: Path, sources: Sources | None = None) -> list[InboxFile]:
    """Every candidate under the inbox in load order: ENTITIES order, then path, each
    with the source of `sources` (import settings) that reads it, if any.

    Ignored items (unknown entity folders, unknown suffixes, files lying
    directly in the inbox) come last, so that they are reported, not loaded.
    """
    if not inbox.is_dir():
        return []
    found: list[InboxFile] = []
    ignored: list[InboxFile] = []
    for entity in ENTITIES:
        folder = inbox / entity
        if not folder.is_dir():
            continue
        for path in sorted(_visible_files(folder), key=lambda p: p.relative_to(inbox).as_posix()):
            rel = path.relative_to(inbox).as_posix()
            source = sources.for_file(entity, rel) if sources else None
            fmt = _source_format(source, path.name) or _file_format(path.name)
            if fmt is None:
                problem = f"unknown file type (expected one of {', '.join(FILE_SUFFIXES)})"
                ignored.append(InboxFile(entity, path, rel, None, problem))
            else:
                found.append(InboxFile(entity, path, rel, fmt, source=source))
    for path in sorted(inbox.iterdir()):
        if path.name.startswith(".") or (path.name in ENTITIES and path.is_dir()):
            continue
        if path.is_dir():
            problem = f"unknown entity folder (expected one of {', '.join(ENTITIES)})"
        else:
            problem = "files belong in a folder named after their entity, e.g. orders/"
        ignored.append(InboxFile(None, path, path.relative_to(inbox).as_posix(), None, problem))
    return found + ignored


# --------------------------------------------------------------------------
# Small helpers


def normalise_name(name: str) -> str:
    """Header/key normalisation: lower case, trimmed, whitespace runs -> '_'."""
    return re.sub(r"\s+", "_", name.strip().lower())


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def connect_raw_store(settings: Settings) -> duckdb.DuckDBPyConnection:
    """Open the raw store read-write with the warehouse's settings and TimeZone UTC.

    The loader's parsing depends on UTC (a timestamp without an offset means
    UTC, data contract), so it is set here explicitly, whatever the default.
    DuckDB lets no writer in while another process holds the file, even
    read-only (an analyst inspecting the quarantine, `crm status`): the load
    waits up to CRM_RAW_LOCK_WAIT seconds (default 120) for such a reader to
    close, then fails with a message that says what holds it.
    """
    settings.raw_store.parent.mkdir(parents=True, exist_ok=True)
    wait = float(os.environ.get("CRM_RAW_LOCK_WAIT", "120"))
    deadline = time.monotonic() + wait
    while True:
        try:
            con = settings.connect(settings.raw_store)
            break
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            if time.monotonic() >= deadline:
                raise RuntimeError(
                    f"the raw store {settings.raw_store} is held by another process "
                    f"(waited {wait:.0f}s): close other connections to it (readers must "
                    f"open the published warehouse, not the raw store). {exc}"
                ) from exc
            time.sleep(0.5)
    try:
        con.execute("SET TimeZone = 'UTC'")
    except BaseException:
        con.close()
        raise
    return con


def _fingerprint(path: Path, count_lines: bool) -> tuple[str, int, int | None]:
    """sha256 of the bytes, size and (optionally) the number of physical lines.

    Counting lines here costs nothing extra (the bytes are read for the hash
    anyway) and lets the CSV path prove that every line is one record.
    """
    digest = hashlib.sha256()
    size = 0
    newlines = 0
    last = b""
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            if count_lines:
                newlines += chunk.count(b"\n")
            last = chunk[-1:]
    lines = None
    if count_lines:
        lines = newlines + (1 if size and last != b"\n" else 0)
    return digest.hexdigest(), size, lines


def _check_gzip(path: Path) -> tuple[int, int]:
    """Decompress a .gz file fully: (uncompressed size, physical lines).

    DuckDB happily reads the readable prefix of a truncated gzip stream
    without an error; a silent half-load is exactly what the contract
    forbids, so the stream is verified here first.
    """
    size = 0
    newlines = 0
    last = b""
    try:
        with gzip.open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                size += len(chunk)
                newlines += chunk.count(b"\n")
                last = chunk[-1:]
    except (OSError, EOFError, zlib.error) as exc:
        raise FileRejected(f"corrupt or truncated gzip file: {exc}") from exc
    return size, newlines + (1 if size and last != b"\n" else 0)


def _read_first_line(path: Path, gz: bool) -> bytes:
    opener = gzip.open if gz else open
    with opener(path, "rb") as fh:
        return fh.readline(_CHUNK)


# --------------------------------------------------------------------------
# SQL for one entity: text values -> typed, checked values


def _kind(col: Column) -> str:
    return {"money": "number", "number": "number"}.get(col.type, col.type)


# A time of day followed by a UTC offset: the value says its zone itself.
_OFFSET_RE = "'[0-9]:[0-9]{2}(:[0-9]{2}([.,][0-9]+)?)?[ ]*(Z|[+-][0-9]{2}(:?[0-9]{2})?)$'"


def _number_text(t: str, source: Source | None, decimals: bool = True) -> str:
    """Text of a number as DuckDB reads it: the source's separators made contract-like."""
    if source is None:
        return t
    if source.thousands:
        t = f"replace({t}, {_lit(source.thousands)}, '')"
    if decimals and source.decimal != ".":
        t = f"replace({t}, {_lit(source.decimal)}, '.')"
    return t


def _formats(formats: tuple[str, ...]) -> str:
    return "[" + ", ".join(_lit(f) for f in formats) + "]"


def _parse_sql(col: Column, t: str, source: Source | None = None) -> str:
    """Expression parsing trimmed text ``t`` into the column's raw type (null = unparseable).

    ``source``: import settings (crm/sources.py) whose number separators, date and
    timestamp formats and time zone apply; None or contract-like = contract v1."""
    if source is not None and source.reads_text_like_the_contract:
        source = None
    if col.type == "timestamp" and source is not None:
        # A value with an offset is honoured as before; the rest is local time of
        # the source's zone, in its formats (a date alone is midnight) or ISO.
        formats = source.timestamp_format + source.date_format
        naive = f"try_cast({t} AS TIMESTAMP)"
        if formats:
            naive = f"coalesce(try_strptime({t}, {_formats(formats)}), {naive})"
        local = f"timezone({_lit(source.timezone)}, {naive})"
        return (
            f"make_timestamp(epoch_us(CASE WHEN regexp_matches({t}, {_OFFSET_RE}) "
            f"THEN try_cast({t} AS TIMESTAMPTZ) ELSE {local} END))"
        )
    if col.type == "date" and source is not None and source.date_format:
        return (
            f"coalesce(try_strptime({t}, {_formats(source.date_format)})::DATE, "
            f"try_cast({t} AS DATE))"
        )
    if col.type in ("money", "number", "integer"):
        t = _number_text(t, source, decimals=col.type != "integer")
    if col.type == "timestamp":
        # Via TIMESTAMPTZ so that an offset is honoured (a plain TIMESTAMP cast
        # drops it), then naive UTC. epoch_us/make_timestamp is exact and ~5x
        # faster than timezone('UTC', ...); 'infinity' becomes null (invalid).
        return f"make_timestamp(epoch_us(try_cast({t} AS TIMESTAMPTZ)))"
    if col.type == "date":
        return f"try_cast({t} AS DATE)"
    if col.type in ("money", "number"):
        return f"try_cast({t} AS {col.raw_type})"
    if col.type == "integer":
        # try_cast('1.5' AS BIGINT) rounds; only whole numbers are integers.
        whole = f"regexp_full_match({t}, '[+-]?[0-9]+(\\.0*)?')"
        return f"CASE WHEN {whole} THEN try_cast({t} AS BIGINT) END"
    if col.type == "boolean":
        return (
            f"CASE WHEN lower({t}) IN ({', '.join(map(_lit, _TRUE))}) THEN true "
            f"WHEN lower({t}) IN ({', '.join(map(_lit, _FALSE))}) THEN false END"
        )
    if col.allowed:
        synonyms = SYNONYMS.get(col.name, {})
        if not synonyms:
            return f"lower({t})"
        whens = " ".join(f"WHEN {_lit(k)} THEN {_lit(v)}" for k, v in sorted(synonyms.items()))
        return f"CASE lower({t}) {whens} ELSE lower({t}) END"
    return t


def _can_have_issue(col: Column) -> bool:
    return col.type != "string" or bool(col.allowed)


def _checks_sql(col: Column, t: str, p: str) -> tuple[str, str]:
    """(value expression, message expression) from trimmed text and parsed value."""
    shown = f"'''' || left({t}, {_MAX_SHOWN}) || ''''"
    failures: list[tuple[str, str]] = []  # (condition that fails, message)
    if col.type != "string":
        failures.append(
            (f"{p} IS NULL", f"{_lit(col.name + ' ')} || {shown} || ' is not a valid {_kind(col)}'")
        )
    if col.allowed:
        allowed = ", ".join(map(_lit, col.allowed))
        failures.append(
            (
                f"{p} NOT IN ({allowed})",
                f"{_lit(col.name + ' ')} || {shown} || "
                f"{_lit(' is not one of: ' + ', '.join(col.allowed))}",
            )
        )
    if col.minimum is not None:
        failures.append(
            (
                f"{p} < {col.minimum}",
                f"{_lit(col.name + ' ')} || {shown} || ' is below the minimum {col.minimum:g}'",
            )
        )
    if col.maximum is not None:
        failures.append(
            (
                f"{p} > {col.maximum}",
                f"{_lit(col.name + ' ')} || {shown} || ' is above the maximum {col.maximum:g}'",
            )
        )
    missing = _lit(f"{col.name} is missing") if col.required else "NULL"
    message = f"CASE WHEN {t} IS NULL THEN {missing} " + " ".join(
        f"WHEN {cond} THEN {msg}" for cond, msg in failures
    )
    message += " END"
    if failures:
        bad = " OR ".join(cond for cond, _ in failures)
        value = f"CASE WHEN {t} IS NOT NULL AND NOT ({bad}) THEN {p} END"
    else:
        value = p
    return value, message


def _key_text_sql(entity: Entity, alias: str) -> str:
    """'order_id=O1' (or 'a=x, b=y'): how keys are shown in reasons and duplicates."""
    parts = [
        f"{_lit(k + '=')} || coalesce({alias}.{quote_ident(k)}::VARCHAR, 'null')"
        for k in entity.key
    ]
    return " || ', ' || ".join(parts)


def _typed_rows_sql(
    entity: Entity,
    source: str,
    columns: dict[str, list[str]],
    extras: list[tuple[str, str]],
    settings: Source | None = None,
) -> str:
    """SELECT turning a source of text values into checked, typed rows.

    ``source`` yields ``k`` (the row's ordinal or number) and the text columns
    that ``columns`` (contract name -> source expressions, coalesced) and
    ``extras`` (normalised name -> source expression) refer to; ``settings``
    are the file's import settings (how numbers, dates and timestamps read). The result
    has ``k``, every contract column typed, ``_reasons`` (why the row is
    quarantined, null if it is fine), ``_issues`` (optional values nulled),
    ``_row_hash`` and ``_extra``. Nested SELECTs name each step (trimmed text,
    parsed value, checked value and message) without repeating expressions.
    """
    trim = lambda e: f"nullif(regexp_replace({e}, {_TRIM_RE}, '', 'g'), '')"  # noqa: E731
    l1 = ["src.*"]
    for col in entity.columns:
        exprs = [trim(e) for e in columns.get(col.name, [])]
        text = (
            exprs[0]
            if len(exprs) == 1
            else (f"coalesce({', '.join(exprs)})" if exprs else "NULL::VARCHAR")
        )
        l1.append(f"{text} AS {quote_ident('t_' + col.name)}")
    for i, (_, expr) in enumerate(extras):
        l1.append(f"{trim(expr)} AS x_{i}")
    l2 = ["*"] + [
        f"{_parse_sql(c, quote_ident('t_' + c.name), settings)} AS {quote_ident('p_' + c.name)}"
        for c in entity.columns
    ]
    l3 = ["*"]
    for c in entity.columns:
        value, message = _checks_sql(c, quote_ident("t_" + c.name), quote_ident("p_" + c.name))
        l3.append(f"{value} AS {quote_ident('v_' + c.name)}")
        l3.append(f"{message} AS {quote_ident('m_' + c.name)}")

    def v(c: Column) -> str:
        return quote_ident("v_" + c.name)

    def m(c: Column) -> str:
        return quote_ident("m_" + c.name)

    reasons = (
        "nullif(concat_ws('; ', " + ", ".join(m(c) for c in entity.columns if c.required) + "), '')"
    )
    optional = [c for c in entity.columns if not c.required and _can_have_issue(c)]
    issue_type = "STRUCT(column_name VARCHAR, raw_value VARCHAR, reason VARCHAR)[]"
    if optional:
        structs = ", ".join(
            f"{{'column_name': {_lit(c.name)}, 'raw_value': {quote_ident('t_' + c.name)}, "
            f"'reason': {m(c)}}}"
            for c in optional
        )
        issues = (
            f"CASE WHEN {' OR '.join(f'{m(c)} IS NOT NULL' for c in optional)} "
            f"THEN list_filter([{structs}], lambda x: x.reason IS NOT NULL) END"
        )
    else:
        issues = f"NULL::{issue_type}"
    # Hash over the non-null normalised values, named: adding an optional
    # column to the contract later does not change the hash of old rows.
    named = ", ".join(f"{_lit(c.name + '=')} || {v(c)}::VARCHAR" for c in entity.columns)
    row_hash = f"md5(concat_ws(chr(31), {named}))"
    if extras:
        xs = [f"x_{i}" for i in range(len(extras))]
        pairs = ", ".join(f"{_lit(n)}, {x}" for (n, _), x in zip(extras, xs, strict=True))
        any_extra = f"coalesce({', '.join(xs)}) IS NOT NULL"
        extra = f"CASE WHEN {any_extra} THEN json_object({pairs})::VARCHAR END"
    else:
        extra = "NULL::VARCHAR"
    # Present but invalid values, per column (the column profile: a column that
    # stops parsing is a retyped source column).
    checked = [c for c in entity.columns if _can_have_issue(c)]
    if checked:
        bad = [f"{quote_ident('t_' + c.name)} IS NOT NULL AND {m(c)} IS NOT NULL" for c in checked]
        items = ", ".join(
            f"CASE WHEN {cond} THEN {{'column_name': {_lit(c.name)}, "
            f"'raw_value': left({quote_ident('t_' + c.name)}, {_MAX_SHOWN})}} END"
            for c, cond in zip(checked, bad, strict=True)
        )
        invalid = (
            f"CASE WHEN {' OR '.join(f'({b})' for b in bad)} "
            f"THEN list_filter([{items}], lambda x: x IS NOT NULL) END"
        )
    else:
        invalid = "NULL::STRUCT(column_name VARCHAR, raw_value VARCHAR)[]"
    l4 = ["k"] + [f"{v(c)} AS {quote_ident(c.name)}" for c in entity.columns]
    l4 += [
        f"{reasons} AS _reasons",
        f"{issues} AS _issues",
        f"{row_hash} AS _row_hash",
        f"{extra} AS _extra",
        f"{invalid} AS _invalid",
    ]
    return (
        f"SELECT {', '.join(l4)} FROM ("
        f"SELECT {', '.join(l3)} FROM ("
        f"SELECT {', '.join(l2)} FROM ("
        f"SELECT {', '.join(l1)} FROM {source} src)))"
    )


# --------------------------------------------------------------------------
# Row numbering


@dataclass
class _Numbering:
    """How a row's ordinal ``k`` in ``_ld_rows`` maps to its row number.

    'offset': rn = k + offset (no gaps). 'asof': one line per record but some
    lines were rejected by the reader: rn = k + offset + (rejected lines
    before it), looked up in ``_ld_map(gb, j)``. 'map': exact per-row map in
    ``_ld_kmap(k, rn)`` (blank lines or multi-line records in a CSV).
    """

    kind: str = "offset"
    offset: int = 0
    shift: int = 0  # lines before the header that the reader did not see (header_line)

    def with_rn(self, subquery: str) -> str:
        """Wrap a subquery having ``k`` so that it also has ``rn``."""
        if self.kind == "asof":
            return (
                f"(SELECT s.*, s.k + {self.offset + self.shift} + coalesce(m.j, 0) AS rn "
                f"FROM ({subquery}) s ASOF LEFT JOIN _ld_map m ON s.k > m.gb)"
            )
        if self.kind == "map":
            return (
                f"(SELECT s.*, m.rn + {self.shift} AS rn FROM ({subquery}) s "
                "LEFT JOIN _ld_kmap m ON m.k = s.k)"
            )
        return f"(SELECT s.*, s.k + {self.offset + self.shift} AS rn FROM ({subquery}) s)"


def _build_asof_map(con: duckdb.DuckDBPyConnection, rejected_lines_sql: str, offset: int) -> None:
    """``_ld_map``: for the j-th rejected line r_j, gb = good records before it.

    Good record k then sits at line k + offset + max{j : gb_j < k}.
    """
    con.execute(
        f"""CREATE TEMP TABLE _ld_map AS
        SELECT gb, max(j) AS j FROM (
            SELECT line - {offset} - row_number() OVER (ORDER BY line) AS gb,
                   row_number() OVER (ORDER BY line) AS j
            FROM ({rejected_lines_sql}))
        GROUP BY gb"""
    )


# --------------------------------------------------------------------------
# Reading one file into _ld_scan (text), _ld_rows (typed) and _ld_rej
# (records the reader could not split)
#
# Every format is first scanned into ``_ld_scan``, a temporary table of text
# values in file order; ``_ld_rows`` is then computed from it. Two passes
# beat one: a window (row_number) over the reader serialises the whole
# transformation, whereas the rowid of a table filled with
# preserve_insertion_order is the file order for free. ``_ld_scan`` also
# gives quarantined rows their raw text back.


@dataclass
class _Staged:
    rows: int  # rows in _ld_rows
    rejected: int  # rows in _ld_rej
    extra_columns: list[str]
    numbering: _Numbering
    raw_source: str  # subquery: k and the raw columns of every scanned row
    raw_expr: str  # the raw row as text, from raw_source's columns
    notes: list[str] = field(default_factory=list)
    in_file: list[str] = field(default_factory=list)  # contract columns the file has


def _scan_error(exc: Exception, fmt: str) -> FileRejected:
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return FileRejected(f"cannot read the file as {fmt}: {message}")


_DATA_LIKE = re.compile(r"@|\d[^\d]?\d[^\d]?\d")  # an e-mail, a phone, a date, an amount


def _found_names(names: list[str], what: str) -> str:
    """The names a header line holds, for a message, unless the line looks like a data
    row: then only how many fields it has, since its values can be personal data
    (an export without its header line) and messages reach logs (crm/privacy.py)."""
    if not names:
        return f"Found no {what}s"
    fields = [part for name in names for part in re.split(r"[;\t|]", name)]
    if any(_DATA_LIKE.search(field) for field in fields):
        return (
            f"The first line has {len(fields)} field(s) and looks like a data row, not a "
            "header (it holds '@' or numbers; not repeated here, as it may be personal "
            "data): does the file lack its header line?"
        )
    return f"Found {what}(s): " + ", ".join(repr(n) for n in names)


def _renamed(names: list[str], source: Source | None) -> list[str]:
    """The file's names as the contract knows them: the source's column mapping applied
    (matched like headers are: case and surrounding spaces do not count)."""
    if source is None or not source.columns:
        return names
    rename = {normalise_name(k): v for k, v in source.columns}
    return [rename.get(normalise_name(n), n) for n in names]


def _provided(source: Source | None, names: list[str], exprs: list[str]) -> dict[str, list[str]]:
    """Contract columns the import settings give rather than the file: constants,
    source_system for a file without it, and columns derived by a template of the
    file's columns (`names`, whose SQL expressions are `exprs`)."""
    if source is None:
        return {}
    have = {normalise_name(n) for n in _renamed(names, source)}
    by_field = {normalise_name(n): e for n, e in zip(names, exprs, strict=True)}
    provided: dict[str, list[str]] = {}
    for column, how in [
        *((c, "constants") for c, _ in source.constants),
        *((c, "derived") for c, _ in source.derived),
    ]:
        if column in have:
            raise FileRejected(
                f"{column} is a column of the file and in the {how} of source "
                f"{source.name!r} (sources.yml line {source.line}): drop one of them"
            )
    for column, value in source.constants:
        provided[column] = [_lit(value)]
    if source.source_system is not None and "source_system" not in have:
        provided["source_system"] = [_lit(source.source_system)]
    for column, template in source.derived:
        parts = []
        for literal, name, _, _ in string.Formatter().parse(template):
            if literal:
                parts.append(_lit(literal))
            if name is not None:
                if normalise_name(name) not in by_field:
                    raise FileRejected(
                        f"{column} is derived from the column {name!r} (source {source.name!r}, "
                        f"sources.yml line {source.line}), which the file lacks"
                    )
                parts.append(by_field[normalise_name(name)])
        provided[column] = [" || ".join(parts)]
    return provided


def _map_header(
    entity: Entity,
    names: list[str],
    what: str,
    provided: dict[str, list[str]] | None = None,
) -> tuple[dict[str, list[str]], list[tuple[str, str]]]:
    """Match normalised header names to contract columns (source columns c0, c1, ...).

    Rejects the file when a required column is missing (and not ``provided`` by
    import settings) or two names collide after normalisation. Returns (contract
    column -> [source expression], [(extra name, source column)]).
    """
    provided = provided or {}
    normalised = [normalise_name(n) or f"column_{i + 1}" for i, n in enumerate(names)]
    seen: dict[str, int] = {}
    for i, name in enumerate(normalised):
        if name in seen:
            shown = "" if _DATA_LIKE.search(name) else f" {name!r}"  # a data row's value?
            raise FileRejected(
                f"duplicate {what}{shown} after normalising names "
                f"(positions {seen[name] + 1} and {i + 1})"
            )
        seen[name] = i
    missing = [c for c in entity.required if c not in seen and c not in provided]
    if missing:
        hint = ""
        if len(names) == 1 and any(d in names[0] for d in ";\t|"):
            hint = (
                " The header is one single column: is the file separated by ';', tab or '|'"
                " instead of ','?"
            )
        raise FileRejected(
            f"required {what}(s) missing: {', '.join(missing)}. {_found_names(names, what)}.{hint}"
        )
    known = set(entity.column_names)
    columns = {name: [f"c{i}"] for name, i in seen.items() if name in known}
    columns.update(provided)
    extras = [(name, f"c{i}") for name, i in seen.items() if name not in known]
    return columns, extras


def _raw_json(names: list[str]) -> str:
    """The raw row of a CSV/Parquet record: a JSON object of its original header names and text."""
    return (
        "json_object(" + ", ".join(f"{_lit(n)}, c{i}" for i, n in enumerate(names)) + ")::VARCHAR"
    )


def _lines_reader(path: Path, extra: str = "") -> str:
    """read_csv returning whole lines: one VARCHAR column, no quoting, an absent delimiter."""
    return (
        f"read_csv({_lit(str(path))}, header=false, auto_detect=false, columns={{'l': 'VARCHAR'}}, "
        f"delim={_LINE_DELIM_SQL}, quote='', escape=''{extra})"
    )


_REJECTS = (
    ", store_rejects=true, ignore_errors=true,"
    " rejects_table='_ld_rejects', rejects_scan='_ld_rejects_scan'"
)

# One row per line the reader rejected (a line can have several errors: the first one is kept).
_REJECTED_LINES_SQL = """
    SELECT line::BIGINT AS line,
           ltrim(min_by(csv_line, byte_position), chr(13) || chr(10)) AS raw_row,
           'unreadable line: ' || min_by(lower(error_type::VARCHAR) || ' (' || error_message || ')',
                                         byte_position) AS reason
    FROM _ld_rejects GROUP BY line"""


def _create_rows(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    con.execute(f"CREATE TEMP TABLE _ld_rows AS {sql}")
    return con.execute("SELECT count(*) FROM _ld_rows").fetchone()[0]


def _utf8_copy(f: InboxFile, source: Source, work_dir: Path) -> tuple[Path, int, int]:
    """A UTF-8 copy of a CSV export in another encoding or with lines before its header,
    for the reader: (path, its physical lines, lines skipped before the header).

    Decoded in chunks (no row loop); a byte the encoding has no character for
    rejects the file. The copy lives in the owner-only temp folder."""
    work_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    target = work_dir / f"load-{os.getpid()}-{f.path.name}.utf8.csv"
    skip = source.header_line - 1
    opener = gzip.open if f.fmt == "csv.gz" else open
    newlines, last = 0, ""
    try:
        with (
            opener(f.path, "rb") as raw,
            open(target, "w", encoding="utf-8", newline="") as out,
        ):
            text = io.TextIOWrapper(raw, encoding=source.encoding, newline="")
            for _ in range(skip):
                if not text.readline():
                    raise FileRejected(
                        f"the file has fewer than {source.header_line} lines: no header at "
                        f"line {source.header_line} (header_line of source {source.name!r})"
                    )
            first = True
            while chunk := text.read(_CHUNK):
                if first:
                    chunk, first = chunk.removeprefix("\ufeff"), False
                out.write(chunk)
                newlines += chunk.count("\n")
                last = chunk[-1:]
    except UnicodeDecodeError as exc:
        target.unlink(missing_ok=True)
        raise FileRejected(
            f"not {source.encoding} text ({exc.reason}, byte {exc.object[exc.start : exc.end]!r}): "
            f"is the encoding of source {source.name!r} (sources.yml line {source.line}) right?"
        ) from None
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    lines = newlines + (1 if last and last != "\n" else 0)
    return target, lines, skip


def _stage_csv(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    f: InboxFile,
    physical_lines: int,
    work_dir: Path | None = None,
) -> _Staged:
    source = f.source
    if source is not None and (
        codecs.lookup(source.encoding).name not in ("utf-8", "utf-8-sig") or source.header_line > 1
    ):
        copy, lines, skip = _utf8_copy(f, source, work_dir or Path(tempfile.gettempdir()))
        try:
            return _stage_csv_text(con, entity, f, copy, False, lines, skip)
        finally:
            copy.unlink(missing_ok=True)
    return _stage_csv_text(con, entity, f, f.path, f.fmt == "csv.gz", physical_lines, 0)


def _stage_csv_text(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    f: InboxFile,
    path: Path,
    gz: bool,
    physical_lines: int,
    skip: int,
) -> _Staged:
    """Stage a UTF-8 CSV file whose first line is the header; `skip` lines that came
    before it in the inbox file are added to every row number."""
    source = f.source
    delim, quote = (source.delimiter, source.quote) if source else (",", '"')
    escape = (source.escape or quote) if source else '"'
    first = _read_first_line(path, gz)
    if not first.strip():
        raise FileRejected("the first line is empty: no header row")
    try:
        header_text = first.decode("utf-8-sig").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise FileRejected(f"the header row is not UTF-8: {exc}") from exc
    names = next(csv.reader([header_text], delimiter=delim, quotechar=quote))
    exprs = [f"c{i}" for i in range(len(names))]
    columns, extras = _map_header(
        entity, _renamed(names, source), "column", _provided(source, names, exprs)
    )
    spec = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(names))) + "}"
    try:
        con.execute(
            f"""CREATE TEMP TABLE _ld_scan AS
            SELECT * FROM read_csv({_lit(str(path))}, header=true, auto_detect=false,
                columns={spec}, delim={_lit(delim)}, quote={_lit(quote)},
                escape={_lit(escape)}{_REJECTS})"""
        )
    except _READ_ERRORS as exc:
        raise _scan_error(exc, "CSV") from exc
    source_sql = "(SELECT rowid + 1 AS k, * FROM _ld_scan)"
    n_rows = _create_rows(con, _typed_rows_sql(entity, source_sql, columns, extras, source))
    con.execute(f"CREATE TEMP TABLE _ld_rejl AS {_REJECTED_LINES_SQL}")
    n_rej = con.execute("SELECT count(*) FROM _ld_rejl").fetchone()[0]
    notes: list[str] = []
    if physical_lines == 1 + n_rows + n_rej:
        # Every line after the header is exactly one record: the reader's
        # line numbers are physical lines and good rows fill the gaps in order.
        numbering = _Numbering("offset", 1)
        if n_rej:
            _build_asof_map(con, "SELECT line FROM _ld_rejl", 1)
            numbering = _Numbering("asof", 1)
        con.execute("CREATE TEMP TABLE _ld_rej AS SELECT line AS rn, raw_row, reason FROM _ld_rejl")
    else:
        numbering = _exact_csv_numbering(con, path, gz, quote, n_rows, n_rej, notes)
    if skip:
        numbering.shift = skip
        con.execute(f"UPDATE _ld_rej SET rn = rn + {skip}")
    return _Staged(
        n_rows,
        n_rej,
        [n for n, _ in extras],
        numbering,
        source_sql,
        _raw_json(names),
        notes,
        in_file=list(columns),
    )


def _physical_lines(con: duckdb.DuckDBPyConnection, path: Path, gz: bool, quote: str) -> None:
    """``_ld_phys(ln, blank, q)``: each physical line of a file, whether it is blank and
    how many quote characters it holds, counted on the bytes (newlines and an ASCII
    quote are the same bytes in UTF-8 and every single-byte encoding), with numpy over
    chunks: no row loop, and no decoding (DuckDB's latin-1 refuses bytes 0x80-0x9F,
    which UTF-8 uses for ß, Ü or the euro sign)."""
    import numpy as np
    import pyarrow as pa

    con.execute("CREATE TEMP TABLE _ld_phys (ln BIGINT, blank BOOLEAN, q BIGINT)")
    quote_byte = quote.encode()[0]

    def insert(first: int, blank, q) -> None:
        chunk = pa.table({"ln": np.arange(first, first + len(q)), "blank": blank, "q": q})
        con.register("_ld_phys_chunk", chunk)
        con.execute("INSERT INTO _ld_phys SELECT * FROM _ld_phys_chunk")
        con.unregister("_ld_phys_chunk")

    opener = gzip.open if gz else open
    next_line, carry = 1, b""
    with opener(path, "rb") as fh:
        while chunk := fh.read(16 * _CHUNK):
            data = np.frombuffer(carry + chunk, dtype=np.uint8)
            ends = np.flatnonzero(data == 10)  # the newline of each complete line
            if not len(ends):
                carry = data.tobytes()
                continue
            starts = np.concatenate(([0], ends[:-1] + 1))
            length = ends - starts
            blank = (length == 0) | (
                (length == 1) & (data[np.minimum(starts, len(data) - 1)] == 13)
            )
            quotes = np.flatnonzero(data[: ends[-1] + 1] == quote_byte)
            bounds = np.searchsorted(quotes, np.concatenate((starts, [ends[-1] + 1])))
            insert(next_line, blank, np.diff(bounds))
            next_line += len(ends)
            carry = data[ends[-1] + 1 :].tobytes()
    if carry:  # a last line without a newline
        blank = carry.rstrip(b"\r") == b""
        insert(next_line, np.array([blank]), np.array([carry.count(quote_byte)]))


def _exact_csv_numbering(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    gz: bool,
    quote: str,
    n_rows: int,
    n_rej: int,
    notes: list[str],
) -> _Numbering:
    """Physical line numbers when some records do not occupy exactly one line.

    Blank lines (skipped by the reader but counted in its line numbers) and
    quoted values spanning lines make the reader's numbering differ from
    physical lines. The file's lines are counted again (`_physical_lines`);
    a line starts a record when the quotes before it are balanced.
    Records are then numbered in order and matched to the reader's output.
    Rare, so a second scan and a window over the lines are affordable.
    """
    _physical_lines(con, path, gz, quote)
    # Logical lines as the CSV reader counts them: header = 1, then every
    # record start or blank line outside quotes.
    con.execute(
        """CREATE TEMP TABLE _ld_logical AS
        SELECT ln, blank, 1 + row_number() OVER (ORDER BY ln) AS logical FROM (
            SELECT ln, blank,
                   coalesce(sum(q) OVER (ORDER BY ln ROWS BETWEEN UNBOUNDED PRECEDING
                                                     AND 1 PRECEDING), 0) AS qb
            FROM _ld_phys WHERE ln >= 2)
        WHERE qb % 2 = 0"""
    )
    con.execute(
        """CREATE TEMP TABLE _ld_kmap AS
        SELECT row_number() OVER (ORDER BY g.ln) AS k, g.ln AS rn
        FROM _ld_logical g ANTI JOIN _ld_rejl r ON r.line = g.logical
        WHERE NOT g.blank"""
    )
    con.execute(
        """CREATE TEMP TABLE _ld_rej AS
        SELECT coalesce(g.ln, r.line) AS rn, r.raw_row, r.reason, g.ln IS NOT NULL AS mapped
        FROM _ld_rejl r LEFT JOIN _ld_logical g ON g.logical = r.line"""
    )
    n_map = con.execute("SELECT count(*) FROM _ld_kmap").fetchone()[0]
    n_mapped = con.execute("SELECT count(*) FROM _ld_rej WHERE mapped").fetchone()[0]
    if n_map == n_rows and n_mapped == n_rej:
        con.execute("ALTER TABLE _ld_rej DROP COLUMN mapped")
        return _Numbering("map", 0)
    # The quote model did not match the reader (e.g. a stray quote inside an
    # unquoted value): fall back to the reader's own logical line numbers.
    notes.append(
        "row numbers are the CSV reader's logical lines (a record spanning several "
        "physical lines counts as one; blank lines are not counted before good rows): "
        "physical lines could not be matched"
    )
    con.execute("DROP TABLE _ld_rej")
    con.execute("DROP TABLE _ld_kmap")
    con.execute("CREATE TEMP TABLE _ld_rej AS SELECT line AS rn, raw_row, reason FROM _ld_rejl")
    if n_rej:
        _build_asof_map(con, "SELECT line FROM _ld_rejl", 1)
        return _Numbering("asof", 1)
    return _Numbering("offset", 1)


def _typed_format(source: Source | None) -> Source | None:
    """Import settings for Parquet and JSON lines: their numbers and dates have types
    (or ISO text), so only the time zone of naive timestamps applies, not the
    separators and formats of text exports."""
    if source is None:
        return None
    return dataclasses.replace(
        source, decimal=".", thousands=None, date_format=(), timestamp_format=()
    )


def _stage_parquet(con: duckdb.DuckDBPyConnection, entity: Entity, f: InboxFile) -> _Staged:
    path = _lit(str(f.path))
    try:
        names = [
            row[0] for row in con.execute(f"DESCRIBE SELECT * FROM read_parquet({path})").fetchall()
        ]
    except _READ_ERRORS as exc:
        raise _scan_error(exc, "Parquet") from exc
    exprs = [f"c{i}" for i in range(len(names))]
    columns, extras = _map_header(
        entity, _renamed(names, f.source), "column", _provided(f.source, names, exprs)
    )
    # Values are cast to text so that one code path checks every format.
    casts = ", ".join(f"CAST({quote_ident(n)} AS VARCHAR) AS c{i}" for i, n in enumerate(names))
    try:
        con.execute(
            f"""CREATE TEMP TABLE _ld_scan AS
            SELECT file_row_number + 1 AS k, {casts}
            FROM read_parquet({path}, file_row_number=true)"""
        )
    except _READ_ERRORS as exc:
        raise _scan_error(exc, "Parquet") from exc
    n_rows = _create_rows(
        con, _typed_rows_sql(entity, "_ld_scan", columns, extras, _typed_format(f.source))
    )
    con.execute("CREATE TEMP TABLE _ld_rej (rn BIGINT, raw_row VARCHAR, reason VARCHAR)")
    return _Staged(
        n_rows,
        0,
        [n for n, _ in extras],
        _Numbering("offset", 0),
        "_ld_scan",
        _raw_json(names),
        in_file=list(columns),
    )


def _excel_text(name: str, arrow_type, decimal: str) -> str:
    """SQL turning one typed Excel column into text as a CSV of the same source would
    hold it: numbers with the source's decimal separator (whole numbers without one, so
    ids stay ids), dates and timestamps in ISO (which the date formats fall back to)."""
    import pyarrow as pa

    column = quote_ident(name)
    if pa.types.is_floating(arrow_type) or pa.types.is_integer(arrow_type):
        whole = f"{column} = trunc({column}) AND abs({column}) < 1e15"
        return (
            f"CASE WHEN {whole} THEN CAST(CAST({column} AS BIGINT) AS VARCHAR) "
            f"ELSE replace(CAST({column} AS VARCHAR), '.', {_lit(decimal)}) END"
        )
    if pa.types.is_null(arrow_type):
        return "NULL::VARCHAR"
    return f"CAST({column} AS VARCHAR)"


def _stage_excel(con: duckdb.DuckDBPyConnection, entity: Entity, f: InboxFile) -> _Staged:
    """An Excel workbook (.xlsx): the first sheet or the one the import settings name,
    its header on `header_line`. Read by fastexcel (Rust) straight into Arrow, typed
    per column; then text as in a CSV export, and the CSV path's checks. Row numbers
    are the sheet's; empty rows are not records (as blank lines in a CSV)."""
    import fastexcel

    source = f.source
    header_line = source.header_line if source else 1
    try:
        reader = fastexcel.read_excel(str(f.path))
        sheet_names = reader.sheet_names
        sheet: str | int = 0
        if source is not None and source.sheet is not None:
            sheet = int(source.sheet) - 1 if source.sheet.isdigit() else source.sheet
            if isinstance(sheet, str) and sheet not in sheet_names:
                raise FileRejected(
                    f"no sheet {sheet!r} (sheets: {', '.join(sheet_names)}; sheet of source "
                    f"{source.name!r}, sources.yml line {source.line})"
                )
        # a column of mixed cells (numbers and text) comes as text
        batch = reader.load_sheet(sheet, header_row=header_line - 1).to_arrow()
    except FileRejected:
        raise
    except Exception as exc:  # noqa: BLE001 - fastexcel's errors: the file cannot be read
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise FileRejected(f"cannot read the file as Excel: {message}") from exc
    import numpy as np
    import pyarrow as pa

    table = pa.Table.from_batches([batch])
    names = [str(n) for n in table.schema.names]
    if not names:
        raise FileRejected(f"no header at row {header_line}: the sheet is empty there")
    decimal = source.decimal if source else "."
    texts = ", ".join(
        f"{_excel_text(n, t, decimal)} AS c{i}"
        for i, (n, t) in enumerate(zip(names, table.schema.types, strict=True))
    )
    # k: the row's place under the header, numbered before any row is dropped
    table = table.append_column("_ld_k", pa.array(np.arange(1, table.num_rows + 1)))
    con.register("_ld_excel", table)
    try:
        con.execute(
            f"""CREATE TEMP TABLE _ld_scan AS
            SELECT * FROM (SELECT _ld_k AS k, {texts} FROM _ld_excel)
            WHERE coalesce({", ".join(f"c{i}" for i in range(len(names)))}) IS NOT NULL
            ORDER BY k"""
        )
    finally:
        con.unregister("_ld_excel")
    exprs = [f"c{i}" for i in range(len(names))]
    columns, extras = _map_header(
        entity, _renamed(names, source), "column", _provided(source, names, exprs)
    )
    n_rows = _create_rows(con, _typed_rows_sql(entity, "_ld_scan", columns, extras, source))
    con.execute("CREATE TEMP TABLE _ld_rej (rn BIGINT, raw_row VARCHAR, reason VARCHAR)")
    return _Staged(
        n_rows,
        0,
        [n for n, _ in extras],
        _Numbering("offset", header_line),
        "_ld_scan",
        _raw_json(names),
        in_file=list(columns),
    )


def _json_path(key: str) -> str:
    return _lit('$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"')


def _stage_jsonl(con: duckdb.DuckDBPyConnection, entity: Entity, f: InboxFile) -> _Staged:
    """JSONL, read as lines and parsed line by line (set-based).

    DuckDB's read_json with ignore_errors mangles the lines after a broken
    one, so the file is read as text lines (invalid UTF-8 lines are rejected
    by the reader with their line number) and each line is parsed on its own.
    Blank lines count for the line numbers but are not records.
    """
    try:
        con.execute(
            f"CREATE TEMP TABLE _ld_lines AS SELECT l FROM {_lines_reader(f.path, _REJECTS)}"
        )
    except _READ_ERRORS as exc:
        raise _scan_error(exc, "JSON lines") from exc
    con.execute(f"CREATE TEMP TABLE _ld_rejl AS {_REJECTED_LINES_SQL}")
    numbering = _Numbering("offset", 0)
    if con.execute("SELECT count(*) FROM _ld_rejl").fetchone()[0]:
        _build_asof_map(con, "SELECT line FROM _ld_rejl", 0)
        numbering = _Numbering("asof", 0)
    lines = numbering.with_rn("SELECT rowid + 1 AS k, l FROM _ld_lines")
    con.execute(
        f"""CREATE TEMP TABLE _ld_scan AS
        SELECT rn AS k, l,
               CASE WHEN NOT json_valid(l) THEN 'invalid JSON'
                    WHEN json_type(l) <> 'OBJECT'
                    THEN 'not a JSON object but ' || lower(json_type(l)) END AS bad
        FROM {lines} WHERE nullif(regexp_replace(l, {_TRIM_RE}, '', 'g'), '') IS NOT NULL"""
    )
    con.execute(
        """CREATE TEMP TABLE _ld_rej AS
        SELECT line AS rn, raw_row, reason FROM _ld_rejl
        UNION ALL SELECT k, l, bad FROM _ld_scan WHERE bad IS NOT NULL"""
    )
    con.execute("DROP TABLE _ld_lines")
    n_rej = con.execute("SELECT count(*) FROM _ld_rej").fetchone()[0]
    n_good = con.execute("SELECT count(*) FROM _ld_scan WHERE bad IS NULL").fetchone()[0]
    if n_good == 0:
        if n_rej == 0:
            raise FileRejected("empty file: no JSON lines")
        first = con.execute("SELECT min(rn) FROM _ld_rej").fetchone()[0]
        raise FileRejected(f"no line is a valid JSON object (first bad line: {first})")
    keys = [
        row[0]
        for row in con.execute(
            "SELECT DISTINCT unnest(json_keys(l)) AS key FROM _ld_scan "
            "WHERE bad IS NULL ORDER BY key"
        ).fetchall()
    ]
    # Several raw keys may normalise to one name ("Order ID", "order_id"):
    # coalesce them rather than reject a file that is fine line by line.
    by_name: dict[str, list[str]] = {}
    for i, key in enumerate(_renamed(keys, f.source)):
        by_name.setdefault(normalise_name(key) or f"column_{i + 1}", []).append(f"_a[{i + 1}]")
    provided = _provided(f.source, keys, [f"_a[{i + 1}]" for i in range(len(keys))])
    missing = [c for c in entity.required if c not in by_name and c not in provided]
    if missing:
        raise FileRejected(
            f"required field(s) missing: {', '.join(missing)} appear in no line. "
            f"{_found_names(keys, 'field')}."
        )
    known = set(entity.column_names)
    paths = "[" + ", ".join(_json_path(k) for k in keys) + "]"
    source = f"(SELECT k, json_extract_string(l, {paths}) AS _a FROM _ld_scan WHERE bad IS NULL)"
    columns = {name: exprs for name, exprs in by_name.items() if name in known}
    columns.update(provided)
    extras = [
        (name, f"coalesce({', '.join(exprs)})" if len(exprs) > 1 else exprs[0])
        for name, exprs in by_name.items()
        if name not in known
    ]
    n_rows = _create_rows(
        con, _typed_rows_sql(entity, source, columns, extras, _typed_format(f.source))
    )
    return _Staged(
        n_rows,
        n_rej,
        [n for n, _ in extras],
        _Numbering("offset", 0),
        "_ld_scan",
        "l",
        in_file=list(columns),
    )


# --------------------------------------------------------------------------
# Writing one staged file (inside the file's transaction)


@dataclass
class _Counts:
    loaded: int
    quarantined: int
    duplicate: int
    issues: int


def _classify(con: duckdb.DuckDBPyConnection, entity: Entity) -> None:
    """``_ld_out``: every row that is not loaded, with why (set-based, by ordinal k).

    Precedence: contract violations, then key conflicts within the file, then
    exact repeats within the file (the first occurrence is kept), then rows
    equal to the current version of their key in the raw table.
    """
    keys = ", ".join(quote_ident(k) for k in entity.key)
    on = " AND ".join(f"r.{quote_ident(k)} = g.{quote_ident(k)}" for k in entity.key)
    con.execute(
        f"""CREATE TEMP TABLE _ld_keys AS
        SELECT {keys}, count(*) AS n, min(_row_hash) <> max(_row_hash) AS conflict,
               min(k) AS first_k
        FROM _ld_rows WHERE _reasons IS NULL GROUP BY {keys} HAVING count(*) > 1"""
    )
    con.execute(
        f"""CREATE TEMP TABLE _ld_out AS
        SELECT k, 'quarantine' AS kind, _reasons AS reason, NULL::BIGINT AS first_k,
               NULL::VARCHAR AS prior_file, NULL::VARCHAR AS prior_load
        FROM _ld_rows WHERE _reasons IS NOT NULL
        UNION ALL
        SELECT r.k,
               CASE WHEN g.conflict THEN 'quarantine' ELSE 'duplicate' END,
               CASE WHEN g.conflict THEN 'key conflict: ' || g.n || ' rows share '
                    || {_key_text_sql(entity, "g")} || ' with different values' END,
               CASE WHEN NOT g.conflict THEN g.first_k END, NULL, NULL
        FROM _ld_rows r JOIN _ld_keys g ON {on}
        WHERE r._reasons IS NULL AND (g.conflict OR r.k <> g.first_k)"""
    )
    table = f"main.{quote_ident(entity.name)}"
    if con.execute(f"SELECT count(*) FROM (SELECT 1 FROM {table} LIMIT 1)").fetchone()[0]:
        on_t = " AND ".join(f"c.{quote_ident(k)} = t.{quote_ident(k)}" for k in entity.key)
        # A row equal to the *current* version of its key is a repeat of an
        # overlapping extract; one equal to an older version only is a
        # change back, loaded as a new version so staging shows it.
        con.execute(
            f"""CREATE TEMP TABLE _ld_prior AS
            SELECT c.k, 'duplicate' AS kind, NULL::VARCHAR AS reason, NULL::BIGINT AS first_k,
                   max_by(t._file_name, t._loaded_at) AS prior_file,
                   max_by(t._load_id, t._loaded_at) AS prior_load
            FROM (SELECT r.k, {", ".join("r." + quote_ident(k) for k in entity.key)}, r._row_hash
                  FROM _ld_rows r ANTI JOIN _ld_out o ON o.k = r.k WHERE r._reasons IS NULL) c
            JOIN {table} t ON {on_t}
            GROUP BY c.k, c._row_hash
            HAVING max_by(t._row_hash, t._loaded_at) = c._row_hash"""
        )
        con.execute("INSERT INTO _ld_out SELECT * FROM _ld_prior")


def _sql_value(value: object) -> str:
    """A Python value as a SQL literal.

    The loader inlines its few per-file values instead of binding parameters:
    DuckDB's Python client imports pandas (~1 s) on the first bound parameter.
    """
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.datetime):
        return f"TIMESTAMP '{value.isoformat(sep=' ')}'"
    if isinstance(value, list):
        return "[" + ", ".join(_sql_value(v) for v in value) + "]::VARCHAR[]"
    return _lit(str(value))


def _bind(sql: str, params: dict[str, object]) -> str:
    """Replace ``$name`` placeholders by literals, in one pass (a value may contain '$')."""
    return re.sub(
        r"\$(\w+)",
        lambda m: _sql_value(params[m[1]]) if m[1] in params else m[0],
        sql,
    )


def _run_count(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, object]) -> int:
    """Execute an INSERT ... SELECT with ``$name`` placeholders; return the rows inserted."""
    return con.execute(_bind(sql, params)).fetchone()[0]


def _insert_rows(
    con: duckdb.DuckDBPyConnection, entity: Entity, numbering: _Numbering, params: dict[str, object]
) -> int:
    cols = [quote_ident(c) for c in entity.column_names]
    lineage = ["_load_id", "_file_name", "_row_number", "_row_hash", "_extra", "_loaded_at"]
    good = numbering.with_rn(
        "SELECT r.* EXCLUDE (_reasons, _issues, _invalid) FROM _ld_rows r "
        "ANTI JOIN _ld_out o ON o.k = r.k WHERE r._reasons IS NULL"
    )
    return _run_count(
        con,
        f"""INSERT INTO main.{quote_ident(entity.name)} ({", ".join(cols + lineage)})
        SELECT {", ".join(cols)}, $load_id, $file_name, rn, _row_hash, _extra, $loaded_at
        FROM {good}""",
        params,
    )


def _insert_quarantine(
    con: duckdb.DuckDBPyConnection, staged: _Staged, params: dict[str, object]
) -> int:
    bad = staged.numbering.with_rn(
        f"SELECT o.k, {staged.raw_expr} AS raw_row, o.reason "
        f"FROM _ld_out o JOIN {staged.raw_source} src ON src.k = o.k WHERE o.kind = 'quarantine'"
    )
    return _run_count(
        con,
        f"""INSERT INTO main.quarantine
        SELECT $load_id, $entity, $file_name, rn, raw_row, reason FROM (
            SELECT rn, raw_row, reason FROM _ld_rej
            UNION ALL SELECT rn, raw_row, reason FROM {bad}) ORDER BY rn""",
        params,
    )


def _insert_duplicates(
    con: duckdb.DuckDBPyConnection, entity: Entity, numbering: _Numbering, params: dict[str, object]
) -> int:
    dups = numbering.with_rn(
        "SELECT o.k, o.first_k, o.prior_file, o.prior_load, "
        f"{_key_text_sql(entity, 'r')} AS row_key "
        "FROM _ld_out o JOIN _ld_rows r ON r.k = o.k WHERE o.kind = 'duplicate'"
    )
    firsts = numbering.with_rn(
        "SELECT DISTINCT first_k AS k FROM _ld_out WHERE kind = 'duplicate' AND first_k IS NOT NULL"
    )
    return _run_count(
        con,
        f"""INSERT INTO main.duplicates
        SELECT $load_id, $entity, $file_name, d.rn, d.row_key,
               CASE WHEN d.first_k IS NOT NULL
                    THEN 'exact repeat of row ' || f.rn || ' in this file'
                    ELSE 'already loaded from ' || d.prior_file
                         || ' (load ' || d.prior_load || ')' END
        FROM {dups} d LEFT JOIN {firsts} f ON f.k = d.first_k
        ORDER BY d.rn""",
        params,
    )


def _insert_value_issues(
    con: duckdb.DuckDBPyConnection, numbering: _Numbering, params: dict[str, object]
) -> int:
    issues = numbering.with_rn(
        "SELECT r.k, unnest(r._issues) AS issue FROM _ld_rows r "
        "ANTI JOIN _ld_out o ON o.k = r.k WHERE r._issues IS NOT NULL AND r._reasons IS NULL"
    )
    return _run_count(
        con,
        f"""INSERT INTO main.value_issues
        SELECT $load_id, $entity, $file_name, rn, struct_extract(issue, 'column_name'),
               struct_extract(issue, 'raw_value'), struct_extract(issue, 'reason')
        FROM {issues} ORDER BY rn, struct_extract(issue, 'column_name')""",
        params,
    )


def _insert_column_profile(
    con: duckdb.DuckDBPyConnection, entity: Entity, staged: _Staged, params: dict[str, object]
) -> None:
    """One row per contract column: in the file's header, values present, values invalid.

    The quality gate compares it with earlier files: a column the entity's files
    always carried and this one lacks was renamed or dropped; one whose values
    mostly stop parsing was retyped.
    """
    counts = ", ".join(f"count({quote_ident(c.name)})" for c in entity.columns)
    valid = con.execute(f"SELECT {counts} FROM _ld_rows").fetchone()
    invalid = {
        name: (n, example)
        for name, n, example in con.execute(
            "SELECT i.column_name, count(*), min(i.raw_value) FROM "
            "(SELECT unnest(_invalid) AS i FROM _ld_rows WHERE _invalid IS NOT NULL) "
            "GROUP BY ALL"
        ).fetchall()
    }
    rows = []
    for col, n_valid in zip(entity.columns, valid, strict=True):
        n_invalid, example = invalid.get(col.name, (0, None))
        rows.append(
            (
                params["load_id"],
                entity.name,
                params["file_name"],
                col.name,
                col.name in staged.in_file,
                n_valid + n_invalid,
                n_invalid,
                example,
            )
        )
    con.executemany("INSERT INTO main.column_profile VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)


def _insert_ledger(con: duckdb.DuckDBPyConnection, row: dict[str, object]) -> None:
    """Write the file's ledger row (the last statement of its transaction)."""
    values = ", ".join(_sql_value(v) for v in row.values())
    con.execute(f"INSERT INTO main.load_ledger ({', '.join(row)}) VALUES ({values})")


def _write_staged(
    con: duckdb.DuckDBPyConnection, entity: Entity, staged: _Staged, params: dict[str, object]
) -> _Counts:
    _classify(con, entity)
    quarantined = _insert_quarantine(con, staged, params)
    # The raw text was only needed for quarantined rows: free it before the big insert.
    con.execute("DROP TABLE IF EXISTS temp._ld_scan")
    loaded = _insert_rows(con, entity, staged.numbering, params)
    duplicate = _insert_duplicates(con, entity, staged.numbering, params)
    issues = _insert_value_issues(con, staged.numbering, params)
    _insert_column_profile(con, entity, staged, params)
    rows_in_file = staged.rows + staged.rejected
    if loaded + quarantined + duplicate != rows_in_file:
        raise LoadIntegrityError(
            f"{params['file_name']}: rows in file {rows_in_file} != loaded {loaded} + "
            f"quarantined {quarantined} + duplicates {duplicate}"
        )
    return _Counts(loaded, quarantined, duplicate, issues)


# --------------------------------------------------------------------------
# One file


def _drop_temp(con: duckdb.DuckDBPyConnection) -> None:
    for name in _TEMP_TABLES:
        con.execute(f"DROP TABLE IF EXISTS temp.{name}")


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    """Roll back without masking the error that got us here."""
    with contextlib.suppress(duckdb.Error):
        con.execute("ROLLBACK")


def _next_load_time(con: duckdb.DuckDBPyConnection) -> dt.datetime:
    """Now (UTC), but strictly after every earlier load, so _loaded_at orders versions."""
    now = _utc_now()
    last = con.execute("SELECT max(started_at) FROM main.load_ledger").fetchone()[0]
    if last is not None and now <= last:
        now = last + dt.timedelta(microseconds=1)
    return now


def _stage(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    f: InboxFile,
    lines: int | None,
    work_dir: Path | None = None,
) -> _Staged:
    if f.fmt in ("csv", "csv.gz"):
        assert lines is not None
        return _stage_csv(con, entity, f, lines, work_dir)
    if f.fmt == "parquet":
        return _stage_parquet(con, entity, f)
    if f.fmt == "xlsx":
        return _stage_excel(con, entity, f)
    return _stage_jsonl(con, entity, f)


def _ledger_row(
    f: InboxFile, digest: str, size: int, mtime_ns: int, started: dt.datetime
) -> dict[str, object]:
    """A ledger row as first written: 'loaded' with zero counts, completed later.

    The load id reads as the load time plus the content hash prefix: sortable
    like ``_loaded_at`` and unique per load.
    """
    return {
        "load_id": f"L{started:%Y%m%dT%H%M%S%f}-{digest[:8]}",
        "entity": f.entity,
        "file_name": f.rel,
        "content_hash": digest,
        "file_size": size,
        "file_mtime_ns": mtime_ns,
        "file_format": f.fmt,
        "status": "loaded",
        "rows_in_file": None,
        "rows_loaded": 0,
        "rows_quarantined": 0,
        "rows_duplicate": 0,
        "n_value_issues": 0,
        "extra_columns": None,
        "error": None,
        "notes": None,
        "import_settings": f.source.label if f.source else None,
        "blocks_publication": None,
        "started_at": started,
        "finished_at": None,
    }


def _in_transaction(con: duckdb.DuckDBPyConnection, work: Callable[[], T]) -> T:
    """Run ``work`` in one transaction: everything it wrote is committed, or nothing."""
    con.execute("BEGIN TRANSACTION")
    try:
        outcome = work()
        con.execute("COMMIT")
    except BaseException:
        _rollback(con)
        raise
    return outcome


def _read_file(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    f: InboxFile,
    size: int,
    lines: int | None,
    work_dir: Path | None = None,
) -> _Staged:
    """Stage a file into temporary tables; FileRejected if it cannot be read as a whole."""
    if f.fmt is not None and f.fmt.endswith(".gz"):
        _, lines = _check_gzip(f.path)
    if size == 0:
        raise FileRejected("empty file (0 bytes)")
    return _stage(con, entity, f, lines, work_dir)


def _write_file(
    con: duckdb.DuckDBPyConnection, entity: Entity, staged: _Staged, ledger: dict[str, object]
) -> _Counts:
    """All writes of a loaded file; the ledger row goes last (called inside the transaction)."""
    params: dict[str, object] = {
        "load_id": ledger["load_id"],
        "entity": entity.name,
        "file_name": ledger["file_name"],
        "loaded_at": ledger["started_at"],
    }
    counts = _write_staged(con, entity, staged, params)
    ledger.update(
        rows_in_file=staged.rows + staged.rejected,
        rows_loaded=counts.loaded,
        rows_quarantined=counts.quarantined,
        rows_duplicate=counts.duplicate,
        n_value_issues=counts.issues,
        extra_columns=staged.extra_columns or None,
        notes="; ".join(staged.notes) or None,
        finished_at=_utc_now(),
    )
    fault_point("load:before_ledger")
    _insert_ledger(con, ledger)
    return counts


def _proposal_hint(entity: Entity, f: InboxFile) -> str:
    """For a text export without import settings: the settings that would read it
    (crm/sniff.py), so that the rejection says how to load it. Never fails a load."""
    if f.source is not None or f.fmt not in ("csv", "csv.gz"):
        return ""
    try:
        from crm.sniff import propose

        proposal = propose(entity, f.path, f.rel)
    except Exception:  # noqa: BLE001 - a hint, never a reason to fail the load
        return ""
    if proposal.looks_like_data or not (proposal.settings or proposal.columns):
        return ""
    return (
        f" Import settings would read it: {proposal.summary()} (`crm inbox check "
        f"{f.rel}` prints them for sources.yml)."
    )


def _settled(status: str, settings_then: str | None, f: InboxFile) -> bool:
    """Whether an earlier outcome for this content stands: a load always does; a
    rejection only while the same import settings (or none) would read the file."""
    return status != "rejected" or settings_then == (f.source.label if f.source else None)


def _load_file(
    con: duckdb.DuckDBPyConnection,
    f: InboxFile,
    work_dir: Path | None = None,
    rejected_blocks: bool = False,
) -> FileResult:
    """Load one file in one transaction; see the module docstring for the rules."""
    t0 = time.perf_counter()
    assert f.entity is not None and f.fmt is not None
    entity = ENTITIES[f.entity]
    result = FileResult(entity=f.entity, file=f.rel, status="failed", file_format=f.fmt)
    try:
        stat = f.path.stat()
        seen = con.execute(
            "SELECT load_id, status, content_hash, import_settings FROM main.load_ledger "
            f"WHERE entity = {_lit(f.entity)} AND file_name = {_lit(f.rel)} "
            f"AND file_size = {stat.st_size} AND file_mtime_ns = {stat.st_mtime_ns} "
            "ORDER BY status = 'loaded' DESC, started_at DESC LIMIT 1"
        ).fetchone()
        if seen is not None and _settled(seen[1], seen[3], f):
            # Inbox files are immutable: same name, size and mtime is the same
            # file. Skipping the hash keeps refreshes cheap as the inbox grows.
            result.status = "skipped"
            result.load_id, result.content_hash = seen[0], seen[2]
            result.note = f"unchanged since load {seen[0]} ({seen[1]})"
            result.seconds = time.perf_counter() - t0
            return result
        digest, size, lines = _fingerprint(f.path, count_lines=f.fmt == "csv")
    except OSError as exc:
        result.error = f"cannot read the file: {exc}"
        return result
    result.content_hash = digest
    prior = con.execute(
        "SELECT load_id, file_name, status, error, import_settings FROM main.load_ledger "
        f"WHERE entity = {_lit(f.entity)} AND content_hash = {_lit(digest)} "
        "ORDER BY status = 'loaded' DESC, started_at DESC LIMIT 1"
    ).fetchone()
    if prior is not None and _settled(prior[2], prior[4], f):
        # Loaded, or rejected under the same import settings: immutable content is
        # never loaded (or retried) again. New settings give a rejected file a new try.
        result.status = "skipped"
        result.load_id = prior[0]
        result.note = f"same content already {prior[2]} as {prior[1]} (load {prior[0]})"
        if prior[3]:
            result.note += f": {prior[3]}"
        result.seconds = time.perf_counter() - t0
        return result

    started = _next_load_time(con)
    ledger = _ledger_row(f, digest, size, stat.st_mtime_ns, started)
    result.load_id = str(ledger["load_id"])
    _drop_temp(con)
    try:
        try:
            staged = _read_file(con, entity, f, size, lines, work_dir)
        except FileRejected as exc:
            _drop_temp(con)
            exc = FileRejected(str(exc) + _proposal_hint(entity, f))
            if f.source is not None and f.source.rejected_file_blocks is not None:
                rejected_blocks = f.source.rejected_file_blocks
            ledger.update(
                status="rejected",
                error=str(exc),
                blocks_publication=rejected_blocks,
                finished_at=_utc_now(),
            )
            _in_transaction(con, lambda: _insert_ledger(con, ledger))
            result.status = "rejected"
            result.error = str(exc)
            result.blocks_publication = rejected_blocks
            result.seconds = time.perf_counter() - t0
            return result
        counts = _in_transaction(con, lambda: _write_file(con, entity, staged, ledger))
    finally:
        _drop_temp(con)
    result.status = "loaded"
    result.rows_in_file = staged.rows + staged.rejected
    result.rows_loaded = counts.loaded
    result.rows_quarantined = counts.quarantined
    result.rows_duplicate = counts.duplicate
    result.n_value_issues = counts.issues
    result.extra_columns = staged.extra_columns
    result.note = "; ".join(staged.notes) or None
    result.seconds = time.perf_counter() - t0
    return result


# --------------------------------------------------------------------------
# A preview: what a file would load, without loading it


@dataclass
class Preview:
    """How one file would load (`crm inbox check`): nothing is written anywhere."""

    status: str  # 'loads' | 'rejected'
    error: str | None = None
    rows_in_file: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_duplicate: int = 0
    n_value_issues: int = 0
    extra_columns: list[str] = field(default_factory=list)
    reasons: list[tuple[int | None, str]] = field(default_factory=list)  # (row, reason)
    head: object = None  # a pandas DataFrame of the first rows as they would load


def preview_file(f: InboxFile, work_dir: Path, limit: int = 10) -> Preview:
    """Stage `f` in a private in-memory DuckDB exactly as the loader would (same code),
    then count what would be loaded, quarantined and repeated, and keep the first
    rows and reasons. Repeats of rows already in the raw store are not known here."""
    assert f.entity is not None and f.fmt is not None
    entity = ENTITIES[f.entity]
    con = duckdb.connect(config={"threads": "1"})
    try:
        con.execute("SET TimeZone = 'UTC'")
        ensure_raw_store(con)
        try:
            _, size, lines = _fingerprint(f.path, count_lines=f.fmt == "csv")
            staged = _read_file(con, entity, f, size, lines, work_dir)
        except FileRejected as exc:
            return Preview("rejected", str(exc))
        _classify(con, entity)
        kinds = dict(con.execute("SELECT kind, count(*) FROM _ld_out GROUP BY kind").fetchall())
        issues = con.execute(
            "SELECT coalesce(sum(len(_issues)), 0) FROM _ld_rows WHERE _issues IS NOT NULL"
        ).fetchone()[0]
        numbered = staged.numbering.with_rn("SELECT k FROM _ld_rows")
        reasons = con.execute(
            f"""SELECT rn, reason FROM (
                    SELECT n.rn, o.reason FROM _ld_out o JOIN {numbered} n USING (k)
                    WHERE o.kind = 'quarantine'
                    UNION ALL SELECT rn, reason FROM _ld_rej)
                ORDER BY rn NULLS LAST LIMIT {int(limit)}"""
        ).fetchall()
        columns = ", ".join(quote_ident(c) for c in entity.column_names)
        head = con.execute(
            f"SELECT {columns} FROM _ld_rows WHERE k NOT IN (SELECT k FROM _ld_out) "
            f"ORDER BY k LIMIT {int(limit)}"
        ).df()
    finally:
        con.close()
    quarantined = kinds.get("quarantine", 0) + staged.rejected
    duplicate = kinds.get("duplicate", 0)
    return Preview(
        "loads",
        rows_in_file=staged.rows + staged.rejected,
        rows_loaded=staged.rows + staged.rejected - quarantined - duplicate,
        rows_quarantined=quarantined,
        rows_duplicate=duplicate,
        n_value_issues=int(issues),
        extra_columns=staged.extra_columns,
        reasons=reasons,
        head=head,
    )


# --------------------------------------------------------------------------
# Entry point


def load_inbox(settings: Settings, progress: Progress | None = None) -> LoadReport:
    """Load every new inbox file into the raw store; return what happened to each.

    Opens the raw store itself and closes it before returning (dbt opens the
    file next). A file that cannot be parsed is rejected and the run goes
    on; an unexpected error (a loader bug, out of memory) rolls back the
    current file and is raised: files loaded before it stay loaded.
    """
    t0 = time.perf_counter()
    report = LoadReport()
    say = progress or (lambda _msg: None)
    candidates = discover_inbox(settings.inbox, load_sources(settings.sources_path))
    for stale in settings.temp_dir.glob("load-*.utf8.csv"):  # a killed load's copies
        stale.unlink(missing_ok=True)
    con = connect_raw_store(settings)
    try:
        ensure_raw_store(con)
        for f in candidates:
            if f.problem is not None:
                result = FileResult(entity=f.entity, file=f.rel, status="ignored", error=f.problem)
            else:
                say(f"loading {f.rel}")
                result = _load_file(con, f, settings.temp_dir, settings.rejected_file_blocks)
            report.files.append(result)
            say(result.summary())
            if result.status == "loaded":
                fault_point("load:after_file")
        con.execute("CHECKPOINT")
    finally:
        con.close()
    report.seconds = time.perf_counter() - t0
    return report
