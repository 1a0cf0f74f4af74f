"""Every chapter again in quick mode, under each other CPU instruction set this machine has.

PyTorch and numpy pick their CPU kernels by instruction set, and through training a difference
in the last bits grows like a change of seed, so a chapter's numbers on another machine differ
from the baseline's. ``ATEN_CPU_CAPABILITY`` forces PyTorch's kernels of a lower level
(``default``, ``avx2``, ``avx512``) and ``NPY_DISABLE_CPU_FEATURES`` switches off numpy's SIMD
targets above it (``booktools.emulation_env``), so these runs show here what another machine
would compute, and fail when a headline leaves the tolerance its chapter declares (measured
with ``benchmarks/headline_noise.py``). A separate file from ``test_chapters.py`` so that xdist's
``--dist loadfile`` runs the two on different workers. Each run trains its own models: run ids
include the instruction set, so no cached run is shared with the native one.
"""

from __future__ import annotations

import pytest
from booktools import chapters, check_chapter, cpu_capabilities, current_capability, slug

pytestmark = pytest.mark.slow

OTHERS = [c for c in cpu_capabilities() if c != current_capability()]


@pytest.mark.parametrize("capability", OTHERS)
@pytest.mark.parametrize("path", chapters(), ids=slug)
def test_chapter_matches_baseline_under_another_instruction_set(path, capability, tmp_path,
                                                                record_property):
    check_chapter(path, tmp_path, capability=capability, record_property=record_property)

