"""scalingbook: the library behind the executable book on neural scaling laws.

Subpackages, one concern each:

- ``laws``: the functional forms (power laws, learning curves), vectorized, with units.
- ``fit``: estimating a law's parameters from runs, with uncertainty.
- ``data``: sources we generate (no downloads), deterministic by seed.
- ``models``: small models whose variants are switches in a config (MLP students, Mamba).
- ``train``: training loops and experiment sweeps that write tidy records.
- ``kernels``: GPU kernels (Triton), each beside its plain PyTorch twin (the selective scan).
- ``precision``: low-precision number formats, block scaling (MX, NVFP4), Hadamard transforms.
- ``papers``: numbers quoted from papers, each with its citation and the source it was checked on.
- ``viz``: Altair chart builders whose controls work in a static page.
- ``labs``: ipywidgets controls that rerun a chapter's experiment in a live kernel.
- ``book``: helpers for the chapters themselves (headline numbers, glue, the offline bundle).
"""

__version__ = "0.1.0"
