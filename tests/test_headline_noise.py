"""benchmarks/headline_noise.py: the rule for what a tolerance must cover, and one cut-down run."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from booktools import BASELINES, ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import headline_noise  # noqa: E402


def test_a_tolerance_covers_twice_the_range_over_levels_and_3_sd_once_training_amplified_it():
    # the levels agree far better than the seeds: rounding did not grow into another trajectory
    assert headline_noise.needed_tolerance(3e-5, 0.19) == (pytest.approx(6e-5), False)
    # the levels disagree by a sizable share of the seed spread: another machine is another seed
    assert headline_noise.needed_tolerance(0.06, 0.07) == (pytest.approx(0.21), True)
    assert headline_noise.needed_tolerance(0.0, 0.0) == (0.0, False)  # deterministic
    assert headline_noise.needed_tolerance(1e-9, None) == (pytest.approx(2e-9), False)  # no seeds


@pytest.mark.slow
def test_a_cut_down_run_reproduces_the_baseline_and_judges_it(tmp_path):
    out = tmp_path / "noise.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "headline_noise.py"), "--chapters",
         "number-formats", "--capabilities", "default", "--seeds", "0", "--json", str(out)],
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = json.loads(out.read_text())["rows"]
    baseline = json.loads((BASELINES / "number-formats.json").read_text())["quick"]
    assert {r["headline"] for r in rows} == set(baseline)
    for r in rows:  # seed 0 under the portable level: within the declared tolerance, judged so
        assert abs(r["value_default"] - baseline[r["headline"]]) <= r["declared"]
        assert r["ok"] and r["seed_sd"] is None
    assert f"{len(rows)} of {len(rows)} tolerances cover" in done.stdout


def test_an_unknown_chapter_is_refused():
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "headline_noise.py"),
                           "--chapters", "no-such-chapter"], capture_output=True, text=True)
    assert done.returncode == 2 and "no-such-chapter" in done.stderr
