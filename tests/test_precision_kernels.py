"""Triton kernels against their PyTorch twins, bit for bit.

On the CPU the kernels run in Triton's interpreter, which ``triton.jit`` selects when the
kernels are defined, so ``TRITON_INTERPRET=1`` must be set before the kernel module is first
imported. That cannot be guaranteed inside a pytest session that may already have imported it,
so the kernels run in a fresh subprocess that saves its outputs; the twins run here and the
bits are compared case by case. With a CUDA device the kernels also run natively.
"""

import json
import os
import subprocess
import sys

import pytest
import torch

pytest.importorskip("triton", reason="triton is not installed (pip install 'scalingbook[kernels]'): kernels not tested")

from scalingbook.precision import hadamard_transform, quantize_blocks  # noqa: E402
from scalingbook.precision import microscaling as mx  # noqa: E402
from scalingbook.precision._common import draw_seeds  # noqa: E402

# (element, scale_format, scale_mode, per_tensor_scale, rounding, block_size)
QUANT_CASES = [
    (elem, "e8m0", "floor", None, "nearest_even", 32) for elem in mx.MX_ELEMENTS
] + [
    ("fp4_e2m1", "e8m0", "rceil", None, "nearest_even", 32),
    ("fp4_e2m1", "e8m0", "floor", None, "stochastic", 32),
    ("fp4_e2m1", "e8m0", "rceil", None, "stochastic", 16),
    ("fp4_e2m1", "e4m3", "floor", None, "nearest_even", 16),
    ("fp4_e2m1", "e4m3", "floor", 0.37, "stochastic", 16),
    ("fp4_e2m1", "ue5m3", "floor", None, "nearest_even", 16),
    ("fp6_e2m3", "e8m0", "floor", None, "nearest_away", 32),
    ("fp6_e3m2", "ue5m3", "floor", None, "toward_zero", 8),
    ("fp8_e4m3", "e8m0", "floor", None, "stochastic", 32),
    ("fp8_e5m2", "e4m3", "floor", 2.5, "stochastic", 16),
    ("int8", "e8m0", "rceil", None, "stochastic", 32),
    ("int8", "e8m0", "floor", None, "toward_zero", 64),
]
# (block_size, scale)
HADAMARD_CASES = [(None, 1.0), (8, 1.0), (64, 0.125), (256, 0.0625)]


def kernel_input(seed: int = 0) -> torch.Tensor:
    """Wide magnitudes plus every special a block can hold; 200 columns leave a partial block."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(37, 200, generator=g) * torch.exp(3 * torch.randn(37, 1, generator=g))
    x[3, 5] = float("nan")
    x[5, 70] = float("inf")
    x[7, :40] = 0.0
    x[8, 1::2] = -0.0
    x[9, 3:9] = 1e-40
    x[10] = torch.nextafter(torch.tensor(4.0), torch.tensor(0.0))
    x[11, :8] = torch.tensor([0.25, 0.75, 1.25, 2.5, 3.5, 5.0, -5.0, 6.0])
    return x


CHILD = r"""
import json, sys, torch
from scalingbook.precision import hadamard_transform, quantize_blocks
from scalingbook.precision import microscaling as mx, triton_kernels as tk
from scalingbook.precision._common import draw_seeds
sys.path.insert(0, sys.argv[3])
from test_precision_kernels import kernel_input
assert tk.interpreting() and tk.kernels_usable(torch.zeros(1))
quant_cases, had_cases = json.loads(sys.argv[2])
x = kernel_input()
out = {"quant": [], "scales": [], "hadamard": []}
for i, (elem, sf, mode, ts, rnd, bs) in enumerate(quant_cases):
    kw = dict(block_size=bs, scale_format=sf, scale_mode=mode, per_tensor_scale=ts, rounding=rnd)
    out["quant"].append(quantize_blocks(x, elem, backend="triton", generator=torch.Generator().manual_seed(i), **kw))
    seeds = draw_seeds(torch.Generator().manual_seed(i)) if rnd == "stochastic" else None
    e, s = mx.element_spec(elem), mx.scale_spec(sf, mode)
    out["scales"].append(tk.quantize_2d_triton(x, e, bs, s, 1.0 if ts is None else ts, rnd, seeds)[1])
for bs, scale in had_cases:
    xh = x[:, :100].nan_to_num(0.0, 0.0, 0.0)
    out["hadamard"].append(hadamard_transform(xh, scale, block_size=bs, backend="triton"))
torch.save(out, sys.argv[1])
"""


def same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and torch.equal(a.contiguous().view(torch.int32), b.contiguous().view(torch.int32))


@pytest.fixture(scope="module")
def interpreted(tmp_path_factory):
    path = tmp_path_factory.mktemp("kernels") / "outputs.pt"
    env = dict(os.environ, TRITON_INTERPRET="1")
    cases = json.dumps([QUANT_CASES, HADAMARD_CASES])
    here = os.path.dirname(os.path.abspath(__file__))
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), cases, here], env=env, capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, f"interpreted kernels failed:\n{proc.stderr[-4000:]}"
    return torch.load(path)


@pytest.mark.parametrize("i", range(len(QUANT_CASES)), ids=["-".join(map(str, c)) for c in QUANT_CASES])
def test_block_quantizer_kernel_equals_twin(interpreted, i):
    elem, sf, mode, ts, rnd, bs = QUANT_CASES[i]
    x = kernel_input()
    kw = dict(block_size=bs, scale_format=sf, scale_mode=mode, per_tensor_scale=ts, rounding=rnd)
    twin = quantize_blocks(x, elem, backend="torch", generator=torch.Generator().manual_seed(i), **kw)
    assert same_bits(interpreted["quant"][i], twin)
    seeds = draw_seeds(torch.Generator().manual_seed(i)) if rnd == "stochastic" else None
    elem_spec, scale = mx.element_spec(elem), mx.scale_spec(sf, mode)
    blocks = mx.quantize_2d_torch(x, elem_spec, bs, scale, 1.0 if ts is None else ts, rnd, seeds)
    assert same_bits(interpreted["scales"][i], blocks.scale_vals)
    nan_block = slice(5 // bs * bs, 5 // bs * bs + bs)  # the block around the NaN at [3, 5]
    assert torch.isnan(twin[3, nan_block]).all() and torch.isnan(twin[5, 70])


@pytest.mark.parametrize("i", range(len(HADAMARD_CASES)), ids=[f"block{b}-scale{s}" for b, s in HADAMARD_CASES])
def test_hadamard_kernel_equals_twin(interpreted, i):
    bs, scale = HADAMARD_CASES[i]
    x = kernel_input()[:, :100].nan_to_num(0.0, 0.0, 0.0)
    assert same_bits(interpreted["hadamard"][i], hadamard_transform(x, scale, block_size=bs, backend="torch"))


def test_triton_backend_needs_cuda_or_the_interpreter():
    from scalingbook.precision import triton_kernels as tk

    if tk.interpreting():
        pytest.skip("TRITON_INTERPRET is set in this process")
    with pytest.raises(RuntimeError, match="TRITON_INTERPRET"):
        quantize_blocks(torch.randn(4, 32), "fp4_e2m1", backend="triton")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device: native kernels not run")
@pytest.mark.parametrize("i", range(len(QUANT_CASES)))
def test_block_quantizer_on_gpu_equals_twin(i):
    elem, sf, mode, ts, rnd, bs = QUANT_CASES[i]
    x = kernel_input()
    kw = dict(block_size=bs, scale_format=sf, scale_mode=mode, per_tensor_scale=ts, rounding=rnd)
    gpu = quantize_blocks(x.cuda(), elem, backend="triton", generator=torch.Generator().manual_seed(i), **kw)
    cpu = quantize_blocks(x, elem, backend="torch", generator=torch.Generator().manual_seed(i), **kw)
    assert same_bits(gpu.cpu(), cpu)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device: native kernels not run")
@pytest.mark.parametrize("bs,scale", HADAMARD_CASES)
def test_hadamard_on_gpu_equals_twin(bs, scale):
    x = kernel_input()[:, :100].nan_to_num(0.0, 0.0, 0.0)
    gpu = hadamard_transform(x.cuda(), scale, block_size=bs, backend="triton")
    assert same_bits(gpu.cpu(), hadamard_transform(x, scale, block_size=bs, backend="torch"))
