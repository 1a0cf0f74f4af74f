"""What Hu, Luschi and Balanca (2025), "Elucidating the Design Space of FP4 Training", conclude.

The study builds a simulator of microscaled FP4 training and evaluates thousands of
combinations of gradient approximations, rounding modes and scaling methods on regression,
image classification, diffusion and language-model tasks, weighing each combination's accuracy
against its computational overhead.

Source check: the conclusions below paraphrase the abstract (arXiv:2509.17791v1, 22 September
2025), read through the search tool's stored copies of the arXiv HTML page (which also gives
the authors and their affiliation, Graphcore) and of the listing in ``../shared/seeds/``. We
quote no number of the paper's experiments: none was verified, and none is used by the book.
"""

from __future__ import annotations

__all__ = ["ARXIV_ID", "CITATION", "CONCLUSIONS", "RECOMMENDED", "SOURCES"]

ARXIV_ID = "2509.17791"
CITATION = (
    "Robert Hu, Carlo Luschi, Paul Balanca (2025). Elucidating the Design Space of FP4 Training. "
    "arXiv:2509.17791."
)
SOURCES = {
    "abstract": "https://arxiv.org/html/2509.17791 (stored copy: title, authors, abstract)",
    "seed_listing": "../shared/seeds/003_7992a16c27450214.txt",
}

#: From the abstract, in our words.
CONCLUSIONS = (
    "the best trade-off between accuracy and overhead comes from combining Hadamard "
    "transforms, tensor-level scaling and stochastic rounding",
    "UE5M3 block scales may be a good compromise between the range of a scale format and its "
    "precision, at a manageable overhead",
)

#: The ingredients the abstract recommends, as :class:`~scalingbook.precision.QuantScheme`
#: fields: a random Hadamard transform, a per-tensor scale on top of the block scales,
#: stochastic rounding (of the gradients, here) and UE5M3 block scales. The abstract does not say
#: which tensors get stochastic rounding or which block size goes with UE5M3; we use the
#: gradients and blocks of 32.
RECOMMENDED = {
    "hadamard": True,
    "per_tensor_scale": True,
    "grad_rounding": "stochastic",
    "scale_format": "ue5m3",
}
