"""fit_fp_quant: recovers planted precision constants, held exponents, bootstrap, bad input."""

import itertools

import numpy as np
import pytest
from scipy.optimize import minimize

from scalingbook.fit import fit_fp_quant, fp_quant_grid, fp_quant_law
from scalingbook.laws import ChinchillaLaw, FPQuantLaw

TRUE = FPQuantLaw(n=30.0, alpha=0.3, d=300.0, beta=0.4, epsilon=1.5, gamma=400.0, delta=1.5, nu=2.5)
FORMATS = [(1, 2), (2, 1), (2, 3), (3, 2), (4, 3), (5, 2), (1, 4), (3, 1)]


def planted(noise=0.0, seed=0, sizes=((1e5, 1e7), (4e5, 1e7), (1e5, 4e7), (4e5, 4e7)), blocks=(4, 32)):
    rng = np.random.default_rng(seed)
    rows = []
    for (N, D), (E, M), B in itertools.product(sizes, FORMATS, blocks):
        base = TRUE.base.loss(N, D)
        loss = TRUE.loss(N, D, E, M, B) * np.exp(noise * rng.standard_normal())
        rows.append((N, D, E, M, B, loss, base))
    return {k: np.array(v, dtype=float) for k, v in zip(("N", "D", "E", "M", "B", "loss", "base"), zip(*rows))}


def fit(data, **kw):
    return fit_fp_quant(data["N"], data["D"], data["E"], data["M"], data["B"], data["loss"],
                        data["base"], **kw)


def test_recovers_planted_constants_exactly_without_noise():
    result = fit(planted())
    assert result.converged and result.law is not None
    for name in ("gamma", "delta", "nu", "alpha", "beta"):
        assert result.params[name] == pytest.approx(getattr(TRUE, name), rel=1e-4), name
    assert np.abs(result.residuals).max() < 1e-8
    assert result.diagnostics["free"] == ["c", "delta", "nu", "alpha", "beta"]
    assert result.diagnostics["n_at_best"] > 1
    # the returned term is the planted one
    assert result.law(2e5, 2e7, 2, 2, 16) == pytest.approx(TRUE.precision_penalty(2e5, 2e7, 2, 2, 16), rel=1e-4)


def test_held_exponents_fit_one_size_and_only_move_gamma():
    one = planted(sizes=((1e5, 1e7),))
    with pytest.raises(ValueError, match="N has a single distinct value"):
        fit(one)
    held = fit(one, alpha=0.3, beta=0.4)
    assert held.diagnostics["free"] == ["c", "delta", "nu"]
    assert held.diagnostics["held"] == {"alpha": 0.3, "beta": 0.4}
    assert held.params["delta"] == pytest.approx(1.5, rel=1e-5)
    assert held.params["nu"] == pytest.approx(2.5, rel=1e-5)
    assert held.params["gamma"] == pytest.approx(400.0, rel=1e-5)
    # wrong held exponents leave delta, nu alone (one N and D): the mismatch goes into gamma
    other = fit(one, alpha=0.5, beta=0.2)
    assert other.params["delta"] == pytest.approx(1.5, rel=1e-5)
    assert other.params["gamma"] == pytest.approx(400.0 * 1e5**-0.2 * 1e7**-0.2, rel=1e-4)
    assert any("alpha held" in note for note in other.notes)


def test_noisy_fit_lands_near_the_truth_and_matches_a_general_optimizer():
    data = planted(noise=0.0005, seed=3)
    result = fit(data, huber_delta=1e-2)
    assert result.params["delta"] == pytest.approx(1.5, abs=0.3)
    assert result.params["nu"] == pytest.approx(2.5, abs=0.3)
    # Nelder-Mead from our optimum on the same objective cannot improve on it
    def objective(theta):
        gamma, delta, nu, alpha, beta = np.exp(theta[0]), *theta[1:]
        rho = (data["D"] ** beta / data["N"] ** alpha * np.log2(data["B"])
               / (gamma * (data["E"] + 0.5) ** delta * (data["M"] + 0.5) ** nu))
        r = np.log(data["loss"]) - np.log(data["base"] + rho)
        d = 1e-2
        return np.where(np.abs(r) <= d, 0.5 * r * r, d * (np.abs(r) - 0.5 * d)).sum()
    p = result.params
    x0 = np.array([np.log(p["gamma"]), p["delta"], p["nu"], p["alpha"], p["beta"]])
    assert objective(x0) == pytest.approx(result.loss, rel=1e-9)
    nm = minimize(objective, x0, method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-16})
    assert nm.fun >= result.loss * (1 - 1e-7)


def test_bootstrap_is_seeded_and_covers_the_estimate():
    data = planted(noise=0.001, seed=1)
    a = fit(data, bootstrap=30, seed=7, huber_delta=1e-2)
    b = fit(data, bootstrap=30, seed=7, huber_delta=1e-2)
    np.testing.assert_array_equal(a.bootstrap_params, b.bootstrap_params)
    assert a.bootstrap_params.shape == (30, 5)
    for name in ("delta", "nu", "alpha", "beta"):
        lo, hi = a.ci[name]
        assert lo <= a.params[name] <= hi
    pred = a.predict(2e5, 2e7, 2, 2, 16)
    assert pred.low <= pred.value <= pred.high
    held = fit(data, alpha=0.3, beta=0.4, bootstrap=10, seed=0, groups=data["N"] * 10 + data["D"])
    assert set(held.ci) == {"gamma", "delta", "nu"}


def test_a_non_positive_exponent_gives_no_law_and_a_warning():
    data = planted(sizes=((1e5, 1e7),))
    # make more mantissa bits hurt: the fitted nu turns negative. The loss no longer depends on
    # E, so the fitted delta is zero up to rounding, and the warning may name it too.
    data["loss"] = data["base"] + 0.01 * (data["M"] + 0.5) * np.log2(data["B"])
    with pytest.warns(RuntimeWarning, match=r"non-positive (delta, )?nu \("):
        result = fit(data, alpha=0.3, beta=0.4)
    assert result.law is None and result.params["nu"] < 0


def test_default_grid_shape_and_custom_starts():
    assert fp_quant_grid(fit_alpha=False, fit_beta=False).shape == (125, 3)
    assert fp_quant_grid(fit_alpha=True, fit_beta=True).shape == (1125, 5)
    data = planted(sizes=((1e5, 1e7),))
    result = fit(data, alpha=0.3, beta=0.4, starts=[[-8.0, 1.0, 2.0]])
    assert result.n_starts == 1 and result.converged
    assert result.params["nu"] == pytest.approx(2.5, rel=1e-5)
    with pytest.raises(ValueError, match="starts must have shape"):
        fit(data, alpha=0.3, beta=0.4, starts=[[0.0, 1.0, 1.0, 0.5]])


def test_fp_quant_law_joins_a_base_law():
    result = fit(planted())
    base = ChinchillaLaw(E=1.5, A=30.0, B=300.0, alpha=0.3, beta=0.4)
    law = fp_quant_law(result, base)
    assert law.loss(2e5, 2e7, 2, 2, 16) == pytest.approx(TRUE.loss(2e5, 2e7, 2, 2, 16), rel=1e-6)
    with pytest.raises(ValueError, match="base"):
        fp_quant_law(result, "not a law")


def _set_first(key, value):
    def change(data):
        data[key] = data[key].copy()
        data[key][0] = value
    return change


def _set_all(key, value):
    def change(data):
        data[key] = np.full(len(data[key]), value)
    return change


def _drop_last(key):
    def change(data):
        data[key] = data[key][:-1]
    return change


@pytest.mark.parametrize(
    "change, match",
    [
        (_set_first("N", 0.0), "^N must be strictly positive"),
        (_set_first("D", np.nan), "^D contains NaN"),
        (_set_first("E", -1.0), "^E must be zero or more"),
        (_set_first("M", np.inf), "^M contains an infinite"),
        (_set_first("B", 0.5), "^B must be at least 1"),
        (_set_first("B", -4.0), "^B must be strictly positive"),
        (_set_all("B", 1.0), "^B is 1 for every run"),
        (_set_first("loss", -1.0), "^loss must be strictly positive"),
        (_set_first("base", 0.0), "^base_loss must be strictly positive"),
        (_drop_last("E"), "mismatched lengths"),
        (_set_all("M", 2.0), "^M has a single distinct value"),
    ],
)
def test_bad_input_names_the_argument(change, match):
    data = planted(sizes=((1e5, 1e7),))
    change(data)
    with pytest.raises(ValueError, match=match):
        fit(data, alpha=0.3, beta=0.4)


def test_bad_options():
    data = planted(sizes=((1e5, 1e7),))
    for kw, match in [(dict(alpha=0.0), "alpha"), (dict(alpha=0.3, beta=-1.0), "beta"),
                      (dict(alpha=0.3, beta=0.4, huber_delta=0.0), "huber_delta"),
                      (dict(alpha=0.3, beta=0.4, bootstrap=1), "bootstrap"),
                      (dict(alpha=0.3, beta=0.4, max_iter=0), "max_iter")]:
        with pytest.raises(ValueError, match=match):
            fit(data, **kw)
    few = {k: v[:3] for k, v in data.items()}
    with pytest.raises(ValueError, match="needs at least 4"):
        fit(few, alpha=0.3, beta=0.4)


def test_a_start_gets_the_same_bits_alone_and_in_a_batch():
    """The objective uses no matrix product (whose rounding depends on the batch's shape): a
    start's objective, gradient and whole L-BFGS path are the same alone as among others."""
    from scalingbook.fit.fp_quant import _PenaltyProblem
    from scalingbook.fit.huber import batched_lbfgs

    gen = np.random.default_rng(4)
    n, k = 64, 5
    x = gen.standard_normal((n, k))
    offset = gen.normal(-3.0, 0.5, n)
    base = gen.uniform(2.0, 4.0, n)
    theta_true = np.array([0.3, -0.5, 0.8, 0.2, -0.1])
    log_loss = np.log(base + np.exp(x @ theta_true + offset)) + gen.normal(0.0, 0.01, n)
    problem = _PenaltyProblem(x, offset, base, log_loss, np.ones(n), 1e-3)
    starts = gen.normal(0.0, 1.0, (37, k))
    f, g = problem.value_and_grad(starts)
    for i in (0, 11, 36):
        f_i, g_i = problem.value_and_grad(starts[i : i + 1])
        np.testing.assert_array_equal(f_i[0], f[i])
        np.testing.assert_array_equal(g_i[0], g[i])
    together = batched_lbfgs(problem, starts, max_iter=200)
    for i in (3, 20):
        alone = batched_lbfgs(problem, starts[i : i + 1], max_iter=200)
        np.testing.assert_array_equal(alone.theta[0], together.theta[i])
        assert int(alone.iterations[0]) == int(together.iterations[i])
