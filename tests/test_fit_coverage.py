"""The coverage study and the bootstrap-refit stall it guards against (scalingbook.fit.coverage)."""

import warnings

import numpy as np
import pytest
from scipy.optimize import minimize

from scalingbook.fit import fit_chinchilla
from scalingbook.fit.coverage import chinchilla_coverage, scipy_default_refits, wilson_interval
from scalingbook.laws import ChinchillaLaw

from test_fit_chinchilla import SMALL_GRID

PLANTED = ChinchillaLaw(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
# Eight model sizes by six tokens-per-parameter ratios: a Chinchilla-like design of 48 runs.
N = np.repeat(np.geomspace(7e7, 1.6e10, 8), 6)
D = N * np.tile(np.geomspace(5, 200, 6), 8)


def noisy(seed, noise=0.02):
    return PLANTED.loss(N, D) * np.exp(np.random.default_rng(seed).normal(0.0, noise, N.size))


def weighted_objective(theta, loss, w, delta=1e-3):
    a, b, e, alpha, beta = theta
    lse = np.logaddexp(np.logaddexp(a - alpha * np.log(N), b - beta * np.log(D)), e)
    r = np.abs(np.log(loss) - lse)
    return float(w @ np.where(r <= delta, 0.5 * r * r, delta * (r - 0.5 * delta)))


def as_theta(row):
    E, A, B, alpha, beta = row
    return np.array([np.log(A), np.log(B), np.log(E), alpha, beta])


def test_wilson_interval_textbook_values():
    # 0 successes in 10: the 95% Wilson upper limit is 0.2775 (a standard table value).
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    low, high = wilson_interval(95, 100)
    assert low == pytest.approx(0.8883, abs=1e-3) and high == pytest.approx(0.9785, abs=1e-3)
    with pytest.raises(ValueError, match="hits"):
        wilson_interval(11, 10)


def test_our_refits_sit_at_optima_and_scipy_default_refits_stall():
    """Nelder-Mead from each refit: ours cannot be improved; scipy's default refits can, a lot."""
    loss = noisy(seed=1000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        fit = fit_chinchilla(N, D, loss, starts=SMALL_GRID, bootstrap=8, seed=0, bootstrap_starts=3)
    weights = fit.diagnostics["bootstrap_weights"]
    p = fit.params
    start = [np.log(p["A"]), np.log(p["B"]), np.log(p["E"]), p["alpha"], p["beta"]]
    naive = scipy_default_refits(N, D, loss, weights, start)
    excess_ours, excess_naive = [], []
    for w, ours, theirs in zip(weights, fit.bootstrap_params, naive):
        for theta, out in ((as_theta(ours), excess_ours), (as_theta(theirs), excess_naive)):
            f0 = weighted_objective(theta, loss, w)
            polished = minimize(weighted_objective, theta, args=(loss, w), method="Nelder-Mead",
                                options={"xatol": 1e-10, "fatol": 1e-15, "maxfev": 20000})
            out.append((f0 - polished.fun) / f0)
    assert max(excess_ours) < 1e-8
    # The default refits stop well short of the resample's optimum in most replicates ...
    assert np.median(excess_naive) > 1e-3
    # ... and so barely move from the full-data optimum: far narrower spread than ours.
    assert naive[:, 3].std() < 0.25 * fit.bootstrap_params[:, 3].std()


def test_coverage_study_records_and_determinism():
    kwargs = dict(noise=0.02, replicates=3, bootstrap=6, starts=SMALL_GRID, bootstrap_starts=2,
                  target=(7e10, 1.4e12), seed=5)
    a = chinchilla_coverage(PLANTED, N, D, **kwargs)
    b = chinchilla_coverage(PLANTED, N, D, **kwargs)
    assert set(a.coverage) == {"E", "A", "B", "alpha", "beta", "a", "loss_at_target"}
    assert len(a.records) == 3 * 7
    assert a.records.equals(b.records)
    rec = a.records
    assert ((rec["low"] <= rec["high"])).all()
    assert (rec["hit"] == ((rec["low"] <= rec["truth"]) & (rec["truth"] <= rec["high"]))).all()
    assert rec.loc[rec.quantity == "a", "truth"].iloc[0] == pytest.approx(PLANTED.a)
    for q, c in a.coverage.items():
        assert c == rec.loc[rec.quantity == q, "hit"].mean()
        lo, hi = a.coverage_interval[q]
        assert lo <= c <= hi
    assert "coverage of 95%" in a.summary()


def test_coverage_bad_input():
    with pytest.raises(ValueError, match="law"):
        chinchilla_coverage("not a law", N, D, noise=0.01)
    with pytest.raises(ValueError, match="noise"):
        chinchilla_coverage(PLANTED, N, D, noise=-0.1)
    with pytest.raises(ValueError, match="replicates"):
        chinchilla_coverage(PLANTED, N, D, noise=0.01, replicates=1)
    with pytest.raises(ValueError, match="refit"):
        chinchilla_coverage(PLANTED, N, D, noise=0.01, refit="newton")
    with pytest.raises(ValueError, match="D"):
        chinchilla_coverage(PLANTED, N, D[:-1], noise=0.01)
    with pytest.raises(ValueError, match="weights"):
        scipy_default_refits(N, D, noisy(0), np.ones(len(N)), [0, 0, 0, 0.3, 0.3])


def test_both_refit_methods_in_one_pass_share_data_and_estimates():
    kwargs = dict(noise=0.02, replicates=2, bootstrap=5, starts=SMALL_GRID, bootstrap_starts=2, seed=3)
    both = chinchilla_coverage(PLANTED, N, D, refit=("batched", "scipy-default"), **kwargs)
    alone = chinchilla_coverage(PLANTED, N, D, refit="batched", **kwargs)
    assert set(both) == {"batched", "scipy-default"}
    assert both["batched"].records.equals(alone.records)
    np.testing.assert_array_equal(both["batched"].records["estimate"],
                                  both["scipy-default"].records["estimate"])
    assert both["scipy-default"].refit == "scipy-default"


def test_scipy_default_answer_depends_on_the_objective_scale():
    """The same default call converges on a scaled-up objective and stalls on the raw one.

    Where the raw call stops is chaotic: on one data set (seed 7) it ends 43% above the optimum
    with numpy's AVX-512 kernels and 0.24% above with its AVX2 ones. So the claim is checked on
    the median over fifteen data sets. Measured over seeds 0-99 with AVX-512, AVX2 and SSE4.2
    kernels: the raw call's excess over the optimum has median 0.06-0.07 and falls below 1e-3
    in 5-10% of data sets; the scaled call's has median 1.5e-8 and exceeds 1e-3 in 5-8%. A
    median of fifteen crosses 1e-3 only if eight draws do (probability below 1e-4 either way).
    """
    start = np.array([5.0, 5.0, 0.5, 0.5, 0.5])
    ones = np.ones((1, len(N)))
    excess_raw, excess_scaled = [], []
    for seed in range(15):
        loss = noisy(seed)
        fit = fit_chinchilla(N, D, loss, starts=SMALL_GRID)
        raw = as_theta(scipy_default_refits(N, D, loss, ones, start, reduction="sum")[0])
        scaled = as_theta(scipy_default_refits(N, D, loss, ones, start, reduction="sum",
                                               scale=1e4)[0])
        excess_raw.append(weighted_objective(raw, loss, ones[0]) / fit.loss - 1)
        excess_scaled.append(weighted_objective(scaled, loss, ones[0]) / fit.loss - 1)
    assert np.median(excess_raw) > 1e-3
    assert np.median(excess_scaled) < 1e-3
    with pytest.raises(ValueError, match="scale"):
        scipy_default_refits(N, D, noisy(0), ones, start, scale=0.0)
