"""The timing helpers shared by the scan benchmark and the Mamba chapter."""

from __future__ import annotations

import math

import pytest
import torch

from scalingbook.kernels import selective_scan
from scalingbook.kernels.scan.timing import (
    attention_inputs,
    crossover_length,
    make_scan_inputs,
    measure,
    scan_vs_attention,
    scan_with,
)


def test_crossover_is_interpolated_in_log_log():
    L = [100, 200, 400, 800]
    scan = [1.0, 2.0, 4.0, 8.0]  # linear
    attn = [0.25, 1.0, 4.0, 16.0]  # quadratic: equal at 400
    assert crossover_length(L, scan, attn) == (pytest.approx(400.0), "inside")
    # between measured lengths: gaps log(0.5) at 200 and log(2) at 400 -> the geometric midpoint
    found = crossover_length([200, 400], [2.0, 4.0], [1.0, 8.0])
    assert found.where == "inside" and found.length == pytest.approx(math.sqrt(200 * 400))
    assert crossover_length(L, scan, [2.0, 3.0, 5.0, 9.0]) == (100.0, "below")
    assert crossover_length(L, scan, [0.1, 0.2, 0.3, 0.4]) == (800.0, "above")


def test_crossover_rejects_bad_input():
    with pytest.raises(ValueError, match="one length of at least 2"):
        crossover_length([1, 2], [1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="strictly increasing"):
        crossover_length([2, 1], [1.0, 1.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="first must be strictly positive"):
        crossover_length([1, 2], [0.0, 1.0], [1.0, 1.0])


def test_inputs_are_seeded_and_shaped():
    a, b = make_scan_inputs(2, 8, 16, 4), make_scan_inputs(2, 8, 16, 4)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert a["u"].shape == (2, 8, 16) and a["B"].shape == (2, 4, 16) and a["A"].shape == (8, 4)
    assert (a["delta"] > 0).all() and (a["A"] < 0).all()
    q = attention_inputs(1, 2, 16, 4)
    assert set(q) == {"q", "k", "v"} and q["q"].shape == (1, 2, 16, 4)
    out = scan_with("reference")(**a)
    torch.testing.assert_close(out, selective_scan(**a, backend="chunked"), rtol=1e-4, atol=1e-5)


def test_measure_and_sweep_return_positive_times():
    times = measure({"scan": scan_with("chunked")}, make_scan_inputs(1, 8, 32, 4), 2, "cpu")
    fwd, fwd_bwd = times["scan"]
    assert 0 < fwd and 0 < fwd_bwd
    table = scan_vs_attention([32, 64], batch=1, dim=8, dstate=4, heads=2, reps=1)
    assert list(table["L"]) == [32, 64]
    assert (table.drop(columns="L") > 0).all().all()
    assert table["ratio"].tolist() == (table["attention_backward"] / table["scan_backward"]).tolist()
    with pytest.raises(ValueError, match="heads must divide dim"):
        scan_vs_attention([32], dim=10, heads=4)
    with pytest.raises(ValueError, match="reps must be at least 1"):
        measure({"scan": scan_with("chunked")}, make_scan_inputs(1, 8, 8, 2), 0, "cpu")
