"""What the book's tests share: the table of contents, the chapters, and running them."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
BASELINES = Path(__file__).resolve().parent / "baselines"
PAGE_SUFFIXES = (".ipynb", ".md")


def toc_files() -> list[str]:
    """Every ``file:`` entry of ``_toc.yml`` (root first), as written there (no suffix)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk({k: v for k, v in toc.items() if k != "root"})
    return files


def resolve(entry: str) -> Path:
    """The page a TOC entry names; raises if it names none or two."""
    matches = [ROOT / (entry + s) for s in PAGE_SUFFIXES if (ROOT / (entry + s)).exists()]
    if len(matches) != 1:
        raise FileNotFoundError(f"_toc.yml entry {entry!r} matches {len(matches)} pages")
    return matches[0]


def chapters() -> list[Path]:
    """The executable chapters (notebooks) listed in the TOC, in book order."""
    return [p for p in map(resolve, toc_files()) if p.suffix == ".ipynb"]


def slug(path: Path) -> str:
    return path.stem


def load_notebook(path: Path) -> dict:
    return json.loads(path.read_text())


def parameters_cell(nb: dict) -> dict | None:
    for cell in nb["cells"]:
        if cell["cell_type"] == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            return cell
    return None


def code_cells(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def source(cell: dict) -> str:
    src = cell["source"]
    return "".join(src) if isinstance(src, list) else src
