"""What every two-variable law L(N, D) derives from its compute-optimal allocation."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["ComputeOptimalMixin"]


class ComputeOptimalMixin:
    """Derived quantities for a law with ``loss(N, D)`` and ``compute_optimal(C) -> (N*, D*)``."""

    def loss_at_compute(self, C: Any) -> np.ndarray | float:
        """The lowest loss (nats) reachable with ``C`` FLOPs: ``L(N*(C), D*(C))``."""
        n_opt, d_opt = self.compute_optimal(C)
        return self.loss(n_opt, d_opt)

    def tokens_per_parameter(self, C: Any) -> np.ndarray | float:
        """``D*/N*`` at ``C`` FLOPs: training tokens per parameter of the compute-optimal model."""
        n_opt, d_opt = self.compute_optimal(C)
        return d_opt / n_opt
