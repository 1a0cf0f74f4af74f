"""Batched L-BFGS for the Chinchilla Huber objective: thousands of independent starts in one program.

Why our own optimizer. The standard recipe (Hoffmann et al. 2022) runs L-BFGS from a grid of
thousands of starts. A Python loop of ``scipy.optimize.minimize`` calls spends nearly all its
time in per-call overhead on a 5-parameter problem. Summing the starts' objectives and handing
the sum to one optimizer would keep the gradients independent (each start's loss depends only on
its own parameters) but couple the starts through one shared line search and one shared
curvature history, so a start's path would depend on the others. Here every start keeps its own
L-BFGS history, step length and stopping state; only the arithmetic is batched, as (starts ×
points) tensors in float64.

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

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["BatchedLBFGSResult", "HuberProblem", "batched_lbfgs", "refit_replicates"]

# Stopping codes per start.
RUNNING, CONVERGED, NO_DESCENT, MAX_ITER, STALLED = 0, 1, 2, 3, 4
STATUS_NAMES = {CONVERGED: "converged", NO_DESCENT: "no descent along the gradient",
                MAX_ITER: "iteration limit", STALLED: "stalled far above the best"}


@dataclass
class HuberProblem:
    """The data and loss of one Chinchilla fit (float64 tensors).

    u, v : (n,)  centered log N and log D.
    log_loss : (n,)  log of the measured loss (nats).
    weights : (n,) or (S, n)  per-point weights (bootstrap counts); one row per start if 2-D.
    delta : Huber threshold on log-space residuals.
    scale : the objective is ``scale * sum_i w_i huber(r_i)``; 1 sums, 1/n averages.
    block : starts evaluated together; a block's (block, n) intermediates should fit in cache.
    """

    u: torch.Tensor
    v: torch.Tensor
    log_loss: torch.Tensor
    weights: torch.Tensor
    delta: float
    scale: torch.Tensor | float = 1.0
    block: int = 128

    def rows(self, idx: torch.Tensor) -> HuberProblem:
        """The problem restricted to starts ``idx`` (only weights and scale can differ by row)."""
        if self.weights.ndim == 1:
            return self
        scale = self.scale[idx] if isinstance(self.scale, torch.Tensor) else self.scale
        return HuberProblem(self.u, self.v, self.log_loss, self.weights[idx], self.delta, scale,
                            self.block)

    def log_prediction(self, theta: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``LSE`` of the three terms and their softmax shares, each (S, n)."""
        t1 = theta[:, 0:1] - theta[:, 3:4] * self.u
        t2 = theta[:, 1:2] - theta[:, 4:5] * self.v
        t3 = theta[:, 2:3].expand_as(t1)
        top = torch.maximum(torch.maximum(t1, t2), t3)
        # Clamping the exponents at -100 changes the sum by < 1e-43 of its value (invisible in
        # float64) but keeps exp() from producing subnormal numbers, which are ~10x slower on CPUs.
        e1, e2, e3 = (torch.exp((t - top).clamp_min_(-100.0)) for t in (t1, t2, t3))
        total = e1 + e2 + e3
        inv = 1.0 / total
        return top + torch.log(total), e1 * inv, e2 * inv, e3 * inv

    def __post_init__(self) -> None:
        # What every evaluation reuses: -u and -v stacked, so both power-law terms of a block of
        # starts are one (rows, 2, n) tensor, and the extremes of u and v.
        self._neg_uv = torch.stack([-self.u, -self.v])  # (2, n)
        self._ranges = torch.stack([torch.stack([self.u.min(), self.u.max()]),
                                    torch.stack([self.v.min(), self.v.max()])])  # (2, 2)
        self._unit_weights = self.weights.ndim == 1 and bool((self.weights == 1).all())

    def value_and_grad(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Objective (S,) and its gradient (S, 5) in closed form (no autograd graph to build).

        The three terms are exponentiated after subtracting one shift per start: the largest
        value any term takes over the points, known in closed form because each term is linear
        in u or v. So no term exceeds 1, nothing overflows, and no per-point maximum is needed.
        A start whose terms span more than 640 nats across the points (so that at some point
        every term could underflow after the shift), and any start with non-finite parameters,
        takes the per-point-shifted :meth:`value_and_grad_stable` instead. The starts are processed in blocks of :attr:`block` rows
        so that a block's intermediates stay in cache.
        """
        S = theta.shape[0]
        coef, slope, e = theta[:, 0:2], theta[:, 3:5], theta[:, 2]
        # Largest and smallest values over the points of a - alpha u (and of b - beta v): at the
        # ends of u's range.
        at_ends = slope.unsqueeze(2) * self._ranges  # (S, 2, 2)
        peak = coef - at_ends.amin(2)
        trough = coef - at_ends.amax(2)
        shift = torch.maximum(peak.amax(1), e)
        # At every point the largest term is at least exp(max(troughs, e) - shift); above
        # e^-640 no point's sum can underflow.
        unsafe = ~(torch.maximum(trough.amax(1), e) - shift >= -640.0)  # also catches NaN
        if unsafe.any():
            f, grad = theta.new_empty(S), theta.new_empty(S, 5)
            for rows, fast in ((unsafe.nonzero().squeeze(1), False),
                               ((~unsafe).nonzero().squeeze(1), True)):
                if rows.numel():
                    sub = self.rows(rows)
                    f[rows], grad[rows] = (sub.value_and_grad(theta[rows]) if fast
                                           else sub.value_and_grad_stable(theta[rows]))
            return f, grad
        const = (coef - shift[:, None]).unsqueeze(2)  # (S, 2, 1)
        slope3 = slope.unsqueeze(2)
        floor = (e - shift).exp_().unsqueeze(1)  # the floor term after the shift, (S, 1)
        row_weights = self.weights.ndim == 2
        ll, delta = self.log_loss, self.delta
        f, g12, g_floor, g_slope = (theta.new_empty(S), theta.new_empty(S, 2),
                                    theta.new_empty(S), theta.new_empty(S, 2))

        def block(lo: int) -> None:
            rows = slice(lo, min(S, lo + self.block))
            wr = self.weights[rows] if row_weights else self.weights
            terms = torch.mul(slope3[rows], self._neg_uv).add_(const[rows]).exp_()  # (rows, 2, n)
            total = torch.add(terms[:, 0], terms[:, 1]).add_(floor[rows])
            r = torch.log(total)
            r = torch.sub(ll, r, out=r).sub_(shift[rows, None])  # log L - LSE, (rows, n)
            # psi = d huber / d r = clamp(r, -delta, delta), and huber(r) = psi (r - psi / 2):
            # r^2 / 2 inside the threshold and delta (|r| - delta / 2) outside, without a branch.
            psi = r.clamp(-delta, delta)
            h = r.add_(psi, alpha=-0.5).mul_(psi)
            if not self._unit_weights:
                h.mul_(wr)
                psi.mul_(wr)
            f[rows] = h.sum(1)
            # d f / d (term k before the shift) = -w psi / total; times the term, the gradient
            # with respect to its log-coefficient, and times -u (or -v) with respect to its slope.
            z = psi.div_(total)
            g_floor[rows] = z.sum(1)
            terms.mul_(z.unsqueeze(1))
            g12[rows] = terms.sum(2)
            g_slope[rows] = terms.mul_(self._neg_uv).sum(2)

        for lo in range(0, S, self.block):
            block(lo)
        grad = torch.cat([g12, (g_floor * floor[:, 0]).unsqueeze(1), g_slope], 1).neg_()
        if isinstance(self.scale, torch.Tensor):
            return f.mul_(self.scale), grad.mul_(self.scale[:, None])
        return f.mul_(self.scale), grad.mul_(self.scale)

    def value_and_grad_stable(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`value_and_grad` with the log-sum-exp shifted point by point: slower, for rows
        whose terms span more than float64's range across the points."""
        lse, p1, p2, p3 = self.log_prediction(theta)
        r = self.log_loss - lse
        psi = r.clamp(-self.delta, self.delta)
        huber = psi * (r - 0.5 * psi)
        scale = self.scale[:, None] if isinstance(self.scale, torch.Tensor) else self.scale
        w = self.weights * scale
        f = (w * huber).sum(1)
        q = -w * psi  # d f / d lse, since d r / d lse = -1
        qp1, qp2 = q * p1, q * p2
        grad = torch.stack(
            [qp1.sum(1), qp2.sum(1), (q * p3).sum(1), -(qp1 * self.u).sum(1), -(qp2 * self.v).sum(1)],
            dim=1,
        )
        return f, grad


@dataclass
class BatchedLBFGSResult:
    """Final state of every start: theta (S, k), objective (S,), status (S,), iterations (S,)."""

    theta: torch.Tensor
    f: torch.Tensor
    status: torch.Tensor
    iterations: torch.Tensor
    evaluations: int


def batched_lbfgs(
    problem: HuberProblem,
    theta0: torch.Tensor,
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
    problem : HuberProblem
        The objective; if its weights are 2-D, row s belongs to start s.
    theta0 : (S, k) float64 tensor of starting points.
    max_iter : iterations per start before it is stopped as not converged.
    history : number of (s, y) pairs each start remembers.
    ftol : a start converges when an accepted step lowers its objective by at most ``ftol``
        times the objective, or when the predicted decrease ``-g·d`` is at most ``ftol * f``.
    max_backtracks : halvings (with interpolation) before a line search gives up. A failed
        L-BFGS step clears that start's history and retries along ``-g``; a failed step along
        ``-g`` means no decrease is representable in float64, and the start stops (NO_DESCENT).

    Returns
    -------
    BatchedLBFGSResult
    """
    x_out = theta0.clone()
    n_total, k = x_out.shape
    f_out, g_out = problem.value_and_grad(x_out)
    evaluations = 1
    status_out = torch.full((n_total,), RUNNING, dtype=torch.int64)
    iterations_out = torch.zeros(n_total, dtype=torch.int64)
    # A start whose objective is exactly zero (data exactly on the law) is already optimal.
    status_out[(f_out == 0) & (g_out == 0).all(1)] = CONVERGED

    # The state of the starts still running, compacted whenever some finish so that every
    # per-iteration operation works on contiguous rows (no gathers from the full batch).
    ids = (status_out == RUNNING).nonzero().squeeze(1)
    prob = problem.rows(ids)
    x, f, g = x_out[ids], f_out[ids], g_out[ids]
    n = len(ids)
    s_hist = torch.zeros(history, n, k, dtype=x.dtype)
    y_hist = torch.zeros(history, n, k, dtype=x.dtype)
    rho = torch.zeros(history, n, dtype=x.dtype)  # 0 marks an empty or rejected slot
    gamma = torch.zeros(n, dtype=x.dtype)  # 0: no curvature pair yet, take a unit step
    status = torch.full((n,), RUNNING, dtype=torch.int64)
    iters = torch.zeros(n, dtype=torch.int64)
    f_window = f.clone()  # each start's objective at the last window boundary

    for it in range(max_iter):
        if n == 0:
            break
        slots = [(it - 1 - j) % history for j in range(min(it, history))]  # newest first

        # Two-loop recursion, each start with its own history (rho = 0 slots are no-ops).
        q = g.clone()
        alphas = []
        for j in slots:
            a_j = rho[j] * (s_hist[j] * q).sum(1)
            q -= a_j[:, None] * y_hist[j]
            alphas.append(a_j)
        fresh = gamma == 0
        # Without curvature information, a unit-length step along -g (scale-free).
        h0 = torch.where(fresh, 1.0 / g.norm(dim=1).clamp_min(1e-300), gamma)
        r = h0[:, None] * q
        for j, a_j in zip(reversed(slots), reversed(alphas)):
            b_j = rho[j] * (y_hist[j] * r).sum(1)
            r += (a_j - b_j)[:, None] * s_hist[j]
        d = -r
        gd = (g * d).sum(1)
        # Not a descent direction (history gone stale): fall back to steepest descent.
        bad = ~(gd < 0)
        if bad.any():
            d[bad] = -g[bad] / g[bad].norm(dim=1, keepdim=True).clamp_min(1e-300)
            gd = (g * d).sum(1)
            fresh = fresh | bad
        # Predicted decrease negligible relative to the objective: stationary.
        done = -gd <= ftol * f.abs()
        status[done] = CONVERGED

        # Backtracking line search, per start; only the still-searching rows are evaluated.
        # The first trial moves no parameter by more than max_step: on a plateau the curvature
        # pairs can make d astronomically long (1e6 .. 1e286 was seen), and halving down from
        # there costs dozens of evaluations of absurd points.
        if max_step:
            step = (max_step / d.abs().amax(1)).clamp_(max=1.0)
        else:
            step = torch.ones(n, dtype=x.dtype)
        accepted = done.clone()
        x_new, f_new, g_new = x.clone(), f.clone(), g.clone()
        for _ in range(max_backtracks):
            pend = (~accepted).nonzero().squeeze(1)
            if pend.numel() == 0:
                break
            xt = x[pend] + step[pend, None] * d[pend]
            ft, gt = prob.rows(pend).value_and_grad(xt)
            evaluations += 1
            ok = torch.isfinite(ft) & (ft <= f[pend] + armijo * step[pend] * gd[pend])
            ok_rows = pend[ok]
            x_new[ok_rows], f_new[ok_rows], g_new[ok_rows] = xt[ok], ft[ok], gt[ok]
            accepted[ok_rows] = True
            # Shrink the others: minimize the quadratic through f(0), f'(0) and f(t), kept
            # within [0.1 t, 0.5 t] so one bad model cannot stall or overshoot the search.
            fail = pend[~ok]
            t = step[fail]
            curv = ft[~ok] - f[fail] - gd[fail] * t
            t_quad = -gd[fail] * t * t / (2.0 * curv)
            t_quad = torch.where(torch.isfinite(t_quad) & (curv > 0), t_quad, 0.5 * t)
            step[fail] = torch.minimum(torch.maximum(t_quad, 0.1 * t), 0.5 * t)

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
        s_vec = x_new - x
        y_vec = g_new - g
        sy = (s_vec * y_vec).sum(1)
        yy = (y_vec * y_vec).sum(1)
        # Keep a pair only with positive curvature (else the inverse Hessian loses
        # definiteness); comparing s·y with |s||y| keeps the test scale-free. Rows that did not
        # move get rho = 0 too, so a stale pair in this slot is not mistaken for a fresh one.
        good = moved & (sy > 1e-10 * s_vec.norm(dim=1) * y_vec.norm(dim=1))
        s_hist[slot] = s_vec
        y_hist[slot] = y_vec
        rho[slot] = torch.where(good, 1.0 / torch.where(good, sy, 1.0), 0.0)
        gamma = torch.where(good, sy / torch.where(good, yy, 1.0), gamma)
        small = moved & (f - f_new <= ftol * f.abs())
        status[small] = CONVERGED
        iters += moved.long()
        x, f, g = x_new, f_new, g_new
        if stall_window and (it + 1) % stall_window == 0:
            # f_out holds finished starts' objectives and running starts' initial ones (upper
            # bounds of their current ones), so its minimum with f is the lowest of any start.
            seen = torch.cat([f_out, f])
            seen = seen[torch.isfinite(seen)]
            if it + 1 >= 2 * stall_window and seen.numel():
                windows_left = (max_iter - it - 1) / stall_window
                pace = torch.log(f_window / f)  # fall of log f over the last window
                gap = torch.log(f / (stall_factor * seen.min()))  # > 0: farther than the factor
                stalled = (status == RUNNING) & (gap > 0) & (pace < stall_pace) & \
                    (pace * windows_left < gap)
                status[stalled] = STALLED
            f_window = f.clone()

        finished = status != RUNNING
        if finished.any():
            rows = ids[finished]
            x_out[rows], f_out[rows], g_out[rows] = x[finished], f[finished], g[finished]
            status_out[rows], iterations_out[rows] = status[finished], iters[finished]
            keep = ~finished
            ids, x, f, g, f_window = ids[keep], x[keep], f[keep], g[keep], f_window[keep]
            s_hist, y_hist, rho = s_hist[:, keep], y_hist[:, keep], rho[:, keep]
            gamma, status, iters = gamma[keep], status[keep], iters[keep]
            prob = prob.rows(keep)
            n = len(ids)

    if n:
        x_out[ids], f_out[ids], iterations_out[ids] = x, f, iters
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
    theta0 = torch.as_tensor(np.tile(seeds, (n_boot, 1)), dtype=torch.float64)  # replicate-major
    run = batched_lbfgs(problem_for(np.repeat(weights, k, axis=0)), theta0, max_iter=max_iter)
    f = run.f.numpy()
    pick = np.argmin(np.where(np.isfinite(f), f, np.inf).reshape(n_boot, k), axis=1)
    rows = np.arange(n_boot)
    theta = run.theta.numpy().reshape(n_boot, k, -1)[rows, pick]
    return theta, run.status.numpy().reshape(n_boot, k)[rows, pick]


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


