"""The Hitchhiker's-guide fitting practices (scalingbook.fit.practice)."""

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scalingbook.data.planted import planted_runs, planted_training_curves
from scalingbook.fit.practice import (
    PracticeResult,
    absolute_relative_error,
    compare_practices,
    drop_early,
    evaluate_practice,
    family_weights,
    holdout_largest,
)
from scalingbook.laws.chinchilla import ChinchillaLaw

LAW = ChinchillaLaw(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
# 2^5 = 32 starts in (a, b, e, alpha, beta), as in test_fit_chinchilla: fast, and enough here.
SMALL_GRID = np.array(list(itertools.product([0.0, 10.0], [0.0, 10.0], [-1.0, 1.0],
                                             [0.2, 1.0], [0.2, 1.0])))
SIZES = np.geomspace(1e7, 1e9, 5)  # parameters; the largest, 1e9, is held out
MULTIPLIERS = np.array([10.0, 20.0, 40.0])  # tokens per parameter of each run


def curves(**kwargs):
    """5 sizes x 3 token budgets = 15 runs of 10 checkpoints each."""
    return planted_training_curves(LAW, SIZES[:, None], SIZES[:, None] * MULTIPLIERS[None, :],
                                   checkpoints=10, **kwargs)


# --- absolute_relative_error -----------------------------------------------------------------


def test_are_on_known_numbers():
    are = absolute_relative_error([2.2, 1.8, 3.0], [2.0, 2.0, 3.0])
    np.testing.assert_allclose(are, [0.1, 0.1, 0.0])
    value = absolute_relative_error(2.5, 2.0)
    assert isinstance(value, float) and value == pytest.approx(0.25)
    assert absolute_relative_error(np.ones((2, 2)), 2 * np.ones((2, 2))).shape == (2, 2)


@pytest.mark.parametrize("predicted, actual, match", [
    ([1.0, np.nan], [1.0, 1.0], "predicted contains NaN"),
    ([1.0, 1.0], [1.0, np.inf], "actual contains an infinite"),
    ([1.0, 1.0], [1.0, 0.0], "actual must be strictly positive"),
    ([1.0, 1.0], [1.0, 1.0, 1.0], "predicted has shape"),
])
def test_are_rejects_bad_input(predicted, actual, match):
    with pytest.raises(ValueError, match=match):
        absolute_relative_error(predicted, actual)


# --- drop_early, family_weights, holdout_largest ---------------------------------------------


def test_drop_early_keeps_exactly_the_rows_at_or_after_the_cutoff():
    frame = planted_training_curves(LAW, [1e7, 1e8], [2e8, 2e9], checkpoints=10, noise=0.0)
    kept = drop_early(frame, 0.3)
    expected = frame[frame["fraction"] >= 0.3]
    pd.testing.assert_frame_equal(kept, expected)
    assert len(kept) == 2 * 8 and kept.groupby("run")["fraction"].min().tolist() == [0.3, 0.3]
    assert len(frame) == 20  # the input is untouched
    # by tokens: the first 1e8 tokens of every run, which is most of the short run
    by_tokens = drop_early(frame, 1e8, column="D")
    assert by_tokens.groupby("run").size().tolist() == [6, 10]
    assert (by_tokens["D"] >= 1e8).all()
    # cutoff 0 keeps everything; cutoff 1 keeps the final checkpoints
    assert len(drop_early(frame, 0.0)) == 20
    assert drop_early(frame, 1.0)["final"].all()


@pytest.mark.parametrize("cutoff, column, match", [
    (1.5, "fraction", "cutoff is a fraction"),
    (-0.1, "fraction", "cutoff must be zero or positive"),
    (np.nan, "fraction", "cutoff must be finite"),
    (1e12, "D", "drops every row"),
    (0.1, "tokens", "lacks the column"),
])
def test_drop_early_rejects_bad_input_and_never_drops_everything(cutoff, column, match):
    frame = planted_training_curves(LAW, 1e7, 2e8, checkpoints=4)
    with pytest.raises(ValueError, match=match):
        drop_early(frame, cutoff, column=column)
    with pytest.raises(ValueError, match="frame must be a pandas DataFrame"):
        drop_early(frame.to_numpy(), 0.1)


def test_family_weights_give_every_family_the_same_total():
    labels = ["a"] * 3 + ["b"] + ["c"] * 6
    w = family_weights(labels)
    totals = pd.Series(w).groupby(labels).sum()
    np.testing.assert_allclose(totals, len(labels) / 3)
    assert w.mean() == pytest.approx(1.0)
    np.testing.assert_array_equal(family_weights(labels, scheme="none"), np.ones(10))
    with pytest.raises(ValueError, match="scheme must be one of"):
        family_weights(labels, scheme="sqrt")
    with pytest.raises(ValueError, match="missing label"):
        family_weights(["a", None])
    with pytest.raises(ValueError, match="families is empty"):
        family_weights([])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.sampled_from(["x", "y", "z", "w"]), min_size=1, max_size=60))
def test_family_weights_equal_totals_for_any_labels(labels):
    w = family_weights(labels)
    totals = pd.Series(w).groupby(labels).sum().to_numpy()
    np.testing.assert_allclose(totals, totals[0], rtol=1e-12)
    assert w.sum() == pytest.approx(len(labels))


def test_holdout_takes_out_every_row_of_the_largest_scale_and_targets_its_finals():
    frame = curves(noise=0.0)
    train, target = holdout_largest(frame)
    assert (train["N"] < 1e9).all() and len(train) == 12 * 10
    assert (target["N"] == 1e9).all() and target["final"].all() and len(target) == 3
    assert sorted(target["D"]) == sorted(1e9 * MULTIPLIERS)
    # by compute instead: the largest-C run's final checkpoint only
    frame["C"] = 6 * frame["N"] * frame["D_final"]
    _, target_c = holdout_largest(frame, by="C")
    assert len(target_c) == 1 and target_c["D"].iloc[0] == 4e10
    # a frame of final losses has no "final" column: every largest-scale row is a target
    runs = planted_runs(LAW, SIZES[:, None], SIZES[:, None] * MULTIPLIERS[None, :], noise=0.0)
    train_r, target_r = holdout_largest(runs)
    assert len(train_r) == 12 and len(target_r) == 3
    with pytest.raises(ValueError, match="single value of N"):
        holdout_largest(runs[runs["N"] == 1e9])
    with pytest.raises(ValueError, match="lacks the column 'C'"):
        holdout_largest(runs.drop(columns="C"), by="C")


# --- evaluate_practice and compare_practices -------------------------------------------------


def test_final_checkpoints_of_noise_free_runs_predict_the_largest_exactly():
    frame = curves(noise=0.0, early_transient=None)
    result = evaluate_practice(frame, checkpoints=False, starts=SMALL_GRID)
    assert isinstance(result, PracticeResult) and result.converged
    assert result.n_points == 12 and result.n_runs == 12
    assert result.are < 1e-6 and result.are_true < 1e-6
    np.testing.assert_allclose(result.predicted, LAW.loss(np.full(3, 1e9), 1e9 * MULTIPLIERS), rtol=1e-6)
    assert result.params["alpha"] == pytest.approx(0.34, rel=1e-4)
    assert result.low is None and result.high is None
    row = result.as_row()
    assert row["checkpoints"] is False and row["are"] == result.are
    assert row["beta"] == result.params["beta"]


def test_dropping_the_early_part_lowers_the_are_under_a_strong_transient():
    """A 2-nat transient decaying over 2e7 tokens, 0.2% noise. Measured over seeds 0-3: keeping
    every checkpoint gives ARE 0.75-0.97%, dropping the first 30% of each run 0.27-0.49%
    (both against the noisy target). The test asks for a factor 0.6 on seed 0 (measured 0.41)."""
    frame = curves(noise=0.002, seed=0, early_transient=(2.0, 2e7))
    table = compare_practices(frame, {"checkpoints": [True], "drop_fraction": [0.0, 0.3]},
                              starts=SMALL_GRID)
    assert list(table.columns[:10]) == ["checkpoints", "drop_fraction", "weighting", "n_points",
                                        "n_runs", "predicted", "actual", "are", "are_max", "are_true"]
    assert table["drop_fraction"].tolist() == [0.0, 0.3] and table["converged"].all()
    assert table["n_points"].tolist() == [120, 12 * 8]
    keep, drop = table["are"]
    assert keep > 0.005 and drop < 0.6 * keep
    assert table["are_true"].iloc[1] < 0.6 * table["are_true"].iloc[0]
    # the transient inflates the fitted data exponent; dropping it brings beta back toward 0.28
    assert abs(table["beta"].iloc[1] - 0.28) < abs(table["beta"].iloc[0] - 0.28)


def test_weighting_by_family_or_run_and_a_grouped_bootstrap_band():
    # two families from one law; "small" has three times as many checkpoints per run
    big = planted_training_curves(LAW, SIZES, 20 * SIZES, checkpoints=4, noise=0.002, family="big")
    small = planted_training_curves(LAW, SIZES[:4], 40 * SIZES[:4], checkpoints=12, noise=0.002,
                                    family="small", seed=1)
    frame = pd.concat([big, small], ignore_index=True)
    result = evaluate_practice(frame, weighting="family", drop_fraction=0.25, starts=SMALL_GRID,
                               bootstrap=8, seed=2)
    assert result.weighting == "family" and result.converged
    assert result.n_points == 4 * 4 + 4 * 10 and result.n_runs == 8
    assert len(result.actual) == 1 and result.are < 0.02
    assert result.low is not None and result.low[0] <= result.predicted[0] <= result.high[0]
    assert result.fit.n_bootstrap == 8


def test_compare_practices_accepts_a_list_and_rejects_unknown_settings():
    frame = curves(noise=0.0, early_transient=None)
    practices = [{"checkpoints": False}, {"checkpoints": False, "weighting": "run"}]
    table = compare_practices(frame, practices, starts=SMALL_GRID)
    assert len(table) == 2 and table["weighting"].tolist() == ["none", "run"]
    assert (table["are"] < 1e-6).all()
    with pytest.raises(ValueError, match="unknown key"):
        compare_practices(frame, [{"checkpoint": True}])
    with pytest.raises(ValueError, match="holds no practice"):
        compare_practices(frame, [])


@pytest.mark.parametrize("kwargs, match", [
    (dict(weighting="seed"), "weighting must be one of"),
    (dict(drop_fraction=1.0), "drop_fraction must be below 1"),
    (dict(drop_fraction=-0.1), "drop_fraction must be zero or positive"),
    (dict(checkpoints="yes"), "checkpoints must be True or False"),
    (dict(by="C"), "lacks the column 'C'"),
])
def test_evaluate_practice_rejects_bad_settings_before_fitting(kwargs, match):
    with pytest.raises(ValueError, match=match):
        evaluate_practice(curves(), **kwargs)


def test_too_few_points_left_raises_from_the_fitter():
    frame = planted_training_curves(LAW, [1e7, 1e8, 1e9], [2e8, 2e9, 2e10], checkpoints=4)
    with pytest.raises(ValueError, match="needs at least 6"):
        evaluate_practice(frame, checkpoints=False, starts=SMALL_GRID)
