"""The book's sources are clean and consistent: no stored outputs, parameters, TOC in sync."""

from __future__ import annotations

import ast

import pytest
from booktools import (
    BASELINES,
    BOOK,
    PAGE_SUFFIXES,
    ROOT,
    chapters,
    code_cells,
    load_notebook,
    parameters_cell,
    resolve,
    slug,
    source,
    toc_files,
)

ALL_NOTEBOOKS = sorted(BOOK.rglob("*.ipynb"))


def test_book_has_chapters():
    assert chapters(), "_toc.yml lists no executable chapter"


def test_toc_entries_exist():
    for entry in toc_files():
        resolve(entry)  # raises if missing or ambiguous


def test_every_page_in_book_is_in_toc():
    listed = {resolve(e).resolve() for e in toc_files()}
    pages = {
        p.resolve()
        for p in BOOK.rglob("*")
        if p.suffix in PAGE_SUFFIXES and ".ipynb_checkpoints" not in p.parts
    }
    orphans = sorted(str(p.relative_to(ROOT)) for p in pages - listed)
    assert not orphans, f"pages in book/ missing from _toc.yml: {orphans}"


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_stored_without_outputs(path):
    nb = load_notebook(path)
    dirty = [
        i
        for i, cell in enumerate(nb["cells"])
        if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count"))
    ]
    assert not dirty, f"{path.name}: cells {dirty} have stored outputs or execution counts"


@pytest.mark.parametrize("path", chapters(), ids=slug)
def test_chapter_has_quick_parameter(path):
    cell = parameters_cell(load_notebook(path))
    assert cell is not None, f"{path.name} has no cell tagged 'parameters'"
    tree = ast.parse(source(cell))
    assigned = {t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets}
    assert "quick" in assigned, f"{path.name}: the parameters cell does not assign `quick`"
    # The book shows the full-mode numbers; the tests inject quick=True.
    values = {
        t.id: node.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        for t in node.targets
    }
    assert isinstance(values["quick"], ast.Constant) and values["quick"].value is False


@pytest.mark.parametrize("path", chapters(), ids=slug)
def test_first_code_cell_installs_package_in_bare_colab(path):
    first = source(code_cells(load_notebook(path))[0])
    assert 'find_spec("scalingbook")' in first and "pip" in first, (
        f"{path.name}: the first code cell must install scalingbook when it is missing"
    )


@pytest.mark.parametrize("path", chapters(), ids=slug)
def test_chapter_has_baseline(path):
    assert (BASELINES / f"{slug(path)}.json").exists(), (
        f"no baseline for {path.name}: run `pytest tests/test_chapters.py --update-baselines`"
    )


def test_build_excludes_everything_outside_book():
    """The build reads the repository root; only book/ may become pages. A stray README in a
    hidden folder (.pytest_cache, .venv, ...) would be read and fail the -W build."""
    import yaml
    from sphinx.util.matching import Matcher

    patterns = yaml.safe_load((ROOT / "_config.yml").read_text())["exclude_patterns"]
    excluded = Matcher(patterns)
    for path in [".pytest_cache/README.md", ".venv/lib/x/README.md", ".hypothesis/a.md",
                 ".ci/notes.md", "README.md", "tests/baselines/x.md", "benchmarks/x.md",
                 "scalingbook/book/x.md", "binder/x.md", "_build/html/x.md"]:
        assert excluded(path), f"{path} would be read by the book build"
    for path in ["book/intro.md", "book/measuring/power-laws.ipynb"]:
        assert not excluded(path), f"{path} must stay in the book"
