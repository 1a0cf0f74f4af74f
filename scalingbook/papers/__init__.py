"""Numbers quoted from the papers the chapters mirror, each with its citation and source.

- ``hestness2017``: learning-curve exponents of Hestness et al. (2017), arXiv:1712.00409.
- ``henighan2020``: what Henighan et al. (2020) find across generative domains, arXiv:2010.14701.
- ``hoffmann2022``: the approach-3 Chinchilla law of Hoffmann et al. (2022), arXiv:2203.15556.
- ``besiroglu2024``: the replication's estimates and findings, arXiv:2404.10102.
"""

from scalingbook.papers import besiroglu2024, henighan2020, hestness2017, hoffmann2022

__all__ = ["besiroglu2024", "henighan2020", "hestness2017", "hoffmann2022"]
