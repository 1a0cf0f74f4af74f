"""Every chapter in the TOC runs (quick mode) and its headline numbers match the baselines.

The chapter declares its headline numbers and their tolerances with
``scalingbook.book.record``; the baselines live in ``tests/baselines/<chapter>.json`` and change
only when the tests are run with ``--update-baselines``. This file runs each chapter at the
instruction set this process runs at; ``test_chapters_other_cpus.py`` runs them again under
the others, as other machines would compute them.
"""

from __future__ import annotations

import pytest
from booktools import chapters, check_chapter, execute, slug

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("path", chapters(), ids=slug)
def test_chapter_runs_and_matches_baseline(path, tmp_path, request, record_property):
    check_chapter(path, tmp_path, update=request.config.getoption("--update-baselines"),
                  record_property=record_property)


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


def test_a_run_under_another_instruction_set_gets_it_and_leaves_ours(tmp_path):
    """The other-CPU runs really compute with the forced kernels, and restore the environment."""
    import os

    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell("quick = False")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(
        "import pathlib, torch\n"
        "pathlib.Path('capability.txt').write_text(torch.backends.cpu.get_cpu_capability())")]
    path = tmp_path / "probe.ipynb"
    nbformat.write(nb, path)
    before = os.environ.get("ATEN_CPU_CAPABILITY")
    execute(path, tmp_path / "out.ipynb", capability="default")
    assert (tmp_path / "capability.txt").read_text() == "DEFAULT"
    assert os.environ.get("ATEN_CPU_CAPABILITY") == before
