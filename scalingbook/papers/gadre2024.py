"""Numbers quoted from Gadre et al. (2024), "Language models scale reliably with over-training
and on downstream tasks", and a few runs of their released testbed.

The law (their Eq. 4, :class:`~scalingbook.laws.OvertrainingLaw`): with token multiplier
``M = D / N`` and ``C = 6 N D``, ``L(C, M) = E + (a M^eta + b M^-eta) C^-eta``; the exponent
does not depend on ``M``. Checked against the authors' released code (repository
``mlfoundations/scaling``, ``scaling/laws.py``, function ``powlaw_ours``, commit 79adc263),
which fits the same function written in ``N`` and ``M``:
``alpha N^b' + beta 6^(b'/2) (M N)^b' + E`` with ``b' = -2 eta``, ``a = alpha 6^eta``,
``b = beta``; and against a secondary summary of the paper in the code corpus that states
Eq. 4 with ``eta = alpha/2``.

Their headline extrapolation (abstract): fitting on small runs, they predict the validation loss
of a 1.4B-parameter model trained on 900B tokens (M = 640, "32x over-trained") and of a
6.9B-parameter model on 138B tokens (M = 20) "from experiments that take 300x less compute".
The relative errors in :data:`REPORTED_RELATIVE_ERROR` are printed by the authors' notebook
``scaling_explorer.ipynb`` (same commit) for models trained on RedPajama and scored on C4
validation loss; a secondary summary of the paper gives "within 0.7%" for the first (section 4,
Table 1). The abstract itself prints no error.

The runs behind those errors are the authors' released data, not ours: they are not copied
into this package. ``tests/test_fit_overtraining.py`` refits them from a local copy of the
released results (``../shared/external/gadre_overtraining``) when it is present and skips
otherwise.
"""

from __future__ import annotations

__all__ = ["ARXIV_ID", "CITATION", "REPORTED_RELATIVE_ERROR", "COMPUTE_FACTOR"]

ARXIV_ID = "2403.08540"
CITATION = (
    "Samir Yitzhak Gadre, Georgios Smyrnis, Vaishaal Shankar, Suchin Gururangan, Mitchell "
    "Wortsman, Rulin Shao, Jean Mercat, Alex Fang, Jeffrey Li, Sedrick Keh, et al. (2024). "
    "Language models scale reliably with over-training and on downstream tasks. arXiv:2403.08540."
)

#: Relative error of the predicted C4 validation loss, from the authors' released notebook.
REPORTED_RELATIVE_ERROR = {
    "1.4B, M=640": 0.007103,
    "6.9B, M=20": 0.007320,
}

#: The abstract: the predictions come "from experiments that take 300x less compute".
COMPUTE_FACTOR = 300
