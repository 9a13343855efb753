"""`crm metrics`: the governed CRM metrics (dbt's semantic layer, MetricFlow) queried
against the published warehouse, offline and read-only.

The metrics and the semantic models they stand on are YAML beside the marts
(models/semantic/); dbt validates them at parse and writes the semantic manifest.
MetricFlow compiles a request (metrics, group-bys, filters) into SQL, which runs
here on a DuckDB connection that attaches the published warehouse READ_ONLY under
the database name the manifest's SQL uses (dbt names it after the build file). No
dbt run, no write lock, no network: `mf`'s own command checks PyPI for updates on
every call, this path does not.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = Path(os.environ.get("CRM_DBT_PROJECT_DIR", PACKAGE_DIR.parent))
SEMANTIC_MANIFEST = "semantic_manifest.json"
TIME_GRAINS = ("week", "month", "quarter", "year")


class MetricsError(RuntimeError):
    """A request that cannot be answered (no warehouse, unknown metric, bad group-by):
    the message says why."""


def semantic_manifest_path(settings) -> Path:
    """The semantic manifest of the project's parse (the metrics as the code defines
    them), else that of the last refresh's dbt run."""
    for path in (
        PROJECT_DIR / "target" / SEMANTIC_MANIFEST,
        settings.dbt_target_dir / SEMANTIC_MANIFEST,
    ):
        if path.exists():
            return path
    raise MetricsError(
        "no semantic manifest: run `make install` (it parses the dbt project) or `crm refresh`"
    )


class ReadOnlyDuckDB:
    """MetricFlow's SqlClient over the published warehouse, attached READ_ONLY as
    ``catalog`` in an in-memory database (the SQL names tables catalog.schema.table)."""

    def __init__(self, warehouse: Path, catalog: str) -> None:
        from metricflow.protocols.sql_client import SqlEngine
        from metricflow.sql.render.duckdb_renderer import DuckDbSqlPlanRenderer

        self.con = duckdb.connect(":memory:")
        literal = str(warehouse).replace("'", "''")
        ident = catalog.replace('"', '""')
        self.con.execute(f"attach '{literal}' as \"{ident}\" (read_only)")
        self.con.execute("set TimeZone = 'UTC'")
        self.sql_engine_type = SqlEngine.DUCKDB
        self.sql_plan_renderer = DuckDbSqlPlanRenderer()

    def query(self, stmt: str, sql_bind_parameter_set=None):
        from metricflow.data_table.mf_table import MetricFlowDataTable

        cursor = self.con.execute(stmt)
        names = [d[0] for d in cursor.description]
        return MetricFlowDataTable.create_from_rows(column_names=names, rows=cursor.fetchall())

    def execute(self, stmt: str, sql_bind_parameter_set=None) -> None:
        self.con.execute(stmt)

    def dry_run(self, stmt: str, sql_bind_parameter_set=None) -> None:
        self.con.execute(f"explain {stmt}")

    def close(self) -> None:
        self.con.close()

    def render_bind_parameter_key(self, key: str) -> str:
        return f"${key}"


@dataclass
class Answer:
    """A query's result and the SQL that produced it."""

    columns: list[str]
    rows: list[tuple]
    sql: str

    def to_pandas(self):
        import pandas as pd

        return pd.DataFrame(self.rows, columns=self.columns)


class Metrics:
    """The semantic layer over one published warehouse; close() when done."""

    def __init__(self, warehouse: Path, manifest_path: Path) -> None:
        from metricflow.engine.metricflow_engine import MetricFlowEngine
        from metricflow_semantics.model.dbt_manifest_parser import (
            parse_manifest_from_dbt_generated_manifest,
        )
        from metricflow_semantics.model.semantic_manifest_lookup import SemanticManifestLookup

        warehouse = Path(warehouse)
        if not warehouse.exists():
            raise MetricsError(f"no published warehouse at {warehouse}: run `crm refresh` first")
        raw = manifest_path.read_text(encoding="utf-8")
        catalogs = {
            model["node_relation"]["database"]
            for model in json.loads(raw).get("semantic_models", [])
        }
        if len(catalogs) != 1:
            raise MetricsError(f"{manifest_path}: expected one database name, found {catalogs}")
        self.manifest = parse_manifest_from_dbt_generated_manifest(raw)
        self.client = ReadOnlyDuckDB(warehouse, catalogs.pop())
        self.engine = MetricFlowEngine(
            semantic_manifest_lookup=SemanticManifestLookup(self.manifest),
            sql_client=self.client,
        )

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Metrics:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def list(self) -> list[dict[str, Any]]:
        """Each metric: name, label, type, description, and the group-bys it takes."""
        out = []
        for metric in sorted(self.manifest.metrics, key=lambda m: m.name):
            out.append(
                {
                    "name": metric.name,
                    "label": metric.label or "",
                    "type": str(metric.type.value),
                    "description": (metric.description or "").strip(),
                }
            )
        return out

    def group_bys(self, metrics: list[str]) -> list[str]:
        """The dimensions and time grains the metrics can be grouped by together."""
        names = set()
        for item in self.engine.list_group_bys(metric_names=metrics):
            name = getattr(item, "dunder_name", None) or item.name  # an entity: its name
            names.add(name)
            if name.endswith("__day"):  # a time dimension: every coarser grain too
                names.update(f"{name[:-5]}__{grain}" for grain in TIME_GRAINS)
        return sorted(names)

    def _request(self, metrics, group_by, where, order_by, limit):
        from metricflow.engine.metricflow_engine import MetricFlowQueryRequest

        return MetricFlowQueryRequest.create(
            metric_names=list(metrics),
            group_by_names=list(group_by or []),
            where_constraints=list(where or []) or None,
            order_by_names=list(order_by or []) or None,
            limit=limit,
        )

    def query(
        self,
        metrics: list[str],
        group_by: list[str] | None = None,
        where: list[str] | None = None,
        order_by: list[str] | None = None,
        limit: int | None = None,
    ) -> Answer:
        """The metrics by the group-bys (``metric_time__month``,
        ``customer__value_tier``, ...), filtered by MetricFlow ``where`` templates."""
        request = self._request(metrics, group_by, where, order_by, limit)
        try:
            result = self.engine.query(request)
        except duckdb.Error:
            raise
        except Exception as exc:  # MetricFlow's own errors: unknown names, bad filters
            raise MetricsError(_first_lines(str(exc))) from exc
        table = result.result_df
        return Answer(list(table.column_names), [tuple(r) for r in table.rows], result.sql)

    def explain(self, metrics, group_by=None, where=None, order_by=None, limit=None) -> str:
        """The SQL a query would run, without running it."""
        request = self._request(metrics, group_by, where, order_by, limit)
        try:
            return self.engine.explain(request).sql_statement.sql
        except Exception as exc:
            raise MetricsError(_first_lines(str(exc))) from exc


def _first_lines(text: str, n: int = 12) -> str:
    return "\n".join(text.strip().splitlines()[:n])


def _split(values: list[str] | None) -> list[str]:
    """Repeated flags and comma lists alike: ['a,b', 'c'] -> ['a', 'b', 'c']."""
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


def run(settings, args) -> int:
    """`crm metrics list | dimensions | query`."""
    try:
        with Metrics(settings.warehouse, semantic_manifest_path(settings)) as layer:
            if args.metrics_command == "list":
                for m in layer.list():
                    print(f"{m['name']:<32} {m['type']:<10} {m['description']}")
                return 0
            metrics = _split(args.metrics)
            if args.metrics_command == "dimensions":
                print("\n".join(layer.group_bys(metrics)))
                return 0
            group_by, where = _split(args.group_by), list(args.where or [])
            order_by = _split(args.order_by)
            if args.explain:
                print(layer.explain(metrics, group_by, where, order_by, args.limit))
                return 0
            answer = layer.query(metrics, group_by, where, order_by, args.limit)
    except (MetricsError, duckdb.Error) as exc:
        print(f"crm metrics: {exc}", file=sys.stderr)
        return 2
    frame = answer.to_pandas()
    if args.csv:
        frame.to_csv(sys.stdout, index=False)
    else:
        import pandas as pd

        with pd.option_context("display.width", 200, "display.max_columns", 40):
            print(frame.to_string(index=False, max_rows=args.max_rows))
    return 0
