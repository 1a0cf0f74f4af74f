"""Tests for scalingbook.train.sweep: process-pool and Dask sweeps, resuming from files, and
failures that are reported without losing the other runs."""

import concurrent.futures
import dataclasses
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from scalingbook.models.transformer import TransformerConfig
from scalingbook.train.lm import RunConfig, load_records, records_path
from scalingbook.train.sweep import RunFailure, SweepResult, sweep

MODEL = TransformerConfig(vocab_size=16, d_model=16, n_layers=1, n_heads=2, context=32)
BASE = RunConfig(MODEL, order=1, seq_len=32, batch_size=8, steps=12, eval_every=6, lr=1e-2,
                 warmup_steps=2, eval_tokens=512)
GOOD = [BASE, dataclasses.replace(BASE, seed=1),
        dataclasses.replace(BASE, model=dataclasses.replace(MODEL, d_model=32))]
# Valid as a config, but every probability but the likeliest underflows when the run builds its
# source: MarkovSource raises ValueError inside the worker.
BAD = dataclasses.replace(BASE, zipf_exponent=400.0, name="underflow")


def no_wall_time(records: pd.DataFrame) -> pd.DataFrame:
    return records.drop(columns="wall_time")


class RefusingExecutor:
    """An executor that fails the test if anything is submitted to it."""

    def submit(self, fn, *args, **kwargs):
        raise AssertionError(f"submitted {args[0].run_id}: a finished run would be retrained")


@pytest.fixture(scope="module")
def pool_sweep(tmp_path_factory):
    """The three good runs and the bad one through the default executor (spawned processes).

    One pool for all four: starting a spawned worker (importing torch) costs seconds.
    """
    out = tmp_path_factory.mktemp("pool")
    return out, sweep(GOOD + [BAD], out_dir=out, progress=False)


def test_process_pool_sweep_trains_every_good_run(pool_sweep):
    out, result = pool_sweep
    assert isinstance(result, SweepResult)
    assert result.skipped == []
    assert sorted(result.trained) == sorted(c.run_id for c in GOOD)
    # records come in the order of the configs, whatever order the runs finished in
    assert result.records["run_id"].unique().tolist() == [c.run_id for c in GOOD]
    assert result.records["step"].tolist() == [6, 12] * 3
    for cfg in GOOD:
        assert records_path(cfg, out).is_file()
    assert not records_path(BAD, out).exists()
    assert not [p for p in out.iterdir() if p.suffix == ".tmp"]


def test_failed_run_is_reported_with_config_and_traceback(pool_sweep):
    _, result = pool_sweep
    assert len(result.failures) == 1
    failure = result.failures[0]
    assert isinstance(failure, RunFailure)
    config, error, tb = failure  # also a plain (config, error, traceback) tuple
    assert config == BAD
    assert isinstance(error, ValueError) and "underflow" in str(error)
    assert "markov.py" in tb and "train_run" in tb  # the worker's frames, not just ours
    with pytest.raises(RuntimeError, match=BAD.run_id):
        result.raise_if_failed()
    SweepResult(result.records).raise_if_failed()  # no failures: nothing raised


def test_second_sweep_resumes_without_retraining(pool_sweep):
    out, first = pool_sweep
    again = sweep(GOOD, RefusingExecutor(), out_dir=out, progress=False)
    assert again.skipped == [c.run_id for c in GOOD]
    assert again.trained == [] and again.failures == []
    pd.testing.assert_frame_equal(again.records, first.records)


def test_failed_runs_are_retried_and_repeats_run_once(pool_sweep, tmp_path):
    out, _ = pool_sweep
    for cfg in GOOD:
        shutil.copy(records_path(cfg, out), tmp_path)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        result = sweep([BAD, GOOD[0], BAD], pool, out_dir=tmp_path, progress=False)
    assert [f.config for f in result.failures] == [BAD]  # not written, so tried again, once
    assert result.skipped == [GOOD[0].run_id]


def test_a_sweep_says_when_its_runs_mix_instruction_sets(monkeypatch, tmp_path):
    """Workers on machines with other CPU kernels: the sweep warns rather than mix silently."""
    from scalingbook.train import lm

    real = lm.execution_context

    def elsewhere_for_seed_1(num_threads=None):  # the worker of GOOD[1] has other kernels
        here = real(num_threads)
        return {**here, "cpu_capability": "other_isa"} if lm.torch.initial_seed() == 1 else here

    monkeypatch.setattr(lm, "execution_context", elsewhere_for_seed_1)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        with pytest.warns(UserWarning, match="different CPU instruction sets"):
            result = sweep(GOOD[:2], pool, out_dir=tmp_path, progress=False)
    assert sorted(result.records["cpu_capability"].unique())[-1] == "other_isa"
    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # one instruction set: no warning
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("error")
            sweep([GOOD[0]], pool, out_dir=tmp_path / "one", progress=False)


def test_temp_file_of_a_crash_does_not_count_as_finished(pool_sweep, tmp_path):
    out, first = pool_sweep
    finished, crashed, truncated = GOOD
    shutil.copy(records_path(finished, out), tmp_path)
    text = records_path(crashed, out).read_text()
    # what an interrupted atomic write leaves: a temp file beside the results, never the result
    (tmp_path / f".{crashed.run_id}.x1y2z3.tmp").write_text(text[: len(text) // 2])
    # and a results file cut short (not one this package writes, but it must not be trusted)
    records_path(truncated, tmp_path).write_text(records_path(truncated, out).read_text()[:-30])
    assert load_records(crashed, tmp_path) is None and load_records(truncated, tmp_path) is None

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        result = sweep(GOOD, pool, out_dir=tmp_path, progress=False)
    assert result.skipped == [finished.run_id]
    assert sorted(result.trained) == sorted([crashed.run_id, truncated.run_id])
    # retrained in this process, the same numbers as in the pool's worker processes
    pd.testing.assert_frame_equal(no_wall_time(result.records), no_wall_time(first.records))
    for cfg in GOOD:
        assert load_records(cfg, tmp_path) is not None


def test_sweep_refuses_what_is_not_a_config(tmp_path):
    with pytest.raises(ValueError, match=r"configs\[1\]"):
        sweep([BASE, {"lr": 1e-3}], out_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match="max_workers"):
        sweep([BASE], out_dir=tmp_path, max_workers=0, progress=False)


def test_dask_local_cluster_gives_the_same_records(pool_sweep, tmp_path):
    distributed = pytest.importorskip(
        "distributed", reason="Dask distributed is not installed (pip install -r requirements.txt)")
    _, first = pool_sweep
    configs = GOOD[:2] + [BAD]
    # the worker is a thread of this process (no second torch import), but scheduler, worker and
    # client talk over TCP on 127.0.0.1, as on a cluster (in-process comms ignore host)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  protocol="tcp", host="127.0.0.1",
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        result = sweep(configs, client, out_dir=tmp_path, progress=False)
    assert sorted(result.trained) == sorted(c.run_id for c in GOOD[:2])
    expected = first.records[first.records["run_id"].isin(result.trained)].reset_index(drop=True)
    pd.testing.assert_frame_equal(no_wall_time(result.records), no_wall_time(expected))
    [failure] = result.failures
    assert failure.config == BAD and isinstance(failure.error, ValueError)
    assert "underflow" in failure.traceback


def test_package_imports_without_dask():
    code = ("import sys; sys.modules['distributed'] = sys.modules['dask'] = None; "
            "import scalingbook.train.sweep, scalingbook.train.lm")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
