"""Streaming file writers for the inbox formats, and the bad-row injector.

Each inbox file is one ``Sink``: chunks are appended as they are generated
(Parquet row groups, CSV/JSONL lines), so memory stays bounded by the chunk.
Files are written under a hidden ``.<name>.partial`` name and renamed when
complete, so a loader watching the inbox never sees half a file.
Text formats are rendered with Arrow compute kernels, never per row in Python.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from crm.contract import ENTITIES, Entity

from . import _arrow as A
from ._context import Context

EXTENSIONS = {
    "csv": ".csv",
    "csv.gz": ".csv.gz",
    "parquet": ".parquet",
    "jsonl": ".jsonl",
    "jsonl.gz": ".jsonl.gz",
}
ARROW_TYPES = {
    "string": pa.string(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "date": pa.date32(),
    "money": pa.decimal128(18, 2),
    "number": pa.int64(),  # the only "number" column is quantity: whole units
    "integer": pa.int64(),
    "boolean": pa.bool_(),
}
RAW_JSON_TYPES = {"money", "number", "integer", "boolean"}  # written unquoted in JSONL
TEXT_SLICE = 250_000  # rows rendered at once (keeps string buffers far below 2 GiB)
# Timestamp spellings in text files: UTC with Z, local with offset, no zone (= UTC),
# no zone with a space instead of the T.
TS_STYLES = [40, 30, 20, 10]

# Contract-breaking rows injected per entity: (kind, column, weight). Parquet
# columns are typed, so only missing values and duplicates fit there.
INJECT_TEXT = {
    "orders": [
        ("missing_required", "order_id", 0.10),
        ("missing_required", "ordered_at", 0.10),
        ("missing_required", "order_total", 0.10),
        ("bad_timestamp", "ordered_at", 0.25),
        ("bad_number", "order_total", 0.25),
        ("exact_duplicate", None, 0.20),
    ],
    "contacts": [
        ("missing_required", "source_contact_id", 0.30),
        ("missing_required", "source_system", 0.10),
        ("bad_optional", "birth_date", 0.15),
        ("bad_optional", "created_at", 0.15),
        ("exact_duplicate", None, 0.30),
    ],
}
INJECT_PARQUET = {
    "orders": [
        ("missing_required", "order_id", 0.20),
        ("missing_required", "ordered_at", 0.20),
        ("missing_required", "order_total", 0.20),
        ("exact_duplicate", None, 0.40),
    ],
    "contacts": [
        ("missing_required", "source_contact_id", 0.45),
        ("missing_required", "source_system", 0.15),
        ("exact_duplicate", None, 0.40),
    ],
}
BAD_VALUES = {
    "bad_timestamp": ["2024-13-45T99:00", "31.12.2024 25:61", "not a date", "2024-02-30T10:00:00Z"],
    "bad_number": ["12,34.5x", "EUR 12..5", "n/a", "1.2.3"],
    ("bad_optional", "birth_date"): ["1956-13-45", "1987-02-30", "19xx-05-01"],
    ("bad_optional", "created_at"): ["2024-13-45T99:00", "yesterday", "2023-06-31 10:00"],
}
EXPECTED = {
    "missing_required": "quarantine",
    "bad_timestamp": "quarantine",
    "bad_number": "quarantine",
    "exact_duplicate": "duplicate",
    "bad_optional": "loaded",
}
INJECTED_SCHEMA = pa.schema(
    [
        ("entity", pa.string()),
        ("file", pa.string()),  # relative to the inbox, "/" separated
        (
            "row_number",
            pa.int64(),
        ),  # CSV: physical line (header = 1); JSONL: line; Parquet: row, 1-based
        (
            "kind",
            pa.string(),
        ),  # missing_required | bad_timestamp | bad_number | bad_optional | exact_duplicate
        ("column", pa.string()),  # the broken column (null for duplicates)
        ("value", pa.string()),  # the value written (null when blanked or duplicated)
        (
            "key",
            pa.string(),
        ),  # the row's key as generated: order_id, or source_system|source_contact_id
        (
            "expected",
            pa.string(),
        ),  # quarantine | duplicate | loaded (value nulled, problem recorded)
    ]
)


def arrow_schema(entity: Entity) -> pa.Schema:
    return pa.schema([(c.name, ARROW_TYPES[c.type]) for c in entity.columns])


class InjectedLog:
    """``<truth>/injected.parquet``: one row per injected bad or repeated row."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.writer = pq.ParquetWriter(path, INJECTED_SCHEMA)
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        if table.num_rows:
            self.writer.write_table(table.cast(INJECTED_SCHEMA))
            self.rows += table.num_rows

    def close(self) -> None:
        """Close, then rewrite sorted by file and row so the order does not depend on chunking."""
        self.writer.close()
        table = pq.read_table(self.path)
        ordered = table.sort_by([("file", "ascending"), ("row_number", "ascending")])
        pq.write_table(ordered, self.path)


class Sink:
    """One inbox file, written chunk by chunk."""

    def __init__(
        self,
        ctx: Context,
        inbox: Path,
        entity: str,
        name: str,
        fmt: str,
        bad_row_rate: float = 0.0,
        injected: InjectedLog | None = None,
        bad_optional_values: bool = False,
    ) -> None:
        self.ctx = ctx
        self.entity = ENTITIES[entity]
        self.fmt = fmt
        self.rel = f"{entity}/{name}{EXTENSIONS[fmt]}"
        self.path = inbox / entity / f"{name}{EXTENSIONS[fmt]}"
        self.partial = inbox / entity / f".{name}{EXTENSIONS[fmt]}.partial"
        self.schema = arrow_schema(self.entity)
        self.text = fmt != "parquet"
        kinds = (INJECT_TEXT if self.text else INJECT_PARQUET).get(entity, [])
        if not bad_optional_values:  # not contract-breaking: only on request
            kinds = [k for k in kinds if k[0] != "bad_optional"]
        self.inject_kinds = kinds if bad_row_rate > 0 and kinds else None
        self.bad_row_rate = bad_row_rate
        self.injected = injected
        self.rows_in = 0  # generated rows received (keys the per-row draws)
        self.rows_out = 0  # data rows written (including injected duplicates)
        self.partial.parent.mkdir(parents=True, exist_ok=True)
        self._raw: BinaryIO | None = None
        self._out: BinaryIO | None = None
        self._parquet: pq.ParquetWriter | None = None
        if self.text:
            self._raw = open(self.partial, "wb")  # noqa: SIM115 (closed in close())
            self._out = (
                gzip.GzipFile(filename="", mode="wb", fileobj=self._raw, mtime=0, compresslevel=6)
                if fmt.endswith(".gz")
                else self._raw
            )
            if fmt.startswith("csv"):
                self._out.write((",".join(self.schema.names) + "\n").encode())
        else:
            self._parquet = pq.ParquetWriter(self.partial, self.schema, compression="snappy")

    # -- public -------------------------------------------------------------
    def write(self, table: pa.Table) -> None:
        n = table.num_rows
        if n == 0:
            return
        table = table.select(self.schema.names).cast(self.schema)
        row_ids = self.rows_in + np.arange(n, dtype=np.int64)
        if self.text:
            cols = self._render(table, row_ids)
        else:
            cols = {name: table.column(name).combine_chunks() for name in self.schema.names}
        quote: dict[str, np.ndarray] = {}
        if self.inject_kinds:
            cols, quote = self._inject(cols, row_ids)
        m = len(next(iter(cols.values())))
        if self.text:
            self._write_text(cols, quote, m)
        else:
            self._parquet.write_table(pa.table(cols, schema=self.schema))
        self.rows_in += n
        self.rows_out += m

    def close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
        if self._out is not None:
            self._out.close()
        if self._raw is not None and not self._raw.closed:
            self._raw.close()
        os.replace(self.partial, self.path)

    def abort(self) -> None:
        """Best-effort clean-up after a failure: no partial file stays in the inbox."""
        for handle in (self._parquet, self._out, self._raw):
            if handle is not None:
                with contextlib.suppress(Exception):
                    handle.close()
        self.partial.unlink(missing_ok=True)

    # -- rendering ----------------------------------------------------------
    def _render(self, table: pa.Table, row_ids: np.ndarray) -> dict[str, pa.Array]:
        """Every column as text in the contract's spelling."""
        out = {}
        for col in self.entity.columns:
            arr = table.column(col.name).combine_chunks()
            if col.type == "string":
                out[col.name] = arr
            elif col.type == "timestamp":
                out[col.name] = self._timestamps(arr, row_ids, col.name)
            else:  # dates, decimals, integers and booleans print as the contract wants
                out[col.name] = arr.cast(pa.string())
        return out

    def _timestamps(self, arr: pa.Array, row_ids: np.ndarray, column: str) -> pa.Array:
        """A realistic mix: 2024-03-01T10:00:00Z, 2024-03-01T11:00:00+01:00, no zone (UTC)."""
        valid = arr.is_valid().to_numpy(zero_copy_only=False)
        secs = arr.cast(pa.int64()).fill_null(0).to_numpy() // 1_000_000
        style = self.ctx.rng.choice(f"ts.{self.rel}.{column}", row_ids, TS_STYLES)
        month = (secs // 86_400).astype("datetime64[D]").astype("datetime64[M]").astype(
            np.int64
        ) % 12 + 1
        summer = (month >= 4) & (month <= 10)  # close enough to CEST for a spelling
        base = pa.array(secs, pa.timestamp("s")).cast(pa.string())
        iso = pc.utf8_replace_slice(base, 10, 11, "T")
        local = pc.utf8_replace_slice(
            pa.array(secs + np.where(summer, 7_200, 3_600), pa.timestamp("s")).cast(pa.string()),
            10,
            11,
            "T",
        )
        local = A.join(local, pc.if_else(pa.array(summer), "+02:00", "+01:00"))
        text = A.pick(style, [A.join(iso, "Z"), local, iso, base])
        return A.null_where(text, ~valid)

    def _write_text(self, cols: dict[str, pa.Array], quote: dict[str, np.ndarray], m: int) -> None:
        names = self.schema.names
        types = {c.name: c.type for c in self.entity.columns}
        csv = self.fmt.startswith("csv")
        for lo in range(0, m, TEXT_SLICE):
            hi = min(lo + TEXT_SLICE, m)
            parts = []
            for name in names:
                arr = cols[name].slice(lo, hi - lo)
                forced = quote.get(name)
                forced = forced[lo:hi] if forced is not None else None
                if csv:
                    if types[name] == "string" or forced is not None:
                        arr = _csv_field(arr)
                    parts.append(arr)
                else:
                    raw = types[name] in RAW_JSON_TYPES
                    value = arr if raw else _json_string(arr)
                    if raw and forced is not None and forced.any():
                        value = A.where(forced, _json_string(arr), value)
                    parts.append(A.join(f'"{name}":', value))
            if csv:
                line = pc.binary_join_element_wise(
                    *parts, ",", null_handling="replace", null_replacement=""
                )
                line = A.join(line, "\n")
            else:
                line = pc.binary_join_element_wise(*parts, ",", null_handling="skip")
                line = A.join("{", line, "}\n")
            _write_utf8(self._out, line)

    # -- bad rows -----------------------------------------------------------
    def _inject(
        self, cols: dict[str, pa.Array], row_ids: np.ndarray
    ) -> tuple[dict[str, pa.Array], dict]:
        rng = self.ctx.rng
        n = len(row_ids)
        hit = rng.uniform(f"inject.{self.rel}", row_ids) < self.bad_row_rate
        if not hit.any():
            return cols, {}
        kinds = self.inject_kinds
        choice = rng.choice(f"inject.{self.rel}.kind", row_ids, [k[2] for k in kinds])
        pick_u = rng.uniform(f"inject.{self.rel}.value", row_ids)
        key = _key_text(self.entity.name, cols)
        quote: dict[str, np.ndarray] = {}
        log_idx, log_kind, log_col, log_val, log_exp = [], [], [], [], []
        dup = np.zeros(n, dtype=bool)
        for k_idx, (kind, column, _) in enumerate(kinds):
            mask = hit & (choice == k_idx)
            idx = np.flatnonzero(mask)
            if len(idx) == 0:
                continue
            if kind == "exact_duplicate":
                dup |= mask
                values = pa.nulls(len(idx), pa.string())
            elif kind == "missing_required":
                cols[column] = A.null_where(cols[column], mask)
                values = pa.nulls(len(idx), pa.string())
            else:
                options = pa.array(BAD_VALUES.get(kind) or BAD_VALUES[(kind, column)], pa.string())
                values = options.take(np.floor(pick_u[idx] * len(options)).astype(np.int64))
                cols[column] = A.replace_at(cols[column], mask, values)
                quote[column] = quote.get(column, np.zeros(n, bool)) | mask
            log_idx.append(idx)
            log_kind.append(np.full(len(idx), kind, dtype=object))
            log_col.append(np.full(len(idx), column, dtype=object))
            log_val.append(values)
            log_exp.append(np.full(len(idx), EXPECTED[kind], dtype=object))

        # Repeats go right after their original: source row i moves down by
        # the number of repeats before it.
        dup_idx = np.flatnonzero(dup)
        position = np.arange(n) + np.searchsorted(dup_idx, np.arange(n), side="left")
        if len(dup_idx):
            order = np.argsort(np.concatenate([2 * np.arange(n), 2 * dup_idx + 1]), kind="stable")
            take = np.concatenate([np.arange(n), dup_idx])[order]
            cols = {name: arr.take(take) for name, arr in cols.items()}
            quote = {name: np.concatenate([q, q[dup_idx]])[order] for name, q in quote.items()}

        idx = np.concatenate(log_idx)
        kind_arr = np.concatenate(log_kind)
        phys = position[idx] + np.where(kind_arr == "exact_duplicate", 1, 0)
        first_line = 2 if self.fmt.startswith("csv") else 1  # CSV header is line 1
        row_number = self.rows_out + phys + first_line
        order = np.argsort(row_number, kind="stable")
        log = pa.table(
            {
                "entity": pa.array(np.full(len(idx), self.entity.name, dtype=object), pa.string()),
                "file": pa.array(np.full(len(idx), self.rel, dtype=object), pa.string()),
                "row_number": pa.array(row_number),
                "kind": pa.array(kind_arr, pa.string()),
                "column": pa.array(np.concatenate(log_col), pa.string()),
                "value": pa.concat_arrays(log_val),
                "key": key.take(idx),
                "expected": pa.array(np.concatenate(log_exp), pa.string()),
            }
        ).take(order)
        if self.injected is not None:
            self.injected.write(log)
        return cols, quote


def _key_text(entity: str, cols: dict[str, pa.Array]) -> pa.Array:
    if entity == "orders":
        return cols["order_id"]
    return A.join(cols["source_system"], "|", cols["source_contact_id"])


def _csv_field(arr: pa.Array) -> pa.Array:
    """RFC 4180 quoting where needed (comma, quote, line break, outer spaces)."""
    needs = pc.match_substring_regex(arr, r'[",\r\n]|^\s|\s$')
    if not pc.any(needs).as_py():
        return arr
    quoted = A.join('"', pc.replace_substring(arr, '"', '""'), '"')
    return pc.if_else(needs, quoted, arr)


def _json_string(arr: pa.Array) -> pa.Array:
    escaped = pc.replace_substring(pc.replace_substring(arr, "\\", "\\\\"), '"', '\\"')
    return A.join('"', escaped, '"')


def _write_utf8(out: BinaryIO | io.BufferedIOBase, arr: pa.Array) -> None:
    """Write the bytes of a null-free string array back to back (its data buffer)."""
    if arr.null_count:
        raise ValueError("rendered lines must not be null")
    large = pa.types.is_large_string(arr.type)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64 if large else np.int32)
    offsets = offsets[arr.offset : arr.offset + len(arr) + 1]
    data = arr.buffers()[2]
    if data is None or len(arr) == 0:
        return
    out.write(memoryview(data)[int(offsets[0]) : int(offsets[-1])])
