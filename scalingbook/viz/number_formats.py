"""Charts of number formats and rounding: the ExMy explorer, the stagnating sum, and the
Lorenz climate in low precision.

The explorer computes everything in the browser from three controls (exponent bits, mantissa
bits, specials). :class:`FormatExpressions` writes the Vega expressions for a format's
constants, its code-to-value decoding and the round-to-nearest error bound from the same
definitions as :class:`~scalingbook.precision.FloatFormat`; the unit tests evaluate them
against the package for every format the sliders reach.
"""

from __future__ import annotations

from dataclasses import dataclass

import altair as alt
import numpy as np
import pandas as pd

from .._validate import one_of, positive_int
from ..precision.formats import SPECIALS, FloatFormat

__all__ = [
    "MAX_TICKS",
    "FormatExpressions",
    "format_explorer",
    "lorenz_distance_chart",
    "stagnation_chart",
]

#: The explorer draws at most this many grid values; larger formats show every n-th code,
#: which thins every binade alike (the picture on a log axis keeps its shape).
MAX_TICKS = 2**13

# Axis labels of base-2 log scales as powers of two.
POW2_LABEL = "'2^' + round(log(datum.value) / LN2)"

ROUNDING_LABELS = {"nearest_even": "round to nearest", "stochastic": "stochastic rounding"}
ROUNDING_COLORS = {"round to nearest": "#d62728", "stochastic rounding": "#1f77b4", "float64": "#444444",
                   "exact": "#444444"}


@dataclass(frozen=True)
class FormatExpressions:
    """Vega expressions for an ExMy format whose fields are Vega parameters (or numbers).

    ``exp_bits``, ``man_bits`` and ``specials`` are expression fragments: parameter names
    (as in the explorer) or literals. Each property mirrors the :class:`FloatFormat` attribute
    of the same name.
    """

    exp_bits: str = "exp_bits"
    man_bits: str = "man_bits"
    specials: str = "specials"

    @property
    def bias(self) -> str:
        return f"(pow(2, {self.exp_bits} - 1) - 1)"

    @property
    def emin(self) -> str:
        return f"(1 - {self.bias})"

    @property
    def emax(self) -> str:
        return f"if({self.specials} == 'ieee', {self.bias}, {self.bias} + 1)"

    @property
    def max(self) -> str:
        e, m = self.emax, self.man_bits
        return f"(pow(2, {e}) * (2 - pow(2, if({self.specials} == 'fn', 1, 0) - {m})))"

    @property
    def min_normal(self) -> str:
        return f"pow(2, {self.emin})"

    @property
    def min_subnormal(self) -> str:
        return f"pow(2, {self.emin} - {self.man_bits})"

    @property
    def unit_roundoff(self) -> str:
        return f"pow(2, -({self.man_bits} + 1))"

    @property
    def valid(self) -> str:
        """True where :class:`FloatFormat` accepts the fields (the same rules, in the same order)."""
        e, m, s = self.exp_bits, self.man_bits, self.specials
        return (
            f"((({s} == 'ieee') && {e} >= 2 && {e} <= 8) || (({s} != 'ieee') && {e} >= 1 && {e} <= 7))"
            f" && {m} >= 0 && {m} <= 23 && ({s} != 'fn' || {m} >= 1) && ({e} >= 2 || {m} >= 1)"
        )

    @property
    def positive_count(self) -> str:
        """How many finite values above zero the format holds."""
        e, m, s = self.exp_bits, self.man_bits, self.specials
        return (
            f"if({s} == 'ieee', (pow(2, {e}) - 1) * pow(2, {m}) - 1,"
            f" if({s} == 'fn', pow(2, {e} + {m}) - 2, pow(2, {e} + {m}) - 1))"
        )

    def value(self, code: str) -> str:
        """Value of a non-negative ``code`` (sign bit clear): subnormal when its exponent field is 0."""
        m = self.man_bits
        ef = f"floor({code} / pow(2, {m}))"
        man = f"({code} - {ef} * pow(2, {m}))"
        return (
            f"if({ef} == 0, {man} * pow(2, {self.emin} - {m}),"
            f" (pow(2, {m}) + {man}) * pow(2, {ef} - {self.bias} - {m}))"
        )

    def finite(self, code: str) -> str:
        """True where ``code`` (sign bit clear) is a finite value, not Inf or NaN."""
        e, m, s = self.exp_bits, self.man_bits, self.specials
        ef = f"floor({code} / pow(2, {m}))"
        top = f"(pow(2, {e}) - 1)"
        return (
            f"if({s} == 'ieee', {ef} < {top},"
            f" if({s} == 'fn', {code} < pow(2, {e} + {m}) - 1, {code} < pow(2, {e} + {m})))"
        )

    def ulp(self, x: str) -> str:
        """Spacing of the grid at a positive magnitude ``x`` (:func:`~scalingbook.precision.ulp`).

        The exponent comes from ``log(x)/LN2``, nudged up by 1e-9 binades so that exact powers of
        two (where the quotient can land a hair below the integer) fall in their own binade.
        """
        return f"pow(2, max(floor(log({x}) / LN2 + 1e-9), {self.emin}) - {self.man_bits})"

    def rn_error_bound(self, x: str) -> str:
        """``ulp(x) / (2 x)`` (:func:`~scalingbook.precision.rn_error_bound`)."""
        return f"({self.ulp(x)} / (2 * {x}))"


def _check_start(exp_bits: int, man_bits: int, specials: str) -> FloatFormat:
    one_of("specials", specials, SPECIALS)
    return FloatFormat(exp_bits, man_bits, specials)  # raises ValueError naming the bad field


def format_explorer(
    exp_bits: int = 4,
    man_bits: int = 3,
    specials: str = "fn",
    *,
    max_man_bits: int = 23,
    width: int = 560,
) -> alt.VConcatChart:
    """The ExMy explorer: sliders for exponent and mantissa bits and a dropdown for specials.

    Top: every positive finite value of the format (a tick each; subnormals in a second
    colour) on a logarithmic axis, with the smallest subnormal, the smallest normal and the
    largest value marked. Below: the worst relative error of round-to-nearest at every
    magnitude (a saw-tooth between u/2 and u = 2^-(m+1) over the normal range, rising like
    1/x among the subnormals, 100% at half the smallest subnormal; values beyond the largest
    overflow). A table of the format's constants sits on top. Everything is computed by Vega
    expressions from the controls (:class:`FormatExpressions`), so it works in a static page.
    Combinations the package refuses (say IEEE specials with 1 exponent bit) say so and draw
    nothing. Formats with more than :data:`MAX_TICKS` positive codes show every n-th code.
    """
    _check_start(exp_bits, man_bits, specials)
    max_man_bits = positive_int("max_man_bits", max_man_bits, minimum=1)
    if max_man_bits > 23:
        raise ValueError(f"max_man_bits must be at most 23, got {max_man_bits}")
    if man_bits > max_man_bits:
        raise ValueError(f"man_bits start value {man_bits} lies above max_man_bits={max_man_bits}")
    fx = FormatExpressions()
    p_e = alt.param(name="exp_bits", value=exp_bits,
                    bind=alt.binding_range(min=1, max=8, step=1, name="exponent bits E "))
    p_m = alt.param(name="man_bits", value=man_bits,
                    bind=alt.binding_range(min=0, max=max_man_bits, step=1, name="mantissa bits M "))
    p_s = alt.param(name="specials", value=specials,
                    bind=alt.binding_select(options=list(SPECIALS), name="specials "))
    params = (p_e, p_m, p_s)
    stride = f"pow(2, max(0, exp_bits + man_bits - {int(np.log2(MAX_TICKS))}))"

    ticks = (
        alt.Chart(alt.sequence(1, MAX_TICKS, as_="i"))
        .transform_filter(fx.valid)
        .transform_calculate(code=f"datum.i * {stride}")
        .transform_filter(f"datum.code < pow(2, exp_bits + man_bits) && {fx.finite('datum.code')}")
        .transform_calculate(value=fx.value("datum.code"))
        .transform_calculate(kind=f"datum.value < {fx.min_normal} ? 'subnormal' : 'normal'")
        .mark_tick(thickness=1, size=26)
        .encode(
            x=alt.X("value:Q", scale=alt.Scale(type="log", base=2), title=None,
                    axis=alt.Axis(labelExpr=POW2_LABEL, labelOverlap=True)),
            color=alt.Color("kind:N", scale=alt.Scale(domain=["subnormal", "normal"],
                                                        range=["#ff7f0e", "#1f77b4"]),
                            legend=alt.Legend(orient="top", title=None)),
            tooltip=[alt.Tooltip("value:Q", format=".6g"), "code:Q", "kind:N"],
        )
    )
    marks_data = (
        alt.Chart(alt.sequence(0, 3, as_="j"))
        .transform_filter(fx.valid)
        .transform_calculate(
            value=f"[{fx.min_subnormal}, {fx.min_normal}, {fx.max}][datum.j]",
            label="['smallest subnormal', 'smallest normal', 'largest'][datum.j]",
        )
    )
    rules = marks_data.mark_rule(color="black", strokeDash=[3, 3]).encode(x="value:Q")
    grid = alt.layer(ticks, rules).properties(
        width=width, height=50, title="every positive value the format holds (log axis)")

    # Two points per binade describe the bound exactly: within a binade ulp(x)/(2x) is a line of
    # slope −1 on log–log axes, and the line continues through the subnormals.
    lo_e = f"({fx.emin} - man_bits - 1)"
    errors = (
        alt.Chart(alt.sequence(0, 2 * (254 + 23 + 4), as_="j"))
        .transform_filter(fx.valid)
        .transform_calculate(e=f"{lo_e} + floor(datum.j / 2)")
        .transform_filter(f"datum.e <= {fx.emax}")
        .transform_calculate(
            x=f"datum.j % 2 == 0 ? pow(2, datum.e) : min(pow(2, datum.e + 1) * (1 - 1e-9), {fx.max})")
        .transform_calculate(bound=f"datum.x < {fx.min_subnormal} ? {fx.min_subnormal} / (2 * datum.x)"
                                   f" : {fx.rn_error_bound('datum.x')}")
        .mark_line(color="#1f77b4")
        .encode(
            x=alt.X("x:Q", scale=alt.Scale(type="log", base=2), title="magnitude |x|",
                    axis=alt.Axis(labelExpr=POW2_LABEL, labelOverlap=True)),
            y=alt.Y("bound:Q", scale=alt.Scale(type="log", base=2),
                    title="worst relative error of round-to-nearest",
                    axis=alt.Axis(labelExpr=POW2_LABEL, labelOverlap=True)),
            tooltip=[alt.Tooltip("x:Q", format=".4g"), alt.Tooltip("bound:Q", format=".3g")],
        )
    )
    u_rule = (
        alt.Chart(alt.sequence(0, 1, as_="j"))
        .transform_filter(fx.valid)
        .transform_calculate(u=fx.unit_roundoff)
        .mark_rule(color="#888888", strokeDash=[4, 2])
        .encode(y=alt.Y("u:Q"))
    )
    error_panel = alt.layer(errors, u_rule, rules).properties(
        width=width, height=200,
        title="relative rounding error: dashed line u = 2^-(M+1); right edge: the largest value")

    lines = [
        ("format", "'E' + exp_bits + 'M' + man_bits + ' (' + specials + '), ' + (1 + exp_bits + man_bits) + ' bits'"),
        ("largest value", f"format({fx.max}, '.6~g')"),
        ("smallest normal", f"'2^' + {fx.emin} + ' = ' + format({fx.min_normal}, '.4~g')"),
        ("smallest subnormal", f"'2^' + ({fx.emin} - man_bits) + ' = ' + format({fx.min_subnormal}, '.4~g')"),
        ("unit roundoff u", (f"'2^-' + (man_bits + 1) + ' = ' + format({fx.unit_roundoff}, '.3~g')"
                             f" + ' (about ' + format((man_bits + 1) * log(2) / LN10, '.2~f') + ' decimal digits)'")),
        ("positive finite values", (f"format({fx.positive_count}, ',')"
                                    f" + if({stride} > 1, ' (every ' + format({stride}, ',') + 'th drawn)', '')")),
    ]
    table_rows = pd.DataFrame({"row": range(len(lines)), "name": [n for n, _ in lines]})
    texts = "[" + ", ".join(expr for _, expr in lines) + "]"
    refusal = ("['E' + exp_bits + 'M' + man_bits + ' (' + specials + ') is not a format the package accepts.',"
               " 'IEEE specials need E >= 2 exponent bits; fn and none allow at most 7',"
               " '(so that every finite value fits in float32).', 'fn needs M >= 1: its NaN is a mantissa code.',"
               " 'E1M0 has no useful grid.', '']")
    table = (
        alt.Chart(table_rows)
        .transform_calculate(text=f"if({fx.valid}, {texts}[datum.row], {refusal}[datum.row])")
        .transform_calculate(label=f"if({fx.valid}, datum.name + ': ', '')")
    )
    names = table.mark_text(align="right", dx=-4, fontWeight="bold").encode(
        y=alt.Y("row:O", axis=None), x=alt.value(170), text="label:N")
    values = table.mark_text(align="left").encode(y=alt.Y("row:O", axis=None), x=alt.value(172), text="text:N")
    header = alt.layer(names, values).properties(width=width, height=110, view={"stroke": None})

    return (
        alt.vconcat(header, grid, error_panel, spacing=12)
        .add_params(*params)
        .resolve_scale(x="shared", color="independent")
    )


def stagnation_chart(traces: pd.DataFrame, *, max_points: int = 150, width: int = 520,
                     height: int = 280) -> alt.LayerChart:
    """Running sums against the number of additions, one line per run, with a dropdown for the
    format.

    ``traces`` is long-form with columns ``format``, ``run`` (a label such as
    ``"round to nearest"``, ``"stochastic rounding, run 0"`` or ``"exact"``), ``step`` and
    ``sum``. The part of a label before a comma picks the colour, so the stochastic runs share
    one; the ``"exact"`` line is drawn last, dashed, on top. Each line keeps at most
    ``max_points`` evenly spaced records (first and last included), which keeps the page small
    and loses nothing visible at this width.
    """
    need = {"format", "run", "step", "sum"}
    if not need <= set(traces.columns):
        raise ValueError(f"traces must have columns {sorted(need)}, got {list(traces.columns)}")
    max_points = positive_int("max_points", max_points, minimum=2)
    parts = []
    for _, line in traces[["format", "run", "step", "sum"]].groupby(["format", "run"], sort=False):
        line = line.sort_values("step")
        keep = np.unique(np.linspace(0, len(line) - 1, min(len(line), max_points)).round().astype(int))
        parts.append(line.iloc[keep])
    data = pd.concat(parts, ignore_index=True)
    formats = list(dict.fromkeys(data["format"]))
    pick = alt.param(name="sum_format", value=formats[0],
                     bind=alt.binding_select(options=formats, name="format of the running sum "))
    kinds = list(dict.fromkeys(r.split(",")[0] for r in data["run"]))
    colors = [ROUNDING_COLORS.get(k, "#2ca02c") for k in kinds]
    base = (
        alt.Chart(data)
        .transform_filter(f"datum.format == {pick.name}")
        .transform_calculate(kind="split(datum.run, ',')[0]")
        .encode(
            x=alt.X("step:Q", title="additions"),
            y=alt.Y("sum:Q", title="running sum"),
            color=alt.Color("kind:N", scale=alt.Scale(domain=kinds, range=colors), title=None,
                            legend=alt.Legend(orient="top")),
            detail="run:N",
            tooltip=["run:N", "step:Q", alt.Tooltip("sum:Q", format=".6g")],
        )
    )
    runs = base.transform_filter("datum.run != 'exact'").mark_line(strokeWidth=1.5, opacity=0.8)
    exact = base.transform_filter("datum.run == 'exact'").mark_line(strokeWidth=2, strokeDash=[5, 4])
    return alt.layer(runs, exact).add_params(pick).properties(width=width, height=height)


def lorenz_distance_chart(summary: pd.DataFrame, histograms: pd.DataFrame, floor: float, *,
                          coordinate: str = "z", width: int = 300, height: int = 240) -> alt.HConcatChart:
    """Left: Wasserstein distance of one coordinate's long-run distribution from float64,
    against the mantissa bits, for each rounding, above the float64 noise floor (dashed).
    Right: that coordinate's histogram for the mantissa width chosen with the slider, both
    roundings beside float64.

    ``summary`` has columns ``man_bits``, ``rounding`` and ``w_<coordinate>``;
    ``histograms`` has ``man_bits`` (NaN or -1 for float64), ``rounding`` (``"float64"`` for
    the reference), ``<coordinate>`` (bin centre) and ``density``.
    """
    col = f"w_{coordinate}"
    if not {"man_bits", "rounding", col} <= set(summary.columns):
        raise ValueError(f"summary must have columns 'man_bits', 'rounding' and {col!r}")
    if not {"man_bits", "rounding", coordinate, "density"} <= set(histograms.columns):
        raise ValueError(f"histograms must have columns 'man_bits', 'rounding', {coordinate!r} and 'density'")
    bits = sorted(int(b) for b in summary["man_bits"].unique())
    if len(bits) < 2:
        raise ValueError("summary must hold at least two mantissa widths for a slider")
    s = summary.assign(rounding=summary["rounding"].map(lambda r: ROUNDING_LABELS.get(r, r)))
    h = histograms.assign(rounding=histograms["rounding"].map(lambda r: ROUNDING_LABELS.get(r, r)))
    steps = np.diff(bits)
    pick = alt.param(name="lorenz_man_bits", value=bits[len(bits) // 2],
                     bind=alt.binding_range(min=bits[0], max=bits[-1], step=int(steps.min()),
                                            name="mantissa bits M "))
    domain = ["round to nearest", "stochastic rounding", "float64"]
    color = alt.Color("rounding:N", scale=alt.Scale(domain=domain, range=[ROUNDING_COLORS[d] for d in domain]),
                      title=None, legend=alt.Legend(orient="top"))
    base = alt.Chart(s).encode(
        x=alt.X("man_bits:Q", title="mantissa bits M", scale=alt.Scale(domain=[bits[0], bits[-1]]),
                axis=alt.Axis(values=bits)),
        y=alt.Y(f"{col}:Q", scale=alt.Scale(type="log"), title=f"Wasserstein distance of {coordinate} from float64"),
        color=color,
    )
    lines = base.mark_line()
    dots = base.mark_point(filled=True).encode(
        size=alt.condition(f"datum.man_bits == {pick.name}", alt.value(140), alt.value(40)),
        tooltip=["man_bits:Q", "rounding:N", alt.Tooltip(f"{col}:Q", format=".3f")])
    floor_rule = alt.Chart(pd.DataFrame({"floor": [float(floor)]})).mark_rule(
        color="#444444", strokeDash=[4, 3]).encode(y="floor:Q")
    left = alt.layer(lines, dots, floor_rule).add_params(pick).properties(
        width=width, height=height, title="distance from the float64 climate (dashed: float64 noise floor)")
    hist = (
        alt.Chart(h)
        .transform_filter(f"datum.rounding == 'float64' || datum.man_bits == {pick.name}")
        .mark_line(interpolate="step-after")
        .encode(x=alt.X(f"{coordinate}:Q", title=coordinate), y=alt.Y("density:Q", title="density"),
                color=color, tooltip=["rounding:N", f"{coordinate}:Q", alt.Tooltip("density:Q", format=".4f")])
        .properties(width=width, height=height, title=f"long-run distribution of {coordinate}")
    )
    return alt.hconcat(left, hist)
