"""The lab of the chapter on precision laws: train tiny models in several float formats, fit the law.

:func:`run_precision_laws_experiment` trains a small sweep of language models on a Markov source
(:func:`~scalingbook.train.train_run`): for every model width and training length, one float32
run and one run per (format, block size), with the forward GEMMs of every linear layer
fake-quantized (:class:`~scalingbook.precision.QuantScheme`, block scales E8M0 rounded up so
nothing clips). It then fits the precision term of Sun et al.'s law
(:func:`~scalingbook.fit.fit_fp_quant`) with each run's high-precision part held at the float32
run of the same width, length and seed. :class:`PrecisionLawsLab` puts the sweep's choices on
ipywidgets controls.

Our setting is not the paper's: models of about 10^4 non-embedding parameters instead of 10^8,
10^5 tokens instead of 10^10, a synthetic source, the five OCP element formats only (E2M1, E2M3,
E3M2, E4M3, E5M2, so E spans 2 to 5 and M 1 to 3), power-of-two block scales, and both operands
of the forward GEMM quantized, where the paper quantized the weights in the forward and backward
GEMMs and the activations of the weight-gradient GEMM.
"""

from __future__ import annotations

import tempfile
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._validate import positive_int, positive_scalar
from ..fit.fp_quant import fit_fp_quant
from ..fit.result import FitResult
from ..laws.fp_quant import FPQuantLaw
from ..models.transformer import TransformerConfig
from ..papers import sun2025
from ..precision.fake_quant import QuantScheme
from ..train.lm import RunConfig, train_run

__all__ = [
    "FORMATS",
    "PRECISION_FULL",
    "PRECISION_QUICK",
    "PrecisionLabResult",
    "PrecisionLawsLab",
    "PrecisionSweep",
    "layout_table",
    "precision_laws_lab",
    "run_precision_laws_experiment",
]

#: The element formats the sweep can use (QuantScheme names), with their (E, M) bits.
FORMATS: dict[str, tuple[int, int]] = {
    "fp4_e2m1": (2, 1),
    "fp6_e2m3": (2, 3),
    "fp6_e3m2": (3, 2),
    "fp8_e4m3": (4, 3),
    "fp8_e5m2": (5, 2),
}


def _ints(name: str, values, minimum: int = 1) -> tuple[int, ...]:
    values = tuple(values)
    if not values:
        raise ValueError(f"{name} must name at least one value")
    out = tuple(positive_int(f"{name}[{i}]", v, minimum=minimum) for i, v in enumerate(values))
    if len(set(out)) != len(out):
        raise ValueError(f"{name} has repeated values: {out}")
    return out


@dataclass(frozen=True)
class PrecisionSweep:
    """A sweep: each (``d_model``, ``steps``) pair trains in float32 and in each of ``quantized``.

    Fields
    ------
    d_models : tuple of int
        Widths of the 2-layer transformers (``n_heads`` 4; each width a multiple of 8).
    steps : tuple of int
        Training lengths in optimizer steps (``batch_size * seq_len`` tokens each).
    quantized : tuple of (format, block size)
        Formats from :data:`FORMATS` and block sizes (elements per scale, at least 2).
    n_layers, vocab_size, order, seq_len, batch_size, lr, seed
        The rest of every run (:class:`~scalingbook.train.RunConfig`): a Markov source of the
        given vocabulary and order, cosine decay to zero after a 10% warm-up.
    """

    d_models: tuple[int, ...] = (32,)
    steps: tuple[int, ...] = (150,)
    quantized: tuple[tuple[str, int], ...] = (
        ("fp4_e2m1", 8), ("fp4_e2m1", 32), ("fp6_e2m3", 32), ("fp6_e3m2", 32), ("fp8_e4m3", 32),
    )
    n_layers: int = 2
    vocab_size: int = 64
    order: int = 1
    seq_len: int = 32
    batch_size: int = 16
    lr: float = 5e-3
    seed: int = 0

    def __post_init__(self) -> None:
        widths = _ints("d_models", self.d_models, minimum=8)
        for w in widths:
            if w % 8:
                raise ValueError(f"d_models must be multiples of 8 (4 heads of even size), got {w}")
        object.__setattr__(self, "d_models", widths)
        object.__setattr__(self, "steps", _ints("steps", self.steps, minimum=10))
        quantized = tuple(self.quantized)
        if not quantized:
            raise ValueError("quantized must name at least one (format, block size)")
        checked = []
        for i, item in enumerate(quantized):
            try:
                fmt, block = item
            except (TypeError, ValueError):
                raise ValueError(f"quantized[{i}] must be a (format, block size) pair, got {item!r}") from None
            if fmt not in FORMATS:
                raise ValueError(f"quantized[{i}] format must be one of {', '.join(map(repr, FORMATS))}, got {fmt!r}")
            checked.append((fmt, positive_int(f"quantized[{i}] block size", block, minimum=2)))
        if len(set(checked)) != len(checked):
            raise ValueError("quantized has repeated (format, block size) pairs")
        object.__setattr__(self, "quantized", tuple(checked))
        for name in ("n_layers", "vocab_size", "order", "seq_len", "batch_size", "seed"):
            minimum = {"order": 0, "seed": 0, "vocab_size": 2}.get(name, 1)
            object.__setattr__(self, name, positive_int(name, getattr(self, name), minimum=minimum))
        object.__setattr__(self, "lr", positive_scalar("lr", self.lr))

    def scheme(self, fmt: str, block: int) -> QuantScheme:
        """The forward-only block scheme of one format: E8M0 scales rounded up (no clipping)."""
        return QuantScheme(element=fmt, block_size=block, scale_format="e8m0", scale_mode="rceil",
                           quantize_backward=False)

    def configs(self) -> list[tuple[dict, RunConfig]]:
        """Every run as ``(labels, config)``; labels hold d_model, steps, format, E, M, B
        (format ``"float32"`` with ``B = 1`` for the high-precision runs)."""
        out = []
        for d_model in self.d_models:
            model = TransformerConfig(vocab_size=self.vocab_size, d_model=d_model,
                                      n_layers=self.n_layers, n_heads=4, context=self.seq_len)
            for steps in self.steps:
                common = dict(model=model, order=self.order, seq_len=self.seq_len,
                              batch_size=self.batch_size, steps=steps, lr=self.lr,
                              warmup_fraction=0.1, min_lr_ratio=0.0, seed=self.seed,
                              name=f"precision-d{d_model}-s{steps}")
                base = {"d_model": d_model, "steps": steps}
                out.append(({**base, "format": "float32", "E": np.nan, "M": np.nan, "B": 1},
                            RunConfig(**common)))
                for fmt, block in self.quantized:
                    e, m = FORMATS[fmt]
                    out.append(({**base, "format": fmt, "E": e, "M": m, "B": block},
                                RunConfig(**common, quant=self.scheme(fmt, block))))
        return out

    @property
    def n_runs(self) -> int:
        return len(self.d_models) * len(self.steps) * (1 + len(self.quantized))


#: The chapter's quick sweep: one model, one length, five quantized runs and a float32 one.
PRECISION_QUICK = PrecisionSweep()
#: The book's sweep: two widths, two lengths, seven quantized runs each (32 runs).
PRECISION_FULL = PrecisionSweep(
    d_models=(32, 64),
    steps=(150, 300),
    quantized=(("fp4_e2m1", 8), ("fp4_e2m1", 32), ("fp6_e2m3", 32), ("fp6_e3m2", 8),
               ("fp6_e3m2", 32), ("fp8_e4m3", 32), ("fp8_e5m2", 32)),
)


@dataclass
class PrecisionLabResult:
    """The sweep's runs (one row each) and the fit of the precision term to the quantized ones.

    ``runs`` columns: d_model, steps, N (non-embedding parameters), D (training tokens), format,
    E, M, B, P (= 1 + E + M), loss and base_loss (final held-out loss of the run and of the
    float32 run of the same width and length, nats/token), gap (loss - base_loss),
    irreducible_loss, wall_time (s).
    """

    runs: pd.DataFrame
    fit: FitResult
    sweep: PrecisionSweep
    held: dict[str, float] = field(default_factory=dict)

    @property
    def quantized(self) -> pd.DataFrame:
        return self.runs[self.runs["format"] != "float32"].reset_index(drop=True)


def _resolve(name: str, value, distinct: int) -> float | None:
    """``"auto"``: fit the exponent when the runs span two values, else hold the paper's."""
    if isinstance(value, str):
        if value != "auto":
            raise ValueError(f"{name} must be 'auto', None (fit it) or a positive number, got {value!r}")
        return None if distinct >= 2 else sun2025.TABLE_2[name]
    if value is None and distinct < 2:
        raise ValueError(f"{name} cannot be fitted from runs with a single "
                         f"{'model size' if name == 'alpha' else 'training length'}; hold it")
    return None if value is None else positive_scalar(name, value)


def run_precision_laws_experiment(
    sweep: PrecisionSweep = PRECISION_QUICK,
    *,
    alpha: float | str | None = "auto",
    beta: float | str | None = "auto",
    out_dir=None,
    bootstrap: int = 0,
    seed: int = 0,
    progress: bool = False,
) -> PrecisionLabResult:
    """Train ``sweep`` (reusing finished runs in ``out_dir``) and fit the precision term.

    ``alpha`` and ``beta`` (the exponents of the knowledge intensity ``D^beta / N^alpha``):
    ``"auto"`` fits each when the sweep has two or more model widths (training lengths) and
    otherwise holds it at Sun et al.'s value, which then only rescales ``gamma``; None always
    fits, a number holds. ``out_dir`` None trains in a temporary directory that is removed
    afterwards. ``bootstrap`` refits (resampling runs, seeded by ``seed``) give 95% intervals.
    """
    if not isinstance(sweep, PrecisionSweep):
        raise ValueError(f"sweep must be a PrecisionSweep, got {type(sweep).__name__}")
    a_held = _resolve("alpha", alpha, len(sweep.d_models))
    b_held = _resolve("beta", beta, len(sweep.steps))
    # Refuse a sweep the fit cannot use before spending any time training it.
    free = 3 + (a_held is None) + (b_held is None)
    n_quantized = sweep.n_runs - len(sweep.d_models) * len(sweep.steps)
    if n_quantized < free + 1:
        raise ValueError(f"the sweep has {n_quantized} quantized runs; fitting {free} constants "
                         f"needs at least {free + 1} (add formats, block sizes, widths or lengths)")
    for axis, name in ((0, "exponent"), (1, "mantissa")):
        if len({FORMATS[f][axis] for f, _ in sweep.quantized}) < 2:
            raise ValueError(f"the sweep's formats share one {name} width; fitting its exponent "
                             f"needs formats with at least two")
    rows = []
    with tempfile.TemporaryDirectory(prefix="precision-laws-") as tmp:
        where = tmp if out_dir is None else out_dir
        configs = sweep.configs()
        for i, (labels, cfg) in enumerate(configs):
            if progress:
                print(f"run {i + 1}/{len(configs)}: d_model {labels['d_model']}, {labels['steps']} steps, "
                      f"{labels['format']}" + (f", B={labels['B']}" if labels["B"] > 1 else ""), flush=True)
            last = train_run(cfg, out_dir=where).iloc[-1]
            rows.append({**labels, "N": int(last["non_embedding_params"]), "D": int(last["tokens"]),
                         "loss": float(last["eval_loss"]),
                         "irreducible_loss": float(last["irreducible_loss"]),
                         "wall_time": float(last["wall_time"])})
    runs = pd.DataFrame(rows)
    base = runs[runs["format"] == "float32"].set_index(["d_model", "steps"])["loss"]
    runs["base_loss"] = [base[(w, s)] for w, s in zip(runs["d_model"], runs["steps"])]
    runs["gap"] = runs["loss"] - runs["base_loss"]
    runs["P"] = 1 + runs["E"] + runs["M"]
    runs = runs[["d_model", "steps", "N", "D", "format", "E", "M", "B", "P", "loss", "base_loss",
                 "gap", "irreducible_loss", "wall_time"]]

    q = runs[runs["format"] != "float32"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a fit's trouble is in its notes
        fit = fit_fp_quant(q["N"], q["D"], q["E"], q["M"], q["B"], q["loss"], q["base_loss"],
                           alpha=a_held, beta=b_held, bootstrap=bootstrap, seed=seed)
    held = {k: v for k, v in (("alpha", a_held), ("beta", b_held)) if v is not None}
    return PrecisionLabResult(runs=runs, fit=fit, sweep=sweep, held=held)


def layout_table(delta: float, nu: float, bits=(4, 6, 8, 16)) -> pd.DataFrame:
    """The best real-valued and integer splits of each total ``bits`` for exponents ``delta``, ``nu``.

    The split depends on ``delta`` and ``nu`` alone (:meth:`FPQuantLaw.optimal_mantissa`), so the
    law's other constants are left at their defaults here and do not enter. Columns: P,
    M_opt, E_opt (real-valued), best (the integer layout, e.g. "E4M3").
    """
    law = FPQuantLaw(delta=positive_scalar("delta", delta), nu=positive_scalar("nu", nu))
    rows = []
    for P in bits:
        e, m = law.best_layout(int(P))
        rows.append({"P": int(P), "M_opt": float(law.optimal_mantissa(P)),
                     "E_opt": float(law.optimal_exponent(P)), "best": f"E{e}M{m}"})
    return pd.DataFrame(rows)


class PrecisionLawsLab:
    """ipywidgets controls that rerun :func:`run_precision_laws_experiment` and show the result.

    ``lab.widget`` is what a notebook displays; ``lab.run_button.click()`` runs it (as a click in
    the page does); ``lab.result`` holds the last :class:`PrecisionLabResult`.
    """

    def __init__(self) -> None:
        import ipywidgets as w

        style = {"description_width": "150px"}
        d = PRECISION_QUICK
        self.widths = w.SelectMultiple(options=[16, 32, 64, 96], value=d.d_models,
                                       description="model widths", style=style)
        self.steps = w.SelectMultiple(options=[50, 100, 150, 300, 600], value=d.steps,
                                      description="training steps", style=style)
        self.formats = w.SelectMultiple(options=list(FORMATS), value=tuple(FORMATS)[:4],
                                        description="formats", style=style)
        self.blocks = w.SelectMultiple(options=[4, 8, 16, 32, 64], value=(8, 32),
                                       description="block sizes", style=style)
        self.lr = w.FloatLogSlider(value=d.lr, base=10, min=-3, max=-1.5, step=0.1,
                                   description="peak learning rate", style=style)
        self.seed = w.IntSlider(value=0, min=0, max=9, description="seed", style=style)
        self.run_button = w.Button(description="Run experiment", button_style="primary", icon="play")
        self.output = w.Output()
        self.result: PrecisionLabResult | None = None
        self.run_button.on_click(self._on_click)
        controls = w.VBox([self.widths, self.steps, self.formats, self.blocks, self.lr, self.seed])
        self.widget = w.VBox([controls, self.run_button, self.output])

    def sweep(self) -> PrecisionSweep:
        """The sweep the controls describe: every chosen format at every chosen block size."""
        quantized = tuple((f, b) for f in self.formats.value for b in self.blocks.value)
        return PrecisionSweep(d_models=tuple(sorted(self.widths.value)), steps=tuple(sorted(self.steps.value)),
                              quantized=quantized, lr=self.lr.value, seed=self.seed.value)

    def _on_click(self, _button) -> None:
        from ..viz.precision_laws import precision_gap_chart

        self.output.outputs = ()  # clear_output needs a kernel capturing output; this does not
        self.run_button.disabled = True
        try:
            try:
                self.result = run_precision_laws_experiment(self.sweep())
            except ValueError as err:  # a sweep the fit cannot use: say why, train nothing
                self.output.append_stdout(f"{err}\n")
                return
            p = self.result.fit.params
            held = ", ".join(f"{k} held at {v:.4g}" for k, v in self.result.held.items()) or "all fitted"
            lines = [f"fitted precision term ({held}): delta = {p['delta']:.3f}, nu = {p['nu']:.3f}, "
                     f"gamma = {p['gamma']:.4g}, alpha = {p['alpha']:.3f}, beta = {p['beta']:.3f}",
                     f"Sun et al. (2025): delta = {sun2025.TABLE_2['delta']}, nu = {sun2025.TABLE_2['nu']}"]
            if p["delta"] > 0 and p["nu"] > 0:
                table = layout_table(p["delta"], p["nu"])
                lines.append("best integer layouts from our fit: "
                             + ", ".join(f"FP{r.P} {r.best}" for r in table.itertuples()))
            self.output.append_stdout("\n".join(lines) + "\n")
            self.output.append_display_data(precision_gap_chart(self.result.quantized, self.result.fit))
        finally:
            self.run_button.disabled = False

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def precision_laws_lab() -> PrecisionLawsLab:
    """Build the lab (display the returned object in a notebook)."""
    return PrecisionLawsLab()
