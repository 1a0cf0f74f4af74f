"""Power laws and the three-region learning curve of Hestness et al. (2017).

Units. ``x`` (or ``m``) is always a count: training examples m, parameters N, tokens D.
Errors and losses are in the task's own units (MSE, per-token cross-entropy in nats,
top-1 error as a fraction); a law returns values in the same units as the data it was fitted to.

Every function is vectorized over ``x``: pass a scalar and get a float back, pass an array
of any shape and get an array of that shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from scalingbook._validate import (
    as_float_array,
    as_positive_array,
    nonnegative_scalar,
    positive_scalar,
)

__all__ = ["power_law", "power_law_with_offset", "LearningCurve", "data_multiplier"]


def _finite_scalar(name: str, value: Any) -> float:
    """A finite real number of either sign (exponents may be negative)."""
    return float(as_float_array(name, value, ndim=0))


def _sizes(name: str, value: Any) -> tuple[np.ndarray, bool]:
    """Strictly positive sizes of any shape, and whether the caller passed a scalar."""
    arr = as_positive_array(name, value, ndim=None)
    return arr, arr.ndim == 0


def _out(values: np.ndarray, scalar: bool) -> np.ndarray | float:
    return float(values) if scalar else values


def power_law(x: Any, a: float, alpha: float) -> np.ndarray | float:
    """Pure power law ``a * x**(-alpha)``.

    Parameters
    ----------
    x : scalar or array of any shape
        Counts (examples, parameters, tokens); strictly positive.
    a : float
        Scale, strictly positive: the value at ``x = 1``, in the units of the result.
    alpha : float
        Exponent, any finite real. ``alpha > 0`` decays (an error curve);
        ``alpha < 0`` grows (Hestness's best model size, which grows like ``m**0.7``,
        is ``power_law(m, a, -0.7)``).

    Returns
    -------
    float or ndarray with the shape of ``x``.
    """
    x_arr, scalar = _sizes("x", x)
    a = positive_scalar("a", a)
    alpha = _finite_scalar("alpha", alpha)
    return _out(a * x_arr ** (-alpha), scalar)


def power_law_with_offset(x: Any, e: float, a: float, alpha: float) -> np.ndarray | float:
    """Power law that levels off at a floor: ``e + a * x**(-alpha)``.

    Parameters
    ----------
    x : scalar or array of any shape
        Counts, strictly positive.
    e : float
        The floor the law approaches as ``x`` grows (irreducible error), zero or more.
    a : float
        Scale of the reducible part, strictly positive.
    alpha : float
        Exponent of the reducible part, strictly positive (otherwise ``e`` is not a floor).

    Returns
    -------
    float or ndarray with the shape of ``x``.
    """
    x_arr, scalar = _sizes("x", x)
    e = nonnegative_scalar("e", e)
    a = positive_scalar("a", a)
    alpha = positive_scalar("alpha", alpha)
    return _out(e + a * x_arr ** (-alpha), scalar)


@dataclass(frozen=True)
class LearningCurve:
    """Generalization error against training-set size with Hestness's three regions.

    ``error(m) = irreducible_error + (best_guess_error - irreducible_error) / (1 + (m / m0)**beta)``

    The curve starts at the best-guess error for tiny ``m`` (the *small-data* region), falls as
    a power law ``m**(-beta)`` (the *power-law* region) and flattens onto the irreducible error
    (the *irreducible* region). Hestness et al. (2017, Figure 6) sketch these regions; this
    smooth form is ours, chosen because it has exactly those three asymptotes.

    Fields
    ------
    best_guess_error : float
        ε0, the error of the best prediction made with no data (for MSE regression: the label
        variance). Same units as the error.
    irreducible_error : float
        ε∞ ≥ 0, the error no amount of data removes (label noise, Bayes error).
    m0 : float
        Training examples at which the small-data region ends (see ``small_data_boundary``).
    beta : float
        Exponent of the reducible error, > 0. Hestness writes ε ∝ m^βg with βg = -beta.

    Raises ``ValueError`` unless best_guess_error > irreducible_error ≥ 0, m0 > 0, beta > 0.
    """

    best_guess_error: float
    irreducible_error: float
    m0: float
    beta: float

    def __post_init__(self) -> None:
        eps0 = positive_scalar("best_guess_error", self.best_guess_error)
        eps_inf = nonnegative_scalar("irreducible_error", self.irreducible_error)
        if eps0 <= eps_inf:
            raise ValueError(
                f"best_guess_error must exceed irreducible_error, got best_guess_error={eps0!r} "
                f"and irreducible_error={eps_inf!r}"
            )
        # Store plain floats so equality, hashing and repr do not depend on the input type.
        object.__setattr__(self, "best_guess_error", eps0)
        object.__setattr__(self, "irreducible_error", eps_inf)
        object.__setattr__(self, "m0", positive_scalar("m0", self.m0))
        object.__setattr__(self, "beta", positive_scalar("beta", self.beta))

    @property
    def reducible_error(self) -> float:
        """ε0 − ε∞: the part of the best-guess error that data can remove."""
        return self.best_guess_error - self.irreducible_error

    def error(self, m: Any) -> np.ndarray | float:
        """Expected generalization error after training on ``m`` examples (any shape)."""
        m_arr, scalar = _sizes("m", m)
        values = self.irreducible_error + self.reducible_error / (1.0 + (m_arr / self.m0) ** self.beta)
        return _out(values, scalar)

    def power_law_asymptote(self, m: Any) -> np.ndarray | float:
        """The large-``m`` asymptote of the reducible error, ``(ε0 − ε∞) (m / m0)**(-beta)``.

        A straight line on log-log axes. ``error(m) − ε∞`` approaches it for ``m ≫ m0``; add
        ``irreducible_error`` to draw it over the error curve itself.
        """
        m_arr, scalar = _sizes("m", m)
        return _out(self.reducible_error * (m_arr / self.m0) ** (-self.beta), scalar)

    @property
    def small_data_boundary(self) -> float:
        """Examples where the power-law asymptote reaches the best-guess error: ``m0``.

        There ``ε∞ + power_law_asymptote(m) = ε0``; for fewer examples the asymptote would
        predict an error above the best guess, so the curve is flat instead.
        """
        return self.m0

    @property
    def irreducible_boundary(self) -> float:
        """Examples where the power-law asymptote falls to the irreducible error.

        Solves ``power_law_asymptote(m) = ε∞``, i.e. ``m0 ((ε0 − ε∞) / ε∞)**(1 / beta)``: past
        this point the reducible error is smaller than the floor and more data buys little.
        ``inf`` when ε∞ = 0 (no floor). It lies below ``m0`` when ε∞ > (ε0 − ε∞), in which
        case the curve has no power-law region.
        """
        if self.irreducible_error == 0.0:
            return float("inf")
        return self.m0 * (self.reducible_error / self.irreducible_error) ** (1.0 / self.beta)

    def region(self, m: Any) -> np.ndarray:
        """Name the region of each size: ``"small-data"``, ``"power-law"`` or ``"irreducible"``.

        ``m < small_data_boundary`` is small-data; otherwise ``m ≥ irreducible_boundary`` is
        irreducible; everything between is power-law. Returns an array of strings with the
        shape of ``m`` (0-d for a scalar).
        """
        m_arr, _ = _sizes("m", m)
        out = np.full(m_arr.shape, "power-law", dtype=object)
        out[m_arr >= self.irreducible_boundary] = "irreducible"
        out[m_arr < self.small_data_boundary] = "small-data"
        return out.astype(str)


def data_multiplier(exponent: Any, reduction: Any) -> np.ndarray | float:
    """How many times more data divides the reducible error by ``reduction``, on a power law.

    If the reducible error falls as ``m**(-exponent)``, multiplying m by k divides it by
    ``k**exponent``; so dividing it by ``reduction`` takes ``k = reduction**(1/exponent)``.
    ``exponent`` > 0 (use ``-βg`` for Hestness's negative βg); ``reduction`` > 1 (2.0: halve).
    Vectorized over both arguments; dimensionless.
    """
    e = as_positive_array("exponent", exponent, ndim=None)
    r = as_positive_array("reduction", reduction, ndim=None)
    if (r <= 1).any():
        raise ValueError(f"reduction must exceed 1 (2.0 halves the error), got {r.min()!r}")
    out = r ** (1.0 / e)
    return float(out) if out.ndim == 0 else out
