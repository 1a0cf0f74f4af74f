"""Multistart Huber fits of the Chinchilla law (scalingbook.fit.fit_chinchilla) and its batched L-BFGS."""

import itertools
import multiprocessing
import os
import warnings

import numpy as np
import pandas as pd
import pytest

from scalingbook.fit import (
    FitResult,
    chinchilla_objective,
    fit_chinchilla,
    hoffmann_grid,
)
from scalingbook.fit.huber import HuberProblem, batched_lbfgs
from scalingbook.laws import ChinchillaLaw

PLANTED = ChinchillaLaw(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
NAMES = ("E", "A", "B", "alpha", "beta")
# A small grid keeps the tests fast: 2^5 = 32 starts in (a, b, e, alpha, beta).
SMALL_GRID = np.array(list(itertools.product([0.0, 10.0], [0.0, 10.0], [-1.0, 1.0], [0.2, 1.0], [0.2, 1.0])))


def runs(noise=0.0, seed=0, n_sizes=8, n_tokens=8):
    """Runs over a wide grid (1e7..1e11 parameters, 1e8..1e13 tokens) with log-normal noise."""
    N = np.repeat(np.geomspace(1e7, 1e11, n_sizes), n_tokens)
    D = np.tile(np.geomspace(1e8, 1e13, n_tokens), n_sizes)
    loss = PLANTED.loss(N, D) * np.exp(np.random.default_rng(seed).normal(0.0, noise, N.size))
    return N, D, loss


def test_hoffmann_grid_is_the_4500_start_grid():
    grid = hoffmann_grid()
    assert grid.shape == (4500, 5)
    assert sorted(set(grid[:, 0])) == [0.0, 5.0, 10.0, 15.0, 20.0, 25.0]
    assert sorted(set(grid[:, 2])) == [-1.0, -0.5, 0.0, 0.5, 1.0]
    assert sorted(set(grid[:, 3])) == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert len(np.unique(grid, axis=0)) == 4500


def test_noiseless_data_return_the_planted_law():
    N, D, loss = runs()
    fit = fit_chinchilla(N, D, loss, starts=SMALL_GRID)
    assert isinstance(fit, FitResult) and fit.converged
    planted = dict(zip(NAMES, (PLANTED.E, PLANTED.A, PLANTED.B, PLANTED.alpha, PLANTED.beta)))
    for name in NAMES:
        assert fit.params[name] == pytest.approx(planted[name], rel=1e-4), name
        assert isinstance(fit.params[name], float)
    assert isinstance(fit.law, ChinchillaLaw)
    np.testing.assert_allclose(fit.law.loss(N, D), loss, rtol=1e-6)
    assert np.abs(fit.residuals).max() < 1e-6 and fit.residuals.shape == (64,)
    assert fit.ci == {} and fit.bootstrap_params is None
    assert fit.n_starts == 32


def test_noisy_data_recover_the_planted_law_within_tolerance():
    N, D, loss = runs(noise=0.01, seed=1, n_sizes=10, n_tokens=10)
    fit = fit_chinchilla(N, D, loss, starts=SMALL_GRID)
    assert fit.converged
    assert fit.params["alpha"] == pytest.approx(0.34, abs=0.03)
    assert fit.params["beta"] == pytest.approx(0.28, abs=0.03)
    assert fit.params["E"] == pytest.approx(1.69, rel=0.05)
    # The quantity users want: the compute-optimal allocation exponent.
    assert fit.law.a == pytest.approx(PLANTED.a, abs=0.03)
    # The best fit is at least as good as the planted law on the objective it minimizes.
    planted_theta = [np.log(406.4), np.log(410.7), np.log(1.69), 0.34, 0.28]
    assert fit.loss <= chinchilla_objective(planted_theta, N, D, loss) + 1e-15


def test_fit_matches_objective_and_beats_every_start():
    N, D, loss = runs(noise=0.02, seed=2)
    fit = fit_chinchilla(N, D, loss, starts=SMALL_GRID)
    theta = [np.log(fit.params["A"]), np.log(fit.params["B"]), np.log(fit.params["E"]),
             fit.params["alpha"], fit.params["beta"]]
    assert fit.loss == pytest.approx(chinchilla_objective(theta, N, D, loss), rel=1e-10)
    assert fit.loss <= chinchilla_objective(SMALL_GRID, N, D, loss).min()
    diag = fit.diagnostics
    assert 1 <= diag["n_at_best"] <= 32 and diag["n_starts"] == 32
    assert sum(diag["status_counts"].values()) == 32
    assert diag["objectives"].shape == (32,) and diag["objectives"].min() == pytest.approx(fit.loss)
    # Every start counted at the best is within the tolerance, every other start is not.
    f = diag["objectives"]
    assert ((f <= fit.loss * (1 + diag["best_rtol"])).sum()) == diag["n_at_best"]


def test_sum_and_mean_give_the_same_optimum():
    N, D, loss = runs(noise=0.02, seed=3)
    fit_sum = fit_chinchilla(N, D, loss, starts=SMALL_GRID, reduction="sum")
    fit_mean = fit_chinchilla(N, D, loss, starts=SMALL_GRID, reduction="mean")
    for name in NAMES:
        assert fit_mean.params[name] == pytest.approx(fit_sum.params[name], rel=1e-5), name
    assert fit_mean.loss * len(N) == pytest.approx(fit_sum.loss, rel=1e-9)
    # And a tiny-scaled objective (a million times smaller than the mean) changes nothing either.
    u, v, ll = np.log(N) - np.log(N).mean(), np.log(D) - np.log(D).mean(), np.log(loss)
    theta0 = np.array([[5.0, 5.0, 0.0, 0.5, 0.5], [0.0, 10.0, 1.0, 1.0, 0.2]])
    out = []
    for scale in (1.0, 1e-9):
        problem = HuberProblem(u, v, ll, np.ones(len(N)), 1e-3, scale)
        out.append(batched_lbfgs(problem, theta0).theta)
    np.testing.assert_allclose(out[0], out[1], rtol=1e-5, atol=1e-6)


def test_starts_advance_independently():
    """A start's result does not depend on which other starts share the batch."""
    N, D, loss = runs(noise=0.02, seed=4)
    u, v = np.log(N) - np.log(N).mean(), np.log(D) - np.log(D).mean()
    problem = HuberProblem(u, v, np.log(loss), np.ones(len(N)), 1e-3)
    theta0 = np.array(SMALL_GRID[:8], dtype=np.float64)
    together = batched_lbfgs(problem, theta0)
    for i in (0, 5):
        alone = batched_lbfgs(problem, theta0[i : i + 1])
        np.testing.assert_array_equal(alone.theta[0], together.theta[i])  # bit for bit
        assert int(alone.iterations[0]) == int(together.iterations[i])


def test_bootstrap_intervals_deterministic_by_seed_and_bracket_the_estimate():
    N, D, loss = runs(noise=0.01, seed=5)
    a = fit_chinchilla(N, D, loss, starts=SMALL_GRID, bootstrap=30, seed=7, bootstrap_starts=3)
    b = fit_chinchilla(N, D, loss, starts=SMALL_GRID, bootstrap=30, seed=7, bootstrap_starts=3)
    c = fit_chinchilla(N, D, loss, starts=SMALL_GRID, bootstrap=30, seed=8, bootstrap_starts=3)
    assert set(a.ci) == set(NAMES)
    assert a.ci == b.ci
    np.testing.assert_array_equal(a.bootstrap_params, b.bootstrap_params)
    assert a.ci != c.ci
    assert a.bootstrap_params.shape == (30, 5) and a.n_bootstrap == 30
    for name in NAMES:
        low, high = a.ci[name]
        assert low < a.params[name] < high, name
    # Intervals have a sensible width for 1% noise: not collapsed, not wider than the exponent.
    for name in ("alpha", "beta"):
        width = a.ci[name][1] - a.ci[name][0]
        assert 1e-3 < width < 0.2, name
    # (Whether the planted value falls inside is a coverage question: one data set says little;
    # measuring coverage over many planted laws is a separate experiment.)
    # The fit itself has no randomness: the point estimate does not depend on the seed.
    assert a.params == c.params


def test_accepts_lists_and_pandas_columns():
    N, D, loss = runs(noise=0.01, seed=6)
    frame = pd.DataFrame({"N": N, "D": D, "loss": loss})
    from_numpy = fit_chinchilla(N, D, loss, starts=SMALL_GRID)
    from_lists = fit_chinchilla(N.tolist(), D.tolist(), loss.tolist(), starts=SMALL_GRID.tolist())
    from_pandas = fit_chinchilla(frame["N"], frame["D"], frame["loss"], starts=SMALL_GRID)
    assert from_lists.params == from_numpy.params == from_pandas.params


def test_groups_bootstrap_resamples_whole_groups():
    N, D, loss = runs(noise=0.01, seed=9)
    groups = np.repeat(np.arange(8), 8)  # one group per model size
    fit = fit_chinchilla(N, D, loss, starts=SMALL_GRID, bootstrap=10, seed=0, groups=groups,
                         bootstrap_starts=2)
    assert set(fit.ci) == set(NAMES)


def test_not_converged_says_so():
    N, D, loss = runs(noise=0.02, seed=10)
    with pytest.warns(RuntimeWarning, match="iteration limit"):
        fit = fit_chinchilla(N, D, loss, starts=SMALL_GRID, max_iter=2)
    assert not fit.converged
    assert any("not a trustworthy optimum" in note for note in fit.notes)
    assert "NOT converged" in fit.summary()


def test_converged_fit_issues_no_warning():
    N, D, loss = runs(noise=0.01, seed=11)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = fit_chinchilla(N, D, loss, starts=SMALL_GRID)
    assert fit.converged and "Huber sum" in fit.summary()


GOOD = runs(noise=0.01)


def _with(index, value):
    arrays = [a.copy() for a in GOOD]
    arrays[index][3] = value
    return arrays


@pytest.mark.parametrize(
    "args, kwargs, name",
    [
        (_with(0, np.nan), {}, "N"),
        (_with(1, np.inf), {}, "D"),
        (_with(2, 0.0), {}, "loss"),
        (_with(0, -1e9), {}, "N"),
        (_with(2, np.nan), {}, "loss"),
        ((GOOD[0], GOOD[1][:-1], GOOD[2]), {}, "mismatched lengths"),
        ((GOOD[0][:5], GOOD[1][:5], GOOD[2][:5]), {}, "N"),
        ((np.full(8, 1e9), GOOD[1][:8], GOOD[2][:8]), {}, "N"),
        ((*GOOD,), {"delta": 0.0}, "delta"),
        ((*GOOD,), {"bootstrap": 1}, "bootstrap"),
        ((*GOOD,), {"seed": -1}, "seed"),
        ((*GOOD,), {"reduction": "median"}, "reduction"),
        ((*GOOD,), {"starts": np.zeros((3, 4))}, "starts"),
        ((*GOOD,), {"groups": np.arange(5)}, "mismatched lengths"),
    ],
)
def test_bad_input_raises_naming_the_argument(args, kwargs, name):
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        fit_chinchilla(*args, **kwargs)


def test_bootstrap_refits_are_scale_free_too():
    """Averaging (each replicate divided by its own total weight) gives the sum's intervals."""
    N, D, loss = runs(noise=0.01, seed=12)
    kwargs = {"starts": SMALL_GRID, "bootstrap": 6, "seed": 3, "bootstrap_starts": 2}
    fit_sum = fit_chinchilla(N, D, loss, reduction="sum", **kwargs)
    fit_mean = fit_chinchilla(N, D, loss, reduction="mean", **kwargs)
    np.testing.assert_allclose(fit_mean.bootstrap_params, fit_sum.bootstrap_params, rtol=1e-4)


def test_predict_gives_the_law_and_a_bootstrap_band():
    N, D, loss = runs(noise=0.01, seed=9)
    plain = fit_chinchilla(N, D, loss, starts=SMALL_GRID)
    pred = plain.predict(7e10, 1.4e12)
    assert pred.value == pytest.approx(plain.law.loss(7e10, 1.4e12), rel=1e-12)
    assert pred.low is None and pred.high is None and pred.n_bootstrap == 0
    fit = fit_chinchilla(N, D, loss, starts=SMALL_GRID, bootstrap=25, seed=3, bootstrap_starts=2)
    pred = fit.predict([7e10, 1e9], [1.4e12, 2e10])
    assert pred.value.shape == pred.low.shape == pred.high.shape == (2,)
    # The band is the percentile interval of the law over the bootstrap refits, point by point.
    draws = np.array([ChinchillaLaw(*row).loss(1e9, 2e10) for row in fit.bootstrap_params])
    assert pred.low[1] == pytest.approx(np.percentile(draws, 2.5), rel=1e-12)
    assert pred.high[1] == pytest.approx(np.percentile(draws, 97.5), rel=1e-12)
    assert (pred.low <= pred.value).all() and (pred.value <= pred.high).all()
    narrow = fit.predict(1e9, 2e10, level=0.5)
    assert pred.low[1] <= narrow.low <= narrow.high <= pred.high[1]
    with pytest.raises(ValueError, match="level"):
        fit.predict(1e9, 2e10, level=1.5)
    with pytest.raises(ValueError, match="N"):
        fit.predict(-1.0, 2e10)


def test_weights_are_scale_free_and_zero_weight_drops_a_run():
    N, D, loss = runs(noise=0.01, seed=10)
    base = fit_chinchilla(N, D, loss, starts=SMALL_GRID)
    tripled = fit_chinchilla(N, D, loss, starts=SMALL_GRID, weights=np.full(len(N), 3.0))
    for name in NAMES:
        assert tripled.params[name] == pytest.approx(base.params[name], rel=1e-6), name
    assert tripled.loss == pytest.approx(3 * base.loss, rel=1e-9)
    w = np.ones(len(N))
    w[:8] = 0.0
    dropped = fit_chinchilla(N, D, loss, starts=SMALL_GRID, weights=w)
    subset = fit_chinchilla(N[8:], D[8:], loss[8:], starts=SMALL_GRID)
    for name in NAMES:
        assert dropped.params[name] == pytest.approx(subset.params[name], rel=1e-5), name
    with pytest.raises(ValueError, match="weights"):
        fit_chinchilla(N, D, loss, weights=-w)
    with pytest.raises(ValueError, match="weights"):
        fit_chinchilla(N, D, loss, weights=w[:-1])
    with pytest.raises(ValueError, match="weights"):
        fit_chinchilla(N, D, loss, weights=np.r_[np.ones(3), np.zeros(len(N) - 3)])


def _centered_problem(N, D, loss, weights=None, scale=1.0, block=256, threads=1):
    u, v = np.log(N) - np.log(N).mean(), np.log(D) - np.log(D).mean()
    w = np.ones(len(N)) if weights is None else weights
    return HuberProblem(u, v, np.log(loss), w, 1e-3, scale, block, threads)


def _layout(kind, seed):
    """Runs laid out as users' data come: a full grid of sizes by token counts, a partial grid in
    shuffled order, more sizes than token counts, or every run at its own N and D."""
    gen = np.random.default_rng(seed)
    if kind == "grid":
        N, D, _ = runs(n_sizes=8, n_tokens=9)
    elif kind == "partial grid, shuffled":
        N, D, _ = runs(n_sizes=6, n_tokens=10)
        keep = gen.permutation(len(N))[:45]
        N, D = N[keep], D[keep]
    elif kind == "more sizes than token counts":
        N, D, _ = runs(n_sizes=20, n_tokens=4)
    else:  # "all distinct"
        N, D, _ = runs(n_sizes=7, n_tokens=7)
        N, D = N * np.exp(gen.uniform(-0.2, 0.2, N.size)), D * np.exp(gen.uniform(-0.2, 0.2, D.size))
    loss = PLANTED.loss(N, D) * np.exp(gen.normal(0.0, 0.02, N.size))
    return N, D, loss


def _reference_objective(theta, N, D, loss, weights, scale):
    """The weighted Huber objective written out point by point in the caller's order."""
    u, v = np.log(N) - np.log(N).mean(), np.log(D) - np.log(D).mean()
    lse = np.logaddexp.reduce(np.stack([theta[:, 0:1] - theta[:, 3:4] * u,
                                        theta[:, 1:2] - theta[:, 4:5] * v,
                                        np.broadcast_to(theta[:, 2:3], (len(theta), len(u)))]), axis=0)
    r = np.log(loss) - lse
    huber = np.where(np.abs(r) <= 1e-3, 0.5 * r * r, 1e-3 * (np.abs(r) - 0.5e-3))
    return np.asarray(scale) * (weights * huber).sum(1)


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("weights_kind", ["ones", "vector", "per_row"])
@pytest.mark.parametrize("layout", ["grid", "partial grid, shuffled", "more sizes than token counts",
                                    "all distinct"])
def test_fast_evaluation_agrees_with_the_point_by_point_shift(layout, weights_kind, threads):
    """value_and_grad (one shift per start, terms taken per distinct N or D where runs share
    them, blocked, blocks shared among threads) equals value_and_grad_stable (a shift per point)
    and the objective written out point by point in the caller's order (the problem reorders
    the points), also across block boundaries and for starts whose terms span more than
    float64's range, which it hands to the stable path."""
    N, D, loss = _layout(layout, seed=21)
    gen = np.random.default_rng(0)
    theta = hoffmann_grid()[::37] + 0.3 * gen.standard_normal((len(hoffmann_grid()[::37]), 5))
    theta[0, 3] = 400.0  # alpha so large that a - alpha u spans ~2000 over the points
    theta[1, 2] = -900.0  # a floor far below both power-law terms everywhere
    theta[2, 0] = 700.0  # a term above float64's range unless shifted
    S = len(theta)
    if weights_kind == "ones":
        w, scale = np.ones(len(N)), 1.0
    elif weights_kind == "vector":
        w, scale = gen.random(len(N)), 0.25
    else:
        w = gen.random((S, len(N)))
        scale = 1.0 / w.sum(1)
    problem = _centered_problem(N, D, loss, w, scale, block=7, threads=threads)
    f_fast, g_fast = problem.value_and_grad(theta)
    f_ref, g_ref = problem.value_and_grad_stable(theta)
    assert np.isfinite(f_ref).all() and np.isfinite(f_fast).all()
    np.testing.assert_allclose(f_fast, f_ref, rtol=1e-12, atol=0.0)
    np.testing.assert_allclose(f_fast, _reference_objective(theta, N, D, loss, w, scale),
                               rtol=1e-10, atol=0.0)
    err = np.linalg.norm(g_fast - g_ref, axis=1) / np.maximum(np.linalg.norm(g_ref, axis=1), 1e-300)
    assert err.max() < 1e-8
    # The gradient is the objective's: a central difference along a random direction agrees.
    d = gen.standard_normal((S, 5))
    h = 1e-6
    fd = (problem.value_and_grad(theta + h * d)[0] - problem.value_and_grad(theta - h * d)[0]) / (2 * h)
    ok = f_ref > 0
    np.testing.assert_allclose(fd[ok], (g_fast * d).sum(1)[ok], rtol=1e-4, atol=1e-9 * f_ref.max())


@pytest.mark.parametrize("layout", ["grid", "partial grid, shuffled", "more sizes than token counts",
                                    "all distinct"])
def test_a_start_evaluates_to_the_same_bits_alone_and_in_any_block(layout):
    """Every path (full grid: sums over the grid's rows and columns; grouped; point by point)
    gives a start the same objective and gradient, to the last bit, whether it is evaluated
    alone, in a block of 2, or in one of 64 rows; only the full grids (8 sizes by 9 token counts,
    20 by 4) take the grid path."""
    N, D, loss = _layout(layout, seed=23)
    gen = np.random.default_rng(3)
    theta = hoffmann_grid()[::70] + 0.2 * gen.standard_normal((len(hoffmann_grid()[::70]), 5))
    problems = {block: _centered_problem(N, D, loss, np.ones(len(N)), 1.0, block=block, threads=1)
                for block in (1, 2, 64)}
    assert problems[64]._grid == (layout in ("grid", "more sizes than token counts"))
    f, g = problems[64].value_and_grad(theta)
    for block in (1, 2):
        f_b, g_b = problems[block].value_and_grad(theta)
        np.testing.assert_array_equal(f_b, f)
        np.testing.assert_array_equal(g_b, g)
    for i in (0, 17, len(theta) - 1):
        f_i, g_i = problems[64].value_and_grad(theta[i : i + 1])
        np.testing.assert_array_equal(f_i[0], f[i])
        np.testing.assert_array_equal(g_i[0], g[i])


@pytest.mark.parametrize("layout", ["grid", "partial grid, shuffled", "more sizes than token counts",
                                    "all distinct"])
def test_the_order_of_the_runs_does_not_change_the_fit(layout):
    """Runs given in any order make the same problem (the points are sorted internally) and the
    same fit, to the last bit."""
    N, D, loss = _layout(layout, seed=22)
    perm = np.random.default_rng(1).permutation(len(N))
    u, v, ll = np.log(N) - 20.0, np.log(D) - 25.0, np.log(loss)
    theta = hoffmann_grid()[::41]
    a = batched_lbfgs(HuberProblem(u, v, ll, np.ones(len(N)), 1e-3, block=16), theta, max_iter=60)
    b = batched_lbfgs(HuberProblem(u[perm], v[perm], ll[perm], np.ones(len(N)), 1e-3, block=16),
                      theta, max_iter=60)
    np.testing.assert_array_equal(a.theta, b.theta)
    np.testing.assert_array_equal(a.f, b.f)
    fits = [fit_chinchilla(N[p], D[p], loss[p], starts=SMALL_GRID) for p in (np.arange(len(N)), perm)]
    assert fits[0].params == fits[1].params


def test_evaluation_and_fit_do_not_depend_on_the_thread_count():
    """Blocks of starts are shared among threads, but each block is computed the same way
    whichever thread takes it: one thread and three give identical bits."""
    N, D, loss = runs(noise=0.02, seed=23)
    theta = hoffmann_grid()[::11]
    one = _centered_problem(N, D, loss, block=16, threads=1).value_and_grad(theta)
    three = _centered_problem(N, D, loss, block=16, threads=3).value_and_grad(theta)
    np.testing.assert_array_equal(one[0], three[0])
    np.testing.assert_array_equal(one[1], three[1])
    u, v = np.log(N) - np.log(N).mean(), np.log(D) - np.log(D).mean()
    runs_ = [batched_lbfgs(HuberProblem(u, v, np.log(loss), np.ones(len(N)), 1e-3, block=16,
                                        threads=t), theta, max_iter=50) for t in (1, 3)]
    np.testing.assert_array_equal(runs_[0].theta, runs_[1].theta)
    np.testing.assert_array_equal(runs_[0].status, runs_[1].status)
    # 900 starts and 8 x 40 bootstrap refits: several blocks of 256 rows each, shared by threads
    fits = [fit_chinchilla(N, D, loss, starts=hoffmann_grid()[::5], bootstrap=8, bootstrap_starts=40,
                           threads=t) for t in (1, 2)]
    assert fits[0].params == fits[1].params and fits[0].ci == fits[1].ci
    with pytest.raises(ValueError, match="threads"):
        fit_chinchilla(N, D, loss, starts=SMALL_GRID, threads=0)


def _evaluate_in_child(args):
    problem, theta = args
    return problem.value_and_grad(theta)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_threaded_evaluation_works_in_a_forked_child():
    """A process forked after the thread pool started (multiprocessing's default on Linux) gets
    a pool of its own instead of waiting forever on the parent's threads."""
    N, D, loss = runs(noise=0.02, seed=24)
    problem = _centered_problem(N, D, loss, block=16, threads=2)
    theta = hoffmann_grid()[::50]
    expected = problem.value_and_grad(theta)  # the parent's pool now exists
    with multiprocessing.get_context("fork").Pool(1) as pool:
        got = pool.map_async(_evaluate_in_child, [(problem, theta)]).get(timeout=60)[0]
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])


def test_stalled_starts_are_reported_and_the_best_is_unchanged():
    """Abandoning starts stuck on a plateau (the default) keeps the best optimum and says how
    many starts it stopped; with stall_window=None every start runs to the end."""
    N, D, loss = runs(noise=0.01, seed=22)
    grid = hoffmann_grid()[::5]  # 900 starts, plateau ones among them (a = 0 with alpha = 2, ...)
    quick = fit_chinchilla(N, D, loss, starts=grid)
    full = fit_chinchilla(N, D, loss, starts=grid, stall_window=None)
    assert quick.loss == pytest.approx(full.loss, rel=1e-9)
    for name in NAMES:
        assert quick.params[name] == pytest.approx(full.params[name], rel=1e-5), name
    stalled_name = "stalled far above the best"
    n_stalled = quick.diagnostics["status_counts"][stalled_name]
    assert n_stalled > 0 and full.diagnostics["status_counts"][stalled_name] == 0
    assert sum(quick.diagnostics["status_counts"].values()) == len(grid)
    # Every stalled start was stopped more than twice above the best, and the count of starts at
    # the best can only fall (some plateau starts would have escaped later).
    f, status = quick.diagnostics["objectives"], quick.diagnostics["start_status"]
    assert (status == stalled_name).sum() == n_stalled
    assert (f[status == stalled_name] > 2 * quick.loss).all()
    assert quick.diagnostics["n_at_best"] <= full.diagnostics["n_at_best"]
    assert quick.diagnostics["evaluations"] <= full.diagnostics["evaluations"]
    with pytest.raises(ValueError, match="stall_window"):
        fit_chinchilla(N, D, loss, starts=grid, stall_window=0)


def test_capping_the_first_trial_step_keeps_starts_near_sensible_parameters():
    """Without the cap, starts near a plateau take L-BFGS steps of 1e6 and more and end in far-off
    local optima; with it (the default, 10) the same grid reaches the same best optimum from
    more than twice as many starts, with fewer evaluations.

    Measured over seeds 0-24 with numpy's AVX-512 and AVX2 kernels: the capped fit reaches the
    best from 3.3-3.9 times as many starts. Its evaluation count is chaotic per data set (seed
    22's uncapped count is 1226 with one kernel set and 1479 with the other) and exceeds the
    uncapped one on 1-2 of the 25 data sets; summed over any five consecutive seeds it is 0.70-0.92
    of the uncapped sum. So the evaluations are compared summed over five data sets."""
    grid = hoffmann_grid()[::5]
    evaluations = {"capped": 0, "uncapped": 0}
    for seed in range(20, 25):
        N, D, loss = runs(noise=0.01, seed=seed)
        capped = fit_chinchilla(N, D, loss, starts=grid)
        uncapped = fit_chinchilla(N, D, loss, starts=grid, max_step=None)
        evaluations["capped"] += capped.diagnostics["evaluations"]
        evaluations["uncapped"] += uncapped.diagnostics["evaluations"]
        assert capped.loss == pytest.approx(uncapped.loss, rel=1e-9)
        for name in NAMES:
            assert capped.params[name] == pytest.approx(uncapped.params[name], rel=1e-5), name
        assert capped.diagnostics["n_at_best"] > 2 * uncapped.diagnostics["n_at_best"]
    assert evaluations["capped"] < evaluations["uncapped"]
    with pytest.raises(ValueError, match="max_step"):
        fit_chinchilla(N, D, loss, starts=grid, max_step=0.0)
