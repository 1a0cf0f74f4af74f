"""Static explorers of the FP4 training chapter: loss curves and gaps, and quantization errors.

Both charts carry all their data; a dropdown and a slider choose what is drawn, evaluated by
Vega in the page, so they work with no kernel.

- :func:`fp4_loss_explorer`: the chosen scheme's learning curves against float32's (reducible
  loss, every seed), and every scheme's loss gap to float32, seed by seed, at the checkpoint the
  slider picks.
- :func:`quant_error_explorer`: for the chosen format, the histogram of per-entry errors with and
  without the random Hadamard transform at the outlier size the slider picks, and the relative
  error of both against the outlier size.
"""

from __future__ import annotations

import json

import altair as alt
import numpy as np
import pandas as pd

__all__ = ["fp4_loss_explorer", "quant_error_explorer"]

_BASE_COLOR = "#9a9a9a"
_PICK_COLOR = "#1f77b4"
_ROTATION_COLORS = {"no rotation": "#d62728", "random Hadamard": "#1f77b4"}


def _need(df, name: str, columns: set[str]) -> None:
    if not isinstance(df, pd.DataFrame) or not columns <= set(df.columns):
        raise ValueError(f"{name} must be a DataFrame with columns {sorted(columns)}")
    if df.empty:
        raise ValueError(f"{name} is empty")


def _even_step(values: np.ndarray, name: str) -> float:
    """The common spacing of sorted distinct ``values`` (a slider's step); raises if uneven."""
    v = np.unique(np.round(values, 6))
    if v.size < 2:
        raise ValueError(f"{name} needs at least two distinct values for a slider")
    d = np.diff(v)
    if np.max(d) - np.min(d) > 1e-6 * max(1.0, float(np.max(np.abs(v)))):
        raise ValueError(f"{name} must be evenly spaced for the slider, got {v.tolist()}")
    return float(np.round(d[0], 6))


def fp4_loss_explorer(curves: pd.DataFrame, *, baseline: str = "float32", initial: str | None = None,
                      width: int = 330, height: int = 250) -> alt.HConcatChart:
    """Left: reducible loss (eval loss minus the source's entropy floor, log scale) against
    training tokens, float32 in grey and the dropdown's scheme in colour, one line per seed; a
    rule marks the slider's checkpoint. Right: every scheme's loss minus float32's at that
    checkpoint, one dot per seed and a bar at their mean, the chosen scheme in colour.

    ``curves`` is :func:`scalingbook.labs.fp4_training.paired_gap_curves` output (columns
    ``scheme``, ``seed``, ``step``, ``tokens``, ``gap``, ``reducible``); checkpoints must be evenly
    spaced. ``initial`` is the scheme shown first (default: the first non-baseline scheme).
    """
    _need(curves, "curves", {"scheme", "seed", "step", "tokens", "gap", "reducible"})
    if baseline not in set(curves["scheme"]):
        raise ValueError(f"baseline {baseline!r} is not among the curves' schemes")
    if not (curves["reducible"] > 0).all():
        raise ValueError("curves['reducible'] must be positive (it is drawn on a log scale)")
    order = [s for s in dict.fromkeys(curves["scheme"]) if s != baseline]
    if not order:
        raise ValueError("curves need at least one scheme besides the baseline")
    initial = order[0] if initial is None else initial
    if initial not in order:
        raise ValueError(f"initial must be one of {order}, got {initial!r}")
    steps = np.sort(curves["step"].unique()).astype(float)
    step = _even_step(steps, "curves['step']")
    data = curves[["scheme", "seed", "step", "tokens", "gap", "reducible"]].copy()
    data["seed"] = data["seed"].astype(int)

    pick = alt.param(name="scheme_pick", value=initial,
                     bind=alt.binding_select(options=order, name="scheme "))
    at = alt.param(name="checkpoint_step", value=float(steps[-1]),
                   bind=alt.binding_range(min=float(steps[0]), max=float(steps[-1]), step=step,
                                          name="checkpoint (step) "))
    base_lit = json.dumps(baseline)
    near = f"abs(datum.step - checkpoint_step) < {step / 2:.6g}"

    x = alt.X("tokens:Q", title="training tokens", axis=alt.Axis(format="~s"))
    y = alt.Y("reducible:Q", scale=alt.Scale(type="log"), title="eval loss − entropy floor (nats)")
    base_lines = (alt.Chart(data).transform_filter(f"datum.scheme == {base_lit}")
                  .mark_line(color=_BASE_COLOR, strokeDash=[4, 3])
                  .encode(x=x, y=y, detail="seed:N", tooltip=["scheme:N", "seed:N", "step:Q", "reducible:Q"]))
    pick_lines = (alt.Chart(data).transform_filter("datum.scheme == scheme_pick")
                  .mark_line(color=_PICK_COLOR, point=True)
                  .encode(x=x, y=y, detail="seed:N", tooltip=["scheme:N", "seed:N", "step:Q", "reducible:Q", "gap:Q"]))
    rule = (alt.Chart(data).transform_filter(f"datum.scheme == {base_lit} && datum.seed == {int(data['seed'].min())}")
            .transform_filter(near).mark_rule(color="black", opacity=0.4).encode(x="tokens:Q"))
    left = alt.layer(base_lines, pick_lines, rule).add_params(pick, at).properties(
        width=width, height=height, title="reducible loss: chosen scheme (blue) and float32 (grey)")

    others = data[data["scheme"] != baseline]
    last = others[others["step"] == steps[-1]].groupby("scheme", sort=False)["gap"].mean().sort_values()
    sort = list(last.index) + [s for s in order if s not in last.index]
    colour = alt.condition("datum.scheme == scheme_pick", alt.value(_PICK_COLOR), alt.value(_BASE_COLOR))
    ys = alt.Y("scheme:N", sort=sort, title=None)
    gx = alt.X("gap:Q", title="loss − float32's, same seed (nats)")
    dots = (alt.Chart(others).transform_filter(near).mark_point(filled=True, size=45)
            .encode(x=gx, y=ys, color=colour, tooltip=["scheme:N", "seed:N", "step:Q", "gap:Q"]))
    means = (alt.Chart(others).transform_filter(near)
             .transform_aggregate(gap="mean(gap)", groupby=["scheme"])
             .mark_tick(thickness=3, size=16).encode(x="gap:Q", y=ys, color=colour,
                                                     tooltip=["scheme:N", alt.Tooltip("gap:Q", title="mean gap")]))
    zero = alt.Chart(pd.DataFrame({"gap": [0.0]})).mark_rule(color="black").encode(x="gap:Q")
    right = alt.layer(zero, dots, means).properties(
        width=width * 0.8, height=height, title="gap to float32 at the chosen checkpoint")
    return alt.hconcat(left, right)


def quant_error_explorer(table: pd.DataFrame, hist: pd.DataFrame, *, initial: str | None = None,
                         width: int = 330, height: int = 250) -> alt.HConcatChart:
    """Left: histogram of log10 |error| (in the units ``hist`` was binned in: the Gaussian bulk's
    standard deviation for :func:`~scalingbook.precision.outlier_sweep`) for the dropdown's
    format, without (red) and with (blue) the random Hadamard transform, on data whose outliers
    are the slider's size. Right:
    relative error ||Q(x) − x||² / ||x||² of both against the outlier size (log-log), the slider's
    size marked.

    ``table`` and ``hist`` are :func:`scalingbook.precision.outlier_sweep` output; the outlier
    sizes must be evenly spaced in log10 (the slider moves in those steps).
    """
    _need(table, "table", {"outlier_scale", "scheme", "hadamard", "relative_mse"})
    _need(hist, "hist", {"outlier_scale", "scheme", "hadamard", "lo", "hi", "fraction"})
    if not (table["relative_mse"] > 0).all():
        raise ValueError("table['relative_mse'] must be positive (it is drawn on a log scale)")
    order = list(dict.fromkeys(table["scheme"]))
    initial = order[0] if initial is None else initial
    if initial not in order:
        raise ValueError(f"initial must be one of {order}, got {initial!r}")
    logs = np.log10(table["outlier_scale"].to_numpy(float))
    step = _even_step(logs, "outlier_scale (log10)")
    lo, hi = float(np.round(logs.min(), 6)), float(np.round(logs.max(), 6))

    def prep(df: pd.DataFrame) -> pd.DataFrame:
        out = df.copy()
        out["log10_outlier"] = np.round(np.log10(out["outlier_scale"].to_numpy(float)), 6)
        out["rotation"] = np.where(out["hadamard"], "random Hadamard", "no rotation")
        return out.drop(columns=["hadamard"])

    t = prep(table[["outlier_scale", "scheme", "hadamard", "relative_mse"]])
    h = prep(hist[["outlier_scale", "scheme", "hadamard", "lo", "hi", "fraction"]])
    h["center"] = (h["lo"] + h["hi"]) / 2

    pick = alt.param(name="format_pick", value=initial, bind=alt.binding_select(options=order, name="format "))
    size = alt.param(name="log10_outlier_size", value=hi,
                     bind=alt.binding_range(min=lo, max=hi, step=step, name="log10 outlier size "))
    near = f"abs(datum.log10_outlier - log10_outlier_size) < {step / 2:.6g}"
    colour = alt.Color("rotation:N", scale=alt.Scale(domain=list(_ROTATION_COLORS), range=list(_ROTATION_COLORS.values())),
                       title=None)
    left = (alt.Chart(h).transform_filter("datum.scheme == format_pick").transform_filter(near)
            .mark_line(interpolate="step", strokeWidth=2)
            .encode(x=alt.X("center:Q", title="log10 |error| (units of the bulk's std)"),
                    y=alt.Y("fraction:Q", title="share of entries", axis=alt.Axis(format="%")),
                    color=colour, tooltip=["rotation:N", "center:Q", alt.Tooltip("fraction:Q", format=".2%")])
            .add_params(pick, size)
            .properties(width=width, height=height, title="where the errors lie"))
    lines = (alt.Chart(t).transform_filter("datum.scheme == format_pick")
             .mark_line(point=True)
             .encode(x=alt.X("outlier_scale:Q", scale=alt.Scale(type="log"), title="outlier size (× the rest)"),
                     y=alt.Y("relative_mse:Q", scale=alt.Scale(type="log"), title="relative squared error"),
                     color=colour, tooltip=["rotation:N", "outlier_scale:Q", alt.Tooltip("relative_mse:Q", format=".4f")]))
    mark = (alt.Chart(t).transform_filter("datum.scheme == format_pick").transform_filter(near)
            .transform_filter("datum.rotation == 'no rotation'")
            .mark_rule(color="black", opacity=0.4).encode(x="outlier_scale:Q"))
    right = alt.layer(lines, mark).properties(width=width * 0.8, height=height, title="error against outlier size")
    return alt.hconcat(left, right)
