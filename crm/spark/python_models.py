"""The dbt Python models, run outside dbt for an engine whose adapter cannot run them.

dbt-spark runs Python models on Databricks only (DECISIONS 79). On Spark the
orchestration runs each of the project's seven Python models itself, between
dbt invocations, with the model's own `model(dbt, session)` function: its refs
arrive as Parquet folders (written by Spark), the function runs on an in-memory
DuckDB session (out of core: memory limit and spill folder as for every DuckDB
connection here) exactly as under dbt-duckdb, and its result is written back as
a Parquet folder that Spark declares as the model's table.

`waves` splits the project's nodes so that every Python model runs after the
dbt invocation that builds its parents and before the one that reads it.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from crm.rawstore import quote_ident, quote_literal

PART = "part-0.parquet"


@dataclass(frozen=True)
class PythonModel:
    """A dbt Python model as the manifest describes it."""

    unique_id: str
    name: str
    path: Path  # the model's file
    refs: tuple[str, ...]  # names of the models it reads
    config: Mapping[str, Any]  # its resolved config (dbt.config.get reads it)


def python_models(manifest: Mapping[str, Any], project_dir: Path) -> dict[str, PythonModel]:
    """The manifest's Python models by unique id."""
    nodes = manifest["nodes"]
    found = {}
    for unique_id, node in nodes.items():
        if node["resource_type"] != "model" or node.get("language") != "python":
            continue
        refs = tuple(nodes[p]["name"] for p in node["depends_on"]["nodes"] if p in nodes)
        found[unique_id] = PythonModel(
            unique_id=unique_id,
            name=node["name"],
            path=project_dir / node["original_file_path"],
            refs=refs,
            config=dict(node["config"]),
        )
    return found


def waves(manifest: Mapping[str, Any]) -> list[tuple[list[str], list[str]]]:
    """[(dbt nodes, Python models)] in run order: each wave's dbt nodes (models and
    seeds, by unique id) build first, then its Python models, which read only
    nodes of this wave or earlier ones. A node's wave is the largest number of
    Python models on any path to it from the project's sources."""
    nodes = {
        uid: node
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] in ("model", "seed")
    }
    is_python = {uid: node.get("language") == "python" for uid, node in nodes.items()}
    depth: dict[str, int] = {}

    def of(uid: str) -> int:
        if uid not in depth:
            parents = [p for p in nodes[uid].get("depends_on", {}).get("nodes", []) if p in nodes]
            depth[uid] = max((of(p) + is_python[p] for p in parents), default=0)
        return depth[uid]

    n_waves = max((of(uid) for uid in nodes), default=0) + 1
    result: list[tuple[list[str], list[str]]] = [([], []) for _ in range(n_waves)]
    for uid in sorted(nodes):
        result[of(uid)][1 if is_python[uid] else 0].append(uid)
    return [(sql, python) for sql, python in result if sql or python]


class _Config:
    """dbt.config inside a model: a call sets nothing here, get() reads the resolved
    config as dbt-duckdb does (None when the model has no such key)."""

    def __init__(self, values: Mapping[str, Any]):
        self._values = values

    def __call__(self, **_: Any) -> None:
        return None

    def get(self, name: str, default: Any = None) -> Any:
        value = self._values.get(name)
        return default if value is None else value


class _Dbt:
    def __init__(self, refs: Mapping[str, duckdb.DuckDBPyRelation], config: Mapping[str, Any]):
        self._refs = refs
        self.config = _Config(config)

    def ref(self, name: str, *_: Any, **__: Any) -> duckdb.DuckDBPyRelation:
        return self._refs[name]

    def is_incremental(self) -> bool:
        return False


def _load_function(path: Path):
    spec = importlib.util.spec_from_file_location(f"crm_python_model_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the Python model {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.model


def _utc_instants(con: duckdb.DuckDBPyConnection, source: str) -> str:
    """A select of `source` with zone-less timestamps as UTC instants (Spark's
    `timestamp`), everything else as it is."""
    columns = con.execute(f"describe select * from {source}").fetchall()
    return ", ".join(
        f"cast({quote_ident(c)} as timestamptz) as {quote_ident(c)}"
        if t == "TIMESTAMP"
        else quote_ident(c)
        for c, t, *_ in columns
    )


def _ref_relation(con: duckdb.DuckDBPyConnection, folder: Path) -> duckdb.DuckDBPyRelation:
    """A ref as the model sees it under dbt-duckdb: instants as zone-less UTC."""
    source = f"read_parquet({quote_literal(str(folder / '*.parquet'))})"
    columns = con.execute(f"describe select * from {source}").fetchall()
    select = ", ".join(
        f"cast({quote_ident(c)} as timestamp) as {quote_ident(c)}"
        if t == "TIMESTAMP WITH TIME ZONE"
        else quote_ident(c)
        for c, t, *_ in columns
    )
    return con.sql(f"select {select} from {source}")


def run_python_model(
    model: PythonModel,
    inputs: Mapping[str, Path],
    output: Path,
    config: Mapping[str, str] | None = None,
) -> int:
    """Run `model` on its refs (`inputs`: name -> Parquet folder); write its result as
    `output`/part-0.parquet (under a hidden name first) and return its row count."""
    missing = sorted(set(model.refs) - set(inputs))
    if missing:
        raise ValueError(f"{model.name}: no input for {', '.join(missing)}")
    con = duckdb.connect(config=dict(config or {}))
    try:
        con.execute("set TimeZone = 'UTC'")
        refs = {name: _ref_relation(con, inputs[name]) for name in model.refs}
        result = _load_function(model.path)(_Dbt(refs, model.config), con)
        if not isinstance(result, duckdb.DuckDBPyRelation):  # an Arrow table or a frame
            con.register("crm_model_output", result)
            result = con.sql("select * from crm_model_output")
        result.to_table("crm_model_result")
        output.mkdir(parents=True, exist_ok=True)
        hidden = output / f".{PART}.tmp"
        select = _utc_instants(con, "crm_model_result")
        con.execute(
            f"copy (select {select} from crm_model_result) to "
            f"{quote_literal(str(hidden))} (format parquet)"
        )
        with hidden.open("rb") as file:
            os.fsync(file.fileno())
        hidden.rename(output / PART)
        return con.execute("select count(*) from crm_model_result").fetchone()[0]
    finally:
        con.close()
