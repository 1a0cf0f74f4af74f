"""Batched L-BFGS for the Chinchilla Huber objective: thousands of independent starts in one program.

Why our own optimizer. The standard recipe (Hoffmann et al. 2022) runs L-BFGS from a grid of
thousands of starts. A Python loop of ``scipy.optimize.minimize`` calls spends nearly all its
time in per-call overhead on a 5-parameter problem. Summing the starts' objectives and handing
the sum to one optimizer would keep the gradients independent (each start's loss depends only on
its own parameters) but couple the starts through one shared line search and one shared
curvature history, so a start's path would depend on the others. Here every start keeps its own
L-BFGS history, step length and stopping state; only the arithmetic is batched, as (starts ×
points) arrays in float64.

Why numpy rather than torch. The work is exp and log over (starts × points) arrays and many
small operations on (5 × starts) arrays. On this project's machines (AVX-512), numpy's float64
exp and log took 0.8 and 1.0 ns per element against torch's 1.6 and 2.7, and a small numpy
operation costs less than a torch one: the 4,500-start benchmark fit took 1.70 s against 1.91 s
(best of four, interleaved runs, two threads each). Blocks of starts can be evaluated on several
threads, since numpy releases the GIL in its loops.

Why no BLAS. A matrix product's rounding depends on the shape of the matrices (which kernel
handles which rows), so with one, a start's numbers would change in the last bits with the
number of starts beside it, and its path would drift by 1e-8 after a few dozen iterations. Every
operation here is elementwise or a per-start sum in a fixed order, so a start's result is the
same bit for bit whether it runs alone, in a batch, or on any number of threads.

Why per distinct N. Scaling-law runs share model sizes (each size trained for several token
counts, or evaluated at several checkpoints), and often token counts. A power-law term
``exp(a - alpha u)`` takes one value per distinct ``u``, so it is exponentiated once per distinct
value (for all starts at once: these arrays are small) and expanded to the points; its gradient
sums run first over each group of points. Where the runs form a full grid (every size trained
on every token count), the gradient's sums over points are sums over the grid's rows and
columns. A variable is grouped only where it has at most half as many distinct values as there
are runs. On the benchmark's grid of 15 sizes by 16 token counts, with the shift dropped where
no term needs it, an evaluation costs about 5.2 ns per start and run against 13 point by point
(6 before the grid's sums; interleaved runs).

Why the stopping rules are relative. The optimum must not depend on whether the Huber losses are
summed or averaged (scipy's L-BFGS-B mixes absolute tolerances into its tests, so averaging can
stop it near its start). Every decision here is invariant to multiplying the objective by a
constant: the Armijo test, the curvature test (``s·y > 0``), the initial scaling ``s·y / y·y``,
the first step (a unit step along ``-g/|g|``) and the stopping tests (relative decrease, and the
predicted decrease ``-g·d`` compared with ``f``).

The model, in centered coordinates. With ``u = log N - mean(log N)`` and
``v = log D - mean(log D)``, ``theta = (a', b', e, alpha, beta)`` predicts
``log L = LSE(a' - alpha u, b' - beta v, e)``; ``a = a' + alpha mean(log N)`` recovers Hoffmann's
``a = log A`` (likewise ``b``). Centering is a linear change of variables, so it changes neither
the objective's values nor its minima, but it decorrelates ``a`` from ``alpha`` (raw ``log N``
is about 20), which quasi-Newton methods converge on much faster.
"""

from __future__ import annotations

import copy
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

__all__ = ["BatchedLBFGSResult", "HuberProblem", "batched_lbfgs", "default_threads", "refit_replicates"]

# Stopping codes per start.
RUNNING, CONVERGED, NO_DESCENT, MAX_ITER, STALLED = 0, 1, 2, 3, 4
STATUS_NAMES = {CONVERGED: "converged", NO_DESCENT: "no descent along the gradient",
                MAX_ITER: "iteration limit", STALLED: "stalled far above the best"}


def _float64(a) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(a, dtype=np.float64))


@dataclass
class HuberProblem:
    """The data and loss of one Chinchilla fit (float64 numpy arrays; torch tensors are accepted
    and converted).

    u, v : (n,)  centered log N and log D.
    log_loss : (n,)  log of the measured loss (nats).
    weights : (n,) or (S, n)  per-point weights (bootstrap counts); one row per start if 2-D.
    delta : Huber threshold on log-space residuals.
    scale : the objective is ``scale * sum_i w_i huber(r_i)``; 1 sums, 1/n averages; a float or
        one value per start.
    block : starts evaluated together; a block's (block, n) intermediates should fit in cache.
    threads : threads evaluating blocks at once (numpy releases the GIL in its loops); None
        uses :func:`default_threads`. Results do not depend on it: every block is computed the
        same way whichever thread takes it.

    The points are stored sorted (by the variable with fewer distinct values, then the other):
    after construction ``u``, ``v``, ``log_loss`` and the columns of ``weights`` are in that
    order, whatever order they came in. The objective is a sum over points, so the order does
    not change it; sorting makes it independent of the caller's order to the last bit.
    """

    u: np.ndarray
    v: np.ndarray
    log_loss: np.ndarray
    weights: np.ndarray
    delta: float
    scale: np.ndarray | float = 1.0
    block: int = 256
    threads: int | None = None

    def __post_init__(self) -> None:
        self.u, self.v, self.log_loss, self.weights = (
            _float64(self.u), _float64(self.v), _float64(self.log_loss), _float64(self.weights))
        if not np.isscalar(self.scale) and np.ndim(self.scale) > 0:
            self.scale = _float64(self.scale)
        else:
            self.scale = float(self.scale)
        if self.threads is None:
            self.threads = default_threads()
        # Scaling-law runs share model sizes (and often token counts): a power-law term takes
        # one value per distinct u (or v), not one per point. The term with fewer distinct values
        # is the "primary": the points are sorted by it (the objective is a sum over points, so
        # their order does not matter), so that its per-point values are runs of repeats and its
        # per-point sums are sums over contiguous segments.
        distinct = [np.unique(self.u), np.unique(self.v)]
        self._primary = p = int(distinct[1].size < distinct[0].size)
        x_p, x_s = (self.u, self.v)[p], (self.u, self.v)[1 - p]
        order = np.lexsort((x_s, x_p))  # by the primary variable, then the secondary
        if (order != np.arange(order.size)).any():
            self.u, self.v, self.log_loss = self.u[order], self.v[order], self.log_loss[order]
            self.weights = np.ascontiguousarray(self.weights[..., order])
        self._neg_uv = np.stack([-self.u, -self.v])  # (2, n)
        self._ranges = np.array([[self.u.min(), self.u.max()], [self.v.min(), self.v.max()]])
        self._unit_weights = self.weights.ndim == 1 and bool((self.weights == 1).all())
        # Per term: its distinct values (negated) and how points map to them. A term is
        # evaluated per distinct value only where that saves work (at most half as many values
        # as points); otherwise point by point. The secondary term's values are expanded to the
        # points by tiling when the runs form a full grid (every primary value with the same
        # secondary values), else by a gather.
        self._groups = []
        for k, x in enumerate((self.u, self.v)):
            values, first, inverse, counts = np.unique(x, return_index=True, return_inverse=True,
                                                       return_counts=True)
            if values.size * 2 > x.size:
                self._groups.append(None)
                continue
            group = {"neg_x": -values, "first": first, "inverse": inverse.ravel(),
                     "counts": counts, "tiles": 0}
            if k != p and x.size % values.size == 0:
                tiles = x.size // values.size
                if (x.reshape(tiles, values.size) == values).all():
                    group["tiles"] = tiles
            self._groups.append(group)
        # A full grid: every primary value once with every secondary value (points sorted by
        # the primary, then the secondary). Then the total at a point is a sum of a row of one
        # term and a column of the other, and the gradient's sums over points are sums over
        # the grid's rows or columns.
        g_p, g_s = self._groups[p], self._groups[1 - p]
        self._grid = (g_p is not None and g_s is not None and g_s["tiles"] == g_p["counts"].size
                      and bool((g_p["counts"] == g_s["neg_x"].size).all()))

    def rows(self, idx: np.ndarray) -> HuberProblem:
        """The problem restricted to starts ``idx`` (only weights and scale can differ by row)."""
        if self.weights.ndim == 1 and not isinstance(self.scale, np.ndarray):
            return self
        sub = copy.copy(self)  # the points are already in order; keep their derived arrays
        sub.weights = self.weights[idx] if self.weights.ndim == 2 else self.weights
        sub.scale = self.scale[idx] if isinstance(self.scale, np.ndarray) else self.scale
        return sub

    def _scaled(self, f: np.ndarray, grad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(self.scale, np.ndarray):
            return f * self.scale, grad * self.scale[:, None]
        return f * self.scale, grad * self.scale

    def value_and_grad(self, theta) -> tuple[np.ndarray, np.ndarray]:
        """Objective (S,) and its gradient (S, 5) in closed form.

        The three terms are exponentiated directly when no term can overflow or underflow
        (every value a term takes over the points is known in closed form, since each is linear
        in u or v); otherwise after subtracting one shift per start, the largest value any term
        takes, so that no term exceeds 1. A start whose terms span more than 640 nats across the
        points (so that at some point every term could underflow after the shift), and any start
        with non-finite parameters, takes the per-point-shifted :meth:`value_and_grad_stable`
        instead. The starts are processed in blocks of :attr:`block` rows so that a block's
        intermediates stay in cache, with the blocks shared among :attr:`threads` threads.
        """
        theta = np.asarray(theta, dtype=np.float64)
        S = theta.shape[0]
        coef, slope, e = theta[:, 0:2], theta[:, 3:5], theta[:, 2]
        # Largest and smallest values over the points of a - alpha u (and of b - beta v): at the
        # ends of u's range.
        # (Elementwise on (S, 2) arrays: numpy's reductions over axes of length 2 cost more.)
        at_low, at_high = slope * self._ranges[:, 0], slope * self._ranges[:, 1]  # (S, 2)
        with np.errstate(invalid="ignore"):
            peak = coef - np.minimum(at_low, at_high)
            trough = coef - np.maximum(at_low, at_high)
            shift = np.maximum(np.maximum(peak[:, 0], peak[:, 1]), e)
            low = np.maximum(np.maximum(trough[:, 0], trough[:, 1]), e)  # each point's sum >= e^low
            # At every point the largest term is at least exp(low - shift); above e^-640 no
            # point's sum can underflow.
            unsafe = ~(low - shift >= -640.0)  # also catches NaN
        if unsafe.any():
            f, grad = np.empty(S), np.empty((S, 5))
            for rows, fast in ((np.flatnonzero(unsafe), False), (np.flatnonzero(~unsafe), True)):
                if rows.size:
                    sub = self.rows(rows)
                    f[rows], grad[rows] = (sub.value_and_grad(theta[rows]) if fast
                                           else sub.value_and_grad_stable(theta[rows]))
            return f, grad
        # No shift (exactly 0) where no term exceeds e^600 and every point's sum is at least
        # e^-600: subtracting 0 is exact, so a start's numbers do not depend on whether its
        # block needed a shift.
        shift[(shift <= 600.0) & (low >= -600.0)] = 0.0
        # Each term's exponent after the shift is (c_k - shift) + slope_k * (-x).
        lines = np.empty((2, 2, S))  # (constant or slope, term, start)
        np.subtract(coef.T, shift, out=lines[0])
        lines[1] = slope.T
        floor = np.exp(e - shift)  # the floor term after the shift, (S,)
        # A grouped term is small, (S, distinct values): taken for all starts at once (one call
        # per operation rather than one per block); an ungrouped one is taken block by block.
        grouped = [None if self._groups[k] is None else self._term(k, lines, 0, S, None)
                   for k in (0, 1)]
        out = np.empty((S, 6))  # f, then d/d(a, alpha), d/d(b, beta), d/d(floor term)
        starts = list(range(0, S, self.block))
        if self.threads > 1 and len(starts) > 1:
            chunks = np.array_split(np.array(starts), min(self.threads, len(starts)))
            pool = _pool(self.threads)
            list(pool.map(lambda c: [self._block(lo, S, lines, grouped, floor, shift, out)
                                     for lo in c],
                          chunks))
        else:
            for lo in starts:
                self._block(lo, S, lines, grouped, floor, shift, out)
        grad = np.empty((S, 5))
        grad[:, 0], grad[:, 3] = out[:, 1], out[:, 2]
        grad[:, 1], grad[:, 4] = out[:, 3], out[:, 4]
        grad[:, 2] = out[:, 5] * floor
        np.negative(grad, out=grad)
        return self._scaled(out[:, 0], grad)

    def _term(self, k: int, lines: np.ndarray, lo: int, hi: int, out: np.ndarray | None
              ) -> np.ndarray:
        """Term k (0: a - alpha u, 1: b - beta v) exponentiated for rows ``lo .. hi``: per
        distinct value of its variable (m, groups) if it is grouped, else per point, into out."""
        group = self._groups[k]
        neg_x = self._neg_uv[k] if group is None else group["neg_x"]
        if group is not None:
            out = np.empty((hi - lo, neg_x.size))
        np.multiply(lines[1, k, lo:hi, None], neg_x, out=out)
        out += lines[0, k, lo:hi, None]
        return np.exp(out, out=out)

    def _block(self, lo: int, S: int, lines: np.ndarray, grouped: list, floor: np.ndarray,
               shift: np.ndarray, out: np.ndarray) -> None:
        """Rows ``lo .. lo + block`` of :meth:`value_and_grad`, written into ``out``.

        Only elementwise operations and per-row sums in a fixed order (no BLAS, whose sums
        depend on the block's shape), so a start's numbers do not depend on which starts share
        its block. The primary term's floor-added values are expanded to the points (the points
        are sorted by its variable, so this is a repeat), the secondary's are gathered or
        computed per point; the primary's gradient sums run over its groups of points.
        """
        hi = min(S, lo + self.block)
        m, n = hi - lo, self.u.size
        buf = getattr(_BUFFERS, "arrays", None)
        if buf is None or buf[0].shape[0] < m or buf[0].shape[1] != n:
            buf = (np.empty((m, n)), np.empty((m, n)), np.empty((m, n)), np.empty((m, n)))
            _BUFFERS.arrays = buf
        second, r, psi, spare = buf[0][:m], buf[1][:m], buf[2][:m], buf[3][:m]
        p = self._primary
        s = 1 - p
        g_p, g_s = self._groups[p], self._groups[s]
        # Each term (m, groups) or (m, n); a grouped one is this block's rows of ``grouped``
        # (a view, changed in place below: no other block reads these rows).
        t_p = self._term(p, lines, lo, hi, spare) if g_p is None else grouped[p][lo:hi]
        with_floor = t_p + floor[lo:hi, None]
        t_s = self._term(s, lines, lo, hi, second) if g_s is None else grouped[s][lo:hi]
        if g_s is not None and not self._grid:  # to the points: tiled, or gathered in C order
            t_s = (np.tile(t_s, g_s["tiles"]) if g_s["tiles"]
                   else np.take(t_s, g_s["inverse"], axis=1))  # (t_s[:, idx] is F order)
        total = with_floor if g_p is None else np.repeat(with_floor, g_p["counts"], axis=1)
        # On a grid, a tiled copy added costs less than one broadcast add over short rows.
        total += np.tile(t_s, g_s["tiles"]) if self._grid else t_s
        np.log(total, out=r)
        np.subtract(self.log_loss, r, out=r)
        if shift[lo:hi].any():
            r -= shift[lo:hi, None]  # r = log L - LSE
        # psi = d huber / d r = clip(r, -delta, delta), and huber(r) = psi (r - psi / 2):
        # r^2 / 2 inside the threshold and delta (|r| - delta / 2) outside, without a branch.
        np.clip(r, -self.delta, self.delta, out=psi)
        # f = sum w psi r - 1/2 sum w psi^2 (no cancellation: the first sum is at least the second)
        if self._unit_weights:
            out[lo:hi, 0] = np.einsum("ij,ij->i", psi, r) - 0.5 * np.einsum("ij,ij->i", psi, psi)
        else:
            psi *= self.weights[lo:hi] if self.weights.ndim == 2 else self.weights
            f_lin = np.einsum("ij,ij->i", psi, r)
            np.clip(r, -self.delta, self.delta, out=r)
            out[lo:hi, 0] = f_lin - 0.5 * np.einsum("ij,ij->i", psi, r)
        # d f / d (term k before the shift) = -w psi / total; times the term, the gradient with
        # respect to its log-coefficient, and times -u (or -v) with respect to its slope.
        psi /= total
        if self._grid:  # summed over the grid's rows (each primary value) and columns
            q_grid = psi.reshape(m, t_p.shape[1], t_s.shape[1])
            q_p, q_s = np.einsum("ijk->ij", q_grid), np.einsum("ijk->ik", q_grid)
            neg_s = g_s["neg_x"]
        else:
            q_p = psi if g_p is None else np.add.reduceat(psi, g_p["first"], axis=1)
            q_s, neg_s = psi, self._neg_uv[s]
        out[lo:hi, 5] = q_p.sum(1)
        neg_p = self._neg_uv[p] if g_p is None else g_p["neg_x"]
        t_p *= q_p
        out[lo:hi, 1 + 2 * p] = t_p.sum(1)
        out[lo:hi, 2 + 2 * p] = np.einsum("ij,j->i", t_p, neg_p)
        t_s *= q_s
        out[lo:hi, 1 + 2 * s] = t_s.sum(1)
        out[lo:hi, 2 + 2 * s] = np.einsum("ij,j->i", t_s, neg_s)

    def value_and_grad_stable(self, theta) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`value_and_grad` with the log-sum-exp shifted point by point: slower, for rows
        whose terms span more than float64's range across the points."""
        theta = np.asarray(theta, dtype=np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            t = np.stack([theta[:, 0:1] - theta[:, 3:4] * self.u,
                          theta[:, 1:2] - theta[:, 4:5] * self.v,
                          np.broadcast_to(theta[:, 2:3], (theta.shape[0], self.u.size))])
            top = t.max(0)
            # Clamping the exponents at -100 changes the sum by < 1e-43 of its value (invisible
            # in float64) but keeps exp() from producing subnormal numbers, which are slow.
            ex = np.exp(np.maximum(t - top, -100.0))
            total = ex.sum(0)
            p = ex / total
            r = self.log_loss - (top + np.log(total))
        psi = np.clip(r, -self.delta, self.delta)
        w = self.weights
        f = (w * psi * (r - 0.5 * psi)).sum(1)
        q = -w * psi  # d f / d lse, since d r / d lse = -1
        qp1, qp2 = q * p[0], q * p[1]
        grad = np.stack([qp1.sum(1), qp2.sum(1), (q * p[2]).sum(1),
                         -(qp1 * self.u).sum(1), -(qp2 * self.v).sum(1)], axis=1)
        return self._scaled(f, grad)


def default_threads() -> int:
    """Threads a :class:`HuberProblem` evaluates blocks on by default: one.

    Measured on this project's 2-core machines once a block had become cheap (terms taken per
    distinct N): the 4,500-start benchmark fit took 1.24 to 1.27 s on one thread against 1.45
    to 1.64 s on two, and on runs sharing no N or D (Epoch AI's extraction of Hoffmann et al.'s
    runs) 1.5 to 1.6 s either way; handing blocks to threads and taking the GIL back after
    every numpy call cost more than the second core gave. Pass ``threads`` to use more where
    cores are many and free.
    """
    return 1


_POOLS: dict[int, ThreadPoolExecutor] = {}
_BUFFERS = threading.local()  # each thread's scratch arrays for one block
# A forked child inherits the pools but not their threads: work submitted there would wait
# forever. The child starts with no pools and makes its own.
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_POOLS.clear)


def _pool(threads: int) -> ThreadPoolExecutor:
    """One long-lived pool per thread count (creating threads per evaluation costs more than a
    small evaluation)."""
    if threads not in _POOLS:
        _POOLS[threads] = ThreadPoolExecutor(threads, thread_name_prefix="scalingbook-huber")
    return _POOLS[threads]


@dataclass
class BatchedLBFGSResult:
    """Final state of every start (numpy arrays): theta (S, k), objective f (S,), status (S,)
    (one of the codes in ``STATUS_NAMES``), iterations (S,); and the number of batched
    evaluations."""

    theta: np.ndarray
    f: np.ndarray
    status: np.ndarray
    iterations: np.ndarray
    evaluations: int


def _coldot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dot products of matching columns of two (k, n) arrays: one per start.

    Products summed row by row, so every column is summed in the same order whatever n is
    (``einsum`` takes a different, vectorized path for wide arrays, which rounds differently
    and would make a start's path depend on how many starts run beside it)."""
    return np.multiply(a, b).sum(0)


# Wild starts (a step of 1e286 was seen before steps were capped) make infinities and NaNs in
# the trial points; the algorithm rejects them explicitly (non-finite objectives fail the line
# search, curvature pairs need s·y > 0), so numpy's warnings about them are noise.
@np.errstate(divide="ignore", over="ignore", invalid="ignore")
def batched_lbfgs(
    problem,
    theta0,
    *,
    max_iter: int = 1000,
    history: int = 10,
    ftol: float = 1e-12,
    max_backtracks: int = 50,
    armijo: float = 1e-4,
    max_step: float | None = None,
    stall_window: int | None = None,
    stall_factor: float = 2.0,
    stall_pace: float = 1e-3,
) -> BatchedLBFGSResult:
    """Minimize each start independently with L-BFGS and a per-start backtracking line search.

    Parameters
    ----------
    problem : HuberProblem, or any object with ``value_and_grad(theta) -> (f (S,), grad (S, k))``
        on float64 arrays and ``rows(idx)``, the problem restricted to starts ``idx``; if its
        weights are 2-D, row s belongs to start s.
    theta0 : (S, k) float64 array (or tensor) of starting points.
    max_iter : iterations per start before it is stopped as not converged.
    history : number of (s, y) pairs each start remembers.
    ftol : a start converges when an accepted step lowers its objective by at most ``ftol``
        times the objective, or when the predicted decrease ``-g·d`` is at most ``ftol * f``.
    max_backtracks : halvings (with interpolation) before a line search gives up. A failed
        L-BFGS step clears that start's history and retries along ``-g``; a failed step along
        ``-g`` means no decrease is representable in float64, and the start stops (NO_DESCENT).
    max_step : no trial step moves a parameter by more than this (None: no cap).
    stall_window, stall_factor, stall_pace : every ``stall_window`` iterations (None: never), a
        start more than ``stall_factor`` times the lowest objective of any start, whose log
        objective fell by less than ``stall_pace`` over the window and that at this pace would
        still be above that factor at ``max_iter``, stops as STALLED.

    Returns
    -------
    BatchedLBFGSResult
    """
    x_out = np.array(theta0, dtype=np.float64)  # a copy, whatever came in
    n_total, k = x_out.shape
    f_out, g_out = problem.value_and_grad(x_out)
    evaluations = 1
    status_out = np.full(n_total, RUNNING, dtype=np.int64)
    iterations_out = np.zeros(n_total, dtype=np.int64)
    # A start whose objective is exactly zero (data exactly on the law) is already optimal.
    status_out[(f_out == 0) & (g_out == 0).all(1)] = CONVERGED

    # The state of the starts still running, compacted whenever some finish so that every
    # per-iteration operation works on contiguous memory (no gathers from the full batch).
    # Vectors are stored transposed, (k, n): a start's dot product is then a sum of k long
    # rows rather than n sums of length k, which numpy does several times faster.
    ids = np.flatnonzero(status_out == RUNNING)
    prob = problem.rows(ids)
    x, f, g = x_out[ids].T.copy(), f_out[ids], g_out[ids].T.copy()
    n = len(ids)
    s_hist = np.zeros((history, k, n))
    y_hist = np.zeros((history, k, n))
    rho = np.zeros((history, n))  # 0 marks an empty or rejected slot
    gamma = np.zeros(n)  # 0: no curvature pair yet, take a unit step
    status = np.full(n, RUNNING, dtype=np.int64)
    iters = np.zeros(n, dtype=np.int64)
    f_window = f.copy()  # each start's objective at the last window boundary

    for it in range(max_iter):
        if n == 0:
            break
        slots = [(it - 1 - j) % history for j in range(min(it, history))]  # newest first

        # Two-loop recursion, each start with its own history (rho = 0 slots are no-ops).
        d = g.copy()
        alphas = []
        for j in slots:
            a_j = rho[j] * _coldot(s_hist[j], d)
            d -= a_j * y_hist[j]
            alphas.append(a_j)
        fresh = gamma == 0
        # Without curvature information, a unit-length step along -g (scale-free).
        g_norm = np.sqrt(_coldot(g, g))
        d *= np.where(fresh, 1.0 / np.maximum(g_norm, 1e-300), gamma)
        for j, a_j in zip(reversed(slots), reversed(alphas)):
            b_j = rho[j] * _coldot(y_hist[j], d)
            d += (a_j - b_j) * s_hist[j]
        np.negative(d, out=d)
        gd = _coldot(g, d)
        # Not a descent direction (history gone stale): fall back to steepest descent.
        bad = ~(gd < 0)
        if bad.any():
            d[:, bad] = -g[:, bad] / np.maximum(g_norm[bad], 1e-300)
            gd = _coldot(g, d)
            fresh = fresh | bad
        # Predicted decrease negligible relative to the objective: stationary.
        done = -gd <= ftol * np.abs(f)
        status[done] = CONVERGED

        # Backtracking line search, per start; only the still-searching rows are evaluated.
        # The first trial moves no parameter by more than max_step: on a plateau the curvature
        # pairs can make d astronomically long (1e6 .. 1e286 was seen), and halving down from
        # there costs dozens of evaluations of absurd points.
        if max_step:
            step = np.minimum(max_step / np.abs(d).max(0), 1.0)
        else:
            step = np.ones(n)
        accepted = done.copy()
        x_new, f_new, g_new = x.copy(), f.copy(), g.copy()
        for _ in range(max_backtracks):
            pend = np.flatnonzero(~accepted)
            if pend.size == 0:
                break
            xt = x[:, pend] + step[pend] * d[:, pend]  # (k, rows)
            ft, gt = prob.rows(pend).value_and_grad(xt.T)
            evaluations += 1
            ok = np.isfinite(ft) & (ft <= f[pend] + armijo * step[pend] * gd[pend])
            ok_rows = pend[ok]
            x_new[:, ok_rows], f_new[ok_rows], g_new[:, ok_rows] = xt[:, ok], ft[ok], gt[ok].T
            accepted[ok_rows] = True
            # Shrink the others: minimize the quadratic through f(0), f'(0) and f(t), kept
            # within [0.1 t, 0.5 t] so one bad model cannot stall or overshoot the search.
            fail = pend[~ok]
            t = step[fail]
            curv = ft[~ok] - f[fail] - gd[fail] * t
            t_quad = -gd[fail] * t * t / (2.0 * curv)
            t_quad = np.where(np.isfinite(t_quad) & (curv > 0), t_quad, 0.5 * t)
            step[fail] = np.minimum(np.maximum(t_quad, 0.1 * t), 0.5 * t)

        failed = ~accepted
        if failed.any():
            # Along -g already: nothing smaller helps in float64. Otherwise drop the history
            # and retry along -g next iteration.
            status[failed & fresh] = NO_DESCENT
            retry = failed & ~fresh
            rho[:, retry] = 0.0
            gamma[retry] = 0.0

        slot = it % history
        moved = accepted & ~done
        s_vec = np.subtract(x_new, x, out=s_hist[slot])
        y_vec = np.subtract(g_new, g, out=y_hist[slot])
        sy = _coldot(s_vec, y_vec)
        yy = _coldot(y_vec, y_vec)
        # Keep a pair only with positive curvature (else the inverse Hessian loses
        # definiteness); comparing s·y with |s||y| keeps the test scale-free. Rows that did not
        # move get rho = 0 too, so a stale pair in this slot is not mistaken for a fresh one.
        good = moved & (sy > 1e-10 * np.sqrt(_coldot(s_vec, s_vec) * yy))
        rho[slot] = np.where(good, 1.0 / np.where(good, sy, 1.0), 0.0)
        gamma = np.where(good, sy / np.where(good, yy, 1.0), gamma)
        small = moved & (f - f_new <= ftol * np.abs(f))
        status[small] = CONVERGED
        iters += moved
        x, f, g = x_new, f_new, g_new
        if stall_window and (it + 1) % stall_window == 0:
            # f_out holds finished starts' objectives and running starts' initial ones (upper
            # bounds of their current ones), so its minimum with f is the lowest of any start.
            seen = np.concatenate([f_out, f])
            seen = seen[np.isfinite(seen)]
            if it + 1 >= 2 * stall_window and seen.size:
                windows_left = (max_iter - it - 1) / stall_window
                pace = np.log(f_window / f)  # fall of log f over the last window
                gap = np.log(f / (stall_factor * seen.min()))  # > 0: farther than the factor
                stalled = (status == RUNNING) & (gap > 0) & (pace < stall_pace) & \
                    (pace * windows_left < gap)
                status[stalled] = STALLED
            f_window = f.copy()

        finished = status != RUNNING
        if finished.any():
            rows = ids[finished]
            x_out[rows], f_out[rows], g_out[rows] = x[:, finished].T, f[finished], g[:, finished].T
            status_out[rows], iterations_out[rows] = status[finished], iters[finished]
            keep = ~finished
            # np.compress keeps the arrays in C order: a boolean index on the last axis
            # (x[:, keep]) returns them in Fortran order, where every (k, n) operation of the
            # following iterations runs strided, about 6 times slower.
            ids, f, f_window = ids[keep], f[keep], f_window[keep]
            x, g, s_hist, y_hist, rho = (np.compress(keep, a, axis=-1)
                                         for a in (x, g, s_hist, y_hist, rho))
            gamma, status, iters = gamma[keep], status[keep], iters[keep]
            prob = prob.rows(np.flatnonzero(keep))
            n = len(ids)

    if n:
        x_out[ids], f_out[ids], iterations_out[ids] = x.T, f, iters
        status_out[ids] = MAX_ITER
    return BatchedLBFGSResult(x_out, f_out, status_out, iterations_out, evaluations)


def refit_replicates(problem_for, weights: np.ndarray, seeds: np.ndarray, max_iter: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Refit every bootstrap replicate from the same few starts, all in one batched program.

    problem_for : callable taking (R * k, n) per-row weights and returning the problem whose
        row r belongs to replicate r // k (any problem :func:`batched_lbfgs` accepts).
    weights : (R, n) array, one row of per-point weights (resampling counts) per replicate.
    seeds : (k, p) array of starts in the problem's coordinates (typically the full fit's best
        distinct optima); every replicate starts from all k.

    Returns each replicate's best of its k refits, ``(theta (R, p), status (R,))``.
    """
    n_boot, k = len(weights), len(seeds)
    theta0 = np.tile(np.asarray(seeds, dtype=np.float64), (n_boot, 1))  # replicate-major
    run = batched_lbfgs(problem_for(np.repeat(weights, k, axis=0)), theta0, max_iter=max_iter)
    pick = np.argmin(np.where(np.isfinite(run.f), run.f, np.inf).reshape(n_boot, k), axis=1)
    rows = np.arange(n_boot)
    theta = run.theta.reshape(n_boot, k, -1)[rows, pick]
    return theta, run.status.reshape(n_boot, k)[rows, pick]


def hoffmann_grid() -> np.ndarray:
    """Hoffmann et al.'s (2022, appendix D.2) grid of starts, shape (4500, 5).

    Columns ``(a, b, e, alpha, beta)`` with ``a = log A``, ``b = log B``, ``e = log E``:
    alpha, beta in {0, 0.5, ..., 2}, e in {-1, -0.5, ..., 1}, a, b in {0, 5, ..., 25}
    (5 · 5 · 5 · 6 · 6 = 4,500 starts).
    """
    alphas = np.arange(0.0, 2.01, 0.5)
    es = np.arange(-1.0, 1.01, 0.5)
    abs_ = np.arange(0.0, 25.01, 5.0)
    mesh = np.meshgrid(abs_, abs_, es, alphas, alphas, indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=1)


