"""A compute-optimal allocation stated directly as a power law in compute, ``N*(C) = N_ref (C / C_ref)^a``.

Some published allocations are not derived from a loss law ``L(N, D)`` but stated as a rule:
Kaplan et al. (2020) give the compute-efficient model size as ``N ≈ 1.3e9 (C / 1 PF-day)^0.73``,
and Hoffmann et al.'s (2022) approach 1 tabulates compute-optimal sizes and budgets (their
Table 3), through which a power law can be drawn. :class:`AllocationRule` holds such a rule and
derives the rest under the accounting ``C = k N D`` (``k`` = 6 FLOPs per parameter per token
by default): ``D*(C) = C / (k N*)`` tokens and ``D*/N* = C / (k N*^2)`` tokens per parameter.

Every law with a power-law allocation reduces to the same two numbers: with ``K = N_ref C_ref^-a``,
``N*(C) = K C^a`` (C in FLOPs). :func:`power_law_allocation` reads ``(K, a)`` off any object with a
``compute_optimal(C)`` method (a :class:`~scalingbook.laws.ChinchillaLaw`, a
:class:`~scalingbook.laws.KaplanLaw`, an :class:`AllocationRule`) and checks that its allocation
really is a power law; the static allocation explorer (:mod:`scalingbook.viz.allocation`) draws
every law from those two numbers.

Units: ``C`` in FLOPs, ``N`` in parameters, ``D`` in tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from scalingbook._validate import as_positive_array, positive_scalar, same_length
from scalingbook.laws.power import _out
from scalingbook.laws.power import _sizes as _positive

__all__ = ["AllocationRule", "chinchilla_allocation_exponent", "flops_scaling", "power_law_allocation"]


@dataclass(frozen=True)
class AllocationRule:
    """``N*(C) = N_ref (C / C_ref)^a`` parameters, and ``D*(C) = C / (flops_per_param_token N*)`` tokens.

    Fields
    ------
    N_ref : float
        Compute-optimal parameters at ``C = C_ref``, strictly positive.
    a : float
        Allocation exponent, strictly between 0 and 1 (``D*`` then grows as ``C^(1-a)``).
    C_ref : float
        Reference budget in FLOPs, strictly positive (default 1 FLOP). Kaplan et al. state their
        rule per PF-day, 8.64e19 FLOPs.
    flops_per_param_token : float
        ``k`` in ``C = k N D``, strictly positive (default 6: forward and backward pass).
    """

    N_ref: float
    a: float
    C_ref: float = 1.0
    flops_per_param_token: float = 6.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "N_ref", positive_scalar("N_ref", self.N_ref))
        object.__setattr__(self, "C_ref", positive_scalar("C_ref", self.C_ref))
        object.__setattr__(self, "flops_per_param_token",
                           positive_scalar("flops_per_param_token", self.flops_per_param_token))
        a = positive_scalar("a", self.a)
        if not a < 1:
            raise ValueError(f"a must lie strictly between 0 and 1, got {a!r}")
        object.__setattr__(self, "a", a)

    @property
    def b(self) -> float:
        """Exponent of ``D*(C) ∝ C^b``: ``1 - a``."""
        return 1.0 - self.a

    def compute_optimal(self, C: Any) -> tuple[np.ndarray | float, np.ndarray | float]:
        """``(N*, D*)`` at ``C`` FLOPs (scalar or array; each output has the shape of ``C``)."""
        c_arr, scalar = _positive("C", C)
        log_n = np.log(self.N_ref) + self.a * (np.log(c_arr) - np.log(self.C_ref))
        log_d = np.log(c_arr) - np.log(self.flops_per_param_token) - log_n
        return _out(np.exp(log_n), scalar), _out(np.exp(log_d), scalar)

    def tokens_per_parameter(self, C: Any) -> np.ndarray | float:
        """``D*/N*`` at ``C`` FLOPs: tokens per parameter of the compute-optimal model."""
        n_opt, d_opt = self.compute_optimal(C)
        return d_opt / n_opt

    @classmethod
    def through(cls, C: Any, N: Any, *, C_ref: float = 1.0,
                flops_per_param_token: float = 6.0) -> AllocationRule:
        """The rule through tabulated ``(C, N*)`` pairs: ordinary least squares of ``ln N*`` on ``ln C``.

        ``C`` (FLOPs) and ``N`` (parameters) are 1-D, strictly positive, of one length, with at
        least two distinct budgets. ``N_ref`` is the fitted line's value at ``C_ref``.
        """
        c_arr = as_positive_array("C", C)
        n_arr = as_positive_array("N", N)
        same_length(C=c_arr, N=n_arr)
        if len(np.unique(c_arr)) < 2:
            raise ValueError("C needs at least two distinct budgets to fit a power law")
        slope, intercept = np.polyfit(np.log(c_arr), np.log(n_arr), 1)
        C_ref = positive_scalar("C_ref", C_ref)
        return cls(N_ref=float(np.exp(intercept + slope * np.log(C_ref))), a=float(slope),
                   C_ref=C_ref, flops_per_param_token=flops_per_param_token)


def power_law_allocation(law: Any, *, C_range: tuple[float, float] = (1e15, 1e30),
                         rtol: float = 1e-6) -> tuple[float, float]:
    """``(K, a)`` with ``N*(C) = K C^a`` (C in FLOPs) for any law whose allocation is a power law.

    ``law`` needs ``compute_optimal(C) -> (N*, D*)``. The exponent and the coefficient are read
    from the two ends of ``C_range`` and checked at its geometric middle; a law whose allocation
    is not a power law there (to relative tolerance ``rtol``) raises ``ValueError``.
    """
    if not hasattr(law, "compute_optimal"):
        raise ValueError(f"law must have a compute_optimal(C) method, got {type(law).__name__}")
    lo = positive_scalar("C_range[0]", C_range[0])
    hi = positive_scalar("C_range[1]", C_range[1])
    if not lo < hi:
        raise ValueError(f"C_range must have low < high, got {C_range}")
    rtol = positive_scalar("rtol", rtol)
    n_lo = float(law.compute_optimal(lo)[0])
    n_hi = float(law.compute_optimal(hi)[0])
    a = np.log(n_hi / n_lo) / np.log(hi / lo)
    log_k = np.log(n_lo) - a * np.log(lo)
    mid = float(np.sqrt(lo * hi))
    n_mid = float(law.compute_optimal(mid)[0])
    predicted = np.exp(log_k + a * np.log(mid))
    if abs(predicted / n_mid - 1.0) > rtol:
        raise ValueError(f"the allocation of {law!r} is not a power law over C in {C_range}: "
                         f"N*({mid:.3g}) = {n_mid:.6g}, the power law through the ends gives "
                         f"{predicted:.6g}")
    return float(np.exp(log_k)), float(a)


def flops_scaling(params: Any, flops_per_token: Any) -> tuple[float, float]:
    """``(k, gamma)`` of the power law ``flops_per_token ≈ k N^gamma`` through a model family.

    Under ``C = 6 N D`` every model costs 6 FLOPs per parameter per token (``gamma = 1``); an
    exact count (attention, the output head) departs from it most for the smallest models, and
    the least-squares line of ``ln flops_per_token`` on ``ln N`` summarizes by how much.
    ``params`` (parameters) and ``flops_per_token`` (training FLOPs per token) are 1-D, strictly
    positive, of one length, with at least two distinct sizes.
    """
    n_arr = as_positive_array("params", params)
    f_arr = as_positive_array("flops_per_token", flops_per_token)
    same_length(params=n_arr, flops_per_token=f_arr)
    if len(np.unique(n_arr)) < 2:
        raise ValueError("params needs at least two distinct sizes to fit a power law")
    gamma, log_k = np.polyfit(np.log(n_arr), np.log(f_arr), 1)
    return float(np.exp(log_k)), float(gamma)


def chinchilla_allocation_exponent(alpha: float, beta: float, gamma: float = 1.0) -> float:
    """Exponent ``a`` of ``N* ∝ C^a`` for ``E + A N^-alpha + B D^-beta`` when ``C = k N^gamma D``.

    Substituting ``D = C / (k N^gamma)`` and setting the derivative in ``N`` to zero gives
    ``alpha A N^-alpha = gamma beta B D^-beta``, hence ``N* ∝ C^(beta / (alpha + gamma beta))``
    and ``D* ∝ C^(alpha / (alpha + gamma beta))``. With ``gamma = 1`` (``C = 6ND``) this is
    Hoffmann et al.'s ``beta / (alpha + beta)``. All three arguments strictly positive.
    """
    alpha = positive_scalar("alpha", alpha)
    beta = positive_scalar("beta", beta)
    gamma = positive_scalar("gamma", gamma)
    return beta / (alpha + gamma * beta)
