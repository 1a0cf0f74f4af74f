"""Numbers quoted from papers (scalingbook.papers): Hestness 2017, Hoffmann 2022, Besiroglu 2024."""

from pathlib import Path

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


EPOCH_CSV = Path(__file__).resolve().parents[2] / "shared" / "external" / "chinchilla_epoch" / "svg_extracted_data.csv"


def test_chinchilla_papers_are_cited_and_derived_exponents_follow():
    from scalingbook.papers import besiroglu2024, hoffmann2022

    assert "2203.15556" in hoffmann2022.CITATION and "2404.10102" in besiroglu2024.CITATION
    # a = beta / (alpha + beta) from the rounded constants: the original law leans to data less.
    assert hoffmann2022.APPROACH_3.a == pytest.approx(0.28 / 0.62)
    assert besiroglu2024.REPLICATION.a == pytest.approx(0.3658 / (0.3478 + 0.3658))
    assert besiroglu2024.EXPERIMENTS_NEEDED > 1000 * besiroglu2024.EXPERIMENTS_RUN


@pytest.mark.skipif(not EPOCH_CSV.exists(), reason="../shared/external/chinchilla_epoch is absent")
def test_refitting_the_epoch_extraction_reproduces_the_replication_estimates():
    """Our fitter on Epoch AI's extraction lands on the replication's published estimates."""
    import pandas as pd

    from scalingbook.fit import fit_chinchilla
    from scalingbook.papers import besiroglu2024

    frame = pd.read_csv(EPOCH_CSV)
    frame["D"] = frame["Training FLOP"] / (6 * frame["Model Size"])
    frame = frame[frame["loss"] < frame["loss"].nlargest(5).min()]  # their outlier rule: 240 rows
    assert len(frame) == 240
    fit = fit_chinchilla(frame["Model Size"], frame["D"], frame["loss"])
    quoted = besiroglu2024.REPLICATION
    assert fit.params["E"] == pytest.approx(quoted.E, rel=0.02)
    assert fit.params["alpha"] == pytest.approx(quoted.alpha, rel=0.02)
    assert fit.params["beta"] == pytest.approx(quoted.beta, rel=0.02)
    assert fit.params["A"] == pytest.approx(quoted.A, rel=0.05)
    assert fit.params["B"] == pytest.approx(quoted.B, rel=0.05)
