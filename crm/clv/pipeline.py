"""The CLV models as the refresh runs them: fit, predict per tuple, report.

The dbt Python models in ``models/intermediate/value/`` are thin wrappers
around these functions, so the logic is tested without dbt:

- ``fit_models``: BG/NBD on the collapsed (frequency, recency, T) tuples and
  Gamma-Gamma on the repeat buyers' mean spend, with the decision whether the
  data suffice (``skipped``) and whether the fits converged;
- ``predict_tuples``: P(alive), expected purchases and discounted expected
  purchases per tuple over several horizons;
- ``cumulative_purchases``: expected purchases by the end of each period of a
  grid (the backtest's weeks).

Expected purchases E[Y(t) | x, t_x, T] = P(alive | x, t_x, T) · g(x, T, t):
the second factor does not depend on t_x, so the hypergeometric function is
evaluated once per distinct (x, T) pair and grid point, not once per customer.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from crm.clv import btyd

DAYS_PER_YEAR = 365.25
# Discounting steps: purchases expected within a month are discounted to its end.
DISCOUNT_STEP_DAYS = DAYS_PER_YEAR / 12

PARAMS_SCHEMA = pa.schema(
    [
        ("fit", pa.string()),
        ("model", pa.string()),
        ("parameter", pa.string()),
        ("value", pa.float64()),
        ("std_error", pa.float64()),
        ("status", pa.string()),
        ("message", pa.string()),
        ("log_likelihood", pa.float64()),
        ("n_customers", pa.int64()),
        ("n_tuples", pa.int64()),
        ("iterations", pa.int64()),
        ("fit_seconds", pa.float64()),
        ("is_used", pa.bool_()),
    ]
)


def config_str(value, name: str) -> str:
    """A dbt model config value (rendered from a var), which must be set."""
    if value is None or str(value).strip() in ("", "None"):
        raise ValueError(f"dbt config {name!r} is not set: it comes from var {name!r}")
    return str(value).strip()


def config_int(value, name: str) -> int:
    return int(float(config_str(value, name)))


def config_ints(value, name: str) -> list[int]:
    """A list of whole numbers: a list, or text like "90 365 730" / "[90, 365]"."""
    if isinstance(value, list | tuple):
        return [int(v) for v in value]
    text = config_str(value, name)
    return [
        int(float(v)) for v in text.replace("[", " ").replace("]", " ").replace(",", " ").split()
    ]


def config_float(value, name: str) -> float:
    return float(config_str(value, name))


class ClvFitError(RuntimeError):
    """A CLV fit did not converge; the message says which, on what and what to do."""


@dataclass
class ModelFit:
    """One model's outcome: fitted, not converged, or skipped (too little data)."""

    model: str
    status: str  # converged | not_converged | skipped
    message: str
    result: btyd.FitResult | None = None
    facts: dict = field(default_factory=dict)


def _skip(model: str, reason: str) -> ModelFit:
    return ModelFit(model=model, status="skipped", message=reason)


def _outcome(model: str, result: btyd.FitResult, extra: str = "") -> ModelFit:
    status = "converged" if result.converged else "not_converged"
    message = result.message + (f"; {extra}" if extra else "")
    return ModelFit(model=model, status=status, message=message, result=result)


def fit_models(
    x,
    t_x,
    T,
    weights,
    spend_x,
    spend_m,
    *,
    min_customers: int,
    min_repeaters: int,
    max_iterations: int = 1000,
) -> tuple[ModelFit, ModelFit]:
    """Fit BG/NBD on weighted (x, t_x, T) tuples and Gamma-Gamma on (x, m_x) of repeaters.

    Skipped (not an error) when there are fewer than ``min_customers`` customers
    or fewer than ``min_repeaters`` repeat buyers: a young warehouse has no
    purchase rhythm to learn from yet. Gamma-Gamma is skipped when BG/NBD is.
    A Gamma-Gamma fit with q <= 1 has no finite mean spend: not converged.
    """
    x, t_x, T, weights = (np.asarray(v, dtype=float) for v in (x, t_x, T, weights))
    spend_x, spend_m = np.asarray(spend_x, dtype=float), np.asarray(spend_m, dtype=float)
    n_customers = float(weights.sum())
    n_repeaters = float(weights[x > 0].sum())
    if n_customers < min_customers or n_repeaters < min_repeaters:
        reason = (
            f"too little data: {n_customers:,.0f} customers ({n_repeaters:,.0f} with a repeat "
            f"purchase); the fit needs at least {min_customers:,} customers and "
            f"{min_repeaters:,} repeat buyers (vars clv_min_customers, clv_min_repeaters)"
        )
        return _skip("bgnbd", reason), _skip("gamma_gamma", reason)
    bg = _outcome("bgnbd", btyd.fit_bgnbd(x, t_x, T, weights=weights, maxiter=max_iterations))
    positive = spend_m > 0
    n_spend = int(positive.sum())
    if n_spend < min_repeaters:
        gg = _skip(
            "gamma_gamma",
            f"too little data: {n_spend:,} repeat buyers with a positive mean spend "
            f"(var clv_min_repeaters = {min_repeaters:,})",
        )
        return bg, gg
    sx, sm = spend_x[positive], spend_m[positive]
    result = btyd.fit_gamma_gamma(sx, sm, maxiter=max_iterations)
    # The model assumes spend per purchase independent of the purchase rate:
    # the usual check is this correlation being near 0.
    corr = float(np.corrcoef(sx, sm)[0, 1]) if n_spend > 2 and np.std(sx) > 0 else float("nan")
    extra = f"corr(frequency, mean spend) = {corr:.3f}"
    if n_spend < spend_m.size:
        extra += f"; {spend_m.size - n_spend:,} repeat buyers with mean spend <= 0 left out"
    gg = _outcome("gamma_gamma", result, extra)
    if result.converged and result.params["q"] <= 1.0:
        gg.status = "not_converged"
        gg.message += "; q <= 1: the mean spend per purchase is not finite"
    gg.facts["spend_frequency_correlation"] = corr
    return bg, gg


ON_FAILURE = ("skip", "warn", "error")


def check_fits(fits: list[tuple[str, ModelFit]], on_failure: str) -> None:
    """What a fit that did not converge does, by var clv_on_fit_failure:

    - skip (default): publish; its estimates are shown but not used (no predictions
      from that model, as when there is too little data), and the refresh warns;
    - warn: publish predictions from the unconverged estimates, flagged;
    - error: raise ``ClvFitError``: the refresh fails, the previous warehouse stays.
    """
    if on_failure not in ON_FAILURE:
        raise ValueError(f"var clv_on_fit_failure must be one of {ON_FAILURE}, got {on_failure!r}")
    failed = [(name, fit) for name, fit in fits if fit.status == "not_converged"]
    if not failed or on_failure != "error":
        return
    lines = []
    for name, fit in failed:
        r = fit.result
        assert r is not None
        lines.append(
            f"the {name} {fit.model} fit did not converge on {r.n_customers:,.0f} customers "
            f"({r.n_tuples:,} rows) after {r.iterations} iterations: {fit.message}; "
            f"estimates {json.dumps({k: round(v, 6) for k, v in r.params.items()})}"
        )
    raise ClvFitError(
        "CLV model fit failed, so this refresh is not published (the previous warehouse "
        "stays): "
        + " | ".join(lines)
        + ". Look for implausible purchase histories in customer_value (e.g. one buyer with "
        "thousands of purchase days) or a too short history; or set var clv_on_fit_failure "
        "to skip (publish without these predictions) or warn (publish them, flagged)."
    )


def params_rows(fit_name: str, fit: ModelFit, on_failure: str = "skip") -> list[dict]:
    """Rows of PARAMS_SCHEMA for one model: one per parameter (null values when skipped).

    is_used: the predictions use these estimates (converged, or not converged
    with on_failure = 'warn').
    """
    used = fit.status == "converged" or (fit.status == "not_converged" and on_failure == "warn")
    names = btyd.BGNBD_PARAMS if fit.model == "bgnbd" else btyd.GAMMA_GAMMA_PARAMS
    r = fit.result
    rows = []
    for name in names:
        rows.append(
            {
                "fit": fit_name,
                "model": fit.model,
                "parameter": name,
                "value": r.params[name] if r else None,
                "std_error": r.std_errors.get(name) if r else None,
                "status": fit.status,
                "message": fit.message,
                "log_likelihood": r.log_likelihood if r else None,
                "n_customers": int(round(r.n_customers)) if r else None,
                "n_tuples": r.n_tuples if r else None,
                "iterations": r.iterations if r else None,
                "fit_seconds": round(r.seconds, 3) if r else None,
                "is_used": used,
            }
        )
    return rows


def facts_from_rows(rows: list[dict]) -> dict:
    """`facts` of every fit, from its PARAMS_SCHEMA rows (the int_clv_fits table)."""
    out: dict = {}
    for row in rows:
        prefix = f"{row['fit']}.{row['model']}"
        out[f"{prefix}.status"] = row["status"]
        out[f"{prefix}.message"] = row["message"]
        if row["log_likelihood"] is None:  # skipped: no estimates
            continue
        out[f"{prefix}.{row['parameter']}"] = round(row["value"], 6)
        out[f"{prefix}.log_likelihood"] = round(row["log_likelihood"], 3)
        out[f"{prefix}.customers"] = row["n_customers"]
        out[f"{prefix}.tuples"] = row["n_tuples"]
        out[f"{prefix}.iterations"] = row["iterations"]
        out[f"{prefix}.seconds"] = row["fit_seconds"]
    return out


def fetch_tuples(relation):
    """(x, t_x, T, n_customers): the distinct (frequency, recency_days, t_days) of a
    BTYD summary relation with their customer counts, grouped in SQL and sorted, so
    the same data gives bit-identical sums (a refresh without news changes nothing)."""
    found = (
        relation.aggregate(
            "frequency, recency_days, t_days, count(*) as n_customers",
            "frequency, recency_days, t_days",
        )
        .order("frequency, recency_days, t_days")
        .fetchnumpy()
    )
    return found["frequency"], found["recency_days"], found["t_days"], found["n_customers"]


def fetch_spend(relation):
    """(frequency, monetary_value) of the repeat buyers of a BTYD summary relation, the
    Gamma-Gamma input; sorted like the tuples, so the same data gives bit-identical sums."""
    found = (
        relation.filter("frequency > 0")
        .project("frequency, monetary_value")
        .order("frequency, monetary_value")
        .fetchnumpy()
    )
    return found["frequency"], found["monetary_value"].astype(float)


def used_bgnbd_params(fits_relation, fit_name: str) -> dict[str, float] | None:
    """The BG/NBD estimates of ``fit_name`` from the int_clv_fits relation, if used."""
    return bgnbd_params_from_rows(fits_relation.arrow().read_all().to_pylist(), fit_name)


def bgnbd_params_from_rows(rows, fit_name: str) -> dict[str, float] | None:
    """(r, alpha, a, b) of ``fit_name`` from PARAMS_SCHEMA rows; None if not usable."""
    found = {
        row["parameter"]: row["value"]
        for row in rows
        if row["fit"] == fit_name
        and row["model"] == "bgnbd"
        and row["value"] is not None
        and row["is_used"]
    }
    if set(found) != set(btyd.BGNBD_PARAMS):
        return None
    return {k: float(found[k]) for k in btyd.BGNBD_PARAMS}


# ------------------------------------------------------------------------ predictions


def _pairs(x: np.ndarray, T: np.ndarray):
    keys, inverse = np.unique(np.column_stack([x, T]), axis=0, return_inverse=True)
    return keys[:, 0], keys[:, 1], inverse.ravel()


def conditional_factors(params, x, T, grid) -> tuple[np.ndarray, np.ndarray]:
    """g(x, T, t) for every row and grid point t: E[Y(t) | alive] (eq. 10 / P(alive)).

    Returns (matrix of shape (rows, len(grid)), inverse) where the matrix rows
    are distinct (x, T) pairs and ``inverse`` maps input rows onto them.
    """
    r, alpha, a, b = (params[k] for k in btyd.BGNBD_PARAMS)
    xu, Tu, inverse = _pairs(np.asarray(x, float), np.asarray(T, float))
    grid = np.asarray(grid, dtype=float)
    out = np.zeros((xu.size, grid.size))
    for j, t in enumerate(grid):
        if t > 0:
            out[:, j] = btyd._expected(r, alpha, a, b, np.full(xu.size, t), xu, Tu)
    return out, inverse


def discount_grid(horizon_days: float) -> np.ndarray:
    """Month ends up to the horizon (the horizon itself is the last point)."""
    steps = np.arange(1, math.floor(horizon_days / DISCOUNT_STEP_DAYS) + 1) * DISCOUNT_STEP_DAYS
    return np.unique(np.append(steps[steps < horizon_days], horizon_days))


def predict_tuples(params, x, t_x, T, horizons, annual_discount_rate: float) -> dict:
    """Per tuple and horizon: p_alive, expected_purchases, discounted_purchases.

    Discounted purchases = Σ_k (E[Y(t_k)] - E[Y(t_(k-1))]) / (1 + d)^(t_k / 365.25)
    over month ends t_k up to the horizon: the purchases expected in a month
    are discounted to the month's end. Long format: rows = tuples × horizons.
    """
    x, t_x, T = (np.asarray(v, dtype=float).ravel() for v in (x, t_x, T))
    horizons = sorted({int(h) for h in horizons})
    if not horizons or horizons[0] <= 0:
        raise ValueError(f"horizons must be positive day counts, got {horizons}")
    if annual_discount_rate <= -1:
        raise ValueError("the discount rate must be > -1")
    p_alive = btyd.bgnbd_p_alive(params, x, t_x, T) if x.size else np.zeros(0)
    # g on the union of every horizon's month ends, each horizon then summing over
    # its own points only: a horizon's value must not depend on the others listed.
    grids = {h: discount_grid(h) for h in horizons}
    grid = np.unique(np.concatenate(list(grids.values())))
    g, inverse = conditional_factors(params, x, T, np.concatenate([[0.0], grid]))
    out = {k: [] for k in ("x", "t_x", "T", "horizon_days", "p_alive", "expected", "discounted")}
    for h in horizons:
        own = np.concatenate([[0], 1 + np.searchsorted(grid, grids[h])])  # columns of g
        cumulative = g[:, own]
        factor = (1.0 + annual_discount_rate) ** (-grids[h] / DAYS_PER_YEAR)
        discounted_pairs = np.diff(cumulative, axis=1) @ factor
        out["x"].append(x)
        out["t_x"].append(t_x)
        out["T"].append(T)
        out["horizon_days"].append(np.full(x.size, h))
        out["p_alive"].append(p_alive)
        out["expected"].append(p_alive * cumulative[:, -1][inverse])
        out["discounted"].append(p_alive * discounted_pairs[inverse])
    return {k: np.concatenate(v) if v else np.zeros(0) for k, v in out.items()}


def cumulative_purchases(params, x, t_x, T, grid) -> tuple[np.ndarray, np.ndarray]:
    """(p_alive per row, expected purchases by each grid point: shape (rows, len(grid)))."""
    x, t_x, T = (np.asarray(v, dtype=float).ravel() for v in (x, t_x, T))
    p_alive = btyd.bgnbd_p_alive(params, x, t_x, T)
    g, inverse = conditional_factors(params, x, T, grid)
    return p_alive, p_alive[:, None] * g[inverse]
