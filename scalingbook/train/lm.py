"""Train a small language model on a Markov source and log its loss against tokens and FLOPs.

One run, top to bottom (:func:`train_run`):

    RunConfig (validated) -> MarkovSource(data fields) + Transformer(model, seed)
      -> AdamW, warm-up then cosine / linear / constant decay, gradient clipping
      -> a checkpoint every ``eval_every`` steps and at the end: one record row each
      -> out_dir/<run_id>.csv, written atomically

A run is a pure function of its :class:`RunConfig` and of where it runs: the same config gives
the same records, bit for bit, except ``wall_time``, on one machine with the same torch build,
thread count and CPU instruction set (PyTorch picks its CPU kernels by instruction set, see
``ATEN_CPU_CAPABILITY``; a different thread count may change the order of float sums).
Elsewhere the records agree only within the tolerances the chapters measure
(``benchmarks/headline_noise.py``): through training, a difference in the last bits grows like a
change of seed. Each record says what it ran with (``torch_version``, ``cpu_capability``,
``num_threads``: :func:`execution_context`). Every random draw is local: the model's
initialization comes from ``Transformer(model, seed=seed)``, the training windows from the
source's stream ``seed + 1``, anything else (dropout) from torch's global generator seeded with
``seed`` inside ``torch.random.fork_rng``, so the caller's random state is untouched.

Held-out text. Every run evaluates on the same windows of its source: stream
:data:`EVAL_STREAM_SEED` (0), which no training stream uses (those are ``seed + 1`` >= 1), drawn
once, ``ceil(eval_tokens / seq_len)`` windows of ``seq_len + 1`` tokens. Runs of one sweep on one
source are therefore compared on identical text, and the loss of the true source on that text
(``eval_source_nll``) is recorded beside the model's, with the expected floor
``irreducible_loss`` = ``MarkovSource.irreducible_loss(seq_len)``.

Records are keyed by config: :attr:`RunConfig.run_id` is a hash of every field, of the code the
run depends on, of the torch version and of the CPU instruction set, so a results directory holds
one file per distinct run and a sweep resumes by skipping the files that exist
(:mod:`scalingbook.train.sweep`). A machine with another instruction set computes other ids and
trains its own runs rather than mixing cached runs from two instruction sets into one fit; a
file whose recorded torch or instruction set (or thread count, when the caller names one)
differs from the reader's, as one trained by a worker elsewhere may, is not reused either. A
file appears only when its run has finished (written to a temporary file in the same directory,
flushed to disk, then renamed with ``os.replace``), so a crash leaves either the complete file
or none.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from scalingbook._validate import (
    nonnegative_scalar,
    one_of,
    positive_int,
    positive_scalar,
)
from scalingbook.data.markov import _MAX_CONTEXTS, _MAX_TABLE_ENTRIES, MarkovSource
from scalingbook.models.mamba import MambaConfig, MambaLM, mamba_flops_per_token, mamba_param_count
from scalingbook.models.transformer import (
    Transformer,
    TransformerConfig,
    transformer_flops_per_token,
    transformer_param_count,
)
from scalingbook.precision.fake_quant import QuantScheme, swap_linears
from scalingbook.train.learning_curve import _torch_threads

__all__ = [
    "EVAL_STREAM_SEED",
    "RECORD_COLUMNS",
    "SCHEDULES",
    "RunConfig",
    "code_fingerprint",
    "cpu_capability",
    "execution_context",
    "load_records",
    "records_path",
    "results_dir",
    "scheduled_lr",
    "train_run",
]

SCHEDULES = ("cosine", "linear", "constant")
# The source's sample stream that holds every run's held-out text; training uses seed + 1 >= 1.
EVAL_STREAM_SEED = 0
# Part of every run_id: bump it when a change to the loop changes what a config produces, so
# results files written by the old loop are not resumed as if they were the new one's.
_RECORDS_VERSION = 2  # 2: records say what they ran with (torch, instruction set, threads)
# The code whose source decides what a config produces; its text is part of every run_id (see
# code_fingerprint), so a cached results file is reused only while that code is unchanged. Each
# run depends on the loop and the source, on its model kind's code, and (when it fake-quantizes)
# on the precision package; a change elsewhere leaves its cached results valid.
_PACKAGE = Path(__file__).resolve().parents[1]
_CODE_FILES = {
    "base": ("train/lm.py", "data/markov.py"),
    "transformer": ("models/transformer.py",),
    "mamba": ("models/mamba.py", "kernels/scan/*.py"),
    "quant": ("precision/*.py",),
}


def cpu_capability() -> str:
    """The CPU instruction set PyTorch's kernels use in this process, in lower case (``default``,
    ``avx2``, ``avx512``, ...): the native one, or the one ``ATEN_CPU_CAPABILITY`` forces."""
    return torch.backends.cpu.get_cpu_capability().lower()


def execution_context(num_threads: int | None = None) -> dict[str, Any]:
    """What a run's numbers depend on besides its config and code: ``torch_version``,
    ``cpu_capability`` (:func:`cpu_capability`) and ``num_threads`` (torch intra-op threads;
    ``num_threads`` if given, else the current setting). Recorded in every run's records."""
    return {"torch_version": torch.__version__, "cpu_capability": cpu_capability(),
            "num_threads": torch.get_num_threads() if num_threads is None else num_threads}


@functools.lru_cache(maxsize=None)
def code_fingerprint(*parts: str) -> str:
    """16 hex digits of SHA-256 over the source files a run's numbers depend on, torch's
    version and the CPU instruction set: part of every :attr:`RunConfig.run_id`, so that
    changing the training loop, the data source, the run's model (or the quantizers, for a
    fake-quantized run), upgrading torch or moving to a CPU whose kernels differ, makes old
    results files stale instead of silently reusing them.

    ``parts`` name groups of files: ``"transformer"``, ``"mamba"``, ``"quant"`` (the loop and
    the source, ``"base"``, are always included). Any edit to those files counts, comments
    included: safe, if cautious.
    """
    unknown = set(parts) - set(_CODE_FILES)
    if unknown:
        raise ValueError(f"parts must be among {sorted(_CODE_FILES)}, got {sorted(unknown)}")
    digest = hashlib.sha256()
    for part in ("base", *sorted(set(parts))):
        for pattern in _CODE_FILES[part]:
            for path in sorted(_PACKAGE.glob(pattern)):
                digest.update(str(path.relative_to(_PACKAGE)).encode())
                digest.update(path.read_bytes())
    digest.update(torch.__version__.encode())
    digest.update(cpu_capability().encode())
    return digest.hexdigest()[:16]


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")

# Measurement columns of a record, before the config columns (in this order).
RECORD_COLUMNS = (
    "run_id",          # RunConfig.run_id
    "step",            # optimizer updates done at this checkpoint
    "tokens",          # training tokens seen so far: step * batch_size * seq_len
    "flops",           # training FLOPs so far: flops_per_token * tokens
    "train_loss",      # mean training loss (nats/token) over the steps since the last checkpoint
    "eval_loss",       # loss on the held-out windows (nats/token)
    "eval_source_nll",  # the true source's loss on those same windows (nats/token)
    "irreducible_loss",  # MarkovSource.irreducible_loss(seq_len), the expected floor (nats/token)
    "lr",              # learning rate of the last update before this checkpoint
    "wall_time",       # seconds since the first step, evaluation included
    "params",          # parameters, embedding included
    "non_embedding_params",  # Kaplan et al.'s N
    "flops_per_token",  # transformer_flops_per_token(model, seq_len, training=True)
    "n_steps",         # the run's length in updates
    "n_warmup_steps",  # warm-up updates
    "torch_version",   # what the run ran with (execution_context): torch's version,
    "cpu_capability",  # the instruction set of PyTorch's CPU kernels,
    "num_threads",     # and torch's intra-op threads
)
_MEASURE_DTYPES = {
    "run_id": "str", "step": "int64", "tokens": "int64", "flops": "float64",
    "train_loss": "float64", "eval_loss": "float64", "eval_source_nll": "float64",
    "irreducible_loss": "float64", "lr": "float64", "wall_time": "float64", "params": "int64",
    "non_embedding_params": "int64", "flops_per_token": "float64", "n_steps": "int64",
    "n_warmup_steps": "int64", "torch_version": "str", "cpu_capability": "str", "num_threads": "int64",
}
# Config fields whose name a checkpoint also uses for a measurement are renamed in the records.
_RENAMED = {"tokens": "budget_tokens", "steps": "budget_steps", "lr": "peak_lr"}
# Record dtype of a dataclass field, by its annotation (None becomes a missing value).
_DTYPES = {"bool": "bool", "int": "int64", "float": "float64", "str": "str",
           "int | None": "Int64", "float | None": "Float64"}


def _seed(name: str, value: Any) -> int:
    return positive_int(name, value, minimum=0)


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines one training run; invalid values raise ``ValueError``.

    Checked at construction, so a bad config fails before anything trains (the model's own
    fields are checked by :class:`~scalingbook.models.transformer.TransformerConfig`).

    Parameters
    ----------
    model : TransformerConfig or MambaConfig
        The model: a transformer (its ``context`` must be at least ``seq_len``) or a Mamba
        language model (no context limit).
    vocab_size : int or None
        Tokens of the source; must equal ``model.vocab_size``. None (default) takes the model's.
    order, zipf_exponent, logit_noise : int, float, float
        The :class:`~scalingbook.data.markov.MarkovSource`: order k >= 0, Zipf exponent s >= 0,
        logit noise sigma >= 0 (nats).
    data_seed : int
        Seeds the source's transition table: runs with one ``data_seed`` learn the same language.
    seq_len : int
        Tokens per training window (the model predicts ``seq_len`` targets per window).
    batch_size : int
        Windows per step; a step consumes ``batch_size * seq_len`` training tokens.
    tokens, steps : int
        The training budget, exactly one of them: ``tokens`` (training tokens) gives
        ``ceil(tokens / (batch_size * seq_len))`` steps, the fewest that cover it.
    lr : float
        Peak learning rate (reached at the end of warm-up).
    weight_decay : float
        AdamW's decoupled weight decay, applied to matrices and embeddings only, not to norm
        gains or biases (as in GPT-2 and nanoGPT).
    betas : (float, float)
        AdamW's moment decay rates, each in [0, 1).
    warmup_steps, warmup_fraction : int, float or None
        Warm-up length in steps, or as a fraction in [0, 1) of the run's steps (rounded); at most
        one of them. Warm-up must end before the run does.
    schedule : {"cosine", "linear", "constant"}
        Decay after warm-up (see :func:`scheduled_lr`).
    min_lr_ratio : float
        Final learning rate as a fraction of ``lr``, in [0, 1] (ignored by "constant").
    grad_clip : float or None
        Clip the global gradient norm to this value before each update; None does not clip.
    eval_every : int or None
        Steps between checkpoints; None checkpoints only at the end. The last step is always a
        checkpoint.
    eval_tokens : int
        Held-out target tokens per evaluation (rounded up to whole windows of ``seq_len``).
    seed : int
        Seeds the model's initialization, the order of the training windows and dropout.
    quant : QuantScheme or None
        Fake-quantize the GEMMs of every linear layer of the model's blocks with this scheme
        (:func:`~scalingbook.precision.swap_linears`; layer ``i`` seeded ``seed + i``). The
        embedding and the output head stay in float32, as in the FP4 training papers. None
        (default) trains in float32.
    name : str
        Optional label, the start of :attr:`run_id` and of the results file's name: letters,
        digits, ``_``, ``.`` and ``-``, at most 64 characters. It does not change the run.
    """

    model: TransformerConfig | MambaConfig
    vocab_size: int | None = None
    order: int = 2
    zipf_exponent: float = 1.0
    logit_noise: float = 0.0
    data_seed: int = 0
    seq_len: int = 64
    batch_size: int = 16
    tokens: int | None = None
    steps: int | None = None
    lr: float = 1e-3
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.95)
    warmup_steps: int = 0
    warmup_fraction: float | None = None
    schedule: str = "cosine"
    min_lr_ratio: float = 0.1
    grad_clip: float | None = 1.0
    eval_every: int | None = None
    eval_tokens: int = 8192
    seed: int = 0
    quant: QuantScheme | None = None
    name: str = ""

    def __post_init__(self):
        def put(field: str, value: Any) -> None:  # store the checked value (the class is frozen)
            object.__setattr__(self, field, value)

        if not isinstance(self.model, (TransformerConfig, MambaConfig)):
            raise ValueError("model must be a TransformerConfig or a MambaConfig, got "
                             f"{type(self.model).__name__}")
        vocab = self.model.vocab_size if self.vocab_size is None else self.vocab_size
        put("vocab_size", positive_int("vocab_size", vocab, minimum=2))
        if self.vocab_size != self.model.vocab_size:
            raise ValueError(f"vocab_size of the source ({self.vocab_size}) must equal "
                             f"model.vocab_size ({self.model.vocab_size})")
        put("order", positive_int("order", self.order, minimum=0))
        if self.vocab_size**self.order > _MAX_CONTEXTS or \
                self.vocab_size ** (self.order + 1) > _MAX_TABLE_ENTRIES:
            raise ValueError(f"order={self.order} with vocab_size={self.vocab_size} makes a "
                             f"transition table larger than MarkovSource allows; lower order")
        put("zipf_exponent", nonnegative_scalar("zipf_exponent", self.zipf_exponent))
        put("logit_noise", nonnegative_scalar("logit_noise", self.logit_noise))
        put("data_seed", _seed("data_seed", self.data_seed))
        put("seq_len", positive_int("seq_len", self.seq_len))
        if isinstance(self.model, TransformerConfig) and self.seq_len > self.model.context:
            raise ValueError(f"seq_len ({self.seq_len}) must not exceed model.context "
                             f"({self.model.context})")
        put("batch_size", positive_int("batch_size", self.batch_size))
        if (self.tokens is None) == (self.steps is None):
            raise ValueError("give exactly one of tokens and steps (the training budget), got "
                             f"tokens={self.tokens!r} and steps={self.steps!r}")
        if self.tokens is not None:
            put("tokens", positive_int("tokens", self.tokens))
        else:
            put("steps", positive_int("steps", self.steps))
        put("lr", positive_scalar("lr", self.lr))
        put("weight_decay", nonnegative_scalar("weight_decay", self.weight_decay))
        try:
            betas = tuple(float(b) for b in self.betas)
        except (TypeError, ValueError):
            raise ValueError(f"betas must be two numbers, got {self.betas!r}") from None
        if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {self.betas!r}")
        put("betas", betas)
        put("warmup_steps", positive_int("warmup_steps", self.warmup_steps, minimum=0))
        if self.warmup_fraction is not None:
            if nonnegative_scalar("warmup_fraction", self.warmup_fraction) >= 1:
                raise ValueError(f"warmup_fraction must be below 1, got {self.warmup_fraction!r}")
            if self.warmup_steps:
                raise ValueError("give at most one of warmup_steps and warmup_fraction, got "
                                 f"{self.warmup_steps} and {self.warmup_fraction}")
            put("warmup_fraction", float(self.warmup_fraction))
        if self.n_warmup_steps >= self.n_steps:
            field = "warmup_steps" if self.warmup_fraction is None else "warmup_fraction"
            raise ValueError(f"{field} gives {self.n_warmup_steps} warm-up steps; the run has "
                             f"only {self.n_steps}")
        one_of("schedule", self.schedule, SCHEDULES)
        if nonnegative_scalar("min_lr_ratio", self.min_lr_ratio) > 1:
            raise ValueError(f"min_lr_ratio must be in [0, 1], got {self.min_lr_ratio!r}")
        put("min_lr_ratio", float(self.min_lr_ratio))
        if self.grad_clip is not None:
            put("grad_clip", positive_scalar("grad_clip", self.grad_clip))
        if self.eval_every is not None:
            put("eval_every", positive_int("eval_every", self.eval_every))
        put("eval_tokens", positive_int("eval_tokens", self.eval_tokens))
        put("seed", _seed("seed", self.seed))
        if self.quant is not None and not isinstance(self.quant, QuantScheme):
            raise ValueError(f"quant must be a QuantScheme or None, got {type(self.quant).__name__}")
        if not isinstance(self.name, str) or (self.name and not _NAME.fullmatch(self.name)):
            raise ValueError("name must be empty or up to 64 letters, digits, '_', '.' and '-' "
                             f"(not starting with '_', '.' or '-'), got {self.name!r}")

    @property
    def tokens_per_step(self) -> int:
        """Training tokens per optimizer step: batch_size * seq_len."""
        return self.batch_size * self.seq_len

    @property
    def n_steps(self) -> int:
        """Optimizer steps of the run: ``steps``, or ceil(tokens / tokens_per_step)."""
        if self.steps is not None:
            return self.steps
        return -(-self.tokens // self.tokens_per_step)

    @property
    def n_warmup_steps(self) -> int:
        """Warm-up steps: ``warmup_steps``, or round(warmup_fraction * n_steps)."""
        if self.warmup_fraction is not None:
            return round(self.warmup_fraction * self.n_steps)
        return self.warmup_steps

    @property
    def checkpoints(self) -> list[int]:
        """Steps after which the run is evaluated: multiples of eval_every, and n_steps."""
        every = self.eval_every or self.n_steps
        steps = list(range(every, self.n_steps + 1, every))
        return steps if steps and steps[-1] == self.n_steps else steps + [self.n_steps]

    @property
    def run_id(self) -> str:
        """``<name>-<hash>`` (or the hash alone): 16 hex digits of SHA-256 over every field.

        Stable across processes, machines and sessions (a hash of a canonical JSON text, not
        Python's salted ``hash``); ints given for float fields hash as the floats they mean. It
        includes :func:`code_fingerprint`, so results cached by an older version of the code are
        not resumed.
        """
        fields = _canonical(self)
        fields.pop("name")
        parts = [model_kind(self.model)] + (["quant"] if self.quant is not None else [])
        text = json.dumps({"version": _RECORDS_VERSION, "code": code_fingerprint(*parts),
                           **fields},
                          sort_keys=True)
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        return f"{self.name}-{digest}" if self.name else digest

    def source(self) -> MarkovSource:
        """The run's :class:`~scalingbook.data.markov.MarkovSource` (built anew on each call)."""
        return MarkovSource(self.vocab_size, self.order, zipf_exponent=self.zipf_exponent,
                            logit_noise=self.logit_noise, seed=self.data_seed)


def _canonical(config) -> dict[str, Any]:
    """Fields of a dataclass as JSON-ready values, nested dataclasses as dicts."""
    out = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            value = _canonical(value)
        elif isinstance(value, tuple):
            value = [float(v) for v in value]
        elif "float" in str(f.type) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        out[f.name] = value
    return out


def model_kind(model: TransformerConfig | MambaConfig) -> str:
    """``"transformer"`` or ``"mamba"``: the ``model_kind`` column of the records."""
    return "mamba" if isinstance(model, MambaConfig) else "transformer"


def build_model(config: RunConfig) -> torch.nn.Module:
    """The run's freshly initialized model (seeded by ``config.seed``), its linears
    fake-quantized when ``config.quant`` is set. Both kinds have ``loss(tokens, targets)``."""
    if isinstance(config.model, MambaConfig):
        model = MambaLM(config.model, seed=config.seed)
    else:
        model = Transformer(config.model, seed=config.seed)
    if config.quant is not None:
        skip = [name for name, mod in model.named_modules()
                if isinstance(mod, torch.nn.Linear) and name in ("lm_head",)]
        swap_linears(model, config.quant, skip=skip, seed=config.seed)
    return model


def model_counts(model: TransformerConfig | MambaConfig, seq_len: int) -> dict[str, float]:
    """``params`` (embedding included), ``non_embedding_params`` and training
    ``flops_per_token`` of a model config at sequence length ``seq_len``.

    Transformers use :func:`transformer_flops_per_token` (training: 3x the forward, attention
    included). Mamba uses 3x :func:`mamba_flops_per_token`'s forward total: the backward of each
    matmul costs twice its forward, and we count the scan's backward the same way.
    """
    if isinstance(model, MambaConfig):
        return {"params": mamba_param_count(model),
                "non_embedding_params": mamba_param_count(model, include_embedding=False),
                "flops_per_token": 3.0 * mamba_flops_per_token(model)["total"]}
    return {"params": transformer_param_count(model),
            "non_embedding_params": transformer_param_count(model, embedding=False),
            "flops_per_token": transformer_flops_per_token(model, seq_len)}


def _config_columns(config: RunConfig) -> dict[str, tuple[Any, str]]:
    """Record columns of the config, name -> (value, dtype): its own fields (three renamed),
    ``betas`` as ``beta1`` and ``beta2``, then the model's fields prefixed ``model_``."""
    cols: dict[str, tuple[Any, str]] = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if f.name == "model":
            continue
        if f.name == "quant":  # the scheme's short label; "" for float32
            cols["quant"] = ("" if value is None else value.label, "str")
            continue
        if f.name == "betas":
            cols["beta1"], cols["beta2"] = (value[0], "float64"), (value[1], "float64")
            continue
        # vocab_size is resolved to an int at construction, whatever its annotation says
        dtype = "int64" if f.name == "vocab_size" else _DTYPES.get(str(f.type), "str")
        cols[_RENAMED.get(f.name, f.name)] = (value, dtype)
    cols["model_kind"] = (model_kind(config.model), "str")
    for f in dataclasses.fields(config.model):
        dtype = _DTYPES.get(str(f.type))
        value = getattr(config.model, f.name)
        if dtype is None:  # a field type this table does not know: keep its text
            dtype, value = "str", str(value)
        cols[f"model_{f.name}"] = (value, dtype)
    return cols


def _record_dtypes(config: RunConfig) -> dict[str, str]:
    return {**_MEASURE_DTYPES, **{k: d for k, (_, d) in _config_columns(config).items()}}


def scheduled_lr(config: RunConfig, step: int) -> float:
    """Learning rate of update number ``step`` (0-based: ``step`` updates have been done).

    With peak ``lr``, W = n_warmup_steps, n = n_steps, r = min_lr_ratio:

    - warm-up, step < W: ``lr * (step + 1) / W`` (linear; the first update is not wasted at 0);
    - then with progress p = (step - W) / (n - 1 - W), from 0 at the first update after
      warm-up to 1 at the last (p = 0 throughout when n - 1 - W is 0):

      - "cosine": ``lr * (r + (1 - r) * (1 + cos(pi p)) / 2)``
      - "linear": ``lr * (r + (1 - r) * (1 - p))``
      - "constant": ``lr``

    so the last update of a decaying schedule uses exactly ``r * lr``.
    """
    step = positive_int("step", step, minimum=0)
    if step >= config.n_steps:
        raise ValueError(f"step must be below n_steps={config.n_steps}, got {step}")
    warm, n, r = config.n_warmup_steps, config.n_steps, config.min_lr_ratio
    if step < warm:
        return config.lr * (step + 1) / warm
    if config.schedule == "constant":
        return config.lr
    p = (step - warm) / (n - 1 - warm) if n - 1 > warm else 0.0
    if config.schedule == "linear":
        return config.lr * (r + (1 - r) * (1 - p))
    return config.lr * (r + (1 - r) * 0.5 * (1 + math.cos(math.pi * p)))


# ---------------------------------------------------------------------------------------------
# Results files
# ---------------------------------------------------------------------------------------------


def results_dir(name: str) -> Path:
    """A results directory for the sweep called ``name``, shared by every build on this machine.

    ``$SCALINGBOOK_RESULTS/<name>`` if that variable is set, else
    ``~/.cache/scalingbook/runs/<name>``. Chapters pass it as ``out_dir`` so a rebuild reuses
    finished runs; run ids include :func:`code_fingerprint`, so changed code retrains.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError("name must be 1 to 64 letters, digits, '_', '.' and '-' (not starting "
                         f"with '_', '.' or '-'), got {name!r}")
    root = os.environ.get("SCALINGBOOK_RESULTS")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "scalingbook" / "runs"
    return base / name


def records_path(config: RunConfig, out_dir: str | os.PathLike) -> Path:
    """Where the finished run's records live: ``out_dir/<run_id>.csv``."""
    return Path(out_dir) / f"{config.run_id}.csv"


def _read_records(path: Path, config: RunConfig) -> pd.DataFrame:
    dtypes = _record_dtypes(config)
    nullable = {c: [""] for c, d in dtypes.items() if d in ("Int64", "Float64")}
    return pd.read_csv(path, dtype=dtypes, keep_default_na=False, na_values=nullable)


def load_records(config: RunConfig, out_dir: str | os.PathLike, *,
                 num_threads: int | None = None) -> pd.DataFrame | None:
    """The records of a finished run from ``out_dir``, or None if it has not finished there.

    A file counts as finished when it reads back whole: the expected columns, the run's
    ``run_id`` in every row and one row per checkpoint ending at ``n_steps``; and as this
    process's run when it was trained with this process's torch version and CPU instruction set
    (and with ``num_threads`` threads, when that is given). Anything else (no file, a truncated
    or foreign one, one trained elsewhere) returns None, and :func:`train_run` overwrites it.
    Temporary files of an interrupted write (``.<run_id>.*.tmp``) are never read.
    """
    path = records_path(config, out_dir)
    if not path.is_file():
        return None
    try:
        records = _read_records(path, config)
    except (ValueError, TypeError, OSError, pd.errors.ParserError):
        return None
    expected = list(_record_dtypes(config))
    if (list(records.columns) != expected or len(records) != len(config.checkpoints)
            or not (records["run_id"] == config.run_id).all()
            or records["step"].tolist() != config.checkpoints):
        return None
    here = execution_context(num_threads)
    checked = ("torch_version", "cpu_capability") + (("num_threads",) if num_threads else ())
    if any((records[k] != here[k]).any() for k in checked):
        return None
    return records


def _write_atomic(records: pd.DataFrame, path: Path) -> None:
    """Write CSV to a temporary file beside ``path``, fsync it, then rename it onto ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="") as fh:
            records.to_csv(fh, index=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


# ---------------------------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------------------------


def _optimizer(model: torch.nn.Module, config: RunConfig) -> torch.optim.AdamW:
    decay = [p for p in model.parameters() if p.ndim >= 2]  # matrices and the embedding
    rest = [p for p in model.parameters() if p.ndim < 2]  # norm gains, biases
    groups = [{"params": decay, "weight_decay": config.weight_decay},
              {"params": rest, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=scheduled_lr(config, 0), betas=config.betas)


@torch.no_grad()
def _eval_loss(model: torch.nn.Module, windows: torch.Tensor, chunk: int) -> float:
    """Mean cross-entropy (nats/token) over every target of ``windows`` (rows, seq_len + 1)."""
    model.eval()
    total = 0.0
    for lo in range(0, windows.shape[0], chunk):
        part = windows[lo:lo + chunk]
        total += model.loss(part[:, :-1], part[:, 1:]).item() * part[:, 1:].numel()
    model.train()
    return total / windows[:, 1:].numel()


def train_run(config: RunConfig, *, out_dir: str | os.PathLike | None = None,
              progress: bool = False, num_threads: int | None = 1) -> pd.DataFrame:
    """Train the run ``config`` describes and return its records, one row per checkpoint.

    Parameters
    ----------
    config : RunConfig
    out_dir : path or None
        Results directory (created if missing). If ``out_dir/<run_id>.csv`` holds the finished
        run (:func:`load_records`), it is returned without training; otherwise the run trains
        and its records are written there atomically when it finishes.
    progress : bool
        Show a tqdm bar over steps, with the latest checkpoint's losses.
    num_threads : int or None
        torch intra-op threads while training, restored afterwards; None leaves the caller's
        setting. 1 (default) is fastest for these small models on a shared 2-core machine, and
        runs in parallel processes should each have 1. Records are reproducible for a fixed
        thread count.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`RECORD_COLUMNS` (losses in nats/token, ``tokens`` in tokens, ``flops`` in
        FLOPs, ``wall_time`` in seconds; see the comments there), then every config field:
        the run's own under their names except ``tokens``, ``steps`` and ``lr``, which become
        ``budget_tokens``, ``budget_steps`` and ``peak_lr``; ``betas`` as ``beta1``, ``beta2``;
        the model's prefixed ``model_``. Missing values (a budget not given, ``d_ff=None``) are
        pandas NA. The reducible loss is ``eval_loss - irreducible_loss``.

    Raises
    ------
    ValueError
        If ``config`` is not a RunConfig (a RunConfig is validated when it is made).
    FloatingPointError
        If the training loss becomes NaN or infinite (nothing is written).
    """
    if not isinstance(config, RunConfig):
        raise ValueError(f"config must be a RunConfig, got {type(config).__name__}")
    if num_threads is not None:
        num_threads = positive_int("num_threads", num_threads)
    if out_dir is not None:
        done = load_records(config, out_dir, num_threads=num_threads)
        if done is not None:
            return done

    with _torch_threads(num_threads), torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)  # dropout's draws; the caller's state is restored
        records = _train(config, progress)
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        _write_atomic(records, records_path(config, out_dir))
    return records


def _train(config: RunConfig, progress: bool) -> pd.DataFrame:
    source = config.source()
    held_out = next(source.batches(-(-config.eval_tokens // config.seq_len), config.seq_len,
                                   seed=EVAL_STREAM_SEED))
    constants = {
        "eval_source_nll": source.mean_nll(held_out),
        "irreducible_loss": source.irreducible_loss(config.seq_len),
        **model_counts(config.model, config.seq_len),
        "n_steps": config.n_steps,
        "n_warmup_steps": config.n_warmup_steps,
        **execution_context(),
    }
    columns = _config_columns(config)
    model = build_model(config)
    model.train()
    opt = _optimizer(model, config)
    stream = source.batches(config.batch_size, config.seq_len, seed=config.seed + 1)
    checkpoints = set(config.checkpoints)

    from tqdm.auto import tqdm

    rows, losses = [], []
    start = time.perf_counter()
    with tqdm(total=config.n_steps, disable=not progress, desc=config.run_id) as bar:
        for step in range(config.n_steps):
            lr = scheduled_lr(config, step)
            for group in opt.param_groups:
                group["lr"] = lr
            batch = next(stream)
            loss = model.loss(batch[:, :-1], batch[:, 1:])
            if not torch.isfinite(loss):
                raise FloatingPointError(f"run {config.run_id}: training loss is {loss.item()} "
                                         f"at step {step + 1} (lr={lr:.3g}); lower lr or clip")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            opt.step()
            losses.append(loss.item())
            bar.update(1)
            done = step + 1
            if done not in checkpoints:
                continue
            tokens = done * config.tokens_per_step
            eval_loss = _eval_loss(model, held_out, config.batch_size)
            rows.append({
                "run_id": config.run_id, "step": done, "tokens": tokens,
                "flops": constants["flops_per_token"] * tokens,
                "train_loss": sum(losses) / len(losses), "eval_loss": eval_loss,
                "eval_source_nll": constants["eval_source_nll"],
                "irreducible_loss": constants["irreducible_loss"], "lr": lr,
                "wall_time": time.perf_counter() - start,
                **{k: constants[k] for k in RECORD_COLUMNS[RECORD_COLUMNS.index("params"):]},
                **{k: v for k, (v, _) in columns.items()},
            })
            losses = []
            bar.set_postfix(train_loss=f"{rows[-1]['train_loss']:.3f}",
                            eval_loss=f"{eval_loss:.3f}")
    return pd.DataFrame(rows).astype(_record_dtypes(config))
