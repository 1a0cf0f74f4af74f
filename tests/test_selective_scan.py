"""Tests for scalingbook.kernels.selective_scan: the three backends against each other, against
finite differences and closed forms, and against bad input."""

from __future__ import annotations

import importlib.util
import itertools
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from scalingbook.kernels import selective_scan
from scalingbook.kernels.scan import BACKENDS
from scalingbook.kernels.scan.chunked import selective_scan_chunked

KINDS = ("fixed", "variable", "grouped")  # B and C: (dim, dstate), (batch, dstate, L), grouped
RTOL, ATOL = 1e-4, 1e-5  # the contract's float32 agreement
TENSOR_ARGS = ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")


def make_inputs(*, batch=2, dim=8, length=33, dstate=4, b_kind="variable", c_kind="variable",
                groups=2, extras=True, softplus=True, dtype=torch.float32, seed=0):
    """Deterministic scan arguments as a dict; ``extras`` adds D, z and delta_bias."""
    gen = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.float64)

    def bc(kind):
        if kind == "fixed":
            return randn(dim, dstate)
        if kind == "variable":
            return randn(batch, dstate, length)
        return randn(batch, groups, dstate, length)

    # Raw delta around 0 goes through softplus; without softplus it must already be positive.
    delta = randn(batch, dim, length) if softplus else 0.05 + 0.5 * randn(batch, dim, length).abs()
    args = dict(u=randn(batch, dim, length), delta=delta,
                A=-torch.exp(0.5 * randn(dim, dstate)), B=bc(b_kind), C=bc(c_kind))
    if extras:
        args.update(D=randn(dim), z=randn(batch, dim, length), delta_bias=0.3 * randn(dim))
    return {k: v.to(dtype) for k, v in args.items()}


def run(backend, args, *, softplus=True, last_state=True, seed=1, **kw):
    """Output, last state and gradients of a fixed random projection of both, for every tensor."""
    leaves = {k: v.clone().requires_grad_() for k, v in args.items()}
    result = selective_scan(**leaves, delta_softplus=softplus, return_last_state=last_state,
                            backend=backend, **kw)
    out, last = result if last_state else (result, None)
    gen = torch.Generator().manual_seed(seed)
    loss = (out.float() * torch.randn(out.shape, generator=gen)).sum()
    if last is not None:
        loss = loss + (last * torch.randn(last.shape, generator=gen, dtype=last.dtype)).sum()
    loss.backward()
    grads = {k: v.grad for k, v in leaves.items()}
    return out.detach(), (None if last is None else last.detach()), grads


def assert_close(got, want, what, rtol=RTOL, atol=ATOL):
    torch.testing.assert_close(got, want, rtol=rtol, atol=atol, msg=lambda m: f"{what}: {m}")


def assert_runs_agree(a, b, rtol=RTOL, atol=ATOL):
    (out_a, last_a, g_a), (out_b, last_b, g_b) = a, b
    assert_close(out_a, out_b, "out", rtol, atol)
    if last_a is not None:
        assert_close(last_a, last_b, "last_state", rtol, atol)
    assert g_a.keys() == g_b.keys()
    for k in g_a:
        assert g_a[k] is not None and g_a[k].shape == g_b[k].shape, k
        assert_close(g_a[k], g_b[k], f"grad of {k}", rtol, atol)


# --- agreement: chunked against the reference recurrence --------------------------------------


@pytest.mark.parametrize("b_kind,c_kind", list(itertools.product(KINDS, KINDS)))
@pytest.mark.parametrize("extras", [False, True], ids=["bare", "D-z-bias-softplus"])
def test_chunked_matches_reference(b_kind, c_kind, extras):
    args = make_inputs(b_kind=b_kind, c_kind=c_kind, extras=extras, softplus=extras)
    ref = run("reference", args, softplus=extras)
    assert_runs_agree(run("chunked", args, softplus=extras), ref)


@pytest.mark.parametrize("chunk", [1, 2, 5, 33, 100])
def test_chunk_size_only_changes_rounding(chunk):
    # 33 steps: chunk 5 leaves a padded tail, 33 is one chunk, 100 is longer than the sequence.
    args = make_inputs(b_kind="grouped", c_kind="variable")
    want = run("reference", args)
    leaves = {k: v.clone().requires_grad_() for k, v in args.items()}
    out, last = selective_scan_chunked(**leaves, delta_softplus=True, return_last_state=True,
                                       chunk=chunk)
    assert_close(out, want[0], "out")
    assert_close(last, want[1], "last_state")


@pytest.mark.parametrize("last_state", [False, True])
def test_without_last_state_returns_a_tensor(last_state):
    args = make_inputs()
    result = selective_scan(**args, return_last_state=last_state)
    assert isinstance(result, tuple) == last_state
    assert_runs_agree(run("chunked", args, last_state=last_state),
                      run("reference", args, last_state=last_state))


def test_gradient_through_last_state_alone():
    # Only the state is used downstream (the backward receives no gradient for out).
    args = make_inputs(b_kind="fixed", c_kind="grouped")
    grads = {}
    for backend in ("reference", "chunked"):
        leaves = {k: v.clone().requires_grad_() for k, v in args.items()}
        _, last = selective_scan(**leaves, return_last_state=True, backend=backend)
        last.pow(2).sum().backward()
        grads[backend] = {k: v.grad for k, v in leaves.items()}
    for k in ("u", "delta", "A", "B", "delta_bias"):
        assert grads["chunked"][k].abs().sum() > 0, k
        assert_close(grads["chunked"][k], grads["reference"][k], f"grad of {k}")
    for k in ("C", "D", "z"):  # they do not touch the state
        assert grads["chunked"][k] is None or not grads["chunked"][k].any(), k


def test_auto_is_chunked_on_cpu():
    args = make_inputs()
    torch.testing.assert_close(selective_scan(**args, backend="auto"),
                               selective_scan(**args, backend="chunked"), rtol=0, atol=0)


# --- gradients against finite differences (float64) -------------------------------------------


@pytest.mark.parametrize("b_kind,c_kind", [("variable", "variable"), ("fixed", "grouped"),
                                           ("grouped", "fixed")])
def test_chunked_gradcheck(b_kind, c_kind):
    args = make_inputs(batch=2, dim=4, length=7, dstate=3, groups=2, b_kind=b_kind, c_kind=c_kind,
                       dtype=torch.float64)
    names = list(args)

    def f(*tensors):
        out, last = selective_scan_chunked(**dict(zip(names, tensors)), delta_softplus=True,
                                           return_last_state=True, chunk=3)
        return out, last

    inputs = tuple(args[k].clone().requires_grad_() for k in names)
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-6, rtol=1e-5)


# --- numerical stability -------------------------------------------------------------------------


def test_long_sequence_with_large_decays_is_finite_and_exact():
    """x_t = a x_{t-1} + b with constant a, b has the closed form b (1 - a^{t+1}) / (1 - a).

    Channels range from a = exp(-1e-4) (a state that keeps almost everything for 8192 steps) to
    a = exp(-2000) (underflows to 0); a scan that divided by cumulative products of a would
    produce 0/0 here.
    """
    batch, dim, length, dstate = 1, 4, 8192, 2
    A = -torch.tensor([[1e-4, 1e-2], [1.0, 3.0], [50.0, 200.0], [1e3, 2e3]], dtype=torch.float64)
    delta = torch.ones(batch, dim, length, dtype=torch.float64)
    u = torch.ones(batch, dim, length, dtype=torch.float64)
    B = torch.full((dim, dstate), 0.5, dtype=torch.float64)
    C = torch.ones(dim, dstate, dtype=torch.float64)
    t = torch.arange(length, dtype=torch.float64)
    a = torch.exp(A)[..., None]  # (dim, dstate, 1)
    want = (0.5 * (1 - a ** (t + 1)) / (1 - a)).sum(1)  # sum over dstate, (dim, L)

    leaves = [v.float().requires_grad_() for v in (u, delta, A)]
    out = selective_scan(leaves[0], leaves[1], leaves[2], B.float(), C.float(), backend="chunked")
    assert_close(out[0].double(), want, "out against the closed form", rtol=1e-4, atol=1e-4)
    out.sum().backward()
    for name, leaf in zip(("u", "delta", "A"), leaves):
        assert torch.isfinite(leaf.grad).all(), f"grad of {name} is not finite"


def test_long_sequence_random_inputs_match_reference():
    # Wide spread of |A delta| (up to ~ e^4 * 20 ~ 1000) over 2048 steps, chunked vs reference.
    args = make_inputs(batch=1, dim=4, length=2048, dstate=4, b_kind="variable", c_kind="fixed",
                       extras=True, seed=3)
    args["A"] = -torch.exp(4 * torch.rand(4, 4, generator=torch.Generator().manual_seed(4)))
    args["delta"] = args["delta"] * 10
    ref, got = run("reference", args), run("chunked", args)
    for k, g in got[2].items():
        assert torch.isfinite(g).all(), k
    assert_runs_agree(got, ref)


# --- dtypes -------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("backend", ["reference", "chunked"])
def test_low_precision_round_trip(dtype, backend):
    args = make_inputs(dtype=dtype)
    out, last, grads = run(backend, args)
    assert out.dtype == dtype
    assert last.dtype == torch.float32  # the state stays in the arithmetic dtype, as in mamba_ssm
    for k, g in grads.items():
        assert g.dtype == dtype, k
    # The arithmetic is float32, so the only error is rounding the result to dtype.
    want = selective_scan(**{k: v.float() for k, v in args.items()}, delta_softplus=True,
                          backend="reference")
    eps = torch.finfo(dtype).eps
    torch.testing.assert_close(out.float(), want, rtol=eps, atol=eps)


def test_float64_stays_float64():
    args = make_inputs(dtype=torch.float64)
    out, last = selective_scan(**args, return_last_state=True)
    assert out.dtype == last.dtype == torch.float64


# --- property test over shapes ------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(
    batch=st.integers(1, 2), groups=st.sampled_from([1, 2, 3]), per_group=st.integers(1, 3),
    length=st.integers(1, 24), dstate=st.integers(1, 5), b_kind=st.sampled_from(KINDS),
    c_kind=st.sampled_from(KINDS), extras=st.booleans(), chunk=st.integers(1, 30),
    seed=st.integers(0, 2**16),
)
def test_chunked_matches_reference_for_any_shape(batch, groups, per_group, length, dstate, b_kind,
                                                  c_kind, extras, chunk, seed):
    args = make_inputs(batch=batch, dim=groups * per_group, length=length, dstate=dstate,
                       b_kind=b_kind, c_kind=c_kind, groups=groups, extras=extras, seed=seed)
    ref = run("reference", args)
    assert_runs_agree(run("chunked", args), ref)
    out = selective_scan_chunked(**args, delta_softplus=True, chunk=chunk)
    assert out.shape == (batch, groups * per_group, length)
    assert_close(out, ref[0], f"out with chunk={chunk}")


# --- semantics that need no reference -------------------------------------------------------------


def test_skip_and_gate_alone():
    # With C = 0 the scan contributes nothing: out = D u silu(z).
    args = make_inputs(c_kind="fixed")
    args["C"] = torch.zeros_like(args["C"])
    out = selective_scan(**args, delta_softplus=True)
    want = args["D"][:, None] * args["u"] * torch.nn.functional.silu(args["z"])
    torch.testing.assert_close(out, want)


def test_one_step_by_hand():
    # L = 1 from a zero state: y = sum_n (delta B_n u) C_n.
    u, delta = torch.tensor([[[2.0]]]), torch.tensor([[[0.5]]])
    A, B = torch.tensor([[-1.0, -2.0]]), torch.tensor([[[3.0], [4.0]]])
    C = torch.tensor([[1.0, 10.0]])
    for backend in ("reference", "chunked"):
        out, last = selective_scan(u, delta, A, B, C, return_last_state=True, backend=backend)
        torch.testing.assert_close(last, torch.tensor([[[3.0, 4.0]]]))
        torch.testing.assert_close(out, torch.tensor([[[3.0 + 40.0]]]))


# --- bad input ----------------------------------------------------------------------------------


def _bad_cases():
    ok = make_inputs(extras=True)
    cases = {
        "u": [torch.zeros(8, 33), torch.zeros(2, 8, 33, dtype=torch.int64), "not a tensor",
              torch.zeros(2, 8, 0)],
        "delta": [torch.zeros(2, 8, 32), torch.zeros(2, 8, 33, dtype=torch.int32)],
        "A": [torch.zeros(8), torch.zeros(7, 4), torch.zeros(8, 4, dtype=torch.complex64)],
        "B": [torch.zeros(8, 5), torch.zeros(2, 4, 32), torch.zeros(2, 3, 4, 33),
              torch.zeros(2, 8), torch.zeros(1, 2, 2, 4, 33)],
        "C": [torch.zeros(2, 5, 33), torch.zeros(2, 5, 4, 33), torch.zeros(8, 4, dtype=torch.long)],
        "D": [torch.zeros(7), torch.zeros(8, 1)],
        "z": [torch.zeros(2, 8, 34)],
        "delta_bias": [torch.zeros(9), torch.zeros(8, dtype=torch.int64)],
    }
    for name, values in cases.items():
        for i, value in enumerate(values):
            yield pytest.param(ok, name, value, id=f"{name}-{i}")


@pytest.mark.parametrize("ok,name,value", list(_bad_cases()))
def test_bad_input_names_the_argument(ok, name, value):
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        selective_scan(**{**ok, name: value})


def test_groups_must_divide_dim():
    args = make_inputs(dim=8)
    with pytest.raises(ValueError, match=r"^B .*3 groups.*dim = 8"):
        selective_scan(**{**args, "B": torch.zeros(2, 3, 4, 33)})


@pytest.mark.parametrize("backend", ["cuda", "", None, "Chunked"])
def test_unknown_backend(backend):
    with pytest.raises(ValueError, match=r"^backend must be one of"):
        selective_scan(**make_inputs(), backend=backend)


def test_backends_listed():
    assert BACKENDS == ("auto", "reference", "chunked", "triton")


# --- the Triton kernel, under the interpreter -----------------------------------------------------

TRITON_SCRIPT = textwrap.dedent("""
    import os, sys, torch
    assert os.environ["TRITON_INTERPRET"] == "1"
    from scalingbook.kernels import selective_scan
    from scalingbook.kernels.scan import triton_kernel
    assert triton_kernel.INTERPRETED, "TRITON_INTERPRET=1 did not select the interpreter"
    cases = torch.load(sys.argv[1])
    results = []
    for args, softplus in cases:
        leaves = {k: v.clone().requires_grad_() for k, v in args.items()}
        out, last = selective_scan(**leaves, delta_softplus=softplus, return_last_state=True,
                                   backend="triton")
        gen = torch.Generator().manual_seed(1)
        loss = (out.float() * torch.randn(out.shape, generator=gen)).sum()
        loss = loss + (last * torch.randn(last.shape, generator=gen, dtype=last.dtype)).sum()
        loss.backward()
        results.append((out.detach(), last.detach(), {k: v.grad for k, v in leaves.items()}))
    torch.save(results, sys.argv[2])
""")


def _triton_cases():
    cases = [(make_inputs(b_kind=b, c_kind=c, length=37, seed=i), True)
             for i, (b, c) in enumerate(itertools.product(KINDS, KINDS))]
    cases.append((make_inputs(extras=False, softplus=False, length=5), False))
    cases.append((make_inputs(dim=6, dstate=3, groups=3, b_kind="grouped", c_kind="grouped",
                              length=9), True))  # dim and dstate not powers of two
    cases.append((make_inputs(length=9, dtype=torch.float64), True))
    cases.append((make_inputs(length=9, dtype=torch.bfloat16), True))
    return cases


@pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="triton is not installed")
def test_triton_kernel_matches_chunked_under_interpreter(tmp_path):
    # The interpreter is chosen when @triton.jit runs, i.e. when the kernel module is imported,
    # so it runs in a fresh process with TRITON_INTERPRET=1 rather than toggled in this one.
    cases = _triton_cases()
    torch.save(cases, tmp_path / "cases.pt")
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", TRITON_SCRIPT, str(tmp_path / "cases.pt"), str(tmp_path / "out.pt")],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = torch.load(tmp_path / "out.pt")
    for i, ((args, softplus), got) in enumerate(zip(cases, results)):
        want = run("chunked", args, softplus=softplus)
        low = args["u"].dtype == torch.bfloat16
        tol = dict(rtol=1e-2, atol=1e-2) if low else {}
        try:
            assert_runs_agree(got, want, **tol)
        except AssertionError as exc:
            raise AssertionError(f"case {i}: {exc}") from None
        assert got[0].dtype == args["u"].dtype


def test_triton_on_cpu_without_interpreter_says_why():
    if importlib.util.find_spec("triton") is None:
        pytest.skip("triton is not installed")
    from scalingbook.kernels.scan import triton_kernel

    if triton_kernel.INTERPRETED:
        pytest.skip("this process runs Triton under the interpreter")
    with pytest.raises(RuntimeError, match="TRITON_INTERPRET=1"):
        selective_scan(**make_inputs(), backend="triton")


@pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="triton is not installed")
def test_triton_kernel_compiles_for_a_gpu_without_one():
    # The interpreter accepts things the compiler refuses, so also compile the kernel ahead of
    # time for an H100 (sm_90) all the way to PTX; no GPU is needed for that. Run in a fresh
    # process so that an interpreter-mode import elsewhere cannot get in the way.
    script = textwrap.dedent("""
        import os
        os.environ.pop("TRITON_INTERPRET", None)
        os.environ.setdefault("TRITON_DEFAULT_FP_FUSION", "1")
        import triton
        from triton.backends.compiler import GPUTarget
        from triton.compiler import ASTSource
        from scalingbook.kernels.scan.triton_kernel import _selective_scan_fwd_kernel as k
        names = k.arg_names
        flags = {"BLOCK_D": 16, "BLOCK_N": 16, "BLOCK_L": 32}
        for b_var, c_var in [(True, True), (False, False)]:
            consts = {**flags, "B_VARIABLE": b_var, "C_VARIABLE": c_var}
            sig = {n: "constexpr" if n in consts else "*fp32" if n.endswith("_ptr") else "i32"
                   for n in names}
            src = ASTSource(fn=k, signature=sig,
                            constexprs={(names.index(n),): v for n, v in consts.items()})
            ptx = triton.compile(src, target=GPUTarget("cuda", 90, 32)).asm["ptx"]
            assert ".entry _selective_scan_fwd_kernel" in ptx
        print("ok")
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]
