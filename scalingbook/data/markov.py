"""Token sources whose entropy rate is known exactly: random k-th order Markov chains.

Henighan et al. (2020) split a language model's loss into ``L = S(True) + D_KL(True || Model)``:
the entropy of the data, which no model can beat, plus the part that scale removes. On real
text S(True) is unknown and must be fitted; here it is computed. :class:`MarkovSource` is a
random k-th order Markov chain over ``vocab_size`` tokens with Zipf-like transition rows, and
its entropy rate (nats per token) follows from its transition table and stationary distribution
in closed form, so the reducible part of a trained model's loss can be measured directly.

Units: every entropy and loss here is in nats per token (natural logarithms), the unit of
``torch.nn.functional.cross_entropy``.

Which floor applies to a model. A causal model that sees the previous j tokens can at best
reach ``entropy_given_context(j)``: the unigram entropy at j = 0, falling with j to the entropy
rate at j = order, and flat after that. A transformer trained on windows of ``seq_len + 1``
tokens sees t tokens when it predicts position t, so the mean floor over a window is
:meth:`MarkovSource.irreducible_loss` (slightly above the entropy rate for short windows).

Randomness. The table comes from ``seed`` alone. Sampling draws one uniform number per token
from a stream derived from ``(source seed, sample seed)`` with ``numpy.random.SeedSequence``
and turns it into a token by inverting the row's cumulative distribution, so the same seeds
always give the same tokens and different sample seeds give independent streams (see
:meth:`MarkovSource.batches` for how windows share that stream).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator

import numpy as np
import scipy.sparse
import scipy.sparse.linalg
import torch

from scalingbook._validate import nonnegative_scalar, positive_int

__all__ = ["MarkovSource"]

# Size limits for the transition table: rows (contexts) and entries (128 MiB in float64; the
# cumulative copy used for sampling doubles that).
_MAX_CONTEXTS = 1 << 20
_MAX_TABLE_ENTRIES = 1 << 24
# Stream labels mixed into SeedSequence so the table and the samples never share a stream.
_TABLE, _SAMPLE = 0, 1
# Uniforms drawn per chunk by sample(): bounds its memory; the stream is the same for any chunk.
_CHUNK = 1 << 16
# Below this many rows a plain Python walk per row beats the vectorized step (numpy's per-call
# overhead dominates small batches); both give identical tokens.
_SCALAR_ROWS = 8
# Power iteration for the stationary distribution: stop when |πP - π|₁ falls below the
# tolerance (rounding alone leaves ~1e-15 on the largest tables). Typical sources need 25 (s = 1)
# to 500 (s = 4) iterations. Chains that mix more slowly fall back to a sparse direct solve if
# they have few enough contexts, and are refused otherwise.
_STATIONARY_TOL = 1e-14
_POWER_ITERATIONS = 5_000
_DIRECT_MAX_CONTEXTS = 1 << 12


def _rng(*keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(k) for k in keys]))


def _entropy_rows(p: np.ndarray) -> np.ndarray:
    """Entropy in nats of each row of a table of strictly positive distributions."""
    return -np.sum(p * np.log(p), axis=-1)


def _cumulative(p: np.ndarray) -> np.ndarray:
    """Row-wise cumulative sums, kept monotone, with the last entry exactly 1.

    A token is drawn as the number of entries ≤ u for u uniform on [0, 1); the exact 1 at the
    end guarantees a valid token, and the clip keeps rounding from breaking monotonicity.
    """
    cum = np.minimum(np.cumsum(p, axis=-1), 1.0)
    cum[..., -1] = 1.0
    return cum


class MarkovSource:
    """A random k-th order Markov chain over tokens with Zipf-like rows and a known entropy rate.

    Each context (the last ``order`` tokens) has its own next-token distribution::

        P(x | c) ∝ exp(-zipf_exponent · log rank_c(x) + logit_noise · ε_{c,x}),

    where ``rank_c`` is a random permutation of the vocabulary onto ranks 1..V, drawn
    independently for each context, and ε_{c,x} are independent standard normals. With
    ``logit_noise = 0`` every row is the same Zipf law over a different ordering of the tokens,
    so each row has entropy H_Zipf(V, s) and the entropy rate is exactly that number, whatever
    the stationary distribution; ``logit_noise > 0`` makes the rows differ (and their entropy
    with them), so the entropy rate becomes a weighted average over contexts. Permutations are
    drawn before the noise, so sources with one seed and different ``logit_noise`` share their
    orderings and noise, scaled.

    Parameters
    ----------
    vocab_size : int
        V ≥ 2, number of distinct tokens (ids 0..V-1).
    order : int
        k ≥ 0, how many previous tokens the next token depends on. ``order=0`` gives i.i.d.
        tokens. There are V**k contexts; at most 2**20 contexts and 2**24 table entries
        (V**(k+1), 128 MiB in float64) are allowed.
    zipf_exponent : float
        s ≥ 0, the Zipf exponent of every row: probabilities ∝ rank**-s. ``s = 0`` gives a
        uniform source (entropy exactly log V); larger s gives a more predictable source.
    logit_noise : float
        σ ≥ 0, standard deviation (nats) of the Gaussian noise added to every log-probability
        before normalizing. 0 (the default) gives exact Zipf rows.
    seed : int
        Seeds the table (and nothing else).

    Attributes
    ----------
    transition : numpy.ndarray
        Shape (V**k, V), float64, read-only: ``transition[c, x] = P(x | c)``. Context c of
        tokens (x_{t-k}, ..., x_{t-1}) has index ``sum_i x_{t-k+i} · V**(k-1-i)``: the oldest
        token is the most significant digit.

    Notes
    -----
    Every entry of the table is strictly positive (checked; a ``zipf_exponent`` so large that
    probabilities underflow to 0 is refused), so from any context every context is reachable in
    exactly k steps: the chain on contexts is irreducible and aperiodic, its stationary
    distribution π is unique, and the entropy rate of a chain started anywhere converges to

        h = Σ_c π(c) H(P(· | c))   (nats per token).

    π is computed at construction by power iteration on the context chain until
    ``|πP - π|₁ < 1e-14`` (tens of iterations at s = 1, hundreds at s = 4; about 1 s for the
    largest tables). A chain so skewed (s ≳ 6) that it mixes too slowly for that falls back to a
    sparse direct solve if it has at most 4096 contexts, and raises ``RuntimeError`` otherwise.
    Sampled windows start from π, so they are stationary from their first token.

    With ``logit_noise = 0`` the entropy rate is the Zipf entropy
    ``log Z + (s / Z) Σ_r r**-s log r`` with ``Z = Σ_r r**-s`` (r = 1..V), for every order and
    seed: 3.3714 nats at V = 64, s = 1, against log 64 = 4.1589 for uniform tokens.
    """

    def __init__(
        self,
        vocab_size: int,
        order: int,
        *,
        zipf_exponent: float = 1.0,
        logit_noise: float = 0.0,
        seed: int = 0,
    ) -> None:
        self.vocab_size = positive_int("vocab_size", vocab_size, minimum=2)
        self.order = positive_int("order", order, minimum=0)
        self.zipf_exponent = nonnegative_scalar("zipf_exponent", zipf_exponent)
        self.logit_noise = nonnegative_scalar("logit_noise", logit_noise)
        self.seed = positive_int("seed", seed, minimum=0)
        V, k = self.vocab_size, self.order
        n_contexts = V**k  # Python ints: no overflow before the check
        if n_contexts > _MAX_CONTEXTS or n_contexts * V > _MAX_TABLE_ENTRIES:
            raise ValueError(
                f"order={k} with vocab_size={V} gives {n_contexts} contexts and a table of "
                f"{n_contexts * V} entries; the limits are {_MAX_CONTEXTS} contexts and "
                f"{_MAX_TABLE_ENTRIES} entries (lower order or vocab_size)"
            )
        self.n_contexts = n_contexts

        rng = _rng(self.seed, _TABLE)
        # token_at_rank[c, r] is the token of rank r + 1 in context c.
        token_at_rank = rng.permuted(np.tile(np.arange(V), (n_contexts, 1)), axis=1)
        logits_by_rank = np.broadcast_to(-self.zipf_exponent * np.log(np.arange(1, V + 1)), (n_contexts, V))
        if self.logit_noise > 0:
            logits_by_rank = logits_by_rank + self.logit_noise * rng.standard_normal((n_contexts, V))
        logits = np.empty((n_contexts, V))
        np.put_along_axis(logits, token_at_rank, logits_by_rank, axis=1)
        del token_at_rank, logits_by_rank  # the largest tables are 128 MiB each
        logits -= logits.max(axis=1, keepdims=True)
        table = np.exp(logits)
        table /= table.sum(axis=1, keepdims=True)
        if not table.min() > 0:
            raise ValueError(
                f"zipf_exponent={self.zipf_exponent} (with logit_noise={self.logit_noise}) makes some "
                "transition probabilities underflow to 0; the chain needs every probability positive"
            )
        table.flags.writeable = False
        self.transition = table
        self._cum = _cumulative(table).ravel()
        self._row_entropy = _entropy_rows(table)
        self._pi = self._solve_stationary()
        self._pi_cum = _cumulative(self._pi)
        self._conditionals: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    # ----------------------------------------------------------------------------------------
    # Exact quantities

    def _solve_stationary(self) -> np.ndarray:
        V, k, n = self.vocab_size, self.order, self.n_contexts
        if k == 0:
            return np.ones(1)
        # Context (a, r) with a the oldest token moves to (r, x) with probability P(x | a, r), so
        # one step of π ↦ πP is a sum over a: new[r, x] = Σ_a π[a, r] P[a, r, x]. Since new is
        # πP (renormalized against rounding), the stopping rule bounds the residual |πP - π|₁.
        P = self.transition.reshape(V, n // V, V)
        pi = np.full(n, 1.0 / n)
        for _ in range(_POWER_ITERATIONS):
            new = np.einsum("ar,arx->rx", pi.reshape(V, n // V), P).ravel()
            new /= new.sum()
            done = np.abs(new - pi).sum() < _STATIONARY_TOL
            pi = new
            if done:
                return pi
        if n <= _DIRECT_MAX_CONTEXTS:
            return self._solve_stationary_direct()
        raise RuntimeError(
            f"the stationary distribution did not converge in {_POWER_ITERATIONS} power iterations; "
            f"zipf_exponent={self.zipf_exponent} makes this chain nearly deterministic and too slow to mix "
            f"(use a smaller zipf_exponent, or fewer than {_DIRECT_MAX_CONTEXTS} contexts for a direct solve)"
        )

    def _solve_stationary_direct(self) -> np.ndarray:
        """Sparse LU solve of π(P - I) = 0, Σπ = 1, for slowly mixing chains with few contexts."""
        V, k, n = self.vocab_size, self.order, self.n_contexts
        nxt = ((np.arange(n) % V ** (k - 1)) * V)[:, None] + np.arange(V)
        step = scipy.sparse.csr_matrix(
            (self.transition.ravel(), (nxt.ravel(), np.repeat(np.arange(n), V))), shape=(n, n)
        )  # step @ π = πP
        system = (step - scipy.sparse.identity(n, format="csr")).tolil()
        system[0, :] = 1.0  # one balance equation is redundant: replace it by the normalization
        rhs = np.zeros(n)
        rhs[0] = 1.0
        pi = scipy.sparse.linalg.spsolve(system.tocsc(), rhs)
        # LU leaves rounding-level negatives on contexts of tiny mass; a few exact steps remove them.
        pi = np.maximum(pi, 0.0)
        for _ in range(10):
            pi = step @ (pi / pi.sum())
        pi /= pi.sum()
        if not np.abs(step @ pi - pi).sum() < _STATIONARY_TOL * 100:
            raise RuntimeError(
                f"the stationary distribution did not converge (power iteration, then a direct solve); "
                f"zipf_exponent={self.zipf_exponent} makes this chain too nearly deterministic"
            )
        return pi

    def stationary_distribution(self) -> np.ndarray:
        """The stationary distribution π over contexts: float64, shape (V**k,), sums to 1.

        Indexed like the rows of :attr:`transition`; π P = π. For ``order=0`` it is ``[1.0]``
        (one, empty, context). Computed at construction (see the class Notes for how, and why
        it is unique).
        """
        return self._pi.copy()

    def _conditional(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        """For 0 ≤ j ≤ k: (weights, table) with table[r, x] = P(x_t = x | previous j tokens = r).

        ``weights[r]`` is the stationary probability of the j-token context r (same index
        encoding as contexts). j = k gives (π, transition).
        """
        if j not in self._conditionals:
            V, k = self.vocab_size, self.order
            if j == k:
                self._conditionals[j] = (self._pi, self.transition)
            else:
                # The stationary law of j + 1 consecutive tokens: marginalize the oldest tokens
                # of the (k + 1)-token law π(c) P(x | c).
                joint = (self._pi[:, None] * self.transition).reshape(V ** (k - j), V ** (j + 1)).sum(axis=0)
                joint = joint.reshape(V**j, V)
                weights = joint.sum(axis=1)
                self._conditionals[j] = (weights, joint / weights[:, None])
        return self._conditionals[j]

    def entropy_rate(self) -> float:
        """The entropy rate h = Σ_c π(c) H(P(·|c)), nats per token: the loss floor S(True).

        The best possible cross-entropy of any predictor that sees at least ``order`` previous
        tokens. Lies in (0, log V]; equals log V exactly when ``zipf_exponent = 0`` and
        ``logit_noise = 0``.
        """
        return float(self._pi @ self._row_entropy)

    def entropy_given_context(self, context_length: int) -> float:
        """H(X_t | X_{t-j}, ..., X_{t-1}) for j = ``context_length``, nats per token.

        The loss floor of a model that sees only the previous j tokens (under the stationary
        law): the unigram entropy at j = 0, non-increasing in j, equal to :meth:`entropy_rate`
        for every j ≥ ``order`` (older tokens carry no further information).
        """
        j = positive_int("context_length", context_length, minimum=0)
        if j >= self.order:
            return self.entropy_rate()
        weights, table = self._conditional(j)
        return float(weights @ _entropy_rows(table))

    def unigram_entropy(self) -> float:
        """Entropy of a single token's stationary distribution, nats: the floor with no context."""
        return self.entropy_given_context(0)

    def irreducible_loss(self, seq_len: int) -> float:
        """Mean loss floor, nats per token, of a causal model trained on windows of ``seq_len + 1`` tokens.

        Such a model predicts positions t = 1..seq_len of a window seeing the t tokens before
        each (the window's own prefix), so its best mean loss is
        ``mean_t entropy_given_context(min(t, order))``. This is what
        :meth:`mean_nll` gives on windows from :meth:`batches`, in expectation. It exceeds the
        entropy rate by the first few positions' shortfall, which fades as 1/seq_len.
        """
        seq_len = positive_int("seq_len", seq_len)
        short = [self.entropy_given_context(t) for t in range(1, min(seq_len, self.order) + 1)]
        rest = seq_len - len(short)
        return (sum(short) + rest * self.entropy_rate()) / seq_len

    # ----------------------------------------------------------------------------------------
    # Sampling

    def _initial(self, u0: np.ndarray) -> np.ndarray:
        """The first k tokens of each window, shape (B, k), from uniforms ``u0`` of shape (B,).

        One uniform picks the initial context from π; its digits, oldest first, are the tokens.
        """
        V, k = self.vocab_size, self.order
        ctx = np.searchsorted(self._pi_cum, u0, side="right").astype(np.int64)
        if k == 0:
            return np.empty((u0.size, 0), dtype=np.int64)
        return np.stack([(ctx // V ** (k - 1 - i)) % V for i in range(k)], axis=-1).reshape(u0.size, k)

    def _continue(self, context_tokens: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Walk one chain on from its last k tokens with uniforms ``u`` (1-D); returns len(u) tokens.

        A Python loop over tokens with ``bisect`` on the flat cumulative table: the fastest
        sequential walk without compiled code (about 2 million tokens per second).
        """
        V, k = self.vocab_size, self.order
        if k == 0:
            return np.searchsorted(self._cum, u, side="right")
        c = 0
        for x in context_tokens.tolist():
            c = c * V + x
        keep = V ** (k - 1)  # context (a, r) moves to (r, x): keep the k - 1 newest digits
        cum = memoryview(self._cum)
        right = bisect.bisect_right
        out = np.empty(u.size, dtype=np.int64)
        for i, ui in enumerate(u.tolist()):
            base = c * V
            x = right(cum, ui, base, base + V) - base
            out[i] = x
            c = (c % keep) * V + x
        return out

    def _walk(self, u: np.ndarray, n: int) -> np.ndarray:
        """Windows of n tokens, shape (B, n), from uniforms of shape (B, 1 + max(0, n - k)).

        ``u[:, 0]`` picks the first k tokens (see :meth:`_initial`; a window shorter than k
        keeps the first n); ``u[:, 1 + i]`` picks token k + i as the number of entries ≤ u in
        its context's cumulative row. The two paths below give identical tokens.
        """
        V, k = self.vocab_size, self.order
        B = u.shape[0]
        out = np.empty((B, max(n, k)), dtype=np.int64)
        out[:, :k] = self._initial(u[:, 0])
        if n <= k:
            return out[:, :n]
        if k == 0:
            out[:] = np.searchsorted(self._cum, u[:, 1:], side="right")
            return out
        if B <= _SCALAR_ROWS:
            for b in range(B):
                out[b, k:] = self._continue(out[b, :k], u[b, 1:])
            return out
        ctx = np.zeros(B, dtype=np.int64)
        for i in range(k):
            ctx = ctx * V + out[:, i]
        keep = V ** (k - 1)
        # Branchless binary search in each row: count the entries ≤ u in halving strides (the
        # probe is clamped to the last entry, exactly 1 > u, so strides past the end never move).
        strides = [1 << e for e in reversed(range(int(np.ceil(np.log2(V)))))]
        last = V - 1
        for i in range(k, n):
            ui = u[:, 1 + i - k]
            base = ctx * V
            pos = np.zeros(B, dtype=np.int64)
            for s in strides:
                pos += (self._cum[base + np.minimum(pos + (s - 1), last)] <= ui) * s
            out[:, i] = pos
            ctx = (ctx % keep) * V + pos
        return out

    def sample(self, length: int, *, seed: int = 0) -> torch.Tensor:
        """One stationary sequence of ``length`` tokens: int64 tensor, shape (length,).

        The first ``order`` tokens are drawn jointly from π, the rest one at a time from the
        chain. Deterministic in ``(source seed, seed)``; ``sample(n, seed=s)`` is the first n
        tokens of ``sample(N, seed=s)`` for any N ≥ n, and equals the first window of
        ``batches(1, n - 1, seed=s)``. Walks one token at a time (about 2 million tokens per
        second, memory for the output only); :meth:`batches` is faster for many sequences.
        """
        length = positive_int("length", length)
        seed = positive_int("seed", seed, minimum=0)
        k = self.order
        rng = _rng(self.seed, seed, _SAMPLE)
        out = np.empty(max(length, k), dtype=np.int64)
        out[:k] = self._initial(rng.random(1))[0]
        done = k
        while done < length:
            # The same uniform stream as one draw: PCG64 doubles do not depend on the chunking.
            u = rng.random(min(_CHUNK, length - done))
            out[done : done + u.size] = self._continue(out[done - k : done], u)
            done += u.size
        return torch.from_numpy(out[:length])

    def batches(self, batch_size: int, seq_len: int, *, seed: int = 0) -> Iterator[torch.Tensor]:
        """An endless stream of training batches: int64 tensors of shape (batch_size, seq_len + 1).

        Each row is an independent window of ``seq_len + 1`` tokens started from the stationary
        distribution; use ``batch[:, :-1]`` as inputs and ``batch[:, 1:]`` as next-token targets.
        Nothing is kept between batches, so the stream has no length limit. The walk is
        vectorized over rows (about 10 million tokens per second at V = 64, order 2, 1024 rows).

        Windows are cut from one uniform stream of ``(source seed, seed)``, window after window
        (each takes ``1 + max(0, seq_len + 1 - order)`` uniforms), so the stream of windows does
        not depend on ``batch_size``: two batches of B rows are one batch of 2B rows split in
        half. Different seeds give independent streams; :meth:`sample` with the same seed reads
        the same uniforms, and chains driven by the same uniforms soon coincide, so take held-out
        text from another seed.
        """
        batch_size = positive_int("batch_size", batch_size)
        seq_len = positive_int("seq_len", seq_len)
        seed = positive_int("seed", seed, minimum=0)
        return self._batches(batch_size, seq_len + 1, _rng(self.seed, seed, _SAMPLE))

    def _batches(self, batch_size: int, window: int, rng: np.random.Generator) -> Iterator[torch.Tensor]:
        m = 1 + max(0, window - self.order)
        while True:
            yield torch.from_numpy(np.ascontiguousarray(self._walk(rng.random((batch_size, m)), window)))

    # ----------------------------------------------------------------------------------------
    # Scoring text with the true model

    def _as_tokens(self, tokens) -> np.ndarray:
        if isinstance(tokens, torch.Tensor):
            tokens = tokens.detach().cpu().numpy()
        x = np.asarray(tokens)
        if x.dtype == np.bool_ or not np.issubdtype(x.dtype, np.integer):
            raise ValueError(f"tokens must be integer token ids, got dtype {x.dtype}")
        if x.ndim < 1 or x.shape[-1] < 2:
            raise ValueError(f"tokens must have at least 2 tokens along its last axis, got shape {x.shape}")
        if x.size and (x.min() < 0 or x.max() >= self.vocab_size):
            bad = x[(x < 0) | (x >= self.vocab_size)].ravel()[0]
            raise ValueError(f"tokens must lie in [0, {self.vocab_size}), got {bad}")
        return x.astype(np.int64, copy=False)

    def token_nll(self, tokens) -> np.ndarray:
        """Per-token loss of the true source, aligned with a causal model's: float64 nats.

        ``tokens`` has shape (..., n) (numpy or torch integers). Returns shape (..., n - 1):
        entry t - 1 is ``-log P(x_t | x_0, ..., x_{t-1})`` for t = 1..n-1, the true
        conditional probability given the window's own prefix, exactly what a model with
        inputs ``tokens[..., :-1]`` and targets ``tokens[..., 1:]`` is scored on. For t < order
        it uses the stationary t-token conditional (older tokens are unseen); from t = order on,
        the transition table.
        """
        x = self._as_tokens(tokens)
        V, k = self.vocab_size, self.order
        n = x.shape[-1]
        out = np.empty(x.shape[:-1] + (n - 1,))
        prefix = np.zeros(x.shape[:-1], dtype=np.int64)
        for t in range(1, min(k, n)):
            prefix = prefix * V + x[..., t - 1]
            out[..., t - 1] = -np.log(self._conditional(t)[1][prefix, x[..., t]])
        if n > k:
            start = max(k, 1)
            ctx = np.zeros(x[..., start:].shape, dtype=np.int64)
            for i in range(k):
                ctx = ctx * V + x[..., start - k + i : n - k + i]
            out[..., start - 1 :] = -np.log(self.transition[ctx, x[..., start:]])
        return out

    def mean_nll(self, tokens) -> float:
        """Mean of :meth:`token_nll` over every token: the true source's cross-entropy, nats/token.

        Directly comparable with a model's mean cross-entropy on the same windows; the gap is
        the model's reducible loss (a Monte Carlo estimate of its KL from the truth).
        """
        return float(self.token_nll(tokens).mean())

    def __repr__(self) -> str:
        return (
            f"MarkovSource(vocab_size={self.vocab_size}, order={self.order}, zipf_exponent={self.zipf_exponent}, "
            f"logit_noise={self.logit_noise}, seed={self.seed})"
        )
