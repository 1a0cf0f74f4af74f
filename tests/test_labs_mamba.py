"""The Mamba chapter's lab: its experiment function and its ipywidgets controls."""

from __future__ import annotations

import pytest

from scalingbook.labs import MambaLab, run_mamba_experiment

SMALL = {"steps": 6, "length": 8, "n_data": 2, "n_symbols": 4, "d_model": 16, "d_state": 4,
         "batch_size": 8}


def test_experiment_is_deterministic_and_switches_selection():
    a = run_mamba_experiment(**SMALL)
    b = run_mamba_experiment(**SMALL)
    assert a.result.history.drop(columns="seconds").equals(b.result.history.drop(columns="seconds"))
    assert a.selective and 0 <= a.accuracy <= 1
    lti = run_mamba_experiment(**{**SMALL, "selective": False})
    assert not lti.selective and not lti.result.model.cfg.selective
    assert a.result.model.cfg.selective and a.result.model.cfg.d_state == 4
    heads = run_mamba_experiment(**{**SMALL, "task": "induction heads"})
    assert heads.task.seq_len == 8 and heads.result.history["step"].iloc[-1] == 6


def test_button_click_trains_and_runs_accumulate():
    lab = MambaLab()
    lab.steps.value, lab.length.value, lab.d_state.value = 20, 8, 2
    assert lab.result is None
    lab.run_button.click()
    assert lab.result is not None and len(lab.runs) == 1
    assert lab.result.result.history["step"].iloc[-1] == 20 and lab.result.d_state == 2
    assert "held-out accuracy" in lab.output.outputs[0]["text"]
    lab.selective.value = False
    lab.run_button.click()
    assert len(lab.runs) == 2 and not lab.result.selective and not lab.run_button.disabled
    lab.clear_button.click()
    assert lab.runs == [] and not lab.output.outputs


@pytest.mark.parametrize("kwargs,match", [
    ({"task": "copying"}, "task must be one of"),
    ({"selective": 1}, "selective must be True or False"),
    ({"d_state": 0}, "d_state must be at least 1"),
    ({"steps": 1}, "steps must be at least 2"),
    ({"lr": -1.0}, "lr must be strictly positive"),
    ({"length": 1}, "length must be at least 2"),
])
def test_experiment_rejects_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        run_mamba_experiment(**{**SMALL, **kwargs})
