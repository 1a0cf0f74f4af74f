"""Low-precision numerics: number formats, rounding, block scaling, Hadamard rotations, and a
fake-quantized linear layer for FP4 training experiments.

- ``formats``: :class:`FloatFormat` (exponent bits, mantissa bits, specials), the named formats
  and their exact value grids and codes.
- ``rounding``: :func:`round_to_format` with four rounding modes and saturation rules.
- ``microscaling``: OCP MX block formats (:func:`quantize_mx`), the general block quantizer
  with E8M0 / E4M3 / UE5M3 scales, and access to codes and scales (:func:`encode_blocks`).
- ``nvfp4``: :func:`quantize_nvfp4` (E2M1 + E4M3 block scale + float32 tensor scale).
- ``hadamard``: Sylvester-order transforms, blockwise and randomized.
- ``fake_quant``: :class:`QuantScheme`, :class:`FakeQuantLinear`.
- ``quest``: QuEST's Gaussian-fitted forward quantizer (Quartet's), :func:`quantize_quest`.
- ``error_stats``: a scheme's quantization error on a tensor, with and without the random
  Hadamard transform (:func:`quantization_error`, :func:`error_table`, :func:`rounding_bias`).
- ``emulate``: arithmetic emulated one rounded operation at a time: :func:`ulp`,
  :func:`low_precision_sum` (stagnation and stochastic rounding), absorption in a softmax.
- ``lorenz``: the Lorenz system integrated in any format, and Wasserstein distances between
  the long-run distributions (:func:`integrate_lorenz`, :func:`attractor_distance`).
- ``triton_kernels``: Triton versions of the block quantizer and the Hadamard transform, tested
  equal to their PyTorch twins (imported only when used).
"""

from ._common import ROUNDING_MODES
from .fake_quant import FakeQuantLinear, FakeQuantLinearFunction, QuantScheme, swap_linears
from .quest import QUEST_ELEMENTS, QuestQuantized, gaussian_mse_clip, gaussian_rounding_mse, quantize_quest
from .error_stats import (
    GEMM_OPERANDS,
    OPERAND_KINDS,
    QuantError,
    RoundingBias,
    capture_gemm_operands,
    error_histogram,
    error_table,
    gemm_operand_table,
    kurtosis,
    outlier_sweep,
    quantization_error,
    rounding_bias,
    synthetic_operand,
)
from .formats import (
    NAMED_FORMATS,
    SPECIALS,
    FloatFormat,
    bf16,
    e8m0_decode,
    fp4_e2m1,
    fp6_e2m3,
    fp6_e3m2,
    fp8_e4m3,
    fp8_e5m2,
    fp16,
    fp32,
    get_format,
    ue4m3,
    ue5m3,
)
from .hadamard import (
    hadamard_matrix,
    hadamard_transform,
    inverse_random_hadamard_transform,
    random_hadamard_transform,
    random_signs,
)
from .microscaling import (
    MX_ELEMENTS,
    SCALE_FORMATS,
    BlockQuantized,
    encode_blocks,
    quantize_blocks,
    quantize_mx,
)
from .nvfp4 import encode_nvfp4, nvfp4_tensor_scale, quantize_nvfp4
from .rounding import round_to_format
from .emulate import (
    Rounder,
    SumTrace,
    absorption_margin,
    collapsed_loss,
    low_precision_sum,
    rn_error_bound,
    rn_mean_relative_error,
    stagnation_value,
    stochastic_sum_std,
    ulp,
    unit_roundoff,
)
from .lorenz import (
    LorenzStudy,
    attractor_distance,
    integrate_lorenz,
    lorenz_precision_study,
    lorenz_starts,
    lorenz_tendency,
    wasserstein_distance,
)

__all__ = [
    "ROUNDING_MODES", "SPECIALS", "NAMED_FORMATS", "MX_ELEMENTS", "SCALE_FORMATS",
    "FloatFormat", "get_format", "fp4_e2m1", "fp6_e3m2", "fp6_e2m3", "fp8_e4m3", "fp8_e5m2",
    "fp16", "bf16", "fp32", "ue4m3", "ue5m3", "e8m0_decode",
    "round_to_format",
    "quantize_mx", "quantize_blocks", "encode_blocks", "BlockQuantized",
    "quantize_nvfp4", "encode_nvfp4", "nvfp4_tensor_scale",
    "hadamard_transform", "hadamard_matrix", "random_signs", "random_hadamard_transform",
    "inverse_random_hadamard_transform",
    "QuantScheme", "FakeQuantLinear", "FakeQuantLinearFunction", "swap_linears",
    "QUEST_ELEMENTS", "QuestQuantized", "quantize_quest", "gaussian_mse_clip", "gaussian_rounding_mse",
    "OPERAND_KINDS", "QuantError", "RoundingBias", "error_histogram", "error_table", "outlier_sweep",
    "GEMM_OPERANDS", "capture_gemm_operands", "gemm_operand_table", "kurtosis",
    "quantization_error",
    "rounding_bias", "synthetic_operand",
    "ulp", "unit_roundoff", "rn_error_bound", "rn_mean_relative_error", "Rounder", "SumTrace", "low_precision_sum",
    "stagnation_value", "stochastic_sum_std", "absorption_margin", "collapsed_loss",
    "integrate_lorenz", "lorenz_starts", "lorenz_tendency", "wasserstein_distance", "attractor_distance",
    "LorenzStudy", "lorenz_precision_study",
]
