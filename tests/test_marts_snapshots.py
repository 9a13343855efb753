"""customer_segment_snapshots and segment_migration over recorded refreshes.

Three dbt builds of one hand-made world, each with the build before it
attached as `previous` (as a refresh attaches the restricted output): the
snapshots of each as_of are kept as published, a second build on the same
as_of records it once, a replay of an earlier as_of keeps the later ones, and
segment_migration equals a pandas recomputation from the snapshots.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from dbt_fixtures import build_with_previous, sample_rows

from tests.test_dbt_models import AS_OF, LATER_AS_OF, VARS, query

# Chained builds, each attaching the one before as its restricted output: a
# sequence of refreshes, left out of `make test-fast` like the other e2e tests.
pytestmark = pytest.mark.e2e

SNAPSHOT_MARTS = ("customer_segment_snapshots", "segment_migration")
DIMENSIONS = ("rfm_segment", "value_tier", "lifecycle_stage")
SNAPSHOT_COLUMNS = [
    "snapshot_date",
    "customer_id",
    "rfm_segment",
    "value_tier",
    "lifecycle_stage",
    "revenue",
    "predicted_clv",
    "total_value",
]


def _build(workdir: Path, world: dict, variables: dict, previous: Path | None) -> Path:
    """The snapshot marts and what they are built from, without data tests (the full
    builds of test_dbt_models run those): the chain compares tables only."""
    return build_with_previous(
        workdir, world, variables, previous, select=SNAPSHOT_MARTS, data_tests=False
    )


@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> dict[str, Path]:
    world = sample_rows()
    root = tmp_path_factory.mktemp("snapshots")
    first = _build(root / "first", world, VARS, previous=None)
    later = _build(root / "later", world, {**VARS, "as_of": LATER_AS_OF}, first)
    again = _build(root / "again", world, {**VARS, "as_of": LATER_AS_OF}, later)
    replay = _build(root / "replay", world, {**VARS, "as_of": "2024-03-31"}, again)
    return {"first": first, "later": later, "again": again, "replay": replay}


def _snapshots(path: Path) -> pd.DataFrame:
    frame = query(path, "select * from marts.customer_segment_snapshots")
    frame["snapshot_date"] = pd.to_datetime(frame["snapshot_date"]).dt.strftime("%Y-%m-%d")
    return frame.sort_values(["snapshot_date", "customer_id"]).reset_index(drop=True)


def test_each_refresh_records_its_as_of_and_keeps_the_earlier_ones(builds):
    first, later = _snapshots(builds["first"]), _snapshots(builds["later"])
    assert set(first["snapshot_date"]) == {AS_OF}
    assert set(later["snapshot_date"]) == {AS_OF, LATER_AS_OF}
    # The earlier snapshot is carried over exactly as published.
    kept = later[later["snapshot_date"] == AS_OF].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept[SNAPSHOT_COLUMNS], first[SNAPSHOT_COLUMNS])
    # The new one is what the marts of that build say.
    current = later[later["snapshot_date"] == LATER_AS_OF].set_index("customer_id")
    lifecycle = query(builds["later"], "select * from marts.customer_lifecycle")
    clv = query(builds["later"], "select * from marts.customer_clv").set_index("customer_id")
    rfm = query(builds["later"], "select * from marts.customer_rfm").set_index("customer_id")
    assert sorted(current.index) == sorted(lifecycle["customer_id"])
    lifecycle = lifecycle.set_index("customer_id")
    assert current["lifecycle_stage"].equals(lifecycle["lifecycle_stage"].reindex(current.index))
    assert (
        current["value_tier"]
        .fillna("-")
        .equals(clv["value_tier"].reindex(current.index).fillna("-"))
    )
    assert (
        current["rfm_segment"]
        .fillna("-")
        .equals(rfm["rfm_segment"].reindex(current.index).fillna("-"))
    )


def test_the_same_as_of_twice_records_once_and_a_replay_keeps_later_history(builds):
    later, again = _snapshots(builds["later"]), _snapshots(builds["again"])
    assert len(again) == len(later)
    assert not again.duplicated(["snapshot_date", "customer_id"]).any()
    # the same data again: the same rows, recorded_at included (first recording kept)
    pd.testing.assert_frame_equal(again, later)
    replay = _snapshots(builds["replay"])
    assert set(replay["snapshot_date"]) == {"2024-03-31", AS_OF, LATER_AS_OF}
    # Only one snapshot is on or before the replayed as_of: nothing to migrate.
    n = query(builds["replay"], "select count(*) as n from marts.segment_migration")["n"][0]
    assert n == 0


def expected_migration(snapshots: pd.DataFrame) -> pd.DataFrame:
    dates = sorted(snapshots["snapshot_date"].unique())
    rows = []
    for earlier_date, later_date in zip(dates[:-1], dates[1:], strict=True):
        earlier = snapshots[snapshots["snapshot_date"] == earlier_date].set_index("customer_id")
        later = snapshots[snapshots["snapshot_date"] == later_date].set_index("customer_id")
        for customer in sorted(set(earlier.index) | set(later.index)):
            a = earlier.loc[customer] if customer in earlier.index else None
            b = later.loc[customer] if customer in later.index else None
            for dimension in DIMENSIONS:
                rows.append(
                    {
                        "segmentation": dimension,
                        "from_snapshot_date": earlier_date,
                        "to_snapshot_date": later_date,
                        "from_segment": "(new)" if a is None else (a[dimension] or "(none)"),
                        "to_segment": "(gone)" if b is None else (b[dimension] or "(none)"),
                        "from_total_value": None if a is None else a["total_value"],
                        "to_total_value": None if b is None else b["total_value"],
                        "revenue_between": None
                        if b is None
                        else float(b["revenue"]) - float(0 if a is None else a["revenue"]),
                    }
                )
    frame = pd.DataFrame(rows)
    keys = ["segmentation", "from_snapshot_date", "to_snapshot_date", "from_segment", "to_segment"]
    return (
        frame.groupby(keys, dropna=False)
        .agg(
            n_customers=("to_segment", "size"),
            from_total_value=("from_total_value", lambda s: s.dropna().astype(float).sum()),
            to_total_value=("to_total_value", lambda s: s.dropna().astype(float).sum()),
            revenue_between=("revenue_between", lambda s: s.dropna().astype(float).sum()),
        )
        .reset_index()
        .sort_values(keys)
        .reset_index(drop=True)
    )


def test_migration_equals_a_recomputation_from_the_snapshots(builds):
    snapshots = _snapshots(builds["again"])
    snapshots = snapshots.astype(object).where(snapshots.notna(), None)
    want = expected_migration(snapshots)
    got = query(builds["again"], "select * from marts.segment_migration")
    for column in ("from_snapshot_date", "to_snapshot_date"):
        got[column] = pd.to_datetime(got[column]).dt.strftime("%Y-%m-%d")
    keys = list(want.columns[:5])
    got = got.sort_values(keys).reset_index(drop=True)
    assert got[keys].equals(want[keys])
    assert (got["n_customers"] == want["n_customers"]).all()
    for column in ("from_total_value", "to_total_value", "revenue_between"):
        assert got[column].fillna(0).astype(float).round(4).tolist() == pytest.approx(
            want[column].round(4).tolist()
        ), column
    # Everyone moved somewhere: each dimension accounts for every customer once.
    per_dimension = got.groupby("segmentation")["n_customers"].sum()
    assert per_dimension.nunique() == 1


def test_old_snapshots_thin_to_the_last_of_each_month(tmp_path):
    """Older than segment_snapshot_daily_days (35) before as_of, only a month's last
    snapshot stays; the daily window and any snapshot after as_of (a replay) stay whole."""
    as_of = dt.date.fromisoformat(LATER_AS_OF)
    recorded = [as_of - dt.timedelta(days=k) for k in range(1, 130, 3)]
    recorded += [as_of + dt.timedelta(days=10)]
    previous = tmp_path / "previous.duckdb"
    with duckdb.connect(str(previous)) as con:
        con.execute("create schema marts")
        con.execute(
            "create table marts.customer_segment_snapshots (snapshot_date date, "
            "customer_id varchar, rfm_segment varchar, value_tier varchar, "
            "lifecycle_stage varchar, revenue decimal(18, 4), predicted_clv double, "
            "total_value decimal(18, 4), recorded_at timestamp)"
        )
        con.executemany(
            "insert into marts.customer_segment_snapshots values "
            "(?, 'OLD', 'Lost', 'low', 'lapsed', 1, 1, 1, '2024-01-01')",
            [[d] for d in recorded],
        )
    build = _build(tmp_path / "build", sample_rows(), {**VARS, "as_of": LATER_AS_OF}, previous)
    got = set(
        pd.to_datetime(
            query(
                build,
                "select distinct snapshot_date from marts.customer_segment_snapshots "
                "where customer_id = 'OLD'",
            )["snapshot_date"]
        ).dt.date
    )
    every = [*recorded, as_of]
    month_last = {max(d for d in every if (d.year, d.month) == (m.year, m.month)) for m in every}
    want = {
        d for d in recorded if d > as_of - dt.timedelta(days=35) or d in month_last or d > as_of
    }
    assert got == want
    assert len(want) < len(recorded)  # something was thinned
    assert any(d < as_of - dt.timedelta(days=35) for d in want)  # month ends kept
