"""What Castro et al. (2025), "Quartet: Native FP4 Training Can Be Optimal for Large Language
Models", conclude, and the details of their method we checked.

Source check. :data:`CONCLUSIONS` paraphrases the abstract (arXiv:2505.14669, versions v2 and v4 of
the HTML page, read through the search tool's stored copy). We could not read the paper's body
there, so the method's details in :data:`METHOD` come from the authors' code release, which the
abstract links (github.com/IST-DASLab/Quartet): ``src/models/quantization/quantizers/mxfp4.py``
and ``mxfp4_triton.py`` (the pseudo-quantized forward and backward quantizers) and
``quartet_qat/src/quartet_qat/module/linear_fns.py`` (the linear layer). Where our
implementation (:class:`scalingbook.precision.QuantScheme.quartet`) differs, :data:`DIFFERENCES`
says so. No number of the paper's experiments is quoted here.

QuEST, the forward quantizer, is Panferov et al. (2025), "QuEST: Stable Training of LLMs with 1-Bit
Weights and Activations", arXiv:2502.05003 (ICML 2025); its abstract names the two parts Quartet
reuses: Hadamard normalization with MSE-optimal fitting, and a "trust" gradient estimator.
"""

from __future__ import annotations

__all__ = [
    "ARXIV_ID", "CITATION", "CODE_GAUSSIAN_CLIP_E2M1", "CONCLUSIONS", "DIFFERENCES", "METHOD",
    "QUEST_ARXIV_ID", "QUEST_CITATION", "SOURCES",
]

ARXIV_ID = "2505.14669"
CITATION = (
    "Roberto L. Castro, Andrei Panferov, Soroush Tabesh, Oliver Sieberling, Jiale Chen, Mahdi "
    "Nikdan, Saleh Ashkboos, Dan Alistarh (2025). Quartet: Native FP4 Training Can Be Optimal for "
    "Large Language Models. arXiv:2505.14669 (NeurIPS 2025)."
)
QUEST_ARXIV_ID = "2502.05003"
QUEST_CITATION = (
    "Andrei Panferov, Jiale Chen, Soroush Tabesh, Roberto L. Castro, Mahdi Nikdan, Dan Alistarh "
    "(2025). QuEST: Stable Training of LLMs with 1-Bit Weights and Activations. arXiv:2502.05003."
)

SOURCES = {
    "abstract": "https://arxiv.org/html/2505.14669v4 (stored copy, abstract and introduction only)",
    "code": "https://github.com/IST-DASLab/Quartet (mxfp4.py, mxfp4_triton.py, linear_fns.py)",
    "quest_abstract": "https://proceedings.mlr.press/v267/panferov25a.html",
}

#: From the abstract, in our words.
CONCLUSIONS = (
    "all major computations of the linear layers can run in FP4 end to end, without falling "
    "back to higher precision",
    "a low-precision scaling law, fitted across bit-widths and training setups, is what the "
    "authors use to call their technique near-optimal in accuracy against computation",
    "fully FP4 training with Quartet is a competitive alternative to FP16 and FP8 training",
)

#: The recipe as the released code implements it (MXFP4, blocks of 32).
METHOD = {
    "forward": "Hadamard transform of blocks of 32 along the inner dimension of both operands, "
               "then QuEST: a power-of-two block scale 2**floor(log2(c * sigma / 6)) fitted to "
               "the block's spread, round-to-nearest E2M1 elements, saturating at 6",
    "trust_mask": "entries with |x / scale| < 6 (not clipped); the gradient of the others is "
                  "zeroed before the forward rotation is undone",
    "backward": "the quantized forward operands and the output gradient are rotated by a "
                "Hadamard transform with fresh random signs along each backward GEMM's inner "
                "dimension and re-quantized to MXFP4; the output gradient with stochastic rounding",
}

#: The Gaussian fit's clipping constant in the released code: ``gaussian_scale = 2.92247856 / 6``
#: multiplies the block's standard deviation. It equals the MSE-optimal clip of a standard
#: normal on the E2M1 grid, which :func:`scalingbook.precision.gaussian_mse_clip` recomputes
#: (``tests/test_precision_quest.py`` holds the two together).
CODE_GAUSSIAN_CLIP_E2M1 = 2.92247856

#: Where our :meth:`QuantScheme.quartet` departs from the released code.
DIFFERENCES = (
    "we fit the block's root mean square, their kernel its standard deviation about the block "
    "mean (equal when the mean is zero, nearly so after a Hadamard rotation)",
    "our forward rotation has random signs fixed per layer; theirs is a plain Hadamard matrix",
    "our backward rotation's signs are fixed per layer and GEMM; theirs are redrawn every step",
    "our gradient blocks use the E8M0 'rceil' scale, which never clips; their pseudo-quantizer "
    "divides by 3/4 of the block maximum's power of two, which never clips either",
    "everything is emulated in float32 on the CPU; no FP4 hardware is involved",
)
