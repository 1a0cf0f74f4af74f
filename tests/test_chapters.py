"""Every chapter in the TOC runs (quick mode) and its headline numbers match the baselines.

The chapter declares its headline numbers and their tolerances with
``scalingbook.book.record``; the baselines live in ``tests/baselines/<chapter>.json`` and change
only when the tests are run with ``--update-baselines``.
"""

from __future__ import annotations

import json
import time

import papermill as pm
import pytest
from booktools import BASELINES, chapters, slug

from scalingbook.book import read_headlines

pytestmark = pytest.mark.slow


def execute(path, out):
    """Run a chapter with quick=True; a failing cell fails the test with its source and traceback."""
    try:
        pm.execute_notebook(
            str(path),
            str(out),
            parameters={"quick": True},
            cwd=str(path.parent),
            kernel_name="python3",
            progress_bar=False,
        )
    except pm.PapermillExecutionError as err:
        pytest.fail(
            f"{path.name}: cell {err.cell_index} (execution count {err.exec_count}) raised "
            f"{err.ename}: {err.evalue}\n--- cell source ---\n{err.source}\n--- traceback ---\n"
            + "\n".join(err.traceback),
            pytrace=False,
        )


@pytest.mark.parametrize("path", chapters(), ids=slug)
def test_chapter_runs_and_matches_baseline(path, tmp_path, request, record_property):
    out = tmp_path / path.name
    start = time.perf_counter()
    execute(path, out)
    seconds = time.perf_counter() - start
    record_property("quick_seconds", round(seconds, 1))
    print(f"{path.name}: quick mode ran in {seconds:.1f} s")

    headlines = read_headlines(out)
    assert headlines, f"{path.name} records no headline numbers (scalingbook.book.record)"

    # Numbers a paper or a closed-form result lets our setting reproduce.
    off = {
        name: f"{h.value:.6g} vs expected {h.expected:.6g} ± {h.expected_tol:.3g} ({h.source})"
        for name, h in headlines.items()
        if not h.meets_expected()
    }
    assert not off, f"{path.name}: headline numbers miss their expected values: {off}"

    baseline_file = BASELINES / f"{slug(path)}.json"
    current = {name: h.value for name, h in sorted(headlines.items())}
    if request.config.getoption("--update-baselines"):
        BASELINES.mkdir(exist_ok=True)
        baseline_file.write_text(json.dumps({"quick": current}, indent=2) + "\n")
        print(f"updated {baseline_file}")
        return
    assert baseline_file.exists(), (
        f"no baseline {baseline_file.name}; run pytest with --update-baselines to create it"
    )
    baseline = json.loads(baseline_file.read_text())["quick"]
    assert set(baseline) == set(current), (
        f"{path.name}: headline names changed (baseline has {sorted(baseline)}, chapter has "
        f"{sorted(current)}); rerun with --update-baselines if that is intended"
    )
    drift = {
        name: f"{headlines[name].value:.6g} vs baseline {baseline[name]:.6g} "
        f"(rtol {headlines[name].rtol}, atol {headlines[name].atol})"
        for name in current
        if not headlines[name].within_baseline(baseline[name])
    }
    assert not drift, f"{path.name}: headline numbers moved beyond their tolerances: {drift}"


def test_a_failing_cell_reports_its_source_and_traceback(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell("quick = False")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("assert not quick, 'quick mode broke'")]
    path = tmp_path / "broken.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(pytest.fail.Exception) as failed:
        execute(path, tmp_path / "out.ipynb")
    message = str(failed.value)
    assert "assert not quick, 'quick mode broke'" in message  # the cell's source
    assert "AssertionError" in message and "quick mode broke" in message  # its error and traceback
