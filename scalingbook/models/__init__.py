"""Small models whose variants are switches in their arguments.

- ``mlp``: :class:`MLP`, the fully connected student of the teacher-student sweeps.
"""

from scalingbook.models.mlp import MLP

__all__ = ["MLP"]
