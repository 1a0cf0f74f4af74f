"""Numbers quoted from the papers the chapters mirror, each with its citation and source.

- ``hestness2017``: learning-curve exponents of Hestness et al. (2017), arXiv:1712.00409.
"""

from scalingbook.papers import hestness2017

__all__ = ["hestness2017"]
