"""Planted runs, isoFLOP sweeps and training curves (scalingbook.data.planted)."""

import numpy as np
import pandas as pd
import pytest

from scalingbook.data.planted import isoflop_runs, planted_runs, planted_training_curves
from scalingbook.laws.chinchilla import ChinchillaLaw
from scalingbook.laws.kaplan import KaplanLaw

LAW = ChinchillaLaw(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
CURVE_COLUMNS = ["run", "family", "N", "D", "D_final", "fraction", "loss", "loss_true", "final"]


# --- planted_runs ----------------------------------------------------------------------------


def test_planted_runs_broadcast_columns_and_the_law_without_noise():
    N = np.geomspace(1e7, 1e9, 3)
    D = np.geomspace(1e9, 1e11, 4)
    frame = planted_runs(LAW, N[:, None], D[None, :], noise=0.0)
    assert list(frame.columns) == ["N", "D", "C", "loss", "loss_true"]
    assert len(frame) == 12
    np.testing.assert_array_equal(frame["N"], np.repeat(N, 4))
    np.testing.assert_array_equal(frame["D"], np.tile(D, 3))
    np.testing.assert_allclose(frame["C"], 6 * frame["N"] * frame["D"], rtol=1e-15)
    np.testing.assert_array_equal(frame["loss"], LAW.loss(frame["N"].to_numpy(), frame["D"].to_numpy()))
    np.testing.assert_array_equal(frame["loss"], frame["loss_true"])
    # scalars make one run
    assert len(planted_runs(LAW, 1e8, 2e9)) == 1


def test_planted_runs_deterministic_by_seed_with_lognormal_noise_of_the_stated_std():
    N = np.full(4000, 1e8)
    a = planted_runs(LAW, N, 2e9, noise=0.02, seed=3)
    b = planted_runs(LAW, N, 2e9, noise=0.02, seed=3)
    c = planted_runs(LAW, N, 2e9, noise=0.02, seed=4)
    pd.testing.assert_frame_equal(a, b)
    assert not np.array_equal(a["loss"], c["loss"])
    log_ratio = np.log(a["loss"] / a["loss_true"])
    # sample std of 4000 normals: relative standard error 1/sqrt(2 * 4000) = 1.1%; allow 5%
    assert log_ratio.std() == pytest.approx(0.02, rel=0.05)
    assert abs(log_ratio.mean()) < 4 * 0.02 / np.sqrt(4000)


def test_planted_runs_work_with_any_law_that_has_a_loss():
    kaplan = KaplanLaw(alpha_N=0.076, alpha_D=0.095, N_c=8.8e13, D_c=5.4e13)
    frame = planted_runs(kaplan, [1e8, 1e9], [1e10, 1e11], noise=0.0)
    np.testing.assert_allclose(frame["loss"], kaplan.loss(np.array([1e8, 1e9]), np.array([1e10, 1e11])))


@pytest.mark.parametrize("kwargs, match", [
    (dict(N=[1e8, np.nan], D=1e9), "N contains NaN"),
    (dict(N=[1e8, np.inf], D=1e9), "N contains an infinite"),
    (dict(N=1e8, D=[1e9, -1.0]), "D must be strictly positive"),
    (dict(N=[1e8, 0.0], D=1e9), "N must be strictly positive"),
    (dict(N=[1e8, 1e9], D=[1e9, 1e10, 1e11]), "N and D must broadcast"),
    (dict(N=1e8, D=1e9, noise=-0.1), "noise must be zero or positive"),
    (dict(N=1e8, D=1e9, noise=np.nan), "noise must be finite"),
    (dict(N=1e8, D=1e9, seed=-1), "seed must be at least 0"),
    (dict(N=1e8, D=1e9, seed=1.5), "seed must be an integer"),
])
def test_planted_runs_reject_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        planted_runs(LAW, **kwargs)


def test_generators_reject_a_law_without_the_methods_they_need():
    with pytest.raises(ValueError, match="law must have a loss"):
        planted_runs(object(), 1e8, 1e9)

    class LossOnly:
        def loss(self, N, D):
            return 2.0 + 0 * N * D

    with pytest.raises(ValueError, match="law must have a compute_optimal"):
        isoflop_runs(LossOnly(), [1e18])
    with pytest.raises(ValueError, match="law must have a loss"):
        planted_training_curves("not a law", 1e8, 1e9)


# --- isoflop_runs ----------------------------------------------------------------------------


def test_isoflop_runs_lay_out_profiles_around_the_compute_optimal_size():
    budgets = np.array([1e18, 1e20, 1e22])
    frame = isoflop_runs(LAW, budgets, per_budget=5, span=2.0, noise=0.0)
    assert list(frame.columns) == ["N", "D", "C", "loss", "loss_true"]
    assert len(frame) == 15
    np.testing.assert_array_equal(frame["C"], np.repeat(budgets, 5))
    np.testing.assert_allclose(6 * frame["N"] * frame["D"], frame["C"], rtol=1e-12)
    n_star = LAW.compute_optimal(budgets)[0]
    for budget, profile in frame.groupby("C"):
        sizes = profile["N"].to_numpy()
        star = n_star[list(budgets).index(budget)]
        # log-spaced, centered on N*, two decades wide
        np.testing.assert_allclose(np.exp(np.log(sizes).mean()), star, rtol=1e-12)
        np.testing.assert_allclose(sizes.max() / sizes.min(), 100.0, rtol=1e-12)
        np.testing.assert_allclose(np.diff(np.log10(sizes)), 0.5, rtol=1e-12)
        # the planted optimum: the middle size has the lowest loss of the profile
        assert profile["loss_true"].to_numpy().argmin() == 2
    np.testing.assert_array_equal(frame["loss"], frame["loss_true"])
    one = isoflop_runs(LAW, [1e20], per_budget=1, noise=0.0)
    assert one["N"].iloc[0] == pytest.approx(LAW.compute_optimal(1e20)[0], rel=1e-12)


def test_isoflop_runs_center_on_a_prior_guess_and_are_seeded():
    guess = ChinchillaLaw(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.40)
    frame = isoflop_runs(LAW, [1e19, 1e21], per_budget=3, center=guess, noise=0.0)
    middle = frame["N"].to_numpy()[[1, 4]]
    np.testing.assert_allclose(middle, guess.compute_optimal(np.array([1e19, 1e21]))[0])
    a = isoflop_runs(LAW, [1e19, 1e21], seed=7)
    b = isoflop_runs(LAW, [1e19, 1e21], seed=7)
    c = isoflop_runs(LAW, [1e19, 1e21], seed=8)
    pd.testing.assert_frame_equal(a, b)
    assert not np.array_equal(a["loss"], c["loss"])
    with pytest.raises(ValueError, match="center must have a compute_optimal"):
        isoflop_runs(LAW, [1e19], center=3.0)


@pytest.mark.parametrize("kwargs, match", [
    (dict(budgets=[1e18, np.nan]), "budgets contains NaN"),
    (dict(budgets=[1e18, -1e19]), "budgets must be strictly positive"),
    (dict(budgets=[[1e18]]), "budgets must be 1-dimensional"),
    (dict(budgets=[1e18], per_budget=0), "per_budget must be at least 1"),
    (dict(budgets=[1e18], span=0.0), "span must be strictly positive"),
    (dict(budgets=[1e18], noise=-1.0), "noise must be zero or positive"),
])
def test_isoflop_runs_reject_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        isoflop_runs(LAW, **kwargs)


# --- planted_training_curves -----------------------------------------------------------------


def test_training_curves_columns_checkpoints_and_final_flags():
    N = np.array([1e7, 1e8])
    D_final = np.array([[2e8], [2e9]])  # broadcast to a 2 x 2 grid of runs
    frame = planted_training_curves(LAW, N[None, :], D_final, checkpoints=4)
    assert list(frame.columns) == CURVE_COLUMNS
    assert len(frame) == 4 * 4
    assert frame["run"].nunique() == 4 and (frame.groupby("run").size() == 4).all()
    assert (frame.groupby("run")["final"].sum() == 1).all()
    np.testing.assert_array_equal(frame["fraction"], np.tile([0.25, 0.5, 0.75, 1.0], 4))
    np.testing.assert_allclose(frame["D"], frame["fraction"] * frame["D_final"], rtol=1e-15)
    assert (frame.loc[frame["final"], "D"] == frame.loc[frame["final"], "D_final"]).all()
    assert frame["final"].dtype == bool and set(frame["family"]) == {"planted"}
    assert frame["run"].tolist()[::4] == ["planted/0", "planted/1", "planted/2", "planted/3"]
    # fractions given explicitly: sorted, and the final checkpoint is added when missing
    explicit = planted_training_curves(LAW, 1e8, 2e9, checkpoints=[0.5, 0.1])
    np.testing.assert_array_equal(explicit["fraction"], [0.1, 0.5, 1.0])


def test_noise_free_curves_without_transient_are_the_law_at_every_checkpoint():
    frame = planted_training_curves(LAW, [1e7, 1e8], [2e8, 2e9], noise=0.0, early_transient=None)
    law = LAW.loss(frame["N"].to_numpy(), frame["D"].to_numpy())
    np.testing.assert_array_equal(frame["loss"], law)
    np.testing.assert_array_equal(frame["loss_true"], law)


def test_default_transient_decays_with_tokens_and_leaves_final_checkpoints_on_the_law():
    frame = planted_training_curves(LAW, [1e7, 1e8], [4e8, 2e9], noise=0.0)
    excess = frame["loss_true"] - LAW.loss(frame["N"].to_numpy(), frame["D"].to_numpy())
    np.testing.assert_allclose(excess, 1.0 * np.exp(-frame["D"] / 2e7), rtol=1e-9, atol=1e-12)
    assert excess.iloc[0] > 0.3  # the first checkpoint (2e7 tokens) is e^-1 nats above the law
    final = frame[frame["final"]]
    # D_final >= 4e8 = 20 decay lengths: the transient left is below 1e-8 nats
    np.testing.assert_allclose(final["loss"], LAW.loss(final["N"].to_numpy(), final["D"].to_numpy()),
                               rtol=0, atol=1e-8)
    # the transient fills a larger part of a shorter run
    short = excess[frame["run"] == "planted/0"].to_numpy()
    long = excess[frame["run"] == "planted/1"].to_numpy()
    assert (short[:5] > long[:5]).all()


def test_schedule_gap_puts_a_cosine_checkpoint_above_a_run_that_ended_there():
    frame = planted_training_curves(LAW, 1e8, [2e9, 1e9], checkpoints=[0.5, 1.0], noise=0.0,
                                     early_transient=None, schedule_gap=0.2)
    mid_of_long = frame[(frame["run"] == "planted/0") & (frame["fraction"] == 0.5)]
    end_of_short = frame[(frame["run"] == "planted/1") & frame["final"]]
    assert mid_of_long["D"].iloc[0] == end_of_short["D"].iloc[0] == 1e9
    gap = mid_of_long["loss_true"].iloc[0] - end_of_short["loss_true"].iloc[0]
    assert gap == pytest.approx(0.2 * (1 + np.cos(np.pi / 2)) / 2, rel=1e-12)  # 0.1 nats
    assert end_of_short["loss_true"].iloc[0] == pytest.approx(LAW.loss(1e8, 1e9), rel=1e-15)


def test_training_curves_are_seeded_and_run_noise_is_shared_within_a_run():
    kwargs = dict(law=LAW, N=[1e7, 1e8, 1e9], D_final=[2e8, 2e9, 2e10])
    a = planted_training_curves(**kwargs, seed=5)
    b = planted_training_curves(**kwargs, seed=5)
    c = planted_training_curves(**kwargs, seed=6)
    pd.testing.assert_frame_equal(a, b)
    assert not np.array_equal(a["loss"], c["loss"])
    shared = planted_training_curves(**kwargs, noise=0.0, run_noise=0.05, seed=5)
    log_ratio = np.log(shared["loss"] / shared["loss_true"])
    per_run = log_ratio.groupby(shared["run"]).agg(["min", "max"])
    np.testing.assert_allclose(per_run["min"], per_run["max"], atol=1e-12)
    assert per_run["min"].nunique() == 3


def test_family_labels_one_or_per_run():
    frame = planted_training_curves(LAW, [1e7, 1e8], 2e9, checkpoints=2, family="gpt")
    assert set(frame["family"]) == {"gpt"} and frame["run"].iloc[-1] == "gpt/1"
    frame = planted_training_curves(LAW, [1e7, 1e8], 2e9, checkpoints=2, family=["a", "b"])
    assert frame["family"].tolist() == ["a", "a", "b", "b"]
    with pytest.raises(ValueError, match="family must be one label or one per run"):
        planted_training_curves(LAW, [1e7, 1e8], 2e9, family=["a", "b", "c"])


@pytest.mark.parametrize("kwargs, match", [
    (dict(N=[1e7, np.nan], D_final=2e9), "N contains NaN"),
    (dict(N=1e7, D_final=[2e9, 0.0]), "D_final must be strictly positive"),
    (dict(N=1e7, D_final=np.inf), "D_final contains an infinite"),
    (dict(N=[1e7, 1e8], D_final=[1e9, 2e9, 3e9]), "N and D_final must broadcast"),
    (dict(N=1e7, D_final=2e9, checkpoints=0), "checkpoints must be at least 1"),
    (dict(N=1e7, D_final=2e9, checkpoints=[0.0, 0.5]), r"checkpoints must be fractions .* \(0, 1\]"),
    (dict(N=1e7, D_final=2e9, checkpoints=[0.5, 1.5]), r"checkpoints must be fractions"),
    (dict(N=1e7, D_final=2e9, checkpoints=[]), "checkpoints must hold at least one"),
    (dict(N=1e7, D_final=2e9, checkpoints=[0.5, np.nan]), "checkpoints contains NaN"),
    (dict(N=1e7, D_final=2e9, run_noise=-0.01), "run_noise must be zero or positive"),
    (dict(N=1e7, D_final=2e9, early_transient=1.0), "early_transient must be None or"),
    (dict(N=1e7, D_final=2e9, early_transient=(1.0, 0.0)), "early_transient decay tokens must be"),
    (dict(N=1e7, D_final=2e9, early_transient=(-1.0, 1e7)), "early_transient amplitude must be zero"),
    (dict(N=1e7, D_final=2e9, schedule_gap=-0.1), "schedule_gap must be zero or positive"),
    (dict(N=1e7, D_final=2e9, seed=True), "seed must be an integer"),
])
def test_training_curves_reject_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        planted_training_curves(LAW, **kwargs)
