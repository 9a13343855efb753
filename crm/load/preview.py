"""A preview of one file (`crm inbox check`): staged by the loader's own code in a
private in-memory DuckDB, then counted (loaded, quarantined, repeated) with its first
rows and reasons; nothing is written anywhere."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from crm.contract import ENTITIES
from crm.load.discovery import InboxFile
from crm.load.fingerprint import fingerprint_file
from crm.load.readers import stage_file
from crm.load.results import FileRejected
from crm.load.write import classify_rows
from crm.rawstore import ensure_raw_store, quote_ident


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
            _, size, lines = fingerprint_file(f.path, count_lines=f.fmt == "csv")
            staged = stage_file(con, entity, f, size, lines, work_dir)
        except FileRejected as exc:
            return Preview("rejected", str(exc))
        classify_rows(con, entity)
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
