"""Chart builders shared by the chapters (Altair), and the renderer that makes them work offline.

- :mod:`.offline`: the Altair renderer for the static book (call :func:`enable` once).
- :mod:`.expressions`: the laws as Vega expressions, tested against :mod:`scalingbook.laws`.
- :mod:`.explorers`: charts with sliders and dropdowns that work with no kernel.
- :mod:`.extrapolation`: the explorer of extrapolation error against the range of sizes fitted.
- :mod:`.isoflop`: isoFLOP profiles with their parabolas and vertices.
- :mod:`.frontier`: a size sweep's compute frontier (slider over compute) and its loss split
  into entropy and divergence.
"""

from . import expressions
from .explorers import REGION_COLORS, learning_curve_chart, power_law_explorer, power_law_fit_chart
from .extrapolation import extrapolation_explorer
from .frontier import compute_frontier_explorer, entropy_decomposition_chart
from .isoflop import isoflop_chart
from .offline import enable

__all__ = [
    "REGION_COLORS",
    "compute_frontier_explorer",
    "enable",
    "entropy_decomposition_chart",
    "expressions",
    "extrapolation_explorer",
    "isoflop_chart",
    "learning_curve_chart",
    "power_law_explorer",
    "power_law_fit_chart",
]
