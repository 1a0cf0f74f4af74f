"""Every chapter in the TOC runs (quick mode) and its headline numbers match the baselines.

The chapter declares its headline numbers and their tolerances with
``scalingbook.book.record``; the baselines live in ``tests/baselines/<chapter>.json`` and change
only when the tests are run with ``--update-baselines``. This file runs each chapter at the
instruction set this process runs at; ``test_chapters_other_cpus.py`` runs them again under
the others, as other machines would compute them.
"""

from __future__ import annotations

import pytest
from booktools import chapters, check_chapter, cpu_capabilities, execute, slug

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("path", chapters(), ids=slug)
def test_chapter_runs_and_matches_baseline(path, tmp_path, request, record_property):
    check_chapter(path, tmp_path, update=request.config.getoption("--update-baselines"),
                  record_property=record_property)


def probe_chapter(path, code: str):
    """Write a one-cell chapter (after a ``quick`` parameters cell) to ``path``; return it."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell("quick = False")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(code)]
    nbformat.write(nb, path)
    return path


def test_a_failing_cell_reports_its_source_and_traceback(tmp_path):
    path = probe_chapter(tmp_path / "broken.ipynb", "assert not quick, 'quick mode broke'")
    with pytest.raises(pytest.fail.Exception) as failed:
        execute(path, tmp_path / "out.ipynb")
    message = str(failed.value)
    assert "assert not quick, 'quick mode broke'" in message  # the cell's source
    assert "AssertionError" in message and "quick mode broke" in message  # its error and traceback


def test_a_run_under_another_instruction_set_gets_it_and_leaves_ours(tmp_path):
    """The other-CPU runs really compute with the lower level's kernels (PyTorch's and numpy's),
    and restore the environment."""
    import os

    path = probe_chapter(tmp_path / "probe.ipynb", (
        "import pathlib, torch\n"
        "from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__\n"
        "on = [f for f in __cpu_dispatch__ if __cpu_features__[f]]\n"
        "pathlib.Path('capability.txt').write_text(\n"
        "    ' '.join([torch.backends.cpu.get_cpu_capability()] + on))"))
    before = {k: os.environ.get(k) for k in ("ATEN_CPU_CAPABILITY", "NPY_DISABLE_CPU_FEATURES")}
    execute(path, tmp_path / "out.ipynb", capability="default")
    # PyTorch's default kernels, and none of numpy's dispatched SIMD targets
    assert (tmp_path / "capability.txt").read_text() == "DEFAULT"
    assert {k: os.environ.get(k) for k in before} == before
    if "avx2" in cpu_capabilities():
        execute(path, tmp_path / "out.ipynb", capability="avx2")
        torch_level, *numpy_on = (tmp_path / "capability.txt").read_text().split()
        assert torch_level == "AVX2" and not [f for f in numpy_on if "AVX512" in f or f == "X86_V4"]


def test_an_unstable_headline_is_reported_with_its_reason_and_not_compared(tmp_path, monkeypatch):
    import json

    import booktools

    path = probe_chapter(tmp_path / "probe.ipynb", (
        "from scalingbook.book import record\n"
        "record('loss', 3.0, atol=1e-3)\n"
        "record('gap', 0.002, quick_unstable='as noisy as it is large')"))
    monkeypatch.setattr(booktools, "BASELINES", tmp_path)
    (tmp_path / "probe.json").write_text(json.dumps({"quick": {"loss": 3.0}}))
    with pytest.warns(booktools.QuickUnstable, match="gap = 0.002 .*as noisy as it is large"):
        check_chapter(path, tmp_path)  # 'gap' is not in the baseline, and need not be
    (tmp_path / "probe.json").write_text(json.dumps({"quick": {"loss": 3.1}}))
    with pytest.raises(AssertionError, match="moved beyond"), pytest.warns(booktools.QuickUnstable):
        check_chapter(path, tmp_path)  # the stable one is still compared
