"""A static explorer of published per-domain L(N) fits: the reducible loss of each domain
against model size, and at a model size chosen with a slider.

The curves are computed in Python from the quoted constants (through
:func:`scalingbook.laws.power_law_with_offset`); the slider's readings are computed in the page
by the Vega expression :data:`REDUCIBLE_EXPR`, tested against the same function.
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from ..laws.power import power_law_with_offset

__all__ = ["REDUCIBLE_EXPR", "published_fits_explorer"]

#: Reducible loss (N0/N)^alpha of a row with fields N0 and alpha at N = 10^log10_params.
REDUCIBLE_EXPR = "pow(datum.N0 / pow(10, log10_params), datum.alpha)"


def published_fits_explorer(fits: dict[str, tuple[float, float, float]], *, log10_n: float = 9.0,
                            n_range: tuple[float, float] = (1e3, 1e12), width: int = 330,
                            height: int = 260) -> alt.HConcatChart:
    """Left: the reducible loss (N0/N)^alpha of every domain's L(N) = L_inf + (N0/N)^alpha
    against N. Right: at the N of the slider, each domain's reducible loss and, for domains
    with a floor, the share of the loss it makes up.

    ``fits`` maps a domain to ``(L_inf, N0, alpha)`` (e.g.
    :data:`scalingbook.papers.henighan2020.MODEL_SIZE_FITS`); ``L_inf = 0`` marks a fit without
    a floor.
    """
    if not fits:
        raise ValueError("fits must name at least one domain")
    for name, row in fits.items():
        if len(row) != 3 or not all(np.isfinite(row)) or row[0] < 0 or row[1] <= 0 or row[2] <= 0:
            raise ValueError(f"fits[{name!r}] must be (L_inf >= 0, N0 > 0, alpha > 0), got {row!r}")
    lo, hi = np.log10(n_range[0]), np.log10(n_range[1])
    if not lo < log10_n < hi:
        raise ValueError(f"log10_n must lie inside n_range, got {log10_n} outside {n_range}")
    grid = np.geomspace(*n_range, 60)
    curves = pd.concat([
        pd.DataFrame({"domain": name, "N": grid,
                      "reducible": power_law_with_offset(grid, 0.0, n0 ** alpha, alpha)})
        for name, (l_inf, n0, alpha) in fits.items()], ignore_index=True)
    table = pd.DataFrame([{"domain": k, "L_inf": v[0], "N0": v[1], "alpha": v[2]}
                          for k, v in fits.items()])
    pick = alt.param(name="log10_params", value=float(log10_n),
                     bind=alt.binding_range(min=float(lo), max=float(hi), step=0.1,
                                            name="log10 of non-embedding parameters N "))
    order = list(fits)
    color = alt.Color("domain:N", sort=order, legend=alt.Legend(orient="bottom", columns=3))
    lines = alt.Chart(curves).mark_line().encode(
        x=alt.X("N:Q", scale=alt.Scale(type="log"), axis=alt.Axis(format="~e"),
                title="non-embedding parameters N"),
        y=alt.Y("reducible:Q", scale=alt.Scale(type="log"), title="reducible loss (N0/N)^α (nats)"),
        color=color, tooltip=["domain:N", "N:Q", "reducible:Q"])
    rule = alt.Chart(pd.DataFrame({"z": [0]})).transform_calculate(
        N="pow(10, log10_params)").mark_rule(color="black").encode(x="N:Q")
    left = alt.layer(lines, rule).add_params(pick).properties(
        width=width, height=height, title="published L(N) fits, reducible part")
    at_n = (alt.Chart(table)
            .transform_calculate(reducible=REDUCIBLE_EXPR)
            .transform_calculate(share="datum.L_inf > 0 ? datum.reducible / (datum.L_inf + "
                                       "datum.reducible) : null",
                                 label="datum.L_inf > 0 ? format(datum.share, '.1%') + ' of the loss'"
                                       " : 'no floor fitted'"))
    bars = at_n.mark_bar().encode(
        y=alt.Y("domain:N", sort=order, title=None),
        x=alt.X("reducible:Q", scale=alt.Scale(type="log"), title="reducible loss at N (nats)"),
        color=alt.Color("domain:N", sort=order, legend=None),
        tooltip=["domain:N", alt.Tooltip("reducible:Q", format=".4g"), "L_inf:Q", "label:N"])
    text = at_n.mark_text(align="left", dx=4, fontSize=10).encode(
        y=alt.Y("domain:N", sort=order), x="reducible:Q", text="label:N")
    right = alt.layer(bars, text).properties(width=width * 0.7, height=height,
                                             title="at the slider's N")
    return alt.hconcat(left, right)
