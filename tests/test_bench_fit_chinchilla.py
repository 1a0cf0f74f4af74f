"""The Chinchilla fit benchmark runs end to end and judges its goal against the loop it names.

Speed itself is never asserted here (these machines are noisy): the benchmark prints its ratios.
These runs are cut down (36 runs, a few loop starts) only to check that the script works and that
its verdict line compares the right things.
"""

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_fit_chinchilla.py"


def bench(*args: str) -> str:
    done = subprocess.run([sys.executable, str(SCRIPT), "--points", "36", "--loop-starts", "4",
                           "--repeats", "1", *args], check=False, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_goal_is_judged_against_the_finite_difference_loop():
    out = bench("--loops", "exact,numeric")
    verdict = re.search(r"^goal \(>= 30x the loop with finite differences, scipy's default "
                        r"tolerances, objective no worse than its best\): (MET|NOT MET) "
                        r"\(([0-9.]+)x; objective (no worse|WORSE)\)", out, re.MULTILINE)
    assert verdict, out
    ratio = float(verdict.group(2))
    # The verdict agrees with the ratio it prints, and the same ratio appears in the table.
    assert (verdict.group(1) == "MET") == (ratio >= 30 and verdict.group(3) == "no worse")
    assert re.search(rf"^  ours +vs loop \(finite differences, scipy's default tolerances\): +"
                     rf"{re.escape(verdict.group(2))}x", out, re.MULTILINE), out
    # The exact-gradient loop is reported beside the goal, not as the goal.
    assert re.search(r"^  beside it, the loop with exact gradient, scipy's default tolerances: "
                     r"[0-9.]+x \([0-9]+% of 30x\)", out, re.MULTILINE), out
    # Extrapolated loop times say so.
    assert "EXTRAPOLATED linearly from 4 starts" in out


def test_without_the_goal_loop_the_goal_is_not_judged():
    out = bench("--loops", "exact")
    assert "goal: not judged (the loop 'numeric' was not run; add it to --loops)" in out
    assert "MET" not in out


def test_an_unknown_loop_is_refused_with_its_name():
    done = subprocess.run([sys.executable, str(SCRIPT), "--loops", "exact,fast"],
                          check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "--loops: unknown ['fast']" in done.stderr
