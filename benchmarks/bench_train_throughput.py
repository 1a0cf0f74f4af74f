"""Training throughput on the CPU: a transformer step's achieved FLOP/s against the machine's
dense matmul FLOP/s measured in the same run, eager and with ``torch.compile`` (issue 4).

    .venv/bin/python benchmarks/bench_train_throughput.py               # default run (about a minute)
    .venv/bin/python benchmarks/bench_train_throughput.py --threads 1   # one core
    .venv/bin/python benchmarks/bench_train_throughput.py --bf16 --variants --autotune  # extras

Goal (issue 4): a float32 training step of the transformer at d_model 256, 4 layers, sequence 256
reaches >= 40% of the FLOP/s of float32 ``torch.mm`` at a large square size on the same threads.

The model. ``Transformer`` at d_model 256, 4 layers, 4 heads of 64 (the head size of GPT-2 and
most models since), vocab 256, GELU MLP of 1024, tied embeddings, sequence 256, batch 8
(``--batch``): 2,048 tokens a step, on windows drawn beforehand from a first-order
``MarkovSource`` (sampling is not timed). A step is forward + cross-entropy, backward, AdamW
``step`` (foreach, torch's default on CPU) and ``zero_grad``.

The FLOP convention. Useful model FLOPs, from ``transformer_flops_per_token(config, 256,
training=True, attention="causal")``: 6 x the multiplied weights (the matmuls of forward and
backward; the head included, the embedding lookup not) plus 3 x the causal attention term
2 * n_layers * seq * d_model per token, i.e. only the unmasked half of the score matrix. Work a
kernel does on top of that earns no credit: not the masked half (the "dense" count, printed for
reference, adds 7% here), not the recomputation of QK^T in a fused attention backward
(``recompute_scores`` is False), and no elementwise work (norms, softmax, GELU, AdamW).
As a check, one step is also counted by ``torch.utils.flop_counter``.

The bound. float32 ``torch.mm`` of two n x n matrices (n = 2048, ``--mm-size``), FLOP/s = 2 n^3 /
time, on the same thread count. At 2048 the three matrices take 48 MiB, more than this machine's
32 MiB L3, and a call lasts ~0.1-0.2 s, so it shows MKL's compute-bound rate with nothing to
amortize; 4096 gives the same rate within noise at 8x the time. This is a measured bound, not the
nominal peak (AVX-512 FMA at the clock), which is somewhat higher.

Timing. Each round times one matmul, one eager step and one compiled step back to back, after
``--warmup`` rounds (and the compilation) left out, so another process on a shared machine loads
the bound and the steps alike. Reported: the median over ``--steps`` rounds of each (the best is
printed beside it), the ratio of medians, and the load average. The eager step is split into
forward (with the loss), backward and optimizer (step + zero_grad) by timestamps inside it: CPU ops
are synchronous, so the split is exact.

``torch.compile``: inductor (the default backend, which generates C++/OpenMP and needs a C++
compiler) on ``model.loss``, so the loss is fused too; backward goes through AOTAutograd, the
optimizer stays eager (compiling ``opt.step`` as well changed nothing measurable here and costs
another compile). The compile time is the first compiled step minus a median step, in a fresh
inductor cache by default (a cold compile, what a first run pays; ``--warm-cache`` reuses torch's
cache). A compile failure is caught and reported in one line. ``--autotune`` adds
``mode="max-autotune-no-cudagraphs"`` (compiled after the default
mode, in the same cache, so its compile time is only what it adds).

Extras: ``--bf16`` adds an eager step under ``torch.autocast("cpu", torch.bfloat16)`` and a bf16
``torch.mm`` bound (AVX512-BF16 where the CPU has it); ``--variants`` adds eager steps with a SwiGLU
MLP and at twice the batch.

Threads: by default torch's (one per core). Every torch op waits for all its threads, so when
another process holds a core a multi-threaded step made of hundreds of small ops slows far more
than one large matmul does; compare with ``--threads 1``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from scalingbook.data.markov import MarkovSource
from scalingbook.models.transformer import (
    Transformer,
    TransformerConfig,
    transformer_flops_per_token,
    transformer_param_count,
)

GOAL = 0.40  # achieved / matmul bound, issue 4
SEQ = 256


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min)"


class Trainer:
    """One model, its AdamW, and a step callable; ``step(batch)`` returns (forward, backward,
    optimizer) seconds and the loss."""

    def __init__(self, config, *, compile_mode=None, compiled=False, bf16=False, lr=1e-3):
        self.model = Transformer(config, seed=0)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=lr)
        self.loss_fn = self.model.loss
        if compiled:
            self.loss_fn = torch.compile(self.model.loss, mode=compile_mode)
        self.bf16 = bf16

    def step(self, batch):
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            loss = self.loss_fn(batch[:, :-1], batch[:, 1:])
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        t3 = time.perf_counter()
        return (t1 - t0, t2 - t1, t3 - t2), loss.item()


def matmul_timer(n, dtype):
    gen = torch.Generator().manual_seed(0)
    a, b = (torch.randn(n, n, generator=gen).to(dtype) for _ in range(2))
    out = torch.empty(n, n, dtype=dtype)

    def run():
        t0 = time.perf_counter()
        torch.mm(a, b, out=out)
        return time.perf_counter() - t0

    return run


def flop_counter_check(config, batch):
    """FLOPs per token that torch.utils.flop_counter counts in one eager training step."""
    trainer = Trainer(config)
    with FlopCounterMode(display=False) as counter:
        trainer.step(batch)
    return counter.get_total_flops() / (batch.shape[0] * SEQ)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads for the matmul and the steps (default: torch's)")
    p.add_argument("--batch", type=int, default=8, help="sequences per step (default 8)")
    p.add_argument("--steps", type=int, default=10, help="timed rounds (default 10)")
    p.add_argument("--warmup", type=int, default=3, help="untimed rounds first (default 3)")
    p.add_argument("--mm-size", type=int, default=2048, help="side of the square matmul (2048)")
    p.add_argument("--heads", type=int, default=4, help="attention heads (default 4, of 64)")
    p.add_argument("--vocab", type=int, default=256, help="vocabulary size (default 256)")
    p.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    p.add_argument("--warm-cache", action="store_true",
                   help="reuse torch's inductor cache (default: a fresh one, a cold compile)")
    p.add_argument("--autotune", action="store_true",
                   help='also compile with mode="max-autotune-no-cudagraphs"')
    p.add_argument("--bf16", action="store_true", help="also an eager bf16-autocast step")
    p.add_argument("--variants", action="store_true", help="also SwiGLU and twice the batch")
    args = p.parse_args(argv)
    for name in ("batch", "steps", "mm_size", "heads", "vocab"):
        if getattr(args, name) <= 0:
            p.error(f"--{name.replace('_', '-')} must be positive")
    if args.warmup < 0:
        p.error("--warmup must not be negative")
    if args.threads is not None:
        if args.threads <= 0:
            p.error("--threads must be positive")
        torch.set_num_threads(args.threads)
    if not args.no_compile and not args.warm_cache:
        cache = tempfile.TemporaryDirectory(prefix="inductor-cold-")
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache.name  # read when inductor first compiles

    config = TransformerConfig(vocab_size=args.vocab, d_model=256, n_layers=4, n_heads=args.heads,
                               context=SEQ)
    tokens = args.batch * SEQ
    flops = {kind: transformer_flops_per_token(config, SEQ, training=True, attention=kind)
             for kind in ("causal", "dense")}
    step_flops = flops["causal"] * tokens
    rounds = args.warmup + args.steps
    source = MarkovSource(args.vocab, 1, seed=0)
    stream = source.batches(args.batch, SEQ, seed=1)
    batches = [next(stream) for _ in range(rounds)]

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads on {os.cpu_count()} cores; "
          f"{load()} at the start")
    print(f"model: d_model 256, 4 layers, {args.heads} heads, vocab {args.vocab}, "
          f"{config.activation} MLP {config.ff_width}, "
          f"{transformer_param_count(config):,} parameters; seq {SEQ}, batch {args.batch} "
          f"({tokens:,} tokens/step)")
    counted = flop_counter_check(config, batches[0])
    print(f"FLOPs/token (training): {flops['causal'] / 1e6:.2f} M useful (causal attention, no "
          f"recomputation) -- used below; {flops['dense'] / 1e6:.2f} M with the dense attention "
          f"term; torch.utils.flop_counter counts {counted / 1e6:.2f} M (its CPU SDPA kernel has "
          f"no FLOP rule, so it sees the matmuls but no attention)")
    print(f"FLOPs/step: {step_flops / 1e9:.1f} G")

    # --- contenders: name -> Trainer, all timed in the same rounds --------------------------------
    contenders = {"eager": Trainer(config)}
    if args.bf16:
        contenders["eager bf16 autocast"] = Trainer(config, bf16=True)
    if args.variants:
        swiglu = TransformerConfig(vocab_size=args.vocab, d_model=256, n_layers=4,
                                   n_heads=args.heads, context=SEQ, activation="swiglu")
        contenders["eager swiglu"] = Trainer(swiglu)
        flops_swiglu = transformer_flops_per_token(swiglu, SEQ, attention="causal") * tokens
        contenders[f"eager batch {2 * args.batch}"] = Trainer(config)
        stream2 = source.batches(2 * args.batch, SEQ, seed=2)
        batches2 = [next(stream2) for _ in range(rounds)]
    compile_notes = []
    compile_modes = [] if args.no_compile else [None] + (
        ["max-autotune-no-cudagraphs"] if args.autotune else [])
    first_step, first_loss = {}, {}
    for mode in compile_modes:
        name = "compiled" if mode is None else "compiled max-autotune"
        trainer = Trainer(config, compiled=True, compile_mode=mode)
        t0 = time.perf_counter()
        try:
            _, first_loss[name] = trainer.step(batches[0])
        except Exception as exc:  # noqa: BLE001 -- no compiler, inductor bug: report, go on
            msg = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
            compile_notes.append(f"torch.compile (mode={mode}) failed: {msg}")
            continue
        first_step[name] = time.perf_counter() - t0
        contenders[name] = trainer

    def flops_of(name):
        if name == "eager swiglu":
            return flops_swiglu
        if name.startswith("eager batch"):
            return 2 * step_flops
        return step_flops

    def batch_of(name, i):
        return batches2[i] if name.startswith("eager batch") else batches[i]

    mm = {"float32": matmul_timer(args.mm_size, torch.float32)}
    if args.bf16:
        mm["bfloat16"] = matmul_timer(args.mm_size, torch.bfloat16)
    times = {name: [] for name in list(mm) + list(contenders)}
    phases = {name: [] for name in contenders}
    losses = {name: [] for name in contenders}
    for i in range(rounds):
        for name, run in mm.items():
            t = run()
            if i >= args.warmup:
                times[name].append(t)
        for name, trainer in contenders.items():
            (fwd, bwd, opt), loss = trainer.step(batch_of(name, i))
            losses[name].append(loss)
            if i >= args.warmup:
                times[name].append(fwd + bwd + opt)
                phases[name].append((fwd, bwd, opt))
    end_load = load()

    # --- report ---------------------------------------------------------------------------------
    n = args.mm_size
    bound = {k: 2 * n**3 / statistics.median(v) for k, v in times.items() if k in mm}
    bound_best = {k: 2 * n**3 / min(v) for k, v in times.items() if k in mm}
    print(f"\n{args.steps} timed rounds after {args.warmup} warm-up rounds; {end_load} at the end")
    print(f"{'':<42}{'median ms':>10}{'best ms':>9}{'GFLOP/s':>9}{'(best)':>7}{'of fp32 mm':>12}")
    for dtype in mm:
        ts = times[dtype]
        print(f"{f'torch.mm {n}x{n} {dtype} (bound)':<42}{statistics.median(ts) * 1e3:10.1f}"
              f"{min(ts) * 1e3:9.1f}{bound[dtype] / 1e9:9.1f}{bound_best[dtype] / 1e9:7.1f}"
              f"{bound[dtype] / bound['float32']:12.2f}")
    ratios = {}
    for name in contenders:
        ts, f = times[name], flops_of(name)
        rate = f / statistics.median(ts)
        ratios[name] = rate / bound["float32"]
        print(f"{f'train step, {name}':<42}{statistics.median(ts) * 1e3:10.1f}{min(ts) * 1e3:9.1f}"
              f"{rate / 1e9:9.1f}{f / min(ts) / 1e9:7.1f}{ratios[name]:12.2f}")
    if "bfloat16" in mm and "eager bf16 autocast" in contenders:
        r = (step_flops / statistics.median(times["eager bf16 autocast"])) / bound["bfloat16"]
        print(f"  (eager bf16 autocast against the bf16 mm bound: {r:.2f})")

    e = [statistics.median(x) for x in zip(*phases["eager"])]
    total = sum(e)
    print(f"\neager step breakdown (medians): forward+loss {e[0] * 1e3:.0f} ms "
          f"({e[0] / total:.0%}), backward {e[1] * 1e3:.0f} ms ({e[1] / total:.0%}), "
          f"AdamW step+zero_grad {e[2] * 1e3:.0f} ms ({e[2] / total:.0%})")
    for name in contenders:
        if name.startswith("compiled"):
            c = [statistics.median(x) for x in zip(*phases[name])]
            print(f"{name} breakdown: forward+loss {c[0] * 1e3:.0f} ms, backward "
                  f"{c[1] * 1e3:.0f} ms, AdamW {c[2] * 1e3:.0f} ms; compile time "
                  f"{first_step[name] - sum(c):.1f} s "
                  f"({'warm' if args.warm_cache else 'fresh'} inductor cache); first-step loss "
                  f"{first_loss[name]:.6f} vs eager {losses['eager'][0]:.6f}")
    for note in compile_notes:
        print(note)

    print()
    for name in ("eager",) + tuple(k for k in contenders if k.startswith("compiled")):
        verdict = "met" if ratios[name] >= GOAL else "NOT met"
        print(f"goal: {name} fp32 step >= {GOAL:.0%} of fp32 torch.mm FLOP/s: "
              f"{ratios[name]:.0%}, {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
