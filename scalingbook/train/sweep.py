"""Run many training configs through any ``concurrent.futures``-style executor, resumably.

    sweep(configs, executor, out_dir)
      1. configs whose out_dir/<run_id>.csv holds a finished run: read back, not retrained
      2. the rest: executor.submit(train_run, config, out_dir=..., num_threads=...)
      3. results as they finish; a run that raises becomes a RunFailure, the others go on
      -> SweepResult(records, failures, skipped, trained)

An executor is anything with ``submit(fn, *args, **kwargs)`` returning a future with
``result()``: a :class:`concurrent.futures.ProcessPoolExecutor` (the default), a
``ThreadPoolExecutor``, or a Dask ``distributed.Client`` for a cluster (Dask is imported only
when its futures are met, so the package works without it). With a cluster, ``out_dir`` should
be a directory every worker can write (a shared filesystem): workers write each file the moment
its run finishes. If it is not shared, the sweep still writes every returned run's file on the
submitting machine, so resuming works either way; only a crash of the submitting process before
a result arrives loses that run.

Resuming is by file: a run's file is written atomically when it finishes (see
:mod:`scalingbook.train.lm`), so an interrupted sweep called again with the same configs skips
what finished and redoes only what did not.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import traceback
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd

from scalingbook._validate import positive_int
from scalingbook.train.lm import (
    RunConfig,
    _write_atomic,
    load_records,
    records_path,
    train_run,
)

__all__ = ["RunFailure", "SweepResult", "sweep"]


class RunFailure(NamedTuple):
    """A run that raised: its config, the exception, and the formatted traceback (text).

    With a process pool the traceback includes the worker's own (as the exception's cause);
    with Dask, the remote frames that Dask sends back.
    """

    config: RunConfig
    error: BaseException
    traceback: str


@dataclass
class SweepResult:
    """What a sweep produced.

    Attributes
    ----------
    records : pandas.DataFrame
        The records of every finished run, resumed ones included, concatenated in the order of
        the configs (one row per checkpoint; columns as in :func:`~scalingbook.train.lm.train_run`).
        Empty (no columns) if no run finished.
    failures : list of RunFailure
        Runs that raised, as ``(config, error, traceback)``.
    skipped : list of str
        run_ids found finished in ``out_dir`` and not retrained.
    trained : list of str
        run_ids trained by this call.
    """

    records: pd.DataFrame
    failures: list[RunFailure] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    trained: list[str] = field(default_factory=list)

    def raise_if_failed(self) -> None:
        """Raise ``RuntimeError`` naming every failed run (with the first one's traceback)."""
        if not self.failures:
            return
        names = ", ".join(f"{f.config.run_id} ({type(f.error).__name__}: {f.error})"
                          for f in self.failures)
        raise RuntimeError(f"{len(self.failures)} run(s) failed: {names}\n\nfirst traceback:\n"
                           f"{self.failures[0].traceback}") from self.failures[0].error


def _as_completed(futures: list[Any]) -> Iterator[Any]:
    """Yield futures as they finish: concurrent.futures' and Dask's natively, others in order."""
    if all(isinstance(f, concurrent.futures.Future) for f in futures):
        yield from concurrent.futures.as_completed(futures)
    elif futures and type(futures[0]).__module__.startswith("distributed"):
        from distributed import (
            as_completed,  # only here: Dask is an optional dependency
        )

        yield from as_completed(futures)
    else:  # an executor of another kind: wait in submission order
        yield from futures


def _format(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def sweep(configs: Iterable[RunConfig], executor: Any = None, *, out_dir: str | os.PathLike,
          progress: bool = True, max_workers: int = 1,
          num_threads: int | None = 1) -> SweepResult:
    """Train every config not already finished in ``out_dir``, through ``executor``.

    Parameters
    ----------
    configs : iterable of RunConfig
        Runs to do; repeats (same run_id) run once.
    executor : object with ``submit``, or None
        Where runs execute: a ``concurrent.futures`` executor or a ``distributed.Client``. The
        sweep does not shut down an executor it is given. None makes a
        ``ProcessPoolExecutor`` of ``max_workers`` spawned processes for this call (spawn, not
        fork: a forked copy of a process that has run torch's thread pools can deadlock).
    out_dir : path
        Results directory, one ``<run_id>.csv`` per finished run (created if missing).
    progress : bool
        Show a tqdm bar over runs (finished ones count from the start).
    max_workers : int
        Processes of the default executor. 1 by default: on the book's 2-core machines another
        job (the test suite's second worker, a notebook kernel) usually holds the other core,
        and two training processes on one core take longer than one after the other (measured
        with another job running: four 4-second runs took 22 s with 1 worker, 27 s with 2). On
        an idle machine, use one worker per core (each run uses ``num_threads`` threads).
    num_threads : int or None
        torch threads per run, passed to :func:`~scalingbook.train.lm.train_run`.

    Returns
    -------
    SweepResult
        A run that raised is in ``failures`` with its traceback; the others' records are kept
        and written. Call :meth:`SweepResult.raise_if_failed` to turn failures into an error.
    """
    configs = list(configs)
    for i, cfg in enumerate(configs):
        if not isinstance(cfg, RunConfig):
            raise ValueError(f"configs[{i}] must be a RunConfig, got {type(cfg).__name__}")
    max_workers = positive_int("max_workers", max_workers)
    if num_threads is not None:
        num_threads = positive_int("num_threads", num_threads)
    out_dir = Path(out_dir).absolute()  # workers may run in another directory
    out_dir.mkdir(parents=True, exist_ok=True)

    unique = list({cfg.run_id: cfg for cfg in configs}.values())
    finished: dict[str, pd.DataFrame] = {}
    for cfg in unique:
        done = load_records(cfg, out_dir, num_threads=num_threads)
        if done is not None:
            finished[cfg.run_id] = done
    skipped = list(finished)
    pending = [cfg for cfg in unique if cfg.run_id not in finished]

    from tqdm.auto import tqdm

    failures: list[RunFailure] = []
    trained: list[str] = []
    own = executor is None and bool(pending)
    if own:
        executor = concurrent.futures.ProcessPoolExecutor(
            max_workers=min(max_workers, len(pending)),
            mp_context=multiprocessing.get_context("spawn"))
    bar = tqdm(total=len(unique), initial=len(skipped), disable=not progress, desc="runs")
    interrupted = True
    try:
        futures = {}
        for cfg in pending:
            fut = executor.submit(train_run, cfg, out_dir=str(out_dir), num_threads=num_threads)
            futures[fut] = cfg
        for fut in _as_completed(list(futures)):
            cfg = futures[fut]
            try:
                records = fut.result()
            except Exception as exc:  # the run's failure, not the sweep's: record it, go on
                failures.append(RunFailure(cfg, exc, _format(exc)))
                bar.set_postfix(failed=len(failures))
            else:
                if not records_path(cfg, out_dir).is_file():  # out_dir not shared with workers
                    _write_atomic(records, records_path(cfg, out_dir))
                finished[cfg.run_id] = records
                trained.append(cfg.run_id)
            bar.update(1)
        interrupted = False
    finally:
        bar.close()
        if own:  # on an interrupt, drop queued runs; finished ones are already on disk
            executor.shutdown(wait=not interrupted, cancel_futures=interrupted)

    ordered = [finished[cfg.run_id] for cfg in unique if cfg.run_id in finished]
    records = pd.concat(ordered, ignore_index=True) if ordered else pd.DataFrame()
    if ordered and records["cpu_capability"].nunique() > 1:
        # Workers on machines with other CPU kernels: their numbers agree only within noise.
        counts = records.groupby("cpu_capability")["run_id"].nunique().to_dict()
        warnings.warn(f"sweep: runs were trained with different CPU instruction sets {counts}; "
                      "their records agree only within cross-machine noise", stacklevel=2)
    return SweepResult(records, failures, skipped, trained)
