"""BG/NBD and Gamma-Gamma models fitted by maximum likelihood (numpy/scipy only).

Inputs follow the ``customer_value`` BTYD conventions, in days:

- ``x``: frequency, the number of repeat purchase days;
- ``t_x``: recency, days from the first to the last purchase day (0 when x = 0);
- ``T``: days from the first purchase day to as_of.

References:

- P. S. Fader, B. G. S. Hardie, K. L. Lee (2005), "Counting your customers the
  easy way: an alternative to the Pareto/NBD model", Marketing Science 24(2).
  Eq. (6) likelihood, eq. (10) conditional expectation, eq. (11) P(alive).
- P. S. Fader, B. G. S. Hardie (2013), "The Gamma-Gamma model of monetary
  value" (note), and Fader, Hardie & Lee (2005), "RFM and CLV: using iso-value
  curves for customer base analysis", JMR 42(4).

Every fit works on weighted rows: ``collapse`` turns identical (x, t_x, T)
tuples into one row with a weight, so the cost of a fit depends on the number
of distinct tuples, not on the number of customers.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import integrate, optimize, special

BGNBD_PARAMS = ("r", "alpha", "a", "b")
GAMMA_GAMMA_PARAMS = ("p", "q", "gamma")

# Bounds of the log-parameters for L-BFGS-B; a solution on a bound is reported
# as not converged (the likelihood is still increasing towards a degenerate model).
_LOG_BOUND = 20.0


@dataclass
class FitResult:
    """Result of a maximum-likelihood fit."""

    model: str
    params: dict[str, float]
    log_likelihood: float
    n_customers: float  # sum of the weights
    n_tuples: int  # number of rows given to the optimiser
    converged: bool
    message: str
    iterations: int
    seconds: float
    start: dict[str, float] = field(default_factory=dict)
    std_errors: dict[str, float] = field(default_factory=dict)  # empty = not available


ParamsLike = Mapping[str, float] | Sequence[float] | np.ndarray | FitResult


def _params(params: ParamsLike, names: tuple[str, ...]) -> tuple[float, ...]:
    if isinstance(params, FitResult):
        params = params.params
    if isinstance(params, Mapping):
        values = tuple(float(params[n]) for n in names)
    else:
        values = tuple(float(v) for v in params)
        if len(values) != len(names):
            raise ValueError(f"expected {len(names)} parameters {names}, got {len(values)}")
    if not all(np.isfinite(v) and v > 0 for v in values):
        raise ValueError(f"parameters {names} must be finite and > 0, got {values}")
    return values


def _weights(weights, n: int) -> np.ndarray:
    if weights is None:
        return np.ones(n)
    w = np.asarray(weights, dtype=float)
    if w.shape != (n,):
        raise ValueError(f"weights must have shape ({n},), got {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("weights must be finite and >= 0")
    return w


def _rft(x, t_x, T) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    x, t_x, T = np.broadcast_arrays(x, t_x, T)
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(t_x)) and np.all(np.isfinite(T))):
        raise ValueError("x, t_x and T must be finite")
    if np.any(x < 0) or np.any(x != np.floor(x)):
        raise ValueError("x must be a non-negative integer count")
    if np.any(t_x < 0) or np.any(t_x > T):
        raise ValueError("need 0 <= t_x <= T")
    if np.any((x == 0) & (t_x != 0)):
        raise ValueError("t_x must be 0 when x = 0")
    return x, t_x, T


def collapse(x, t_x, T, weights=None):
    """Collapse identical (x, t_x, T) tuples into one weighted row.

    Returns ``(x, t_x, T, weights)`` as float arrays, sorted by (x, t_x, T);
    input weights (default 1 per row) are summed within a tuple.
    """
    x, t_x, T = _rft(x, t_x, T)
    x, t_x, T = x.ravel(), t_x.ravel(), T.ravel()
    w = _weights(None if weights is None else np.ravel(weights), x.size)
    if x.size == 0:
        return x, t_x, T, w
    keys, inverse = np.unique(np.column_stack([x, t_x, T]), axis=0, return_inverse=True)
    summed = np.bincount(inverse.ravel(), weights=w, minlength=keys.shape[0])
    return keys[:, 0].copy(), keys[:, 1].copy(), keys[:, 2].copy(), summed


# --------------------------------------------------------------------------- BG/NBD


def bgnbd_log_likelihood_per_customer(params: ParamsLike, x, t_x, T) -> np.ndarray:
    """ln L_i of eq. (6) of Fader, Hardie & Lee (2005), computed in log space.

    ln L = ln A1 + ln A2 + ln(A3 + [x > 0] A4) with
    A1 = Γ(r+x) α^r / Γ(r), A2 = B(a, b+x) / B(a, b), A3 = (α+T)^-(r+x),
    A4 = a / (b+x-1) (α+t_x)^-(r+x); the sum A3 + A4 is a log-sum-exp.
    """
    r, alpha, a, b = _params(params, BGNBD_PARAMS)
    x, t_x, T = _rft(x, t_x, T)
    return _bgnbd_ll(r, alpha, a, b, x, t_x, T)


def _bgnbd_ln_a12(r, alpha, a, b, x) -> np.ndarray:
    """ln(A1 A2) of eq. (6): the part of ln L that depends on x alone."""
    return (
        special.gammaln(r + x)
        - special.gammaln(r)
        + r * np.log(alpha)
        + special.gammaln(a + b)
        + special.gammaln(b + x)
        - special.gammaln(b)
        - special.gammaln(a + b + x)
    )


def _bgnbd_ll(r, alpha, a, b, x, t_x, T) -> np.ndarray:
    """Core of ``bgnbd_log_likelihood_per_customer`` on validated arrays."""
    ln_a12 = _bgnbd_ln_a12(r, alpha, a, b, x)
    ln_a3 = -(r + x) * np.log(alpha + T)
    repeat = x > 0
    # b + x - 1 > 0 whenever x >= 1; the placeholder keeps the log finite for x = 0.
    ln_a4 = np.log(a) - np.log(np.where(repeat, b + x - 1.0, 1.0)) - (r + x) * np.log(alpha + t_x)
    ln_sum = np.where(repeat, np.logaddexp(ln_a3, ln_a4), ln_a3)
    return ln_a12 + ln_sum


def bgnbd_log_likelihood(params: ParamsLike, x, t_x, T, weights=None) -> float:
    """Weighted sum of the BG/NBD log-likelihood over rows."""
    ll = bgnbd_log_likelihood_per_customer(params, x, t_x, T)
    return float(np.sum(_weights(weights, ll.size) * ll.ravel()))


# A function of the natural parameters returning (weighted sum of ln L, its gradient).
LogLikGrad = Callable[[tuple[float, ...]], tuple[float, np.ndarray]]


def _fit(
    model: str,
    names: tuple[str, ...],
    loglik_grad: LogLikGrad,
    total: float,
    n_tuples: int,
    start: tuple[float, ...],
    maxiter: int,
) -> FitResult:
    """Maximise ln L over θ = log(params) with L-BFGS-B and the analytic gradient.

    The objective is the mean negative log-likelihood per customer: O(1) whatever
    the sample size, so the tolerances mean the same thing for every data set.
    Standard errors come from the observed information (the Hessian of -ln L,
    by central differences of the analytic gradient) and the delta method.
    """
    t0 = time.perf_counter()
    if total <= 0:
        raise ValueError("need at least one row with a positive weight")

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        params = np.exp(theta)
        with np.errstate(all="ignore"):
            ll, grad = loglik_grad(tuple(params))
        value = -ll / total
        if not (np.isfinite(value) and np.all(np.isfinite(grad))):
            return 1e100, np.zeros_like(theta)
        return value, -grad * params / total  # chain rule: d/dθ = p · d/dp

    theta0 = np.log(np.asarray(start, dtype=float))
    res = optimize.minimize(
        objective,
        theta0,
        jac=True,
        method="L-BFGS-B",
        bounds=[(-_LOG_BOUND, _LOG_BOUND)] * len(names),
        options={"maxiter": maxiter, "ftol": 1e-13, "gtol": 1e-9},
    )
    theta = res.x
    value, grad = objective(theta)
    ll = -value * total
    at_bound = bool(np.any(np.abs(theta) >= _LOG_BOUND - 1e-6))
    grad_norm = float(np.max(np.abs(grad)))
    message = str(res.message)
    # L-BFGS-B may stop with an "abnormal" line search once it sits at the optimum
    # to rounding precision; the gradient test decides in that case.
    converged = bool(np.isfinite(ll) and not at_bound and grad_norm < 1e-5)
    if at_bound:
        message += "; a parameter reached its bound exp(±20)"
    if grad_norm >= 1e-5:
        message += f"; max |gradient| of the mean log-likelihood = {grad_norm:.3g}"
    std_errors = _std_errors(objective, theta, total) if converged else {}
    return FitResult(
        model=model,
        params={n: float(v) for n, v in zip(names, np.exp(theta), strict=True)},
        log_likelihood=float(ll),
        n_customers=total,
        n_tuples=int(n_tuples),
        converged=converged,
        message=message,
        iterations=int(res.nit),
        seconds=time.perf_counter() - t0,
        start={n: float(v) for n, v in zip(names, start, strict=True)},
        std_errors={n: float(v) for n, v in zip(names, std_errors.get("values", []), strict=False)},
    )


def _std_errors(objective, theta: np.ndarray, total: float, h: float = 1e-4) -> dict:
    """Asymptotic standard errors of exp(θ): sqrt(diag(H⁻¹)) · exp(θ) (delta method).

    H is the Hessian of -ln L in θ, by central differences of the analytic
    gradient (symmetrised). Not positive definite = no standard errors.
    """
    k = theta.size
    hess = np.empty((k, k))
    for i in range(k):
        step = np.zeros(k)
        step[i] = h
        hess[i] = (objective(theta + step)[1] - objective(theta - step)[1]) / (2 * h)
    hess = 0.5 * (hess + hess.T) * total
    try:
        cov = np.linalg.inv(hess)
    except np.linalg.LinAlgError:
        return {}
    diag = np.diag(cov)
    if not np.all(np.isfinite(diag)) or np.any(diag <= 0):
        return {}
    return {"values": np.sqrt(diag) * np.exp(theta)}


class _Levels:
    """Distinct values of a column and the index mapping rows onto them."""

    def __init__(self, values: np.ndarray):
        self.values, inverse = np.unique(values, return_inverse=True)
        self.inverse = inverse.ravel()


def _bgnbd_loglik_grad(x, t_x, T, w) -> LogLikGrad:
    """Weighted BG/NBD ln L and its gradient in (r, α, a, b), eq. (6).

    ln L = ln A12(x) + ln(A3 + [x > 0] A4) (see ``_bgnbd_ll``). The gamma and
    digamma functions are evaluated per distinct x and the logarithms per
    distinct T and t_x, so a call costs a few vector passes over the rows.
    With π4 = A4 / (A3 + A4) the share of the "dropped out at t_x" branch:
    ∂/∂r = ψ(r+x) - ψ(r) + ln α - (1-π4) ln(α+T) - π4 ln(α+t_x),
    ∂/∂α = r/α - (r+x) [(1-π4)/(α+T) + π4/(α+t_x)],
    ∂/∂a = ψ(a+b) - ψ(a+b+x) + π4/a,
    ∂/∂b = ψ(a+b) + ψ(b+x) - ψ(b) - ψ(a+b+x) - π4/(b+x-1).
    """
    keep = w > 0
    x, t_x, T, w = x[keep], t_x[keep], T[keep], w[keep]
    xs, ts, tx = _Levels(x), _Levels(T), _Levels(t_x)
    wx = np.bincount(xs.inverse, weights=w, minlength=xs.values.size)  # weight per x level
    repeat = x > 0

    def f(params):
        r, alpha, a, b = params
        xu = xs.values
        ln_a12 = _bgnbd_ln_a12(r, alpha, a, b, xu)
        log_aT = np.log(alpha + ts.values)[ts.inverse]
        log_atx = np.log(alpha + tx.values)[tx.inverse]
        rx = r + x
        ln_a3 = -rx * log_aT
        log_bx1 = np.log(np.where(repeat, b + x - 1.0, 1.0))
        ln_a4 = np.log(a) - log_bx1 - rx * log_atx
        ln_sum = np.where(repeat, np.logaddexp(ln_a3, ln_a4), ln_a3)
        pi4 = np.where(repeat, np.exp(ln_a4 - ln_sum), 0.0)
        ll = float(wx @ ln_a12 + w @ ln_sum)
        pi3 = 1.0 - pi4
        wpi4 = w * pi4
        inv_aT = (1.0 / (alpha + ts.values))[ts.inverse]
        inv_atx = (1.0 / (alpha + tx.values))[tx.inverse]
        d_r = wx @ (special.digamma(r + xu) - special.digamma(r) + np.log(alpha)) - (
            (w * pi3) @ log_aT + wpi4 @ log_atx
        )
        d_alpha = wx.sum() * r / alpha - (w * rx) @ (pi3 * inv_aT + pi4 * inv_atx)
        dig_ab = special.digamma(a + b)
        dig_abx = special.digamma(a + b + xu)
        d_a = wx @ (dig_ab - dig_abx) + wpi4.sum() / a
        d_b = wx @ (dig_ab + special.digamma(b + xu) - special.digamma(b) - dig_abx) - wpi4 @ (
            np.where(repeat, 1.0 / np.where(repeat, b + x - 1.0, 1.0), 0.0)
        )
        return ll, np.array([d_r, d_alpha, d_a, d_b])

    return f


def fit_bgnbd(x, t_x, T, weights=None, start: ParamsLike | None = None, maxiter: int = 1000):
    """Maximum-likelihood BG/NBD fit over log(r, α, a, b) with L-BFGS-B.

    Default start: r = 1, α = weighted mean of T, a = 1, b = 1. Pass the output
    of ``collapse`` (with its weights) to fit on distinct tuples only.
    """
    x, t_x, T = (v.ravel() for v in _rft(x, t_x, T))
    w = _weights(None if weights is None else np.ravel(weights), x.size)
    if start is None:
        mean_t = float(np.sum(w * T) / np.sum(w)) if np.sum(w) > 0 else 1.0
        start = (1.0, max(mean_t, 1e-3), 1.0, 1.0)
    else:
        start = _params(start, BGNBD_PARAMS)
    return _fit(
        "bgnbd",
        BGNBD_PARAMS,
        _bgnbd_loglik_grad(x, t_x, T, w),
        float(np.sum(w)),
        x.size,
        start,
        maxiter,
    )


def bgnbd_p_alive(params: ParamsLike, x, t_x, T) -> np.ndarray:
    """P(alive at T | x, t_x, T), eq. (11); exactly 1 when x = 0."""
    r, alpha, a, b = _params(params, BGNBD_PARAMS)
    x, t_x, T = _rft(x, t_x, T)
    repeat = x > 0
    log_odds_dead = (
        np.log(a)
        - np.log(np.where(repeat, b + x - 1.0, 1.0))
        + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
    )
    return np.where(repeat, special.expit(-log_odds_dead), 1.0)


def _one_minus_scaled_2f1(r, alpha, a, b, t, x, T):
    """1 - ((α+T)/(α+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; t/(α+T+t)).

    Uses Euler's transformation 2F1(A, B; c; z) = (1-z)^(c-A-B) 2F1(c-A, c-B; c; z)
    when the direct evaluation is not finite; the transformed form is
    1 - (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z).
    """
    z = t / (alpha + T + t)
    log_1mz = np.log(alpha + T) - np.log(alpha + T + t)
    c = a + b + x - 1.0
    with np.errstate(all="ignore"):
        direct = 1.0 - np.exp((r + x) * log_1mz) * special.hyp2f1(r + x, b + x, c, z)
        euler = 1.0 - np.exp((a - 1.0) * log_1mz) * special.hyp2f1(a + b - 1.0 - r, a - 1.0, c, z)
    return np.where(np.isfinite(direct), direct, euler)


def _expected(r, alpha, a, b, t, x, T):
    """(a+b+x-1)/(a-1) · [1 - ...2F1...] (eq. 10 without the P(alive) denominator).

    Rows where the hypergeometric route is not finite (large x and t) fall back
    to the integral it solves, by adaptive quadrature.
    """
    with np.errstate(all="ignore"):
        value = np.asarray(_expected_closed_form(r, alpha, a, b, t, x, T), dtype=float)
    bad = ~np.isfinite(value) & (t > 0)
    if np.any(bad):
        value = value.copy()
        for i in zip(*np.nonzero(bad), strict=True):
            value[i] = _expected_given_alive_by_quadrature(r, alpha, a, b, t[i], x[i], T[i])
    return value


def _expected_given_alive_by_quadrature(r, alpha, a, b, t, x, T) -> float:
    """E[(1 - e^(-λpt)) / p] with λ ~ Gamma(r+x, rate α+T), p ~ Beta(a, b+x).

    Given alive at T, the posterior of (λ, p) is this product of independent
    distributions; integrating λ out gives ((α+T)/(α+T+pt))^(r+x), and p is
    integrated with the algebraic weight p^(a-1) (1-p)^(b+x-1).
    """
    scale = float(t) / (alpha + float(T))
    shape = r + float(x)

    def integrand(p: float) -> float:
        if p == 0.0:
            return shape * scale
        return -np.expm1(-shape * np.log1p(p * scale)) / p

    with warnings.catch_warnings():
        # QUADPACK may report round-off near the requested 1e-10; the result is
        # still accurate to about that level (checked against the closed form).
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        value, _ = integrate.quad(
            integrand,
            0.0,
            1.0,
            weight="alg",
            wvar=(a - 1.0, b + float(x) - 1.0),
            epsabs=0.0,
            epsrel=1e-10,
            limit=500,
        )
    return float(value / np.exp(special.betaln(a, b + float(x))))


def _expected_closed_form(r, alpha, a, b, t, x, T):
    if abs(a - 1.0) < 1e-7:
        # Removable singularity at a = 1: average the two sides, O(h²) ≈ 1e-10
        # relative error, while the cancellation error is ≈ 1e-16 / h.
        h = 1e-5
        return 0.5 * (
            _expected_raw(r, alpha, 1.0 - h, b, t, x, T)
            + _expected_raw(r, alpha, 1.0 + h, b, t, x, T)
        )
    return _expected_raw(r, alpha, a, b, t, x, T)


def _expected_raw(r, alpha, a, b, t, x, T):
    return (a + b + x - 1.0) / (a - 1.0) * _one_minus_scaled_2f1(r, alpha, a, b, t, x, T)


def bgnbd_expected_purchases(params: ParamsLike, t, x, t_x, T) -> np.ndarray:
    """E[Y(t) | x, t_x, T]: expected purchases in (T, T + t], eq. (10).

    Equal to P(alive) · (a+b+x-1)/(a-1) · [1 - ((α+T)/(α+T+t))^(r+x)
    2F1(r+x, b+x; a+b+x-1; t/(α+T+t))]. Returns 0 for t = 0; where scipy's
    hyp2f1 is not finite the same quantity is integrated numerically.
    """
    r, alpha, a, b = _params(params, BGNBD_PARAMS)
    x, t_x, T = _rft(x, t_x, T)
    t = np.asarray(t, dtype=float)
    if np.any(t < 0) or not np.all(np.isfinite(t)):
        raise ValueError("t must be finite and >= 0")
    t, x, t_x, T = np.broadcast_arrays(t, x, t_x, T)
    value = _expected(r, alpha, a, b, t, x, T) * bgnbd_p_alive((r, alpha, a, b), x, t_x, T)
    value = np.where(t == 0, 0.0, value)
    return np.where(np.isfinite(value), np.maximum(value, 0.0), np.nan)


def bgnbd_expected_purchases_new(params: ParamsLike, t) -> np.ndarray:
    """Unconditional E[X(t)]: expected repeat purchases in (0, t] for a new customer.

    (a+b-1)/(a-1) · [1 - (α/(α+t))^r 2F1(r, b; a+b-1; t/(α+t))], eq. (9).
    """
    r, alpha, a, b = _params(params, BGNBD_PARAMS)
    t = np.asarray(t, dtype=float)
    if np.any(t < 0) or not np.all(np.isfinite(t)):
        raise ValueError("t must be finite and >= 0")
    zero = np.zeros_like(t)
    value = _expected(r, alpha, a, b, t, zero, zero)
    value = np.where(t == 0, 0.0, value)
    return np.where(np.isfinite(value), np.maximum(value, 0.0), np.nan)


# ---------------------------------------------------------------------- Gamma-Gamma


def _xm(x, m_x) -> tuple[np.ndarray, np.ndarray]:
    x, m_x = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(m_x, dtype=float))
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(m_x))):
        raise ValueError("x and m_x must be finite")
    if np.any(x <= 0) or np.any(x != np.floor(x)):
        raise ValueError("Gamma-Gamma needs x >= 1 repeat purchases (integer)")
    if np.any(m_x <= 0):
        raise ValueError("Gamma-Gamma needs a positive mean spend m_x")
    return x, m_x


def gamma_gamma_log_likelihood_per_customer(params: ParamsLike, x, m_x) -> np.ndarray:
    """ln f(m_x | p, q, γ; x) of the Gamma-Gamma model (Fader & Hardie 2013).

    f = Γ(px+q) / (Γ(px) Γ(q)) · γ^q m_x^(px-1) x^(px) / (γ + m_x x)^(px+q).
    """
    p, q, gamma = _params(params, GAMMA_GAMMA_PARAMS)
    x, m_x = _xm(x, m_x)
    return _gamma_gamma_ll(p, q, gamma, x, m_x)


def _gamma_gamma_ll(p, q, gamma, x, m_x) -> np.ndarray:
    """Core of ``gamma_gamma_log_likelihood_per_customer`` on validated arrays."""
    px = p * x
    return (
        special.gammaln(px + q)
        - special.gammaln(px)
        + px * np.log(x)
        - special.gammaln(q)
        + q * np.log(gamma)
        + (px - 1.0) * np.log(m_x)
        - (px + q) * np.log(gamma + m_x * x)
    )


def gamma_gamma_log_likelihood(params: ParamsLike, x, m_x, weights=None) -> float:
    """Weighted sum of the Gamma-Gamma log-likelihood over rows."""
    ll = gamma_gamma_log_likelihood_per_customer(params, x, m_x)
    return float(np.sum(_weights(weights, ll.size) * ll.ravel()))


def _gamma_gamma_loglik_grad(x, m_x, w) -> LogLikGrad:
    """Weighted Gamma-Gamma ln L and its gradient in (p, q, γ).

    With v = γ + m_x x: ∂/∂p = x [ψ(px+q) - ψ(px) + ln x + ln m_x - ln v],
    ∂/∂q = ψ(px+q) - ψ(q) + ln γ - ln v, ∂/∂γ = q/γ - (px+q)/v. Per call: one
    logarithm and one reciprocal per row; the rest is per distinct x or
    precomputed sums.
    """
    keep = w > 0
    x, m_x, w = x[keep], m_x[keep], w[keep]
    xs = _Levels(x)
    wx = np.bincount(xs.inverse, weights=w, minlength=xs.values.size)
    mx = m_x * x
    wxr = w * x
    log_m = np.log(m_x)
    sum_w = float(w.sum())
    sum_wx_logm = float(wxr @ log_m)
    sum_w_logm = float(w @ log_m)

    def f(params):
        p, q, gamma = params
        xu = xs.values
        v = gamma + mx
        log_v = np.log(v)
        inv_v = 1.0 / v
        s_wx_logv, s_w_logv = float(wxr @ log_v), float(w @ log_v)
        s_wx_invv, s_w_invv = float(wxr @ inv_v), float(w @ inv_v)
        by_x = special.gammaln(p * xu + q) - special.gammaln(p * xu) + p * xu * np.log(xu)
        ll = (
            float(wx @ by_x)
            + sum_w * (q * np.log(gamma) - special.gammaln(q))
            + p * sum_wx_logm
            - sum_w_logm
            - p * s_wx_logv
            - q * s_w_logv
        )
        dig_pxq = special.digamma(p * xu + q)
        d_p = float(wx @ (xu * (dig_pxq - special.digamma(p * xu) + np.log(xu))))
        d_p += sum_wx_logm - s_wx_logv
        d_q = float(wx @ dig_pxq) - sum_w * special.digamma(q) + sum_w * np.log(gamma) - s_w_logv
        d_gamma = sum_w * q / gamma - (p * s_wx_invv + q * s_w_invv)
        return ll, np.array([d_p, d_q, d_gamma])

    return f


def fit_gamma_gamma(x, m_x, weights=None, start: ParamsLike | None = None, maxiter: int = 1000):
    """Maximum-likelihood Gamma-Gamma fit over log(p, q, γ) with L-BFGS-B.

    Default start: p = 1, q = 2, γ = weighted mean of m_x (so that the population
    mean pγ/(q-1) starts at the observed mean spend).
    """
    x, m_x = (v.ravel() for v in _xm(x, m_x))
    w = _weights(None if weights is None else np.ravel(weights), x.size)
    if start is None:
        mean_m = float(np.sum(w * m_x) / np.sum(w)) if np.sum(w) > 0 else 1.0
        start = (1.0, 2.0, mean_m)
    else:
        start = _params(start, GAMMA_GAMMA_PARAMS)
    return _fit(
        "gamma_gamma",
        GAMMA_GAMMA_PARAMS,
        _gamma_gamma_loglik_grad(x, m_x, w),
        float(np.sum(w)),
        x.size,
        start,
        maxiter,
    )


def gamma_gamma_expected_spend(params: ParamsLike, x, m_x) -> np.ndarray:
    """E[M | p, q, γ, m_x, x] = p (γ + m_x x) / (p x + q - 1).

    For x = 0 (no repeat purchase, m_x ignored) this is the population mean.
    """
    p, q, gamma = _params(params, GAMMA_GAMMA_PARAMS)
    x, m_x = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(m_x, dtype=float))
    if np.any(x < 0):
        raise ValueError("x must be >= 0")
    m_x = np.where(x > 0, m_x, 0.0)
    denom = p * x + q - 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denom > 0, p * (gamma + m_x * x) / denom, np.inf)


def gamma_gamma_population_mean(params: ParamsLike) -> float:
    """E[M] = p γ / (q - 1), the mean spend per transaction; infinite when q <= 1."""
    p, q, gamma = _params(params, GAMMA_GAMMA_PARAMS)
    return p * gamma / (q - 1.0) if q > 1.0 else float("inf")
