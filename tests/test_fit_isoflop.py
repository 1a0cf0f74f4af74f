"""Hoffmann et al.'s approach 2: isoFLOP parabolas and allocation laws (scalingbook.fit.isoflop)."""

import warnings

import numpy as np
import pandas as pd
import pytest

from scalingbook.data.planted import isoflop_runs
from scalingbook.fit.isoflop import IsoFLOPResult, fit_isoflop, group_budgets
from scalingbook.laws.chinchilla import ChinchillaLaw

LAW = ChinchillaLaw(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
BUDGETS = np.geomspace(1e18, 1e22, 5)
TABLE_COLUMNS = ["C", "n_runs", "N_min", "N_max", "N_opt", "D_opt", "loss_opt", "curvature",
                 "inside", "used"]


def fit(frame, **kwargs):
    return fit_isoflop(frame["N"], frame["D"], frame["loss"], **kwargs)


@pytest.mark.parametrize("span, vertex_over_nstar",
                         [(0.5, 1.0026), (1.0, 1.0104), (2.0, 1.0421), (3.0, 1.0972)])
def test_noise_free_exponents_are_exact_and_the_vertex_bias_is_the_documented_one(span,
                                                                                 vertex_over_nstar):
    """The parabola's bias on noise-free data: the numbers stated in the module docstring."""
    result = fit(isoflop_runs(LAW, BUDGETS, span=span, noise=0.0))
    assert isinstance(result, IsoFLOPResult) and result.converged
    # the isoFLOP curve's shape in ln N does not depend on C: the exponents are unbiased. What is
    # left is rounding: 7.5e-15 to 1.0e-14 with numpy's AVX-512, AVX2 and SSE kernels; the bound
    # sits 1000x above it, and a vertex factor drifting by 1e-6 over the budgets would give 1e-7.
    assert abs(result.a - LAW.a) < 1e-11 and abs(result.b - LAW.b) < 1e-11
    ratio = result.budgets["N_opt"].to_numpy() / LAW.compute_optimal(BUDGETS)[0]
    np.testing.assert_allclose(ratio, vertex_over_nstar, atol=1e-4)
    assert np.ptp(ratio) < 1e-9  # the same factor at every budget
    # ... which lands in the coefficient: N_opt(C) = ratio * N*(C)
    assert result.n_opt(1e24) == pytest.approx(ratio[0] * LAW.compute_optimal(1e24)[0], rel=1e-9)
    assert result.budgets["inside"].all() and result.budgets["used"].all()
    assert result.notes == []


def test_result_table_and_callables():
    result = fit(isoflop_runs(LAW, BUDGETS, per_budget=6, noise=0.0))
    table = result.budgets
    assert list(table.columns) == TABLE_COLUMNS and len(table) == 5
    np.testing.assert_allclose(table["C"], BUDGETS, rtol=1e-12)
    assert (table["n_runs"] == 6).all() and (table["curvature"] > 0).all()
    np.testing.assert_allclose(table["D_opt"], table["C"] / (6 * table["N_opt"]), rtol=1e-12)
    # the loss at the vertex is close to the law's best loss at that budget (parabola vs. curve)
    np.testing.assert_allclose(table["loss_opt"], LAW.loss_at_compute(BUDGETS), rtol=2e-3)
    # callables: scalars give floats, arrays arrays; they reproduce the per-budget vertices
    assert isinstance(result.n_opt(1e20), float) and isinstance(result.d_opt(1e20), float)
    np.testing.assert_allclose(result.n_opt(BUDGETS), table["N_opt"], rtol=1e-9)
    np.testing.assert_allclose(result.d_opt(BUDGETS), table["D_opt"], rtol=1e-9)
    assert result.params == {"a": result.a, "b": result.b,
                             "N_coef": result.N_coef, "D_coef": result.D_coef}
    assert result.n_runs == 30 and result.n_budgets == 5 and result.n_bootstrap == 0 and result.ci == {}
    assert "5 budgets" in result.summary()
    with pytest.raises(ValueError, match="C must be strictly positive"):
        result.n_opt(-1.0)


def test_small_noise_recovers_the_planted_exponents():
    """Tolerance, measured: at 0.3% noise with two-decade windows, seven sizes and five budgets,
    300 seeds gave a - law.a a mean of 0.0003, a standard deviation of 0.004 and a largest
    deviation of 0.016 (noise-free, the bias is < 1e-13). So every seed must land within 0.02
    (5 standard deviations), and the mean of 30 seeds within 0.003 (4 standard errors)."""
    errors = []
    for seed in range(30):
        result = fit(isoflop_runs(LAW, BUDGETS, noise=0.003, seed=seed))
        errors.append(result.a - LAW.a)
        assert abs(result.a - LAW.a) < 0.02 and abs(result.b - LAW.b) < 0.02
        # a + b = 1 and N_coef * D_coef = 1/6 by construction, noise or not
        assert result.a + result.b == pytest.approx(1.0, abs=1e-12)
        assert 6 * result.N_coef * result.D_coef == pytest.approx(1.0, rel=1e-9)
    assert abs(np.mean(errors)) < 0.003


def test_seeded_bootstrap_is_deterministic_and_brackets_the_estimate():
    frame = isoflop_runs(LAW, BUDGETS, noise=0.003, seed=1)
    a = fit(frame, bootstrap=200, seed=3)
    b = fit(frame, bootstrap=200, seed=3)
    c = fit(frame, bootstrap=200, seed=4)
    assert a.ci == b.ci and np.array_equal(a.bootstrap_params, b.bootstrap_params)
    assert a.ci != c.ci
    assert a.bootstrap_params.shape == (200, 4) and a.n_bootstrap == 200
    for name, value in a.params.items():
        low, high = a.ci[name]
        assert low <= value <= high, name
    assert a.ci["a"][0] < LAW.a < a.ci["a"][1]
    np.testing.assert_allclose(a.bootstrap_params[:, 0] + a.bootstrap_params[:, 1], 1.0, atol=1e-12)


def test_budgets_given_per_run_are_grouped_within_the_tolerance():
    frame = isoflop_runs(LAW, BUDGETS, noise=0.0)
    # budgets as a sweep records them: off by up to 2% from the nominal one (whole batches)
    jitter = 1 + 0.02 * np.random.default_rng(0).uniform(-1, 1, len(frame))
    C = frame["C"].to_numpy() * jitter
    labels = group_budgets(C)
    np.testing.assert_array_equal(labels, np.repeat(np.arange(5), 7))
    result = fit_isoflop(frame["N"], frame["D"] * jitter, frame["loss"])  # C from 6ND
    assert result.n_budgets == 5
    result_c = fit_isoflop(frame["N"], frame["D"], frame["loss"], C=C)
    assert result_c.n_budgets == 5 and (result_c.budgets["n_runs"] == 7).all()
    # a tolerance below the jitter splits the profiles
    assert group_budgets(C, rtol=1e-4).max() > 4
    with pytest.raises(ValueError, match="rtol must be strictly positive"):
        group_budgets(C, rtol=0.0)


def test_a_parabola_that_opens_downward_is_dropped_with_a_warning():
    frame = isoflop_runs(LAW, BUDGETS, noise=0.0)
    loss = frame["loss"].to_numpy().copy()
    third = frame["C"].to_numpy() == BUDGETS[2]
    loss[third] = 2 * loss[third].mean() - loss[third]  # mirror the profile: a maximum, no minimum
    with pytest.warns(RuntimeWarning, match="opens downward"):
        result = fit_isoflop(frame["N"], frame["D"], loss)
    assert result.n_budgets == 4
    row = result.budgets.iloc[2]
    assert not row["used"] and np.isnan(row["N_opt"]) and row["curvature"] < 0
    assert any("opens downward" in note for note in result.notes)
    assert abs(result.a - LAW.a) < 1e-12  # the other four budgets still give the exponent
    # with two budgets mirrored out of three, fewer than 2 remain
    keep = np.isin(frame["C"], BUDGETS[:3])
    loss2 = loss.copy()
    second = frame["C"].to_numpy() == BUDGETS[1]
    loss2[second] = 2 * loss2[second].mean() - loss2[second]
    with pytest.warns(RuntimeWarning), pytest.raises(ValueError, match="need at least 2"):
        fit_isoflop(frame["N"][keep], frame["D"][keep], loss2[keep])


def test_a_vertex_outside_the_sampled_sizes_is_flagged_as_an_extrapolation():
    class TooBig:  # a prior guess that puts every window well above the optimum
        def compute_optimal(self, C):
            n = 8 * LAW.compute_optimal(C)[0]
            return n, np.asarray(C) / (6 * n)

    frame = isoflop_runs(LAW, BUDGETS[:3], span=1.0, center=TooBig(), noise=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an extrapolation is a note, not a warning
        result = fit(frame)
    assert not result.budgets["inside"].any()
    assert (result.budgets["N_opt"] < result.budgets["N_min"]).all()
    assert sum("extrapolation" in note for note in result.notes) == 3


def test_budgets_with_too_few_runs_are_dropped_with_a_note():
    frame = isoflop_runs(LAW, BUDGETS[:3], per_budget=5, noise=0.0)
    frame = pd.concat([frame, isoflop_runs(LAW, [1e23], per_budget=2, noise=0.0)])
    result = fit(frame)
    assert result.n_budgets == 3 and len(result.budgets) == 4
    assert not result.budgets["used"].iloc[-1]
    assert any("2 runs" in note for note in result.notes)
    with pytest.raises(ValueError, match="at least 6 runs"):
        fit(frame, min_per_budget=6)
    with pytest.raises(ValueError, match="need at least 2"):
        fit(frame.iloc[:7])  # one full budget and two runs of another


GOOD = isoflop_runs(LAW, BUDGETS[:3], noise=0.0)


@pytest.mark.parametrize("change, match", [
    (dict(N=np.r_[np.nan, GOOD["N"].to_numpy()[1:]]), "N contains NaN"),
    (dict(D=np.r_[np.inf, GOOD["D"].to_numpy()[1:]]), "D contains an infinite"),
    (dict(loss=np.r_[0.0, GOOD["loss"].to_numpy()[1:]]), "loss must be strictly positive"),
    (dict(N=np.r_[-1.0, GOOD["N"].to_numpy()[1:]]), "N must be strictly positive"),
    (dict(loss=GOOD["loss"].to_numpy()[:-1]), "mismatched lengths"),
    (dict(C=GOOD["C"].to_numpy()[:-1]), "mismatched lengths"),
    (dict(C=np.r_[-1.0, GOOD["C"].to_numpy()[1:]]), "C must be strictly positive"),
    (dict(bootstrap=1), "bootstrap must be 0"),
    (dict(seed=-2), "seed must be at least 0"),
    (dict(min_per_budget=2), "min_per_budget must be at least 3"),
    (dict(budget_rtol=-0.1), "budget_rtol must be strictly positive"),
])
def test_bad_input_raises_naming_the_argument(change, match):
    args = dict(N=GOOD["N"].to_numpy(), D=GOOD["D"].to_numpy(), loss=GOOD["loss"].to_numpy())
    args.update(change)
    N, D, loss = args.pop("N"), args.pop("D"), args.pop("loss")
    with pytest.raises(ValueError, match=match):
        fit_isoflop(N, D, loss, **args)


def test_a_single_budget_is_not_enough():
    one = isoflop_runs(LAW, [1e20], per_budget=9, noise=0.0)
    with pytest.raises(ValueError, match="1 budget"):
        fit(one)
