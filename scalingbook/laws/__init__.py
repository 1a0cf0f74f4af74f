"""Functional forms of scaling laws, vectorized over sizes, with their units in the docstrings.

- ``power``: pure power laws, power laws with a floor, and Hestness et al.'s three-region
  learning curve (small-data, power-law, irreducible), and the data multiplier a power law
  implies for a given error reduction.
"""

from scalingbook.laws.power import LearningCurve, data_multiplier, power_law, power_law_with_offset

__all__ = ["LearningCurve", "data_multiplier", "power_law", "power_law_with_offset"]
