"""tests/as_cpu.py: a command run as a lower CPU level computes, as .ci/test runs the unit tests."""

import subprocess
import sys

from booktools import ROOT


def test_a_command_runs_with_the_levels_kernels():
    probe = ("import torch; from numpy._core._multiarray_umath import __cpu_dispatch__ as d, "
             "__cpu_features__ as f; print(torch.backends.cpu.get_cpu_capability(), "
             "sum(f[x] for x in d))")
    done = subprocess.run([sys.executable, str(ROOT / "tests" / "as_cpu.py"), "default",
                           sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["DEFAULT", "0"]  # no numpy SIMD target left on either


def test_usage():
    done = subprocess.run([sys.executable, str(ROOT / "tests" / "as_cpu.py"), "default"],
                          capture_output=True, text=True)
    assert done.returncode == 1 and "usage" in done.stderr
