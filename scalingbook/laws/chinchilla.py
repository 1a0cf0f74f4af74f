"""Hoffmann et al.'s (2022) two-variable law ``L(N, D) = E + A/N^alpha + B/D^beta``.

Units: ``N`` is the number of parameters, ``D`` the number of training tokens, ``C`` the
training compute in FLOPs, and the loss is per-token cross-entropy in nats. ``E`` is the
irreducible loss (nats); ``A`` and ``B`` are in nats times parameters^alpha and
tokens^beta respectively.

Compute-optimal allocation under ``C = 6 N D`` (6 FLOPs per parameter per token, forward and
backward). Substituting ``D = C / (6N)`` and setting the derivative in ``N`` to zero gives
``alpha A N^-alpha = beta B (6N/C)^beta``, hence, with ``G = (alpha A / (beta B))^(1/(alpha+beta))``,

    N*(C) = G (C/6)^a,   D*(C) = (C/6)^b / G,   a = beta/(alpha+beta),   b = alpha/(alpha+beta).

``a + b = 1`` because ``N* D* = C/6``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from scalingbook._validate import nonnegative_scalar, positive_scalar

# Scalar-or-array handling shared with the other law forms.
from scalingbook.laws.allocation import ComputeOptimalMixin
from scalingbook.laws.power import _out
from scalingbook.laws.power import _sizes as _positive

__all__ = ["ChinchillaLaw"]


@dataclass(frozen=True)
class ChinchillaLaw(ComputeOptimalMixin):
    """``L(N, D) = E + A / N**alpha + B / D**beta`` (Hoffmann et al. 2022, approach 3).

    Fields
    ------
    E : float
        Irreducible loss in nats, zero or more.
    A, B : float
        Scales of the parameter and data terms, strictly positive.
    alpha, beta : float
        Exponents of the parameter and data terms, strictly positive.

    Hoffmann et al.'s published fit is ``ChinchillaLaw(1.69, 406.4, 410.7, 0.34, 0.28)``;
    Besiroglu et al.'s (2024) replication gives ``ChinchillaLaw(1.82, 482.0, 2085.4, 0.35, 0.37)``.
    """

    E: float
    A: float
    B: float
    alpha: float
    beta: float

    def __post_init__(self) -> None:
        # Store plain floats so equality and repr do not depend on the input type.
        object.__setattr__(self, "E", nonnegative_scalar("E", self.E))
        for name in ("A", "B", "alpha", "beta"):
            object.__setattr__(self, name, positive_scalar(name, getattr(self, name)))

    # --- the law itself ---------------------------------------------------------------------

    def loss(self, N: Any, D: Any) -> np.ndarray | float:
        """Loss in nats of a model with ``N`` parameters trained on ``D`` tokens.

        ``N`` and ``D`` are strictly positive scalars or arrays that broadcast together; a
        float comes back when both are scalars, else an array of the broadcast shape.
        """
        n_arr, n_scalar = _positive("N", N)
        d_arr, d_scalar = _positive("D", D)
        values = self.E + self.A * n_arr ** (-self.alpha) + self.B * d_arr ** (-self.beta)
        return _out(values, n_scalar and d_scalar)

    __call__ = loss

    # --- compute-optimal allocation under C = 6ND ---------------------------------------------

    @property
    def a(self) -> float:
        """Exponent of N*(C) ∝ C^a: ``beta / (alpha + beta)`` (dimensionless)."""
        return self.beta / (self.alpha + self.beta)

    @property
    def b(self) -> float:
        """Exponent of D*(C) ∝ C^b: ``alpha / (alpha + beta)``; ``a + b = 1``."""
        return self.alpha / (self.alpha + self.beta)

    @property
    def G(self) -> float:
        """``(alpha A / (beta B))^(1/(alpha+beta))``: N* at C = 6 FLOPs (parameters)."""
        return (self.alpha * self.A / (self.beta * self.B)) ** (1.0 / (self.alpha + self.beta))

    def compute_optimal(self, C: Any) -> tuple[np.ndarray | float, np.ndarray | float]:
        """``(N*, D*)``: parameters and tokens minimizing the loss at ``C`` FLOPs, C = 6 N D.

        ``C`` is a strictly positive scalar or array; each output has its shape.
        """
        c_arr, scalar = _positive("C", C)
        # Work in logs so budgets like 1e30 FLOPs do not overflow intermediate powers.
        log_c6 = np.log(c_arr / 6.0)
        log_g = np.log(self.G)
        n_opt = np.exp(log_g + self.a * log_c6)
        d_opt = np.exp(self.b * log_c6 - log_g)
        return _out(n_opt, scalar), _out(d_opt, scalar)
