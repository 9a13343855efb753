"""BG/NBD predictions per distinct (frequency, recency_days, t_days) tuple.

Grain: one row per tuple of int_customer_btyd_summary and horizon (the days of
vars clv_horizons_days and clv_horizon_days): p_alive, expected_purchases (the
expected repeat purchase days in the next horizon_days) and
discounted_purchases (the same, each month's purchases discounted to the month
end at the annual rate var clv_discount_rate). Customers share a tuple, so the
work scales with distinct tuples. Empty when the current BG/NBD fit is not
usable (skipped).
"""

import pyarrow as pa

from crm.clv import pipeline

SCHEMA = pa.schema(
    [
        ("frequency", pa.int32()),
        ("recency_days", pa.int32()),
        ("t_days", pa.int32()),
        ("horizon_days", pa.int32()),
        ("p_alive", pa.float64()),
        ("expected_purchases", pa.float64()),
        ("discounted_purchases", pa.float64()),
    ]
)


def model(dbt, session):
    dbt.config(materialized="table")
    params = pipeline.used_bgnbd_params(dbt.ref("int_clv_fits"), "current")
    if params is None:
        return SCHEMA.empty_table()
    x, t_x, T, _ = pipeline.fetch_tuples(dbt.ref("int_customer_btyd_summary"))
    listed = dbt.config.get("clv_horizons_days")
    main = dbt.config.get("clv_horizon_days")
    rate = dbt.config.get("clv_discount_rate")
    horizons = set(pipeline.config_ints(listed, "clv_horizons_days"))
    horizons.add(pipeline.config_int(main, "clv_horizon_days"))
    out = pipeline.predict_tuples(
        params,
        x,
        t_x,
        T,
        sorted(horizons),
        pipeline.config_float(rate, "clv_discount_rate"),
    )
    return pa.Table.from_arrays(
        [
            pa.array(out["x"].astype("int32")),
            pa.array(out["t_x"].astype("int32")),
            pa.array(out["T"].astype("int32")),
            pa.array(out["horizon_days"].astype("int32")),
            pa.array(out["p_alive"]),
            pa.array(out["expected"]),
            pa.array(out["discounted"]),
        ],
        schema=SCHEMA,
    )
