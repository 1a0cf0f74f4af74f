"""The compute-optimal lab: its experiment function and its ipywidgets controls."""

import pytest

from scalingbook.labs.compute_optimal import ComputeOptimalLab, run_compute_optimal_experiment
from scalingbook.papers import hoffmann2022

FAST = dict(bootstrap=0, starts_every=100)


def test_experiment_allocates_and_recovers_a_planted_law():
    result = run_compute_optimal_experiment(noise=0.0, span=2.0, **FAST)
    mine = result.allocation.set_index("law").loc["your law"]
    n, d = hoffmann2022.APPROACH_3.compute_optimal(5.76e23)
    assert mine["N_opt"] == pytest.approx(n) and mine["D_opt"] == pytest.approx(d)
    assert len(result.allocation) == 5 and len(result.sweep) == 5 * 7
    # Without noise, both routes find the planted exponent (the parabola's bias moves N_coef only).
    assert result.isoflop.a == pytest.approx(result.a_true, abs=0.005)
    assert result.a_parametric == pytest.approx(result.a_true, abs=0.005)
    assert "approach 2" in result.summary() and "your law" in result.summary()


def test_experiment_is_seeded():
    a = run_compute_optimal_experiment(noise=0.01, bootstrap=20, seed=1, starts_every=100)
    b = run_compute_optimal_experiment(noise=0.01, bootstrap=20, seed=1, starts_every=100)
    c = run_compute_optimal_experiment(noise=0.01, bootstrap=20, seed=2, starts_every=100)
    assert a.isoflop.a == b.isoflop.a and a.isoflop.ci == b.isoflop.ci
    assert a.isoflop.a != c.isoflop.a


@pytest.mark.parametrize("kwargs, match", [
    (dict(alpha=0.0), "alpha"),
    (dict(budget=-1.0), "budget"),
    (dict(n_budgets=1), "n_budgets"),
    (dict(per_budget=2), "per_budget"),
    (dict(noise=-0.1), "noise"),
    (dict(sweep_decades=0.0), "sweep_decades"),
    (dict(starts_every=0), "starts_every"),
])
def test_experiment_rejects_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        run_compute_optimal_experiment(**{**FAST, **kwargs})


def test_button_reruns_with_the_controls():
    lab = ComputeOptimalLab()
    lab.noise.value = 0.0
    assert lab.result is None
    lab.run_button.click()
    assert lab.result is not None and not lab.run_button.disabled
    first = lab.result
    assert "approach 3" in lab.output.outputs[0]["text"]
    lab.beta.value = 0.4  # data exponent up: the optimum shifts toward parameters
    lab.run_button.click()
    assert lab.result is not first
    assert lab.result.a_true > first.a_true
    assert lab.result.law.beta == pytest.approx(0.4)
