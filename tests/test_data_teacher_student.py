"""Teacher-student regression tasks with known error floors (scalingbook.data.teacher_student)."""

import numpy as np
import pytest
import torch

from scalingbook.data import LinearTeacherTask, TeacherStudentTask
from scalingbook.train import run_ols_learning_curve


@pytest.fixture(scope="module")
def task():
    return TeacherStudentTask(input_dim=8, teacher_width=6, noise_std=0.3, seed=11)


def test_sample_shapes_dtypes_and_determinism(task):
    X, y = task.sample(100, seed=4)
    assert X.shape == (100, 8) and y.shape == (100,)
    assert X.dtype == torch.float32 and y.dtype == torch.float32
    X2, y2 = task.sample(100, seed=4)
    assert torch.equal(X, X2) and torch.equal(y, y2)
    # a rebuilt task with the same seed is the same task
    again = TeacherStudentTask(input_dim=8, teacher_width=6, noise_std=0.3, seed=11)
    assert torch.equal(again.sample(100, seed=4)[1], y)


def test_different_seeds_are_independent_and_samples_nest(task):
    X0, y0 = task.sample(5000, seed=0)
    X1, _ = task.sample(5000, seed=1)
    corr = np.corrcoef(X0[:, 0].numpy(), X1[:, 0].numpy())[0, 1]
    assert abs(corr) < 0.05  # independent streams: |r| ~ 1/sqrt(5000) = 0.014
    # smaller samples are prefixes of larger ones from the same seed
    Xs, ys = task.sample(37, seed=0)
    assert torch.equal(Xs, X0[:37]) and torch.equal(ys, y0[:37])
    # the test sample shares no stream with any run seed
    Xt, _ = task.test_sample(5000)
    for X in (X0, X1):
        assert abs(np.corrcoef(X[:, 0].numpy(), Xt[:, 0].numpy())[0, 1]) < 0.05


def test_teacher_is_odd_so_its_mean_is_zero(task):
    X, _ = task.sample(2000, seed=2)
    # No biases and an odd activation: f*(-x) = -f*(x) exactly (up to float32 rounding).
    torch.testing.assert_close(task.teacher(-X), -task.teacher(X), rtol=0, atol=1e-6)
    f = task.teacher(task.sample(1 << 17, seed=3)[0]).double()
    assert abs(float(f.mean())) < 4 / np.sqrt(1 << 17)  # unit variance: 4 standard errors


def test_teacher_has_unit_variance_and_errors_match_their_definitions(task):
    X, y = task.sample(1 << 17, seed=5)
    f = task.teacher(X).double()
    y = y.double()
    assert float(f.var()) == pytest.approx(1.0, rel=0.02)
    # predicting 0 (the mean) gives the best-guess error; the teacher itself the floor
    assert task.best_guess_error == pytest.approx(1.0 + 0.09)
    assert float((y**2).mean()) == pytest.approx(task.best_guess_error, rel=0.02)
    assert task.irreducible_error == pytest.approx(0.09)
    assert float(((y - f) ** 2).mean()) == pytest.approx(task.irreducible_error, rel=0.02)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(input_dim=0, teacher_width=4, noise_std=0.1), "input_dim"),
        (dict(input_dim=4, teacher_width=-1, noise_std=0.1), "teacher_width"),
        (dict(input_dim=4, teacher_width=4, noise_std=-0.1), "noise_std"),
        (dict(input_dim=4, teacher_width=4, noise_std=float("nan")), "noise_std"),
        (dict(input_dim=4.5, teacher_width=4, noise_std=0.1), "input_dim"),
        (dict(input_dim=4, teacher_width=4, noise_std=0.1, seed=-2), "seed"),
    ],
)
def test_task_rejects_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        TeacherStudentTask(**kwargs)


def test_sample_and_teacher_reject_bad_arguments(task):
    with pytest.raises(ValueError, match=r"^n\b"):
        task.sample(0, seed=1)
    with pytest.raises(ValueError, match=r"^seed\b"):
        task.sample(10, seed=-1)
    with pytest.raises(ValueError, match=r"^x must have shape"):
        task.teacher(torch.zeros(5, 3))


def test_linear_teacher_floor_and_ols_formula_validation():
    lin = LinearTeacherTask(input_dim=8, noise_std=0.5, seed=0)
    assert np.linalg.norm(lin.w) == pytest.approx(1.0)
    assert lin.best_guess_error == pytest.approx(1.25)
    assert lin.ols_expected_test_error(41) == pytest.approx(0.25 * (1 + 8 / 32))
    np.testing.assert_allclose(lin.ols_expected_test_error([10, 41]), 0.25 * (1 + 8 / np.array([1.0, 32.0])))
    with pytest.raises(ValueError, match=r"^m must exceed input_dim \+ 1"):
        lin.ols_expected_test_error(9)
    with pytest.raises(ValueError, match=r"^m\b"):
        lin.ols_expected_test_error(np.nan)


def test_ols_excess_risk_matches_the_inverse_wishart_formula():
    # E[excess] = sigma^2 d / (m - d - 1) for OLS on Gaussian inputs; average 300 datasets.
    lin = LinearTeacherTask(input_dim=8, noise_std=0.5, seed=1)
    df = run_ols_learning_curve(lin, sizes=[12, 40, 200], seeds=range(300), test_size=4096)
    means = df.groupby("m")["test_excess_error"].mean()
    for m in (12, 40, 200):
        expected_excess = lin.ols_expected_test_error(m) - lin.irreducible_error
        # per-dataset excess is skewed (heaviest at m = 12); 300 draws put the mean within ~10%
        assert means[m] == pytest.approx(expected_excess, rel=0.15)
    assert means[12] > 5 * means[200]


def test_weight_scale_saturates_the_teacher_and_keeps_its_variance():
    """A larger pre-activation scale makes the units step-like (more nonlinear), and the
    normalizer still gives the teacher unit variance, so the task's asymptotes stay known."""
    import numpy as np

    soft = TeacherStudentTask(input_dim=8, teacher_width=32, noise_std=0.1, seed=0)
    sharp = TeacherStudentTask(input_dim=8, teacher_width=32, noise_std=0.1, seed=0, weight_scale=3.0)
    x = np.random.default_rng(5).standard_normal((200_000, 8))
    for task in (soft, sharp):
        assert task._teacher_np(x).var() == pytest.approx(1.0, rel=0.02)

    # Share of the teacher's variance a linear fit leaves unexplained: its nonlinear part.
    def nonlinear_share(task):
        y = task._teacher_np(x)
        w, *_ = np.linalg.lstsq(x, y, rcond=None)
        return float(np.mean((y - x @ w) ** 2) / y.var())

    assert nonlinear_share(sharp) > 2 * nonlinear_share(soft)


def test_weight_scale_is_validated():
    with pytest.raises(ValueError, match="weight_scale"):
        TeacherStudentTask(input_dim=4, teacher_width=2, noise_std=0.1, weight_scale=0.0)
    with pytest.raises(ValueError, match="weight_scale"):
        TeacherStudentTask(input_dim=4, teacher_width=2, noise_std=0.1, weight_scale=float("nan"))
