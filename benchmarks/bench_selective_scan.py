"""Benchmark of the selective scan: our backends side by side with mambapy's parallel scan, and
the scan against causal softmax attention as the sequence grows.

    .venv/bin/python benchmarks/bench_selective_scan.py            # full run (a few minutes)
    .venv/bin/python benchmarks/bench_selective_scan.py --quick    # smoke run (well under a minute)

Part 1, at batch 2, dim 256, L 1024, dstate 16 (input-dependent B and C, and D, as in a Mamba
block): the forward pass and forward + backward of

- ``reference``: our sequential recurrence, differentiated by autograd;
- ``chunked``: our chunked scan with its hand-written backward;
- ``mambapy``: the parallel (Blelloch) scan of the ``mambapy`` package (``pip install mambapy``,
  a benchmark-only dependency), wrapped in the same discretization and output;
- ``triton``: our Triton forward kernel (with the chunked backward), on a GPU only;

with the ratios against ``chunked`` and the issue's goals (>= 100x the reference's forward +
backward, >= 1.5x mambapy's).

Part 2: forward and forward + backward time against L (256 ... 16384) of the chunked scan and of
causal softmax attention (``torch.nn.functional.scaled_dot_product_attention``, 4 heads of 64,
the same width of 256), and where attention starts to cost more than the scan.

Part 3, on a GPU only: the Triton kernel's achieved memory bandwidth.

Times are the minimum over repetitions, interleaved across contenders, so that another process
on a shared machine disturbs every contender alike; the machine, thread count and load are
printed. One thread by default: with two threads on two shared cores every parallel operation
waits for the core another process holds, and times swing by 10x.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time

import torch

from scalingbook.kernels.scan import triton_available
from scalingbook.kernels.scan.timing import (
    attention,
    crossover_length,
    make_scan_inputs,
    measure,
    scan_with,
)

try:
    from mambapy.pscan import pscan as mambapy_pscan
except ImportError:  # benchmark-only dependency
    mambapy_pscan = None


def make_inputs(batch, dim, length, dstate, device, seed=0):
    """Mamba-like scan arguments (the package's :func:`make_scan_inputs`)."""
    return make_scan_inputs(batch, dim, length, dstate, device, seed=seed)


def mambapy_selective_scan(u, delta, A, B, C, D):
    """The same computation on mambapy's parallel scan, which wants (batch, L, dim, dstate)."""
    x, dt = u.transpose(1, 2), delta.transpose(1, 2)  # (batch, L, dim)
    decay = torch.exp(dt.unsqueeze(-1) * A)  # (batch, L, dim, dstate)
    inputs = (dt * x).unsqueeze(-1) * B.transpose(1, 2).unsqueeze(2)
    states = mambapy_pscan(decay, inputs)
    y = (states @ C.transpose(1, 2).unsqueeze(-1)).squeeze(-1) + D * x
    return y.transpose(1, 2)


def check_agreement(contenders, args):
    """Largest |difference| of each contender's output from the reference's, for the record."""
    with torch.no_grad():
        outs = {name: fn(**args) for name, fn in contenders.items()}
    ref = outs["reference"]
    return {name: (out - ref).abs().max().item() for name, out in outs.items()}


def side_by_side(args_ns, device):
    print(f"\n== Part 1: batch 2, dim 256, L {args_ns.length}, dstate 16 ({device.type}) ==")
    args = make_inputs(2, 256, args_ns.length, 16, device)
    contenders = {"reference": scan_with("reference"), "chunked": scan_with("chunked")}
    if mambapy_pscan is not None:
        contenders["mambapy"] = mambapy_selective_scan
    else:
        print("mambapy is not installed (pip install mambapy): its column is left out")
    if device.type == "cuda" and triton_available():
        contenders["triton"] = scan_with("triton")
    diffs = check_agreement(contenders, args)
    res = measure(contenders, args, args_ns.reps, device)
    base_f, base_fb = res["chunked"]
    print(f"{'backend':<10} {'forward ms':>11} {'fwd+bwd ms':>11} {'fwd / chunked':>14} "
          f"{'fwd+bwd / chunked':>18} {'max |out - ref|':>16}")
    for name, (f, fb) in res.items():
        print(f"{name:<10} {f * 1e3:11.1f} {fb * 1e3:11.1f} {f / base_f:13.1f}x "
              f"{fb / base_fb:17.1f}x {diffs[name]:16.2e}")
    if args_ns.quick:
        print("(smoke run: the goals below are set at L 1024, not this L)")
    goals = [("reference", 100.0)] + ([("mambapy", 1.5)] if "mambapy" in res else [])
    for name, goal in goals:
        ratio = res[name][1] / base_fb
        verdict = "met" if ratio >= goal else "NOT met"
        print(f"goal: chunked >= {goal:g}x faster than {name} (forward+backward): "
              f"{ratio:.1f}x, {verdict}")
    decay_floor(args, res["reference"][1] / 100.0, args_ns.reps)
    return res


def decay_floor(args, budget, reps):
    """What one PyTorch operation over the state history costs, against the 100x budget.

    Every backend must form the decays exp(delta_t A) for each (batch, channel, state, step)
    at least once, and a scan written in PyTorch operations materialises that tensor: one
    ``torch.exp`` over it is a floor under the chunked scan's forward + backward time.
    """
    batch, dim, length = args["u"].shape
    dstate = args["A"].shape[1]
    x = (args["delta"][:, :, None, :] * args["A"][None, :, :, None]).contiguous()
    out = torch.empty_like(x)
    times = []
    sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)
    torch.exp(x, out=out)  # warm-up
    for _ in range(reps):
        sync()
        start = time.perf_counter()
        torch.exp(x, out=out)
        sync()
        times.append(time.perf_counter() - start)
    print(f"floor: one torch.exp over the {batch}x{dim}x{dstate}x{length} decays takes "
          f"{min(times) * 1e3:.1f} ms, against the {budget * 1e3:.1f} ms that 100x the "
          f"reference's forward+backward leaves for both passes")


def length_sweep(args_ns, device):
    lengths = [2 ** k for k in range(8, int(math.log2(args_ns.max_length)) + 1)]
    print(f"\n== Part 2: cost against sequence length, batch 2, width 256 ({device.type}) ==")
    print("scan: chunked, dim 256, dstate 16; attention: causal SDPA, 4 heads x 64")
    print(f"{'L':>6} {'scan fwd ms':>12} {'attn fwd ms':>12} {'scan f+b ms':>12} "
          f"{'attn f+b ms':>12} {'attn / scan (f+b)':>18}")
    rows = []
    for length in lengths:
        reps = max(1, args_ns.reps if length <= 2048 else 1)
        scan_args = make_inputs(2, 256, length, 16, device)
        gen = torch.Generator().manual_seed(1)
        attn_args = {k: torch.randn(2, 4, length, 64, generator=gen).to(device) for k in "qkv"}
        scan = measure({"scan": scan_with("chunked")}, scan_args, reps, device)["scan"]
        attn = measure({"attn": attention}, attn_args, reps, device)["attn"]
        rows.append((length, scan, attn))
        print(f"{length:6d} {scan[0] * 1e3:12.1f} {attn[0] * 1e3:12.1f} {scan[1] * 1e3:12.1f} "
              f"{attn[1] * 1e3:12.1f} {attn[1] / scan[1]:17.2f}x")
    for i, what in ((0, "forward"), (1, "forward+backward")):
        print(f"crossover ({what}): {crossover(rows, i)}")
    return rows


def crossover(rows, i):
    """Where attention's time first exceeds the scan's, interpolated in log-log between the
    measured lengths (:func:`crossover_length`)."""
    lengths = [length for length, _, _ in rows]
    found = crossover_length(lengths, [scan[i] for _, scan, _ in rows],
                             [attn[i] for _, _, attn in rows])
    if found.where == "below":
        return f"attention is already slower at L = {lengths[0]}, the shortest measured"
    if found.where == "above":
        return f"attention stays faster up to L = {lengths[-1]}, the longest measured"
    return f"attention becomes slower than the scan near L = {found.length:.0f}"


def gpu_bandwidth(args_ns, device):
    if device.type != "cuda" or not triton_available():
        return
    print("\n== Part 3: Triton kernel's memory bandwidth (forward) ==")
    batch, dim, length, dstate = 8, 2048, 4096, 16
    args = make_inputs(batch, dim, length, dstate, device)
    res = measure({"triton": scan_with("triton"), "chunked": scan_with("chunked")}, args,
                  args_ns.reps, device)
    elem = 4  # float32
    # Reads u and delta, B and C, writes y: the minimum traffic of a fused scan.
    nbytes = elem * (3 * batch * dim * length + 2 * batch * dstate * length)
    big = torch.empty(256 * 2**20, device=device)  # 1 GiB: device-to-device copy as the yardstick
    big.clone()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(5):
        big.clone()
    torch.cuda.synchronize()
    copy_bw = 2 * big.numel() * 4 * 5 / (time.perf_counter() - t0)
    achieved = nbytes / res["triton"][0]
    print(f"device: {torch.cuda.get_device_name()}")
    print(f"triton forward {res['triton'][0] * 1e3:.2f} ms, chunked forward "
          f"{res['chunked'][0] * 1e3:.2f} ms ({res['chunked'][0] / res['triton'][0]:.1f}x)")
    print(f"achieved {achieved / 1e9:.0f} GB/s = {achieved / copy_bw:.0%} of a device copy's "
          f"{copy_bw / 1e9:.0f} GB/s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: L 256 in part 1, lengths up to 1024, 2 repetitions")
    parser.add_argument("--reps", type=int, default=None, help="repetitions (default 5; quick 2)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: on a shared machine a second thread "
                             "waits on whoever holds the other core; 0 keeps torch's default)")
    parser.add_argument("--max-length", type=int, default=None, help="longest L in part 2")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ns = parser.parse_args()
    ns.reps = ns.reps or (2 if ns.quick else 5)
    ns.length = 256 if ns.quick else 1024
    ns.max_length = ns.max_length or (1024 if ns.quick else 16384)
    if ns.threads:
        torch.set_num_threads(ns.threads)
    device = torch.device(ns.device)
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, {torch.get_num_threads()} torch threads, "
          f"load average {os.getloadavg()[0]:.2f}")
    side_by_side(ns, device)
    length_sweep(ns, device)
    gpu_bandwidth(ns, device)


if __name__ == "__main__":
    main()
