"""Learning-curve sweeps in the manner of Hestness et al. (2017), on teacher-student tasks.

The method, as in the paper: for each training-set size m and seed, train students of
several widths with early stopping on a validation set; the width with the lowest
*validation* error is the model chosen for that (m, seed) (:func:`best_by_validation`), and
its error on a large held-out test sample is the learning curve's point. The chosen width
against m is the "best model size vs data size" curve.

Vectorized training. Tiny networks on 2 CPU cores spend most of their time in Python and
kernel-launch overhead, so :func:`run_learning_curve` trains every (size, seed, width) student
of a sweep at once: their weights are stacked along a leading axis (narrower students padded
with zero units, which receive exactly zero gradient and so stay zero under Adam) and one
batched matmul steps them all. Each student keeps its own initialization, minibatch stream and
early-stopping state, and the loss is the sum of the students' losses, so every student follows
the trajectory it would follow alone (up to float rounding); :func:`train_regressor` runs the
same code for a single model and the tests check the two agree. Measured on the quick preset
(104 students, 2 shared CPU cores): 12-17 s all at once against 96 s one by one.

Data layout for a run with seed s: ``task.sample(val_size + max(sizes), s)``; its first
``val_size`` rows are the validation set, and the training set of size m is the next m rows,
so training sets of one seed are nested. The test sample is ``task.test_sample(test_size)``,
shared by every run and drawn from streams no run uses.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch

from scalingbook._validate import positive_int, positive_scalar
from scalingbook.data.teacher_student import LinearTeacherTask, TeacherStudentTask
from scalingbook.models.mlp import ACTIVATIONS, MLP

__all__ = [
    "TrainResult",
    "train_regressor",
    "run_learning_curve",
    "best_by_validation",
    "run_ols_learning_curve",
    "LearningCurvePreset",
    "HESTNESS_QUICK",
    "HESTNESS_FULL",
    "run_preset",
]

# Minibatch indices are drawn this many steps at a time (bounded memory, same stream either way).
_INDEX_CHUNK = 64
# Largest members x rows x units block evaluated at once (bounds evaluation memory to ~64 MB).
_EVAL_BUDGET = 1 << 24


@contextlib.contextmanager
def _torch_threads(n: int | None):
    """Run with ``n`` intra-op threads, restoring the caller's setting afterwards.

    The sweeps default to 1: their matmuls are tiny, and on a 2-core machine shared with other
    jobs, 2 OpenMP threads made the quick preset 7x slower (55-63 s against 8 s) while
    uncontended they gained little.
    """
    if n is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


# ---------------------------------------------------------------------------------------------
# Stacked students
# ---------------------------------------------------------------------------------------------


def _stack(models: Sequence[MLP]) -> list[torch.Tensor]:
    """Stack MLPs of one depth/activation/input_dim into padded tensors.

    Returns [W_1, b_1, ..., W_depth, b_depth, W_out, b_out] with shapes (B, fan_in, H), (B, 1, H)
    for hidden layers and (B, H, 1), (B, 1, 1) for the output; H is the widest model's width.
    """
    first = models[0]
    for mdl in models:
        if (mdl.input_dim, mdl.depth, mdl.activation) != (first.input_dim, first.depth, first.activation):
            raise ValueError("models to stack must share input_dim, depth and activation")
    B, H = len(models), max(mdl.width for mdl in models)
    tensors = []
    for layer in range(first.depth):
        fan_in = first.input_dim if layer == 0 else H
        W = torch.zeros(B, fan_in, H)
        b = torch.zeros(B, 1, H)
        for i, mdl in enumerate(models):
            lin = mdl.hidden[layer]
            W[i, : lin.in_features, : mdl.width] = lin.weight.detach().T
            b[i, 0, : mdl.width] = lin.bias.detach()
        tensors += [W, b]
    W = torch.zeros(B, H, 1)
    b = torch.zeros(B, 1, 1)
    for i, mdl in enumerate(models):
        W[i, : mdl.width, 0] = mdl.out.weight.detach()[0]
        b[i, 0, 0] = mdl.out.bias.detach()[0]
    return tensors + [W, b]


def _unstack_into(tensors: Sequence[torch.Tensor], i: int, model: MLP) -> None:
    """Copy member ``i`` of stacked tensors back into ``model`` (dropping the padding)."""
    w = model.width
    with torch.no_grad():
        for layer in range(model.depth):
            W, b = tensors[2 * layer], tensors[2 * layer + 1]
            lin = model.hidden[layer]
            lin.weight.copy_(W[i, : lin.in_features, :w].T)
            lin.bias.copy_(b[i, 0, :w])
        model.out.weight.copy_(tensors[-2][i, :w, 0][None, :])
        model.out.bias.copy_(tensors[-1][i, 0, :1])


def _forward(tensors: Sequence[torch.Tensor], x: torch.Tensor, act) -> torch.Tensor:
    """Predictions (B, n) for inputs (B, n, d), or (n, d) shared by every member."""
    h = x
    for j in range(0, len(tensors) - 2, 2):
        h = act(torch.matmul(h, tensors[j]) + tensors[j + 1])
    return (torch.matmul(h, tensors[-2]) + tensors[-1]).squeeze(-1)


def _mse(tensors, x: torch.Tensor, y: torch.Tensor, act, rows_of=None) -> torch.Tensor:
    """Per-member MSE (B,). ``x`` (n, d) and ``y`` (n,) are shared by all members, or, with
    ``rows_of`` (B,) given, ``x`` (S, n, d) and ``y`` (S, n) and member i uses ``x[rows_of[i]]``.
    Evaluated in member chunks to bound memory."""
    B = tensors[0].shape[0]
    n, width = x.shape[-2], tensors[0].shape[-1]
    chunk = max(1, _EVAL_BUDGET // max(1, n * width))
    out = torch.empty(B)
    with torch.no_grad():
        for lo in range(0, B, chunk):
            part = [t[lo : lo + chunk] for t in tensors]
            if rows_of is None:
                xs, ys = x, y
            else:
                xs, ys = x[rows_of[lo : lo + chunk]], y[rows_of[lo : lo + chunk]]
            out[lo : lo + chunk] = ((_forward(part, xs, act) - ys) ** 2).mean(-1)
    return out


@dataclass
class _StackedRun:
    best: list[torch.Tensor]
    best_val: torch.Tensor  # (B,)
    best_step: torch.Tensor  # (B,) int
    steps_run: int


def _train_stacked(
    tensors: list[torch.Tensor],
    activation: str,
    X: torch.Tensor,  # (S, N, d) data per data-stream
    y: torch.Tensor,  # (S, N)
    rows_of: torch.Tensor,  # (B,) which data stream each member trains on
    train_start: int,  # training rows are X[s, train_start : train_start + m]
    m: torch.Tensor,  # (B,) training-set size of each member
    X_val: torch.Tensor,  # (S, V, d)
    y_val: torch.Tensor,  # (S, V)
    seeds: Sequence[int],  # (B,) minibatch-stream seed of each member
    *,
    steps: int,
    lr: float,
    batch_size: int,
    eval_every: int,
    patience: int | None,
    on_eval: Callable[[int], None] | None = None,
) -> _StackedRun:
    """Adam on every member at once, keeping each member's best-validation weights.

    Members that early-stop are dropped from the stack (with their Adam state) once a quarter
    of the stack has stopped, so the survivors' steps get cheaper; Adam is elementwise, so
    dropping members changes nothing for the others.
    """
    act = ACTIVATIONS[activation]()
    B = len(seeds)
    bs = batch_size
    gens = [torch.Generator().manual_seed(int(s)) for s in seeds]

    best = [t.clone() for t in tensors]
    best_val = _mse(tensors, X_val, y_val, act, rows_of)  # step 0: the untrained network
    best_step = torch.zeros(B, dtype=torch.long)
    since_best = torch.zeros(B, dtype=torch.long)
    active = torch.ones(B, dtype=torch.bool)

    alive = torch.arange(B)  # global indices of the members still in the stack
    params = [t.clone().requires_grad_(True) for t in tensors]
    opt = torch.optim.Adam(params, lr=lr)

    def per_member(idx: torch.Tensor):
        # Members with m <= batch_size train full-batch on rows 0..m-1, padded to batch_size
        # with zero weight; the others draw batch_size rows with replacement from their stream.
        m_a = m[idx]
        small = m_a <= bs
        fixed = torch.arange(bs)[None, :] % m_a[:, None]
        weight = torch.where(small[:, None], (torch.arange(bs)[None, :] < m_a[:, None]).float(), 1.0)
        return m_a, small, fixed, weight / weight.sum(1, keepdim=True), rows_of[idx]

    m_a, small, fixed_idx, weight, rows_a = per_member(alive)
    step = 0
    drawn = torch.empty(0)
    for step in range(1, steps + 1):
        j = (step - 1) % _INDEX_CHUNK
        if j == 0:
            n_chunk = min(_INDEX_CHUNK, steps - step + 1)
            drawn = torch.stack([
                torch.zeros(n_chunk, bs, dtype=torch.long) if si
                else torch.randint(mi, (n_chunk, bs), generator=gens[g])
                for mi, si, g in zip(m_a.tolist(), small.tolist(), alive.tolist())
            ])  # (B_alive, n_chunk, bs)
        idx = torch.where(small[:, None], fixed_idx, drawn[:, j])
        xb = X[rows_a[:, None], train_start + idx]  # (B_alive, bs, d)
        yb = y[rows_a[:, None], train_start + idx]  # (B_alive, bs)
        loss = ((((_forward(params, xb, act) - yb) ** 2) * weight).sum(1)).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

        if step % eval_every == 0 or step == steps:
            if on_eval is not None:
                on_eval(step)
            val = _mse(params, X_val, y_val, act, rows_a)
            improved = (val < best_val[alive]) & active[alive]
            if improved.any():
                winners = alive[improved]
                for b_t, p in zip(best, params):
                    b_t[winners] = p.detach()[improved]
                best_val[winners] = val[improved]
                best_step[winners] = step
            since_best[alive] = torch.where(improved, 0, since_best[alive] + 1)
            if patience is not None:
                active[alive] &= since_best[alive] < patience
                keep = active[alive]
                if not keep.any():
                    break
                if keep.float().mean() < 0.75:
                    params, opt = _compact(params, opt, keep, lr)
                    alive = alive[keep]
                    drawn = drawn[keep]
                    m_a, small, fixed_idx, weight, rows_a = per_member(alive)
    return _StackedRun(best=best, best_val=best_val, best_step=best_step, steps_run=step)


def _compact(params, opt, keep: torch.Tensor, lr: float):
    """New leaf tensors and Adam holding only the ``keep`` members, state carried over."""
    new_params = [p.detach()[keep].clone().requires_grad_(True) for p in params]
    new_opt = torch.optim.Adam(new_params, lr=lr)
    for old, new in zip(params, new_params):
        state = opt.state.get(old)
        if state:
            new_opt.state[new] = {
                "step": state["step"].clone(),
                "exp_avg": state["exp_avg"][keep].clone(),
                "exp_avg_sq": state["exp_avg_sq"][keep].clone(),
            }
    return new_params, new_opt


def _check_training_args(steps, lr, batch_size, eval_every, patience):
    steps = positive_int("steps", steps)
    lr = positive_scalar("lr", lr)
    batch_size = positive_int("batch_size", batch_size)
    eval_every = positive_int("eval_every", eval_every)
    if patience is not None:
        patience = positive_int("patience", patience)
    return steps, lr, batch_size, eval_every, patience


# ---------------------------------------------------------------------------------------------
# One model
# ---------------------------------------------------------------------------------------------


@dataclass
class TrainResult:
    """A trained regressor at its best validation step.

    model : the MLP, its weights set to the best-validation snapshot (trained in place).
    val_error : validation MSE of that snapshot (label units squared).
    best_step : optimizer step of the snapshot (0 = the untrained network).
    steps_run : steps taken before early stopping (or ``steps``).
    """

    model: MLP
    val_error: float
    best_step: int
    steps_run: int


def _as_xy(name_x: str, x: Any, name_y: str, y: Any, input_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    xt = torch.as_tensor(x, dtype=torch.float32)
    yt = torch.as_tensor(y, dtype=torch.float32)
    if xt.ndim != 2 or xt.shape[1] != input_dim:
        raise ValueError(f"{name_x} must have shape (n, {input_dim}), got {tuple(xt.shape)}")
    if yt.ndim != 1 or yt.shape[0] != xt.shape[0]:
        raise ValueError(f"{name_y} must have shape ({xt.shape[0]},) to match {name_x}, got {tuple(yt.shape)}")
    if xt.shape[0] == 0:
        raise ValueError(f"{name_x} is empty")
    for name, t in ((name_x, xt), (name_y, yt)):
        if not torch.isfinite(t).all():
            raise ValueError(f"{name} contains NaN or infinite values")
    return xt, yt


def train_regressor(
    model: MLP,
    X_train: Any,
    y_train: Any,
    X_val: Any,
    y_val: Any,
    *,
    steps: int = 2000,
    lr: float = 3e-3,
    batch_size: int = 256,
    eval_every: int = 20,
    patience: int | None = 20,
    seed: int = 0,
    num_threads: int | None = 1,
) -> TrainResult:
    """Train ``model`` with Adam on MSE, early-stopped on validation MSE.

    Parameters
    ----------
    model : MLP
        Trained in place; left holding the weights of its best validation step.
    X_train, y_train : shapes (m, input_dim) and (m,)
        Training examples. With m ≤ batch_size every step is full-batch; otherwise each step
        draws ``batch_size`` rows with replacement from a stream seeded by ``seed``.
    X_val, y_val : shapes (v, input_dim) and (v,)
        Validation examples, evaluated before training and every ``eval_every`` steps.
    steps : int
        Maximum optimizer steps.
    lr : float
        Adam learning rate.
    patience : int or None
        Stop after this many evaluations without a new best (None: run all ``steps``).
    seed : int
        Seeds the minibatch stream (the initialization is the model's own ``seed``).
    num_threads : int or None
        Torch intra-op threads while training (restored afterwards); None leaves the setting.

    Deterministic: the same model, data and seed give the same weights.
    """
    if not isinstance(model, MLP):
        raise ValueError(f"model must be a scalingbook MLP, got {type(model).__name__}")
    steps, lr, batch_size, eval_every, patience = _check_training_args(steps, lr, batch_size, eval_every, patience)
    seed = positive_int("seed", seed, minimum=0)
    Xt, yt = _as_xy("X_train", X_train, "y_train", y_train, model.input_dim)
    Xv, yv = _as_xy("X_val", X_val, "y_val", y_val, model.input_dim)
    if num_threads is not None:
        num_threads = positive_int("num_threads", num_threads)
    with _torch_threads(num_threads):
        run = _train_stacked(
            _stack([model]), model.activation, Xt[None], yt[None], torch.zeros(1, dtype=torch.long), 0,
            torch.tensor([Xt.shape[0]]), Xv[None], yv[None], [seed],
            steps=steps, lr=lr, batch_size=batch_size, eval_every=eval_every, patience=patience,
        )
    _unstack_into(run.best, 0, model)
    return TrainResult(model=model, val_error=float(run.best_val[0]), best_step=int(run.best_step[0]),
                       steps_run=run.steps_run)


# ---------------------------------------------------------------------------------------------
# Sweeps
# ---------------------------------------------------------------------------------------------


def _int_list(name: str, values: Any, minimum: int) -> list[int]:
    try:
        items = list(values)
    except TypeError:
        raise ValueError(f"{name} must be a sequence of integers, got {values!r}") from None
    if not items:
        raise ValueError(f"{name} is empty")
    out = [positive_int(f"{name}[{i}]", v, minimum=minimum) for i, v in enumerate(items)]
    if len(set(out)) != len(out):
        raise ValueError(f"{name} has repeated values: {out}")
    return out


def run_learning_curve(
    task: TeacherStudentTask | LinearTeacherTask,
    sizes: Sequence[int],
    seeds: Sequence[int],
    widths: Sequence[int],
    *,
    depth: int = 1,
    activation: str = "tanh",
    steps: int = 2000,
    lr: float = 3e-3,
    batch_size: int = 256,
    eval_every: int = 20,
    patience: int | None = 20,
    val_size: int = 1024,
    test_size: int = 16384,
    vectorize: bool = True,
    num_threads: int | None = 1,
    progress: bool = False,
) -> pd.DataFrame:
    """Train an MLP student for every (size, seed, width) and measure its errors.

    Parameters
    ----------
    task : a task from :mod:`scalingbook.data.teacher_student`
    sizes : training-set sizes m (examples), distinct positive integers.
    seeds : run seeds; each seeds the run's data (see the module docstring), the student's
        initialization and its minibatch stream.
    widths : hidden widths tried at every (size, seed).
    depth, activation : passed to :class:`~scalingbook.models.MLP`.
    steps, lr, batch_size, eval_every, patience : as in :func:`train_regressor`.
    val_size : validation examples per seed (early stopping and width selection).
    test_size : examples in the shared held-out test sample.
    vectorize : train all students at once (default) or one after another; same results up to
        float rounding, the loop is there to measure the speed-up.
    num_threads : torch intra-op threads during the sweep (restored afterwards); None leaves the
        caller's setting. 1 is fastest for these tiny models on a shared machine.
    progress : show a tqdm progress bar.

    Returns
    -------
    DataFrame, one row per (size, seed, width): ``m, seed, width, n_params, val_error,
    test_error, test_excess_error, best_step, train_time_s``. ``val_error`` and ``test_error``
    are MSE against noisy labels (label units squared), so their floor is
    ``task.irreducible_error``; ``test_excess_error`` is the MSE against the noise-free teacher
    on the same test inputs, an estimate of ``test_error - irreducible_error`` without the
    label-noise jitter (which would otherwise swamp it at large m). With ``vectorize`` the sweep trains as one batch and ``train_time_s`` is each
    row's equal share of that batch's wall time.
    """
    sizes = _int_list("sizes", sizes, 1)
    seeds = _int_list("seeds", seeds, 0)
    widths = _int_list("widths", widths, 1)
    depth = positive_int("depth", depth)
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(map(repr, ACTIVATIONS))}; got {activation!r}")
    steps, lr, batch_size, eval_every, patience = _check_training_args(steps, lr, batch_size, eval_every, patience)
    val_size = positive_int("val_size", val_size)
    test_size = positive_int("test_size", test_size)

    d = task.input_dim
    max_m = max(sizes)
    data = [task.sample(val_size + max_m, s) for s in seeds]
    X = torch.stack([x for x, _ in data])  # (S, val_size + max_m, d)
    y = torch.stack([t for _, t in data])
    X_val, y_val = X[:, :val_size], y[:, :val_size]
    X_test, y_test = task.test_sample(test_size)
    f_test = task.teacher(X_test)  # noise-free labels: the excess error without label-noise jitter

    runs = [(m, si, w) for m in sizes for si in range(len(seeds)) for w in widths]
    models = [MLP(d, w, depth=depth, activation=activation, seed=seeds[si]) for _, si, w in runs]
    act = ACTIVATIONS[activation]()
    train_kwargs = dict(steps=steps, lr=lr, batch_size=batch_size, eval_every=eval_every, patience=patience)

    if num_threads is not None:
        num_threads = positive_int("num_threads", num_threads)
    records = []
    with _torch_threads(num_threads):
        if vectorize:
            bar = _progress_bar(steps, progress, f"training {len(runs)} students at once (steps)")
            t0 = time.perf_counter()
            run = _train_stacked(
                _stack(models), activation, X, y, torch.tensor([si for _, si, _ in runs]), val_size,
                torch.tensor([m for m, _, _ in runs]), X_val, y_val, [seeds[si] for _, si, _ in runs],
                on_eval=lambda step: bar.update(step - bar.n), **train_kwargs,
            )
            test = _mse(run.best, X_test, y_test, act)
            excess = _mse(run.best, X_test, f_test, act)
            share = (time.perf_counter() - t0) / len(runs)
            bar.close()
            for i, (m, si, w) in enumerate(runs):
                records.append((m, seeds[si], w, models[i].n_params, float(run.best_val[i]), float(test[i]),
                                float(excess[i]), int(run.best_step[i]), share))
        else:
            bar = _progress_bar(len(runs), progress, "training students one by one")
            for i, (m, si, w) in enumerate(runs):
                t0 = time.perf_counter()
                res = train_regressor(models[i], X[si, val_size : val_size + m], y[si, val_size : val_size + m],
                                      X_val[si], y_val[si], seed=seeds[si], num_threads=None, **train_kwargs)
                with torch.no_grad():
                    pred = res.model(X_test)
                    test = float(((pred - y_test) ** 2).mean())
                    excess = float(((pred - f_test) ** 2).mean())
                records.append((m, seeds[si], w, models[i].n_params, res.val_error, test, excess, res.best_step,
                                time.perf_counter() - t0))
                bar.update(1)
            bar.close()

    return pd.DataFrame.from_records(
        records,
        columns=["m", "seed", "width", "n_params", "val_error", "test_error", "test_excess_error", "best_step",
                 "train_time_s"],
    )


def _progress_bar(total: int, enabled: bool, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not enabled, desc=desc)


def best_by_validation(df: pd.DataFrame) -> pd.DataFrame:
    """Hestness's model selection: for each (m, seed), the row whose width has the lowest
    validation error (ties go to the smaller model). One row per (m, seed), sorted by m, seed.
    """
    needed = {"m", "seed", "width", "val_error"}
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    missing = needed - set(df.columns)
    if missing:
        raise ValueError(f"df is missing columns {sorted(missing)}")
    if df.empty:
        raise ValueError("df is empty")
    if df["val_error"].isna().any():
        raise ValueError("df has NaN in val_error")
    ordered = df.sort_values(["m", "seed", "val_error", "width"], kind="mergesort")
    return ordered.groupby(["m", "seed"], sort=True).head(1).reset_index(drop=True)


def run_ols_learning_curve(
    task: LinearTeacherTask | TeacherStudentTask,
    sizes: Sequence[int],
    seeds: Sequence[int],
    test_size: int = 16384,
) -> pd.DataFrame:
    """Closed-form ordinary least squares (no intercept) at every (size, seed).

    Uses the run's training rows exactly as :func:`run_learning_curve` does (rows after the
    first ``val_size = 0``: the first m rows of ``task.sample(max(sizes), seed)``). Every size
    must exceed ``input_dim + 1`` so the expected risk is finite.

    Returns a DataFrame with ``m, seed, n_params, test_error, test_excess_error,
    expected_test_error``: the test-sample MSE against noisy and against noise-free labels (as in
    :func:`run_learning_curve`), and :meth:`LinearTeacherTask.ols_expected_test_error` for a
    linear task (NaN otherwise: no closed form for a nonlinear teacher).
    """
    sizes = _int_list("sizes", sizes, 1)
    seeds = _int_list("seeds", seeds, 0)
    test_size = positive_int("test_size", test_size)
    d = task.input_dim
    if min(sizes) <= d + 1:
        raise ValueError(f"sizes must all exceed input_dim + 1 = {d + 1} for OLS, got {min(sizes)}")
    X_test, y_test = (t.double() for t in task.test_sample(test_size))
    f_test = task.teacher(X_test).double()
    records = []
    for s in seeds:
        X, y = (t.double() for t in task.sample(max(sizes), s))
        for m in sizes:
            w = torch.linalg.lstsq(X[:m], y[:m, None]).solution[:, 0]
            pred = X_test @ w
            test = float(((pred - y_test) ** 2).mean())
            excess = float(((pred - f_test) ** 2).mean())
            expected = task.ols_expected_test_error(m) if isinstance(task, LinearTeacherTask) else float("nan")
            records.append((m, s, d, test, excess, expected))
    return pd.DataFrame.from_records(
        records, columns=["m", "seed", "n_params", "test_error", "test_excess_error", "expected_test_error"]
    )


# ---------------------------------------------------------------------------------------------
# Presets the chapter imports
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LearningCurvePreset:
    """One named, measured configuration of the chapter-1 experiment.

    Task: ``TeacherStudentTask(input_dim, teacher_width, noise_std, task_seed)``; its linear
    control ``LinearTeacherTask(input_dim, noise_std, task_seed)`` runs OLS at ``ols_sizes`` for
    ``ols_seeds`` (closed form, so many seeds are cheap).
    Sizes are powers of two (a geometric series). What a preset gives is computed by the chapter
    that runs it, not stored here.
    """

    name: str
    input_dim: int
    teacher_width: int
    noise_std: float
    task_seed: int
    sizes: tuple[int, ...]
    seeds: tuple[int, ...]
    widths: tuple[int, ...]
    steps: int
    lr: float
    batch_size: int
    eval_every: int
    patience: int | None
    val_size: int
    test_size: int
    ols_sizes: tuple[int, ...]
    ols_seeds: tuple[int, ...]
    depth: int = 1
    activation: str = "tanh"
    weight_scale: float = 1.0

    def task(self) -> TeacherStudentTask:
        return TeacherStudentTask(input_dim=self.input_dim, teacher_width=self.teacher_width,
                                  noise_std=self.noise_std, seed=self.task_seed,
                                  weight_scale=self.weight_scale)

    def linear_task(self) -> LinearTeacherTask:
        return LinearTeacherTask(input_dim=self.input_dim, noise_std=self.noise_std, seed=self.task_seed)


def run_preset(preset: LearningCurvePreset, *, progress: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run a preset's MLP sweep and OLS control: returns ``(mlp_runs, ols_runs)`` DataFrames."""
    if not isinstance(preset, LearningCurvePreset):
        raise ValueError(f"preset must be a LearningCurvePreset, got {type(preset).__name__}")
    mlp = run_learning_curve(
        preset.task(), preset.sizes, preset.seeds, preset.widths, depth=preset.depth,
        activation=preset.activation, steps=preset.steps, lr=preset.lr, batch_size=preset.batch_size,
        eval_every=preset.eval_every, patience=preset.patience, val_size=preset.val_size,
        test_size=preset.test_size, progress=progress,
    )
    ols = run_ols_learning_curve(preset.linear_task(), preset.ols_sizes, preset.ols_seeds, preset.test_size)
    return mlp, ols



# Task shared by both presets: 32 saturated tanh units (pre-activation scale 3) on 8 Gaussian
# inputs, label noise sigma = 0.1, so the best-guess error is 1.01 and the floor 0.01. Saturated
# units are sharp features that take more and more data to resolve, so the error keeps falling
# over two decades of m before it meets the floor (a teacher at scale 1 is mostly linear and is
# learned in one sharp drop). Students are wide enough (16 to 128 units) to represent it.
_TASK = dict(input_dim=8, teacher_width=32, noise_std=0.1, task_seed=0, weight_scale=3.0)
_TRAINING = dict(lr=3e-3, batch_size=256, eval_every=20, patience=20, val_size=1024, test_size=16384)

HESTNESS_QUICK = LearningCurvePreset(
    name="quick",
    **_TASK,
    sizes=tuple(2**k for k in range(0, 13)),  # 1 .. 4096 examples
    seeds=(0, 1, 2), widths=(16, 64),
    steps=2500,
    **_TRAINING,
    ols_sizes=tuple(2**k for k in range(4, 16)),  # 16 .. 32768 (> input_dim + 1)
    ols_seeds=tuple(range(10)),
)

HESTNESS_FULL = LearningCurvePreset(
    name="full",
    **_TASK,
    sizes=tuple(2**k for k in range(0, 14)),  # 1 .. 8192 examples
    seeds=(0, 1, 2, 3, 4, 5), widths=(8, 16, 32, 64, 128),
    steps=3000,
    **_TRAINING,
    ols_sizes=tuple(2**k for k in range(4, 16)),
    ols_seeds=tuple(range(40)),
)
