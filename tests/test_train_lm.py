"""Tests for scalingbook.train.lm: config validation, the schedule, determinism, learning,
the FLOPs and token columns, and atomic, resumable results files."""

import dataclasses
import math

import pandas as pd
import pytest
import torch

from scalingbook.models.transformer import (
    TransformerConfig,
    transformer_flops_per_token,
    transformer_param_count,
)
from scalingbook.train import lm
from scalingbook.train.lm import (
    RunConfig,
    load_records,
    records_path,
    scheduled_lr,
    train_run,
)

MODEL = TransformerConfig(vocab_size=16, d_model=32, n_layers=1, n_heads=2, context=32)


def tiny(**changes) -> RunConfig:
    """A run of a few hundred milliseconds: 40 steps of 8 x 32 tokens on a bigram source."""
    fields = dict(model=MODEL, order=1, seq_len=32, batch_size=8, steps=40, eval_every=10,
                  lr=1e-2, warmup_steps=4, eval_tokens=1024)
    fields.update(changes)
    return RunConfig(**fields)


@pytest.fixture(scope="module")
def run():
    return train_run(tiny())


# --- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize("changes, field", [
    (dict(lr=0.0), "lr"),
    (dict(lr=-1e-3), "lr"),
    (dict(vocab_size=32), "vocab_size"),
    (dict(schedule="exponential"), "schedule"),
    (dict(steps=None, tokens=0), "tokens"),
    (dict(steps=None, tokens=-256), "tokens"),
    (dict(steps=0), "steps"),
    (dict(steps=None), "tokens and steps"),
    (dict(tokens=1024), "tokens and steps"),
    (dict(batch_size=0), "batch_size"),
    (dict(seq_len=64), "seq_len"),
    (dict(warmup_steps=40), "warmup_steps"),
    (dict(warmup_steps=2, warmup_fraction=0.1), "warmup_fraction"),
    (dict(warmup_steps=0, warmup_fraction=1.0), "warmup_fraction"),
    (dict(min_lr_ratio=1.5), "min_lr_ratio"),
    (dict(grad_clip=0.0), "grad_clip"),
    (dict(betas=(0.9, 1.0)), "betas"),
    (dict(eval_every=0), "eval_every"),
    (dict(eval_tokens=0), "eval_tokens"),
    (dict(seed=-1), "seed"),
    (dict(order=9), "order"),
    (dict(name="a/b"), "name"),
    (dict(model="transformer"), "model"),
])
def test_invalid_run_config_names_the_field(changes, field):
    with pytest.raises(ValueError, match=field):
        tiny(**changes)


@pytest.mark.parametrize("model_changes, field", [
    (dict(n_heads=3), "n_heads"),  # 3 does not divide d_model = 32
    (dict(activation="tanh"), "activation"),
    (dict(d_model=0), "d_model"),
])
def test_invalid_model_fails_before_training(monkeypatch, model_changes, field):
    def no_training(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(lm, "_train", no_training)
    with pytest.raises(ValueError, match=field):
        train_run(tiny(model=dataclasses.replace(MODEL, **model_changes)))


def test_train_run_refuses_a_non_config():
    with pytest.raises(ValueError, match="config"):
        train_run({"lr": 1e-3})


def test_budget_in_tokens_rounds_up_to_whole_steps():
    cfg = tiny(steps=None, tokens=1000, warmup_steps=0)  # 256 tokens per step
    assert cfg.n_steps == 4
    assert tiny(steps=None, tokens=1024, warmup_steps=0).n_steps == 4
    assert tiny(eval_every=15).checkpoints == [15, 30, 40]
    assert tiny(eval_every=None).checkpoints == [40]
    assert tiny(steps=100, warmup_steps=0, warmup_fraction=0.1).n_warmup_steps == 10


def test_run_id_is_a_stable_function_of_the_fields():
    cfg = tiny()
    assert tiny().run_id == cfg.run_id
    assert tiny(lr=1, min_lr_ratio=0).run_id == tiny(lr=1.0, min_lr_ratio=0.0).run_id
    assert tiny(vocab_size=16).run_id == cfg.run_id  # the default resolves to the model's
    others = [tiny(seed=1), tiny(lr=2e-2), tiny(data_seed=1), tiny(betas=(0.9, 0.99)),
              tiny(model=dataclasses.replace(MODEL, d_model=16))]
    assert len({cfg.run_id} | {o.run_id for o in others}) == 1 + len(others)
    named = tiny(name="width-32")
    assert named.run_id.startswith("width-32-") and named.run_id.endswith(cfg.run_id)


# --- the schedule ---------------------------------------------------------------------------------


def test_schedule_follows_its_formulas():
    peak, r, warm, n = 1e-2, 0.1, 10, 100
    cfg = tiny(steps=n, warmup_steps=warm, lr=peak, min_lr_ratio=r)
    for s in range(warm):
        assert scheduled_lr(cfg, s) == pytest.approx(peak * (s + 1) / warm)
    for s in (10, 33, 54, 80, 99):
        p = (s - warm) / (n - 1 - warm)
        cosine = peak * (r + (1 - r) * (1 + math.cos(math.pi * p)) / 2)
        assert scheduled_lr(cfg, s) == pytest.approx(cosine)
        linear = tiny(steps=n, warmup_steps=warm, lr=peak, min_lr_ratio=r, schedule="linear")
        assert scheduled_lr(linear, s) == pytest.approx(peak * (r + (1 - r) * (1 - p)))
        constant = tiny(steps=n, warmup_steps=warm, lr=peak, schedule="constant")
        assert scheduled_lr(constant, s) == pytest.approx(peak)
    assert scheduled_lr(cfg, warm - 1) == pytest.approx(peak)
    assert scheduled_lr(cfg, n - 1) == pytest.approx(r * peak)  # ends exactly at min_lr_ratio
    with pytest.raises(ValueError, match="step"):
        scheduled_lr(cfg, n)


def test_recorded_lr_is_the_last_update_s(run):
    cfg = tiny()
    assert run["lr"].tolist() == [scheduled_lr(cfg, s - 1) for s in run["step"]]
    assert run["lr"].iloc[-1] == pytest.approx(cfg.min_lr_ratio * cfg.lr)


# --- determinism ----------------------------------------------------------------------------------


def test_same_config_same_records_and_no_global_rng_leak(run):
    torch.manual_seed(1234)
    expected_draw = torch.rand(3)
    torch.manual_seed(1234)
    again = train_run(tiny())
    assert torch.equal(torch.rand(3), expected_draw)  # the caller's generator was not advanced
    pd.testing.assert_frame_equal(run.drop(columns="wall_time"), again.drop(columns="wall_time"))


def test_dropout_runs_are_deterministic_too():
    model = dataclasses.replace(MODEL, dropout=0.1)
    a = train_run(tiny(model=model, steps=10, eval_every=None))
    b = train_run(tiny(model=model, steps=10, eval_every=None))
    assert a["train_loss"].tolist() == b["train_loss"].tolist()


def test_different_seeds_differ(run):
    other = train_run(tiny(seed=1, steps=10))
    assert other["train_loss"].iloc[0] != run["train_loss"].iloc[0]
    assert other["eval_loss"].iloc[0] != run["eval_loss"].iloc[0]
    # the held-out text is the same for every seed: so is the true source's loss on it
    assert other["eval_source_nll"].iloc[0] == run["eval_source_nll"].iloc[0]


# --- what is recorded -----------------------------------------------------------------------------


def test_learning_happens(run):
    first, last = run["eval_loss"].iloc[0], run["eval_loss"].iloc[-1]
    floor = run["irreducible_loss"].iloc[-1]
    assert last < first - 0.05
    assert last > floor - 0.05  # nothing beats the source's entropy (up to held-out noise)
    assert last > run["eval_source_nll"].iloc[-1] - 0.05
    assert floor == pytest.approx(tiny().source().irreducible_loss(32))


def test_tokens_flops_and_params_columns(run):
    cfg = tiny()
    assert run["step"].tolist() == [10, 20, 30, 40]
    assert (run["tokens"] == run["step"] * cfg.batch_size * cfg.seq_len).all()
    per_token = transformer_flops_per_token(MODEL, 32, training=True)
    assert (run["flops_per_token"] == per_token).all()
    assert (run["flops"] == per_token * run["tokens"]).all()
    assert (run["params"] == transformer_param_count(MODEL)).all()
    assert (run["non_embedding_params"] == transformer_param_count(MODEL, embedding=False)).all()
    assert run["wall_time"].is_monotonic_increasing


def test_config_fields_are_flattened_into_every_row(run):
    assert (run["run_id"] == tiny().run_id).all()
    assert (run["peak_lr"] == 1e-2).all() and (run["budget_steps"] == 40).all()
    assert run["budget_tokens"].isna().all() and run["model_d_ff"].isna().all()
    assert (run["model_d_model"] == 32).all() and (run["model_activation"] == "gelu").all()
    assert (run["beta2"] == 0.95).all() and (run["schedule"] == "cosine").all()
    assert list(run.columns[:len(lm.RECORD_COLUMNS)]) == list(lm.RECORD_COLUMNS)


def test_progress_bar(capsys):
    train_run(tiny(steps=4, warmup_steps=0, eval_every=None), progress=True)
    assert "4/4" in capsys.readouterr().err


# --- results files --------------------------------------------------------------------------------


def test_finished_run_is_written_and_read_back_not_retrained(tmp_path, monkeypatch):
    cfg = tiny(steps=10, eval_every=5)
    records = train_run(cfg, out_dir=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{cfg.run_id}.csv"]  # no temp left
    pd.testing.assert_frame_equal(load_records(cfg, tmp_path), records)

    def no_training(*args, **kwargs):
        raise AssertionError("retrained a finished run")

    monkeypatch.setattr(lm, "_train", no_training)
    pd.testing.assert_frame_equal(train_run(cfg, out_dir=tmp_path), records)


def test_records_say_what_they_ran_with(run):
    import torch

    assert (run["torch_version"] == torch.__version__).all()
    assert (run["cpu_capability"] == torch.backends.cpu.get_cpu_capability().lower()).all()
    assert (run["num_threads"] == 1).all()  # train_run's default
    assert lm.execution_context(3)["num_threads"] == 3


def test_run_id_depends_on_the_instruction_set(monkeypatch):
    """Another CPU's kernels compute other numbers: its runs get other ids, not our cache."""
    cfg = tiny()
    before = cfg.run_id
    lm.code_fingerprint.cache_clear()
    monkeypatch.setattr(lm, "cpu_capability", lambda: "some_other_isa")
    try:
        assert cfg.run_id != before
    finally:
        monkeypatch.undo()
        lm.code_fingerprint.cache_clear()
    assert cfg.run_id == before


def test_a_file_trained_elsewhere_is_not_reused(tmp_path):
    """Records trained with another instruction set, torch or thread count are retrained."""
    cfg = tiny(steps=10, eval_every=5)
    path = records_path(cfg, tmp_path)
    train_run(cfg, out_dir=tmp_path)
    original = path.read_text()
    assert load_records(cfg, tmp_path, num_threads=1) is not None
    assert load_records(cfg, tmp_path, num_threads=2) is None  # another thread count
    assert load_records(cfg, tmp_path) is not None  # thread count not asked for
    here = lm.execution_context()["cpu_capability"]
    for column, value in (("cpu_capability", "some_other_isa"), ("torch_version", "0.0.0")):
        records = pd.read_csv(path, dtype=str, keep_default_na=False)
        current = records[column].iloc[0]
        records[column] = value
        records.to_csv(path, index=False)
        assert load_records(cfg, tmp_path) is None, column
        path.write_text(original)
        assert current == (here if column == "cpu_capability" else lm.torch.__version__)
    assert load_records(cfg, tmp_path) is not None


def test_incomplete_file_is_retrained(tmp_path):
    cfg = tiny(steps=10, eval_every=5)
    path = records_path(cfg, tmp_path)
    full = train_run(cfg, out_dir=tmp_path)
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-1]))  # the last checkpoint is missing
    assert load_records(cfg, tmp_path) is None
    path.write_text("".join(lines)[:-40])  # cut mid-row
    assert load_records(cfg, tmp_path) is None
    again = train_run(cfg, out_dir=tmp_path)
    pd.testing.assert_frame_equal(again.drop(columns="wall_time"), full.drop(columns="wall_time"))
    pd.testing.assert_frame_equal(load_records(cfg, tmp_path), again)


def test_crash_while_writing_leaves_no_file(tmp_path, monkeypatch):
    cfg = tiny(steps=4, warmup_steps=0, eval_every=None)

    def crash_midway(self, fh, **kwargs):
        fh.write("run_id,step\n")
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", crash_midway)
    with pytest.raises(OSError, match="disk full"):
        train_run(cfg, out_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []  # neither a partial result nor its temp file
    assert load_records(cfg, tmp_path) is None


def test_run_id_changes_when_the_code_changes(monkeypatch):
    """A rebuild reuses cached runs only while the training code, model and source are unchanged."""
    from scalingbook.train import lm

    cfg = tiny()
    before = cfg.run_id
    assert lm.code_fingerprint() == lm.code_fingerprint() and len(lm.code_fingerprint()) == 16
    monkeypatch.setattr(lm, "code_fingerprint", lambda *parts: "0" * 16)
    assert cfg.run_id != before


def test_fingerprint_covers_the_code_each_kind_of_run_depends_on(monkeypatch, tmp_path):
    """Editing the quantizers changes the ids of quantized runs only; editing the scan, those
    of Mamba runs only; editing the loop, everyone's."""
    from scalingbook.precision import QuantScheme

    runs = {"plain": tiny(), "quant": tiny(quant=QuantScheme.mxfp4()),
            "mamba": tiny(model=mamba_model(), seq_len=32)}
    before = {k: c.run_id for k, c in runs.items()}
    for name in ("precision", "kernels/scan", "models", "train", "data"):
        (tmp_path / name).mkdir(parents=True)
    real = lm._PACKAGE
    for group in lm._CODE_FILES.values():
        for pattern in group:
            for path in real.glob(pattern):
                dest = tmp_path / path.relative_to(real)
                dest.write_bytes(path.read_bytes())
    monkeypatch.setattr(lm, "_PACKAGE", tmp_path)
    lm.code_fingerprint.cache_clear()
    try:
        assert {k: c.run_id for k, c in runs.items()} == before  # same files, same ids
        (tmp_path / "precision" / "rounding.py").write_text("# edited\n", encoding="utf-8")
        lm.code_fingerprint.cache_clear()
        after = {k: c.run_id for k, c in runs.items()}
        assert after["quant"] != before["quant"]
        assert after["plain"] == before["plain"] and after["mamba"] == before["mamba"]
        (tmp_path / "kernels" / "scan" / "chunked.py").write_text("# edited\n", encoding="utf-8")
        lm.code_fingerprint.cache_clear()
        assert runs["mamba"].run_id != before["mamba"] and runs["plain"].run_id == before["plain"]
        (tmp_path / "train" / "lm.py").write_text("# edited\n", encoding="utf-8")
        lm.code_fingerprint.cache_clear()
        assert runs["plain"].run_id != before["plain"]
    finally:
        monkeypatch.undo()
        lm.code_fingerprint.cache_clear()
    with pytest.raises(ValueError, match="parts"):
        lm.code_fingerprint("gpu")


# --- model kinds, fake quantization, the results directory ------------------------------------

def mamba_model():
    from scalingbook.models.mamba import MambaConfig

    return MambaConfig(vocab_size=16, d_model=16, n_layers=1, d_state=4, scan_backend="chunked")


def test_a_mamba_run_learns_and_records_its_counts():
    from scalingbook.models.mamba import mamba_flops_per_token, mamba_param_count

    cfg = mamba_model()
    records = train_run(tiny(model=cfg, steps=60, seq_len=64))
    assert (records["model_kind"] == "mamba").all()
    assert records["params"].iloc[0] == mamba_param_count(cfg)
    assert records["non_embedding_params"].iloc[0] == mamba_param_count(cfg, include_embedding=False)
    assert records["flops_per_token"].iloc[0] == 3 * mamba_flops_per_token(cfg)["total"]
    assert records["model_d_state"].iloc[0] == 4
    # a uniform guess costs ln 16 = 2.77 nats; a bigram source is far more predictable
    assert records["eval_loss"].iloc[-1] < records["eval_loss"].iloc[0] < math.log(16) + 0.1
    again = train_run(tiny(model=cfg, steps=60, seq_len=64))
    pd.testing.assert_frame_equal(records.drop(columns="wall_time"), again.drop(columns="wall_time"))


def test_transformer_records_say_their_kind(run):
    assert (run["model_kind"] == "transformer").all()
    assert (run["quant"] == "").all()


def test_fake_quantized_run_swaps_the_block_linears_only():
    from scalingbook.precision import FakeQuantLinear, QuantScheme

    scheme = QuantScheme.mxfp4()
    config = tiny(quant=scheme, model=dataclasses.replace(MODEL, tie_embeddings=False))
    model = lm.build_model(config)
    kinds = {name: type(mod) for name, mod in model.named_modules()
             if isinstance(mod, torch.nn.Linear)}
    assert kinds["lm_head"] is torch.nn.Linear  # the head stays in float32
    assert all(k is FakeQuantLinear for name, k in kinds.items() if name != "lm_head")
    assert sum(k is FakeQuantLinear for k in kinds.values()) >= 4
    records = train_run(config)
    assert (records["quant"] == scheme.label).all()
    plain = train_run(dataclasses.replace(config, quant=None))
    # quantization changes the numbers, and the run ids differ
    assert records["run_id"].iloc[0] != plain["run_id"].iloc[0]
    assert not records["eval_loss"].equals(plain["eval_loss"])
    assert records["eval_loss"].iloc[-1] < records["eval_loss"].iloc[0]


def test_quant_must_be_a_scheme():
    with pytest.raises(ValueError, match="quant"):
        tiny(quant="mxfp4")


def test_model_must_be_a_known_config():
    with pytest.raises(ValueError, match="model"):
        tiny(model={"d_model": 32})


def test_results_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SCALINGBOOK_RESULTS", str(tmp_path))
    assert lm.results_dir("compute-optimal") == tmp_path / "compute-optimal"
    monkeypatch.delenv("SCALINGBOOK_RESULTS")
    assert lm.results_dir("x").parts[-4:] == (".cache", "scalingbook", "runs", "x")
    for bad in ("", "../up", "a/b", ".hidden", 3):
        with pytest.raises(ValueError, match="name"):
            lm.results_dir(bad)
