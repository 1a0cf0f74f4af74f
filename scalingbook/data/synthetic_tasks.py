"""The two synthetic tasks Gu & Dao (2023, "Mamba") use to show why selection matters.

Both tasks need a model to decide, from a token's *content*, whether to keep it: the spacing
between what must be remembered and where it is needed changes from sample to sample, so no
fixed (time-invariant) convolution kernel or recurrence can do it for every sample.

- **Selective copying** (:class:`SelectiveCopying`): ``n_data`` data tokens sit at random
  positions in a region of ``length`` noise tokens; then ``n_data`` marker tokens follow, and at
  the i-th marker the model must output the i-th data token. With ``random_positions=False``
  the data tokens sit at the start of the region instead: the classic copying task, which a
  time-invariant model can solve with a fixed delay.

      noise . 3 . . 7 . . . 1 . 5 . .  | M M M M      (tokens; "." is the noise token 0)
                                          3 7 1 5      (targets at the markers)

- **Induction heads** (:class:`InductionHeads`): a sequence of random symbols holds one trigger
  token followed by a value; the sequence ends with the trigger again, and the model must
  predict the value there ("having seen *Harry Potter*, after *Harry* say *Potter*").

      4 9 2 T 6 1 8 0 3 ... 5 T                    (T is the trigger)
                                6                  (the target at the last position)

Every sample returns ``tokens`` (batch, seq_len) int64 ids, ``targets`` (batch, seq_len) int64
with the answer at scored positions and :data:`IGNORE_INDEX` (-100, PyTorch's default
``ignore_index``) elsewhere, and ``mask`` (batch, seq_len) bool, True at the scored positions.
Tokens are drawn with numpy from ``seed`` alone (an int or a tuple of ints, mixed by
``numpy.random.SeedSequence``), so the same seed always gives the same batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch

from scalingbook._validate import positive_int

__all__ = [
    "IGNORE_INDEX",
    "InductionHeads",
    "SelectiveCopying",
    "TaskBatch",
    "induction_heads",
    "selective_copying",
]

#: Target id at positions that are not scored (``torch.nn.functional.cross_entropy`` skips it).
IGNORE_INDEX = -100


class TaskBatch(NamedTuple):
    """One batch of a synthetic task.

    tokens : (batch, seq_len) int64 token ids, the model's input.
    targets : (batch, seq_len) int64, the id to predict at scored positions, IGNORE_INDEX elsewhere.
    mask : (batch, seq_len) bool, True where the prediction is scored.
    """

    tokens: torch.Tensor
    targets: torch.Tensor
    mask: torch.Tensor


def _rng(seed: Any) -> np.random.Generator:
    """A numpy generator from an int seed or a tuple of non-negative ints."""
    keys = seed if isinstance(seed, (tuple, list)) else (seed,)
    if not keys:
        raise ValueError("seed must be an int or a non-empty tuple of ints, got ()")
    for k in keys:
        positive_int("seed", k, minimum=0)
    return np.random.default_rng(np.random.SeedSequence([int(k) for k in keys]))


def _batch(tokens: np.ndarray, targets: np.ndarray) -> TaskBatch:
    t = torch.from_numpy(np.ascontiguousarray(tokens, dtype=np.int64))
    y = torch.from_numpy(np.ascontiguousarray(targets, dtype=np.int64))
    return TaskBatch(t, y, y != IGNORE_INDEX)


@dataclass(frozen=True)
class SelectiveCopying:
    """Gu & Dao's selective copying task; invalid sizes raise ``ValueError``.

    Token ids: 0 is the noise token, 1..n_symbols are data tokens, n_symbols + 1 is the marker
    ("output the next data token now"). A sample is ``length`` positions of noise holding
    ``n_data`` data tokens (uniform over the symbols, repeats allowed) at distinct random
    positions, kept in order, then ``n_data`` markers: ``seq_len = length + n_data``. The targets
    are the data tokens, in order, at the marker positions.

    Parameters
    ----------
    length : int
        Positions of the noisy region (noise and data tokens), at least ``n_data``.
    n_data : int
        Data tokens to copy.
    n_symbols : int
        Distinct data tokens, at least 2.
    random_positions : bool
        True (the selective task): data positions are random. False (classic copying): the data
        tokens fill the first ``n_data`` positions and noise follows.
    """

    length: int = 64
    n_data: int = 8
    n_symbols: int = 8
    random_positions: bool = True

    def __post_init__(self):
        positive_int("n_data", self.n_data)
        positive_int("n_symbols", self.n_symbols, minimum=2)
        positive_int("length", self.length, minimum=self.n_data)
        if not isinstance(self.random_positions, bool):
            raise ValueError(f"random_positions must be True or False, got {self.random_positions!r}")

    @property
    def vocab_size(self) -> int:
        """Token ids in use: noise, the symbols and the marker."""
        return self.n_symbols + 2

    @property
    def marker(self) -> int:
        """The marker token's id."""
        return self.n_symbols + 1

    @property
    def seq_len(self) -> int:
        """Tokens per sample: the noisy region and the markers."""
        return self.length + self.n_data

    @property
    def chance_accuracy(self) -> float:
        """Accuracy of guessing a symbol uniformly at each scored position."""
        return 1.0 / self.n_symbols

    def sample(self, n_samples: int, seed: Any = 0) -> TaskBatch:
        """``n_samples`` samples drawn from ``seed`` (an int or a tuple of ints); see the class."""
        n = positive_int("n_samples", n_samples)
        rng = _rng(seed)
        data = rng.integers(1, self.n_symbols + 1, size=(n, self.n_data))
        if self.random_positions:
            # n_data distinct positions per row: the first n_data of a random permutation, sorted.
            pos = np.sort(np.argsort(rng.random((n, self.length)), axis=1)[:, :self.n_data], axis=1)
        else:
            pos = np.broadcast_to(np.arange(self.n_data), (n, self.n_data))
        tokens = np.zeros((n, self.seq_len), dtype=np.int64)
        np.put_along_axis(tokens, pos, data, axis=1)
        tokens[:, self.length:] = self.marker
        targets = np.full((n, self.seq_len), IGNORE_INDEX, dtype=np.int64)
        targets[:, self.length:] = data
        return _batch(tokens, targets)


@dataclass(frozen=True)
class InductionHeads:
    """The induction-heads task; invalid sizes raise ``ValueError``.

    Token ids: 0..n_symbols-1 are symbols, n_symbols is the trigger. A sample is ``length``
    tokens: uniform random symbols, except the trigger at one random position p in
    0..length-3 and again at the last position. The token after the first trigger (a random
    symbol, the "value") is the target at the last position, the only one scored. The trigger
    appears nowhere else, so the answer is always determined.

    Parameters
    ----------
    length : int
        Tokens per sample, at least 3.
    n_symbols : int
        Distinct symbols, at least 2.
    """

    length: int = 64
    n_symbols: int = 16

    def __post_init__(self):
        positive_int("length", self.length, minimum=3)
        positive_int("n_symbols", self.n_symbols, minimum=2)

    @property
    def vocab_size(self) -> int:
        """Token ids in use: the symbols and the trigger."""
        return self.n_symbols + 1

    @property
    def trigger(self) -> int:
        """The trigger token's id."""
        return self.n_symbols

    @property
    def seq_len(self) -> int:
        """Tokens per sample."""
        return self.length

    @property
    def chance_accuracy(self) -> float:
        """Accuracy of guessing a symbol uniformly."""
        return 1.0 / self.n_symbols

    def sample(self, n_samples: int, seed: Any = 0) -> TaskBatch:
        """``n_samples`` samples drawn from ``seed`` (an int or a tuple of ints); see the class."""
        n = positive_int("n_samples", n_samples)
        rng = _rng(seed)
        tokens = rng.integers(0, self.n_symbols, size=(n, self.length))
        rows = np.arange(n)
        first = rng.integers(0, self.length - 2, size=n)  # the value at first + 1 <= length - 2
        tokens[rows, first] = self.trigger
        tokens[:, -1] = self.trigger
        targets = np.full((n, self.length), IGNORE_INDEX, dtype=np.int64)
        targets[:, -1] = tokens[rows, first + 1]
        return _batch(tokens, targets)


def selective_copying(n_samples: int, *, seed: Any = 0, length: int = 64, n_data: int = 8,
                      n_symbols: int = 8, random_positions: bool = True) -> TaskBatch:
    """``SelectiveCopying(length, n_data, n_symbols, random_positions).sample(n_samples, seed)``."""
    return SelectiveCopying(length, n_data, n_symbols, random_positions).sample(n_samples, seed)


def induction_heads(n_samples: int, *, seed: Any = 0, length: int = 64,
                    n_symbols: int = 16) -> TaskBatch:
    """``InductionHeads(length, n_symbols).sample(n_samples, seed)``."""
    return InductionHeads(length, n_symbols).sample(n_samples, seed)
