"""Numbers quoted from the papers the chapters mirror, each with its citation and source.

- ``hestness2017``: learning-curve exponents of Hestness et al. (2017), arXiv:1712.00409.
- ``kaplan2020``: Kaplan et al.'s (2020) power laws and compute-efficient rule, arXiv:2001.08361.
- ``gadre2024``: Gadre et al.'s (2024) over-training extrapolation and testbed runs, arXiv:2403.08540.
- ``henighan2020``: what Henighan et al. (2020) find across generative domains, arXiv:2010.14701.
- ``paxton2022``: what Paxton et al. (2022) find about low-precision climate runs, arXiv:2104.15076.
- ``hoffmann2022``: the approach-3 Chinchilla law of Hoffmann et al. (2022), arXiv:2203.15556.
- ``besiroglu2024``: the replication's estimates and findings, arXiv:2404.10102.
- ``sun2025``: the floating-point quantization law's constants and consequences, arXiv:2501.02423.
- ``hu2025``: the FP4 design-space study's conclusions, arXiv:2509.17791.
- ``castro2025``: Quartet's conclusions and method, arXiv:2505.14669.
- ``gu2023``: Mamba's synthetic-task accuracies and efficiency claims, arXiv:2312.00752.
"""

from scalingbook.papers import besiroglu2024, henighan2020, hestness2017, hoffmann2022, paxton2022, sun2025
from scalingbook.papers import castro2025, gu2023, hu2025
from scalingbook.papers import gadre2024, kaplan2020

__all__ = ["besiroglu2024", "henighan2020", "hestness2017", "hoffmann2022", "paxton2022", "sun2025",
           "castro2025", "gu2023", "hu2025", "gadre2024", "kaplan2020"]
