"""Markov token sources with an exactly known entropy rate (scalingbook.data.markov)."""

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from scalingbook.data.markov import MarkovSource


def zipf_entropy(vocab_size, s):
    """Entropy (nats) of p_r ∝ r**-s, r = 1..V, written out independently of the module."""
    r = np.arange(1, vocab_size + 1, dtype=np.float64)
    p = r**-s / np.sum(r**-s)
    return float(-np.sum(p * np.log(p)))


def one_step(src, pi):
    """π P on contexts, built from the explicit next-context map (not the module's einsum)."""
    V, k = src.vocab_size, src.order
    nxt = (np.arange(src.n_contexts)[:, None] % V ** max(k - 1, 0)) * V + np.arange(V)[None, :]
    if k == 0:
        nxt = np.zeros_like(nxt)
    return np.bincount(nxt.ravel(), weights=(pi[:, None] * src.transition).ravel(), minlength=src.n_contexts)


@pytest.fixture(scope="module")
def src():
    # logit_noise makes rows differ in entropy, so the entropy rate depends on π (a wrong π shows).
    return MarkovSource(64, 2, zipf_exponent=1.0, logit_noise=1.0, seed=3)


# ---------------------------------------------------------------------------------------------
# The table and the exact quantities


def test_rows_are_positive_distributions_and_the_table_is_read_only(src):
    P = src.transition
    assert P.shape == (64**2, 64) and P.dtype == np.float64
    assert P.min() > 0
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    with pytest.raises(ValueError):
        P[0, 0] = 0.5


def test_stationary_distribution_is_stationary(src):
    pi = src.stationary_distribution()
    assert pi.shape == (src.n_contexts,) and pi.min() > 0
    assert pi.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.abs(one_step(src, pi) - pi).sum() < 1e-12


def test_entropies_are_ordered_and_bounded(src):
    h = src.entropy_rate()
    assert 0 < h < np.log(64)
    by_context = [src.entropy_given_context(j) for j in range(5)]
    assert by_context[0] == src.unigram_entropy() <= np.log(64) + 1e-12
    # more context never hurts; beyond the order it no longer helps
    assert all(a >= b - 1e-12 for a, b in itertools.pairwise(by_context))
    assert by_context[2] == by_context[3] == by_context[4] == h
    # the window floor starts at the 1-token floor and falls toward the entropy rate
    assert src.irreducible_loss(1) == pytest.approx(by_context[1], abs=1e-12)
    assert src.irreducible_loss(4) == pytest.approx((by_context[1] + 3 * h) / 4, abs=1e-12)
    assert src.irreducible_loss(10_000) - h == pytest.approx((by_context[1] - h) / 10_000, rel=1e-9)


@pytest.mark.parametrize("order", [0, 1, 3])
def test_pure_zipf_rows_give_the_zipf_entropy_whatever_the_order(order):
    for seed in (0, 1):
        src = MarkovSource(12, order, zipf_exponent=1.3, seed=seed)
        assert src.entropy_rate() == pytest.approx(zipf_entropy(12, 1.3), abs=1e-12)


def test_zero_exponent_is_a_uniform_source():
    src = MarkovSource(10, 2, zipf_exponent=0.0, seed=5)
    np.testing.assert_allclose(src.transition, 0.1, rtol=0, atol=1e-15)
    for value in (src.entropy_rate(), src.unigram_entropy(), src.entropy_given_context(1), src.irreducible_loss(7)):
        assert value == pytest.approx(np.log(10), abs=1e-12)


def test_order_zero_is_iid_with_the_unigram_entropy():
    src = MarkovSource(20, 0, zipf_exponent=1.1, logit_noise=0.5, seed=2)
    assert src.n_contexts == 1 and src.stationary_distribution().tolist() == [1.0]
    assert src.entropy_rate() == src.unigram_entropy() == src.entropy_given_context(3)
    assert src.entropy_rate() == pytest.approx(float(-np.sum(src.transition * np.log(src.transition))), abs=1e-14)
    x = src.sample(50_000, seed=1).numpy()
    freq = np.bincount(x, minlength=20) / x.size
    np.testing.assert_allclose(freq, src.transition[0], atol=5 * np.sqrt(0.25 / x.size))


def test_a_slowly_mixing_chain_still_gets_its_stationary_distribution():
    # s = 10 is nearly deterministic: power iteration stalls and the direct solve takes over.
    src = MarkovSource(64, 2, zipf_exponent=10.0, seed=0)
    pi = src.stationary_distribution()
    assert pi.min() >= 0 and np.abs(one_step(src, pi) - pi).sum() < 1e-12
    assert 0 < src.entropy_rate() < 0.05


@settings(max_examples=25, deadline=None)
@given(
    vocab_size=st.integers(2, 9),
    order=st.integers(0, 3),
    zipf_exponent=st.floats(0.0, 3.0),
    logit_noise=st.floats(0.0, 2.0),
    seed=st.integers(0, 2**32),
)
def test_any_small_source_is_consistent(vocab_size, order, zipf_exponent, logit_noise, seed):
    src = MarkovSource(vocab_size, order, zipf_exponent=zipf_exponent, logit_noise=logit_noise, seed=seed)
    np.testing.assert_allclose(src.transition.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    pi = src.stationary_distribution()
    assert np.abs(one_step(src, pi) - pi).sum() < 1e-12
    floors = [src.entropy_given_context(j) for j in range(order + 2)]
    assert np.log(vocab_size) + 1e-12 >= floors[0]
    assert all(a >= b - 1e-12 for a, b in itertools.pairwise(floors))
    assert floors[-1] == src.entropy_rate() > 0


# ---------------------------------------------------------------------------------------------
# The analytic entropy against samples


def test_analytic_entropy_rate_matches_the_mean_log_loss_of_a_long_sample(src):
    # 1000 independent stationary windows of 1001 tokens: ~1M scored tokens. Windows are
    # independent, so the standard error of the mean is honest from the spread of window means.
    batch = next(src.batches(1000, 1000, seed=7))
    nll = src.token_nll(batch)  # (1000, 1000); column t - 1 scores token t
    per_window = nll[:, src.order - 1 :].mean(axis=1)  # positions t ≥ order: full context
    mean, se = per_window.mean(), per_window.std(ddof=1) / np.sqrt(per_window.size)
    h = src.entropy_rate()
    assert se < 0.002  # ~1/sqrt(1e6) nats: the check below is sharp
    assert abs(mean - h) < 4 * se, (mean, h, se)
    # every position, short contexts included: the mean matches the window floor
    window_means = nll.mean(axis=1)
    assert abs(window_means.mean() - src.irreducible_loss(1000)) < 4 * window_means.std(ddof=1) / np.sqrt(1000)
    assert src.mean_nll(batch) == pytest.approx(window_means.mean(), rel=1e-12)


def test_short_context_floors_match_sampled_losses_position_by_position():
    src = MarkovSource(16, 3, zipf_exponent=1.0, logit_noise=1.0, seed=8)
    nll = src.token_nll(next(src.batches(200_000, 5, seed=1)))  # positions t = 1..5
    for t in range(1, 6):
        col = nll[:, t - 1]
        expected = src.entropy_given_context(min(t, 3))
        assert abs(col.mean() - expected) < 4 * col.std(ddof=1) / np.sqrt(col.size), t
    # the floors really differ, so the check above tells them apart (gaps ≫ 4 SE ≈ 0.008)
    assert src.entropy_given_context(1) - src.entropy_given_context(2) > 0.05
    assert src.entropy_given_context(2) - src.entropy_rate() > 0.05


def test_plug_in_entropy_from_transition_counts_is_close():
    # Plug-in estimate Σ_c (N_c / N) H(counts_c / N_c) from ~1M transitions at V = 16, order 2
    # (256 contexts x 16 tokens). It is biased low by about (cells - contexts) / (2N) =
    # 256 * 15 / 2e6 ≈ 0.002 nats (Miller-Madow): negligible against the 0.01 tolerance of the
    # first check. With that bias added back it equals the true model's mean log loss on the
    # same sample up to a fluctuation of order sqrt(2 * 3840) / 2e6 ≈ 4e-5 nats.
    src = MarkovSource(16, 2, zipf_exponent=1.0, logit_noise=1.0, seed=4)
    batch = next(src.batches(1000, 1000, seed=2)).numpy()
    ctx = batch[:, :-2] * 16 + batch[:, 1:-1]
    counts = np.bincount((ctx * 16 + batch[:, 2:]).ravel(), minlength=16**3).reshape(256, 16).astype(float)
    n = counts.sum()
    n_ctx = counts.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        plug_in = -np.nansum(counts / n * np.log(counts / n_ctx))
    miller_madow = ((counts > 0).sum() - (n_ctx > 0).sum()) / (2 * n)
    true_loss = src.token_nll(batch)[:, 1:].mean(axis=1)  # same positions, true model, per window
    se = true_loss.std(ddof=1) / np.sqrt(true_loss.size)
    h = src.entropy_rate()
    assert abs(plug_in - h) < 0.01
    assert 0.0015 < miller_madow < 0.0025
    assert abs(plug_in + miller_madow - true_loss.mean()) < 5e-4
    assert abs(true_loss.mean() - h) < 4 * se


def test_windows_run_forward_in_time():
    # Inputs batch[:, :-1] and targets batch[:, 1:] pair each token with its successor: their
    # empirical conditional is the table, not the time-reversed chain's.
    src = MarkovSource(8, 1, zipf_exponent=2.0, seed=6)
    batch = next(src.batches(4000, 64, seed=0)).numpy()
    inputs, targets = batch[:, :-1].ravel(), batch[:, 1:].ravel()
    counts = np.bincount(inputs * 8 + targets, minlength=64).reshape(8, 8)
    forward = counts / counts.sum(axis=1, keepdims=True)
    backward = counts.T / counts.T.sum(axis=1, keepdims=True)
    assert np.abs(forward - src.transition).max() < 0.02
    assert np.abs(backward - src.transition).max() > 0.1


# ---------------------------------------------------------------------------------------------
# Streams: shapes, determinism, independence


def test_batches_shape_dtype_and_determinism(src):
    b = next(src.batches(4, 16, seed=1))
    assert b.shape == (4, 17) and b.dtype == torch.int64
    assert int(b.min()) >= 0 and int(b.max()) < 64
    again = MarkovSource(64, 2, zipf_exponent=1.0, logit_noise=1.0, seed=3)
    assert np.array_equal(again.transition, src.transition)
    g1, g2 = src.batches(32, 50, seed=9), again.batches(32, 50, seed=9)
    for _ in range(3):
        assert torch.equal(next(g1), next(g2))
    assert not torch.equal(next(src.batches(32, 50, seed=9)), next(src.batches(32, 50, seed=10)))
    other = MarkovSource(64, 2, zipf_exponent=1.0, logit_noise=1.0, seed=4)
    assert not np.array_equal(other.transition, src.transition)


def test_different_seeds_give_uncorrelated_streams(src):
    a = next(src.batches(100, 999, seed=0)).numpy().ravel().astype(float)
    b = next(src.batches(100, 999, seed=1)).numpy().ravel().astype(float)
    assert abs(np.corrcoef(a, b)[0, 1]) < 4 / np.sqrt(a.size)


def test_the_window_stream_does_not_depend_on_batch_size(src):
    # 8 rows walk one at a time, 16 rows walk vectorized: the same windows either way.
    small, big = src.batches(8, 40, seed=3), src.batches(16, 40, seed=3)
    for _ in range(2):
        assert torch.equal(torch.cat([next(small), next(small)]), next(big))


def test_sample_is_nested_and_matches_the_batch_stream(src):
    long = src.sample(70_000, seed=5)  # longer than one chunk of uniforms
    assert long.shape == (70_000,) and long.dtype == torch.int64
    assert torch.equal(src.sample(1000, seed=5), long[:1000])
    assert torch.equal(next(src.batches(1, 69_999, seed=5))[0], long)
    assert torch.equal(next(src.batches(16, 2000, seed=5))[0], long[:2001])
    assert torch.equal(src.sample(1, seed=5), long[:1])
    assert not torch.equal(src.sample(1000, seed=6), long[:1000])


def test_windows_shorter_than_the_order_are_prefixes_of_the_initial_context():
    src = MarkovSource(5, 4, seed=1)
    assert next(src.batches(3, 1, seed=0)).shape == (3, 2)
    assert torch.equal(src.sample(2, seed=0), next(src.batches(1, 1, seed=0))[0])
    assert src.token_nll(np.array([[1, 2], [3, 4]])).shape == (2, 1)


# ---------------------------------------------------------------------------------------------
# Scoring text


def test_token_nll_aligns_with_next_token_targets(src):
    x = src.sample(6, seed=0).numpy()
    nll = src.token_nll(torch.from_numpy(x))
    assert nll.shape == (5,) and nll.dtype == np.float64
    P = src.transition
    for t in range(2, 6):  # full context: straight from the table
        assert nll[t - 1] == pytest.approx(-np.log(P[x[t - 2] * 64 + x[t - 1], x[t]]), abs=1e-12)
    # t = 1 sees one token: P(x1 | x0) = Σ_a π(a, x0) P(x1 | a, x0) / Σ_a π(a, x0)
    pi = src.stationary_distribution().reshape(64, 64)
    p1 = pi[:, x[0]] @ P.reshape(64, 64, 64)[:, x[0], x[1]] / pi[:, x[0]].sum()
    assert nll[0] == pytest.approx(-np.log(p1), abs=1e-12)
    batch = np.stack([x, x])
    np.testing.assert_array_equal(src.token_nll(batch), np.stack([nll, nll]))


# ---------------------------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"vocab_size": 0, "order": 1}, "vocab_size"),
        ({"vocab_size": -3, "order": 1}, "vocab_size"),
        ({"vocab_size": 1, "order": 1}, "vocab_size"),
        ({"vocab_size": 8.0, "order": 1}, "vocab_size"),
        ({"vocab_size": True, "order": 1}, "vocab_size"),
        ({"vocab_size": 8, "order": -1}, "order"),
        ({"vocab_size": 8, "order": 1.5}, "order"),
        ({"vocab_size": 64, "order": 4}, "order"),  # 2**24 contexts
        ({"vocab_size": 2**13, "order": 1}, "order"),  # 2**26 table entries
        ({"vocab_size": 8, "order": 1, "zipf_exponent": -0.5}, "zipf_exponent"),
        ({"vocab_size": 8, "order": 1, "zipf_exponent": float("nan")}, "zipf_exponent"),
        ({"vocab_size": 8, "order": 1, "zipf_exponent": 2000.0}, "zipf_exponent"),  # underflows to 0
        ({"vocab_size": 8, "order": 1, "logit_noise": -0.1}, "logit_noise"),
        ({"vocab_size": 8, "order": 1, "seed": -1}, "seed"),
        ({"vocab_size": 8, "order": 1, "seed": 1.0}, "seed"),
    ],
)
def test_bad_construction_is_refused_naming_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        MarkovSource(**kwargs)


def test_bad_sampling_and_scoring_arguments_are_refused():
    src = MarkovSource(8, 2, seed=0)
    for call, name in [
        (lambda: src.sample(0), "length"),
        (lambda: src.sample(10, seed=-1), "seed"),
        (lambda: src.batches(0, 8), "batch_size"),
        (lambda: src.batches(2, 0), "seq_len"),
        (lambda: src.batches(2, 8, seed=2.5), "seed"),
        (lambda: src.entropy_given_context(-1), "context_length"),
        (lambda: src.irreducible_loss(0), "seq_len"),
        (lambda: src.token_nll(np.array([0.0, 1.0])), "tokens"),
        (lambda: src.token_nll(np.array([True, False])), "tokens"),
        (lambda: src.token_nll(np.array([1])), "tokens"),
        (lambda: src.token_nll(np.array([1, 8])), "tokens"),
        (lambda: src.token_nll(np.array([-1, 2])), "tokens"),
    ]:
        with pytest.raises(ValueError, match=name):
            call()
