"""Benchmark: the CLV fits at millions of customers, as the refresh runs them.

    .venv/bin/python bench/bench_clv_fit.py --customers 10000000

Simulates customer summaries from the BG/NBD and Gamma-Gamma processes (time in
days, 3 years of acquisitions, like a real customer base), stores them in a
DuckDB table, then times what models/intermediate/value/int_clv_fits.py and
int_clv_tuple_predictions.py do: collapse to (frequency, recency_days, t_days)
tuples in SQL, fetch, fit BG/NBD on the tuples and Gamma-Gamma on the repeat
buyers (crm.clv.pipeline.fit_models), and predict per tuple for three
horizons. Prints the tuple count, each step's seconds and the estimates against
the true parameters. Figures go to BENCHMARKS.md; nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crm.clv import pipeline  # noqa: E402

TRUE_BGNBD = {"r": 0.5, "alpha": 25.0, "a": 1.2, "b": 5.0}  # per day
TRUE_GG = {"p": 6.0, "q": 4.0, "gamma": 30.0}


def simulate(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    lam = rng.gamma(TRUE_BGNBD["r"], 1.0 / TRUE_BGNBD["alpha"], n)
    p = rng.beta(TRUE_BGNBD["a"], TRUE_BGNBD["b"], n)
    T = rng.integers(0, 3 * 365 + 1, n)
    J = rng.geometric(p)
    N = rng.poisson(lam * T)
    x = np.minimum(J, N)
    t_x = np.zeros(n, dtype=np.int64)
    pos = x > 0
    t_x[pos] = np.floor(T[pos] * rng.beta(x[pos], N[pos] - x[pos] + 1)).astype(np.int64)
    nu = rng.gamma(TRUE_GG["q"], 1.0 / TRUE_GG["gamma"], n)
    m = np.full(n, np.nan)
    m[pos] = np.round(rng.gamma(TRUE_GG["p"] * x[pos], 1.0 / (nu[pos] * x[pos])), 2)
    return {"frequency": x, "recency_days": t_x, "t_days": T, "monetary_value": m}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import duckdb
    import pyarrow as pa

    t0 = time.perf_counter()
    data = simulate(args.customers, args.seed)
    con = duckdb.connect(config={"threads": args.threads})
    con.register("simulated", pa.table(data))
    con.execute("create table summary as select * from simulated")
    con.unregister("simulated")
    del data
    print(f"simulated {args.customers:,} customers in {time.perf_counter() - t0:.1f} s")

    relation = con.table("summary")
    steps: dict[str, float] = {}
    t = time.perf_counter()
    x, t_x, T, n_customers = pipeline.fetch_tuples(relation)
    spend_frequency, spend = pipeline.fetch_spend(relation)
    steps["collapse + fetch (SQL)"] = time.perf_counter() - t

    t = time.perf_counter()
    bg, gg = pipeline.fit_models(
        x,
        t_x,
        T,
        n_customers,
        spend_frequency,
        spend,
        min_customers=100,
        min_repeaters=20,
    )
    steps["fit BG/NBD + Gamma-Gamma"] = time.perf_counter() - t
    steps["  of which BG/NBD"] = bg.result.seconds
    steps["  of which Gamma-Gamma"] = gg.result.seconds

    t = time.perf_counter()
    out = pipeline.predict_tuples(
        bg.result.params,
        x,
        t_x,
        T,
        [90, 365, 730],
        0.10,
    )
    steps["predict per tuple (3 horizons)"] = time.perf_counter() - t

    n_tuples = x.size
    print(
        f"customers {args.customers:,}; distinct (frequency, recency, T) tuples {n_tuples:,}; "
        f"repeat buyers {spend_frequency.size:,}; prediction rows {out['x'].size:,}"
    )
    for name, seconds in steps.items():
        print(f"  {name:<32} {seconds:7.2f} s")
    fit_total = steps["collapse + fetch (SQL)"] + steps["fit BG/NBD + Gamma-Gamma"]
    print(f"  {'fit total (collapse + fits)':<32} {fit_total:7.2f} s")
    for fit, truth in ((bg, TRUE_BGNBD), (gg, TRUE_GG)):
        r = fit.result
        print(
            f"{fit.model}: {fit.status} in {r.iterations} iterations; "
            + ", ".join(
                f"{k} {r.params[k]:.4g} (true {truth[k]:g}, se {r.std_errors.get(k, np.nan):.2g})"
                for k in truth
            )
        )


if __name__ == "__main__":
    main()
