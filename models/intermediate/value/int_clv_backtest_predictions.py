"""The backtest's predictions per customer tuple: BG/NBD fitted on the calibration period.

Grain: one row per distinct calibration tuple (frequency, recency_days, t_days)
of int_clv_backtest_customers: p_alive at the calibration end and
expected_purchases, the expected repeat purchase days over the whole holdout
period (var clv_backtest_holdout_days). Empty when the backtest fit is not
usable (skipped).
"""

import pyarrow as pa

from crm.clv import pipeline

SCHEMA = pa.schema(
    [
        ("frequency", pa.int32()),
        ("recency_days", pa.int32()),
        ("t_days", pa.int32()),
        ("p_alive", pa.float64()),
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
    x, t_x, T, _ = pipeline.fetch_tuples(dbt.ref("int_clv_backtest_customers"))
    p_alive, cumulative = pipeline.cumulative_purchases(params, x, t_x, T, [holdout])
    return pa.Table.from_arrays(
        [
            pa.array(x.astype("int32")),
            pa.array(t_x.astype("int32")),
            pa.array(T.astype("int32")),
            pa.array(p_alive),
            pa.array(cumulative[:, 0]),
        ],
        schema=SCHEMA,
    )
