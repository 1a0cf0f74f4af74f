"""Kernels, each beside its plain PyTorch twin, tested against it, with a benchmark printing both.

- ``scan``: Mamba's selective scan: the reference recurrence, a chunked PyTorch scan with a
  hand-written backward, and a Triton forward kernel. :func:`selective_scan` dispatches among
  them with ``mamba_ssm``'s signature.
"""

from .scan import BACKENDS as SELECTIVE_SCAN_BACKENDS
from .scan import selective_scan

__all__ = ["selective_scan", "SELECTIVE_SCAN_BACKENDS"]
