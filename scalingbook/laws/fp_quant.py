"""Sun et al.'s (2025) law of loss in parameters, data, exponent bits, mantissa bits and block size.

    L(N, D, E, M, B) = n/N^alpha + d/D^beta + epsilon + rho(N, D, E, M, B),
    rho = (D^beta / N^alpha) * log2(B) / (gamma (E + 1/2)^delta (M + 1/2)^nu).

The first three terms are the Chinchilla law of a high-precision run (:attr:`FPQuantLaw.base`).
``rho`` is what training with a floating-point format of ``E`` exponent and ``M`` mantissa bits,
one scale per block of ``B`` elements, adds: it grows with the "knowledge intensity"
``D^beta / N^alpha`` and with the block size, and falls as a power of ``E + 1/2`` and of
``M + 1/2`` (the half bit makes ``E = 0`` or ``M = 0`` finite). ``B = 1`` (a scale per element)
adds nothing.

Units: ``N`` is non-embedding parameters, ``D`` training tokens, ``E`` and ``M`` bits (real
values allowed, so the optimum can be found by calculus), ``B`` elements per scale (at least 1),
``P = 1 + E + M`` the total bits with the sign, the loss in nats per token.

Two consequences, each derived in its method's docstring and tested against brute-force search:
the best split of ``P`` bits between exponent and mantissa (:meth:`FPQuantLaw.optimal_mantissa`,
the paper's Eq. 19) and the data size beyond which more tokens raise the loss
(:meth:`FPQuantLaw.critical_data`, Eq. 21). A third, :meth:`FPQuantLaw.cost_optimal`, is the
model size, data and precision minimizing the loss at a compute budget ``C = k P N D``; the
paper states its consequence (a 4 to 8 bit optimum over a wide range of budgets), and we derive
the closed form here ourselves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from scalingbook._validate import as_float_array, positive_scalar
from scalingbook.laws.chinchilla import ChinchillaLaw
from scalingbook.laws.power import _out
from scalingbook.laws.power import _sizes as _positive
from scalingbook.papers import sun2025 as _paper

__all__ = ["FPQuantLaw"]

_T = _paper.TABLE_2


def _first_bad(arr: np.ndarray, bad: np.ndarray) -> str:
    """The first offending value, and its index when the argument is an array."""
    if arr.ndim == 0:
        return repr(float(arr))
    idx = np.argwhere(bad)[0].tolist()
    return f"{arr[tuple(idx)]!r} at index {idx}"


def _nonnegative(name: str, value: Any) -> tuple[np.ndarray, bool]:
    """Bits of any shape, zero or more (NaN and infinities refused), and whether a scalar came."""
    arr = as_float_array(name, value, ndim=None)
    if (arr < 0).any():
        raise ValueError(f"{name} must be zero or more bits, got {_first_bad(arr, arr < 0)}")
    return arr, arr.ndim == 0


def _blocks(name: str, value: Any) -> tuple[np.ndarray, bool]:
    """Block sizes of any shape, at least one element each, and whether a scalar came."""
    arr, scalar = _positive(name, value)
    if (arr < 1).any():
        raise ValueError(f"{name} must be at least 1 (elements per scale), got {_first_bad(arr, arr < 1)}")
    return arr, scalar


def _total_bits(name: str, value: Any) -> tuple[np.ndarray, bool]:
    """Total bits P of any shape, at least 2: a sign bit and one more (an exponent bit)."""
    arr = as_float_array(name, value, ndim=None)
    if (arr < 2).any():
        raise ValueError(f"{name} must be at least 2 bits (a sign bit and an exponent bit), "
                         f"got {_first_bad(arr, arr < 2)}")
    return arr, arr.ndim == 0


@dataclass(frozen=True)
class FPQuantLaw:
    """``L = n/N^alpha + d/D^beta + epsilon + (D^beta/N^alpha) log2 B / (gamma (E+1/2)^delta (M+1/2)^nu)``.

    The defaults are Sun et al.'s fitted constants, Table 2 of arXiv:2501.02423
    (:data:`scalingbook.papers.sun2025.TABLE_2`). All eight fields must be finite and strictly
    positive, except ``epsilon`` (the floor, in nats), which may be zero.

    Fields
    ------
    n, d : float
        Scales of the parameter and data terms (nats times N^alpha, nats times D^beta).
    alpha, beta : float
        Exponents of N and D; the same two appear in the precision term.
    epsilon : float
        The irreducible loss, nats per token.
    gamma : float
        Scale of the precision term's denominator (dimensionless).
    delta, nu : float
        How fast the precision term falls with exponent bits and with mantissa bits.
    """

    n: float = _T["n"]
    alpha: float = _T["alpha"]
    d: float = _T["d"]
    beta: float = _T["beta"]
    epsilon: float = _T["epsilon"]
    gamma: float = _T["gamma"]
    delta: float = _T["delta"]
    nu: float = _T["nu"]

    def __post_init__(self) -> None:
        for name in ("n", "alpha", "d", "beta", "gamma", "delta", "nu"):
            object.__setattr__(self, name, positive_scalar(name, getattr(self, name)))
        eps = float(as_float_array("epsilon", self.epsilon, ndim=0))
        if eps < 0:
            raise ValueError(f"epsilon must be zero or positive, got {eps!r}")
        object.__setattr__(self, "epsilon", eps)

    # --- the law ----------------------------------------------------------------------------

    @property
    def base(self) -> ChinchillaLaw:
        """The high-precision part ``epsilon + n/N^alpha + d/D^beta`` as a :class:`ChinchillaLaw`."""
        return ChinchillaLaw(E=self.epsilon, A=self.n, B=self.d, alpha=self.alpha, beta=self.beta)

    def _log_denominator(self, e: np.ndarray, m: np.ndarray) -> np.ndarray:
        """``log(gamma (E+1/2)^delta (M+1/2)^nu)``."""
        return math.log(self.gamma) + self.delta * np.log(e + 0.5) + self.nu * np.log(m + 0.5)

    def precision_penalty(self, N: Any, D: Any, E: Any, M: Any, B: Any) -> np.ndarray | float:
        """``rho``: the loss (nats) the format adds over a high-precision run of the same N and D.

        Arguments broadcast together; a float comes back when all five are scalars. ``N``, ``D``
        strictly positive, ``E``, ``M`` zero or more, ``B`` at least 1.
        """
        n_arr, s1 = _positive("N", N)
        d_arr, s2 = _positive("D", D)
        e_arr, s3 = _nonnegative("E", E)
        m_arr, s4 = _nonnegative("M", M)
        b_arr, s5 = _blocks("B", B)
        # log-space, so that D = 1e15 with beta near 1 cannot overflow an intermediate power
        log_rho = (self.beta * np.log(d_arr) - self.alpha * np.log(n_arr)
                   - self._log_denominator(e_arr, m_arr))
        values = np.exp(log_rho) * np.log2(b_arr)
        return _out(values, s1 and s2 and s3 and s4 and s5)

    def loss(self, N: Any, D: Any, E: Any, M: Any, B: Any) -> np.ndarray | float:
        """Loss in nats of ``N`` parameters trained on ``D`` tokens in format E, M with blocks of B.

        Arguments are scalars or arrays that broadcast together (for example ``E`` and ``M`` as
        a column and a row to tabulate every layout); a float comes back when all are scalars.
        ``N``, ``D`` strictly positive; ``E``, ``M`` zero or more (real values allowed);
        ``B`` at least 1. NaN or infinite values raise ``ValueError`` naming the argument.
        """
        penalty = self.precision_penalty(N, D, E, M, B)
        return self.base.loss(N, D) + penalty

    __call__ = loss

    # --- the best exponent/mantissa split for P bits ------------------------------------------

    def optimal_mantissa(self, P: Any) -> np.ndarray | float:
        """The real-valued mantissa bits minimizing the loss among formats of ``P`` total bits.

        ``P = 1 + E + M`` counts the sign bit; ``P >= 2``. A scalar or array; same shape back.

        Derivation. Only the precision term depends on the split, and it is a positive
        factor (not depending on E, M) times ``x^-delta y^-nu`` with ``x = E + 1/2 = P - 1/2 - M``
        and ``y = M + 1/2``, so ``x + y = P``. Minimizing it is maximizing
        ``g(M) = delta log x + nu log y``:

            g'(M) = -delta/x + nu/y = 0   <=>   nu x = delta y   <=>   y = nu P / (delta + nu),

        so ``M* = nu P / (delta + nu) - 1/2`` and ``E* = delta P / (delta + nu) - 1/2`` (the
        paper's Eq. 19). ``g'' = -delta/x^2 - nu/y^2 < 0``: g is strictly concave, M* is the
        unique optimum, and the answer depends on neither N, D, B nor gamma. The split is
        ``E*/M*`` close to ``delta/nu``: exponent bits are worth more when ``delta > nu``.

        A format needs ``E >= 0`` and ``M >= 0``, i.e. ``0 <= M <= P - 1``. When M* falls outside
        that interval (only for ``P`` below ``(delta + nu) / (2 min(delta, nu))``, about 1.04
        with the paper's constants, so never for ``P >= 2`` with them), concavity puts the
        constrained optimum at the nearer end, which is what is returned.
        """
        p_arr, scalar = _total_bits("P", P)
        m_star = self.nu * p_arr / (self.delta + self.nu) - 0.5
        return _out(np.clip(m_star, 0.0, p_arr - 1.0), scalar)

    def optimal_exponent(self, P: Any) -> np.ndarray | float:
        """``P - 1 - optimal_mantissa(P)``: the exponent bits of the best real-valued split."""
        p_arr, scalar = _total_bits("P", P)
        return _out(p_arr - 1.0 - np.asarray(self.optimal_mantissa(p_arr)), scalar)

    def best_layout(self, P: int) -> tuple[int, int]:
        """``(E, M)``: the integer split of ``P`` bits (sign included) with the lowest loss.

        Searches every ``E = 0 .. P - 1`` (``M = P - 1 - E``); ties, which need equal
        exponents, go to more exponent bits. ``P`` is an integer of at least 2.
        """
        if isinstance(P, bool) or not isinstance(P, (int, np.integer)):
            raise ValueError(f"P must be an integer number of bits, got {P!r}")
        _total_bits("P", P)
        e = np.arange(int(P), dtype=float)
        log_denominator = self._log_denominator(e, P - 1.0 - e)
        best = int(np.flatnonzero(log_denominator == log_denominator.max())[-1])
        return best, int(P) - 1 - best

    # --- the critical data size ------------------------------------------------------------------

    def critical_data(self, N: Any, E: Any, M: Any, B: Any) -> np.ndarray | float:
        """Tokens beyond which more training data raises the loss (the paper's D_crit, Eq. 21).

        Derivation. With ``K = log2(B) / (N^alpha gamma (E+1/2)^delta (M+1/2)^nu)`` the loss is
        ``n/N^alpha + epsilon + d D^-beta + K D^beta``, and

            dL/dD = beta D^(beta-1) (K - d D^(-2 beta)),

        negative while ``D^(2 beta) < d / K`` and positive after, so the loss falls, bottoms out
        and rises, with its minimum at

            D_crit = (d gamma N^alpha (E+1/2)^delta (M+1/2)^nu / log2 B)^(1 / (2 beta)).

        There the two data terms are equal, and the lowest loss reachable at this N and format is
        ``n/N^alpha + epsilon + 2 sqrt(d K)`` (:meth:`loss_at_critical_data`). ``B = 1`` (a scale
        per element) has no critical size: ``inf`` comes back. Arguments broadcast; ``N`` strictly
        positive, ``E``, ``M`` zero or more, ``B`` at least 1.
        """
        n_arr, s1 = _positive("N", N)
        e_arr, s2 = _nonnegative("E", E)
        m_arr, s3 = _nonnegative("M", M)
        b_arr, s4 = _blocks("B", B)
        log2_b = np.log2(b_arr)
        with np.errstate(divide="ignore"):
            log_k = np.log(log2_b) - self.alpha * np.log(n_arr) - self._log_denominator(e_arr, m_arr)
            values = np.exp((math.log(self.d) - log_k) / (2.0 * self.beta))
        return _out(values, s1 and s2 and s3 and s4)

    def loss_at_critical_data(self, N: Any, E: Any, M: Any, B: Any) -> np.ndarray | float:
        """The lowest loss over D at this N and format: ``n/N^alpha + epsilon + 2 sqrt(d K)``.

        (``K`` as in :meth:`critical_data`; for ``B = 1`` it is the high-precision floor
        ``n/N^alpha + epsilon``, approached as D grows.)
        """
        n_arr, s1 = _positive("N", N)
        e_arr, s2 = _nonnegative("E", E)
        m_arr, s3 = _nonnegative("M", M)
        b_arr, s4 = _blocks("B", B)
        k = np.log2(b_arr) * np.exp(-self.alpha * np.log(n_arr) - self._log_denominator(e_arr, m_arr))
        values = self.n * n_arr ** (-self.alpha) + self.epsilon + 2.0 * np.sqrt(self.d * k)
        return _out(values, s1 and s2 and s3 and s4)

    # --- compute-optimal model size, data and precision -------------------------------------------

    def loss_at_optimal_layout(self, N: Any, D: Any, P: Any, B: Any) -> np.ndarray | float:
        """The loss with the best real-valued split of ``P`` bits (the paper's Eq. 20).

        Substituting E*, M* of :meth:`optimal_mantissa` into the precision term gives
        ``(D^beta/N^alpha) log2 B / (gamma_P P^(delta+nu))`` with
        ``gamma_P = gamma delta^delta nu^nu / (delta+nu)^(delta+nu)`` (:attr:`gamma_p`).
        Where the unconstrained split is not a format (never for P >= 2 with the paper's
        constants) the constrained one of :meth:`optimal_mantissa` is used, and the closed form
        does not apply. Arguments broadcast; P at least 2.
        """
        p_arr, _ = _total_bits("P", P)
        m = np.asarray(self.optimal_mantissa(p_arr), dtype=float)
        return self.loss(N, D, p_arr - 1.0 - m, m, B)

    @property
    def gamma_p(self) -> float:
        """``gamma delta^delta nu^nu / (delta+nu)^(delta+nu)``: the precision term's scale at the
        best split, ``rho = (D^beta/N^alpha) log2 B / (gamma_p P^(delta+nu))`` (the paper's gamma_rho)."""
        s = self.delta + self.nu
        return math.exp(math.log(self.gamma) + self.delta * math.log(self.delta)
                        + self.nu * math.log(self.nu) - s * math.log(s))

    def cost_optimal(self, C: Any, B: Any, *, k: float = 6.0 / 16.0):
        """``(N*, D*, P*)``: parameters, tokens and total bits minimizing the loss at ``C`` FLOPs.

        The cost model is the paper's ``C = k P N D`` (section 4.4): compute proportional to the
        bits per operand, with ``k = 6/16`` making a 16-bit run cost the usual 6 N D. The loss is
        :meth:`loss_at_optimal_layout` (the best split for each P, P real-valued). ``C`` is a
        strictly positive scalar or array, ``B`` a block size of at least 1 (a scalar), and the
        three outputs have ``C``'s shape.

        Derivation (ours; the paper states the consequence). Write ``s = delta + nu`` and
        ``c = log2 B / gamma_p``. Eliminating ``P = C / (k N D)``,

            L(N, D) = n N^-alpha + d D^-beta + epsilon + T,   T = c (k/C)^s D^(beta+s) N^(s-alpha).

        Setting both partial derivatives to zero gives ``alpha n N^-alpha = (s - alpha) T`` and
        ``beta d D^-beta = (beta + s) T``, so N and D are powers of T; putting them back into the
        definition of T leaves one equation for T,

            T^(1 + s/alpha + s/beta) = c (k/C)^s ((beta+s)/(beta d))^-((beta+s)/beta)
                                          ((s-alpha)/(alpha n))^-((s-alpha)/alpha),

        whence ``N* = ((s-alpha) T / (alpha n))^(-1/alpha)``, ``D* = ((beta+s) T / (beta d))^(-1/beta)``
        and ``P* = C / (k N* D*)``. Needs ``s > alpha`` (else more bits always pay). ``B = 1``
        has no optimum (the precision term vanishes and fewer bits always pay): ``ValueError``.
        """
        c_arr, scalar = _positive("C", C)
        b = positive_scalar("B", B)
        if b <= 1:
            raise ValueError(f"B must exceed 1 for a cost-optimal precision to exist, got {b!r}")
        k = positive_scalar("k", k)
        a, be = self.alpha, self.beta
        s = self.delta + self.nu
        if s <= a:
            raise ValueError("delta + nu must exceed alpha for a cost-optimal precision to exist")
        log_c = math.log(math.log2(b)) - math.log(self.gamma_p)
        log_rhs = (log_c + s * (math.log(k) - np.log(c_arr))
                   - (be + s) / be * math.log((be + s) / (be * self.d))
                   - (s - a) / a * math.log((s - a) / (a * self.n)))
        log_t = log_rhs / (1.0 + s / a + s / be)
        log_n = -(math.log((s - a) / (a * self.n)) + log_t) / a
        log_d = -(math.log((be + s) / (be * self.d)) + log_t) / be
        log_p = np.log(c_arr) - math.log(k) - log_n - log_d
        return _out(np.exp(log_n), scalar), _out(np.exp(log_d), scalar), _out(np.exp(log_p), scalar)
