"""The multistart Chinchilla fit two ways, side by side in one run: vectorized against a scipy loop.

Both fit the same synthetic runs (a planted ``ChinchillaLaw`` with log-normal noise) with the same
objective (Huber, delta = 1e-3, on log-space residuals, summed over points) from the same
Hoffmann et al. grid of 4,500 starts:

- ours: :func:`scalingbook.fit.fit_chinchilla`, every start advancing in one batched float64
  numpy program (per-start L-BFGS history and line search; blocks of starts evaluated on
  ``scalingbook.fit.huber.default_threads()`` threads), run twice: as it is called by
  default, where starts stalled on a plateau far above the best are stopped, and with
  ``stall_window=None``, where every start runs until it converges or hits the iteration limit;
- the loop: one ``scipy.optimize.minimize(method="L-BFGS-B")`` call per start in Hoffmann's
  uncentered coordinates (a, b, e, alpha, beta), run three ways: with the exact analytic
  gradient (``jac=True``) and scipy's default tolerances, under which most starts stop early;
  with the exact gradient and tolerances matched to ours (the same quality of answer: about as
  many starts reach the best); and with scipy's finite differences and default tolerances,
  which is what a ``minimize(objective, x0, method="L-BFGS-B")`` call without ``jac`` does, as
  published multistart code calls it.

The finite-difference loop takes about a minute, so ``--loop-starts K`` runs only the first K
starts of a shuffled (seeded) grid and extrapolates the loop's time linearly to the whole grid,
saying so; its best objective is then the best of those K starts only.

Our fit takes about a second and runs three times (``--repeats``); the ratios use the median of
its times, the loop's single run of a minute or so averaging over bursts of load by itself.

Usage: python benchmarks/bench_fit_chinchilla.py [--loop-starts K]
       [--loops exact,exact-matched,numeric,numeric-matched] [--points N] [--noise S] [--seed S]
       [--repeats R] [--epoch]
Goals (issue 3): ours >= 30x faster than the loop; our objective no worse than the loop's best.

Which loop the goal means. The issue sets our vectorized fit against "a Python loop of
``scipy.optimize.minimize`` calls" without naming the call's options. The goal is judged against
the call as it is usually written, ``minimize(objective, x0, method="L-BFGS-B")`` with no gradient
argument, so that scipy takes finite differences, and with scipy's default tolerances. The loops
handed the exact gradient (with scipy's tolerances, or with tolerances matched to ours) are
stricter comparisons than the goal asks for; they are printed beside it, and the verdict says how
far each is from 30x.
"""

from __future__ import annotations

import os

# scipy's L-BFGS-B calls BLAS on 5-vectors, where OpenBLAS's worker threads only spin: with them
# the loop took as long (2.5-3.3 s against 2.8-3.0 s for 300 starts, interleaved) but held both
# cores. One BLAS thread keeps the loop on one core, as ours is. Set before numpy is imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from scalingbook.fit import chinchilla_objective, fit_chinchilla, hoffmann_grid
from scalingbook.fit.huber import default_threads
from scalingbook.laws import ChinchillaLaw

PLANTED = ChinchillaLaw(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)  # Hoffmann et al.'s fit
# Public data beside the project (never copied into it); absent on a clone elsewhere.
EPOCH_CSV = Path(__file__).resolve().parents[2] / "shared" / "external" / "chinchilla_epoch" / \
    "svg_extracted_data.csv"


def synthetic_runs(n_points: int, noise: float, seed: int):
    """A grid of model sizes (7e7..1.6e10 parameters) by token counts (5e9..5e11), noisy losses."""
    rng = np.random.default_rng(seed)
    n_sizes = max(2, round(float(np.sqrt(n_points))))
    n_tokens = max(2, n_points // n_sizes)
    N = np.repeat(np.geomspace(7e7, 1.6e10, n_sizes), n_tokens)
    D = np.tile(np.geomspace(5e9, 5e11, n_tokens), n_sizes)
    loss = PLANTED.loss(N, D) * np.exp(rng.normal(0.0, noise, N.size))
    return N, D, loss


def epoch_runs():
    """Epoch AI's extraction of Hoffmann et al.'s Figure 4, as Epoch fit it (240 runs), or None.

    Epoch drop the 5 runs of highest loss and derive tokens as D = C / (6 N); see the README
    beside the CSV. Unlike the synthetic grid, almost every run has its own N and D (140 model
    sizes and 240 token counts among 240 runs).
    """
    if not EPOCH_CSV.is_file():
        print(f"\nEpoch AI data: {EPOCH_CSV} not found (../shared is absent here); skipping it")
        return None
    df = pd.read_csv(EPOCH_CSV)
    fifth_largest = np.sort(df["loss"].to_numpy())[-5]
    df = df[df["loss"] < fifth_largest]
    N = df["Model Size"].to_numpy(float)
    D = df["Training FLOP"].to_numpy(float) / (6 * N)
    return N, D, df["loss"].to_numpy(float)


# The loops: (label, gradient, tolerances). scipy's defaults stop when the decrease per iteration
# is below 2.2e-9 times max(|f|, 1) or the projected gradient below 1e-5, both absolute for this
# objective (|f| < 1): most starts stop early, far from any optimum. "Matched" asks the loop to
# stop as ours does: a decrease below 1e-12 of the objective (at its optimum) and no gradient test.
GOAL_LOOP = "numeric"  # the loop the >= 30x goal is judged against (see the module docstring)
LOOPS = {
    "exact": ("exact gradient, scipy's default tolerances", "analytic", "default"),
    "exact-matched": ("exact gradient, tolerances matched to ours", "analytic", "matched"),
    "numeric": ("finite differences, scipy's default tolerances", "numeric", "default"),
    "numeric-matched": ("finite differences, tolerances matched to ours", "numeric", "matched"),
}
DEFAULT_LOOPS = "exact,exact-matched,numeric"  # numeric-matched takes minutes: on request


def loop_fit(N, D, loss, starts, delta=1e-3, gradient="analytic", tolerance="default", f_scale=1.0):
    """One scipy L-BFGS-B call per start: the objective in numpy, with its exact gradient or alone.

    tolerance "matched": ``ftol = 1e-12 * f_scale`` (scipy's test is absolute below |f| = 1, so
    with f_scale the objective at the optimum it matches our relative 1e-12 there) and
    ``gtol = 0``; "default": scipy's defaults.
    """
    ln, ld, ll = np.log(N), np.log(D), np.log(loss)

    def terms(theta):
        a, b, e, alpha, beta = theta
        t = np.stack([a - alpha * ln, b - beta * ld, np.full_like(ln, e)])
        top = t.max(0)
        ex = np.exp(t - top)
        tot = ex.sum(0)
        return ex, tot, ll - (top + np.log(tot))

    def huber(r):
        ar = np.abs(r)
        return np.where(ar <= delta, 0.5 * r * r, delta * (ar - 0.5 * delta)).sum()

    def value(theta):  # what the finite-difference loop calls: the objective alone
        return huber(terms(theta)[2])

    def fun(theta):
        ex, tot, r = terms(theta)
        p = ex / tot
        f = huber(r)
        q = -np.clip(r, -delta, delta)
        grad = np.array([(q * p[0]).sum(), (q * p[1]).sum(), (q * p[2]).sum(),
                         -(q * p[0] * ln).sum(), -(q * p[1] * ld).sum()])
        return f, grad

    options = {"ftol": 1e-12 * f_scale, "gtol": 0.0} if tolerance == "matched" else None
    if gradient == "analytic":
        results = [minimize(fun, s, jac=True, method="L-BFGS-B", options=options) for s in starts]
    else:
        results = [minimize(value, s, method="L-BFGS-B", options=options) for s in starts]
    return np.array([r.fun for r in results]), np.array([r.x for r in results]), \
        np.array([r.success for r in results])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--loop-starts", type=int, default=None,
                        help="run only K loop starts and extrapolate its time (default: all 4,500)")
    parser.add_argument("--loops", default=DEFAULT_LOOPS,
                        help="comma-separated loops to run, of: " + ", ".join(
                            f"{k} ({v[0]})" for k, v in LOOPS.items()) +
                        f" (default: {DEFAULT_LOOPS})")
    parser.add_argument("--points", type=int, default=240)
    parser.add_argument("--noise", type=float, default=0.01, help="log-normal sigma of the loss")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3,
                        help="runs of our fit; the ratios use their median (default 3)")
    parser.add_argument("--epoch", action="store_true",
                        help="also compare on Epoch AI's extraction of the Chinchilla runs "
                             "(../shared/external; skipped when absent)")
    args = parser.parse_args()
    unknown = set(args.loops.split(",")) - set(LOOPS)
    if unknown:
        parser.error(f"--loops: unknown {sorted(unknown)}; choose from {', '.join(LOOPS)}")

    N, D, loss = synthetic_runs(args.points, args.noise, args.seed)
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    print(f"our evaluation threads={default_threads()} (the loop runs on one; "
          f"OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']})")
    compare(f"{len(N)} synthetic runs from {PLANTED}, log-normal noise sigma={args.noise}",
            N, D, loss, args)
    if args.epoch:
        runs = epoch_runs()
        if runs is not None:
            compare(f"Epoch AI's extraction of Hoffmann et al.'s runs ({len(runs[0])} runs)",
                    *runs, args)


def no_worse(f_ours: float, f_loop: float) -> bool:
    """Our objective no worse than the loop's, allowing 1e-9 relative: two optimizers' sums of the
    same 240 terms at the same optimum differ in the last digits."""
    return f_ours <= f_loop * (1 + 1e-9)


def compare(label: str, N, D, loss, args) -> None:
    """Ours (with and without the stall rule) against the loop(s) on one data set."""
    grid = hoffmann_grid()
    print(f"\n=== data: {label}; {len(np.unique(N))} distinct N, {len(np.unique(D))} distinct D")
    print(f"grid: {len(grid)} starts (Hoffmann et al.), Huber delta=1e-3, summed")

    ours = {}
    for name, kwargs in (("ours", {}), ("ours, no stall rule", {"stall_window": None})):
        # A second of work is more at the mercy of a burst of load than the loop's minute, so
        # ours runs `repeats` times and its median is what the ratios use (every run gives the
        # same numbers: the fit is deterministic).
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            fit = fit_chinchilla(N, D, loss, starts=grid, **kwargs)
            times.append(time.perf_counter() - t0)
        t_fit = statistics.median(times)
        theta = np.log([fit.params["A"], fit.params["B"], fit.params["E"]]).tolist() + \
            [fit.params["alpha"], fit.params["beta"]]
        f_fit = chinchilla_objective(theta, N, D, loss)
        ours[name] = (t_fit, f_fit)
        dg = fit.diagnostics
        runs = "" if len(times) == 1 else f" (median of {' '.join(f'{t:.2f}' for t in times)})"
        print(f"\n{name} (batched L-BFGS): {t_fit:.2f} s{runs}; objective {f_fit:.10g}; "
              f"{dg['n_at_best']} of {dg['n_starts']} starts at the best (rtol {dg['best_rtol']:g}); "
              f"status {dg['status_counts']}")
        print("  params: " + ", ".join(f"{k}={v:.5g}" for k, v in fit.params.items()))

    k = len(grid) if args.loop_starts is None else min(args.loop_starts, len(grid))
    order = np.random.default_rng(args.seed).permutation(len(grid))[:k]
    loops = {}  # key -> (label, time for the whole grid, best objective)
    f_scale = ours["ours"][1]  # the objective at the optimum, for the matched tolerance
    for key in args.loops.split(","):
        label, gradient, tolerance = LOOPS[key]
        t0 = time.perf_counter()
        f_loop, x_loop, ok_loop = loop_fit(N, D, loss, grid[order], gradient=gradient,
                                           tolerance=tolerance, f_scale=f_scale)
        t_run = time.perf_counter() - t0
        t_loop = t_run * len(grid) / k
        best = int(np.argmin(f_loop))
        loops[key] = (label, t_loop, f_loop[best])
        at_best = int((f_loop <= f_loop[best] * (1 + 1e-6)).sum())
        extrap = "" if k == len(grid) else f" (EXTRAPOLATED linearly from {k} starts in {t_run:.2f} s)"
        print(f"\nloop (scipy L-BFGS-B x {k}; {label}): {t_loop:.1f} s for {len(grid)} "
              f"starts{extrap}; best objective {f_loop[best]:.10g}; {at_best} of {k} starts at its "
              f"best; {int(ok_loop.sum())} reported success")
        E, A, B = np.exp(x_loop[best][[2, 0, 1]])
        print(f"  params: E={E:.5g}, A={A:.5g}, B={B:.5g}, alpha={x_loop[best][3]:.5g}, "
              f"beta={x_loop[best][4]:.5g}")

    note = " [loop time extrapolated]" if k < len(grid) else ""
    print(f"\nspeed-up (loop time / our time; goal >= 30x against the loop with "
          f"{LOOPS[GOAL_LOOP][0]}){note}:")
    for label, t_loop, f_best in loops.values():
        for name, (t_fit, f_fit) in ours.items():
            rel = (f_fit - f_best) / f_best
            verdict = "no worse" if no_worse(f_fit, f_best) else "WORSE"
            print(f"  {name:<20} vs loop ({label}): {t_loop / t_fit:6.1f}x; "
                  f"objective {rel:+.2e} relative to the loop's best ({verdict})")
    if GOAL_LOOP not in loops:
        print(f"goal: not judged (the loop '{GOAL_LOOP}' was not run; add it to --loops)")
        return
    _, t_loop, f_best = loops[GOAL_LOOP]
    t_fit, f_fit = ours["ours"]
    ratio, objective_ok = t_loop / t_fit, no_worse(f_fit, f_best)
    met = ratio >= 30 and objective_ok
    print(f"goal (>= 30x the loop with {LOOPS[GOAL_LOOP][0]}, objective no worse than its "
          f"best): {'MET' if met else 'NOT MET'} ({ratio:.1f}x; objective "
          f"{'no worse' if objective_ok else 'WORSE'}){note}")
    for key, (label, t_loop, _) in loops.items():
        if key != GOAL_LOOP:
            print(f"  beside it, the loop with {label}: {t_loop / t_fit:.1f}x "
                  f"({t_loop / t_fit / 30:.0%} of 30x)")


if __name__ == "__main__":
    main()
