"""scalingbook: the library behind the executable book on neural scaling laws.

Subpackages, one concern each:

- ``laws``: the functional forms (power laws, learning curves), vectorized, with units.
- ``fit``: estimating a law's parameters from runs, with uncertainty.
- ``data``: sources we generate (no downloads), deterministic by seed.
- ``models``: small models whose variants are switches in a config.
- ``train``: training loops and experiment sweeps that write tidy records.
- ``viz``: Altair chart builders whose controls work in a static page.
- ``book``: helpers for the chapters themselves (headline numbers, glue).
"""

__version__ = "0.1.0"
