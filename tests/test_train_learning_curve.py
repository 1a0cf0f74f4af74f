"""The MLP student, its trainer and the learning-curve sweeps (scalingbook.models, scalingbook.train)."""

import numpy as np
import pandas as pd
import pytest
import torch

from scalingbook.data import LinearTeacherTask, TeacherStudentTask
from scalingbook.models import MLP
from scalingbook.train import (
    HESTNESS_FULL,
    HESTNESS_QUICK,
    LearningCurvePreset,
    best_by_validation,
    run_learning_curve,
    run_ols_learning_curve,
    train_regressor,
)


@pytest.fixture(scope="module")
def task():
    return TeacherStudentTask(input_dim=6, teacher_width=3, noise_std=0.2, seed=3)


# --- MLP ----------------------------------------------------------------------------------------


def test_mlp_shapes_parameter_count_and_zero_output_init():
    one = MLP(input_dim=5, width=7)
    assert one.n_params == 5 * 7 + 7 + 7 + 1
    two = MLP(input_dim=5, width=7, depth=2, activation="relu")
    assert two.n_params == 5 * 7 + 7 + 7 * 7 + 7 + 7 + 1
    x = torch.randn(11, 5)
    for model in (one, two, MLP(5, 3, activation="gelu")):
        out = model(x)
        assert out.shape == (11,)
        assert torch.count_nonzero(out) == 0  # zero output layer: the untrained net predicts 0


def test_mlp_init_is_seeded():
    a, b, c = MLP(4, 8, seed=1), MLP(4, 8, seed=1), MLP(4, 8, seed=2)
    assert torch.equal(a.hidden[0].weight, b.hidden[0].weight)
    assert not torch.equal(a.hidden[0].weight, c.hidden[0].weight)
    # N(0, 1/fan_in): pre-activations of unit scale
    big = MLP(100, 2000, seed=0).hidden[0].weight
    assert float(big.detach().std()) == pytest.approx(0.1, rel=0.02)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(input_dim=0, width=4), "input_dim"),
        (dict(input_dim=3, width=0), "width"),
        (dict(input_dim=3, width=4, depth=0), "depth"),
        (dict(input_dim=3, width=4, activation="sigmoid"), "activation"),
        (dict(input_dim=3, width=4, seed=-1), "seed"),
    ],
)
def test_mlp_rejects_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        MLP(**kwargs)


def test_mlp_rejects_wrong_input_shape():
    with pytest.raises(ValueError, match=r"^x must have shape \(n, 3\)"):
        MLP(3, 4)(torch.zeros(2, 4))


# --- train_regressor ------------------------------------------------------------------------------


def _split(task, m, seed, val=512):
    X, y = task.sample(val + m, seed)
    return X[val:], y[val:], X[:val], y[:val]


def test_train_regressor_learns_and_returns_its_best_snapshot(task):
    Xt, yt, Xv, yv = _split(task, 400, seed=0)
    res = train_regressor(MLP(6, 16, seed=0), Xt, yt, Xv, yv, steps=400, seed=0)
    # from the best guess (about 1.04) down towards the floor (0.04)
    assert res.val_error < 0.3 * task.best_guess_error
    with torch.no_grad():
        recomputed = float(((res.model(Xv) - yv) ** 2).mean())
    assert recomputed == pytest.approx(res.val_error, rel=1e-5)
    assert 0 < res.best_step <= res.steps_run <= 400


def test_train_regressor_is_deterministic_and_seed_matters(task):
    Xt, yt, Xv, yv = _split(task, 600, seed=1)  # m > batch_size: minibatches drawn from `seed`
    kw = dict(steps=150, batch_size=64, patience=None)
    a = train_regressor(MLP(6, 8, seed=0), Xt, yt, Xv, yv, seed=5, **kw)
    b = train_regressor(MLP(6, 8, seed=0), Xt, yt, Xv, yv, seed=5, **kw)
    c = train_regressor(MLP(6, 8, seed=0), Xt, yt, Xv, yv, seed=6, **kw)
    assert torch.equal(a.model.hidden[0].weight, b.model.hidden[0].weight)
    assert not torch.equal(a.model.hidden[0].weight, c.model.hidden[0].weight)


def test_early_stopping_keeps_the_untrained_net_when_training_only_hurts(task):
    # Labels of pure noise: any fitting makes validation worse, so step 0 (predict 0) is best.
    Xt, _, Xv, yv = _split(task, 16, seed=2)
    noise = torch.randn(16, generator=torch.Generator().manual_seed(0)) * 3
    res = train_regressor(MLP(6, 32, seed=0), Xt, noise, Xv, yv, steps=400, lr=3e-2, eval_every=10, patience=5)
    assert res.best_step == 0
    assert res.steps_run < 400
    assert res.val_error == pytest.approx(float((yv**2).mean()), rel=1e-6)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(steps=0), "steps"),
        (dict(lr=0.0), "lr"),
        (dict(batch_size=0), "batch_size"),
        (dict(patience=0), "patience"),
        (dict(seed=-1), "seed"),
    ],
)
def test_train_regressor_rejects_bad_settings(task, kwargs, name):
    Xt, yt, Xv, yv = _split(task, 20, seed=0)
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        train_regressor(MLP(6, 4), Xt, yt, Xv, yv, **kwargs)


def test_train_regressor_rejects_bad_data(task):
    Xt, yt, Xv, yv = _split(task, 20, seed=0)
    with pytest.raises(ValueError, match=r"^y_train must have shape \(20,\)"):
        train_regressor(MLP(6, 4), Xt, yt[:10], Xv, yv)
    with pytest.raises(ValueError, match=r"^X_val must have shape \(n, 6\)"):
        train_regressor(MLP(6, 4), Xt, yt, Xv[:, :3], yv)
    bad = yt.clone()
    bad[3] = float("nan")
    with pytest.raises(ValueError, match=r"^y_train contains NaN"):
        train_regressor(MLP(6, 4), Xt, bad, Xv, yv)


# --- sweeps ----------------------------------------------------------------------------------------


def test_vectorized_sweep_matches_training_one_by_one(task):
    # Mixed widths (padding), full-batch and minibatch sizes, and early stopping that drops
    # members from the stack mid-run: every student must still follow its own trajectory.
    kw = dict(sizes=[8, 40, 300], seeds=[0, 1], widths=[2, 9], steps=300, batch_size=64,
              eval_every=10, patience=4, val_size=256, test_size=2048)
    fast = run_learning_curve(task, vectorize=True, **kw)
    slow = run_learning_curve(task, vectorize=False, **kw)
    assert len(fast) == 3 * 2 * 2
    # (best_step is not compared: a float-rounding tie between two evaluations may pick either)
    for col in ("val_error", "test_error", "test_excess_error"):
        np.testing.assert_allclose(fast[col], slow[col], rtol=2e-4)
    assert fast["best_step"].min() < 300 - 40  # some students did stop early


def test_sweep_records_and_learning(task):
    df = run_learning_curve(task, sizes=[4, 512], seeds=[0], widths=[3, 12], steps=400,
                            val_size=512, test_size=4096)
    assert list(df.columns) == ["m", "seed", "width", "n_params", "val_error", "test_error",
                                "test_excess_error", "best_step", "train_time_s"]
    assert df["n_params"].tolist() == [MLP(6, w).n_params for w in (3, 12)] * 2
    best = best_by_validation(df).set_index("m")
    # more data, lower error: m = 4 sits near the best guess, m = 512 near the floor
    assert best.loc[4, "test_error"] > 0.5 * task.best_guess_error
    assert best.loc[512, "test_error"] < 3 * task.irreducible_error
    # the excess column is the test error less the (sample) noise floor
    gap = df["test_error"] - df["test_excess_error"]
    np.testing.assert_allclose(gap, task.irreducible_error, rtol=0.25)


def test_best_by_validation_picks_lowest_validation_error_smaller_width_on_ties():
    df = pd.DataFrame({
        "m": [10, 10, 10, 10, 20, 20],
        "seed": [0, 0, 1, 1, 0, 0],
        "width": [4, 8, 4, 8, 8, 4],
        "val_error": [0.5, 0.3, 0.2, 0.2, 0.1, 0.4],
        "test_error": [0.51, 0.31, 0.21, 0.19, 0.11, 0.41],
    })
    best = best_by_validation(df)
    assert best[["m", "seed", "width"]].values.tolist() == [[10, 0, 8], [10, 1, 4], [20, 0, 8]]
    with pytest.raises(ValueError, match=r"^df is missing columns \['val_error'\]"):
        best_by_validation(df.drop(columns="val_error"))
    with pytest.raises(ValueError, match=r"^df is empty"):
        best_by_validation(df.iloc[:0])


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(sizes=[]), "sizes is empty"),
        (dict(sizes=[8, 8]), "sizes has repeated values"),
        (dict(sizes=[0, 8]), r"sizes\[0\]"),
        (dict(seeds=[-1]), r"seeds\[0\]"),
        (dict(widths=[2.5]), r"widths\[0\]"),
        (dict(activation="swish"), "activation"),
        (dict(val_size=0), "val_size"),
        (dict(num_threads=0), "num_threads"),
    ],
)
def test_sweep_rejects_bad_arguments(task, kwargs, name):
    args = dict(sizes=[8], seeds=[0], widths=[2], steps=5)
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        run_learning_curve(task, **args)


def test_sweep_restores_the_callers_thread_setting(task):
    before = torch.get_num_threads()
    run_learning_curve(task, sizes=[8], seeds=[0], widths=[2], steps=5, num_threads=1)
    assert torch.get_num_threads() == before


def test_ols_sweep_columns_and_size_check():
    lin = LinearTeacherTask(input_dim=4, noise_std=0.1, seed=0)
    df = run_ols_learning_curve(lin, sizes=[8, 64], seeds=[0, 1], test_size=1024)
    assert list(df.columns) == ["m", "seed", "n_params", "test_error", "test_excess_error", "expected_test_error"]
    assert len(df) == 4 and (df["n_params"] == 4).all()
    with pytest.raises(ValueError, match=r"^sizes must all exceed input_dim \+ 1 = 5"):
        run_ols_learning_curve(lin, sizes=[5, 64], seeds=[0])
    # a nonlinear teacher has no closed form: NaN, said in the docstring
    nonlin = TeacherStudentTask(input_dim=4, teacher_width=2, noise_std=0.1)
    assert run_ols_learning_curve(nonlin, sizes=[16], seeds=[0])["expected_test_error"].isna().all()


@pytest.mark.parametrize("preset", [HESTNESS_QUICK, HESTNESS_FULL])
def test_presets_are_geometric_and_consistent(preset):
    assert isinstance(preset, LearningCurvePreset)
    for sizes in (preset.sizes, preset.ols_sizes):
        ratios = np.array(sizes[1:]) / np.array(sizes[:-1])
        np.testing.assert_allclose(ratios, ratios[0])
        assert ratios[0] > 1
    assert min(preset.ols_sizes) > preset.input_dim + 1
    task = preset.task()
    assert task.best_guess_error / task.irreducible_error > 50  # room for all three regions
    assert preset.linear_task().input_dim == preset.input_dim


def test_quick_preset_is_a_subset_of_full_in_cost():
    quick = len(HESTNESS_QUICK.sizes) * len(HESTNESS_QUICK.seeds) * len(HESTNESS_QUICK.widths) * HESTNESS_QUICK.steps
    full = len(HESTNESS_FULL.sizes) * len(HESTNESS_FULL.seeds) * len(HESTNESS_FULL.widths) * HESTNESS_FULL.steps
    assert quick * 5 < full
