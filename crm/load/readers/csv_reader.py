"""Staging a CSV file (plain or gzip): the header mapped to the contract, the records
read as text by DuckDB's CSV reader (lines it cannot split are kept as rejected
lines), then typed and checked. A file in another encoding, or with lines before its
header, is read from a UTF-8 copy. Row numbers are physical lines: when records do not
each take exactly one line (blank lines, quoted values spanning lines), the file's
lines are counted again to number them exactly."""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import os
import tempfile
from pathlib import Path

import duckdb

from crm.contract import Entity
from crm.load.discovery import InboxFile
from crm.load.fingerprint import CHUNK_SIZE, read_first_line
from crm.load.numbering import RowNumbering, build_asof_map
from crm.load.readers.headers import map_file_columns
from crm.load.readers.staged import (
    READ_ERRORS,
    REJECTED_LINES_SQL,
    STORE_REJECTS_OPTIONS,
    StagedFile,
    create_typed_rows,
    raw_row_json_sql,
    scan_failure,
)
from crm.load.results import FileRejected
from crm.load.values import typed_rows_sql
from crm.rawstore import quote_literal
from crm.sources import Source


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
            while chunk := text.read(CHUNK_SIZE):
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


def stage_csv(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    f: InboxFile,
    physical_lines: int,
    work_dir: Path | None = None,
) -> StagedFile:
    """Stage a CSV file (plain or .gz) of `physical_lines` lines; one in another encoding
    or with lines before its header is read from a UTF-8 copy in `work_dir`."""
    source = f.source
    if source is not None and (
        codecs.lookup(source.encoding).name not in ("utf-8", "utf-8-sig") or source.header_line > 1
    ):
        copy, lines, skip = _utf8_copy(f, source, work_dir or Path(tempfile.gettempdir()))
        try:
            return _stage_utf8_csv(con, entity, f, copy, False, lines, skip)
        finally:
            copy.unlink(missing_ok=True)
    return _stage_utf8_csv(con, entity, f, f.path, f.fmt == "csv.gz", physical_lines, 0)


def _stage_utf8_csv(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    f: InboxFile,
    path: Path,
    gz: bool,
    physical_lines: int,
    skip: int,
) -> StagedFile:
    """Stage a UTF-8 CSV file whose first line is the header; `skip` lines that came
    before it in the inbox file are added to every row number."""
    source = f.source
    delim, quote = (source.delimiter, source.quote) if source else (",", '"')
    escape = (source.escape or quote) if source else '"'
    first = read_first_line(path, gz)
    if not first.strip():
        raise FileRejected("the first line is empty: no header row")
    try:
        header_text = first.decode("utf-8-sig").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise FileRejected(f"the header row is not UTF-8: {exc}") from exc
    names = next(csv.reader([header_text], delimiter=delim, quotechar=quote))
    columns, extras = map_file_columns(entity, names, source)
    spec = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(names))) + "}"
    try:
        con.execute(
            f"""CREATE TEMP TABLE _ld_scan AS
            SELECT * FROM read_csv({quote_literal(str(path))}, header=true, auto_detect=false,
                columns={spec}, delim={quote_literal(delim)}, quote={quote_literal(quote)},
                escape={quote_literal(escape)}{STORE_REJECTS_OPTIONS})"""
        )
    except READ_ERRORS as exc:
        raise scan_failure(exc, "CSV") from exc
    source_sql = "(SELECT rowid + 1 AS k, * FROM _ld_scan)"
    n_rows = create_typed_rows(con, typed_rows_sql(entity, source_sql, columns, extras, source))
    con.execute(f"CREATE TEMP TABLE _ld_rejl AS {REJECTED_LINES_SQL}")
    n_rej = con.execute("SELECT count(*) FROM _ld_rejl").fetchone()[0]
    notes: list[str] = []
    if physical_lines == 1 + n_rows + n_rej:
        # Every line after the header is exactly one record: the reader's
        # line numbers are physical lines and good rows fill the gaps in order.
        numbering = RowNumbering("offset", 1)
        if n_rej:
            build_asof_map(con, "SELECT line FROM _ld_rejl", 1)
            numbering = RowNumbering("asof", 1)
        con.execute("CREATE TEMP TABLE _ld_rej AS SELECT line AS rn, raw_row, reason FROM _ld_rejl")
    else:
        numbering = _physical_line_numbering(con, path, gz, quote, n_rows, n_rej, notes)
    if skip:
        numbering.shift = skip
        con.execute(f"UPDATE _ld_rej SET rn = rn + {skip}")
    return StagedFile(
        n_rows,
        n_rej,
        [n for n, _ in extras],
        numbering,
        source_sql,
        raw_row_json_sql(names),
        notes,
        in_file=list(columns),
    )


def _scan_physical_lines(con: duckdb.DuckDBPyConnection, path: Path, gz: bool, quote: str) -> None:
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
        while chunk := fh.read(16 * CHUNK_SIZE):
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


def _physical_line_numbering(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    gz: bool,
    quote: str,
    n_rows: int,
    n_rej: int,
    notes: list[str],
) -> RowNumbering:
    """Physical line numbers when some records do not occupy exactly one line.

    Blank lines (skipped by the reader but counted in its line numbers) and
    quoted values spanning lines make the reader's numbering differ from
    physical lines. The file's lines are counted again (`_scan_physical_lines`);
    a line starts a record when the quotes before it are balanced.
    Records are then numbered in order and matched to the reader's output.
    Rare, so a second scan and a window over the lines are affordable.
    """
    _scan_physical_lines(con, path, gz, quote)
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
        return RowNumbering("map", 0)
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
        build_asof_map(con, "SELECT line FROM _ld_rejl", 1)
        return RowNumbering("asof", 1)
    return RowNumbering("offset", 1)
