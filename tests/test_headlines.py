"""Headline numbers: declaration, validation, and reading them back from an executed notebook."""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient

from scalingbook.book import Headline, read_headlines, record


def run_cells(*sources: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    NotebookClient(nb, kernel_name="python3", timeout=120).execute()
    return nb


def test_record_round_trip_through_a_kernel():
    nb = run_cells(
        "from scalingbook.book import record",
        "record('beta', 0.4321, rtol=0.1)\n"
        "record('ols', 1.01, atol=0.02, expected=1.0, expected_tol=0.05, source='OLS theory')\n"
        "record('gap', 0.002, quick_unstable='one seed: as noisy as it is large')",
    )
    found = read_headlines(nb)
    assert set(found) == {"beta", "ols", "gap"}
    assert found["gap"].quick_unstable == "one seed: as noisy as it is large"
    assert found["beta"].quick_unstable == ""
    assert found["beta"] == Headline("beta", 0.4321, rtol=0.1)
    assert found["ols"].expected == 1.0 and found["ols"].source == "OLS theory"
    # The value itself is glued for the prose, as a plain float.
    glued = [
        o for c in nb.cells for o in c.outputs
        if o.get("metadata", {}).get("scrapbook", {}).get("name") == "beta"
    ]
    assert glued and glued[0]["data"]["application/papermill.record/text/plain"] == "0.4321"
    # record() displays nothing itself.
    assert not [o for o in nb.cells[1].outputs if o.get("output_type") == "execute_result"]


def test_tolerances():
    h = Headline("x", 1.05, rtol=0.1)
    assert h.within_baseline(1.0) and not h.within_baseline(0.9)
    h = Headline("x", 1.05, atol=0.01)
    assert not h.within_baseline(1.0)
    assert Headline("x", 1.0, atol=1, expected=0.97, expected_tol=0.05).meets_expected()
    assert not Headline("x", 1.0, atol=1, expected=0.9, expected_tol=0.05).meets_expected()
    assert Headline("x", 1.0, atol=1).meets_expected()


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(name="", value=1.0, rtol=0.1), "name"),
        (dict(name="x", value=float("nan"), rtol=0.1), "finite"),
        (dict(name="x", value="abc", rtol=0.1), "must be a number"),
        (dict(name="x", value=1.0), "positive rtol or atol"),
        (dict(name="x", value=1.0, rtol=-0.1), "rtol"),
        (dict(name="x", value=1.0, rtol=0.1, expected=1.0), "expected_tol"),
        (dict(name="x", value=1.0, rtol=0.1, expected=1.0, expected_tol=0.1), "source"),
        (dict(name="x", value=1.0, rtol=0.1, expected_tol=0.1), "without expected"),
        (dict(name="x", value=1.0, rtol=0.1, quick_unstable="noisy"), "takes no rtol"),
        (dict(name="x", value=1.0, quick_unstable="noisy", expected=1.0, expected_tol=0.1,
              source="s"), "takes no rtol"),
        (dict(name="x", value=1.0, quick_unstable=True), "reason"),
    ],
)
def test_record_rejects_bad_declarations(kwargs, match):
    with pytest.raises(ValueError, match=match):
        record(**kwargs)
