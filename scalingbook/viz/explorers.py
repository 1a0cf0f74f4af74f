"""Chart builders whose controls work in the static page (no kernel).

Each builder returns an Altair chart whose parameters are bound to sliders or dropdowns and
whose curves are Vega expressions written by :mod:`scalingbook.viz.expressions`, so moving a
control redraws the chart in the browser.
"""

from __future__ import annotations

import math

import altair as alt
import numpy as np
import pandas as pd

from .._validate import as_positive_array, positive_int, positive_scalar, same_length
from . import expressions as ex

# Curve labels double as field names, so they avoid '.', '[' and '\\' (Vega-Lite field paths).
CURVE_WITH_FLOOR = "E + A·m^−α"
CURVE_POWER_LAW = "A·m^−α (power law alone)"

#: Colours for the three regions of a learning curve, shared by every chart that shows them.
REGION_COLORS = {"small-data": "#9ecae1", "power-law": "#3182bd", "irreducible": "#636363"}


def _check_range(name: str, low: float, high: float, value: float) -> None:
    if not low < high:
        raise ValueError(f"{name} range must have low < high, got ({low}, {high})")
    if not low <= value <= high:
        raise ValueError(f"{name} start value {value} lies outside its range ({low}, {high})")


def _seed_points(points: pd.DataFrame, param_name: str, *, x: str, y: str, x_scale, y_scale,
                 x_title: str | None = None, y_title: str | None = None, color: str | None = None):
    """Points with a dropdown that highlights one seed's runs (a missing ``seed`` column is 0).

    Returns the point layer with its parameter attached. ``param_name`` must be unique on the page.
    """
    data = points.copy()
    if "seed" not in data:
        data["seed"] = 0
    seeds = sorted(data["seed"].unique().tolist())
    pick = alt.param(
        name=param_name,
        value="all",
        bind=alt.binding_select(options=["all", *map(str, seeds)], name="highlight seed "),
    )
    mark = {"filled": True, "size": 35} | ({"color": color} if color else {})
    return (
        alt.Chart(data)
        .transform_calculate(seed_label="'' + datum.seed")
        .mark_point(**mark)
        .encode(
            x=alt.X(f"{x}:Q", scale=x_scale, **({"title": x_title} if x_title else {})),
            y=alt.Y(f"{y}:Q", scale=y_scale, **({"title": y_title} if y_title else {})),
            opacity=alt.condition(
                f"{param_name} == 'all' || datum.seed_label == {param_name}", alt.value(0.9), alt.value(0.12)
            ),
            tooltip=[f"{x}:Q", f"{y}:Q", "seed:N"],
        )
        .add_params(pick)
    )


def power_law_explorer(
    x_min: float = 1e1,
    x_max: float = 1e7,
    *,
    exponent: float = 0.35,
    log10_scale: float = 0.0,
    irreducible: float = 0.05,
    exponent_range: tuple[float, float] = (0.02, 1.0),
    log10_scale_range: tuple[float, float] = (-2.0, 2.0),
    irreducible_range: tuple[float, float] = (0.001, 0.5),
    y_domain: tuple[float, float] | None = None,
    measured: pd.DataFrame | None = None,
    x_title: str = "training examples m",
    y_title: str = "generalization error",
    n_grid: int = 120,
    width: int = 520,
    height: int = 320,
) -> alt.LayerChart:
    """A log-log explorer of ε(m) = E + A·m^(−α) with sliders for α, log₁₀A and E.

    Draws the curve, its pure power-law part (a straight line in log-log) and the floor E, and
    a vertical rule where the power law meets the floor, m* = (A/E)^(1/α): the start of the
    irreducible region. ``measured`` (columns ``x`` and ``y``, optionally ``label``) overlays
    points, so a reader can fit by eye before seeing the package's fit.

    Units: ``x`` is a count (examples, parameters, tokens); ε is in the task's error units.
    """
    x_min = positive_scalar("x_min", x_min)
    x_max = positive_scalar("x_max", x_max)
    if not x_min < x_max:
        raise ValueError(f"x_min must be below x_max, got {x_min} and {x_max}")
    n_grid = positive_int("n_grid", n_grid, minimum=2)
    _check_range("exponent", *exponent_range, exponent)
    _check_range("log10_scale", *log10_scale_range, log10_scale)
    _check_range("irreducible", *irreducible_range, irreducible)
    if irreducible_range[0] <= 0:
        raise ValueError("irreducible range must be positive: the error axis is logarithmic")
    if y_domain is None:
        # Wide enough for every slider setting at the grid's ends, clipped to sensible decades.
        top = 10 ** log10_scale_range[1] * x_min ** (-exponent_range[0]) + irreducible_range[1]
        y_domain = (irreducible_range[0] / 2, min(top, 1e3))
    y_lo = positive_scalar("y_domain[0]", y_domain[0])
    y_hi = positive_scalar("y_domain[1]", y_domain[1])

    alpha = alt.param(
        name="alpha",
        value=exponent,
        bind=alt.binding_range(min=exponent_range[0], max=exponent_range[1], step=0.01, name="exponent α "),
    )
    log_a = alt.param(
        name="log10_A",
        value=log10_scale,
        bind=alt.binding_range(
            min=log10_scale_range[0], max=log10_scale_range[1], step=0.05, name="scale log₁₀ A "
        ),
    )
    floor = alt.param(
        name="floor_E",
        value=irreducible,
        bind=alt.binding_range(
            min=irreducible_range[0], max=irreducible_range[1], step=0.001, name="irreducible error E "
        ),
    )
    a_expr = "pow(10, log10_A)"
    grid = pd.DataFrame({"x": np.geomspace(x_min, x_max, n_grid)})
    x_enc = alt.X("x:Q", scale=alt.Scale(type="log", domain=[x_min, x_max]), title=x_title)
    y_scale = alt.Scale(type="log", domain=[y_lo, y_hi])

    curves = (
        alt.Chart(grid)
        .transform_calculate(
            **{
                CURVE_WITH_FLOOR: ex.power_law_with_offset("datum.x", "floor_E", a_expr, "alpha"),
                CURVE_POWER_LAW: ex.power_law("datum.x", a_expr, "alpha"),
            }
        )
        .transform_fold([CURVE_WITH_FLOOR, CURVE_POWER_LAW], as_=["curve", "error"])
        .mark_line(clip=True)
        .encode(
            x=x_enc,
            y=alt.Y("error:Q", scale=y_scale, title=y_title),
            color=alt.Color("curve:N", title=None, legend=alt.Legend(orient="bottom")),
            strokeDash=alt.StrokeDash("curve:N", title=None, legend=alt.Legend(orient="bottom")),
        )
    )
    one_row = pd.DataFrame({"x": [x_min]})
    floor_rule = (
        alt.Chart(one_row)
        .transform_calculate(y="floor_E")
        .mark_rule(color=REGION_COLORS["irreducible"], strokeDash=[2, 2])
        .encode(y=alt.Y("y:Q", scale=y_scale))
    )
    knee_rule = (
        alt.Chart(one_row)
        .transform_calculate(knee=f"pow({a_expr} / floor_E, 1 / alpha)")
        .transform_filter(f"datum.knee >= {x_min} && datum.knee <= {x_max}")
        .mark_rule(color=REGION_COLORS["irreducible"])
        .encode(x=alt.X("knee:Q", scale=alt.Scale(type="log", domain=[x_min, x_max])))
    )
    layers = [curves, floor_rule, knee_rule]
    if measured is not None:
        if not {"x", "y"} <= set(measured.columns):
            raise ValueError(f"measured must have columns 'x' and 'y', got {list(measured.columns)}")
        xs = as_positive_array("measured['x']", measured["x"])
        ys = as_positive_array("measured['y']", measured["y"])
        same_length(**{"measured['x']": xs, "measured['y']": ys})
        points = measured.copy()
        if "label" not in points:
            points["label"] = "measured"
        layers.append(
            alt.Chart(points)
            .mark_point(filled=True, size=30, opacity=0.7, color="black", clip=True)
            .encode(x=x_enc, y=alt.Y("y:Q", scale=y_scale), tooltip=["x:Q", "y:Q", "label:N"])
        )
    return (
        alt.layer(*layers)
        .add_params(alpha, log_a, floor)
        .properties(width=width, height=height)
    )


def learning_curve_chart(
    measured: pd.DataFrame,
    curve,
    *,
    x_title: str = "training examples m",
    y_title: str = "test error",
    n_grid: int = 160,
    width: int = 520,
    height: int = 320,
) -> alt.LayerChart:
    """Measured errors beside a fitted :class:`~scalingbook.laws.LearningCurve`, regions shaded.

    ``measured`` needs columns ``m`` and ``error`` (optionally ``seed``). The three regions are
    shaded between the curve's boundaries; a dropdown picks which seed's points to highlight,
    so a reader can see the spread between runs that the fit's interval summarises.
    """
    if not {"m", "error"} <= set(measured.columns):
        raise ValueError(f"measured must have columns 'm' and 'error', got {list(measured.columns)}")
    m = as_positive_array("measured['m']", measured["m"])
    err = as_positive_array("measured['error']", measured["error"])
    same_length(**{"measured['m']": m, "measured['error']": err})
    n_grid = positive_int("n_grid", n_grid, minimum=2)
    x_lo, x_hi = m.min() / 2, m.max() * 2
    grid = pd.DataFrame({"m": np.geomspace(x_lo, x_hi, n_grid)})
    grid["error"] = curve.error(grid["m"].to_numpy())
    x_scale = alt.Scale(type="log", domain=[x_lo, x_hi])
    y_scale = alt.Scale(type="log")

    edges = [x_lo, min(max(curve.small_data_boundary, x_lo), x_hi)]
    edges.append(min(max(curve.irreducible_boundary, edges[-1]), x_hi) if math.isfinite(curve.irreducible_boundary) else x_hi)
    edges.append(x_hi)
    bands = pd.DataFrame(
        {
            "start": edges[:-1],
            "end": edges[1:],
            "region": ["small-data", "power-law", "irreducible"],
        }
    )
    bands = bands[bands["end"] > bands["start"]]
    shade = (
        alt.Chart(bands)
        .mark_rect(opacity=0.15)
        .encode(
            x=alt.X("start:Q", scale=x_scale, title=x_title),
            x2="end:Q",
            color=alt.Color(
                "region:N",
                scale=alt.Scale(domain=list(REGION_COLORS), range=list(REGION_COLORS.values())),
                title="region",
            ),
        )
    )
    fit_line = (
        alt.Chart(grid)
        .mark_line(color="black")
        .encode(x=alt.X("m:Q", scale=x_scale), y=alt.Y("error:Q", scale=y_scale, title=y_title))
    )
    dots = _seed_points(measured, "seed_pick", x="m", y="error", x_scale=x_scale, y_scale=y_scale)
    return alt.layer(shade, fit_line, dots).properties(width=width, height=height)


def power_law_fit_chart(
    points: pd.DataFrame,
    law,
    *,
    x_title: str,
    y_title: str,
    label: str = "fitted power law",
    n_grid: int = 100,
    width: int = 520,
    height: int = 280,
) -> alt.LayerChart:
    """Log-log scatter of ``points`` (columns ``x``, ``y``, optionally ``seed``) with a fitted law.

    ``law`` is any callable x → y (a fit's ``.law``). A dropdown highlights one seed's points.
    """
    if not {"x", "y"} <= set(points.columns):
        raise ValueError(f"points must have columns 'x' and 'y', got {list(points.columns)}")
    xs = as_positive_array("points['x']", points["x"])
    as_positive_array("points['y']", points["y"])
    n_grid = positive_int("n_grid", n_grid, minimum=2)
    grid = pd.DataFrame({"x": np.geomspace(xs.min(), xs.max(), n_grid)})
    grid["y"] = np.asarray(law(grid["x"].to_numpy()), dtype=float)
    grid["curve"] = label
    x_scale = alt.Scale(type="log")
    y_scale = alt.Scale(type="log")
    dots = _seed_points(
        points, "fit_seed_pick", x="x", y="y", x_scale=x_scale, y_scale=y_scale,
        x_title=x_title, y_title=y_title, color="black",
    )
    line = (
        alt.Chart(grid)
        .mark_line(color=REGION_COLORS["power-law"])
        .encode(x=alt.X("x:Q", scale=x_scale), y=alt.Y("y:Q", scale=y_scale), strokeDash=alt.StrokeDash("curve:N", title=None))
    )
    return alt.layer(dots, line).properties(width=width, height=height)
