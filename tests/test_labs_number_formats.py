"""The number-formats lab: its experiment function and its ipywidgets controls."""

from __future__ import annotations

import pytest

from scalingbook.labs import NumberFormatsLab, run_number_formats_experiment


def test_experiment_stalls_in_round_to_nearest_and_is_deterministic():
    a = run_number_formats_experiment(exp_bits=5, man_bits=10, specials="ieee", increment=1e-4, additions=4000,
                                      lorenz=False)
    assert a.stall_theory == 0.25 and float(a.sum_trace.total) == 0.25
    assert float(a.sum_trace.relative_error) < -0.3
    b = run_number_formats_experiment(exp_bits=5, man_bits=10, rounding="stochastic", increment=1e-4,
                                      additions=4000, lorenz=False, seed=1)
    c = run_number_formats_experiment(exp_bits=5, man_bits=10, rounding="stochastic", increment=1e-4,
                                      additions=4000, lorenz=False, seed=1)
    assert float(b.sum_trace.total) == float(c.sum_trace.total)
    assert abs(float(b.sum_trace.relative_error)) < 0.15
    assert "relative error" in b.report()


def test_experiment_with_lorenz_reports_a_distance():
    r = run_number_formats_experiment(man_bits=5, additions=1000, members=8, steps=200)
    row = r.lorenz.summary.iloc[0]
    assert row["man_bits"] == 5 and row["w_z"] > 0 and r.lorenz.floor.shape == (3,)
    assert "Wasserstein" in r.report()


def test_button_click_reruns_and_reports_bad_settings():
    lab = NumberFormatsLab()
    lab.lorenz.value = False
    lab.additions.value = 2000
    lab.run_button.click()
    assert lab.result is not None and lab.output.outputs
    first = lab.result
    lab.rounding.value = "stochastic"
    lab.run_button.click()
    assert lab.result is not first and lab.result.rounding == "stochastic"
    lab.exp_bits.value, lab.specials.value = 1, "ieee"  # the package refuses this format
    lab.run_button.click()
    assert "cannot run" in lab.output.outputs[0]["text"] and not lab.run_button.disabled


@pytest.mark.parametrize("kwargs,match", [
    (dict(increment=0.0), "increment"),
    (dict(additions=0), "additions"),
    (dict(rounding="up"), "rounding"),
    (dict(exp_bits=9), "exp_bits"),
    (dict(increment=1.0, additions=10**6, exp_bits=5, man_bits=10), "exceeds the largest value"),
])
def test_experiment_rejects_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        run_number_formats_experiment(lorenz=False, **kwargs)
