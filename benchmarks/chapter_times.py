"""Time every chapter of the book in quick mode (and optionally full mode) against its budget.

    .venv/bin/python benchmarks/chapter_times.py            # quick mode, budget 60 s each
    .venv/bin/python benchmarks/chapter_times.py --full     # full mode too, budget 20 min each

Each chapter runs with papermill in a fresh kernel, as the tests run it; the time includes the
kernel's start and the imports, which a reader pays too. Prints seconds, the budget and their
ratio. Timings on a shared 2-core machine are noisy: run it twice before you believe a margin.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import papermill as pm

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from booktools import chapters  # noqa: E402

BUDGET_S = {True: 60.0, False: 20 * 60.0}


def run(path: Path, quick: bool) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        pm.execute_notebook(
            str(path),
            str(Path(tmp) / path.name),
            parameters={"quick": quick},
            cwd=str(path.parent),
            kernel_name="python3",
            progress_bar=False,
        )
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="also time full mode")
    args = parser.parse_args()
    modes = [True, False] if args.full else [True]
    print(f"{'chapter':<28}{'mode':<7}{'seconds':>9}{'budget':>9}{'ratio':>8}")
    over = 0
    for path in chapters():
        for quick in modes:
            seconds = run(path, quick)
            budget = BUDGET_S[quick]
            over += seconds > budget
            mode = "quick" if quick else "full"
            print(f"{path.stem:<28}{mode:<7}{seconds:>9.1f}{budget:>9.0f}{seconds / budget:>8.2f}")
    print(f"{over} over budget")


if __name__ == "__main__":
    main()
