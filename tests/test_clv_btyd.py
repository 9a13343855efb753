"""BG/NBD and Gamma-Gamma (crm.clv.btyd) against independent computations.

The references here do not reuse the module's formulas: likelihoods and
expectations are recomputed by numerical integration over the individual-level
parameters (scipy.integrate.quad), by the paper's formula written in plain
float arithmetic, or by simulating the buying process itself.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from crm.clv import btyd

TRUE_BGNBD = {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5}
TRUE_GG = {"p": 6.0, "q": 4.0, "gamma": 15.0}


def simulate_bgnbd(rng, n, r, alpha, a, b, T_low, T_high, future=0.0):
    """Simulate the BG/NBD process (Fader, Hardie & Lee 2005, section 3).

    Each customer makes a first purchase at time 0, then repeat purchases as a
    Poisson process with rate λ ~ Gamma(r, rate α) and, after each repeat
    purchase, drops out with probability p ~ Beta(a, b). J ~ Geometric(p) is the
    repeat purchase after which the customer drops out. Given N(T) = N arrivals
    in (0, T], the arrival times are N sorted uniforms on (0, T], so the x-th one
    is T · Beta(x, N - x + 1). Returns x, t_x, T and the number of purchases in
    (T, T + future].
    """
    lam = rng.gamma(r, 1.0 / alpha, n)
    p = rng.beta(a, b, n)
    T = rng.uniform(T_low, T_high, n)
    J = rng.geometric(p)
    N = rng.poisson(lam * T)
    x = np.minimum(J, N)
    t_x = np.zeros(n)
    pos = x > 0
    t_x[pos] = T[pos] * rng.beta(x[pos], N[pos] - x[pos] + 1)
    # Alive at T iff the customer has not reached purchase J yet; the process is
    # memoryless, so the future is min(remaining purchases, Poisson(λ · future)).
    alive = J > N
    y = np.where(alive, np.minimum(J - N, rng.poisson(lam * future)), 0)
    return x.astype(float), t_x, T, y.astype(float)


# ---------------------------------------------------------------- quadrature references


def _beta_expectation(f, a, b):
    """E[f(p)] for p ~ Beta(a, b) by quadrature with the algebraic weight p^(a-1)(1-p)^(b-1)."""
    kw = {"weight": "alg", "wvar": (a - 1.0, b - 1.0), "epsabs": 0.0, "epsrel": 1e-13, "limit": 200}
    num = integrate.quad(f, 0.0, 1.0, **kw)[0]
    den = integrate.quad(lambda _: 1.0, 0.0, 1.0, **kw)[0]
    return num / den


def _gamma_moment(shape_extra, rate_extra, r, alpha):
    """E[λ^k e^(-s λ)] for λ ~ Gamma(r, rate α), as a ratio of two quadratures.

    ∫ λ^(r+k-1) e^(-(α+s)λ) dλ / ∫ λ^(r-1) e^(-αλ) dλ, each split at 1/rate so
    that the λ^(r-1) endpoint singularity is handled by an algebraic weight.
    """

    def laplace(power, rate):
        cut = 1.0 / rate
        head = integrate.quad(
            lambda lam: math.exp(-rate * lam),
            0.0,
            cut,
            weight="alg",
            wvar=(power - 1.0, 0.0),
            epsabs=0.0,
            epsrel=1e-13,
            limit=200,
        )[0]
        tail = integrate.quad(
            lambda lam: lam ** (power - 1.0) * math.exp(-rate * lam),
            cut,
            np.inf,
            epsabs=0.0,
            epsrel=1e-13,
            limit=200,
        )[0]
        return head + tail

    return laplace(r + shape_extra, alpha + rate_extra) / laplace(r, alpha)


def _bgnbd_terms_by_quadrature(params, x, t_x, T):
    """The two terms of L(r, α, a, b | x, t_x, T) = ∫∫ L(λ, p | ·) g(λ) f(p) dλ dp.

    Individual level (eq. 3 of the paper): L = (1-p)^x λ^x e^(-λT)
    + [x > 0] p (1-p)^(x-1) λ^x e^(-λ t_x); both terms factor into a p and a λ part.
    """
    r, alpha, a, b = (params[k] for k in ("r", "alpha", "a", "b"))
    alive = _beta_expectation(lambda p: (1 - p) ** x, a, b) * _gamma_moment(x, T, r, alpha)
    dead = 0.0
    if x > 0:
        dead = _beta_expectation(lambda p: p * (1 - p) ** (x - 1), a, b) * _gamma_moment(
            x, t_x, r, alpha
        )
    return alive, dead


CUSTOMERS = [
    (0, 0.0, 38.86),
    (1, 30.43, 38.86),
    (2, 1.71, 38.86),
    (5, 20.0, 32.0),
    (12, 31.5, 33.0),
]
PARAM_SETS = [
    {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426},  # FHL 2005 CDNOW estimates
    {"r": 2.5, "alpha": 12.0, "a": 3.0, "b": 0.7},
    {"r": 0.9, "alpha": 0.5, "a": 1.0, "b": 5.0},  # a = 1: removable singularity in eq. (10)
]


@pytest.mark.parametrize("params", PARAM_SETS)
def test_bgnbd_log_likelihood_matches_quadrature(params):
    x, t_x, T = (np.array(col, dtype=float) for col in zip(*CUSTOMERS, strict=True))
    got = btyd.bgnbd_log_likelihood_per_customer(params, x, t_x, T)
    want = [math.log(sum(_bgnbd_terms_by_quadrature(params, *c))) for c in CUSTOMERS]
    np.testing.assert_allclose(got, want, rtol=1e-8)
    w = np.array([1.0, 3.0, 0.0, 2.0, 0.5])
    assert btyd.bgnbd_log_likelihood(params, x, t_x, T, w) == pytest.approx(
        float(np.dot(w, want)), rel=1e-8
    )


def test_bgnbd_log_likelihood_matches_plain_formula():
    """Eq. (6) of the paper verbatim with math.lgamma/math.exp, on a grid of small values."""
    r, alpha, a, b = 0.7, 3.0, 1.4, 2.2

    def beta_fn(u, v):
        return math.exp(math.lgamma(u) + math.lgamma(v) - math.lgamma(u + v))

    rows, want = [], []
    for x in range(0, 7):
        for T in (1.0, 7.5, 40.0):
            for frac in (0.0, 0.3, 1.0):
                t_x = 0.0 if x == 0 else frac * T
                common = math.exp(math.lgamma(r + x) - math.lgamma(r)) * alpha**r
                lik = beta_fn(a, b + x) / beta_fn(a, b) * common / (alpha + T) ** (r + x)
                if x > 0:
                    lik += (
                        beta_fn(a + 1, b + x - 1)
                        / beta_fn(a, b)
                        * common
                        / (alpha + t_x) ** (r + x)
                    )
                rows.append((x, t_x, T))
                want.append(math.log(lik))
    x, t_x, T = (np.array(c) for c in zip(*rows, strict=True))
    got = btyd.bgnbd_log_likelihood_per_customer((r, alpha, a, b), x, t_x, T)
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_bgnbd_log_likelihood_is_finite_where_the_direct_formula_overflows():
    params = {"r": 0.5, "alpha": 2.0, "a": 0.5, "b": 3.0}
    x = np.array([400.0, 2000.0, 0.0])
    t_x = np.array([3000.0, 9000.0, 0.0])
    T = np.array([3650.0, 9000.0, 1e7])
    ll = btyd.bgnbd_log_likelihood_per_customer(params, x, t_x, T)
    assert np.all(np.isfinite(ll))
    # A customer whose last purchase is at T: both terms share (α+T)^-(r+x), so
    # L = A1 A2 (α+T)^-(r+x) (1 + a/(b+x-1)) exactly.
    base = btyd.bgnbd_log_likelihood_per_customer(params, x[1:2], t_x[1:2], T[1:2])[0]
    alive_only = btyd.bgnbd_log_likelihood_per_customer(params, [0.0], [0.0], [9000.0])[0]
    assert np.isfinite(base) and np.isfinite(alive_only)
    lhs = base - math.log1p(params["a"] / (params["b"] + 2000 - 1))
    p_alive = btyd.bgnbd_p_alive(params, x[1:2], t_x[1:2], T[1:2])[0]
    assert math.log(p_alive) == pytest.approx(lhs - base, rel=1e-12)


def test_collapse_counts_tuples_and_gives_the_same_fit():
    rng = np.random.default_rng(7)
    # Days: α = 28 days; recency rounded up to whole days as in customer_value.
    x, t_x, T, _ = simulate_bgnbd(rng, 20_000, 0.25, 28.0, 0.8, 2.5, 200, 365)
    T = np.floor(T)
    t_x = np.minimum(np.ceil(t_x), T)
    cx, ct, cT, w = btyd.collapse(x, t_x, T)
    assert w.sum() == x.size and cx.size < x.size / 2
    # Every distinct tuple appears once with its count.
    key = x * 1e8 + t_x * 1e4 + T
    ckey = cx * 1e8 + ct * 1e4 + cT
    assert np.unique(ckey).size == ckey.size
    values, counts = np.unique(key, return_counts=True)
    np.testing.assert_array_equal(np.sort(ckey), values)
    np.testing.assert_array_equal(w[np.argsort(ckey)], counts)
    # Input weights are summed.
    _, _, _, w2 = btyd.collapse(x, t_x, T, weights=np.full(x.size, 0.5))
    np.testing.assert_allclose(w2, w / 2)

    full = btyd.fit_bgnbd(x, t_x, T)
    small = btyd.fit_bgnbd(cx, ct, cT, weights=w)
    assert full.converged and small.converged, (full.message, small.message)
    assert full.n_customers == small.n_customers == x.size
    assert (full.n_tuples, small.n_tuples) == (x.size, cx.size)
    assert small.log_likelihood == pytest.approx(full.log_likelihood, rel=1e-9)
    for k in btyd.BGNBD_PARAMS:
        assert small.params[k] == pytest.approx(full.params[k], rel=1e-5), k
    assert btyd.bgnbd_log_likelihood(full.params, cx, ct, cT, w) == pytest.approx(
        full.log_likelihood, rel=1e-12
    )


def test_bgnbd_parameter_recovery():
    rng = np.random.default_rng(2024)
    x, t_x, T, _ = simulate_bgnbd(rng, 200_000, *TRUE_BGNBD.values(), 52, 78)
    fit = btyd.fit_bgnbd(x, t_x, T)
    assert fit.converged, fit.message
    assert fit.n_customers == 200_000 and fit.iterations > 0 and fit.seconds > 0
    # Tolerances: over 10 seeds at 100k customers the relative errors had standard
    # deviations r 0.6%, α 0.7%, a 2.5%, b 3.0%; at 200k that is ≈ 0.4/0.5/1.8/2.1%,
    # so 3% (r, α) and 8% (a, b) are about 4 standard deviations.
    tol = {"r": 0.03, "alpha": 0.03, "a": 0.08, "b": 0.08}
    for k, true in TRUE_BGNBD.items():
        assert fit.params[k] == pytest.approx(true, rel=tol[k]), (k, fit.params)
    # The maximum beats the true parameters (it is a maximum of the same function).
    assert fit.log_likelihood >= btyd.bgnbd_log_likelihood(TRUE_BGNBD, x, t_x, T)


def test_fit_reports_non_convergence():
    rng = np.random.default_rng(3)
    x, t_x, T, _ = simulate_bgnbd(rng, 2_000, *TRUE_BGNBD.values(), 30, 40)
    fit = btyd.fit_bgnbd(x, t_x, T, maxiter=2)
    assert not fit.converged and fit.iterations <= 2


def test_inputs_are_validated():
    with pytest.raises(ValueError):
        btyd.bgnbd_log_likelihood(TRUE_BGNBD, [1], [5.0], [4.0])  # t_x > T
    with pytest.raises(ValueError):
        btyd.bgnbd_log_likelihood(TRUE_BGNBD, [0], [1.0], [4.0])  # t_x > 0 with no repeat
    with pytest.raises(ValueError):
        btyd.bgnbd_log_likelihood({**TRUE_BGNBD, "a": -1.0}, [0], [0.0], [4.0])
    with pytest.raises(ValueError):
        btyd.gamma_gamma_log_likelihood(TRUE_GG, [0], [10.0])  # needs x > 0


# --------------------------------------------------------------------- P(alive), E[Y(t)]


def test_p_alive_identities_and_monotonicity():
    params = PARAM_SETS[0]
    # No repeat purchase: the customer cannot have dropped out (dropout follows a purchase).
    np.testing.assert_array_equal(btyd.bgnbd_p_alive(params, [0, 0], [0, 0], [1.0, 1e6]), 1.0)
    # Equals the posterior share of the "alive" term of the likelihood.
    for c in CUSTOMERS[1:]:
        alive, dead = _bgnbd_terms_by_quadrature(params, *c)
        assert btyd.bgnbd_p_alive(params, *c) == pytest.approx(alive / (alive + dead), rel=1e-8)
    # Decreasing in T (longer silence), increasing in t_x (more recent last purchase).
    T = np.linspace(10, 500, 50)
    pa = btyd.bgnbd_p_alive(params, 3, 10.0, T)
    assert np.all(np.diff(pa) < 0) and np.all((pa > 0) & (pa < 1))
    pt = btyd.bgnbd_p_alive(params, 3, np.linspace(1, 100, 50), 100.0)
    assert np.all(np.diff(pt) > 0) and pt[-1] == pytest.approx(1 / (1 + 0.793 / (2.426 + 2)))


def _expected_by_quadrature(params, t, x, t_x, T):
    """E[Y(t) | x, t_x, T] = P(alive) E[(1 - e^(-λpt)) / p | alive].

    Given alive at T the posterior is λ ~ Gamma(r+x, α+T), p ~ Beta(a, b+x),
    independent; E[e^(-λpt)] over λ is ((α+T)/(α+T+pt))^(r+x).
    """
    r, alpha, a, b = (params[k] for k in ("r", "alpha", "a", "b"))
    alive, dead = _bgnbd_terms_by_quadrature(params, x, t_x, T)

    def future(p):
        if p == 0.0:  # limit p -> 0: λt purchases in expectation
            return (r + x) * t / (alpha + T)
        return -math.expm1(-(r + x) * math.log1p(p * t / (alpha + T))) / p

    given_alive = _beta_expectation(future, a, b + x)
    return alive / (alive + dead) * given_alive


@pytest.mark.parametrize("params", PARAM_SETS)
def test_expected_purchases_match_quadrature(params):
    for t in (1.0, 39.0, 400.0):
        for c in CUSTOMERS:
            got = btyd.bgnbd_expected_purchases(params, t, *c)
            assert got == pytest.approx(_expected_by_quadrature(params, t, *c), rel=1e-8), (t, c)
        # Unconditional E[X(t)] is the conditional one for a customer observed for T = 0.
        want = _expected_by_quadrature(params, t, 0, 0.0, 0.0)
        new = btyd.bgnbd_expected_purchases_new(params, t)
        assert new == pytest.approx(want, rel=1e-8)
        assert btyd.bgnbd_expected_purchases(params, t, 0, 0.0, 0.0) == pytest.approx(
            new, rel=1e-12
        )
    assert btyd.bgnbd_expected_purchases(params, 0.0, 3, 10.0, 20.0) == 0.0
    # Increasing in t.
    grid = btyd.bgnbd_expected_purchases(params, np.linspace(0, 1000, 30), 2, 15.0, 40.0)
    assert np.all(np.diff(grid) > 0)


def test_expected_purchases_match_simulation():
    rng = np.random.default_rng(11)
    horizon = 52.0
    x, t_x, T, y = simulate_bgnbd(rng, 200_000, *TRUE_BGNBD.values(), 30, 40, future=horizon)
    pred = btyd.bgnbd_expected_purchases(TRUE_BGNBD, horizon, x, t_x, T)
    groups = {"x=0": x == 0, "x=1": x == 1, "x=2-3": (x >= 2) & (x <= 3), "x>=4": x >= 4}
    for name, g in groups.items():
        # Only Monte Carlo error separates the two means: 4 standard errors.
        se = y[g].std() / math.sqrt(g.sum())
        assert abs(y[g].mean() - pred[g].mean()) < 4 * se, (name, y[g].mean(), pred[g].mean(), se)
    # Unconditional: repeat purchases in (0, t] of customers observed for exactly t.
    x2, _, _, _ = simulate_bgnbd(rng, 200_000, *TRUE_BGNBD.values(), 39.0, 39.0)
    se = x2.std() / math.sqrt(x2.size)
    assert abs(x2.mean() - btyd.bgnbd_expected_purchases_new(TRUE_BGNBD, 39.0)) < 4 * se


# ------------------------------------------------------------------------ Gamma-Gamma


def simulate_gamma_gamma(rng, n, p, q, gamma, max_x=14):
    """ν ~ Gamma(q, rate γ); each of x spends ~ Gamma(p, rate ν); m_x their mean."""
    x = rng.integers(1, max_x + 1, n).astype(float)
    nu = rng.gamma(q, 1.0 / gamma, n)
    m_x = rng.gamma(p * x, 1.0 / nu) / x  # the sum of x Gamma(p, ν) is Gamma(px, ν)
    return x, m_x, p / nu  # p / ν is the customer's true mean spend


def test_gamma_gamma_log_likelihood_matches_quadrature():
    params = {"p": 6.25, "q": 3.74, "gamma": 15.44}  # Fader & Hardie (2013) CDNOW values
    rows = [(1, 5.0), (2, 35.0), (7, 12.3), (20, 80.0)]
    x, m_x = (np.array(c, dtype=float) for c in zip(*rows, strict=True))
    got = btyd.gamma_gamma_log_likelihood_per_customer(params, x, m_x)
    for (xi, mi), g in zip(rows, got, strict=True):
        # m_x | ν ~ Gamma(px, rate νx); integrate over ν ~ Gamma(q, rate γ).
        def integrand(nu, xi=xi, mi=mi):
            return stats.gamma.pdf(mi, params["p"] * xi, scale=1 / (nu * xi)) * stats.gamma.pdf(
                nu, params["q"], scale=1 / params["gamma"]
            )

        want = integrate.quad(integrand, 0, np.inf, epsabs=0, epsrel=1e-12, limit=200)[0]
        assert g == pytest.approx(math.log(want), rel=1e-8)
    w = np.array([2.0, 1.0, 0.0, 1.0])
    assert btyd.gamma_gamma_log_likelihood(params, x, m_x, w) == pytest.approx(float(w @ got))


def test_gamma_gamma_parameter_recovery_and_expected_spend():
    rng = np.random.default_rng(5)
    x, m_x, true_mean = simulate_gamma_gamma(rng, 200_000, *TRUE_GG.values())
    fit = btyd.fit_gamma_gamma(x, m_x)
    assert fit.converged, fit.message
    # Over 8 seeds at 200k the relative errors had standard deviations p 1.9%,
    # q 0.35%, γ 1.9% (p and γ trade off), population mean 0.2%: tolerances are
    # about 4 standard deviations.
    tol = {"p": 0.08, "q": 0.02, "gamma": 0.08}
    for k, true in TRUE_GG.items():
        assert fit.params[k] == pytest.approx(true, rel=tol[k]), (k, fit.params)
    assert btyd.gamma_gamma_population_mean(fit.params) == pytest.approx(6.0 * 15.0 / 3.0, rel=0.01)
    assert fit.log_likelihood >= btyd.gamma_gamma_log_likelihood(TRUE_GG, x, m_x)

    # Conditional expectation: E[p/ν | x, m_x] averaged over customers equals the
    # average true mean spend, within each frequency (law of total expectation).
    pred = btyd.gamma_gamma_expected_spend(TRUE_GG, x, m_x)
    for k in (1, 5, 14):
        g = x == k
        se = true_mean[g].std() / math.sqrt(g.sum())
        assert abs(pred[g].mean() - true_mean[g].mean()) < 4 * se, k
        # and it is much closer to the truth than m_x itself for one customer.
    err_model = np.mean((pred - true_mean) ** 2)
    err_raw = np.mean((m_x - true_mean) ** 2)
    assert err_model < err_raw
    # Shrinkage: between the population mean and m_x.
    pop = btyd.gamma_gamma_population_mean(TRUE_GG)
    lo, hi = np.minimum(m_x, pop), np.maximum(m_x, pop)
    assert np.all((pred >= lo - 1e-9) & (pred <= hi + 1e-9))
    assert btyd.gamma_gamma_expected_spend(TRUE_GG, 0, 123.0) == pytest.approx(pop)


def test_expected_purchases_large_values_use_the_integral():
    """Where scipy's hyp2f1 fails (large x and t) the integral route takes over."""
    params = {"r": 2.0, "alpha": 30.0, "a": 3.0, "b": 0.6}
    r, alpha, a, b = params.values()
    # The two routes agree where both work.
    for x, T, t in [(0, 40.0, 52.0), (3, 40.0, 520.0), (300, 3650.0, 30.0), (50, 3650.0, 1e7)]:
        closed = btyd._expected_closed_form(r, alpha, a, b, np.float64(t), np.float64(x), T)
        integral = btyd._expected_given_alive_by_quadrature(r, alpha, a, b, t, x, T)
        assert np.isfinite(closed) and integral == pytest.approx(closed, rel=1e-9)
    # A heavy buyer far ahead: finite, increasing in t, below the t -> ∞ limit
    # P(alive) E[1/p | alive] = P(alive) (a+b+x-1)/(a-1).
    t = np.array([3650.0, 1e5, 1e6, 1e8])
    got = btyd.bgnbd_expected_purchases(params, t, 300, 3640.0, 3650.0)
    limit = btyd.bgnbd_p_alive(params, 300, 3640.0, 3650.0) * (a + b + 300 - 1) / (a - 1)
    assert np.all(np.isfinite(got)) and np.all(np.diff(got) > 0)
    assert got[-1] < limit and got[-1] == pytest.approx(limit, rel=1e-3)


# ------------------------------------------------- published estimates, gradients, errors


def _lifetimes_dataset(name: str):
    """A CSV shipped inside the `lifetimes` wheel (a dev dependency, used for its data only).

    The package itself does not import on current setuptools (pkg_resources), so
    the file is located without importing it.
    """
    import importlib.util
    from pathlib import Path

    import pandas as pd

    spec = importlib.util.find_spec("lifetimes")
    assert spec is not None and spec.submodule_search_locations, "lifetimes is a dev dependency"
    return pd.read_csv(Path(spec.submodule_search_locations[0]) / "datasets" / name)


def test_bgnbd_fit_reproduces_published_cdnow_estimates():
    """Fader, Hardie & Lee (2005), section 5: the CDNOW 1/10th sample, 2,357 customers,
    39 weeks of calibration, time in weeks: r = 0.243, α = 4.414, a = 0.793, b = 2.426,
    LL = -9582.4."""
    df = _lifetimes_dataset("cdnow_customers_summary.csv")
    assert len(df) == 2357
    fit = btyd.fit_bgnbd(df["frequency"], df["recency"], df["T"])
    assert fit.converged, fit.message
    published = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    for name, value in published.items():
        assert fit.params[name] == pytest.approx(value, abs=0.0006), name  # 3 decimals
    assert fit.log_likelihood == pytest.approx(-9582.4, abs=0.05)
    # Collapsed into tuples: the same fit on fewer rows.
    x, t_x, T, w = btyd.collapse(df["frequency"], df["recency"], df["T"])
    again = btyd.fit_bgnbd(x, t_x, T, weights=w)
    assert again.n_tuples < len(df) and again.n_customers == len(df)
    for name in published:
        assert again.params[name] == pytest.approx(fit.params[name], rel=1e-5)


def test_gamma_gamma_fit_reproduces_published_cdnow_estimates():
    """Fader & Hardie (2013), "The Gamma-Gamma model of monetary value": the 946 CDNOW
    sample customers with repeat purchases give p = 6.25, q = 3.74, γ = 15.44."""
    df = _lifetimes_dataset("cdnow_customers_summary_with_transactions.csv")
    repeat = df[df["x"] > 0]
    assert len(repeat) == 946
    fit = btyd.fit_gamma_gamma(repeat["x"], repeat["zbar"])
    assert fit.converged, fit.message
    for name, value in {"p": 6.25, "q": 3.74, "gamma": 15.44}.items():
        assert fit.params[name] == pytest.approx(value, abs=0.01), name


def _numeric_grad(f, params, h=1e-6):
    params = np.asarray(params, dtype=float)
    out = []
    for i in range(params.size):
        step = np.zeros_like(params)
        step[i] = h * params[i]
        out.append((f(params + step) - f(params - step)) / (2 * step[i]))
    return np.array(out)


def test_analytic_gradients_match_numerical_derivatives_of_the_likelihood():
    rng = np.random.default_rng(5)
    x, t_x, T, _ = simulate_bgnbd(rng, 3000, *TRUE_BGNBD.values(), 20, 40)
    w = rng.integers(1, 5, x.size).astype(float)
    for params in PARAM_SETS + [TRUE_BGNBD]:
        theta = [params[k] for k in btyd.BGNBD_PARAMS]
        ll, grad = btyd._bgnbd_loglik_grad(x, t_x, T, w)(tuple(theta))
        assert ll == pytest.approx(btyd.bgnbd_log_likelihood(theta, x, t_x, T, w), rel=1e-12)
        want = _numeric_grad(lambda p: btyd.bgnbd_log_likelihood(p, x, t_x, T, w), theta)
        np.testing.assert_allclose(grad, want, rtol=1e-6, atol=1e-6 * abs(ll))
    xg, m_x, _ = simulate_gamma_gamma(rng, 3000, *TRUE_GG.values())
    for theta in ([6.0, 4.0, 15.0], [0.7, 1.5, 3.0], [20.0, 9.0, 80.0]):
        ll, grad = btyd._gamma_gamma_loglik_grad(xg, m_x, w)(tuple(theta))
        assert ll == pytest.approx(btyd.gamma_gamma_log_likelihood(theta, xg, m_x, w), rel=1e-12)
        want = _numeric_grad(lambda p: btyd.gamma_gamma_log_likelihood(p, xg, m_x, w), theta)
        np.testing.assert_allclose(grad, want, rtol=1e-6, atol=1e-6 * abs(ll))


def test_standard_errors_match_two_independent_estimates_of_the_information():
    """The reported standard errors (inverse observed information, from differences of
    the analytic gradient) against (1) the inverse of the Hessian taken by second
    differences of the public per-customer likelihood, and (2) the outer product of
    the per-customer scores (BHHH), which equals the information only when the model
    is the process that generated the data: both must agree."""
    rng = np.random.default_rng(3)
    x, t_x, T, _ = simulate_bgnbd(rng, 400_000, *TRUE_BGNBD.values(), 30, 40)
    fit = btyd.fit_bgnbd(x, t_x, T)
    assert fit.converged and set(fit.std_errors) == set(btyd.BGNBD_PARAMS)
    reported = np.array([fit.std_errors[k] for k in btyd.BGNBD_PARAMS])
    theta = np.array([fit.params[k] for k in btyd.BGNBD_PARAMS])
    h = 1e-4 * theta
    k = theta.size
    hess = np.zeros((k, k))
    for i in range(k):
        for j in range(k):
            e_i, e_j = np.eye(k)[i] * h[i], np.eye(k)[j] * h[j]
            f = [
                btyd.bgnbd_log_likelihood(theta + si * e_i + sj * e_j, x, t_x, T)
                for si, sj in ((1, 1), (1, -1), (-1, 1), (-1, -1))
            ]
            hess[i, j] = (f[0] - f[1] - f[2] + f[3]) / (4 * h[i] * h[j])
    np.testing.assert_allclose(reported, np.sqrt(np.diag(np.linalg.inv(-hess))), rtol=2e-3)
    scores = np.array(
        [
            (
                btyd.bgnbd_log_likelihood_per_customer(theta + np.eye(k)[i] * h[i], x, t_x, T)
                - btyd.bgnbd_log_likelihood_per_customer(theta - np.eye(k)[i] * h[i], x, t_x, T)
            )
            / (2 * h[i])
            for i in range(k)
        ]
    )
    bhhh = np.sqrt(np.diag(np.linalg.inv(scores @ scores.T)))
    np.testing.assert_allclose(reported, bhhh, rtol=0.05)
    # Errors shrink like 1/sqrt(n): the same tuples weighted x4.
    cx, ct, cT, w = btyd.collapse(x[:20_000], t_x[:20_000], T[:20_000])
    one, four = btyd.fit_bgnbd(cx, ct, cT, weights=w), btyd.fit_bgnbd(cx, ct, cT, weights=4 * w)
    for name in btyd.BGNBD_PARAMS:
        assert four.std_errors[name] == pytest.approx(one.std_errors[name] / 2, rel=1e-3), name
