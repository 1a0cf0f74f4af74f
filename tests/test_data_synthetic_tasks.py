"""The synthetic tasks of the Mamba chapter: layout, determinism, and bad input."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from scalingbook.data import (
    IGNORE_INDEX,
    InductionHeads,
    SelectiveCopying,
    induction_heads,
    selective_copying,
)


@given(length=st.integers(1, 40), extra=st.integers(0, 30), n_symbols=st.integers(2, 20),
       seed=st.integers(0, 2**31), random_positions=st.booleans())
@settings(max_examples=60, deadline=None)
def test_selective_copying_targets_are_the_data_tokens_in_order(length, extra, n_symbols, seed,
                                                                random_positions):
    n_data = length
    task = SelectiveCopying(length=length + extra, n_data=n_data, n_symbols=n_symbols,
                            random_positions=random_positions)
    tokens, targets, mask = task.sample(5, seed)
    assert tokens.shape == targets.shape == mask.shape == (5, task.seq_len)
    assert tokens.dtype == targets.dtype == torch.int64 and mask.dtype == torch.bool
    region, markers = tokens[:, :task.length], tokens[:, task.length:]
    assert (markers == task.marker).all()
    assert mask[:, task.length:].all() and not mask[:, :task.length].any()
    assert (targets[~mask] == IGNORE_INDEX).all()
    for row in range(5):
        data = region[row][region[row] != 0]  # the noise token is 0, data tokens are 1..n_symbols
        assert data.tolist() == targets[row, task.length:].tolist()
        assert ((data >= 1) & (data <= n_symbols)).all()
        if not random_positions:
            assert (region[row, :n_data] != 0).all()


def test_selective_copying_positions_vary_and_classic_copying_does_not():
    sel = SelectiveCopying(length=32, n_data=4, n_symbols=8).sample(200, 3)
    fixed = SelectiveCopying(length=32, n_data=4, n_symbols=8, random_positions=False).sample(200, 3)
    first_data = lambda b: (b.tokens[:, :32] != 0).int().argmax(1)
    assert len(set(first_data(sel).tolist())) > 5
    assert set(first_data(fixed).tolist()) == {0}
    # data tokens fill the symbols roughly uniformly
    counts = torch.bincount(sel.targets[sel.mask], minlength=10)[1:9].float()
    assert counts.min() > 0.6 * counts.mean()


def test_same_seed_same_batch_and_tuple_seeds():
    task = SelectiveCopying()
    a, b, c = task.sample(8, (1, 2, 3)), task.sample(8, (1, 2, 3)), task.sample(8, (1, 2, 4))
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a.tokens, c.tokens)
    assert torch.equal(selective_copying(4, seed=7).tokens, SelectiveCopying().sample(4, 7).tokens)
    assert torch.equal(induction_heads(4, seed=7).tokens, InductionHeads().sample(4, 7).tokens)


@given(length=st.integers(3, 80), n_symbols=st.integers(2, 30), seed=st.integers(0, 2**31))
@settings(max_examples=60, deadline=None)
def test_induction_heads_answer_follows_the_first_trigger(length, n_symbols, seed):
    task = InductionHeads(length=length, n_symbols=n_symbols)
    tokens, targets, mask = task.sample(6, seed)
    assert tokens.shape == (6, length) and task.vocab_size == n_symbols + 1
    assert mask[:, -1].all() and mask.sum() == 6
    for row in tokens:
        where = (row == task.trigger).nonzero().flatten().tolist()
        assert len(where) == 2 and where[1] == length - 1 and where[0] <= length - 3
    firsts = (tokens[:, :-1] == task.trigger).int().argmax(1)
    assert torch.equal(targets[:, -1], tokens[torch.arange(6), firsts + 1])
    assert (targets[:, -1] < n_symbols).all()


def test_chance_and_sizes():
    sc = SelectiveCopying(length=10, n_data=3, n_symbols=4)
    assert (sc.vocab_size, sc.marker, sc.seq_len, sc.chance_accuracy) == (6, 5, 13, 0.25)
    ih = InductionHeads(length=9, n_symbols=8)
    assert (ih.vocab_size, ih.trigger, ih.seq_len, ih.chance_accuracy) == (9, 8, 9, 0.125)


@pytest.mark.parametrize("kwargs,match", [
    (dict(length=3, n_data=4), "length must be at least 4"),
    (dict(n_data=0), "n_data must be at least 1"),
    (dict(n_symbols=1), "n_symbols must be at least 2"),
    (dict(length=8.0), "length must be an integer"),
    (dict(random_positions=1), "random_positions must be True or False"),
])
def test_selective_copying_rejects_bad_sizes(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SelectiveCopying(**kwargs)


def test_bad_induction_sizes_samples_and_seeds():
    with pytest.raises(ValueError, match="length must be at least 3"):
        InductionHeads(length=2)
    with pytest.raises(ValueError, match="n_symbols must be at least 2"):
        InductionHeads(n_symbols=1)
    with pytest.raises(ValueError, match="n_samples must be at least 1"):
        InductionHeads().sample(0)
    with pytest.raises(ValueError, match="seed must be at least 0"):
        SelectiveCopying().sample(2, -1)
    with pytest.raises(ValueError, match="seed must be an int or a non-empty tuple"):
        SelectiveCopying().sample(2, ())
    with pytest.raises(ValueError, match="seed must be an integer"):
        SelectiveCopying().sample(2, 1.5)
