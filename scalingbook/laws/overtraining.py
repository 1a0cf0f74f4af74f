"""Gadre et al.'s (2024) scaling law for over-trained models: ``L(C, M) = E + (a M^eta + b M^-eta) C^-eta``.

The token multiplier ``M = D / N`` says how far a run is trained past (or short of) any
allocation: tokens per parameter. Gadre et al. start from the Chinchilla form
``E + A N^-alpha + B D^-beta`` with equal exponents ``alpha = beta`` and rewrite it in compute
``C = 6 N D = 6 M N^2`` and ``M``: with ``N = sqrt(C / (6M))`` and ``D = sqrt(C M / 6)``,

    L(C, M) = E + (a M^eta + b M^-eta) C^-eta,   eta = alpha / 2,   a = A 6^eta,   b = B 6^eta.

At a fixed multiplier the reducible loss ``L - E`` is a power law in compute whose exponent
``eta`` does not depend on ``M``: runs over-trained by the same factor lie on parallel lines in
a log-log plot of reducible loss against compute, shifted by the factor
``a M^eta + b M^-eta``. That factor is smallest at ``M* = (b / a)^(1 / (2 eta))``, the
compute-optimal multiplier of this law; training at ``M`` instead costs the constant compute
factor ``(offset(M) / offset(M*))^(1/eta)`` at every budget (:meth:`OvertrainingLaw.compute_penalty`).

Units: ``C`` in FLOPs (any fixed accounting; the fitted ``a``, ``b`` absorb its constant),
``M`` in tokens per parameter, losses in nats. Fitted by :func:`scalingbook.fit.fit_overtraining`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from scalingbook._validate import nonnegative_scalar, positive_scalar
from scalingbook.laws.power import _out
from scalingbook.laws.power import _sizes as _positive

__all__ = ["OvertrainingLaw"]

_FLOPS_PER_PARAM_TOKEN = 6.0


@dataclass(frozen=True)
class OvertrainingLaw:
    """``L(C, M) = E + (a M**eta + b M**-eta) C**-eta`` (Gadre et al. 2024).

    Fields
    ------
    E : float
        Irreducible loss in nats, zero or more.
    a, b : float
        Scales of the over-training and under-training terms, strictly positive (nats times
        FLOPs^eta).
    eta : float
        Compute exponent of the reducible loss at fixed ``M``, strictly positive.
    """

    E: float
    a: float
    b: float
    eta: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "E", nonnegative_scalar("E", self.E))
        for name in ("a", "b", "eta"):
            object.__setattr__(self, name, positive_scalar(name, getattr(self, name)))

    @classmethod
    def from_chinchilla(cls, E: float, A: float, B: float, alpha: float) -> OvertrainingLaw:
        """The law equal to ``E + A N^-alpha + B D^-alpha`` under ``C = 6 N D``, ``M = D / N``."""
        alpha = positive_scalar("alpha", alpha)
        eta = alpha / 2.0
        scale = _FLOPS_PER_PARAM_TOKEN**eta
        return cls(E=E, a=positive_scalar("A", A) * scale, b=positive_scalar("B", B) * scale, eta=eta)

    def offset(self, M: Any) -> np.ndarray | float:
        """``a M^eta + b M^-eta``: the reducible loss at ``C = 1`` (shape of ``M``)."""
        m_arr, scalar = _positive("M", M)
        return _out(self.a * m_arr**self.eta + self.b * m_arr ** (-self.eta), scalar)

    def reducible(self, C: Any, M: Any) -> np.ndarray | float:
        """``L - E`` in nats at ``C`` FLOPs and multiplier ``M`` (broadcast)."""
        c_arr, c_scalar = _positive("C", C)
        m_arr, m_scalar = _positive("M", M)
        # Logs keep C^-eta finite for budgets like 1e30 FLOPs.
        log_c = np.log(c_arr)
        log_m = np.log(m_arr)
        values = (np.exp(np.log(self.a) + self.eta * (log_m - log_c))
                  + np.exp(np.log(self.b) - self.eta * (log_m + log_c)))
        return _out(values, c_scalar and m_scalar)

    def loss(self, C: Any, M: Any) -> np.ndarray | float:
        """Loss in nats at ``C`` FLOPs and ``M`` tokens per parameter (broadcast)."""
        return self.E + self.reducible(C, M)

    __call__ = loss

    def loss_at(self, N: Any, D: Any) -> np.ndarray | float:
        """Loss of ``N`` parameters trained on ``D`` tokens, with ``C = 6 N D`` and ``M = D / N``."""
        n_arr, n_scalar = _positive("N", N)
        d_arr, d_scalar = _positive("D", D)
        values = self.loss(_FLOPS_PER_PARAM_TOKEN * n_arr * d_arr, d_arr / n_arr)
        return _out(np.asarray(values), n_scalar and d_scalar)

    @property
    def optimal_multiplier(self) -> float:
        """``M* = (b / a)^(1 / (2 eta))``: the multiplier with the lowest loss at every budget."""
        return float((self.b / self.a) ** (1.0 / (2.0 * self.eta)))

    def compute_penalty(self, M: Any) -> np.ndarray | float:
        """Compute factor (≥ 1) a run at multiplier ``M`` needs to match a run at ``M*``.

        ``(offset(M) / offset(M*))^(1/eta)``: the same at every budget, because ``eta`` does
        not depend on ``M``.
        """
        ratio = np.asarray(self.offset(M)) / self.offset(self.optimal_multiplier)
        out = ratio ** (1.0 / self.eta)
        return float(out) if out.ndim == 0 else out
