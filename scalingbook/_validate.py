"""Argument checks shared by every public function.

Each check names the argument it rejects and says what was wrong, so a user who passes a
column with a NaN in row 17 learns that, rather than getting a fit that silently ignores it.
Nothing here clips, drops or repairs values: bad input raises ``ValueError``.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def as_float_array(name: str, value: Any, *, ndim: int | None = 1) -> np.ndarray:
    """Return ``value`` as a float64 array, rejecting NaN, infinities and the wrong rank.

    Accepts scalars, lists, numpy arrays, pandas Series and torch tensors (anything
    ``np.asarray`` understands).
    """
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric, got {type(value).__name__}: {exc}") from None
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional, got shape {arr.shape}")
    if np.isnan(arr).any():
        idx = np.argwhere(np.isnan(arr))[0].tolist()
        raise ValueError(f"{name} contains NaN (first at index {idx})")
    if np.isinf(arr).any():
        idx = np.argwhere(np.isinf(arr))[0].tolist()
        raise ValueError(f"{name} contains an infinite value (first at index {idx})")
    return arr


def as_positive_array(name: str, value: Any, *, ndim: int | None = 1) -> np.ndarray:
    """Like :func:`as_float_array`, and every entry must be strictly positive."""
    arr = as_float_array(name, value, ndim=ndim)
    if (arr <= 0).any():
        idx = np.argwhere(arr <= 0)[0].tolist()
        raise ValueError(
            f"{name} must be strictly positive, got {arr[tuple(idx)]!r} at index {idx}"
        )
    return arr


def positive_scalar(name: str, value: Any) -> float:
    """Return ``value`` as a finite, strictly positive float."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not np.isfinite(x):
        raise ValueError(f"{name} must be finite, got {x!r}")
    if x <= 0:
        raise ValueError(f"{name} must be strictly positive, got {x!r}")
    return x


def nonnegative_scalar(name: str, value: Any) -> float:
    """Return ``value`` as a finite float that is zero or more."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not np.isfinite(x):
        raise ValueError(f"{name} must be finite, got {x!r}")
    if x < 0:
        raise ValueError(f"{name} must be zero or positive, got {x!r}")
    return x


def positive_int(name: str, value: Any, *, minimum: int = 1) -> int:
    """Return ``value`` as an int of at least ``minimum`` (bools are refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


def same_length(**arrays: np.ndarray) -> int:
    """Check that all given 1-D arrays have one length and return it."""
    lengths = {name: len(arr) for name, arr in arrays.items()}
    if len(set(lengths.values())) > 1:
        described = ", ".join(f"{name} has {n}" for name, n in lengths.items())
        raise ValueError(f"mismatched lengths: {described}")
    return next(iter(lengths.values()))


def enough_points(name: str, n: int, needed: int, what: str) -> None:
    """Refuse a fit with fewer points than it has free parameters plus one."""
    if n < needed:
        raise ValueError(f"{name} has {n} points; {what} needs at least {needed}")


def one_of(name: str, value: Any, choices: tuple) -> Any:
    """Return ``value`` if it is one of ``choices``, else raise naming the options."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value
