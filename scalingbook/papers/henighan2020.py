"""What we quote from Henighan et al. (2020), "Scaling Laws for Autoregressive Generative Modeling".

The paper trains autoregressive transformers on images, video, image-text pairs and mathematics
and finds, in every domain, the loss falling as a power law plus a constant in model size and in
compute, L(x) = L_inf + (x0/x)^alpha_x, with the constant read as the entropy of the data
(loss = S(True) + D_KL(True||Model)), and a compute-optimal model size growing as a power of
compute with an exponent that is nearly the same in every domain.

Source check: the statements in :data:`FINDINGS` are from the paper's abstract. The fits in
:data:`MODEL_SIZE_FITS` and :data:`OPTIMAL_SIZE` are the paper's Table 1 ("Summary of scaling
laws"), and ``beta ~ 0.7`` (:data:`OPTIMAL_SIZE_EXPONENT`) is its Section 1 and eq. (1.4); we read
them from a full-text copy of arXiv:2010.14701 in the code corpus of our search tool (a PDF to
Markdown conversion, file id 63453444161), the only copy of the table we found, so a transcription
slip cannot be ruled out; a reading note of the paper elsewhere in the corpus agrees on 0.7. Units
as in the paper: N counts non-embedding parameters, the loss is in nats per token (per pixel
channel or code for images and video), compute C in petaflop-days. The language rows are GPT-3's
and Kaplan et al.'s fits, which the paper reuses; they have no constant term.
"""

from __future__ import annotations

__all__ = ["ARXIV_ID", "CITATION", "FINDINGS", "MODEL_SIZE_FITS", "OPTIMAL_SIZE",
           "OPTIMAL_SIZE_EXPONENT", "size_law"]

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

#: Table 1, L(N) column: domain -> (L_inf in nats/token, N0 in non-embedding parameters,
#: alpha_N) of L(N) = L_inf + (N0/N)^alpha_N. L_inf is 0 where the paper fits a pure power law
#: (language and the text half of the multimodal models: no floor could be estimated).
MODEL_SIZE_FITS = {
    "Language": (0.0, 1.47e14, 0.070),
    "Image 8x8": (3.12, 8.0e1, 0.24),
    "Image 16x16": (2.64, 2.8e2, 0.22),
    "Image 32x32": (2.20, 6.3e1, 0.13),
    "Image VQ 16x16": (3.99, 2.7e4, 0.13),
    "Image VQ 32x32": (3.07, 1.9e4, 0.14),
    "Text-to-Im (Text)": (0.0, 5.6e8, 0.037),
    "Text-to-Im (Image)": (2.0, 5.1e3, 0.16),
    "Im-to-Text (Text)": (0.0, 7.0e8, 0.039),
    "Im-to-Text (Image)": (2.0, 5.5e3, 0.15),
    "Video VQ 16x16x16": (1.01, 3.7e4, 0.24),
    "Math (Extrapolate)": (0.28, 1.1e4, 0.16),
}

#: Table 1, N_opt(C) column: domain -> (C0 in petaflop-days, exponent) of N_opt = (C/C0)^exponent.
#: Language's row is Kaplan et al.'s; the two multimodal directions share one fit each.
OPTIMAL_SIZE = {
    "Language": (3.3e-13, 0.73),
    "Image 8x8": (5.3e-14, 0.64),
    "Image 16x16": (4.8e-12, 0.75),
    "Image 32x32": (1.6e-13, 0.65),
    "Image VQ 16x16": (6.2e-14, 0.64),
    "Image VQ 32x32": (9.4e-13, 0.7),
    "Text-to-Im (Image)": (9.4e-13, 0.7),
    "Im-to-Text (Image)": (3.3e-12, 0.72),
    "Video VQ 16x16x16": (1.13e-12, 0.71),
    "Math (Extrapolate)": (2.3e-12, 0.69),
}


def size_law(domain: str):
    """The paper's L(N) for ``domain`` (a key of :data:`MODEL_SIZE_FITS`) as a function of N
    (non-embedding parameters), via :func:`scalingbook.laws.power_law_with_offset`:
    L_inf + (N0/N)^alpha = e + a N^-alpha with e = L_inf and a = N0^alpha."""
    from scalingbook.laws.power import power_law_with_offset

    if domain not in MODEL_SIZE_FITS:
        raise ValueError(f"domain must be one of {sorted(MODEL_SIZE_FITS)}, got {domain!r}")
    l_inf, n0, alpha = MODEL_SIZE_FITS[domain]
    return lambda N: power_law_with_offset(N, l_inf, n0 ** alpha, alpha)
