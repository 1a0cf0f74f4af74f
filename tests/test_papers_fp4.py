"""The FP4 papers' modules: citations, where each was checked, and what is (not) quoted."""

from scalingbook.papers import castro2025, hu2025
from scalingbook.precision import QuantScheme


def test_design_space_citation_and_recommendation():
    for part in ("Robert Hu", "Carlo Luschi", "Paul Balanca", "Elucidating the Design Space of FP4 Training",
                 "2025", "arXiv:2509.17791"):
        assert part in hu2025.CITATION
    assert hu2025.ARXIV_ID == "2509.17791"
    assert all(v.startswith(("https://", "../shared/")) for v in hu2025.SOURCES.values())
    assert len(hu2025.CONCLUSIONS) == 2 and "UE5M3" in hu2025.CONCLUSIONS[1]
    # the recommended ingredients are valid QuantScheme settings
    scheme = QuantScheme.mxfp4(**hu2025.RECOMMENDED)
    assert scheme.hadamard and scheme.per_tensor_scale and scheme.scale_format == "ue5m3"


def test_quartet_citation_method_and_constant():
    for part in ("Roberto L. Castro", "Dan Alistarh", "Quartet: Native FP4 Training Can Be Optimal", "2025",
                 "arXiv:2505.14669"):
        assert part in castro2025.CITATION
    assert "arXiv:2502.05003" in castro2025.QUEST_CITATION and castro2025.QUEST_ARXIV_ID == "2502.05003"
    assert set(castro2025.METHOD) == {"forward", "trust_mask", "backward"}
    assert "code" in castro2025.SOURCES and castro2025.DIFFERENCES
    assert 2.92 < castro2025.CODE_GAUSSIAN_CLIP_E2M1 < 2.93
