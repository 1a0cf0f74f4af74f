"""A static explorer of a size sweep's compute frontier, and of loss as entropy plus divergence.

Everything is computed in Python (:func:`scalingbook.labs.generative_modeling.analyze_size_sweep`);
a slider over compute moves a marker along the frontier and reads off the model size that is
best there, so the chart works in the static page with no kernel.
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

__all__ = ["compute_frontier_explorer", "entropy_decomposition_chart"]

_FRONTIER = "#d62728"
_ENTROPY = "#2ca02c"


def compute_frontier_explorer(records: pd.DataFrame, analysis, *, reference_exponents=None,
                              width: int = 340, height: int = 260) -> alt.HConcatChart:
    """Left: every run's held-out loss against training FLOPs (one line per model size), the
    frontier (their lower envelope, red) and the source's entropy rate (green); a slider over
    log10 compute marks the frontier there and names the best size. Right: the model sizes on
    the frontier at each hand-over against compute, the fitted N_opt ∝ C^k and, dashed, lines of
    the ``reference_exponents`` (a dict label -> exponent, e.g. the papers') through the fit's
    middle.

    ``records`` are the sweep's checkpoint rows (``params``, ``flops``, ``eval_loss``);
    ``analysis`` is its :class:`~scalingbook.labs.generative_modeling.SizeSweepAnalysis`.
    """
    need = {"params", "flops", "eval_loss"}
    if not need <= set(records.columns):
        raise ValueError(f"records must have columns {sorted(need)}, got {list(records.columns)}")
    frontier = analysis.frontier
    points = frontier.points.copy()
    points["log10_flops"] = np.log10(points["flops"])
    lo, hi = float(points["log10_flops"].min()), float(points["log10_flops"].max())
    pick = alt.param(name="log10_compute", value=round((lo + hi) / 2, 2),
                     bind=alt.binding_range(min=round(lo, 2), max=round(hi, 2), step=0.01,
                                            name="log10 of training compute (FLOPs) "))
    curves = records[["params", "flops", "eval_loss"]].copy()
    curves["size"] = curves["params"].map(lambda n: f"{int(n):,}")
    order = [f"{int(n):,}" for n in sorted(curves["params"].unique())]
    x = alt.X("flops:Q", scale=alt.Scale(type="log"), title="training compute C (FLOPs)",
              axis=alt.Axis(format="~e"))
    lows = np.concatenate([points["loss"].to_numpy(), [analysis.entropy_rate]])
    y_scale = alt.Scale(type="log", domain=[float(lows.min()) * 0.98,
                                            float(curves["eval_loss"].max()) * 1.02], nice=False)
    y = alt.Y("eval_loss:Q", scale=y_scale, title="held-out loss (nats/token)")
    lines = alt.Chart(curves).mark_line(opacity=0.7).encode(
        x=x, y=y, color=alt.Color("size:O", sort=order, scale=alt.Scale(scheme="viridis"),
                                  title="parameters"),
        detail="size:O", tooltip=["size:O", "flops:Q", "eval_loss:Q"])
    envelope = alt.Chart(points).mark_line(color=_FRONTIER, strokeWidth=3).encode(
        x="flops:Q", y=alt.Y("loss:Q", scale=y_scale))
    floor = alt.Chart(pd.DataFrame({"entropy": [analysis.entropy_rate]})).mark_rule(
        color=_ENTROPY, strokeDash=[5, 3]).encode(y=alt.Y("entropy:Q", scale=y_scale))
    nearest = (alt.Chart(points)
               .transform_calculate(dist="abs(datum.log10_flops - log10_compute)")
               .transform_window(rank="rank()", sort=[alt.SortField("dist")])
               .transform_filter("datum.rank == 1"))
    marker = nearest.mark_point(color=_FRONTIER, size=140, filled=True).encode(
        x="flops:Q", y=alt.Y("loss:Q", scale=y_scale),
        tooltip=["flops:Q", "loss:Q", "size:Q"])
    label = nearest.transform_calculate(
        text="'best size here: ' + format(datum.size, ',') + ' parameters, loss ' + "
             "format(datum.loss, '.3f')"
    ).mark_text(align="left", dx=-width / 2 + 10, dy=-height / 2 + 12, fontSize=12).encode(
        x=alt.value(width / 2), y=alt.value(height / 2), text="text:N")
    left = alt.layer(lines, envelope, floor, marker, label).add_params(pick).properties(
        width=width, height=height,
        title="learning curves, their frontier (red) and the entropy rate (green)")

    hand = frontier.handovers.copy()
    fit = analysis.optimal_size_fit
    k = analysis.k
    grid = np.geomspace(points["flops"].min(), points["flops"].max(), 50)
    a = fit.params["a"]
    mid_c = float(np.exp(np.log(hand["flops"]).mean())) if len(hand) else float(np.median(grid))
    mid_n = float(a * mid_c ** k)
    rows = [pd.DataFrame({"flops": grid, "size": a * grid ** k, "line": f"our fit, k = {k:.2f}"})]
    for name, exponent in (reference_exponents or {}).items():
        rows.append(pd.DataFrame({"flops": grid, "size": mid_n * (grid / mid_c) ** exponent,
                                  "line": f"{name}, k = {exponent:g}"}))
    fits = pd.concat(rows, ignore_index=True)
    line_order = list(fits["line"].unique())
    x2 = alt.X("flops:Q", scale=alt.Scale(type="log"), title="training compute C (FLOPs)",
               axis=alt.Axis(format="~e"))
    y2 = alt.Y("size:Q", scale=alt.Scale(type="log"), title="compute-optimal size N_opt")
    fit_lines = alt.Chart(fits).mark_line().encode(
        x=x2, y=y2, color=alt.Color("line:N", sort=line_order, title=None,
                                    legend=alt.Legend(orient="bottom", columns=1)),
        strokeDash=alt.condition(alt.datum.line == line_order[0], alt.value([1, 0]),
                                 alt.value([5, 3])))
    dots = alt.Chart(hand).mark_point(filled=True, color="black", size=60).encode(
        x="flops:Q", y="size:Q", tooltip=["flops:Q", "from_size:Q", "to_size:Q"])
    now = alt.Chart(pd.DataFrame({"z": [0]})).transform_calculate(
        flops="pow(10, log10_compute)").mark_rule(color=_FRONTIER).encode(x="flops:Q")
    right = alt.layer(fit_lines, dots, now).properties(
        width=width * 0.8, height=height, title="where the best size changes hands")
    return alt.hconcat(left, right).resolve_scale(color="independent")


def entropy_decomposition_chart(analysis, *, width: int = 360, height: int = 240) -> alt.LayerChart:
    """Final loss against model size, split into the source's entropy (S(True), measured on the
    held-out windows) and the model's divergence from the source (D_KL, the rest), with the
    fitted L(N) = L_inf + (N0/N)^alpha and its L_inf."""
    final = analysis.final.copy()
    bars = pd.concat([
        pd.DataFrame({"params": final["params"], "part": "S(True): entropy of the held-out text",
                      "nats": final["eval_source_nll"], "order": 0}),
        pd.DataFrame({"params": final["params"], "part": "D_KL(True || model): reducible",
                      "nats": final["kl"], "order": 1}),
    ])
    bars["size"] = bars["params"].map(lambda n: f"{int(n):,}")
    order = [f"{int(n):,}" for n in final["params"]]
    stack = alt.Chart(bars).mark_bar().encode(
        x=alt.X("size:O", sort=order, title="parameters N"),
        y=alt.Y("nats:Q", stack="zero", title="final held-out loss (nats/token)"),
        color=alt.Color("part:N", scale=alt.Scale(
            domain=["S(True): entropy of the held-out text", "D_KL(True || model): reducible"],
            range=[_ENTROPY, _FRONTIER]),
                        legend=alt.Legend(orient="bottom", title=None)),
        order="order:Q", tooltip=["size:O", "part:N", alt.Tooltip("nats:Q", format=".4f")])
    fitted = pd.DataFrame({"size": order,
                           "fit": np.asarray(analysis.size_fit.law(final["params"].to_numpy()))})
    curve = alt.Chart(fitted).mark_line(color="black", point=True).encode(
        x=alt.X("size:O", sort=order), y="fit:Q")
    floor = alt.Chart(pd.DataFrame({"L_inf": [analysis.l_inf]})).mark_rule(
        color="black", strokeDash=[5, 3]).encode(y="L_inf:Q")
    return alt.layer(stack, curve, floor).properties(
        width=width, height=height, title="loss = entropy + divergence; fitted L(N) in black")
