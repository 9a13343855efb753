"""The backtest's expected purchases by holdout week, summed over all backtest customers.

Grain: one row per holdout week (week_number 1..ceil(holdout / 7); the last
week may be shorter, see days_in_week): expected_purchases = the expected
repeat purchase days of the calibration customers within that week, from the
BG/NBD fit on the calibration period (differences of the cumulative
expectation at the week ends, weighted by the customers per tuple). Empty when
the backtest fit is not usable (skipped).
"""

import numpy as np
import pyarrow as pa

from crm.clv import pipeline

SCHEMA = pa.schema(
    [
        ("week_number", pa.int32()),
        ("week_start_day", pa.int32()),
        ("days_in_week", pa.int32()),
        ("expected_purchases", pa.float64()),
    ]
)


def model(dbt, session):
    dbt.config(materialized="table")
    params = pipeline.used_bgnbd_params(dbt.ref("int_clv_fits"), "backtest")
    if params is None:
        return SCHEMA.empty_table()
    holdout = dbt.config.get("clv_backtest_holdout_days")
    holdout = pipeline.config_int(holdout, "clv_backtest_holdout_days")
    x, t_x, T, n_customers = pipeline.fetch_tuples(dbt.ref("int_clv_backtest_customers"))
    ends = np.minimum(np.arange(1, -(-holdout // 7) + 1) * 7, holdout)
    _, cumulative = pipeline.cumulative_purchases(params, x, t_x, T, ends)
    totals = n_customers.astype(float) @ cumulative
    starts = np.concatenate([[0], ends[:-1]])
    return pa.Table.from_arrays(
        [
            pa.array(np.arange(1, ends.size + 1, dtype="int32")),
            pa.array(starts.astype("int32")),
            pa.array((ends - starts).astype("int32")),
            pa.array(np.diff(np.concatenate([[0.0], totals]))),
        ],
        schema=SCHEMA,
    )
