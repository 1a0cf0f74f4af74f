"""Numbers quoted from Hestness et al. (2017) (scalingbook.papers.hestness2017)."""

import pytest

from scalingbook.papers import hestness2017 as h


def test_citation_names_the_paper():
    for part in ("Hestness", "Deep Learning Scaling is Predictable, Empirically", "2017", "arXiv:1712.00409"):
        assert part in h.CITATION
    assert h.ARXIV_ID == "1712.00409"


def test_every_entry_is_sourced_and_well_formed():
    assert len(h.LEARNING_CURVE_EXPONENTS) >= 5
    for e in h.LEARNING_CURVE_EXPONENTS:
        assert e.verified_against.startswith("https://")
        assert e.where.startswith("Section 4")
        # exactly one of a point value or a range
        assert (e.beta_g is None) != (e.beta_g_range is None)
        low, high = e.span
        assert low <= high < 0  # learning curves fall: negative exponents


def test_exponents_sit_in_the_summary_range_except_the_stated_ones():
    low, high = h.SUMMARY_RANGE
    assert low < high < 0
    assert h.THEORY_BETA_G < low  # theory predicts steeper curves than measured
    outside = {(e.domain, e.metric) for e in h.LEARNING_CURVE_EXPONENTS if not e.inside_summary_range}
    # top-5 image error is steeper than the range; the LM range's -0.06 end is the rounded edge
    assert outside == {("image classification", "top-5 error"), ("language modeling", None)}
    lm = next(e for e in h.LEARNING_CURVE_EXPONENTS if e.domain == "language modeling")
    assert lm.span[0] >= low and lm.span[1] - high <= 0.01 + 1e-12  # within rounding of the edge
    top5 = h.exponent("image classification", "top-5 error")
    assert top5 < low and abs(top5 - h.THEORY_BETA_G) < abs(low - h.THEORY_BETA_G)


def test_lookup_and_table():
    assert h.exponent("machine translation") == -0.128
    assert h.exponent("image classification", "top-1 error") == -0.309
    assert h.exponent("speech recognition") == -0.299
    for bad, match in (
        (("vision",), "domain must be one of"),
        (("image classification",), "several metrics"),
        (("language modeling",), "only a range"),
        (("machine translation", "BLEU"), "metric 'BLEU'"),
    ):
        with pytest.raises(ValueError, match=match):
            h.exponent(*bad)
    table = h.as_frame()
    assert len(table) == len(h.LEARNING_CURVE_EXPONENTS)
    assert (table["beta_high"] < 0).all()
    assert h.UNVERIFIED  # what we left out is listed, not silently dropped
