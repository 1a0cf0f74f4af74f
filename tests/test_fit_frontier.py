"""Tests for scalingbook.fit.frontier: the envelope of learning curves and N_opt(C)."""

import numpy as np
import pandas as pd
import pytest

from scalingbook.fit.frontier import compute_frontier


def planted_curves(sizes, *, k_true=0.6, n_ckpt=40):
    """Learning curves whose envelope hands over at known compute: each size's curve is
    L(C) = 1 + (N / N*(C))^p + (N*(C) / N)^q-like, built so that the best size at compute C is the
    size nearest N*(C) = C^k_true in log space."""
    rows = []
    for n in sizes:
        c = np.geomspace(1e2, 1e8, n_ckpt)
        nstar = c ** k_true
        loss = 1.0 + 0.5 * np.log(n / nstar) ** 2 / 10 + 0.1 * c ** -0.05
        rows.append(pd.DataFrame({"flops": c, "loss": loss, "size": float(n)}))
    return pd.concat(rows, ignore_index=True)


def test_envelope_is_the_minimum_of_the_curves_and_hands_over_upwards():
    sizes = np.geomspace(10, 1e4, 7)
    df = planted_curves(sizes)
    fr = compute_frontier(df["flops"], df["loss"], df["size"], n_grid=400)
    assert fr.monotone
    assert list(fr.handovers["to_size"]) == sorted(fr.handovers["to_size"])
    # each frontier point lies at or below every curve at that compute (curves share the grid ends)
    for s in sizes:
        mine = df[df["size"] == s]
        interp = np.exp(np.interp(np.log(fr.points["flops"]), np.log(mine["flops"]), np.log(mine["loss"])))
        assert (fr.points["loss"].to_numpy() <= interp + 1e-12).all()


def test_optimal_size_exponent_is_recovered():
    sizes = np.geomspace(10, 1e4, 13)
    df = planted_curves(sizes, k_true=0.6)
    fr = compute_frontier(df["flops"], df["loss"], df["size"], n_grid=2000)
    fit = fr.fit_optimal_size()
    # hand-over between N_i and N_i+1 happens where log N* is midway: sqrt(N_i N_i+1) = C^0.6
    assert -fit.params["alpha"] == pytest.approx(0.6, abs=0.01)


def test_a_size_that_is_never_best_does_not_hand_over():
    df = planted_curves([10.0, 1e4])
    worse = df[df["size"] == 10.0].assign(size=100.0, loss=lambda d: d["loss"] + 1.0)
    fr = compute_frontier(*(pd.concat([df, worse])[c] for c in ("flops", "loss", "size")))
    assert 100.0 not in set(fr.points["size"])
    assert len(fr.handovers) == 1
    with pytest.raises(ValueError, match="at least 2"):
        fr.fit_optimal_size()


def test_curves_cover_only_their_own_compute_range():
    a = pd.DataFrame({"flops": [1.0, 10.0], "loss": [5.0, 4.0], "size": 1.0})
    b = pd.DataFrame({"flops": [100.0, 1000.0], "loss": [4.5, 3.0], "size": 2.0})
    df = pd.concat([a, b])
    fr = compute_frontier(df["flops"], df["loss"], df["size"], n_grid=31)
    # no grid point between 10 and 100 FLOPs is covered, and each side belongs to its own size
    assert ((fr.points["flops"] <= 10 + 1e-9) | (fr.points["flops"] >= 100 - 1e-9)).all()
    assert (fr.points.loc[fr.points["flops"] <= 10, "size"] == 1.0).all()
    assert (fr.points.loc[fr.points["flops"] >= 100, "size"] == 2.0).all()


@pytest.mark.parametrize("kwargs, match", [
    (dict(flops=[1, 2, np.nan, 4]), "flops holds NaN"),
    (dict(loss=[1, 2, -3, 4]), "loss must be positive"),
    (dict(size=[1, 1, 2]), "same length"),
    (dict(size=[1, 1, 1, 1]), "at least 2 distinct sizes"),
    (dict(size=[1, 2, 2, 2]), "size 1 has 1 distinct"),
    (dict(n_grid=3), "n_grid"),
    (dict(flops=[[1, 2], [3, 4]]), "one-dimensional"),
])
def test_bad_input_names_the_argument(kwargs, match):
    args = dict(flops=[1, 10, 1, 10], loss=[2, 1, 3, 0.5], size=[1, 1, 2, 2])
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        compute_frontier(**args)
