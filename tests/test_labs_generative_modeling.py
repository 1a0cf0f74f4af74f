"""The chapter-4 lab and its size-sweep helpers: configs, analysis, and the ipywidgets controls."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from scalingbook.data import MarkovSource
from scalingbook.labs.generative_modeling import (
    GenerativeModelingLab,
    analyze_size_sweep,
    run_generative_experiment,
    size_sweep_configs,
)

TINY = dict(widths=(4, 8, 12, 16), steps=40, seed=0)


@pytest.fixture(scope="module")
def tiny_sweep():
    return run_generative_experiment(**TINY)


def test_configs_share_source_and_tokens_and_differ_in_width():
    configs = size_sweep_configs((8, 4, 32), steps=100)
    assert [c.model.d_model for c in configs] == [4, 8, 32]
    assert len({(c.order, c.zipf_exponent, c.data_seed, c.n_steps, c.tokens_per_step)
                for c in configs}) == 1
    assert [c.model.n_heads for c in configs] == [1, 1, 2]
    assert len({c.run_id for c in configs}) == 3


@pytest.mark.parametrize("widths, match", [((8,), "at least 2"), ((8, 8), "distinct"),
                                           ((5, 8), "even"), ((0, 8), "widths")])
def test_configs_reject_bad_widths(widths, match):
    with pytest.raises(ValueError, match=match):
        size_sweep_configs(widths)


def test_experiment_is_deterministic_and_measures_the_source(tiny_sweep):
    records, analysis = tiny_sweep
    again, analysis2 = run_generative_experiment(**TINY)
    assert analysis.size_fit.params == analysis2.size_fit.params
    pd.testing.assert_frame_equal(records.drop(columns="wall_time"), again.drop(columns="wall_time"))
    src = MarkovSource(64, 1, zipf_exponent=1.0, seed=0)
    assert analysis.entropy_rate == pytest.approx(src.entropy_rate())
    # the reducible part is what the model loses beyond the source's own loss on the same text
    final = analysis.final
    assert (final["kl"] == final["eval_loss"] - final["eval_source_nll"]).all()
    assert (final["kl"] > 0).all()  # no model beats the true source on 8,192 held-out tokens here
    assert final["eval_loss"].iloc[-1] < math.log(64)


def test_analysis_rejects_mixed_sources_and_too_few_runs(tiny_sweep):
    records, _ = tiny_sweep
    mixed = records.copy()
    mixed.loc[mixed.index[:3], "irreducible_loss"] += 0.1
    with pytest.raises(ValueError, match="one source"):
        analyze_size_sweep(mixed)
    few = records[records["model_d_model"].isin([4, 8, 12])]
    with pytest.raises(ValueError, match="at least 4 runs"):
        analyze_size_sweep(few)
    with pytest.raises(ValueError, match="records"):
        analyze_size_sweep(records.drop(columns="eval_source_nll"))


def test_button_click_reruns_the_experiment():
    lab = GenerativeModelingLab()
    lab.widths.value, lab.steps.value = (4, 8, 12, 16), 40
    assert lab.result is None
    lab.run_button.click()
    assert lab.result is not None
    assert lab.output.outputs, "the lab showed nothing after a run"
    first = lab.result
    lab.zipf.value = 0.0  # uniform rows: the entropy rate is log V
    lab.run_button.click()
    assert lab.result is not first
    assert lab.result[1].entropy_rate == pytest.approx(math.log(64))
    assert not lab.run_button.disabled


def test_experiment_rejects_bad_settings():
    with pytest.raises(ValueError, match="zipf_exponent"):
        run_generative_experiment(zipf_exponent=-1.0)
    with pytest.raises(ValueError, match="steps"):
        run_generative_experiment(steps=10)
