"""Arithmetic in a low-precision format, emulated one rounded operation at a time.

Hardware computes ``a + b`` in a format as the exact sum rounded to the format. We emulate that
by computing in float64 and rounding the result with :func:`~scalingbook.precision.round_to_format`.
For round-to-nearest this is exactly the hardware's answer: a float64 result rounded again to a
format of ``p <= 24`` significant bits is the correctly rounded result, because float64 carries
``53 >= 2p + 2`` bits (the classical condition under which double rounding is innocuous for
``+ - * /``). For stochastic rounding the probabilities come from the float64 result, which is
within 2**-53 (relative) of the exact one.

This module holds the spacing of a format's grid (:func:`ulp`), the worst-case error of
round-to-nearest (:func:`rn_error_bound`), the running sum rounded after every addition
(:func:`low_precision_sum`), what theory says that sum does (:func:`stagnation_value`,
:func:`stochastic_sum_std`), and absorption in a softmax (:func:`absorption_margin`,
:func:`collapsed_loss`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .._validate import as_float_array, positive_int
from ._common import check_rounding
from .formats import FloatFormat, get_format
from .rounding import params_of, round_generic, round_to_format

__all__ = [
    "Rounder",
    "SumTrace",
    "absorption_margin",
    "collapsed_loss",
    "low_precision_sum",
    "rn_error_bound",
    "rn_mean_relative_error",
    "stagnation_value",
    "stochastic_sum_std",
    "ulp",
    "unit_roundoff",
]


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


class Rounder:
    """Rounds float64 tensors to ``fmt`` with one rounding mode; ``fmt=None`` leaves them alone.

    Deterministic modes call :func:`~scalingbook.precision.round_to_format` (saturating).
    Stochastic rounding uses the same rounding arithmetic (:func:`.rounding.round_generic`:
    step up with probability equal to the distance from the lower neighbour, in units of the
    local step) with uniforms drawn from a ``torch.Generator`` seeded by ``seed``, and the same
    saturation at the largest value. It skips the counter-based hash that
    :func:`round_to_format` uses to agree bit for bit with its Triton kernel, which makes it
    about three times faster on the small tensors of a time-stepping loop; its 53-bit uniforms
    make the probabilities exact for every float64 input. One generator drives every rounding
    the object performs, so a computation that rounds through one :class:`Rounder` is
    reproducible from its seed. Calling it returns float64 (the rounded values are exact in
    float64).
    """

    def __init__(self, fmt: str | FloatFormat | None, rounding: str = "nearest_even", seed: int = 0) -> None:
        self.fmt = None if fmt is None else get_format(fmt)
        self.rounding = check_rounding(rounding)
        self.seed = _check_seed(seed)
        self.generator = torch.Generator().manual_seed(self.seed)
        self._params = None if self.fmt is None else params_of(self.fmt)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.fmt is None:
            return x
        if self.rounding == "stochastic" and x.dtype == torch.float64 and bool(torch.isfinite(x).all()):
            u = torch.rand(x.shape, generator=self.generator, dtype=torch.float64)
            r = round_generic(x, self._params, "stochastic", u)
            over = r.abs() > self.fmt.max
            if bool(over.any()):  # saturate, as round_to_format does by default
                r = torch.where(over, torch.copysign(torch.full_like(r, self.fmt.max), r), r)
            return r
        return round_to_format(x, self.fmt, rounding=self.rounding, generator=self.generator).to(torch.float64)

    def constant(self, value: float) -> torch.Tensor:
        """A constant stored in the format (rounded once, to nearest-even, as a compiler would)."""
        t = torch.tensor(float(value), dtype=torch.float64)
        if self.fmt is None:
            return t
        return round_to_format(t, self.fmt).to(torch.float64)


# ---- the grid's spacing ----------------------------------------------------------------------


def ulp(x: Any, fmt: str | FloatFormat) -> np.ndarray:
    """Unit in the last place: the spacing of ``fmt``'s grid at magnitude ``|x|``.

    For ``2**e <= |x| < 2**(e+1)`` it is ``2**(max(e, emin) - man_bits)``; below the smallest
    normal value it is the subnormal step ``2**(emin - man_bits)`` (zero included). ``x`` is
    any array of finite values with ``|x| <= fmt.max``; returns float64 of ``x``'s shape.
    """
    fmt = get_format(fmt)
    a = np.abs(as_float_array("x", x, ndim=None))
    if (a > fmt.max).any():
        bad = a[a > fmt.max].flat[0]
        raise ValueError(f"x must lie within the range of {fmt.name} (|x| <= {fmt.max}), got {bad!r}")
    e = np.floor(np.log2(np.where(a > 0, a, 1.0)))
    # log2 can be off by one next to a power of two; settle the exponent exactly.
    e = np.where(np.ldexp(1.0, e.astype(int)) > a, e - 1, e)
    e = np.where(np.ldexp(1.0, (e + 1).astype(int)) <= a, e + 1, e)
    e = np.maximum(np.where(a > 0, e, fmt.emin), fmt.emin)
    return np.ldexp(1.0, (e - fmt.man_bits).astype(int))


def unit_roundoff(fmt: str | FloatFormat) -> float:
    """``2**-(man_bits + 1)``: the largest relative error of round-to-nearest in the normal range."""
    return 2.0 ** -(get_format(fmt).man_bits + 1)


def rn_error_bound(x: Any, fmt: str | FloatFormat) -> np.ndarray:
    """Worst relative error of round-to-nearest at magnitude ``|x|``: ``ulp(x) / (2 |x|)``.

    A real number near ``x`` lands at most half a step from the grid point it rounds to. In the
    normal range this lies between ``unit_roundoff / 2`` and ``unit_roundoff`` (a saw-tooth over
    each binade); among the subnormals it grows like ``1/|x|``. ``x`` must be non-zero and
    within the format's range; returns float64 of ``x``'s shape.
    """
    arr = as_float_array("x", x, ndim=None)
    if (arr == 0).any():
        raise ValueError("x must be non-zero: the relative error of rounding 0 is undefined")
    return ulp(arr, fmt) / (2.0 * np.abs(arr))


def rn_mean_relative_error(fmt: str | FloatFormat) -> float:
    """Mean relative error of round-to-nearest for magnitudes spread log-uniformly over whole
    binades of the normal range: ``u / (4 ln 2)``, about ``0.361 u``.

    Within a binade ``[2**e, 2**(e+1))`` the error is spread evenly over ``[0, ulp/2]``, so it
    averages ``ulp/4 = 2**e u / 2``; dividing by ``x`` and averaging ``2**e / x`` over a
    log-uniform ``x`` (that average is ``1 / (2 ln 2)``) gives ``u / (4 ln 2)``.
    """
    return unit_roundoff(fmt) / (4.0 * math.log(2.0))


# ---- running sums ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SumTrace:
    """A running sum computed in a format.

    ``steps`` (n_records,) are the numbers of additions done at each record (0 is the start);
    ``partial`` (n_records, *batch) the rounded running sums there; ``exact`` (n_records,
    *batch) the float64 running sums of the same (format-rounded) increments; ``total`` and
    ``exact_total`` (*batch) the values after the last addition.
    """

    steps: np.ndarray
    partial: np.ndarray
    exact: np.ndarray
    total: np.ndarray
    exact_total: np.ndarray
    fmt: FloatFormat
    rounding: str

    @property
    def relative_error(self) -> np.ndarray:
        """``(total - exact_total) / |exact_total|`` (*batch)."""
        return (self.total - self.exact_total) / np.abs(self.exact_total)

    def stall_step(self) -> np.ndarray:
        """Per batch entry, the first recorded step after which the rounded sum never changed
        again (−1 where it was still changing at the last record). Exact when every step is
        recorded; otherwise a record at or after the stall."""
        changed = np.diff(self.partial, axis=0) != 0  # (n_records - 1, *batch)
        n = changed.shape[0]
        # index of the last change, counted from the end
        last = n - 1 - np.argmax(changed[::-1], axis=0)
        any_change = changed.any(axis=0)
        stall = np.where(any_change, last + 1, 0)
        result = self.steps[stall]
        return np.where(stall >= n, -1, result)


def low_precision_sum(
    increments: Any,
    fmt: str | FloatFormat,
    *,
    rounding: str = "nearest_even",
    seed: int = 0,
    start: float = 0.0,
    record_every: int = 1,
) -> SumTrace:
    """Add ``increments`` one at a time, rounding the running sum to ``fmt`` after each addition.

    Parameters
    ----------
    increments:
        Finite values, shape ``(n,)`` or ``(batch, n)``: each row is summed left to right, the
        rows independently (they share the loop, so a batch costs little more than one row).
        Each increment is first stored in the format (rounded to nearest-even).
    fmt:
        The format of the running sum, a :class:`FloatFormat` or a name such as ``"bf16"``.
    rounding:
        How each partial sum is rounded (see :func:`round_to_format`; stochastic rounding goes
        through :class:`Rounder`'s faster path, same rounding law).
    seed:
        Seeds stochastic rounding; every row draws its own uniforms.
    start:
        The initial value of the sum (stored in the format).
    record_every:
        Keep the running sum after every ``record_every``-th addition (and at the start and end).

    Returns a :class:`SumTrace`. Overflow saturates at the format's largest value.
    """
    fmt = get_format(fmt)
    arr = as_float_array("increments", increments, ndim=None)
    if arr.ndim not in (1, 2) or arr.shape[-1] == 0:
        raise ValueError(f"increments must have shape (n,) or (batch, n) with n >= 1, got {arr.shape}")
    record_every = positive_int("record_every", record_every)
    start = as_float_array("start", start, ndim=0)
    rnd = Rounder(fmt, rounding, seed)
    inc = torch.as_tensor(arr, dtype=torch.float64)
    inc = round_to_format(inc, fmt).to(torch.float64)
    n = inc.shape[-1]
    cols = torch.movedim(inc, -1, 0).contiguous()  # (n, *batch): one row per addition
    s = rnd.constant(float(start)).expand(cols.shape[1:]).clone()
    steps, partial = [0], [s.numpy().copy()]
    for k in range(n):
        s = rnd(s + cols[k])
        if (k + 1) % record_every == 0 or k + 1 == n:
            steps.append(k + 1)
            partial.append(s.numpy().copy())
    steps = np.asarray(steps)
    # float64 running sums of the same stored increments (exact to float64's precision)
    exact = float(rnd.constant(float(start))) + np.concatenate(
        [np.zeros((1, *cols.shape[1:])), np.cumsum(cols.numpy(), axis=0)])[steps]
    return SumTrace(
        steps=steps,
        partial=np.stack(partial),
        exact=exact,
        total=partial[-1],
        exact_total=exact[-1],
        fmt=fmt,
        rounding=rnd.rounding,
    )


def stagnation_value(increment: float, fmt: str | FloatFormat, rounding: str = "nearest_even") -> float:
    """Where a round-to-nearest running sum of a constant positive ``increment`` stops growing.

    Start at 0 and keep adding ``δ`` (the increment stored in the format). Within a binade of
    spacing ``u`` the sum moves by ``δ`` rounded to a multiple of ``u``, and it stops once ``δ``
    is below half a step: ``δ < u/2`` (nearest-away), or ``δ <= u/2`` (nearest-even, where the
    tie goes back to the sum's even code). Just below that binade ``δ`` rounds to exactly one
    step, so the sum walks onto the binade's first value and stays: the result is ``2**e`` for
    the smallest ``e`` with ``δ <= 2**(e - man_bits - 1)`` (``<`` for nearest-away).

    Raises ``ValueError`` when the sum would reach the format's largest value first.
    """
    fmt = get_format(fmt)
    one_of = ("nearest_even", "nearest_away")
    if rounding not in one_of:
        raise ValueError(f"rounding must be one of {one_of} (the others never stall at a power of two); got {rounding!r}")
    inc = float(as_float_array("increment", increment, ndim=0))
    if inc <= 0:
        raise ValueError(f"increment must be positive, got {inc!r}")
    if inc > fmt.max:
        raise ValueError(f"increment must lie within the range of {fmt.name}, got {inc!r}")
    d = float(round_to_format(torch.tensor(inc, dtype=torch.float64), fmt).double())
    mant, e2 = math.frexp(d)  # d = mant * 2**e2, mant in [0.5, 1)
    k = e2 - 1 if mant == 0.5 else e2  # smallest k with d <= 2**k
    if rounding == "nearest_away" and mant == 0.5:
        k += 1  # a tie moves the sum on: need d < 2**k
    value = 2.0 ** (k + fmt.man_bits + 1)
    if value > fmt.max:
        raise ValueError(
            f"increment {inc!r} never stalls in {fmt.name}: the sum reaches the largest value {fmt.max} first"
        )
    return value


def stochastic_sum_std(increment: float, n: int, fmt: str | FloatFormat) -> float:
    """Predicted standard deviation of a stochastically rounded running sum of ``n`` copies of
    a positive ``increment`` (stored in the format), starting from 0.

    Each addition lands between two neighbours ``u`` apart with the exact sum a fraction ``f``
    of the way up, and moves up with probability ``f``: a step of variance ``u**2 f (1 - f)``,
    independent of the others. Since stochastic rounding is unbiased, the sum before step ``k``
    is about ``k δ``; we evaluate ``u`` and ``f`` there and add the variances:
    ``Var ≈ Σ_k u(kδ)**2 f_k (1 - f_k)``. For ``δ`` much smaller than the spacing this is about
    ``∫ u(s) ds``, a relative standard deviation near ``sqrt(2**-man_bits / 3)`` at a power of two.
    """
    fmt = get_format(fmt)
    n = positive_int("n", n)
    inc = float(as_float_array("increment", increment, ndim=0))
    if inc <= 0:
        raise ValueError(f"increment must be positive, got {inc!r}")
    d = float(round_to_format(torch.tensor(inc, dtype=torch.float64), fmt).double())
    s = d * np.arange(n, dtype=np.float64)
    if s[-1] + d > fmt.max:
        raise ValueError(f"n * increment = {n * d!r} exceeds the range of {fmt.name}")
    u = ulp(s, fmt)
    f = np.mod(d / u, 1.0)
    return float(np.sqrt(np.sum(u**2 * f * (1.0 - f))))


# ---- absorption in a softmax -------------------------------------------------------------------


def absorption_margin(fmt: str | FloatFormat, n_others: int = 1) -> float:
    """The logit margin (nats) beyond which a softmax's normalizer rounds to exactly 1.

    With the correct class's logit ``g`` above ``n_others`` equal competitors, the stable
    log-sum-exp computes ``1 + n_others * exp(-g)``. Round-to-nearest-even returns 1 once the
    added term is at most half the spacing above 1, ``2**-(man_bits + 1)``, that is for
    ``g >= ln(n_others) + (man_bits + 1) ln 2``: the loss is then exactly 0, and so is its
    gradient. (Exact arithmetic; the emulated check is :func:`collapsed_loss`.)
    """
    fmt = get_format(fmt)
    n_others = positive_int("n_others", n_others)
    return math.log(n_others) + (fmt.man_bits + 1) * math.log(2.0)


def collapsed_loss(margins: Any, fmt: str | FloatFormat, n_others: int = 1) -> np.ndarray:
    """Cross-entropy of the correct class, computed in ``fmt`` with round-to-nearest-even.

    For each margin ``g`` (1-D array, nats) the logits are ``g`` for the correct class and 0 for
    ``n_others`` others. The stable form ``log(1 + n_others * exp(-g))`` is evaluated with every
    operation rounded: ``t = exp(-g)``, the competitors' total ``n_others * t``, the normalizer
    ``1 + n_others * t`` and its logarithm. (Adding the competitors to 1 one at a time would
    absorb each of them separately, far earlier.) Returns float64 losses (nats), shape of
    ``margins``.
    """
    fmt = get_format(fmt)
    n_others = positive_int("n_others", n_others)
    g = as_float_array("margins", margins, ndim=1)
    if (g < 0).any():
        raise ValueError("margins must be non-negative (the correct class has the largest logit)")
    rnd = Rounder(fmt)
    t = rnd(torch.exp(-rnd(torch.as_tensor(g))))
    others = rnd(rnd.constant(n_others) * t)
    return rnd(torch.log(rnd(1.0 + others))).numpy()
