"""The Lorenz (1963) system integrated in an emulated low-precision format, and the distance
between the long-run distributions that different precisions produce.

    dx/dt = σ (y − x),   dy/dt = x (ρ − z) − y,   dz/dt = x y − β z

The question (Paxton et al., arXiv:2104.15076) is not whether a low-precision trajectory stays
close to the float64 one (in a chaotic system no trajectory does, whatever the precision) but
whether it samples the same *climate*: the same long-run distribution of states. The distance
between two such distributions is measured with the 1-D Wasserstein distance (earth mover's
distance) of each coordinate, in the coordinate's own units.

Every arithmetic result of a time step is rounded to the format (see :func:`integrate_lorenz`),
so this emulates a model run entirely in that format, constants and state included.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy import stats

from .._validate import as_float_array, positive_int, positive_scalar
from ._common import check_rounding
from .emulate import Rounder
from .formats import FloatFormat, get_format

__all__ = [
    "SCHEMES",
    "LorenzStudy",
    "attractor_distance",
    "integrate_lorenz",
    "lorenz_precision_study",
    "lorenz_starts",
    "lorenz_tendency",
    "wasserstein_distance",
]

SCHEMES = ("rk4", "euler")


def lorenz_tendency(state: Any, *, sigma: float = 10.0, rho: float = 28.0, beta: float = 8.0 / 3.0) -> np.ndarray:
    """The Lorenz vector field in float64: ``state`` (..., 3) -> d(state)/dt (..., 3)."""
    s = as_float_array("state", state, ndim=None)
    if s.ndim == 0 or s.shape[-1] != 3:
        raise ValueError(f"state must have shape (..., 3), got {s.shape}")
    x, y, z = s[..., 0], s[..., 1], s[..., 2]
    return np.stack([sigma * (y - x), x * (rho - z) - y, x * y - beta * z], axis=-1)


def _tendency(u: torch.Tensor, r: Rounder, sigma: torch.Tensor, rho: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """Lorenz tendency with every operation rounded by ``r``. Operations that do not depend on
    each other are rounded in one call (rounding is elementwise, so this is the same as
    rounding them one by one)."""
    x, y, z = u[..., 0], u[..., 1], u[..., 2]
    a = r(torch.stack([y - x, rho - z, x * y, beta * z], dim=-1))  # y−x, ρ−z, xy, βz
    b = r(torch.stack([sigma * a[..., 0], x * a[..., 1]], dim=-1))  # σ(y−x), x(ρ−z)
    c = r(torch.stack([b[..., 1] - y, a[..., 2] - a[..., 3]], dim=-1))  # x(ρ−z)−y, xy−βz
    return torch.stack([b[..., 0], c[..., 0], c[..., 1]], dim=-1)


def _step_euler(u, r, dt, consts):
    k = _tendency(u, r, *consts)
    return r(u + r(dt * k))


def _step_rk4(u, r, dt, half_dt, sixth_dt, consts):
    k1 = _tendency(u, r, *consts)
    k2 = _tendency(r(u + r(half_dt * k1)), r, *consts)
    k3 = _tendency(r(u + r(half_dt * k2)), r, *consts)
    k4 = _tendency(r(u + r(dt * k3)), r, *consts)
    doubled = r(torch.stack([2.0 * k2, 2.0 * k3]))
    acc = r(k1 + doubled[0])
    acc = r(acc + doubled[1])
    acc = r(acc + k4)
    return r(u + r(sixth_dt * acc))


def integrate_lorenz(
    x0: Any,
    steps: int,
    dt: float,
    *,
    fmt: str | FloatFormat | None = None,
    rounding: str = "nearest_even",
    seed: int = 0,
    scheme: str = "rk4",
    sigma: float = 10.0,
    rho: float = 28.0,
    beta: float = 8.0 / 3.0,
    burn_in: int = 0,
    record_every: int = 1,
) -> np.ndarray:
    """Integrate the Lorenz system from ``x0`` for ``steps`` time steps of length ``dt``.

    Parameters
    ----------
    x0:
        Initial states, shape ``(3,)`` or ``(members, 3)`` (an ensemble is integrated at once).
    steps, dt:
        Number of steps and step length (model time units; the leading Lyapunov time is about 1.1).
    fmt:
        Format every number is held in, or ``None`` for plain float64 arithmetic.
    rounding:
        Rounding mode of every operation (:func:`~scalingbook.precision.round_to_format`).
    seed:
        Seeds stochastic rounding (one generator for the whole run).
    scheme:
        ``"rk4"`` (classical fourth-order Runge–Kutta) or ``"euler"`` (forward Euler).
    sigma, rho, beta:
        The system's parameters (Lorenz's chaotic values by default).
    burn_in, record_every:
        Record the state after step ``k`` for ``k = burn_in, burn_in + record_every, ...``
        up to ``steps`` (``k = 0`` is the initial state).

    Returns float64 states, shape ``(n_records, members, 3)`` (``(n_records, 3)`` for one start).

    What is rounded: the initial state and the constants σ, ρ, β, ``dt`` (and ``dt/2``,
    ``dt/6`` for RK4) once, to nearest-even; then, in every evaluation of the tendency, each
    of y − x, ρ − z, x·y, β·z, σ·(y − x), x·(ρ − z), x(ρ − z) − y and xy − βz; in every
    Runge–Kutta stage, the product (step × tendency) and the stage state u + (step × tendency);
    in the final update, 2·k2 and 2·k3, each partial sum of k1 + 2k2 + 2k3 + k4 (added left to
    right), its product with dt/6, and the new state. Forward Euler rounds dt·k and u + dt·k.
    With ``fmt=None`` the same operations run in float64 with nothing extra rounded.
    """
    u0 = as_float_array("x0", x0, ndim=None)
    if u0.ndim not in (1, 2) or u0.shape[-1] != 3:
        raise ValueError(f"x0 must have shape (3,) or (members, 3), got {u0.shape}")
    steps = positive_int("steps", steps)
    dt = positive_scalar("dt", dt)
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}; got {scheme!r}")
    burn_in = positive_int("burn_in", burn_in, minimum=0)
    record_every = positive_int("record_every", record_every)
    if burn_in > steps:
        raise ValueError(f"burn_in must be at most steps ({steps}), got {burn_in}")
    for name, value in (("sigma", sigma), ("rho", rho), ("beta", beta)):
        positive_scalar(name, value)
    r = Rounder(fmt, rounding, seed)
    consts = (r.constant(sigma), r.constant(rho), r.constant(beta))
    c_dt, c_half, c_sixth = r.constant(dt), r.constant(dt / 2), r.constant(dt / 6)
    u = Rounder(fmt)(torch.as_tensor(u0, dtype=torch.float64))  # the start, stored in the format
    records = []
    if burn_in == 0:
        records.append(u.numpy().copy())
    for k in range(1, steps + 1):
        if scheme == "rk4":
            u = _step_rk4(u, r, c_dt, c_half, c_sixth, consts)
        else:
            u = _step_euler(u, r, c_dt, consts)
        if k >= burn_in and (k - burn_in) % record_every == 0:
            records.append(u.numpy().copy())
    return np.stack(records)


def lorenz_starts(members: int, *, seed: int = 0, dt: float = 0.01, spin_up: int = 1500) -> np.ndarray:
    """``members`` float64 states on the attractor, shape ``(members, 3)``.

    Independent random points (normal around (0, 0, 25), scale 8) each integrated in float64
    with RK4 for ``spin_up`` steps: 1500 steps of 0.01 is about 14 Lyapunov times, so the
    states have forgotten where they started and sample the attractor independently.
    Different seeds give unrelated starts.
    """
    members = positive_int("members", members)
    spin_up = positive_int("spin_up", spin_up)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    rng = np.random.default_rng(seed)
    x0 = rng.normal([0.0, 0.0, 25.0], 8.0, size=(members, 3))
    return integrate_lorenz(x0, spin_up, dt, burn_in=spin_up)[0]


def wasserstein_distance(a: Any, b: Any) -> float:
    """1-D Wasserstein (earth mover's) distance between two samples, in their units.

    The smallest average distance samples must be moved to turn one empirical distribution
    into the other; it compares whole distributions, tails included. Computed with
    :func:`scipy.stats.wasserstein_distance` (sorted samples, exact for empirical measures).
    """
    x = as_float_array("a", a, ndim=None).ravel()
    y = as_float_array("b", b, ndim=None).ravel()
    if x.size == 0 or y.size == 0:
        raise ValueError("a and b must each hold at least one sample")
    return float(stats.wasserstein_distance(x, y))


def attractor_distance(run: Any, reference: Any) -> np.ndarray:
    """Per-coordinate Wasserstein distances (x, y, z) between the states of two runs.

    ``run`` and ``reference`` are arrays of states with a last axis of 3 (for example the
    ``(n_records, members, 3)`` output of :func:`integrate_lorenz`); every state counts as one
    sample of the run's long-run distribution. Returns float64, shape ``(3,)``.
    """
    a = as_float_array("run", run, ndim=None)
    b = as_float_array("reference", reference, ndim=None)
    for name, arr in (("run", a), ("reference", b)):
        if arr.ndim < 1 or arr.shape[-1] != 3:
            raise ValueError(f"{name} must have a last axis of length 3, got shape {arr.shape}")
    a, b = a.reshape(-1, 3), b.reshape(-1, 3)
    return np.array([wasserstein_distance(a[:, i], b[:, i]) for i in range(3)])


@dataclass
class LorenzStudy:
    """Distances of low-precision Lorenz climates from float64 (:func:`lorenz_precision_study`).

    ``summary``: one row per (format, rounding) with columns ``format``, ``exp_bits``,
    ``man_bits``, ``specials``, ``rounding``, ``w_x``, ``w_y``, ``w_z`` (Wasserstein distances
    from the float64 reference, in the coordinates' units) and ``seconds`` (wall time).
    ``floor``: the same distances for a float64 run from the low-precision runs' starts,
    shape (3,): what sampling alone gives. ``histograms``: long form, columns ``format``,
    ``man_bits`` (−1 for float64), ``rounding`` (``"float64"`` for the reference), ``z`` (bin
    centre) and ``density``. ``samples``: states per run (records × members).
    """

    summary: pd.DataFrame
    floor: np.ndarray
    histograms: pd.DataFrame
    samples: int

    def bits_needed(self, rounding: str, *, factor: float = 1.5, coordinate: str = "z") -> int | None:
        """The narrowest mantissa width from which on every run with ``rounding`` lies within
        ``factor`` times the noise floor (for ``coordinate``), or ``None`` if even the widest
        does not. Only the widths in the study count; with several exponent widths, use one.
        """
        col = {"x": "w_x", "y": "w_y", "z": "w_z"}.get(coordinate)
        if col is None:
            raise ValueError(f"coordinate must be 'x', 'y' or 'z', got {coordinate!r}")
        factor = positive_scalar("factor", factor)
        rows = self.summary[self.summary["rounding"] == rounding]
        if rows.empty:
            raise ValueError(f"rounding {rounding!r} is not in the study")
        if rows["man_bits"].duplicated().any():
            raise ValueError("the study holds two formats with one mantissa width; pass one exponent width")
        floor = float(self.floor["xyz".index(coordinate)])
        rows = rows.sort_values("man_bits")
        within = (rows[col] <= factor * floor).to_numpy()
        # the suffix of widths that are all within the floor band
        ok = np.flip(np.cumprod(np.flip(within))).astype(bool)
        return int(rows["man_bits"].to_numpy()[ok][0]) if ok.any() else None


def lorenz_precision_study(
    formats: Any,
    roundings: Any = ("nearest_even", "stochastic"),
    *,
    members: int = 64,
    steps: int = 1000,
    burn_in: int = 200,
    record_every: int = 4,
    dt: float = 0.01,
    scheme: str = "rk4",
    seed: int = 0,
    z_bins: Any = None,
) -> LorenzStudy:
    """Integrate one ensemble in every format and rounding and measure its climate's distance
    from float64.

    Two independent sets of ``members`` starts on the attractor (:func:`lorenz_starts`, seeds
    ``2 seed`` and ``2 seed + 1``): the float64 reference runs from the first; each low-precision
    run, and a float64 run that gives the noise floor, from the second. Each run takes
    ``steps`` steps of ``dt`` and keeps every ``record_every``-th state after ``burn_in``; all
    kept states of all members form its sample of the long-run distribution, compared with
    :func:`attractor_distance`. Stochastic rounding is seeded by ``seed``.
    """
    fmts = [get_format(f, "formats") for f in (formats if isinstance(formats, (list, tuple)) else [formats])]
    if not fmts:
        raise ValueError("formats must name at least one format")
    rnds = [check_rounding(r) for r in (roundings if isinstance(roundings, (list, tuple)) else [roundings])]
    if not rnds:
        raise ValueError("roundings must name at least one rounding mode")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    edges = np.arange(0.0, 52.0, 1.0) if z_bins is None else as_float_array("z_bins", z_bins)
    if edges.size < 2 or (np.diff(edges) <= 0).any():
        raise ValueError("z_bins must be at least two increasing bin edges")
    kw = dict(burn_in=burn_in, record_every=record_every, scheme=scheme)
    ref_starts = lorenz_starts(members, seed=2 * seed, dt=dt)
    run_starts = lorenz_starts(members, seed=2 * seed + 1, dt=dt)
    reference = integrate_lorenz(ref_starts, steps, dt, **kw)
    floor = attractor_distance(integrate_lorenz(run_starts, steps, dt, **kw), reference)
    centres = (edges[:-1] + edges[1:]) / 2

    def hist(run):
        density, _ = np.histogram(run[..., 2].ravel(), bins=edges, density=True)
        return density

    hists = [pd.DataFrame({"format": "float64", "man_bits": -1, "rounding": "float64", "z": centres,
                           "density": hist(reference)})]
    rows = []
    for fmt in fmts:
        for rounding in rnds:
            t0 = time.perf_counter()
            run = integrate_lorenz(run_starts, steps, dt, fmt=fmt, rounding=rounding, seed=seed, **kw)
            w = attractor_distance(run, reference)
            rows.append({"format": fmt.name, "exp_bits": fmt.exp_bits, "man_bits": fmt.man_bits,
                         "specials": fmt.specials, "rounding": rounding, "w_x": w[0], "w_y": w[1], "w_z": w[2],
                         "seconds": time.perf_counter() - t0})
            hists.append(pd.DataFrame({"format": fmt.name, "man_bits": fmt.man_bits, "rounding": rounding,
                                       "z": centres, "density": hist(run)}))
    return LorenzStudy(summary=pd.DataFrame(rows), floor=floor, histograms=pd.concat(hists, ignore_index=True),
                       samples=int(reference.shape[0] * reference.shape[1]))
