"""Regression tasks whose answer we know: a random teacher network labels Gaussian inputs.

Because we generate the data, we know the two ends of every learning curve exactly:

- the *irreducible error*: the label noise variance ``noise_std**2`` (the MSE of the teacher
  itself against noisy labels), and
- the *best-guess error*: ``Var f*(x) + noise_std**2``, the MSE of predicting the mean label
  with no data at all (the mean is 0 by symmetry; see :class:`TeacherStudentTask`).

A student trained on m examples lands between the two; where it lands is the learning curve.

Randomness. The teacher's weights come from ``seed``; each call ``sample(n, seed)`` draws
inputs and noise from their own streams derived from ``(task seed, sample seed)`` with
``numpy.random.SeedSequence``, so different sample seeds are independent and the same seed
always gives the same data. Inputs and noise use separate streams and are drawn row by row,
so ``sample(n, s)`` is the first n rows of ``sample(N, s)`` for any N ≥ n: training sets
of growing size from one seed are nested, as when a fixed corpus is subsampled.
"""

from __future__ import annotations

import numpy as np
import torch

from scalingbook._validate import as_positive_array, nonnegative_scalar, positive_int, positive_scalar

__all__ = ["TeacherStudentTask", "LinearTeacherTask"]

# Samples used once per task to estimate the teacher's output scale (see TeacherStudentTask).
_NORMALIZER_SAMPLES = 1 << 20
# Stream labels mixed into SeedSequence so teacher, inputs and noise never share a stream.
_TEACHER, _INPUTS, _NOISE, _NORMALIZER, _TEST_INPUTS, _TEST_NOISE = 0, 1, 2, 3, 4, 5


def _rng(*keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(k) for k in keys]))


class _GaussianInputTask:
    """Shared machinery: Gaussian inputs, a teacher function, additive Gaussian label noise."""

    def __init__(self, input_dim: int, noise_std: float, seed: int) -> None:
        self.input_dim = positive_int("input_dim", input_dim)
        self.noise_std = nonnegative_scalar("noise_std", noise_std)
        self.seed = positive_int("seed", seed, minimum=0)

    def _teacher_np(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def teacher_variance(self) -> float:
        """Var f*(x) over inputs x ~ N(0, I); 1 by construction (see the class docstring)."""
        return 1.0

    @property
    def irreducible_error(self) -> float:
        """Test MSE of the teacher itself against noisy labels: ``noise_std**2``."""
        return self.noise_std**2

    @property
    def best_guess_error(self) -> float:
        """Test MSE of always predicting the mean label (0): ``Var f* + noise_std**2``."""
        return self.teacher_variance + self.noise_std**2

    def teacher(self, x: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Noise-free labels f*(x); ``x`` has shape (n, input_dim); returns float32, shape (n,)."""
        x_np = np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x, dtype=np.float64)
        if x_np.ndim != 2 or x_np.shape[1] != self.input_dim:
            raise ValueError(f"x must have shape (n, {self.input_dim}), got {x_np.shape}")
        return torch.from_numpy(self._teacher_np(x_np).astype(np.float32))

    def sample(self, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw ``n`` labelled examples.

        Returns ``(X, y)``: float32 tensors of shapes (n, input_dim) and (n,), with
        ``X ~ N(0, I)`` and ``y = f*(X) + noise_std * N(0, 1)``. Deterministic in
        ``(task seed, seed)``; nested in ``n`` (see the module docstring).
        """
        n = positive_int("n", n)
        seed = positive_int("seed", seed, minimum=0)
        return self._draw(n, seed, _INPUTS, _NOISE)

    def test_sample(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """A held-out sample from streams that no ``sample(n, seed)`` call uses, whatever the seed.

        Same shapes and law as :meth:`sample`; fixed for a task (nested in ``n``).
        """
        n = positive_int("n", n)
        return self._draw(n, 0, _TEST_INPUTS, _TEST_NOISE)

    def _draw(self, n: int, seed: int, input_stream: int, noise_stream: int):
        x = _rng(self.seed, seed, input_stream).standard_normal((n, self.input_dim))
        noise = _rng(self.seed, seed, noise_stream).standard_normal(n)
        y = self._teacher_np(x) + self.noise_std * noise
        return torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y.astype(np.float32))


class TeacherStudentTask(_GaussianInputTask):
    """A random one-hidden-layer tanh teacher: ``f*(x) = a · tanh(W x) / c``.

    Parameters
    ----------
    input_dim : int
        d, the input dimension; inputs are x ~ N(0, I_d).
    teacher_width : int
        k, hidden units of the teacher. ``W`` (k, d) has N(0, s²/d) entries, so each
        pre-activation is roughly N(0, s²); ``a`` (k,) is N(0, 1).
    noise_std : float
        σ ≥ 0, standard deviation of the Gaussian noise added to every label.
    seed : int
        Seeds the teacher's weights (and nothing else).
    weight_scale : float
        s > 0, the pre-activations' standard deviation. At s = 1 tanh is neither saturated nor
        linear and the teacher is mostly its linear part, which a student learns within a few
        multiples of d examples. Larger s saturates the units into sharp, step-like features
        that take ever more data to resolve, which stretches the power-law region.

    The normalizer ``c`` makes Var f*(x) = 1 up to Monte Carlo error: it is the root mean
    square of ``a · tanh(W x)`` over 2**20 inputs from a fixed stream of this task's seed
    (relative error in the variance about sqrt(2 / 2**20) ≈ 0.14%), computed once at
    construction (about 0.1 s).

    Why E f*(x) = 0, so that predicting 0 is the best guess: the teacher has no biases and tanh
    is odd, so f*(-x) = -f*(x), and x ~ N(0, I) is symmetric. ``best_guess_error`` is then
    ``1 + σ²`` and ``irreducible_error`` is ``σ²``.
    """

    def __init__(
        self, input_dim: int, teacher_width: int, noise_std: float, seed: int = 0, weight_scale: float = 1.0
    ) -> None:
        super().__init__(input_dim, noise_std, seed)
        self.teacher_width = positive_int("teacher_width", teacher_width)
        self.weight_scale = positive_scalar("weight_scale", weight_scale)
        rng = _rng(self.seed, 0, _TEACHER)
        self.W = rng.standard_normal((self.teacher_width, self.input_dim)) * (
            self.weight_scale / np.sqrt(self.input_dim)
        )
        self.a = rng.standard_normal(self.teacher_width)
        self.normalizer = 1.0
        # Chunked so the probe never holds more than 2**16 rows (memory stays small for any d).
        probe_rng = _rng(self.seed, 0, _NORMALIZER)
        sum_sq = 0.0
        for _ in range(_NORMALIZER_SAMPLES >> 16):
            sum_sq += float(np.sum(self._teacher_np(probe_rng.standard_normal((1 << 16, self.input_dim))) ** 2))
        self.normalizer = float(np.sqrt(sum_sq / _NORMALIZER_SAMPLES))

    def _teacher_np(self, x: np.ndarray) -> np.ndarray:
        return np.tanh(x @ self.W.T) @ self.a / self.normalizer

    def __repr__(self) -> str:
        return (f"TeacherStudentTask(input_dim={self.input_dim}, teacher_width={self.teacher_width}, "
                f"noise_std={self.noise_std}, seed={self.seed}, weight_scale={self.weight_scale})")


class LinearTeacherTask(_GaussianInputTask):
    """A well-specified linear control: ``y = w · x + noise_std · ε`` with ``|w| = 1``.

    For ordinary least squares without intercept on m ≥ d + 2 Gaussian examples, the expected
    excess test risk is exactly ``σ² d / (m − d − 1)`` (the mean of an inverse Wishart
    matrix), so the learning curve of the best possible estimator is known in closed form:
    see :meth:`ols_expected_test_error`. Its exponent is 1 for m ≫ d.

    ``w`` is a random direction from ``seed``, scaled to unit norm so Var(w · x) = 1 exactly.
    """

    def __init__(self, input_dim: int, noise_std: float, seed: int = 0) -> None:
        super().__init__(input_dim, noise_std, seed)
        w = _rng(self.seed, 0, _TEACHER).standard_normal(self.input_dim)
        self.w = w / np.linalg.norm(w)

    def _teacher_np(self, x: np.ndarray) -> np.ndarray:
        return x @ self.w

    def ols_expected_test_error(self, m) -> np.ndarray | float:
        """Expected test MSE (against noisy labels) of OLS fitted on ``m`` examples.

        ``σ² + σ² d / (m − d − 1)``; ``m`` (scalar or array) must exceed d + 1 everywhere.
        """
        m_arr = as_positive_array("m", m, ndim=None)
        d = self.input_dim
        if (m_arr <= d + 1).any():
            bad = m_arr[m_arr <= d + 1].ravel()[0]
            raise ValueError(f"m must exceed input_dim + 1 = {d + 1} for the OLS risk to be finite, got {bad!r}")
        out = self.noise_std**2 * (1.0 + d / (m_arr - d - 1.0))
        return float(out) if out.ndim == 0 else out

    def __repr__(self) -> str:
        return f"LinearTeacherTask(input_dim={self.input_dim}, noise_std={self.noise_std}, seed={self.seed})"
