"""Charts of the Mamba chapter: the scan against attention as L grows, and what we measured.

:func:`scan_vs_attention_chart` works in the static page: its sliders (sequence length, width,
state size) and its dropdown (which memory) move Vega parameters, and every curve is a Vega
expression written here from the same formulas as :mod:`scalingbook.models.cost` (the unit tests
evaluate the expressions against those functions). The other charts draw measured data.

Arguments of the expression builders are Vega expression fragments: a field (``"datum.L"``), a
parameter name or a number.
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from .._validate import positive_int

__all__ = [
    "attention_flops_expr",
    "attention_materialized_bytes_expr",
    "attention_mixer_flops_expr",
    "attention_state_bytes_expr",
    "loss_vs_params_chart",
    "scan_flops_expr",
    "scan_materialized_bytes_expr",
    "scan_mixer_flops_expr",
    "scan_state_bytes_expr",
    "scan_vs_attention_chart",
    "synthetic_curves_chart",
    "timing_chart",
]


def _t(x) -> str:
    return f"({x})"


# --- the formulas of scalingbook.models.cost, as Vega expressions --------------------------------
# Mamba: E = expand * d, R = ceil(d / 16) (dt_rank=None), K = d_conv; conv bias on, no proj bias.
# Transformer: GELU MLP of width 4d, no attention gate, no QKV conv (the default config).


def scan_flops_expr(L, d, N, *, n_layers: int, expand: int = 2, d_conv: int = 4,
                    vocab_size: int) -> str:
    """L * mamba_flops_per_token(cfg)["total"]: forward FLOPs of a Mamba LM on L tokens."""
    E, R = f"({expand} * {_t(d)})", f"ceil({_t(d)} / 16)"
    matmul = f"({_t(d)} * 2 * {E} + {E} * {_t(d)} + {E} * ({R} + 2 * {_t(N)}) + {R} * {E})"
    block = (f"(2 * {matmul} + 2 * {E} * {d_conv} + 7 * {E} * {_t(N)} + 7 * {E}"
             f" + 5 * {_t(d)})")
    return f"{_t(L)} * ({n_layers} * {block} + 4 * {_t(d)} + 2 * {_t(d)} * {vocab_size})"


def attention_flops_expr(L, d, *, n_layers: int, vocab_size: int) -> str:
    """L * transformer_flops_per_token(cfg, L, training=False): forward FLOPs of the default
    transformer (12 d^2 multiplied weights per layer, dense attention) on L tokens."""
    n_mult = f"({n_layers} * 12 * {_t(d)} * {_t(d)} + {vocab_size} * {_t(d)})"
    return f"{_t(L)} * (2 * {n_mult} + 4 * {n_layers} * {_t(L)} * {_t(d)})"


def scan_mixer_flops_expr(L, d, N, *, n_layers: int, expand: int = 2) -> str:
    """The scan's FLOPs on L tokens: L * n_layers * 7 E N."""
    return f"{_t(L)} * {n_layers} * 7 * {expand} * {_t(d)} * {_t(N)}"


def attention_mixer_flops_expr(L, d, *, n_layers: int) -> str:
    """Attention's QK^T and AV FLOPs on L tokens (dense): L * n_layers * 4 L d."""
    return f"{_t(L)} * {n_layers} * 4 * {_t(L)} * {_t(d)}"


def scan_state_bytes_expr(d, N, *, n_layers: int, expand: int = 2, d_conv: int = 4,
                          bytes_per_element: int = 2) -> str:
    """Generation state of a Mamba LM: n_layers * E (N + d_conv - 1) elements."""
    return (f"{n_layers} * {expand} * {_t(d)} * ({_t(N)} + {d_conv - 1})"
            f" * {bytes_per_element}")


def attention_state_bytes_expr(L, d, *, n_layers: int, bytes_per_element: int = 2) -> str:
    """KV cache of a transformer after L tokens: n_layers * 2 L d elements."""
    return f"{n_layers} * 2 * {_t(L)} * {_t(d)} * {bytes_per_element}"


def scan_materialized_bytes_expr(L, d, N, *, n_layers: int, expand: int = 2,
                                 bytes_per_element: int = 2) -> str:
    """Every step's state, written out by a naive scan: n_layers * L E N elements."""
    return (f"{n_layers} * {_t(L)} * {expand} * {_t(d)} * {_t(N)}"
            f" * {bytes_per_element}")


def attention_materialized_bytes_expr(L, heads, *, n_layers: int,
                                      bytes_per_element: int = 2) -> str:
    """The score matrices, written out by naive attention: n_layers * heads * L^2 elements."""
    return f"{n_layers} * {_t(heads)} * {_t(L)} * {_t(L)} * {bytes_per_element}"


# --- the static explorer -------------------------------------------------------------------------

SCAN_MODEL = "Mamba (whole model)"
ATTN_MODEL = "Transformer (whole model)"
SCAN_MIXER = "selective scan alone"
ATTN_MIXER = "attention alone (QKᵀ, AV)"
_COLORS = {SCAN_MODEL: "#2ca02c", ATTN_MODEL: "#d62728", SCAN_MIXER: "#98df8a",
           ATTN_MIXER: "#ff9896"}
MEMORY_VIEWS = ("generation state", "materialized in a naive forward pass")
# Tick labels in binary units: 1K = 1024 tokens, 1M = 2^20.
_BINARY_LABEL = ("datum.value >= 1048576 ? format(datum.value / 1048576, '~') + 'M' : "
                 "datum.value >= 1024 ? format(datum.value / 1024, '~') + 'K' : "
                 "format(datum.value, '~')")


def _slider_range(name: str, low: float, high: float, value: float) -> None:
    if not low < high:
        raise ValueError(f"{name} range must have low < high, got ({low}, {high})")
    if not low <= value <= high:
        raise ValueError(f"{name} start value {value} lies outside its range ({low}, {high})")


def scan_vs_attention_chart(*, n_layers: int = 12, vocab_size: int = 50_000, d_model: int = 768,
                            d_state: int = 16, expand: int = 2, d_conv: int = 4,
                            head_dim: int = 64, bytes_per_element: int = 2,
                            log2_len: float = 11.0, log2_range: tuple[float, float] = (6.0, 20.0),
                            width: int = 235, height: int = 230) -> alt.VConcatChart:
    """FLOPs and memory of a transformer with ``n_layers`` layers and a Mamba LM with
    ``2 * n_layers`` blocks (two Mamba blocks match one attention + MLP layer in parameters), at
    one width, against the sequence length L.

    Controls (all evaluated by Vega in the page): ``log2_len`` slider (the length read out in the
    text line and marked on both panels), ``width_d`` (d_model, in steps of ``head_dim``; the
    transformer has d_model / head_dim heads), ``state_n`` (Mamba's d_state), and a dropdown
    for the memory panel: the generation state (SSM state and conv window against the KV cache)
    or what a naive forward pass writes out (every step's state against the score matrices).
    Left: forward FLOPs per sequence, whole models (solid) and the sequence mixers alone
    (dashed). Units: FLOPs, bytes at ``bytes_per_element`` (2: bfloat16).
    """
    for name, value in (("n_layers", n_layers), ("vocab_size", vocab_size), ("d_model", d_model),
                        ("d_state", d_state), ("expand", expand), ("d_conv", d_conv),
                        ("head_dim", head_dim), ("bytes_per_element", bytes_per_element)):
        positive_int(name, value)
    if d_model % head_dim:
        raise ValueError(f"head_dim must divide d_model, got {head_dim} and {d_model}")
    _slider_range("log2_len", *log2_range, log2_len)
    lo, hi = log2_range
    if lo < 0:
        raise ValueError(f"log2_range must start at 0 or above, got {log2_range}")

    length = alt.param(name="log2_len", value=log2_len, bind=alt.binding_range(
        min=lo, max=hi, step=0.5, name="log₂ sequence length L "))
    width_d = alt.param(name="width_d", value=d_model, bind=alt.binding_range(
        min=head_dim, max=max(4096, d_model), step=head_dim, name="width d_model "))
    state_n = alt.param(name="state_n", value=d_state, bind=alt.binding_range(
        min=1, max=max(64, d_state), step=1, name="Mamba state size N "))
    view = alt.param(name="memory_view", value=MEMORY_VIEWS[0], bind=alt.binding_select(
        options=list(MEMORY_VIEWS), name="memory "))

    m_layers, kw = 2 * n_layers, {"expand": expand}
    L, d, N = "datum.L", "width_d", "state_n"
    heads = f"(width_d / {head_dim})"
    flops = {
        SCAN_MODEL: scan_flops_expr(L, d, N, n_layers=m_layers, d_conv=d_conv,
                                    vocab_size=vocab_size, **kw),
        ATTN_MODEL: attention_flops_expr(L, d, n_layers=n_layers, vocab_size=vocab_size),
        SCAN_MIXER: scan_mixer_flops_expr(L, d, N, n_layers=m_layers, **kw),
        ATTN_MIXER: attention_mixer_flops_expr(L, d, n_layers=n_layers),
    }
    b = {"bytes_per_element": bytes_per_element}
    memory = {
        "Mamba": (f"memory_view == '{MEMORY_VIEWS[0]}' ? "
                  f"{scan_state_bytes_expr(d, N, n_layers=m_layers, d_conv=d_conv, **kw, **b)} : "
                  f"{scan_materialized_bytes_expr(L, d, N, n_layers=m_layers, **kw, **b)}"),
        "Transformer": (f"memory_view == '{MEMORY_VIEWS[0]}' ? "
                        f"{attention_state_bytes_expr(L, d, n_layers=n_layers, **b)} : "
                        f"{attention_materialized_bytes_expr(L, heads, n_layers=n_layers, **b)}"),
    }
    grid = pd.DataFrame({"L": 2.0 ** np.arange(lo, hi + 1e-9, 0.25)})
    ticks = [2.0 ** k for k in range(int(np.ceil(lo)), int(hi) + 1, 2)]
    x = alt.X("L:Q", scale=alt.Scale(type="log", base=2, domain=[2 ** lo, 2 ** hi]),
              axis=alt.Axis(values=ticks, labelExpr=_BINARY_LABEL),
              title="sequence length L (tokens)")
    marker = (alt.Chart(pd.DataFrame({"one": [1]})).transform_calculate(L="pow(2, log2_len)")
              .mark_rule(color="black", strokeDash=[3, 3]).encode(x=x))

    flops_lines = (
        alt.Chart(grid).transform_calculate(**flops)
        .transform_fold(list(flops), as_=["curve", "flops"])
        .mark_line()
        .encode(x=x,
                y=alt.Y("flops:Q", scale=alt.Scale(type="log"), axis=alt.Axis(format="~e"),
                        title="forward FLOPs per sequence"),
                color=alt.Color("curve:N", scale=alt.Scale(domain=list(_COLORS),
                                                           range=list(_COLORS.values())),
                                legend=alt.Legend(orient="bottom", columns=2), title=None),
                strokeDash=alt.condition("indexof(datum.curve, 'alone') >= 0",
                                         alt.value([5, 3]), alt.value([1, 0])),
                tooltip=["curve:N", alt.Tooltip("L:Q", format=",.0f"),
                         alt.Tooltip("flops:Q", format=".3~e")])
    )
    memory_lines = (
        alt.Chart(grid).transform_calculate(**memory)
        .transform_fold(list(memory), as_=["model", "bytes"])
        .mark_line()
        .encode(x=x,
                y=alt.Y("bytes:Q", scale=alt.Scale(type="log"), axis=alt.Axis(format="~s"),
                        title="bytes per sequence"),
                color=alt.Color("model:N", scale=alt.Scale(domain=["Mamba", "Transformer"],
                                                           range=["#2ca02c", "#d62728"]),
                                legend=alt.Legend(orient="bottom"), title=None),
                tooltip=["model:N", alt.Tooltip("L:Q", format=",.0f"),
                         alt.Tooltip("bytes:Q", format=".3~s")])
    )
    at = {"L": "pow(2, log2_len)"}
    readout = (
        alt.Chart(pd.DataFrame({"one": [1]}))
        .transform_calculate(**at)
        .transform_calculate(
            f_ratio=f"({flops[ATTN_MODEL]}) / ({flops[SCAN_MODEL]})",
            m_ratio=f"({flops[ATTN_MIXER]}) / ({flops[SCAN_MIXER]})",
            b_ratio=f"({memory['Transformer']}) / ({memory['Mamba']})")
        .transform_calculate(text=(
            "'At L = ' + format(datum.L, ',.0f') + ' tokens the transformer needs '"
            " + format(datum.f_ratio, ',.3~r') + '× the Mamba model’s FLOPs'"
            " + '\\n(attention alone: ' + format(datum.m_ratio, ',.3~r') + '× the scan) and '"
            " + format(datum.b_ratio, ',.3~r') + '× its memory (' + memory_view + ').'"))
        .mark_text(align="left", baseline="top", fontSize=13, lineBreak="\n")
        .encode(text="text:N", x=alt.value(0), y=alt.value(0))
        .properties(width=2 * width + 90, height=36, view=alt.ViewBackground(stroke=None))
    )
    left = alt.layer(flops_lines, marker).properties(width=width, height=height,
                                                     title="FLOPs: linear against quadratic")
    right = alt.layer(memory_lines, marker).properties(width=width, height=height,
                                                       title="memory")
    panels = alt.hconcat(left, right).resolve_scale(color="independent")
    return alt.vconcat(readout, panels).add_params(length, width_d, state_n, view)


# --- measured data ---------------------------------------------------------------------------


def timing_chart(timings: pd.DataFrame, *, width: int = 420, height: int = 260) -> alt.LayerChart:
    """Measured seconds against L for the scan and attention (forward + backward), from
    :func:`scalingbook.kernels.scan.timing.scan_vs_attention`'s table, log-log, with a dropdown
    for forward only or forward + backward."""
    need = {"L", "scan_forward", "attention_forward", "scan_backward", "attention_backward"}
    if not need <= set(timings.columns):
        raise ValueError(f"timings must have columns {sorted(need)}, got {list(timings.columns)}")
    long = timings.melt(id_vars=["L"], value_vars=sorted(need - {"L"}), var_name="what",
                        value_name="seconds")
    long["kernel"] = np.where(long["what"].str.startswith("scan"), "selective scan (chunked)",
                              "causal attention (SDPA)")
    long["pass"] = np.where(long["what"].str.endswith("forward"), "forward",
                            "forward + backward")
    pick = alt.param(name="timing_pass", value="forward + backward", bind=alt.binding_select(
        options=["forward", "forward + backward"], name="pass "))
    base = alt.Chart(long).transform_filter(f"datum.pass == {pick.name}")
    x = alt.X("L:Q", scale=alt.Scale(type="log", base=2),
              axis=alt.Axis(values=sorted(float(v) for v in timings["L"].unique()),
                            labelExpr=_BINARY_LABEL),
              title="sequence length L (tokens)")
    y = alt.Y("seconds:Q", scale=alt.Scale(type="log"), title="seconds (minimum of repeats)")
    color = alt.Color("kernel:N", title=None, legend=alt.Legend(orient="bottom"),
                      scale=alt.Scale(domain=["selective scan (chunked)", "causal attention (SDPA)"],
                                      range=["#2ca02c", "#d62728"]))
    return (alt.layer(base.mark_line(), base.mark_point(filled=True))
            .encode(x=x, y=y, color=color,
                    tooltip=["kernel:N", "pass:N", alt.Tooltip("L:Q"),
                             alt.Tooltip("seconds:Q", format=".3~e")])
            .add_params(pick).properties(width=width, height=height))


def synthetic_curves_chart(history: pd.DataFrame, *, chance: dict[str, float] | None = None,
                           width: int = 300, height: int = 220) -> alt.FacetChart:
    """Held-out accuracy against training steps, one panel per task, one line per model.

    ``history`` needs columns ``task``, ``model``, ``step``, ``eval_accuracy``; ``chance`` maps a
    task to its chance accuracy, drawn as a dotted rule."""
    need = {"task", "model", "step", "eval_accuracy"}
    if not need <= set(history.columns):
        raise ValueError(f"history must have columns {sorted(need)}, got {list(history.columns)}")
    data = history[sorted(need)].copy()
    data["chance"] = data["task"].map(chance or {}).astype(float)
    base = alt.Chart(data)
    lines = base.mark_line(point=True).encode(
        x=alt.X("step:Q", title="training steps"),
        y=alt.Y("eval_accuracy:Q", scale=alt.Scale(domain=[0, 1]), title="held-out accuracy"),
        color=alt.Color("model:N", title=None, legend=alt.Legend(orient="bottom")),
        tooltip=["task:N", "model:N", "step:Q", alt.Tooltip("eval_accuracy:Q", format=".3f")])
    rule = base.transform_filter("isValid(datum.chance)").mark_rule(
        strokeDash=[2, 2], color="gray").encode(y="mean(chance):Q")
    return (alt.layer(lines, rule).properties(width=width, height=height)
            .facet(column=alt.Column("task:N", title=None)))


def loss_vs_params_chart(runs: pd.DataFrame, fits: dict, *, x: str = "non_embedding_params",
                         width: int = 440, height: int = 280) -> alt.LayerChart:
    """Reducible loss (``eval_loss - irreducible_loss``, nats) against ``x`` for each model kind,
    with the fitted power law of each kind; a dropdown highlights one kind.

    ``runs`` needs columns ``model_kind``, ``x`` and ``reducible``; ``fits`` maps a kind to a
    fitted law (a callable of x, e.g. ``FitResult.law``)."""
    need = {"model_kind", x, "reducible"}
    if not need <= set(runs.columns):
        raise ValueError(f"runs must have columns {sorted(need)}, got {list(runs.columns)}")
    kinds = sorted(runs["model_kind"].unique())
    missing = set(kinds) - set(fits)
    if missing:
        raise ValueError(f"fits has no law for {sorted(missing)}")
    curves = []
    for kind in kinds:
        xs = runs.loc[runs["model_kind"] == kind, x].to_numpy(float)
        grid = np.geomspace(xs.min() / 1.5, xs.max() * 1.5, 40)
        curves.append(pd.DataFrame({x: grid, "reducible": np.asarray(fits[kind](grid), float),
                                    "model_kind": kind}))
    curves = pd.concat(curves, ignore_index=True)
    pick = alt.param(name="kind_pick", value="all", bind=alt.binding_select(
        options=["all", *kinds], name="highlight "))
    opacity = alt.condition("kind_pick == 'all' || datum.model_kind == kind_pick",
                            alt.value(0.95), alt.value(0.15))
    xe = alt.X(f"{x}:Q", scale=alt.Scale(type="log"), axis=alt.Axis(format="~s"),
               title="non-embedding parameters" if x == "non_embedding_params" else x)
    ye = alt.Y("reducible:Q", scale=alt.Scale(type="log"),
               title="reducible loss (nats per token)")
    color = alt.Color("model_kind:N", title=None, legend=alt.Legend(orient="bottom"))
    dots = alt.Chart(runs[[x, "reducible", "model_kind"]]).mark_point(filled=True, size=50).encode(
        x=xe, y=ye, color=color, opacity=opacity,
        tooltip=["model_kind:N", alt.Tooltip(f"{x}:Q", format=","),
                 alt.Tooltip("reducible:Q", format=".4f")])
    lines = alt.Chart(curves).mark_line().encode(x=xe, y=ye, color=color, opacity=opacity)
    return alt.layer(dots, lines).add_params(pick).properties(width=width, height=height)
