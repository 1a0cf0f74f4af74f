"""A smoothly broken power law with one break (Caballero et al. 2022, "Broken Neural Scaling Laws").

    y(x) = a + b x^(-c0) (1 + (x / d1)^(1/f1))^(-c1 f1)

Well below the break ``d1`` the law is ``a + b x^-c0``; well above it, ``a + b d1^c1 x^-(c0 + c1)``:
on log-log axes the reducible part bends from slope ``-c0`` to slope ``-(c0 + c1)`` around
``x = d1``, over a width set by ``f1`` (small ``f1``: a sharp corner; large: a gentle bend).
``c1 < 0`` makes the law flatten after the break (diminishing returns), ``c1 > 0`` steepen.

Units: ``x`` is a count (parameters, tokens, FLOPs, examples) and ``d1`` is in its units; ``a``
and ``b`` are in the units of ``y`` (a loss in nats, an error rate).
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

__all__ = ["SmoothlyBrokenPowerLaw"]


def _finite(name: str, value: Any) -> float:
    return float(as_float_array(name, value, ndim=0))


@dataclass(frozen=True)
class SmoothlyBrokenPowerLaw:
    """Caballero et al.'s broken neural scaling law with a single break.

    Fields
    ------
    a : float
        Floor the law approaches (units of y), zero or more.
    b : float
        Scale of the reducible part at x = 1 before the break, strictly positive.
    c0 : float
        Exponent before the break (any finite real).
    c1 : float
        Change of exponent across the break: after it the exponent is ``c0 + c1``.
    d1 : float
        Where the break sits (units of x), strictly positive.
    f1 : float
        Sharpness of the break, strictly positive (smaller is sharper).
    """

    a: float
    b: float
    c0: float
    c1: float
    d1: float
    f1: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "a", nonnegative_scalar("a", self.a))
        object.__setattr__(self, "b", positive_scalar("b", self.b))
        object.__setattr__(self, "c0", _finite("c0", self.c0))
        object.__setattr__(self, "c1", _finite("c1", self.c1))
        object.__setattr__(self, "d1", positive_scalar("d1", self.d1))
        object.__setattr__(self, "f1", positive_scalar("f1", self.f1))

    def __call__(self, x: Any) -> np.ndarray | float:
        """``y(x)`` for strictly positive ``x`` of any shape (float for a scalar)."""
        x_arr = as_positive_array("x", x, ndim=None)
        log_x = np.log(x_arr)
        # log(1 + (x/d1)^(1/f1)) as logaddexp so a sharp break (tiny f1) does not overflow.
        log_bend = np.logaddexp(0.0, (log_x - np.log(self.d1)) / self.f1)
        values = self.a + self.b * np.exp(-self.c0 * log_x - self.c1 * self.f1 * log_bend)
        return float(values) if values.ndim == 0 else values

    def local_exponent(self, x: Any) -> np.ndarray | float:
        """``-d log(y - a) / d log x``: the reducible part's exponent at ``x``; c0 → c0 + c1."""
        x_arr = as_positive_array("x", x, ndim=None)
        z = (np.log(x_arr) - np.log(self.d1)) / self.f1
        # d/dlogx of c1 f1 log(1 + e^z) is c1 sigmoid(z).
        values = self.c0 + self.c1 / (1.0 + np.exp(-z))
        return float(values) if values.ndim == 0 else values

    @property
    def exponent_after(self) -> float:
        """The reducible part's exponent far past the break, ``c0 + c1``."""
        return self.c0 + self.c1
