"""How much a quantization scheme distorts a tensor: relative error, SNR, bias, error histograms.

The FP4 recipes differ in how they set block scales (E8M0 powers of two, E4M3 or UE5M3 fp8
scales, QuEST's Gaussian fit) and in whether a random Hadamard transform (RHT) rotates each block
first. Their effect on one GEMM operand can be measured directly: quantize ``x`` along its rows
(the inner dimension of the GEMM it feeds) and compare.

With the RHT, ``x`` is rotated, quantized, and rotated back before comparing, so the error is
measured where the GEMM sees it: the rotations of the two operands cancel in the product, and an
orthonormal rotation leaves the squared error unchanged, only its distribution over entries.

Units: ``relative_mse`` is ``||Q(x) - x||^2 / ||x||^2`` (dimensionless), ``snr_db`` is
``-10 log10(relative_mse)`` (decibels), errors in histograms are divided by ``rms(x)``.

:func:`synthetic_operand` makes test tensors: Gaussian, Gaussian with rare large entries, with
outlier channels (a few columns much larger, as in LLM activations), and with rows spread over
several decades of magnitude (as gradients are).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F

from .._validate import nonnegative_scalar, one_of, positive_int, positive_scalar
from ._common import ROUNDING_MODES, as_float_tensor
from .fake_quant import QuantScheme
from .hadamard import inverse_random_hadamard_transform, random_hadamard_transform
from .quest import quantize_quest

__all__ = [
    "GEMM_OPERANDS", "OPERAND_KINDS", "QuantError", "RoundingBias", "capture_gemm_operands",
    "error_histogram", "error_table", "gemm_operand_table", "kurtosis", "outlier_sweep",
    "quantization_error", "rounding_bias", "synthetic_operand",
]

#: Kinds of :func:`synthetic_operand`.
OPERAND_KINDS = ("gaussian", "outliers", "channels")


def synthetic_operand(
    rows: int,
    cols: int,
    *,
    kind: str = "outliers",
    outlier_fraction: float = 0.01,
    outlier_scale: float = 20.0,
    row_decades: float = 0.0,
    seed: int = 0,
) -> torch.Tensor:
    """A float32 (rows, cols) tensor of standard normal entries, made heavy-tailed on request.

    ``kind``: ``"gaussian"``; ``"outliers"`` (each entry, with probability ``outlier_fraction``,
    multiplied by ``outlier_scale``); ``"channels"`` (a fraction ``outlier_fraction`` of the
    columns, at least one, multiplied by ``outlier_scale``). ``row_decades`` > 0 multiplies each
    row by ``10**u``, ``u`` uniform on ``[-row_decades / 2, row_decades / 2]``.
    """
    rows = positive_int("rows", rows)
    cols = positive_int("cols", cols)
    one_of("kind", kind, OPERAND_KINDS)
    frac = nonnegative_scalar("outlier_fraction", outlier_fraction)
    if frac > 1:
        raise ValueError(f"outlier_fraction must be at most 1, got {outlier_fraction!r}")
    outlier_scale = positive_scalar("outlier_scale", outlier_scale)
    row_decades = nonnegative_scalar("row_decades", row_decades)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, cols, generator=g)
    if kind == "outliers":
        x = torch.where(torch.rand(rows, cols, generator=g) < frac, x * outlier_scale, x)
    elif kind == "channels":
        n = max(1, round(frac * cols))
        chosen = torch.randperm(cols, generator=g)[:n]
        x[:, chosen] *= outlier_scale
    if row_decades > 0:
        u = (torch.rand(rows, 1, generator=g) - 0.5) * row_decades
        x = x * torch.pow(10.0, u)
    return x


def _check_scheme(scheme) -> QuantScheme:
    if not isinstance(scheme, QuantScheme):
        raise ValueError(f"scheme must be a QuantScheme, got {type(scheme).__name__}")
    return scheme


def _quantize_rows(x2: torch.Tensor, scheme: QuantScheme, hadamard: bool, rounding: str,
                   generator: torch.Generator | None, seed: int) -> torch.Tensor:
    """Quantize-dequantize the rows of float32 (R, K) ``x2`` as ``scheme`` would a GEMM operand."""
    K = x2.shape[-1]
    t = x2
    if hadamard:
        hb = scheme.hadamard_block_size
        t = F.pad(t, (0, (-K) % hb))
        t = random_hadamard_transform(t, seed=seed, block_size=hb)
    if scheme.forward_quantizer == "quest" and rounding == "nearest_even":
        q = quantize_quest(t, scheme.element, block_size=scheme.block_size).values
    else:
        q = scheme.quantize(t, rounding, generator)
    if hadamard:
        q = inverse_random_hadamard_transform(q, seed=seed, block_size=scheme.hadamard_block_size)[:, :K]
    return q


@dataclass(frozen=True)
class QuantError:
    """One scheme on one tensor.

    ``dequantized`` and ``error`` (= dequantized - x) have ``x``'s shape (float32);
    ``relative_mse`` = ||error||² / ||x||², ``snr_db`` = -10 log10(relative_mse) (inf when exact),
    ``mean_error`` = mean(error) / rms(x) (signed, dimensionless), ``flushed`` = share of the
    nonzero entries of ``x`` that came out zero, ``row_relative_mse`` = the mean over nonzero
    rows of ||error_row||² / ||x_row||², which weighs small rows (a narrow scale format's
    casualties) as much as large ones.
    """

    dequantized: torch.Tensor
    error: torch.Tensor
    relative_mse: float
    snr_db: float
    mean_error: float
    flushed: float
    row_relative_mse: float


def quantization_error(
    x: torch.Tensor,
    scheme: QuantScheme,
    *,
    hadamard: bool | None = None,
    rounding: str | None = None,
    generator: torch.Generator | None = None,
    seed: int = 0,
) -> QuantError:
    """Quantize ``x`` (2-D, rows along the GEMM's inner dimension) with ``scheme`` and measure.

    ``hadamard`` overrides the scheme's own flag (None keeps it); ``rounding`` defaults to the
    scheme's ``forward_rounding`` (``"stochastic"`` draws from ``generator``); ``seed`` fixes the
    Hadamard signs. A ``"quest"`` scheme uses its Gaussian-fitted forward quantizer when rounding
    to nearest, the block quantizer otherwise.
    """
    x = as_float_tensor("x", x)
    if x.ndim != 2:
        raise ValueError(f"x must be 2-dimensional (rows, inner dimension), got shape {tuple(x.shape)}")
    if x.numel() == 0:
        raise ValueError("x must not be empty")
    if not bool(torch.isfinite(x).all()):
        raise ValueError("x must be finite (it holds NaN or Inf)")
    scheme = _check_scheme(scheme)
    had = scheme.hadamard if hadamard is None else hadamard
    if not isinstance(had, bool):
        raise ValueError(f"hadamard must be True, False or None, got {hadamard!r}")
    rounding = scheme.forward_rounding if rounding is None else rounding
    one_of("rounding", rounding, ROUNDING_MODES)
    x2 = x.to(torch.float32)
    q = _quantize_rows(x2, scheme, had, rounding, generator, seed)
    err = q - x2
    power = float(x2.double().square().sum())
    if power == 0:
        raise ValueError("x must not be all zeros (the relative error is undefined)")
    rel = float(err.double().square().sum()) / power
    rms = math.sqrt(power / x2.numel())
    nonzero = x2 != 0
    flushed = float(((q == 0) & nonzero).sum()) / max(int(nonzero.sum()), 1)
    row_power = x2.double().square().sum(-1)
    live = row_power > 0
    row_rel = float((err.double().square().sum(-1)[live] / row_power[live]).mean())
    return QuantError(q, err, rel, -10 * math.log10(rel) if rel > 0 else math.inf,
                      float(err.double().mean()) / rms, flushed, row_rel)


def _check_groups(schemes, hadamard) -> None:
    if not isinstance(schemes, Mapping) or not schemes:
        raise ValueError("schemes must be a non-empty mapping of names to QuantSchemes")
    for name, scheme in schemes.items():
        if not isinstance(scheme, QuantScheme):
            raise ValueError(f"schemes[{name!r}] must be a QuantScheme, got {type(scheme).__name__}")
    if not isinstance(hadamard, tuple) or not hadamard or any(not isinstance(h, bool) for h in hadamard):
        raise ValueError(f"hadamard must be a non-empty tuple of booleans, got {hadamard!r}")


def error_table(
    x: torch.Tensor,
    schemes: Mapping[str, QuantScheme],
    *,
    hadamard: tuple[bool, ...] = (False, True),
    seed: int = 0,
) -> pd.DataFrame:
    """One row per (scheme, hadamard): columns ``scheme``, ``hadamard``, ``relative_mse``,
    ``snr_db``, ``mean_error``, ``flushed``, ``row_relative_mse`` (see :class:`QuantError`),
    round-to-nearest."""
    _check_groups(schemes, hadamard)
    rows = []
    for name, scheme in schemes.items():
        for had in hadamard:
            r = quantization_error(x, scheme, hadamard=had, rounding="nearest_even", seed=seed)
            rows.append({"scheme": name, "hadamard": had, "relative_mse": r.relative_mse,
                         "snr_db": r.snr_db, "mean_error": r.mean_error, "flushed": r.flushed,
                         "row_relative_mse": r.row_relative_mse})
    return pd.DataFrame(rows)


def _check_edges(edges) -> np.ndarray:
    edges = np.linspace(-4.0, 0.0, 41) if edges is None else np.asarray(edges, dtype=float)
    if edges.ndim != 1 or edges.size < 2 or not np.all(np.isfinite(edges)) or np.any(np.diff(edges) <= 0):
        raise ValueError("edges must be at least two finite, strictly increasing numbers")
    return edges


def _hist_rows(err: torch.Tensor, unit: float, edges: np.ndarray) -> list[dict]:
    """Bins of log10(|err| / unit): lo, hi, fraction, and the shares below and above the edges."""
    mag = err.abs().double().numpy().ravel() / unit
    with np.errstate(divide="ignore"):
        logm = np.log10(mag)  # exact entries give -inf: counted below
    n = logm.size
    counts, _ = np.histogram(logm[np.isfinite(logm)], bins=edges)
    counts[-1] -= int(np.sum(logm == edges[-1]))  # np.histogram closes the last bin; ours go above
    below = float(np.sum(logm < edges[0])) / n
    above = float(np.sum(logm >= edges[-1])) / n
    return [{"lo": float(lo), "hi": float(hi), "fraction": c / n, "below": below, "above": above}
            for lo, hi, c in zip(edges[:-1], edges[1:], counts)]


def error_histogram(
    x: torch.Tensor,
    schemes: Mapping[str, QuantScheme],
    *,
    hadamard: tuple[bool, ...] = (False, True),
    edges: np.ndarray | None = None,
    reference: float | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Histogram of ``log10(|error| / reference)`` per (scheme, hadamard), round-to-nearest.

    ``reference`` is the unit errors are measured in (default ``rms(x)``). ``edges``
    (increasing, default 41 edges from -4 to 0 in log10 units) bound the bins. Columns:
    ``scheme``, ``hadamard``, ``lo``, ``hi`` (bin edges, log10 units), ``fraction`` (of all
    entries), and per group ``below`` (share under the lowest edge, exact entries included) and
    ``above`` (share at or over the highest edge), so the fractions and the two tails sum to 1.
    """
    edges = _check_edges(edges)
    _check_groups(schemes, hadamard)
    x = as_float_tensor("x", x)
    rms = float(x.to(torch.float64).square().mean().sqrt()) if reference is None \
        else positive_scalar("reference", reference)
    rows = []
    for name, scheme in schemes.items():
        for had in hadamard:
            err = quantization_error(x, scheme, hadamard=had, rounding="nearest_even", seed=seed).error
            rows += [{"scheme": name, "hadamard": had, **r} for r in _hist_rows(err, rms, edges)]
    return pd.DataFrame(rows)


def outlier_sweep(
    schemes: Mapping[str, QuantScheme],
    outlier_scales,
    *,
    rows: int = 256,
    cols: int = 256,
    kind: str = "channels",
    outlier_fraction: float = 0.02,
    hadamard: tuple[bool, ...] = (False, True),
    edges: np.ndarray | None = None,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Errors of every scheme, with and without the rotation, as outliers grow.

    For each ``outlier_scale`` in ``outlier_scales`` (at least 1; 1 is plain Gaussian data) the
    tensor is ``synthetic_operand(rows, cols, kind=kind, outlier_fraction=..., outlier_scale=...,
    seed=seed)``. Returns ``(table, histogram)``: the :func:`error_table` and
    :func:`error_histogram` columns, each with an ``outlier_scale`` column in front. The
    histogram measures errors in units of the Gaussian bulk's standard deviation (1), so that
    growing outliers do not rescale it.
    """
    scales = np.asarray(list(outlier_scales), dtype=float)
    if scales.ndim != 1 or scales.size == 0 or not np.all(np.isfinite(scales)) or np.any(scales < 1):
        raise ValueError("outlier_scales must be one or more finite numbers of at least 1")
    edges = _check_edges(edges)
    _check_groups(schemes, hadamard)
    tables, hists = [], []
    for scale in scales:
        x = synthetic_operand(rows, cols, kind=kind, outlier_fraction=outlier_fraction,
                              outlier_scale=float(scale), seed=seed)
        for name, scheme in schemes.items():
            for had in hadamard:
                r = quantization_error(x, scheme, hadamard=had, rounding="nearest_even", seed=seed)
                tables.append({"outlier_scale": float(scale), "scheme": name, "hadamard": had,
                               "relative_mse": r.relative_mse, "snr_db": r.snr_db, "mean_error": r.mean_error,
                               "flushed": r.flushed, "row_relative_mse": r.row_relative_mse})
                hists += [{"outlier_scale": float(scale), "scheme": name, "hadamard": had, **h}
                          for h in _hist_rows(r.error, 1.0, edges)]
    return pd.DataFrame(tables), pd.DataFrame(hists)


@dataclass(frozen=True)
class RoundingBias:
    """Bias of a rounding mode over ``draws`` quantizations of one tensor.

    ``bias`` = ||mean_k Q_k(x) - x|| / ||x||; ``single`` = the root mean over draws of
    ||Q_k(x) - x||² / ||x||² (the typical error of one draw). Unbiased rounding gives
    ``bias / single`` close to ``1 / sqrt(draws)``; deterministic rounding gives 1.
    ``mean_error`` = mean over entries and draws of the error, over rms(x).
    """

    bias: float
    single: float
    mean_error: float
    draws: int

    @property
    def ratio(self) -> float:
        return self.bias / self.single if self.single > 0 else 0.0


def rounding_bias(
    x: torch.Tensor,
    scheme: QuantScheme,
    *,
    rounding: str = "stochastic",
    draws: int = 64,
    hadamard: bool | None = None,
    seed: int = 0,
) -> RoundingBias:
    """Quantize ``x`` ``draws`` times with ``rounding`` (a generator seeded by ``seed``)."""
    draws = positive_int("draws", draws)
    x = as_float_tensor("x", x)
    gen = torch.Generator().manual_seed(int(positive_int("seed", seed, minimum=0)))
    total = torch.zeros_like(x, dtype=torch.float64)
    sq = 0.0
    for _ in range(draws):
        r = quantization_error(x, scheme, hadamard=hadamard, rounding=rounding, generator=gen, seed=seed)
        total += r.error.double()
        sq += r.relative_mse
    mean_err = total / draws
    power = float(x.double().square().sum())
    rms = math.sqrt(power / x.numel())
    return RoundingBias(math.sqrt(float(mean_err.square().sum()) / power), math.sqrt(sq / draws),
                        float(mean_err.mean()) / rms, draws)


# ---- the operands of a real model ---------------------------------------------------------------

#: The six GEMM operands of a linear layer ``y = x w^T``, as (GEMM, operand, inner dimension):
#: each is quantized along its inner dimension (see :mod:`scalingbook.precision.fake_quant`).
GEMM_OPERANDS = (
    ("forward", "x", "in_features"), ("forward", "w", "in_features"),
    ("dgrad", "dy", "out_features"), ("dgrad", "w", "out_features"),
    ("wgrad", "dy", "tokens"), ("wgrad", "x", "tokens"),
)


def kurtosis(x: torch.Tensor) -> float:
    """``E[(x - mean)^4] / var^2`` over all entries (3 for a Gaussian; larger for heavy tails)."""
    x = as_float_tensor("x", x).double().flatten()
    if x.numel() < 2:
        raise ValueError("x needs at least two entries")
    c = x - x.mean()
    var = float(c.square().mean())
    if var == 0:
        raise ValueError("x is constant (its kurtosis is undefined)")
    return float(c.pow(4).mean()) / var**2


def capture_gemm_operands(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, *,
                          skip: tuple[str, ...] = ("lm_head",)) -> dict[str, dict[str, torch.Tensor]]:
    """One forward and backward pass of ``model.loss(inputs, targets)``, recording every
    ``nn.Linear`` (except the names in ``skip``): its input ``x`` (tokens, in_features), weight
    ``w`` (out_features, in_features) and output gradient ``dy`` (tokens, out_features), float32
    copies. The model's parameter gradients are cleared afterwards; hooks are removed."""
    if not isinstance(model, nn.Module) or not hasattr(model, "loss"):
        raise ValueError("model must be an nn.Module with a loss(inputs, targets) method")
    caps: dict[str, dict[str, torch.Tensor]] = {}
    handles = []

    def hook(name):
        def on_forward(mod, args, out):
            x = args[0].detach()
            caps[name] = {"x": x.reshape(-1, x.shape[-1]).float().clone(),
                          "w": mod.weight.detach().float().clone()}

            def on_grad(g):
                caps[name]["dy"] = g.detach().reshape(-1, g.shape[-1]).float().clone()

            out.register_hook(on_grad)
        return on_forward

    for name, mod in model.named_modules():
        if isinstance(mod, nn.Linear) and name not in set(skip):
            handles.append(mod.register_forward_hook(hook(name)))
    if not handles:
        raise ValueError("model has no nn.Linear layers to capture")
    try:
        loss = model.loss(inputs, targets)
        loss.backward()
    finally:
        for h in handles:
            h.remove()
        model.zero_grad(set_to_none=True)
    return caps


def gemm_operand_table(captures: Mapping[str, Mapping[str, torch.Tensor]], schemes: Mapping[str, QuantScheme],
                       *, hadamard: tuple[bool, ...] = (False, True), seed: int = 0) -> pd.DataFrame:
    """The error of every scheme on every GEMM operand of every captured layer.

    ``captures`` as :func:`capture_gemm_operands` returns. One row per (layer, GEMM, operand,
    scheme, hadamard), each operand laid out with its inner dimension last (:data:`GEMM_OPERANDS`):
    columns ``layer``, ``gemm``, ``operand``, ``inner``, ``kurtosis``, ``scheme``, ``hadamard``,
    ``relative_mse``, ``row_relative_mse``.
    """
    _check_groups(schemes, hadamard)
    if not isinstance(captures, Mapping) or not captures:
        raise ValueError("captures must be a non-empty mapping of layer names to operands")
    rows = []
    for layer, ops in captures.items():
        if not {"x", "w", "dy"} <= set(ops):
            raise ValueError(f"captures[{layer!r}] must hold 'x', 'w' and 'dy'")
        layout = {("forward", "x"): ops["x"], ("forward", "w"): ops["w"],
                  ("dgrad", "dy"): ops["dy"], ("dgrad", "w"): ops["w"].T.contiguous(),
                  ("wgrad", "dy"): ops["dy"].T.contiguous(), ("wgrad", "x"): ops["x"].T.contiguous()}
        for gemm, operand, inner in GEMM_OPERANDS:
            t = layout[(gemm, operand)]
            k = kurtosis(t)
            table = error_table(t, schemes, hadamard=hadamard, seed=seed)
            for r in table.itertuples(index=False):
                rows.append({"layer": layer, "gemm": gemm, "operand": operand, "inner": inner, "kurtosis": k,
                             "scheme": r.scheme, "hadamard": r.hadamard, "relative_mse": r.relative_mse,
                             "row_relative_mse": r.row_relative_mse})
    return pd.DataFrame(rows)
