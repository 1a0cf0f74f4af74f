"""Run a command as a CPU of a lower level would: ``python tests/as_cpu.py default pytest ...``.

Sets the environment of :func:`booktools.emulation_env` (PyTorch's kernels forced to the level,
numpy's SIMD targets above it switched off) and replaces this process with the command.
"""

import os
import sys

from booktools import emulation_env

if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: python tests/as_cpu.py LEVEL COMMAND [ARGS...]")
    level, *command = sys.argv[1:]
    os.execvpe(command[0], command, {**os.environ, **emulation_env(level)})
