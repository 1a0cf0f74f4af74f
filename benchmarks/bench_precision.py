"""Speed of scalingbook.precision beside the baselines issue 5 names, in one run, with ratios.

CPU (always):
  quantize_mx(x, "fp4_e2m1") on a 4096 x 4096 float32 tensor, in elements per second, against
  - the elementwise bound, a native ``x.to(torch.float8_e4m3fn).float()`` round trip of the same
    tensor (goal: ours >= 0.25 of it);
  - torchao's MX quantizer (``to_mx`` + ``to_dtype``), when torchao imports (goal: ours >= 2x),
    with a bit-for-bit cross-check of the two results.
  Plus context rows: NVFP4, bf16 rounding and the blockwise Hadamard transform beside their
  natural torch baselines.
GPU (when CUDA and Triton are available):
  the Triton kernels' achieved bandwidth (bytes read + written per second) as a fraction of the
  device's: of its nominal peak where the device is known, and of a measured device-to-device copy.

Usage: python benchmarks/bench_precision.py [--quick] [--size N] [--repeats R] [--threads T]
(--quick: a 1024 x 1024 tensor and 3 repeats, a smoke test; the goals refer to the full size.)
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
import warnings

import torch

from scalingbook.precision import (
    hadamard_matrix,
    hadamard_transform,
    quantize_mx,
    quantize_nvfp4,
    round_to_format,
)

# Nominal HBM bandwidth in GB/s by device-name fragment (vendor data sheets).
NOMINAL_GBPS = {"H200": 4800.0, "H100 SXM": 3350.0, "H100 NVL": 3900.0, "H100 PCIe": 2000.0, "H100": 3350.0,
                "A100-SXM4-80GB": 2039.0, "A100": 1555.0, "L40S": 864.0, "L4": 300.0, "A10": 600.0, "T4": 320.0}


def time_pair(ours, base, repeats: int) -> tuple[float, float, float]:
    """Median times of ``ours`` and ``base`` timed alternately, and the median of the per-round
    ratios base/ours: on a shared machine both sides of each ratio see the same load."""
    ours(), base()
    t_ours, t_base = [], []
    for _ in range(repeats):
        for fn, acc in ((base, t_base), (ours, t_ours)):
            t0 = time.perf_counter()
            fn()
            acc.append(time.perf_counter() - t0)
    ratios = [b / o for o, b in zip(t_ours, t_base)]
    return statistics.median(t_ours), statistics.median(t_base), statistics.median(ratios)


def time_cuda(fn, repeats: int) -> float:
    fn()
    torch.cuda.synchronize()
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    samples = []
    for _ in range(repeats):
        start.record()
        fn()
        stop.record()
        torch.cuda.synchronize()
        samples.append(start.elapsed_time(stop) / 1e3)
    return statistics.median(samples)


def load_torchao():
    """torchao's MX cast pair, or None with the reason."""
    try:
        logging.disable(logging.WARNING)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from torchao.prototype.mx_formats.mx_tensor import to_dtype, to_mx
        return (to_mx, to_dtype), None
    except Exception as exc:  # ImportError, or a torchao built for another torch
        return None, f"{type(exc).__name__}: {exc}".splitlines()[0][:120]
    finally:
        logging.disable(logging.NOTSET)


def row(table, case, ours_s, base_name, base_s, n, ratio, goal=None):
    met = "" if goal is None else ("yes" if ratio >= goal else "NO")
    goal_text = "" if goal is None else f">= {goal:g}"
    table.append((case, n / ours_s / 1e6, base_name, n / base_s / 1e6, ratio, goal_text, met))


def print_table(title, table):
    print(f"\n{title}")
    head = ("case", "ours Melem/s", "baseline", "base Melem/s", "ours/base", "goal", "met")
    # ours/base is the median over rounds of (baseline time / our time), each round timing both.
    widths = [max(len(str(r[i])) if not isinstance(r[i], float) else 9 for r in [head] + table) for i in range(7)]

    def cell(i, v, w):
        if isinstance(v, float):
            return f"{v:>{w}.1f}" if i in (1, 3) else f"{v:>{w}.2f}"
        return f"{v:<{w}}"

    def fmt_row(r):
        return "  ".join(cell(i, v, w) for i, (v, w) in enumerate(zip(r, widths)))

    print(fmt_row(head))
    for r in table:
        print(fmt_row(r))


def pair(ours, base_name, base, repeats, n):
    t_ours, t_base, ratio = time_pair(ours, base, repeats)
    return t_ours, base_name, t_base, n, ratio


def cpu_benchmarks(size: int, repeats: int) -> None:
    x = torch.randn(size, size, generator=torch.Generator().manual_seed(0))
    n = x.numel()
    table = []
    fp8_round_trip = lambda: x.to(torch.float8_e4m3fn).float()  # noqa: E731
    mx = lambda: quantize_mx(x, "fp4_e2m1")  # noqa: E731
    row(table, "quantize_mx fp4_e2m1", *pair(mx, "fp8_e4m3fn cast round trip", fp8_round_trip, repeats, n), goal=0.25)

    ao, why = load_torchao()
    check = None
    if ao is not None:
        to_mx, to_dtype = ao
        elem = torch.float4_e2m1fn_x2

        def torchao_mx():
            scale, data = to_mx(x, elem, 32)
            return to_dtype(data, scale, elem, 32, torch.float32)

        row(table, "quantize_mx fp4_e2m1", *pair(mx, "torchao to_mx + to_dtype", torchao_mx, repeats, n), goal=2.0)
        ours, theirs = mx(), torchao_mx()
        mismatches = int((ours.view(torch.int32) != theirs.view(torch.int32)).sum())
        verdict = "yes" if mismatches == 0 else "NO"
        check = f"bit-equal with torchao on this tensor: {verdict} ({mismatches} of {n} differ)"

    nv = lambda: quantize_nvfp4(x, per_tensor_scale="amax")  # noqa: E731
    row(table, "quantize_nvfp4 (tensor scale)", *pair(nv, "fp8_e4m3fn cast round trip", fp8_round_trip, repeats, n))
    bf = lambda: round_to_format(x, "bf16")  # noqa: E731
    bf_cast = lambda: x.to(torch.bfloat16).float()  # noqa: E731
    row(table, "round_to_format bf16", *pair(bf, "bf16 cast round trip", bf_cast, repeats, n))
    H = hadamard_matrix(32)
    had = lambda: hadamard_transform(x, block_size=32)  # noqa: E731
    blas = lambda: (x.view(-1, 32) @ H).view(size, size)  # noqa: E731
    row(table, "hadamard_transform block 32", *pair(had, "x.view(-1, 32) @ H32 (BLAS)", blas, repeats, n))

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print_table(
        f"CPU: {size} x {size} float32, {torch.get_num_threads()} threads on {os.cpu_count()} cores "
        f"(load average {load:.1f} at the end), medians of {repeats} alternating rounds",
        table,
    )
    if check:
        print(check)
    else:
        print(f"torchao not available ({why}): the torchao comparison and cross-check were skipped")


def gpu_benchmarks(repeats: int, quick: bool) -> None:
    if not torch.cuda.is_available():
        print("\nGPU: CUDA is not available here: the Triton kernels' bandwidth benchmark was skipped")
        return
    from scalingbook.precision import triton_kernels as tk

    if not tk.HAS_TRITON:
        print("\nGPU: triton is not installed: the kernel bandwidth benchmark was skipped")
        return
    name = torch.cuda.get_device_name()
    size = 4096 if quick else 16384
    x = torch.randn(size, size, device="cuda")
    n = x.numel()
    y = torch.empty_like(x)
    t_copy = time_cuda(lambda: y.copy_(x), repeats)
    copy_gbps = 2 * 4 * n / t_copy / 1e9
    nominal = next((v for k, v in NOMINAL_GBPS.items() if k in name), None)
    cases = [
        ("quantize_mx fp4_e2m1 (RTN)", lambda: quantize_mx(x, "fp4_e2m1", backend="triton"), 8 + 4 / 32),
        ("quantize_mx fp4_e2m1 (SR)",
         lambda: quantize_mx(x, "fp4_e2m1", rounding="stochastic", backend="triton"), 8 + 4 / 32),
        ("quantize_nvfp4", lambda: quantize_nvfp4(x, backend="triton"), 8 + 4 / 16),
        ("hadamard block 32", lambda: hadamard_transform(x, block_size=32, backend="triton"), 8),
    ]
    print(f"\nGPU: {name}, {size} x {size} float32, median of {repeats}")
    peak_text = f"nominal peak {nominal:.0f} GB/s" if nominal else "nominal peak unknown"
    print(f"device copy: {copy_gbps:.0f} GB/s; {peak_text}")
    print(f"{'kernel':<30}{'GB/s':>8}{'of copy':>10}{'of peak':>10}")
    for label, fn, bytes_per_elem in cases:
        t = time_cuda(fn, repeats)
        gbps = bytes_per_elem * n / t / 1e9
        peak = f"{gbps / nominal:.2f}" if nominal else "n/a"
        print(f"{label:<30}{gbps:>8.0f}{gbps / copy_gbps:>10.2f}{peak:>10}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="1024 x 1024 and 3 repeats (smoke test)")
    p.add_argument("--size", type=int, default=None, help="side of the square CPU tensor (default 4096)")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats per case (default 10)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: torch's). On a shared machine every torch call waits "
                        "for all its threads, so code made of many calls suffers more than one cast: try 1")
    args = p.parse_args(argv)
    if args.threads is not None:
        if args.threads <= 0:
            p.error("--threads must be positive")
        torch.set_num_threads(args.threads)
    size = args.size or (1024 if args.quick else 4096)
    repeats = args.repeats or (3 if args.quick else 10)
    if size <= 0 or repeats <= 0:
        p.error("--size and --repeats must be positive")
    cpu_benchmarks(size, repeats)
    gpu_benchmarks(repeats, args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
