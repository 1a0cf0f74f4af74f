"""Numbers quoted from Paxton et al. (2022), "Climate Modeling in Low Precision: Effects of Both
Deterministic and Stochastic Rounding" (Journal of Climate 35(4); arXiv:2104.15076, 2021).

The paper runs the Lorenz system, a shallow-water model and the SPEEDY atmospheric model with
their arithmetic rounded to fewer significand bits ("sbits", the bits stored after the leading
one: our ``man_bits``), with round-to-nearest (RN) and stochastic rounding (SR), and measures
the error of the long-run distributions with the Wasserstein distance.

Source check: everything here is stated in the abstract, which we read on arXiv's listing
(ar5iv.labs.arxiv.org/html/2104.15076) and the journal's page (journals.ametsoc.org,
JCLI-D-21-0343.1); the author list and venue come from the journal's page. We could not read
the Lorenz section itself (its integration scheme, step, run length and per-sbit distances),
so none of its numbers is quoted here; the chapter's Lorenz experiment is ours.
"""

from __future__ import annotations

__all__ = [
           "ARXIV_ID",
           "CITATION",
           "DOUBLE_SBITS",
           "FINDINGS",
           "HALF_SBITS",
           "SINGLE_SBITS",
           "SOURCE",
           "SPEEDY_SBITS",
]

ARXIV_ID = "2104.15076"
CITATION = (
    "E. Adam Paxton, Matthew Chantry, Milan Klöwer, Leo Saffin, Tim Palmer (2022). Climate Modeling "
    "in Low Precision: Effects of Both Deterministic and Stochastic Rounding. Journal of Climate "
    "35(4). arXiv:2104.15076 (2021, as 'Climate Modelling in Low-Precision: Effects of both "
    "Deterministic & Stochastic Rounding')."
)
SOURCE = "https://ar5iv.labs.arxiv.org/html/2104.15076 (abstract)"

#: Significand bits of the standard formats, as the abstract counts them.
DOUBLE_SBITS = 52
SINGLE_SBITS = 23
HALF_SBITS = 10

#: "SPEEDY can be run with 12 sbits across the entire code with negligible rounding error",
#: and with 10 sbits "if very minor errors are accepted" (abstract).
SPEEDY_SBITS = 12

FINDINGS = (
    "single precision (23 sbits) is more than enough for the models tested",
    "as low as half precision (10 sbits) is often sufficient",
    "the test is based on the Wasserstein metric, bounding rounding error in means and extremes alike",
    ("stochastic rounding can mitigate rounding error across a range of applications, including slow "
     "processes such as heat diffusion where round-to-nearest stagnates"),
)
