"""The dbt Python models run outside dbt (crm/spark/python_models.py), as on Spark.

Each of the project's Python models is run by the bridge on its refs exported
as Parquet from a warehouse that dbt-duckdb built, and must return what dbt
built for it there (the Spark run feeds it the same way; bench/spark_parity.py
compares the whole warehouse on both engines).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import duckdb
import pytest

from crm.spark.python_models import python_models, run_python_model, waves
from tests.conftest import Env, copy_base
from tests.dbt_fixtures import REPO

MANIFEST = REPO / "target" / "manifest.json"
RUN_CLOCK = {"fit_seconds"}  # how long a fit took: differs between any two runs


def _manifest() -> dict:
    return json.loads(MANIFEST.read_text())


def test_waves_run_every_python_model_after_its_parents_and_before_its_readers():
    manifest = _manifest()
    nodes = manifest["nodes"]
    order = waves(manifest)
    position: dict[str, tuple[int, int]] = {}
    for n, (sql, python) in enumerate(order):
        position.update({uid: (n, 0) for uid in sql})
        position.update({uid: (n, 1) for uid in python})
    built = {u for u, node in nodes.items() if node["resource_type"] in ("model", "seed")}
    assert set(position) == built  # every model and seed, once
    for uid in built:
        for parent in nodes[uid].get("depends_on", {}).get("nodes", []):
            if parent in built:
                # dbt orders the nodes of one invocation; a Python model runs after
                # its wave's invocation, its readers in a later one
                ordered = (
                    position[parent] < position[uid]
                    or position[parent]
                    == (
                        position[uid][0],
                        0,
                    )
                    == position[uid]
                )
                assert ordered, (parent, uid)
    names = {nodes[u]["name"] for _, python in order for u in python}
    assert names == {m.name for m in python_models(manifest, REPO).values()}
    assert len(names) == 7 and len(order) >= 3


def _rows(con: duckdb.DuckDBPyConnection, source: str) -> list[tuple]:
    return sorted(con.execute(f"select * from {source}").fetchall(), key=repr)


def _same(a: list[tuple], b: list[tuple]) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        for u, v in zip(x, y, strict=True):
            if isinstance(u, float) and isinstance(v, float):
                if not math.isclose(u, v, rel_tol=1e-9, abs_tol=1e-12) and not (
                    math.isnan(u) and math.isnan(v)
                ):
                    return False
            elif u != v:
                return False
    return True


@pytest.mark.e2e
def test_each_python_model_returns_what_dbt_built(base_warehouse: Path, tmp_path: Path):
    env: Env = copy_base(base_warehouse, tmp_path / "env")
    models = python_models(_manifest(), REPO)
    exported = tmp_path / "refs"
    with duckdb.connect(str(env.restricted), read_only=True) as built:
        built.execute("set TimeZone = 'UTC'")
        names = {name for model in models.values() for name in (*model.refs, model.name)}
        for name in names:
            folder = exported / name
            folder.mkdir(parents=True)
            built.execute(
                f"copy (select * from intermediate.{name}) to '{folder / 'part-0.parquet'}' "
                "(format parquet)"
            )
    # the identity model's folder is a run var, recorded in the build: the base's
    # home, which this test must not touch (a model trained there), so the copy's
    folder = exported / "int_identity_model_folder" / "part-0.parquet"
    with duckdb.connect() as con:
        (column,) = [c[0] for c in con.execute(f"describe select * from '{folder}'").fetchall()]
        con.execute(
            f"copy (select '{env.home / 'identity' / 'model'}' as {column}) to '{folder}' "
            "(format parquet)"
        )
    for model in models.values():
        inputs = {name: exported / name for name in model.refs}
        output = tmp_path / "out" / model.name
        rows = run_python_model(model, inputs, output, {"memory_limit": "1GB"})
        with duckdb.connect() as con:
            con.execute("set TimeZone = 'UTC'")
            got = con.execute(f"describe select * from '{output}/*.parquet'").fetchall()
            want = con.execute(f"describe select * from '{exported / model.name}/*.parquet'")
            assert [c[0] for c in got] == [c[0] for c in want.fetchall()], model.name
            clock = [c[0] for c in got if c[0] in RUN_CLOCK]
            keep = f"* exclude ({', '.join(clock)})" if clock else "*"
            new = _rows(con, f"(select {keep} from '{output}/*.parquet')")
            old = _rows(con, f"(select {keep} from '{exported / model.name}/*.parquet')")
        assert rows == len(old) > 0, model.name
        assert _same(new, old), model.name
    assert not list((tmp_path / "out").rglob(".*"))  # no hidden file left
