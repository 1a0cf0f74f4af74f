"""The isoFLOP picture (Hoffmann et al.'s approach 2): loss against model size at fixed budgets."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

__all__ = ["isoflop_chart"]


def isoflop_chart(runs: pd.DataFrame, result, *, width: int = 480, height: int = 280) -> alt.LayerChart:
    """Runs (columns ``N``, ``loss``, ``C``) by budget, each budget's fitted parabola in ln N and
    its vertex (the estimated compute-optimal size). ``result`` is an
    :class:`~scalingbook.fit.isoflop.IsoFLOPResult` fitted to those runs.

    A dropdown highlights one budget.
    """
    if not {"N", "loss", "C"} <= set(runs.columns):
        raise ValueError(f"runs must have columns 'N', 'loss' and 'C', got {list(runs.columns)}")
    table = result.budgets[result.budgets["used"]].reset_index(drop=True)
    data = runs[["N", "loss", "C"]].copy()
    # Label each run with the budget group whose C is nearest in log (the groups the fit used).
    log_c = np.log(table["C"].to_numpy())
    nearest = np.abs(np.log(data["C"].to_numpy())[:, None] - log_c[None, :]).argmin(1)
    labels = [f"{c:.0e}" for c in table["C"]]
    data["budget"] = [labels[i] for i in nearest]
    curves = []
    for i, row in table.iterrows():
        n_grid = np.geomspace(row["N_min"], row["N_max"], 50)
        u = np.log(n_grid / row["N_opt"])
        curves.append(pd.DataFrame({"N": n_grid, "loss": row["loss_opt"] + 0.5 * row["curvature"] * u * u,
                                    "budget": labels[i]}))
    curves = pd.concat(curves, ignore_index=True)
    vertices = pd.DataFrame({"N": table["N_opt"], "loss": table["loss_opt"], "budget": labels})
    pick = alt.param(name="isoflop_budget", value="all",
                     bind=alt.binding_select(options=["all", *labels], name="budget (FLOPs) "))
    x = alt.X("N:Q", scale=alt.Scale(type="log"), title="parameters N", axis=alt.Axis(format="~s"))
    y = alt.Y("loss:Q", scale=alt.Scale(zero=False), title="final loss (nats)")
    color = alt.Color("budget:N", sort=labels, scale=alt.Scale(scheme="viridis"), title="budget C")
    opacity = alt.condition(f"{pick.name} == 'all' || datum.budget == {pick.name}", alt.value(0.95), alt.value(0.12))
    dots = alt.Chart(data).mark_point(size=30).encode(x=x, y=y, color=color, opacity=opacity,
                                                      tooltip=["N:Q", "loss:Q", "budget:N"])
    lines = alt.Chart(curves).mark_line().encode(x=x, y=y, color=color, opacity=opacity, detail="budget:N")
    tips = alt.Chart(vertices).mark_point(shape="diamond", size=120, filled=True, color="black").encode(
        x=x, y=y, opacity=opacity, tooltip=["N:Q", "loss:Q", "budget:N"])
    return alt.layer(dots, lines, tips).add_params(pick).properties(
        width=width, height=height, title="isoFLOP profiles: parabolas in ln N and their vertices")
