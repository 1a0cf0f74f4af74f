"""Numbers quoted from Hestness et al. (2017), "Deep Learning Scaling is Predictable, Empirically".

The paper writes a learning curve as ``ε(m) ∝ α m^βg``: generalization error against training
examples m, with a *negative* exponent βg (our :class:`~scalingbook.laws.LearningCurve` uses
``beta = -βg > 0``). It reports βg per domain and a summary range across domains, against
the steeper βg = -0.5 that much prior theory predicts.

Only numbers we could check against a source are included; each entry names that source.
Left out because we could not verify them within our look-up budget: the separate word- and
character-level language-model exponents (only their common range is verified), the
model-size exponents (best model size ∝ m^βp, which the paper finds sublinear), and the
exponents of the individual speech models. See ``UNVERIFIED``.

Where in the paper: each domain has its own subsection of Section 4 ("machine translation",
"language modeling", "image classification", "speech recognition"). The section
names come from our reading of the paper; the look-ups confirmed the values, not their
section numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

__all__ = [
    "CITATION",
    "ARXIV_ID",
    "DomainExponent",
    "LEARNING_CURVE_EXPONENTS",
    "SUMMARY_RANGE",
    "THEORY_BETA_G",
    "UNVERIFIED",
    "exponent",
    "as_frame",
]

ARXIV_ID = "1712.00409"
CITATION = (
    "Joel Hestness, Sharan Narang, Newsha Ardalani, Gregory Diamos, Heewoo Jun, Hassan Kianinejad, "
    "Md. Mostofa Ali Patwary, Yang Yang, Yanqi Zhou (2017). Deep Learning Scaling is Predictable, "
    "Empirically. Baidu Research. arXiv:1712.00409."
)

# Source used to verify the per-domain values: a reading-notes post that tabulates the paper's
# exponents ("Learning Curve Steepness βg" per domain) and states the summary range.
_NOTES = "https://arthurdouillard.com/post/deep-learning-scaling/"

# Empirical βg "settles between -0.07 and -0.35": the paper's summary across domains, as
# stated in _NOTES (verified there; not re-checked against Baidu Research's blog post).
SUMMARY_RANGE = (-0.35, -0.07)

# The steeper exponent of classical sample-complexity theory that the paper contrasts with its
# measurements. Not found in the look-ups in Hestness's own words; Hutter (2021, "Learning Curve
# Theory", arXiv:2102.04074, abstract) confirms that finite-dimensional theory gives errors
# falling like n^-1/2 (or n^-1).
THEORY_BETA_G = -0.5


@dataclass(frozen=True)
class DomainExponent:
    """One learning-curve exponent from the paper.

    domain : application domain as the paper groups them.
    metric : the error measured, where the verifying source names it (else None).
    beta_g : the exponent (negative), or None when only a range is verified.
    beta_g_range : (low, high) when the source gives a range for the domain, else None.
    where : where in the paper the number appears.
    verified_against : the source we checked the number against.
    """

    domain: str
    metric: str | None
    beta_g: float | None
    beta_g_range: tuple[float, float] | None
    where: str
    verified_against: str

    @property
    def span(self) -> tuple[float, float]:
        """(low, high) of the exponent: the range, or the point value twice."""
        if self.beta_g is not None:
            return (self.beta_g, self.beta_g)
        assert self.beta_g_range is not None
        return self.beta_g_range

    @property
    def inside_summary_range(self) -> bool:
        """Whether the whole span lies inside ``SUMMARY_RANGE`` (strictly by the numbers).

        False for top-5 image classification (-0.488, steeper than the range and nearer the
        theoretical -0.5) and for language modeling, whose quoted range reaches -0.06, just
        above the summary's rounded -0.07 end.
        """
        low, high = self.span
        return SUMMARY_RANGE[0] <= low and high <= SUMMARY_RANGE[1]


LEARNING_CURVE_EXPONENTS: tuple[DomainExponent, ...] = (
    DomainExponent(
        domain="machine translation",
        metric=None,
        beta_g=-0.128,
        beta_g_range=None,
        where="Section 4, machine translation (LSTM encoder-decoder learning curves)",
        verified_against=_NOTES,
    ),
    DomainExponent(
        domain="language modeling",
        metric=None,
        beta_g=None,
        # word- and character-level models together; the per-model values are not verified
        beta_g_range=(-0.09, -0.06),
        where="Section 4, language modeling (word and character LMs)",
        verified_against=_NOTES,
    ),
    DomainExponent(
        domain="image classification",
        metric="top-1 error",
        beta_g=-0.309,
        beta_g_range=None,
        where="Section 4, image classification (ResNets on ImageNet)",
        verified_against=_NOTES,
    ),
    DomainExponent(
        domain="image classification",
        metric="top-5 error",
        beta_g=-0.488,
        beta_g_range=None,
        where="Section 4, image classification (ResNets on ImageNet)",
        verified_against=_NOTES,
    ),
    DomainExponent(
        domain="speech recognition",
        metric=None,
        beta_g=-0.299,
        beta_g_range=None,
        where="Section 4, speech recognition",
        verified_against=_NOTES,
    ),
)

# Numbers the brief asked for that we did not include, and why.
UNVERIFIED: dict[str, str] = {
    "word language model βg": "only the combined LM range [-0.09, -0.06] was found in a source",
    "character language model βg": "only the combined LM range [-0.09, -0.06] was found in a source",
    "model-size exponents βp (best model size ∝ m^βp)": (
        "the sublinear growth is confirmed (abstract) but no per-domain value was found in a source"
    ),
    "per-model speech exponents (e.g. attention vs. Deep Speech 2)": "only one speech value was found",
}


def exponent(domain: str, metric: str | None = None) -> float:
    """The verified point exponent βg for ``domain`` (and ``metric`` where there are several).

    Raises ``ValueError`` for an unknown domain, an ambiguous one without ``metric``, or a
    domain for which only a range is verified.
    """
    rows = [e for e in LEARNING_CURVE_EXPONENTS if e.domain == domain]
    if not rows:
        known = sorted({e.domain for e in LEARNING_CURVE_EXPONENTS})
        raise ValueError(f"domain must be one of {known}, got {domain!r}")
    if metric is not None:
        rows = [e for e in rows if e.metric == metric]
        if not rows:
            raise ValueError(f"metric {metric!r} is not reported for domain {domain!r}")
    if len(rows) > 1:
        metrics = [e.metric for e in rows]
        raise ValueError(f"domain {domain!r} has several metrics {metrics}; pass metric")
    if rows[0].beta_g is None:
        raise ValueError(f"only a range {rows[0].beta_g_range} is verified for {domain!r}")
    return rows[0].beta_g


def as_frame() -> pd.DataFrame:
    """The exponent table as a DataFrame (one row per entry, ``beta_low``/``beta_high`` spans)."""
    return pd.DataFrame(
        [
            {
                "domain": e.domain,
                "metric": e.metric,
                "beta_g": e.beta_g,
                "beta_low": e.span[0],
                "beta_high": e.span[1],
                "inside_summary_range": e.inside_summary_range,
                "where": e.where,
                "verified_against": e.verified_against,
            }
            for e in LEARNING_CURVE_EXPONENTS
        ]
    )
