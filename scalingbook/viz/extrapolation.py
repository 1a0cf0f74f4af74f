"""A static explorer of extrapolation error against the range of model sizes fitted.

The fits are done in Python (:func:`scalingbook.fit.extrapolation.extrapolation_study`); the
chart carries every fit's curve and a slider picks which one is shown, so it works in the
static page with no kernel.
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from .explorers import REGION_COLORS

__all__ = ["extrapolation_explorer"]


def extrapolation_explorer(study, runs: pd.DataFrame, *, width: int = 320, height: int = 260) -> alt.HConcatChart:
    """Left: the runs, the reference law and the law fitted on runs up to the chosen size,
    extrapolated along D = (tokens per parameter) N to the target. Right: the absolute relative
    error at the target against the decades of model size fitted, the chosen fit highlighted.

    ``study`` is an :class:`~scalingbook.fit.extrapolation.ExtrapolationStudy`; ``runs`` has
    columns ``N`` and ``loss`` (and ``D``), the runs the study fitted.
    """
    if not {"N", "loss"} <= set(runs.columns):
        raise ValueError(f"runs must have columns 'N' and 'loss', got {list(runs.columns)}")
    summary = study.summary.copy()
    if len(summary) < 2:
        raise ValueError("the study needs at least two fit ranges for a slider")
    summary["log10_n_max"] = np.round(np.log10(summary["n_max"]), 4)
    lo, hi = float(summary["log10_n_max"].min()), float(summary["log10_n_max"].max())
    steps = np.diff(np.sort(summary["log10_n_max"].to_numpy()))
    step = float(np.round(steps.min(), 4))
    curves = study.curves.merge(summary[["fit_id", "log10_n_max"]], on="fit_id")
    points = runs[["N", "loss"]].copy()

    pick = alt.param(
        name="fit_up_to",
        value=hi,
        bind=alt.binding_range(min=lo, max=hi, step=step, name="log10 of largest model fitted "),
    )
    chosen = f"abs(datum.log10_n_max - fit_up_to) < {step / 2:.6g}"
    x_scale = alt.Scale(type="log")
    values = np.concatenate([points["loss"].to_numpy(float), curves["actual"].to_numpy(float),
                             curves["fitted"].to_numpy(float)])
    y_scale = alt.Scale(type="log", domain=[float(values.min()) * 0.95, float(values.max()) * 1.05],
                        nice=False)

    dots = (
        alt.Chart(points)
        .transform_calculate(fitted=f"log(datum.N) / LN10 <= fit_up_to + {step / 2:.6g} ? 'fitted' : 'held out'")
        .mark_point(size=30)
        .encode(
            x=alt.X("N:Q", scale=x_scale, title="parameters N", axis=alt.Axis(format="~s")),
            y=alt.Y("loss:Q", scale=y_scale, title="loss (nats)"),
            color=alt.Color("fitted:N", scale=alt.Scale(domain=["fitted", "held out"],
                                                         range=["black", "#bbbbbb"]), title="runs"),
            tooltip=["N:Q", "loss:Q", "fitted:N"],
        )
    )
    truth = (
        alt.Chart(curves)
        .transform_filter(f"datum.fit_id == {int(summary['fit_id'].iloc[0])}")
        .mark_line(color=REGION_COLORS["irreducible"], strokeDash=[4, 3])
        .encode(x="N:Q", y=alt.Y("actual:Q", scale=y_scale))
    )
    band = (
        alt.Chart(curves)
        .transform_filter(chosen)
        .transform_filter("isValid(datum.low) && isFinite(datum.low)")
        .mark_area(opacity=0.25, color=REGION_COLORS["power-law"])
        .encode(x="N:Q", y=alt.Y("low:Q", scale=y_scale), y2="high:Q")
    )
    fitted = (
        alt.Chart(curves)
        .transform_filter(chosen)
        .mark_line(color=REGION_COLORS["power-law"])
        .encode(x="N:Q", y=alt.Y("fitted:Q", scale=y_scale), tooltip=["N:Q", "fitted:Q", "actual:Q"])
    )
    left = (alt.layer(band, truth, fitted, dots).add_params(pick)
            .properties(width=width, height=height,
                        title="fitted law (blue) against the planted law (dashed)"))

    base = alt.Chart(summary).encode(
        x=alt.X("decades:Q", title="decades of model size fitted"),
        y=alt.Y("are:Q", title="relative error at the target", axis=alt.Axis(format="%")),
        tooltip=["n_max:Q", "decades:Q", "are:Q", "n_runs:Q"],
    )
    right = alt.layer(
        base.mark_line(color="#999999"),
        base.mark_point(filled=True).encode(
            size=alt.condition(chosen, alt.value(160), alt.value(40)),
            color=alt.condition(chosen, alt.value(REGION_COLORS["power-law"]), alt.value("#999999")),
        ),
    ).properties(width=width * 0.6, height=height, title="extrapolation error")
    return alt.hconcat(left, right)
