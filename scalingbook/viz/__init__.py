"""Chart builders shared by the chapters (Altair), and the renderer that makes them work offline.

- :mod:`.offline`: the Altair renderer for the static book (call :func:`enable` once).
- :mod:`.expressions`: the laws as Vega expressions, tested against :mod:`scalingbook.laws`.
- :mod:`.explorers`: charts with sliders and dropdowns that work with no kernel.
- :mod:`.extrapolation`: the explorer of extrapolation error against the range of sizes fitted.
- :mod:`.isoflop`: isoFLOP profiles with their parabolas and vertices.
- :mod:`.allocation`: published compute-optimal allocations under a budget slider, and the
  over-training picture (loss against tokens per parameter, reducible loss against compute).
- :mod:`.frontier`: a size sweep's compute frontier (slider over compute) and its loss split
  into entropy and divergence.
- :mod:`.published_fits`: published per-domain L(N) fits with a model-size slider.
- :mod:`.precision_laws`: Sun et al.'s floating-point law (best exponent/mantissa split,
  critical data size) with sliders, and our measured precision gaps.
- :mod:`.number_formats`: the ExMy explorer (grid, range, rounding error of any format), the
  stagnating running sum, and the Lorenz climate's distance from float64.
- :mod:`.mamba`: the selective scan against attention as the sequence grows (sliders for
  length, width and state size), measured kernel times, synthetic-task curves, loss against
  parameters by model kind.
- :mod:`.fp4_training`: FP4 recipes' loss curves and gaps to float32 (dropdown and checkpoint
  slider), and quantization-error histograms with and without the Hadamard transform.
"""

from . import expressions
from .allocation import allocation_explorer, overtraining_chart
from .explorers import REGION_COLORS, learning_curve_chart, power_law_explorer, power_law_fit_chart
from .extrapolation import extrapolation_explorer
from .fp4_training import fp4_loss_explorer, quant_error_explorer
from .frontier import compute_frontier_explorer, entropy_decomposition_chart
from .isoflop import isoflop_chart
from .mamba import loss_vs_params_chart, scan_vs_attention_chart, synthetic_curves_chart, timing_chart
from .offline import enable
from .published_fits import published_fits_explorer
from .precision_laws import critical_data_explorer, layout_explorer, precision_gap_chart
from .number_formats import format_explorer, lorenz_distance_chart, stagnation_chart

__all__ = [
    "REGION_COLORS",
    "allocation_explorer",
    "compute_frontier_explorer",
    "critical_data_explorer",
    "entropy_decomposition_chart",
    "enable",
    "expressions",
    "extrapolation_explorer",
    "format_explorer",
    "fp4_loss_explorer",
    "isoflop_chart",
    "layout_explorer",
    "learning_curve_chart",
    "lorenz_distance_chart",
    "loss_vs_params_chart",
    "overtraining_chart",
    "power_law_explorer",
    "power_law_fit_chart",
    "precision_gap_chart",
    "published_fits_explorer",
    "quant_error_explorer",
    "scan_vs_attention_chart",
    "stagnation_chart",
    "synthetic_curves_chart",
    "timing_chart",
]
