"""Charts of Sun et al.'s floating-point law whose sliders work in the static page, and of our sweep.

The law is written here as Vega expressions (:func:`loss_expression` and friends) from an
:class:`~scalingbook.laws.FPQuantLaw`'s constants; the unit tests evaluate each expression
against the package's methods, so the browser draws exactly what the package computes.

- :func:`layout_explorer`: a bit-width slider; the precision term against the split of the
  bits between exponent and mantissa, with the real-valued optimum and the integer formats.
- :func:`critical_data_explorer`: sliders for N, E, M and the block size; the loss against the
  training tokens, with the critical data size beyond which more data hurts.
- :func:`precision_gap_chart`: our measured loss gaps over float32 beside the fitted term.

Parameter names avoid Vega's own constants (``E`` would be Euler's number).
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from .._validate import positive_int, positive_scalar
from ..laws.fp_quant import FPQuantLaw

__all__ = [
    "critical_data_explorer",
    "critical_data_expression",
    "layout_explorer",
    "loss_expression",
    "optimal_mantissa_expression",
    "penalty_expression",
    "precision_gap_chart",
]


def _num(x: float) -> str:
    return repr(float(x))


def _check_law(law) -> FPQuantLaw:
    if not isinstance(law, FPQuantLaw):
        raise ValueError(f"law must be an FPQuantLaw, got {type(law).__name__}")
    return law


def penalty_expression(law: FPQuantLaw, N: str, D: str, E: str, M: str, B: str) -> str:
    """Vega expression for ``law.precision_penalty(N, D, E, M, B)``; arguments are Vega fragments."""
    law = _check_law(law)
    return (f"pow({D}, {_num(law.beta)}) * pow({N}, -{_num(law.alpha)}) * (log({B}) / LN2)"
            f" / ({_num(law.gamma)} * pow(({E}) + 0.5, {_num(law.delta)})"
            f" * pow(({M}) + 0.5, {_num(law.nu)}))")


def loss_expression(law: FPQuantLaw, N: str, D: str, E: str, M: str, B: str) -> str:
    """Vega expression for ``law.loss(N, D, E, M, B)``."""
    law = _check_law(law)
    return (f"{_num(law.n)} * pow({N}, -{_num(law.alpha)}) + {_num(law.d)} * pow({D}, -{_num(law.beta)})"
            f" + {_num(law.epsilon)} + {penalty_expression(law, N, D, E, M, B)}")


def optimal_mantissa_expression(law: FPQuantLaw, P: str) -> str:
    """Vega expression for ``law.optimal_mantissa(P)`` (the clamp keeps 0 <= M <= P - 1)."""
    law = _check_law(law)
    share = law.nu / (law.delta + law.nu)
    return f"clamp({_num(share)} * ({P}) - 0.5, 0, ({P}) - 1)"


def critical_data_expression(law: FPQuantLaw, N: str, E: str, M: str, B: str) -> str:
    """Vega expression for ``law.critical_data(N, E, M, B)`` (Infinity at B = 1)."""
    law = _check_law(law)
    return (f"pow({_num(law.d * law.gamma)} * pow({N}, {_num(law.alpha)})"
            f" * pow(({E}) + 0.5, {_num(law.delta)}) * pow(({M}) + 0.5, {_num(law.nu)})"
            f" / (log({B}) / LN2), {_num(1.0 / (2.0 * law.beta))})")


def _slider(name: str, value: float, low: float, high: float, step: float, label: str):
    if not low <= value <= high:
        raise ValueError(f"{name} start value {value} lies outside its range ({low}, {high})")
    return alt.param(name=name, value=value,
                     bind=alt.binding_range(min=low, max=high, step=step, name=label))


def layout_explorer(
    law: FPQuantLaw | None = None,
    *,
    bits: int = 8,
    N: float = 1e9,
    D: float = 1e11,
    B: float = 128,
    max_bits: int = 16,
    n_grid: int = 160,
    width: int = 520,
    height: int = 300,
) -> alt.LayerChart:
    """The precision term against the mantissa bits M of a P-bit format (E = P - 1 - M).

    A slider picks P (``bits`` at first, 2 to ``max_bits``). The curve is the term over real
    M in [0, P - 1]; dots mark the integer formats EeMm; the vertical rule marks the real-valued
    optimum of :meth:`FPQuantLaw.optimal_mantissa`. N, D and B only scale the term (the optimum
    does not depend on them; the whole loss, ``law.loss``, is in each dot's tooltip). Units: M in
    bits, the term in nats on a log axis.
    """
    law = FPQuantLaw() if law is None else _check_law(law)
    max_bits = positive_int("max_bits", max_bits, minimum=3)
    bits = positive_int("bits", bits, minimum=2)
    N, D, B = positive_scalar("N", N), positive_scalar("D", D), positive_scalar("B", B)
    if B <= 1:
        raise ValueError(f"B must exceed 1 (at B = 1 the precision term is zero), got {B!r}")
    n_grid = positive_int("n_grid", n_grid, minimum=2)
    p = _slider("bits_P", bits, 2, max_bits, 1, "total bits P (sign included) ")

    m_curve = "datum.t * (bits_P - 1)"
    rho = penalty_expression(law, _num(N), _num(D), f"(bits_P - 1 - {m_curve})", m_curve, _num(B))
    x = alt.X("M:Q", title="mantissa bits M (exponent bits E = P − 1 − M)",
              scale=alt.Scale(domain=[0, max_bits - 1], nice=False))
    y_scale = alt.Scale(type="log")
    y_title = "loss added by the format, ρ (nats)"
    curve = (
        alt.Chart(pd.DataFrame({"t": np.linspace(0.0, 1.0, n_grid)}))
        .transform_calculate(M=m_curve, rho=rho)
        .mark_line(color="#3182bd")
        .encode(x=x, y=alt.Y("rho:Q", scale=y_scale, title=y_title))
    )
    ints = pd.DataFrame({"M": np.arange(max_bits, dtype=float)})
    rho_int = penalty_expression(law, _num(N), _num(D), "(bits_P - 1 - datum.M)", "datum.M", _num(B))
    dots = (
        alt.Chart(ints)
        .transform_filter("datum.M <= bits_P - 1")
        .transform_calculate(rho=rho_int, E="bits_P - 1 - datum.M",
                             loss=loss_expression(law, _num(N), _num(D), "(bits_P - 1 - datum.M)",
                                                  "datum.M", _num(B)),
                             layout="'E' + (bits_P - 1 - datum.M) + 'M' + datum.M")
        .mark_point(filled=True, size=45, color="black")
        .encode(x="M:Q", y=alt.Y("rho:Q", scale=y_scale),
                tooltip=["layout:N", "E:Q", "M:Q", alt.Tooltip("rho:Q", format=".3~g", title="ρ (nats)"),
                         alt.Tooltip("loss:Q", format=".5f", title="loss (nats)")])
    )
    labels = dots.mark_text(dy=-10, fontSize=10).encode(text="layout:N")
    one = pd.DataFrame({"k": [0]})
    m_opt = optimal_mantissa_expression(law, "bits_P")
    rule = (
        alt.Chart(one)
        .transform_calculate(M=m_opt)
        .mark_rule(color="#d62728", strokeDash=[4, 3])
        .encode(x="M:Q")
    )
    note = (
        alt.Chart(one)
        .transform_calculate(M=m_opt, text=f"'optimum M* = ' + format({m_opt}, '.2f')")
        .mark_text(align="left", dx=4, dy=8, color="#d62728", baseline="top", y=0)
        .encode(x="M:Q", text="text:N")
    )
    return alt.layer(curve, dots, labels, rule, note).add_params(p).properties(width=width, height=height)


def critical_data_explorer(
    law: FPQuantLaw | None = None,
    *,
    log10_N: float = 9.0,
    E: int = 4,
    M: int = 3,
    log2_B: int = 7,
    D_range: tuple[float, float] = (1e9, 1e17),
    n_grid: int = 160,
    width: int = 520,
    height: int = 300,
) -> alt.LayerChart:
    """The loss against training tokens D, and the critical data size, with sliders for
    log₁₀ N, E, M and log₂ B (B = 2^k elements per scale; k = 0 is a scale per element).

    Solid: the format's loss; dashed: the high-precision loss (B = 1) of the same model. The
    red rule marks :meth:`FPQuantLaw.critical_data` where it lies inside ``D_range``. Units:
    D in tokens (log axis), loss in nats, from the
    model's floor ``n/N^alpha + epsilon`` to its loss at the smallest D (steeper rises are clipped).
    """
    law = FPQuantLaw() if law is None else _check_law(law)
    lo, hi = positive_scalar("D_range[0]", D_range[0]), positive_scalar("D_range[1]", D_range[1])
    if not lo < hi:
        raise ValueError(f"D_range must have low < high, got {D_range}")
    n_grid = positive_int("n_grid", n_grid, minimum=2)
    params = [
        _slider("crit_log10_N", log10_N, 6.0, 12.0, 0.1, "log₁₀ parameters N "),
        _slider("crit_E", E, 0, 8, 1, "exponent bits E "),
        _slider("crit_M", M, 0, 10, 1, "mantissa bits M "),
        _slider("crit_log2_B", log2_B, 0, 12, 1, "log₂ block size B "),
    ]
    grid = pd.DataFrame({"D": np.geomspace(lo, hi, n_grid)})
    x = alt.X("D:Q", scale=alt.Scale(type="log", domain=[lo, hi]), title="training tokens D",
              axis=alt.Axis(format=".0e"))
    n_expr, b_expr = "pow(10, crit_log10_N)", "pow(2, crit_log2_B)"
    # The loss axis runs from the model's floor (infinite data, high precision) to its loss at the
    # left end, so the shallow minimum stays visible; steep rises are clipped at the top.
    floor = f"{_num(law.n)} * pow({n_expr}, -{_num(law.alpha)}) + {_num(law.epsilon)}"
    start = loss_expression(law, n_expr, _num(lo), "crit_E", "crit_M", b_expr)
    y_scale = alt.Scale(zero=False, domainMin=alt.ExprRef(floor), domainMax=alt.ExprRef(start))
    lines = (
        alt.Chart(grid)
        .transform_calculate(**{
            "format (E, M, B)": loss_expression(law, n_expr, "datum.D", "crit_E", "crit_M", b_expr),
            "high precision (B = 1)": loss_expression(law, n_expr, "datum.D", "crit_E", "crit_M", "1"),
        })
        .transform_fold(["format (E, M, B)", "high precision (B = 1)"], as_=["curve", "loss"])
        .mark_line(clip=True)
        .encode(x=x, y=alt.Y("loss:Q", scale=y_scale, title="loss (nats)"),
                color=alt.Color("curve:N", title=None, legend=alt.Legend(orient="bottom"),
                                scale=alt.Scale(range=["#3182bd", "#969696"])),
                strokeDash=alt.StrokeDash("curve:N", title=None, legend=alt.Legend(orient="bottom")))
    )
    dcrit = critical_data_expression(law, n_expr, "crit_E", "crit_M", b_expr)
    one = pd.DataFrame({"k": [0]})
    marker = (
        alt.Chart(one)
        .transform_calculate(D=dcrit)
        .transform_filter(f"isFinite(datum.D) && datum.D >= {_num(lo)} && datum.D <= {_num(hi)}")
        .transform_calculate(loss=loss_expression(law, n_expr, "datum.D", "crit_E", "crit_M", b_expr),
                             text="'critical data ' + format(datum.D, '.3~s') + ' tokens'")
    )
    rule = marker.mark_rule(color="#d62728", strokeDash=[4, 3]).encode(
        x=alt.X("D:Q", scale=alt.Scale(type="log", domain=[lo, hi])))
    dot = marker.mark_point(filled=True, size=60, color="#d62728", clip=True).encode(
        x=alt.X("D:Q", scale=alt.Scale(type="log", domain=[lo, hi])), y=alt.Y("loss:Q", scale=y_scale),
        tooltip=[alt.Tooltip("D:Q", format=".3~s"), alt.Tooltip("loss:Q", format=".4f")])
    label = marker.mark_text(align="left", dx=5, dy=-8, color="#d62728", clip=True).encode(
        x=alt.X("D:Q", scale=alt.Scale(type="log", domain=[lo, hi])), y=alt.Y("loss:Q", scale=y_scale),
        text="text:N")
    return alt.layer(lines, rule, dot, label).add_params(*params).properties(width=width, height=height)


def precision_gap_chart(runs: pd.DataFrame, fit=None, *, width: int = 520, height: int = 300) -> alt.LayerChart:
    """Measured loss gaps over float32 (dots) and, if ``fit`` has a law, the fitted term (ticks).

    ``runs`` needs columns N, D, E, M, B, gap (nats) and optionally d_model and steps, one row
    per quantized run (:attr:`PrecisionLabResult.quantized`). Formats are ordered by total bits.
    A dropdown highlights one model size and length.
    """
    needed = {"N", "D", "E", "M", "B", "gap"}
    if not needed <= set(runs.columns):
        raise ValueError(f"runs must have columns {sorted(needed)}, got {list(runs.columns)}")
    if len(runs) == 0:
        raise ValueError("runs has no rows")
    data = runs.copy()
    for col in ("N", "D", "E", "M", "B", "gap"):
        values = data[col].to_numpy(dtype=float)
        if not np.isfinite(values).all():
            raise ValueError(f"runs['{col}'] contains NaN or an infinite value")
    data["layout"] = [f"E{int(e)}M{int(m)} B{int(b)}" for e, m, b in zip(data["E"], data["M"], data["B"])]
    data["P"] = 1 + data["E"] + data["M"]
    data["run"] = [f"N={int(n):,} D={int(d):,}" for n, d in zip(data["N"], data["D"])]
    order = data.sort_values(["P", "E", "B"])["layout"].drop_duplicates().tolist()
    law = getattr(fit, "law", None)
    data["fitted"] = law(data["N"], data["D"], data["E"], data["M"], data["B"]) if law is not None else np.nan
    runs_all = sorted(data["run"].unique().tolist())
    pick = alt.param(name="gap_run_pick", value="all",
                     bind=alt.binding_select(options=["all", *runs_all], name="highlight run "))
    x = alt.X("layout:N", sort=order, title="format and block size (ordered by total bits)",
              axis=alt.Axis(labelAngle=0))
    opacity = alt.condition("gap_run_pick == 'all' || datum.run == gap_run_pick", alt.value(0.95), alt.value(0.15))
    color = alt.Color("run:N", title="model, tokens", legend=alt.Legend(orient="bottom", columns=2))
    measured = (
        alt.Chart(data)
        .mark_point(filled=True, size=60)
        .encode(x=x, xOffset="run:N", y=alt.Y("gap:Q", title="loss − float32 loss (nats)"), color=color,
                opacity=opacity, tooltip=["run:N", "layout:N", alt.Tooltip("gap:Q", format=".5f"),
                                          alt.Tooltip("fitted:Q", format=".5f")])
        .add_params(pick)
    )
    zero = alt.Chart(pd.DataFrame({"y": [0.0]})).mark_rule(color="#636363").encode(y="y:Q")
    layers = [zero, measured]
    if law is not None:
        layers.append(
            alt.Chart(data).mark_tick(thickness=2, size=14)
            .encode(x=x, xOffset="run:N", y="fitted:Q", color=color, opacity=opacity)
        )
    return alt.layer(*layers).properties(width=width, height=height)

