"""Kaplan et al.'s (2020) joint law ``L(N, D) = [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D``.

Units: ``N`` parameters (Kaplan counts non-embedding parameters), ``D`` tokens, ``C`` FLOPs,
loss per-token cross-entropy in nats. ``N_c`` is in parameters and ``D_c`` in tokens. Kaplan et
al.'s fit of this joint law (their Table 2) is ``scalingbook.papers.kaplan2020.JOINT_FIT``,
``KaplanLaw(alpha_N=0.076, alpha_D=0.103, N_c=6.4e13, D_c=1.8e13)``; the constants 0.095 and
5.4e13 belong to their separate fit of L(D) alone (their loss is in nats with their tokenizer;
the law has no irreducible term).

Compute-optimal allocation under ``C = 6 N D``: the loss is an increasing function of
``X = (N_c/N)^r + 6 D_c N / C`` with ``r = alpha_N/alpha_D``, and ``dX/dN = 0`` gives

    N*(C) = (r N_c^r C / (6 D_c))^(1/(r+1)),   D*(C) = C / (6 N*),

so ``N* ∝ C^(alpha_D/(alpha_N+alpha_D))`` and ``D* ∝ C^(alpha_N/(alpha_N+alpha_D))``. (This is
the optimum of the converged-loss law at fixed C = 6ND; Kaplan et al.'s own N ∝ C^0.73 comes from
their early-stopped L(N, S) analysis, which this law does not contain.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from scalingbook._validate import positive_scalar

# Scalar-or-array handling shared with the other law forms.
from scalingbook.laws.allocation import ComputeOptimalMixin
from scalingbook.laws.power import _out
from scalingbook.laws.power import _sizes as _positive

__all__ = ["KaplanLaw"]


@dataclass(frozen=True)
class KaplanLaw(ComputeOptimalMixin):
    """``L(N, D) = [(N_c / N)**(alpha_N / alpha_D) + D_c / D]**alpha_D`` (Kaplan et al. 2020, eq. 1.5).

    Fields
    ------
    alpha_N, alpha_D : float
        Exponents of the parameter-limited and data-limited power laws, strictly positive.
    N_c : float
        Parameter scale (parameters), strictly positive.
    D_c : float
        Token scale (tokens), strictly positive.

    With ``D → ∞`` the law is ``(N_c/N)^alpha_N``; with ``N → ∞`` it is ``(D_c/D)^alpha_D``.
    """

    alpha_N: float
    alpha_D: float
    N_c: float
    D_c: float

    def __post_init__(self) -> None:
        for name in ("alpha_N", "alpha_D", "N_c", "D_c"):
            object.__setattr__(self, name, positive_scalar(name, getattr(self, name)))

    def loss(self, N: Any, D: Any) -> np.ndarray | float:
        """Loss in nats with ``N`` parameters and ``D`` tokens (broadcast; float for scalars)."""
        n_arr, n_scalar = _positive("N", N)
        d_arr, d_scalar = _positive("D", D)
        ratio = self.alpha_N / self.alpha_D
        values = ((self.N_c / n_arr) ** ratio + self.D_c / d_arr) ** self.alpha_D
        return _out(values, n_scalar and d_scalar)

    __call__ = loss

    @property
    def a(self) -> float:
        """Exponent of N*(C) ∝ C^a: ``alpha_D / (alpha_N + alpha_D)``."""
        return self.alpha_D / (self.alpha_N + self.alpha_D)

    @property
    def b(self) -> float:
        """Exponent of D*(C) ∝ C^b: ``alpha_N / (alpha_N + alpha_D)``; ``a + b = 1``."""
        return self.alpha_N / (self.alpha_N + self.alpha_D)

    def compute_optimal(self, C: Any) -> tuple[np.ndarray | float, np.ndarray | float]:
        """``(N*, D*)`` minimizing the loss at ``C`` FLOPs under C = 6 N D (shapes of ``C``)."""
        c_arr, scalar = _positive("C", C)
        r = self.alpha_N / self.alpha_D
        # Logs keep N_c^r (with N_c ~ 1e14) and large budgets from overflowing.
        log_n = (np.log(r) + r * np.log(self.N_c) + np.log(c_arr) - np.log(6.0 * self.D_c)) / (r + 1.0)
        n_opt = np.exp(log_n)
        d_opt = np.exp(np.log(c_arr / 6.0) - log_n)
        return _out(n_opt, scalar), _out(d_opt, scalar)
