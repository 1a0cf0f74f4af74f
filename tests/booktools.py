"""What the book's tests share: the table of contents, the chapters, and running them."""

from __future__ import annotations

import json
import os
import time
import warnings
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


def cpu_capabilities() -> list[str]:
    """The levels ``ATEN_CPU_CAPABILITY`` can force PyTorch's CPU kernels to on this CPU,
    lowest first: ``default`` always, ``avx2`` and ``avx512`` where the CPU has them (PyTorch
    ignores a level the CPU lacks, so asking for one would only repeat another)."""
    info = Path("/proc/cpuinfo")
    flags = set(info.read_text().split()) if info.exists() else set()
    levels = ["default"]
    if {"avx2", "fma"} <= flags:
        levels.append("avx2")
    if {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= flags:
        levels.append("avx512")
    return levels


def emulation_env(level: str) -> dict[str, str]:
    """Environment variables under which a child process computes as a CPU of ``level`` would.

    Two libraries pick SIMD kernels by CPU at run time, and both change the last bits: PyTorch
    (``ATEN_CPU_CAPABILITY``) and numpy (its dispatched targets, switched off with
    ``NPY_DISABLE_CPU_FEATURES``: at ``avx2`` the AVX-512 ones, at ``default`` all of them, down
    to numpy's baseline; at any other level, such as ``avx512``, none). Measured here: numpy's
    exp, log1p and power give other bits without X86_V4, and tanh without X86_V3.
    """
    if not isinstance(level, str) or not level:
        raise ValueError(f"level must name an ATEN_CPU_CAPABILITY level, got {level!r}")
    try:
        from numpy._core._multiarray_umath import __cpu_dispatch__ as dispatched
    except ImportError:  # numpy < 2
        from numpy.core._multiarray_umath import __cpu_dispatch__ as dispatched
    above_avx2 = [f for f in dispatched if "AVX512" in f or f == "X86_V4"]
    off = {"default": list(dispatched), "avx2": above_avx2}.get(level, [])  # others: native
    # Always set, empty at the top level: a level is what the child computes, whatever the
    # parent's environment forces.
    return {"ATEN_CPU_CAPABILITY": level, "NPY_DISABLE_CPU_FEATURES": " ".join(off)}


def current_capability() -> str:
    """The level this process's PyTorch runs at (the native one unless the environment forces
    another): the package's :func:`scalingbook.train.cpu_capability`."""
    from scalingbook.train import cpu_capability

    return cpu_capability()


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


class QuickUnstable(UserWarning):
    """A headline the chapter declares ``quick_unstable``: reported with its reason, not compared."""


def execute(path: Path, out: Path, capability: str | None = None) -> None:
    """Run a chapter with quick=True (computing as a CPU of level ``capability`` would, if given:
    :func:`emulation_env`); a failing cell fails the test with its source and traceback."""
    import papermill as pm
    import pytest

    forced = emulation_env(capability) if capability is not None else {}
    before = {k: os.environ.get(k) for k in forced}
    os.environ.update(forced)  # the kernel inherits the environment
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
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def check_chapter(path: Path, tmp_path: Path, *, capability: str | None = None,
                  update: bool = False, record_property=None) -> None:
    """Execute a chapter in quick mode and hold its headlines to their expected values and to
    ``tests/baselines/<chapter>.json`` within the tolerances the chapter declares. ``update``
    rewrites the baseline instead (only ever from the native instruction set)."""
    from scalingbook.book import read_headlines

    where = f" computing as a {capability} CPU" if capability else ""
    out = tmp_path / path.name
    start = time.perf_counter()
    execute(path, out, capability)
    seconds = time.perf_counter() - start
    if record_property is not None:
        record_property("quick_seconds", round(seconds, 1))
    print(f"{path.name}: quick mode ran in {seconds:.1f} s{where}")

    headlines = read_headlines(out)
    assert headlines, f"{path.name} records no headline numbers (scalingbook.book.record)"

    # Numbers a paper or a closed-form result lets our setting reproduce.
    off = {
        name: f"{h.value:.6g} vs expected {h.expected:.6g} ± {h.expected_tol:.3g} ({h.source})"
        for name, h in headlines.items()
        if not h.meets_expected()
    }
    assert not off, f"{path.name}{where}: headline numbers miss their expected values: {off}"

    # Numbers the chapter says quick mode cannot make stable: reported (in pytest's warnings
    # summary), with the reason, instead of compared.
    for name, h in sorted(headlines.items()):
        if h.quick_unstable:
            warnings.warn(QuickUnstable(f"{path.name}: {name} = {h.value:.6g} is not held to a "
                                        f"baseline in quick mode: {h.quick_unstable}"), stacklevel=2)
    baseline_file = BASELINES / f"{slug(path)}.json"
    current = {name: h.value for name, h in sorted(headlines.items()) if not h.quick_unstable}
    if update:
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
    assert not drift, f"{path.name}{where}: headline numbers moved beyond their tolerances: {drift}"
