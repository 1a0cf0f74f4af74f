"""The chapter-1 lab: its experiment function and its ipywidgets controls."""

from __future__ import annotations

import pytest

from scalingbook.labs import LearningCurveLab, run_learning_curve_experiment

SMALL = dict(input_dim=4, teacher_width=2, noise_std=0.3, weight_scale=1.0, max_log2_size=7, n_seeds=2, widths=(4,), steps=200, bootstrap=20)


def test_experiment_is_deterministic_and_fits_a_curve():
    a = run_learning_curve_experiment(**SMALL)
    b = run_learning_curve_experiment(**SMALL)
    assert len(a.chosen) == 8 * 2  # sizes 1..128, two seeds, one row each
    assert a.fit.params == b.fit.params
    assert a.fit.params["beta"] > 0
    low, high = a.fit.ci["beta"]
    assert low <= high


def test_button_click_reruns_the_experiment():
    lab = LearningCurveLab()
    lab.input_dim.value, lab.teacher_width.value, lab.weight_scale.value = 4, 2, 1.0
    lab.max_log2.value, lab.seeds.value, lab.widths.value, lab.steps.value = 5, 2, (4,), 200
    assert lab.result is None
    lab.run_button.click()
    assert lab.result is not None
    assert sorted(lab.result.chosen["m"].unique()) == [1, 2, 4, 8, 16, 32]
    assert lab.output.outputs, "the lab showed nothing after a run"
    first = lab.result
    lab.noise.value = 0.8
    lab.run_button.click()
    assert lab.result is not first
    # More label noise raises the floor the fit finds.
    assert lab.result.fit.params["irreducible_error"] > first.fit.params["irreducible_error"]
    assert not lab.run_button.disabled


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(max_log2_size=1), "max_log2_size"),
        (dict(n_seeds=1), "n_seeds"),
        (dict(noise_std=0.0), "noise_std"),
        (dict(widths=()), "widths"),
    ],
)
def test_experiment_rejects_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        run_learning_curve_experiment(**{**SMALL, **kwargs})


def test_estimation_lab_fits_and_extrapolates():
    from scalingbook.labs import EstimationLab, run_estimation_experiment

    a = run_estimation_experiment(starts="45 (every 100th)", bootstrap=0, n_sizes=4, ratios=3)
    b = run_estimation_experiment(starts="45 (every 100th)", bootstrap=0, n_sizes=4, ratios=3)
    assert len(a.runs) == 12 and a.fit.params == b.fit.params
    assert a.fit.n_points == 12 and a.study.summary["n_runs"].iloc[0] == 12
    lab = EstimationLab()
    lab.starts.value, lab.bootstrap.value, lab.log10_n_max.value = "45 (every 100th)", 0, 9.6
    lab.run_button.click()
    assert lab.result is not None and lab.result.fit.n_points < len(lab.result.runs)
    assert "relative error" in lab.output.outputs[0]["text"]
    with pytest.raises(ValueError, match="log10_n_max"):
        run_estimation_experiment(log10_n_max=7.0)
    with pytest.raises(ValueError, match="starts"):
        run_estimation_experiment(starts="all of them")
