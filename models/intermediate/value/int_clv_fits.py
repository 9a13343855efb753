"""The CLV model fits: BG/NBD and Gamma-Gamma, now and for the backtest.

Grain: one row per (fit, model, parameter). fit = 'current' is fitted on the
summary as of as_of (int_customer_btyd_summary), fit = 'backtest' on the
calibration period (int_clv_backtest_customers). The BG/NBD fit runs on the
distinct (frequency, recency_days, t_days) tuples with their customer counts
(collapsed in SQL), the Gamma-Gamma fit on the repeat buyers' (frequency,
monetary_value). status: converged | not_converged | skipped (too little data:
vars clv_min_customers, clv_min_repeaters); is_used: predictions use the
estimates. A fit that does not converge is, by var clv_on_fit_failure
(crm.clv.pipeline.check_fits): skip (default) = kept for diagnosis but not
used, the refresh warns; warn = used, flagged; error = the refresh fails with
a message naming it. The orchestration shows the fits' facts, read from this
table, as asset metadata (crm.clv.pipeline.facts_from_rows).
"""

import pyarrow as pa

from crm.clv import pipeline


def _fit(relation, **options):
    x, t_x, T, n_customers = pipeline.fetch_tuples(relation)
    spend_frequency, spend = pipeline.fetch_spend(relation)
    return pipeline.fit_models(
        x,
        t_x,
        T,
        n_customers,
        spend_frequency,
        spend,
        **options,
    )


def model(dbt, session):
    dbt.config(materialized="table")
    # dbt passes a config value only for a plain dbt.config.get("<literal>") call
    # (its parser does not look inside expressions like int(... or default)).
    min_customers = dbt.config.get("clv_min_customers")
    min_repeaters = dbt.config.get("clv_min_repeaters")
    max_iterations = dbt.config.get("clv_max_iterations")
    on_failure = dbt.config.get("clv_on_fit_failure")
    min_customers = pipeline.config_int(min_customers, "clv_min_customers")
    min_repeaters = pipeline.config_int(min_repeaters, "clv_min_repeaters")
    max_iterations = pipeline.config_int(max_iterations, "clv_max_iterations")
    on_failure = pipeline.config_str(on_failure, "clv_on_fit_failure").lower()

    rows, fits = [], []
    # dbt parses refs statically: one literal dbt.ref() per input.
    inputs = (
        ("current", dbt.ref("int_customer_btyd_summary")),
        ("backtest", dbt.ref("int_clv_backtest_customers")),
    )
    for fit_name, relation in inputs:
        for fit in _fit(
            relation,
            min_customers=min_customers,
            min_repeaters=min_repeaters,
            max_iterations=max_iterations,
        ):
            rows.extend(pipeline.params_rows(fit_name, fit, on_failure))
            fits.append((fit_name, fit))

    pipeline.check_fits(fits, on_failure)
    return pa.Table.from_pylist(rows, schema=pipeline.PARAMS_SCHEMA)
