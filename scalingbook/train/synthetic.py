"""A small deterministic training loop for the synthetic tasks of :mod:`scalingbook.data.synthetic_tasks`.

    model (any module whose forward(tokens) gives logits, or (logits, loss) as MambaLM does)
      -> AdamW, linear warm-up then cosine decay to min_lr_ratio * lr, gradient clipping
      -> each step a fresh batch from the task's training stream (infinite data, as in the paper)
      -> cross-entropy on the scored positions only
      -> accuracy on held-out samples that no training step sees

Randomness. Training batch ``k`` of a run with ``seed`` s is ``task.sample(batch_size, (1, s,
k))``; the held-out set is ``task.sample(eval_samples, (0, eval_seed))``. Streams starting
with 1 and 0 never meet, and every run with the same ``eval_seed`` is scored on the same
samples. The model's initialization is the caller's (build it with a seed, e.g.
:func:`task_model`); anything else random inside the loop is drawn from torch's generator
seeded with ``seed`` in ``torch.random.fork_rng``, so the caller's random state is untouched.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import pandas as pd
import torch
import torch.nn.functional as F

from scalingbook._validate import (
    nonnegative_scalar,
    one_of,
    positive_int,
    positive_scalar,
)
from scalingbook.data.synthetic_tasks import InductionHeads, SelectiveCopying, TaskBatch
from scalingbook.models.mamba import MambaConfig, MambaLM
from scalingbook.models.transformer import Transformer, TransformerConfig
from scalingbook.train.learning_curve import _torch_threads

__all__ = ["MODEL_KINDS", "SyntheticResult", "cosine_lr", "evaluate_task", "task_logits",
           "task_model", "train_synthetic"]

MODEL_KINDS = ("mamba", "lti", "transformer")


def task_logits(model: torch.nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    """Logits (batch, seq_len, vocab) of ``model`` on ``tokens`` (batch, seq_len).

    Accepts a model whose forward returns the logits (:class:`~scalingbook.models.Transformer`)
    or a tuple whose first item they are (:class:`~scalingbook.models.MambaLM` returns
    ``(logits, loss)``).
    """
    out = model(tokens)
    if isinstance(out, (tuple, list)):
        out = out[0]
    if not isinstance(out, torch.Tensor) or out.ndim != 3 or out.shape[:2] != tokens.shape:
        raise ValueError("model must return logits of shape (batch, seq_len, vocab), got "
                         f"{getattr(out, 'shape', type(out).__name__)}")
    return out


def task_model(task: SelectiveCopying | InductionHeads, kind: str = "mamba", *, d_model: int = 32,
               n_layers: int = 2, d_state: int = 16, n_heads: int = 2, seed: int = 0,
               scan_backend: str = "chunked") -> torch.nn.Module:
    """A small model for ``task``, initialized from ``seed``.

    ``kind``: "mamba" (a selective :class:`~scalingbook.models.MambaLM`), "lti" (the same with
    ``selective=False``: delta, B and C are learned constants, a time-invariant SSM like S4D), or
    "transformer" (a :class:`~scalingbook.models.Transformer` with ``n_heads`` heads and context
    ``task.seq_len``). ``d_state`` applies to the SSMs, ``n_heads`` to the transformer.
    """
    one_of("kind", kind, MODEL_KINDS)
    if not isinstance(task, (SelectiveCopying, InductionHeads)):
        raise ValueError(f"task must be a SelectiveCopying or InductionHeads, got {type(task).__name__}")
    if kind == "transformer":
        cfg = TransformerConfig(vocab_size=task.vocab_size, d_model=d_model, n_layers=n_layers,
                                n_heads=n_heads, context=task.seq_len)
        return Transformer(cfg, seed=positive_int("seed", seed, minimum=0))
    cfg = MambaConfig(vocab_size=task.vocab_size, d_model=d_model, n_layers=n_layers,
                      d_state=d_state, selective=kind == "mamba", scan_backend=scan_backend)
    return MambaLM(cfg, seed=positive_int("seed", seed, minimum=0))


def cosine_lr(step: int, n_steps: int, lr: float, warmup_steps: int = 0,
              min_lr_ratio: float = 0.1) -> float:
    """Learning rate of update ``step`` (0-based) of ``n_steps``, as
    :func:`scalingbook.train.lm.scheduled_lr` computes its "cosine" schedule: linear warm-up to
    ``lr`` over ``warmup_steps`` (``lr * (step + 1) / warmup_steps``), then
    ``lr * (r + (1 - r) * (1 + cos(pi p)) / 2)`` with progress p from 0 after warm-up to 1 at
    the last update, r = ``min_lr_ratio``."""
    n_steps = positive_int("n_steps", n_steps)
    step = positive_int("step", step, minimum=0)
    if step >= n_steps:
        raise ValueError(f"step must be below n_steps={n_steps}, got {step}")
    warm = positive_int("warmup_steps", warmup_steps, minimum=0)
    if warm >= n_steps:
        raise ValueError(f"warmup_steps must be below n_steps={n_steps}, got {warm}")
    if step < warm:
        return lr * (step + 1) / warm
    p = (step - warm) / (n_steps - 1 - warm) if n_steps - 1 > warm else 0.0
    return lr * (min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * p)))


@torch.no_grad()
def evaluate_task(model: torch.nn.Module, batch: TaskBatch, *, chunk: int = 256) -> dict[str, float]:
    """Scores of ``model`` on ``batch``: ``accuracy`` (share of scored positions whose argmax is
    the target), ``sequence_accuracy`` (share of samples with every scored position right) and
    ``loss`` (mean cross-entropy over scored positions, nats). Evaluated in chunks of ``chunk``
    samples, in eval mode (restored afterwards)."""
    chunk = positive_int("chunk", chunk)
    was_training = model.training
    model.eval()
    right = total = seq_right = 0
    loss_sum = 0.0
    try:
        for lo in range(0, batch.tokens.shape[0], chunk):
            tokens, targets, mask = (t[lo:lo + chunk] for t in batch)
            logits = task_logits(model, tokens)
            hit = (logits.argmax(-1) == targets) & mask
            right += int(hit.sum())
            total += int(mask.sum())
            seq_right += int((hit.sum(1) == mask.sum(1)).sum())
            loss_sum += float(F.cross_entropy(logits[mask], targets[mask], reduction="sum"))
    finally:
        model.train(was_training)
    return {"accuracy": right / total, "sequence_accuracy": seq_right / batch.tokens.shape[0],
            "loss": loss_sum / total}


@dataclass
class SyntheticResult:
    """What :func:`train_synthetic` returns.

    accuracy, sequence_accuracy, eval_loss : held-out scores at the end (see :func:`evaluate_task`).
    history : one row per checkpoint: ``step``, ``train_loss`` (mean over the steps since the
        last checkpoint, nats), ``eval_accuracy``, ``eval_loss``, ``lr``, ``seconds``.
    params : trainable parameters of the model.
    seconds : wall time of training and evaluation.
    model : the trained model (in eval mode).
    """

    accuracy: float
    sequence_accuracy: float
    eval_loss: float
    history: pd.DataFrame
    params: int
    seconds: float
    model: torch.nn.Module


def train_synthetic(model: torch.nn.Module, task: SelectiveCopying | InductionHeads, *,
                    steps: int = 400, batch_size: int = 32, lr: float = 3e-3,
                    weight_decay: float = 0.1, warmup_steps: int = 20, min_lr_ratio: float = 0.1,
                    grad_clip: float | None = 1.0, eval_samples: int = 512,
                    eval_every: int | None = None, seed: int = 0, eval_seed: int = 0,
                    num_threads: int | None = 1) -> SyntheticResult:
    """Train ``model`` on ``task`` and score it on held-out samples; see the module docstring.

    Parameters
    ----------
    model : torch.nn.Module
        Its forward maps (batch, seq_len) token ids to logits (or a tuple starting with them);
        its vocabulary must cover ``task.vocab_size``. Trained in place.
    task : SelectiveCopying or InductionHeads
    steps, batch_size : int
        Optimizer updates, and samples per update.
    lr, weight_decay, warmup_steps, min_lr_ratio, grad_clip
        AdamW's peak learning rate and decoupled weight decay (on matrices and embeddings only),
        linear warm-up steps, the final learning rate as a fraction of ``lr`` (cosine decay),
        and the global gradient-norm clip (None: no clipping).
    eval_samples : int
        Held-out samples scored at each checkpoint and at the end.
    eval_every : int or None
        Steps between checkpoints; None: only the end.
    seed, eval_seed : int
        The training stream (and any randomness of the loop) and the held-out set.
    num_threads : int or None
        torch threads while training (restored afterwards); None keeps the caller's.

    Raises
    ------
    ValueError
        On bad arguments. FloatingPointError if the training loss becomes NaN or infinite.
    """
    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(task, (SelectiveCopying, InductionHeads)):
        raise ValueError(f"task must be a SelectiveCopying or InductionHeads, got {type(task).__name__}")
    steps = positive_int("steps", steps)
    batch_size = positive_int("batch_size", batch_size)
    lr = positive_scalar("lr", lr)
    weight_decay = nonnegative_scalar("weight_decay", weight_decay)
    warmup_steps = positive_int("warmup_steps", warmup_steps, minimum=0)
    if warmup_steps >= steps:
        raise ValueError(f"warmup_steps must be below steps={steps}, got {warmup_steps}")
    if not 0 <= nonnegative_scalar("min_lr_ratio", min_lr_ratio) <= 1:
        raise ValueError(f"min_lr_ratio must be in [0, 1], got {min_lr_ratio!r}")
    if grad_clip is not None:
        grad_clip = positive_scalar("grad_clip", grad_clip)
    eval_samples = positive_int("eval_samples", eval_samples)
    if eval_every is not None:
        eval_every = positive_int("eval_every", eval_every)
    seed = positive_int("seed", seed, minimum=0)
    eval_seed = positive_int("eval_seed", eval_seed, minimum=0)
    if num_threads is not None:
        num_threads = positive_int("num_threads", num_threads)

    held_out = task.sample(eval_samples, (0, eval_seed))
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    rest = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                             {"params": rest, "weight_decay": 0.0}], lr=lr)
    checkpoints = set(range(eval_every, steps + 1, eval_every)) if eval_every else set()
    checkpoints.add(steps)
    rows, losses = [], []
    start = time.perf_counter()
    with _torch_threads(num_threads), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model.train()
        for step in range(steps):
            step_lr = cosine_lr(step, steps, lr, warmup_steps, min_lr_ratio)
            for group in opt.param_groups:
                group["lr"] = step_lr
            tokens, targets, mask = task.sample(batch_size, (1, seed, step))
            logits = task_logits(model, tokens)
            loss = F.cross_entropy(logits[mask], targets[mask])
            if not torch.isfinite(loss):
                raise FloatingPointError(f"training loss is {loss.item()} at step {step + 1} "
                                         f"(lr={step_lr:.3g}); lower lr or clip")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            opt.step()
            losses.append(loss.item())
            if step + 1 in checkpoints:
                scores = evaluate_task(model, held_out)
                rows.append({"step": step + 1, "train_loss": sum(losses) / len(losses),
                             "eval_accuracy": scores["accuracy"], "eval_loss": scores["loss"],
                             "lr": step_lr, "seconds": time.perf_counter() - start})
                losses = []
        model.eval()
    return SyntheticResult(
        accuracy=scores["accuracy"], sequence_accuracy=scores["sequence_accuracy"],
        eval_loss=scores["loss"], history=pd.DataFrame(rows),
        params=sum(p.numel() for p in model.parameters() if p.requires_grad),
        seconds=time.perf_counter() - start, model=model)
