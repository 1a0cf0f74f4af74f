"""A static explorer of published compute-optimal allocations (a budget slider, N*, D* and D*/N*),
and the over-training picture of Gadre et al. (2024): loss against tokens per parameter at fixed
sizes, and reducible loss against compute at fixed multipliers, with the fitted law.

Every law the explorer draws has a power-law allocation ``N*(C) = K C^a`` (C in FLOPs), read off
the law by :func:`scalingbook.laws.allocation_rule.power_law_allocation`; tokens follow from the
accounting ``C = 6 N D``. The browser computes the three quantities at the slider's budget with
the Vega expressions below, which the tests evaluate against the package's own
``compute_optimal``, so the chart and the package cannot drift apart.

Arguments of the expression builders are Vega expression fragments: a field (``"datum.K"``), a
parameter name or a number.
"""

from __future__ import annotations

import math
from typing import Any

import altair as alt
import numpy as np
import pandas as pd

from .._validate import positive_int, positive_scalar
from ..laws.allocation_rule import power_law_allocation

__all__ = [
    "allocation_explorer",
    "overtraining_chart",
    "allocation_table",
    "d_opt_expression",
    "n_opt_expression",
    "tokens_per_parameter_expression",
]

#: Name of the slider's parameter (log10 of the budget in FLOPs); not a Vega built-in name.
BUDGET_PARAM = "log10_budget"


def _t(value: str | float) -> str:
    return f"({value})"


def n_opt_expression(C: str | float, K: str | float, a: str | float) -> str:
    """Vega expression for ``N* = K C^a`` (parameters)."""
    return f"{_t(K)} * pow({_t(C)}, {_t(a)})"


def d_opt_expression(C: str | float, K: str | float, a: str | float, k: str | float = 6) -> str:
    """Vega expression for ``D* = C / (k N*)`` (tokens)."""
    return f"{_t(C)} / ({_t(k)} * {n_opt_expression(C, K, a)})"


def tokens_per_parameter_expression(C: str | float, K: str | float, a: str | float,
                                    k: str | float = 6) -> str:
    """Vega expression for ``D*/N* = C / (k N*^2)`` (tokens per parameter)."""
    return f"{_t(C)} / ({_t(k)} * pow({n_opt_expression(C, K, a)}, 2))"


def allocation_table(laws: dict[str, Any], C: float) -> pd.DataFrame:
    """``N*``, ``D*`` (under C = 6ND) and ``D*/N*`` of each law at ``C`` FLOPs, with its ``K`` and ``a``.

    ``laws`` maps a label to any law with a power-law ``compute_optimal`` (see
    :func:`~scalingbook.laws.allocation_rule.power_law_allocation`). One row per law, in order.
    """
    if not laws:
        raise ValueError("laws must name at least one law")
    C = positive_scalar("C", C)
    rows = []
    for label, law in laws.items():
        K, a = power_law_allocation(law)
        n = K * C**a
        rows.append({"law": label, "K": K, "a": a, "N_opt": n, "D_opt": C / (6.0 * n),
                     "tokens_per_parameter": C / (6.0 * n * n)})
    return pd.DataFrame(rows)


def allocation_explorer(
    laws: dict[str, Any],
    *,
    log10_range: tuple[float, float] = (18.0, 26.0),
    start: float = 5.76e23,
    n_grid: int = 81,
    width: int = 300,
    height: int = 240,
) -> alt.VConcatChart:
    """N*(C) and D*/N*(C) under each law, with a budget slider that marks every law's choice.

    Parameters
    ----------
    laws : dict label -> law
        Laws whose allocation is a power law in C (ChinchillaLaw, KaplanLaw, AllocationRule),
        labelled by non-empty strings (legend and table entries).
    log10_range : (low, high)
        Slider range, decades of FLOPs.
    start : float
        The slider's starting budget in FLOPs, inside the range (default Gopher's 5.76e23).
    n_grid : int
        Budgets per curve (at least 2).

    Returns a chart: top left N*(C), top right D*/N* (C), both log-log with a rule and a point
    per law at the chosen budget; below, a table of N*, D* and D*/N* at that budget, computed
    in the browser.
    """
    lo, hi = (float(x) for x in log10_range)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"log10_range must be two finite numbers with low < high, got {log10_range}")
    start = positive_scalar("start", start)
    if not lo <= math.log10(start) <= hi:
        raise ValueError(f"start={start:.3g} FLOPs lies outside the slider range 1e{lo:g} to 1e{hi:g}")
    n_grid = positive_int("n_grid", n_grid, minimum=2)
    for label in laws:
        if not isinstance(label, str) or not label.strip():
            raise ValueError(f"law labels must be non-empty strings, got {label!r}")
    table = allocation_table(laws, 10.0**lo)[["law", "K", "a"]]
    labels = table["law"].tolist()

    grid = pd.DataFrame({"log10_C": np.linspace(lo, hi, n_grid)})
    curves = grid.merge(table, how="cross")
    budget = alt.param(
        name=BUDGET_PARAM, value=round(math.log10(start), 2),
        bind=alt.binding_range(min=lo, max=hi, step=0.05, name="log10 of the budget C (FLOPs) "),
    )
    c_field = "pow(10, datum.log10_C)"
    c_param = f"pow(10, {BUDGET_PARAM})"
    color = alt.Color("law:N", sort=labels, title=None,
                      legend=alt.Legend(orient="bottom", columns=1, labelLimit=480))
    x = alt.X("C:Q", scale=alt.Scale(type="log", domain=[10.0**lo, 10.0**hi]),
              title="training compute C (FLOPs)", axis=alt.Axis(format=".0e"))

    def panel(field: str, expr_curve: str, expr_point: str, title: str, y_title: str, y_format: str):
        line = (alt.Chart(curves)
                .transform_calculate(C=c_field, **{field: expr_curve})
                .mark_line()
                .encode(x=x, y=alt.Y(f"{field}:Q", scale=alt.Scale(type="log"), title=y_title,
                                     axis=alt.Axis(format=y_format)),
                        color=color))
        dots = (alt.Chart(table)
                .transform_calculate(C=c_param, **{field: expr_point})
                .mark_point(filled=True, size=90)
                .encode(x=x, y=alt.Y(f"{field}:Q"), color=color,
                        tooltip=["law:N", alt.Tooltip(f"{field}:Q", format=".3~s")]))
        rule = (alt.Chart(pd.DataFrame({"one": [0]}))
                .transform_calculate(C=c_param)
                .mark_rule(color="#636363", strokeDash=[4, 3])
                .encode(x=x))
        return alt.layer(line, rule, dots).properties(width=width, height=height, title=title)

    left = panel("N_opt", n_opt_expression(c_field, "datum.K", "datum.a"),
                 n_opt_expression(c_param, "datum.K", "datum.a"),
                 "compute-optimal parameters N*", "parameters N*", ".0e")
    right = panel("tokens_per_parameter",
                  tokens_per_parameter_expression(c_field, "datum.K", "datum.a"),
                  tokens_per_parameter_expression(c_param, "datum.K", "datum.a"),
                  "tokens per parameter D*/N*", "tokens per parameter", "~g")
    text = (alt.Chart(table)
            .transform_calculate(
                N_opt=n_opt_expression(c_param, "datum.K", "datum.a"),
                D_opt=d_opt_expression(c_param, "datum.K", "datum.a"),
                ratio=tokens_per_parameter_expression(c_param, "datum.K", "datum.a"),
                line=("datum.law + ':  N* = ' + format(datum.N_opt, '.3~e') + ' parameters,  D* = '"
                      " + format(datum.D_opt, '.3~e') + ' tokens,  D*/N* = '"
                      " + format(datum.ratio, '.3~r')"))
            .mark_text(align="left", baseline="middle", fontSize=12)
            .encode(x=alt.value(0), y=alt.Y("law:N", sort=labels, axis=None), text="line:N",
                    color=color)
            .properties(width=2 * width, height=22 * len(labels)))
    header = (alt.Chart(pd.DataFrame({"one": [0]}))
              .transform_calculate(header=f"'at C = ' + format({c_param}, '.3~e') + ' FLOPs (under C = 6ND)'")
              .mark_text(align="left", fontSize=12, fontWeight="bold")
              .encode(x=alt.value(0), text="header:N")
              .properties(width=2 * width, height=18))
    return alt.vconcat(alt.hconcat(left, right), header, text).add_params(budget)


def overtraining_chart(runs: pd.DataFrame, law: Any, *, n_grid: int = 60, width: int = 300,
                       height: int = 260) -> alt.HConcatChart:
    """Runs at fixed sizes and token multipliers beside Gadre et al.'s law fitted to them.

    ``runs`` has columns ``size`` (a label per model size), ``N`` (parameters), ``M`` (tokens
    per parameter), ``C`` (FLOPs), ``loss`` (nats) and ``role`` ("fitted" or "held out");
    ``law`` is an :class:`~scalingbook.laws.OvertrainingLaw` (or anything with ``E``,
    ``loss(C, M)`` and ``reducible(C, M)``). Runs whose multipliers agree within 5% (a whole
    number of steps rarely hits ``M`` exactly) are one multiplier, labelled by their geometric
    mean.

    Left: loss against ``M`` for each size, with the law along that size's runs (its compute
    per unit of ``M`` is ``C / M``, constant for one size). Right: reducible loss ``L - E``
    against ``C`` in log-log for each multiplier, with the law's parallel lines over the span
    of that multiplier's runs; a dropdown highlights one multiplier. Held-out runs are drawn
    as open circles, fitted runs filled.
    """
    from ..fit.isoflop import group_budgets

    need = {"size", "N", "M", "C", "loss", "role"}
    if not isinstance(runs, pd.DataFrame) or not need <= set(runs.columns):
        raise ValueError(f"runs must be a DataFrame with columns {sorted(need)}")
    if not set(runs["role"]) <= {"fitted", "held out"}:
        raise ValueError(f"runs['role'] must be 'fitted' or 'held out', got {sorted(set(runs['role']))}")
    for name in ("N", "M", "C", "loss"):
        if not (np.isfinite(runs[name].to_numpy(float)).all() and (runs[name] > 0).all()):
            raise ValueError(f"runs['{name}'] must be finite and strictly positive")
    n_grid = positive_int("n_grid", n_grid, minimum=2)
    data = runs[["size", "N", "M", "C", "loss", "role"]].reset_index(drop=True).copy()
    data["reducible"] = data["loss"] - law.E
    if (data["reducible"] <= 0).any():
        raise ValueError("some runs lie at or below the law's E; their reducible loss has no logarithm")
    groups = group_budgets(data["M"].to_numpy(float), rtol=0.05)
    m_of_group = {g: float(np.exp(np.log(data["M"][groups == g]).mean())) for g in np.unique(groups)}
    data["multiplier"] = [f"M ≈ {m_of_group[g]:.3g}" for g in groups]
    sizes = data.drop_duplicates("size").sort_values("N")["size"].tolist()
    m_labels = [f"M ≈ {m_of_group[g]:.3g}" for g in sorted(m_of_group)]

    m_grid = np.geomspace(data["M"].min(), data["M"].max(), n_grid)
    curves_m = []
    for size, group in data.groupby("size", sort=False):
        c_per_m = float(np.exp(np.mean(np.log(group["C"] / group["M"]))))
        curves_m.append(pd.DataFrame({"size": size, "M": m_grid,
                                      "loss": law.loss(c_per_m * m_grid, m_grid)}))
    curves_m = pd.concat(curves_m, ignore_index=True)
    curves_c = []
    for g in sorted(m_of_group):
        c_runs = data["C"][groups == g]
        c_grid = np.geomspace(c_runs.min() / 1.5, c_runs.max() * 1.5, n_grid)
        curves_c.append(pd.DataFrame({"multiplier": f"M ≈ {m_of_group[g]:.3g}", "C": c_grid,
                                      "reducible": law.reducible(c_grid, m_of_group[g])}))
    curves_c = pd.concat(curves_c, ignore_index=True)

    pick = alt.param(name="overtrain_multiplier", value="all",
                     bind=alt.binding_select(options=["all", *m_labels], name="multiplier "))
    size_color = alt.Color("size:N", sort=sizes, title="model size",
                           scale=alt.Scale(scheme="viridis"), legend=alt.Legend(orient="bottom", columns=2))
    m_lo, m_hi = float(data["M"].min()) / 1.3, float(data["M"].max()) * 1.3
    x_m = alt.X("M:Q", scale=alt.Scale(type="log", domain=[m_lo, m_hi], nice=False),
                title="tokens per parameter M = D/N")
    y_l = alt.Y("loss:Q", scale=alt.Scale(zero=False), title="final loss (nats)")
    tips = ["size:N", "M:Q", "C:Q", "loss:Q", "role:N"]

    def dots(chart_data, x, y, color, opacity=None):
        layers = []
        for role, filled in (("fitted", True), ("held out", False)):
            enc = dict(x=x, y=y, color=color, tooltip=tips)
            if opacity is not None:
                enc["opacity"] = opacity
            layers.append(alt.Chart(chart_data).transform_filter(f"datum.role == '{role}'")
                          .mark_point(size=60, filled=filled, strokeWidth=2).encode(**enc))
        return layers

    left = alt.layer(
        alt.Chart(curves_m).mark_line(strokeDash=[4, 3]).encode(x=x_m, y=y_l, color=size_color),
        *dots(data, x_m, y_l, size_color),
    ).properties(width=width, height=height, title="loss at fixed size as M grows")

    m_color = alt.Color("multiplier:N", sort=m_labels, title="multiplier",
                        scale=alt.Scale(scheme="plasma"), legend=alt.Legend(orient="bottom", columns=3))
    opacity = alt.condition(f"{pick.name} == 'all' || datum.multiplier == {pick.name}",
                            alt.value(0.95), alt.value(0.1))
    decades = [10.0**k for k in range(int(np.floor(np.log10(curves_c["C"].min()))),
                                      int(np.ceil(np.log10(curves_c["C"].max()))) + 1)]
    x_c = alt.X("C:Q", scale=alt.Scale(type="log"), title="training compute C (FLOPs)",
                axis=alt.Axis(format=".0e", values=decades))
    y_r = alt.Y("reducible:Q", scale=alt.Scale(type="log"), title="reducible loss L - E (nats)")
    right = alt.layer(
        alt.Chart(curves_c).mark_line().encode(x=x_c, y=y_r, color=m_color, opacity=opacity),
        *dots(data, x_c, y_r, m_color, opacity),
    ).add_params(pick).properties(width=width, height=height,
                                  title="reducible loss against compute, per multiplier")
    return alt.hconcat(left, right).resolve_scale(color="independent")
