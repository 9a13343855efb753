"""An auditor's walk through the files a warehouse leaves (issue 18): which of them hold
a loaded e-mail, phone, name or street, and who may read those.

Bytes are searched as they are; gzip is opened; Parquet and DuckDB files are read as
tables (DuckDB and Parquet compress strings, so their bytes can hide a value).
"""

from __future__ import annotations

import gzip
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

# What the auditor looks for, from the raw store (as loaded) and the restricted
# output (as normalised): whole values, so that a common word is not a finding.
PII_FROM_RAW = """
select distinct v from (
    select unnest([email, phone, address_line1, first_name || ' ' || last_name]) as v
    from raw.contacts
) where length(v) >= 8
"""
PII_FROM_RESTRICTED = """
select distinct v from (
    select unnest([email_normalized, phone_normalized]) as v
    from intermediate.int_contacts_normalized
) where length(v) >= 8
"""


def personal_values(raw_store: Path, restricted: Path) -> list[str]:
    con = duckdb.connect()
    try:
        con.execute(f"attach '{raw_store}' as raw (read_only)")
        values = {v for (v,) in con.execute(PII_FROM_RAW).fetchall()}
        if restricted.exists():
            con.execute(f"attach '{restricted}' as restricted (read_only)")
            con.execute("use restricted")
            values |= {v for (v,) in con.execute(PII_FROM_RESTRICTED).fetchall()}
    finally:
        con.close()
    return sorted(values)


@dataclass
class Finding:
    path: Path
    mode: int
    hits: list[str]


@dataclass
class Audit:
    findings: list[Finding] = field(default_factory=list)
    unreadable: list[Path] = field(default_factory=list)  # e.g. encrypted DuckDB files
    scanned: int = 0

    def holding(self) -> list[Path]:
        return [f.path for f in self.findings]

    def readable_by_others(self) -> list[Finding]:
        """Files with personal data that group or others can open (the file's own mode)."""
        return [f for f in self.findings if f.mode & 0o077]


def _table_hits(con: duckdb.DuckDBPyConnection, values: list[str]) -> list[str]:
    """The personal values found in any text column of the attached database `db`."""
    columns = con.execute(
        "select c.schema_name, c.table_name, c.column_name from duckdb_columns() c "
        "join duckdb_tables() t using (database_name, schema_name, table_name) "
        "where c.database_name = 'db' and c.data_type = 'VARCHAR'"  # views show tables
    ).fetchall()
    hits: set[str] = set()
    for schema, table, column in columns:
        rows = con.execute(
            f'select distinct v.v from db."{schema}"."{table}" t join pii v on t."{column}" = v.v'
        ).fetchall()
        hits |= {v for (v,) in rows}
    return sorted(hits)


def _parquet_hits(con: duckdb.DuckDBPyConnection, path: Path) -> list[str]:
    names = [r[0] for r in con.execute(f"describe select * from read_parquet('{path}')").fetchall()]
    hits: set[str] = set()
    for name in names:
        rows = con.execute(
            f"select distinct v.v from read_parquet('{path}') t "
            f'join pii v on cast(t."{name}" as varchar) = v.v'
        ).fetchall()
        hits |= {v for (v,) in rows}
    return sorted(hits)


def _byte_hits(data: bytes, values: list[str]) -> list[str]:
    return [v for v in values if v.encode() in data]


def audit(roots: list[Path], values: list[str]) -> Audit:
    """Search every file under `roots` for `values`."""
    result = Audit()
    con = duckdb.connect()
    con.execute("create table pii (v varchar)")
    con.executemany("insert into pii values (?)", [[v] for v in values])
    try:
        for root in roots:
            for dirpath, _dirs, files in os.walk(root):
                for name in files:
                    path = Path(dirpath) / name
                    info = path.lstat()
                    if not stat.S_ISREG(info.st_mode):
                        continue
                    result.scanned += 1
                    head = path.read_bytes()[:16]
                    if head[8:12] == b"DUCK":
                        try:
                            con.execute(f"attach '{path}' as db (read_only)")
                        except duckdb.Error:
                            result.unreadable.append(path)
                            hits = _byte_hits(path.read_bytes(), values)
                        else:
                            try:
                                hits = _table_hits(con, values)
                            finally:
                                con.execute("detach db")
                    elif head[:4] == b"PAR1":
                        hits = _parquet_hits(con, path)
                    elif head[:2] == b"\x1f\x8b":
                        hits = _byte_hits(gzip.decompress(path.read_bytes()), values)
                    else:
                        hits = _byte_hits(path.read_bytes(), values)
                    if hits:
                        result.findings.append(Finding(path, stat.S_IMODE(info.st_mode), hits))
    finally:
        con.close()
    return result
