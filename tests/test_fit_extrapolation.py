"""Extrapolation studies (scalingbook.fit.extrapolation) and their static explorer."""

import json

import numpy as np
import pandas as pd
import pytest
import vl_convert as vlc

from scalingbook.fit.extrapolation import extrapolation_study
from scalingbook.laws import ChinchillaLaw
from scalingbook.viz.extrapolation import extrapolation_explorer

from test_fit_chinchilla import SMALL_GRID

PLANTED = ChinchillaLaw(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
N = np.repeat(np.geomspace(1e8, 1e10, 5), 4)
D = N * np.tile([5.0, 15.0, 40.0, 100.0], 5)
TARGET = (7e10, 1.4e12)


def test_noise_free_runs_extrapolate_exactly():
    study = extrapolation_study(N, D, PLANTED.loss(N, D), n_max=[3.2e9, 1e10], target=TARGET,
                                reference=PLANTED.loss, starts=SMALL_GRID)
    s = study.summary
    assert list(s["n_runs"]) == [16, 20]
    assert s["decades"].tolist() == pytest.approx([1.5, 2.0])
    assert (s["are"] < 1e-5).all() and s["converged"].all()
    assert s["actual"].iloc[0] == pytest.approx(PLANTED.loss(*TARGET))
    c = study.curves
    assert len(c) == 2 * 40
    np.testing.assert_allclose(c["D"], 20 * c["N"], rtol=1e-12)
    np.testing.assert_allclose(c["fitted"], c["actual"], rtol=1e-5)
    assert c["N"].max() == pytest.approx(TARGET[0]) and c["N"].min() == pytest.approx(N.min())


def test_noisy_runs_give_bands_and_wider_ranges_do_not_hurt_much():
    loss = PLANTED.loss(N, D) * np.exp(np.random.default_rng(0).normal(0, 0.01, N.size))
    study = extrapolation_study(N, D, loss, n_max=[1e9, 1e10], target=TARGET, reference=PLANTED.loss,
                                bootstrap=20, seed=1, starts=SMALL_GRID)
    s = study.summary
    assert (s["low"] <= s["predicted"]).all() and (s["predicted"] <= s["high"]).all()
    assert s["are"].iloc[1] < 0.05
    # The band is wider when the fit saw a smaller range of sizes.
    widths = (s["high"] - s["low"]).to_numpy()
    assert widths[0] > widths[1]


def test_bad_input():
    loss = PLANTED.loss(N, D)
    kw = dict(target=TARGET, reference=PLANTED.loss, starts=SMALL_GRID)
    with pytest.raises(ValueError, match="n_max"):
        extrapolation_study(N, D, loss, n_max=[1e8], **kw)
    with pytest.raises(ValueError, match="n_max"):
        extrapolation_study(N, D, loss, n_max=[-1.0], **kw)
    with pytest.raises(ValueError, match="target"):
        extrapolation_study(N, D, loss, n_max=[1e10], target=(1.0,), reference=PLANTED.loss)
    with pytest.raises(ValueError, match="reference"):
        extrapolation_study(N, D, loss, n_max=[1e10], target=TARGET, reference=1.0)
    with pytest.raises(ValueError, match="loss"):
        extrapolation_study(N, D, np.r_[loss[:-1], np.nan], n_max=[1e10], **kw)


def test_explorer_has_a_slider_over_the_fits_and_draws():
    study = extrapolation_study(N, D, PLANTED.loss(N, D), n_max=np.unique(N)[2:], target=TARGET,
                                reference=PLANTED.loss, starts=SMALL_GRID)
    chart = extrapolation_explorer(study, pd.DataFrame({"N": N, "D": D, "loss": PLANTED.loss(N, D)}))
    spec = chart.to_dict()
    params = [p for sub in spec["hconcat"] for p in sub.get("params", [])] + spec.get("params", [])
    slider = [p for p in params if p.get("bind", {}).get("input") == "range"]
    assert len(slider) == 1
    bind = slider[0]["bind"]
    assert bind["min"] == pytest.approx(np.log10(np.unique(N)[2]), abs=1e-4)
    assert bind["max"] == pytest.approx(10.0, abs=1e-4) and bind["step"] == pytest.approx(0.5, abs=1e-4)
    scenegraph = vlc.vegalite_to_scenegraph(json.dumps(spec))
    assert "fitted law" in json.dumps(scenegraph)
    with pytest.raises(ValueError, match="runs"):
        extrapolation_explorer(study, pd.DataFrame({"x": N}))
