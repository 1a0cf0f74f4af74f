"""Hadamard transforms: Sylvester order, padding and blocks, randomized transform and inverse."""

import math

import pytest
import scipy.linalg
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from scalingbook.precision import (
    hadamard_matrix,
    hadamard_transform,
    inverse_random_hadamard_transform,
    random_hadamard_transform,
    random_signs,
)


@pytest.mark.parametrize("n", [1, 2, 4, 16, 128])
def test_sylvester_order_matches_scipy_and_the_definition(n):
    H = hadamard_matrix(n, dtype=torch.float64)
    assert torch.equal(H, torch.from_numpy(scipy.linalg.hadamard(n)).double())
    i = torch.arange(n)
    popcount = torch.tensor([bin(int(a) & int(b)).count("1") for a in i for b in i]).view(n, n)
    assert torch.equal(H, (-1.0) ** popcount.double())
    # The transform of the identity is the matrix itself.
    assert torch.equal(hadamard_transform(torch.eye(n, dtype=torch.float64)), H)


def test_transform_equals_matrix_product_and_scale():
    x = torch.randn(3, 5, 64, dtype=torch.float64)
    H = hadamard_matrix(64, dtype=torch.float64)
    torch.testing.assert_close(hadamard_transform(x), x @ H, rtol=0, atol=1e-12)
    torch.testing.assert_close(hadamard_transform(x, 0.125), x @ H * 0.125, rtol=0, atol=1e-12)
    y = hadamard_transform(x, 1 / 8)  # orthonormal for n = 64: applying it twice is the identity
    torch.testing.assert_close(hadamard_transform(y, 1 / 8), x, rtol=0, atol=1e-12)
    assert hadamard_transform(x.float()).dtype == torch.float32
    assert hadamard_transform(x).dtype == torch.float64


def test_non_power_of_two_is_padded_and_cut_back():
    x = torch.randn(4, 20, dtype=torch.float64)
    padded = torch.nn.functional.pad(x, (0, 12))
    expected = (padded @ hadamard_matrix(32, dtype=torch.float64))[:, :20]
    torch.testing.assert_close(hadamard_transform(x), expected, rtol=0, atol=1e-12)


def test_blockwise_is_block_diagonal_with_a_padded_last_block():
    x = torch.randn(2, 40, dtype=torch.float64)
    H = hadamard_matrix(16, dtype=torch.float64)
    padded = torch.nn.functional.pad(x, (0, 8)).view(2, 3, 16)
    expected = (padded @ H).reshape(2, 48)[:, :40]
    torch.testing.assert_close(hadamard_transform(x, block_size=16), expected, rtol=0, atol=1e-12)
    # A block covering the whole (power-of-two) axis is the plain transform.
    z = torch.randn(3, 32)
    assert torch.equal(hadamard_transform(z, block_size=32), hadamard_transform(z))


def test_an_outlier_is_spread_over_its_block():
    x = torch.zeros(1, 32)
    x[0, 5] = 100.0
    y = hadamard_transform(x, 1 / math.sqrt(32))
    assert torch.allclose(y.abs(), torch.full_like(y, 100 / math.sqrt(32)))


def test_random_hadamard_inverse_and_determinism():
    x = torch.randn(6, 128, dtype=torch.float64)
    for bs in (None, 16, 128):
        y = random_hadamard_transform(x, seed=3, block_size=bs)
        torch.testing.assert_close(inverse_random_hadamard_transform(y, seed=3, block_size=bs), x, rtol=0, atol=1e-12)
        torch.testing.assert_close(y.norm(dim=-1), x.norm(dim=-1))  # orthonormal
        assert torch.equal(y, random_hadamard_transform(x, seed=3, block_size=bs))
        assert not torch.allclose(y, random_hadamard_transform(x, seed=4, block_size=bs))
    s = random_signs(1000, seed=1)
    assert set(s.unique().tolist()) == {-1.0, 1.0} and abs(s.mean().item()) < 0.1
    assert torch.equal(s, random_signs(1000, seed=1))


def test_shared_rotation_cancels_in_a_product():
    a, b = torch.randn(8, 64, dtype=torch.float64), torch.randn(5, 64, dtype=torch.float64)
    ra = random_hadamard_transform(a, seed=7, block_size=32)
    rb = random_hadamard_transform(b, seed=7, block_size=32)
    torch.testing.assert_close(ra @ rb.T, a @ b.T, rtol=0, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 70), a=st.floats(-3, 3), seed=st.integers(0, 2**16))
def test_linearity(n, a, seed):
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(2, n, generator=g, dtype=torch.float64), torch.randn(2, n, generator=g, dtype=torch.float64)
    lhs = hadamard_transform(a * x + y)
    rhs = a * hadamard_transform(x) + hadamard_transform(y)
    torch.testing.assert_close(lhs, rhs, rtol=1e-9, atol=1e-9)


def test_bad_arguments_name_the_argument():
    x = torch.randn(4, 32)
    with pytest.raises(ValueError, match="block_size"):
        hadamard_transform(x, block_size=12)
    with pytest.raises(ValueError, match="block_size"):
        hadamard_transform(x, block_size=0)
    with pytest.raises(ValueError, match="x"):
        hadamard_transform(torch.arange(8))
    with pytest.raises(ValueError, match="x"):
        hadamard_transform(torch.tensor(1.0))
    with pytest.raises(ValueError, match="scale"):
        hadamard_transform(x, float("nan"))
    with pytest.raises(ValueError, match="block_size"):
        random_hadamard_transform(torch.randn(4, 24))  # whole axis, not a power of two
    with pytest.raises(ValueError, match="block_size"):
        random_hadamard_transform(torch.randn(4, 40), block_size=16)  # not a whole number of blocks
    with pytest.raises(ValueError, match="seed"):
        random_signs(8, seed=1.5)
    with pytest.raises(ValueError, match="n must be a power of two"):
        hadamard_matrix(12)
    with pytest.raises(ValueError, match="backend"):
        hadamard_transform(x, backend="gpu")
