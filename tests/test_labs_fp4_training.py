"""The FP4 chapter's study helpers and lab: configs, paired gaps, ranking, and a short rerun."""

from __future__ import annotations

import pandas as pd
import pytest

from scalingbook.labs import FP4TrainingLab, run_fp4_experiment
from scalingbook.labs.fp4_training import (
    SCHEMES,
    FP4Setup,
    fp4_configs,
    fp4_sweep,
    paired_gap_curves,
    paired_gaps,
    rank_schemes,
)
from scalingbook.precision import QuantScheme

TINY = FP4Setup(d_model=32, steps=12, warmup_steps=2, eval_every=6, eval_tokens=512, batch_size=4)


def planted(gaps: dict[str, tuple[float, float]], floor: float = 2.0, base: float = 2.1) -> pd.DataFrame:
    """Records at two checkpoints: float32 ends at ``base`` (seed 1: +0.01), scheme s at
    float32's loss + gaps[s][seed]; the first checkpoint is 0.5 higher for everyone."""
    rows = []
    for scheme, per_seed in {"float32": (0.0, 0.0), **gaps}.items():
        for seed, gap in enumerate(per_seed):
            for step, extra in ((5, 0.5), (10, 0.0)):
                loss = base + 0.01 * seed + gap + extra
                rows.append(dict(scheme=scheme, seed=seed, step=step, tokens=step * 100,
                                 eval_loss=loss, irreducible_loss=floor))
    return pd.DataFrame(rows)


def test_setup_builds_the_scheme_configs():
    setup = FP4Setup()
    cfg = setup.config("NVFP4 +RHT SR", seed=3)
    assert cfg.quant == QuantScheme.nvfp4(hadamard=True, hadamard_block_size=16)
    assert cfg.seed == 3 and cfg.name == "fp4-nvfp4-rht-sr"
    assert cfg.model.d_model == 64 and cfg.n_steps == 300 and cfg.vocab_size == 32
    assert setup.config("float32").quant is None
    assert SCHEMES["Quartet"].forward_quantizer == "quest"
    configs = fp4_configs(setup, ["float32", "MXFP4 SR"], [0, 1])
    assert [(c.name, c.seed) for c in configs] == [
        ("fp4-float32", 0), ("fp4-float32", 1), ("fp4-mxfp4-sr", 0), ("fp4-mxfp4-sr", 1)]
    # a run and its float32 twin differ only in the scheme
    a, b = setup.config("float32", 1), setup.config("MXFP4 SR", 1)
    assert a.source().irreducible_loss(64) == b.source().irreducible_loss(64)


@pytest.mark.parametrize("call,word", [
    (lambda: FP4Setup(steps=0), "steps"),
    (lambda: FP4Setup(warmup_steps=400), "warmup_steps"),
    (lambda: FP4Setup(lr=-1.0), "lr"),
    (lambda: FP4Setup().config("fp8"), "unknown scheme"),
    (lambda: fp4_configs(FP4Setup(), [], [0]), "at least one scheme"),
    (lambda: fp4_configs(FP4Setup(), ["bf16", "bf16"], [0]), "repeated"),
    (lambda: fp4_configs(FP4Setup(), ["bf16"], []), "seeds"),
    (lambda: fp4_configs(FP4Setup(), ["bf16"], [-1]), "seeds"),
    (lambda: fp4_configs("setup", ["bf16"], [0]), "setup"),
])
def test_bad_setups(call, word):
    with pytest.raises(ValueError, match=word):
        call()


def test_paired_gaps_pair_seeds():
    rec = planted({"A": (0.004, 0.006), "B": (0.010, 0.011)})
    g = paired_gaps(rec).set_index("scheme")
    assert list(g.index) == ["float32", "A", "B"]
    assert g.loc["float32", "gap"] == 0 and g.loc["float32", "reducible_ratio"] == pytest.approx(1.0)
    assert g.loc["A", "gap"] == pytest.approx(0.005) and g.loc["A", "spread"] == pytest.approx(0.001)
    assert (g.loc["A", "gap_low"], g.loc["A", "gap_high"]) == pytest.approx((0.004, 0.006))
    # float32's reducible losses are 0.1 and 0.11: A's are 0.104 and 0.116
    assert g.loc["A", "reducible_ratio"] == pytest.approx((0.104 / 0.1 + 0.116 / 0.11) / 2)
    assert g.loc["B", "loss"] == pytest.approx(2.1 + 0.005 + 0.0105)
    early = paired_gaps(rec, step=5).set_index("scheme")
    assert early.loc["B", "gap"] == pytest.approx(0.0105)


def test_paired_gaps_bad_input():
    rec = planted({"A": (0.004, 0.006)})
    with pytest.raises(ValueError, match="columns"):
        paired_gaps(rec.drop(columns="seed"))
    with pytest.raises(ValueError, match="empty"):
        paired_gaps(rec.iloc[:0])
    with pytest.raises(ValueError, match="checkpoint"):
        paired_gaps(rec, step=7)
    with pytest.raises(ValueError, match="baseline"):
        paired_gaps(rec[rec.scheme != "float32"])
    with pytest.raises(ValueError, match="two runs"):
        paired_gaps(pd.concat([rec, rec]))
    lonely = rec.copy()
    lonely.loc[lonely.scheme == "A", "seed"] += 10
    with pytest.raises(ValueError, match="shares no seed"):
        paired_gaps(lonely)


def test_ranking_separates_only_beyond_the_seed_spread():
    clear = rank_schemes(paired_gaps(planted({"A": (0.004, 0.006), "B": (0.010, 0.011), "bf16": (0.0, 0.0)})))
    assert (clear.best, clear.runner_up) == ("A", "B")  # bf16 is left out by default
    assert clear.margin == pytest.approx(0.0055) and clear.noise == pytest.approx(0.0015) and clear.separated
    close = rank_schemes(paired_gaps(planted({"A": (0.004, 0.008), "B": (0.007, 0.006)})))
    assert close.best == "A" and not close.separated
    single = paired_gaps(planted({"A": (0.001,), "B": (0.009,)}).query("seed == 0"))
    assert not rank_schemes(single).separated  # one seed measures no noise
    with pytest.raises(ValueError, match="two schemes"):
        rank_schemes(paired_gaps(planted({"A": (0.0, 0.0)})))
    with pytest.raises(ValueError, match="paired_gaps"):
        rank_schemes(pd.DataFrame({"scheme": ["A"]}))


def test_paired_gap_curves():
    rec = planted({"A": (0.004, 0.006)})
    c = paired_gap_curves(rec)
    assert len(c) == len(rec)
    a = c[(c.scheme == "A") & (c.seed == 1)].sort_values("step")
    assert list(a["gap"]) == pytest.approx([0.006, 0.006])
    assert list(a["reducible"]) == pytest.approx([0.1 + 0.01 + 0.006 + 0.5, 0.116])
    with pytest.raises(ValueError, match="baseline"):
        paired_gap_curves(rec, baseline="fp64")
    with pytest.raises(ValueError, match="columns"):
        paired_gap_curves(rec.drop(columns="tokens"))


def test_sweep_trains_labels_and_resumes(tmp_path):
    names = ["float32", "MXFP4 RTN"]
    rec = fp4_sweep(TINY, names, [0], out_dir=tmp_path)
    assert list(dict.fromkeys(rec["scheme"])) == names
    assert set(rec["step"]) == {6, 12} and (rec["quant"][rec.scheme == "MXFP4 RTN"] == "mxfp4 rtn").all()
    files = sorted(p.name for p in tmp_path.glob("*.csv"))
    assert len(files) == 2 and files[0].startswith("fp4-float32-")
    again = fp4_sweep(TINY, names, [0], out_dir=tmp_path)
    pd.testing.assert_frame_equal(rec.drop(columns="wall_time"), again.drop(columns="wall_time"))


def test_experiment_pairs_a_scheme_with_float32():
    a = run_fp4_experiment("MXFP4 RTN", steps=12, d_model=32)
    assert set(a.records["scheme"]) == {"float32", "MXFP4 RTN"}
    g = a.gaps.set_index("scheme")
    assert g.loc["float32", "gap"] == 0 and g.loc["MXFP4 RTN", "gap"] != 0
    b = run_fp4_experiment("MXFP4 RTN", steps=12, d_model=32)
    pd.testing.assert_frame_equal(a.gaps, b.gaps)  # seeded: the same numbers again
    with pytest.raises(ValueError, match="unknown scheme"):
        run_fp4_experiment("fp8")
    with pytest.raises(ValueError, match="steps"):
        run_fp4_experiment(steps=5)


def test_lab_button_reruns():
    lab = FP4TrainingLab()
    lab.scheme.value, lab.steps.value, lab.d_model.value = "MXFP4 RTN", 20, 32
    assert lab.result is None
    lab.run_button.click()
    assert lab.result is not None and lab.result.scheme == "MXFP4 RTN"
    assert "against float32" in lab.output.outputs[0]["text"]
    assert not lab.run_button.disabled


def test_trained_model_is_the_runs_model(tmp_path):
    import torch

    from scalingbook.labs.fp4_training import trained_model
    from scalingbook.train import EVAL_STREAM_SEED, train_run

    model = trained_model(TINY, "MXFP4 RTN", seed=1)
    cfg = TINY.config("MXFP4 RTN", 1)
    held = next(cfg.source().batches(-(-cfg.eval_tokens // cfg.seq_len), cfg.seq_len, seed=EVAL_STREAM_SEED))
    model.eval()
    with torch.no_grad():
        total = sum(model.loss(p[:, :-1], p[:, 1:]).item() * p[:, 1:].numel()
                    for p in held.split(cfg.batch_size))
    assert total / held[:, 1:].numel() == train_run(cfg)["eval_loss"].iloc[-1]
    with pytest.raises(ValueError, match="setup"):
        trained_model("setup")


def test_compare_pair():
    from scalingbook.labs.fp4_training import compare_pair

    gaps = paired_gaps(planted({"A": (0.004, 0.006), "B": (0.010, 0.011), "C": (0.005, 0.009)}))
    ab = compare_pair(gaps, "A", "B")
    assert ab.difference == pytest.approx(0.0055) and ab.noise == pytest.approx(0.0015) and ab.separated
    ac = compare_pair(gaps, "A", "C")
    assert ac.difference == pytest.approx(0.002) and not ac.separated
    assert compare_pair(gaps, "B", "A").difference == pytest.approx(-0.0055)
    with pytest.raises(ValueError, match="'D'"):
        compare_pair(gaps, "A", "D")
    with pytest.raises(ValueError, match="paired_gaps"):
        compare_pair(pd.DataFrame(), "A", "B")
