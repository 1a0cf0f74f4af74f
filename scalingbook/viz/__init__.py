"""Chart builders shared by the chapters (Altair), and the renderer that makes them work offline.

- :mod:`.offline`: the Altair renderer for the static book (call :func:`enable` once).
- :mod:`.expressions`: the laws as Vega expressions, tested against :mod:`scalingbook.laws`.
- :mod:`.explorers`: charts with sliders and dropdowns that work with no kernel.
"""

from . import expressions
from .explorers import REGION_COLORS, learning_curve_chart, power_law_explorer, power_law_fit_chart
from .offline import enable

__all__ = [
    "REGION_COLORS",
    "enable",
    "expressions",
    "learning_curve_chart",
    "power_law_explorer",
    "power_law_fit_chart",
]
