"""Row numbering: how the ordinal ``k`` of a staged row maps to the row number that
the loader records (a physical line number for CSV and JSON lines, a position for
Parquet, a sheet row for Excel), when the reader skipped blank or rejected lines or a
record spans several lines."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb


@dataclass
class RowNumbering:
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


def build_asof_map(con: duckdb.DuckDBPyConnection, rejected_lines_sql: str, offset: int) -> None:
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
