"""What we quote from Henighan et al. (2020), "Scaling Laws for Autoregressive Generative Modeling".

The paper trains autoregressive transformers on images, video, image-text pairs and mathematics
and finds, in every domain, the loss falling as a power law plus a constant in model size and in
compute, L(x) = L_inf + (x0/x)^alpha_x, with the constant read as the entropy of the data
(loss = S(True) + D_KL(True||Model)), and a compute-optimal model size growing as a power of
compute with an exponent that is nearly the same in every domain.

Source check: the statements in :data:`FINDINGS` are from the paper's abstract. The value of
:data:`OPTIMAL_SIZE_EXPONENT` (about 0.7) is the one the paper reports for N_opt ∝ C^k across its
domains; we checked it against a reading note of the paper that quotes ``N_opt(C) ∝ C^0.7``
(the abstract itself says only "nearly universal"), so treat it as approximate, as the paper
does. The per-domain fitted constants of the paper's summary table are *not* quoted here: we
could not read them from a source we can check from this machine, and we do not print
constants from memory.
"""

from __future__ import annotations

__all__ = ["ARXIV_ID", "CITATION", "FINDINGS", "OPTIMAL_SIZE_EXPONENT"]

ARXIV_ID = "2010.14701"
CITATION = (
    "Tom Henighan, Jared Kaplan, Mor Katz, Mark Chen, Christopher Hesse, Jacob Jackson, Heewoo "
    "Jun, Tom B. Brown, Prafulla Dhariwal, Scott Gray, et al. (2020). Scaling Laws for "
    "Autoregressive Generative Modeling. arXiv:2010.14701."
)

#: Exponent k of the compute-optimal model size N_opt ∝ C^k, about the same in every domain.
OPTIMAL_SIZE_EXPONENT = 0.7

FINDINGS = (
    "in image, video, image-text and math domains the cross-entropy loss follows a power law "
    "plus a constant in model size and in compute",
    "the compute-optimal model size is a power law in compute, with nearly universal exponents",
    "the loss reads as S(True) + D_KL(True||Model): the constant estimates the data's entropy, "
    "the power law the KL divergence of the model from the data",
    "billion-parameter transformers are nearly perfect models of 8x8 downsampled YFCC100M images",
)
