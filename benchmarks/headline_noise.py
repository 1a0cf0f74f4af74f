"""How much each chapter's headline numbers move under noise, beside the tolerances they declare.

    .venv/bin/python benchmarks/headline_noise.py                      # every chapter
    .venv/bin/python benchmarks/headline_noise.py --chapters fp4-training --seeds 0,1,2,3
    .venv/bin/python benchmarks/headline_noise.py --json noise.json    # also keep every value
    .venv/bin/python benchmarks/headline_noise.py --full --chapters fp4-training --capabilities default,avx512

Every chapter runs in quick mode (the mode the tests hold to baselines) in a fresh process, once
for each CPU level this machine can emulate (``default``, ``avx2``, and ``avx512`` where the CPU
has it: PyTorch's kernels forced with ``ATEN_CPU_CAPABILITY`` and numpy's SIMD targets above the
level switched off with ``NPY_DISABLE_CPU_FEATURES``; ``tests/booktools.py:emulation_env``) at
seed 0, and once for each further seed at the machine's native level; each run trains into an empty results folder of its
own, so no cached run is shared between runs. Per headline the table prints:

- ``baseline``: the value in ``tests/baselines/<chapter>.json``;
- ``isa range``: max - min over instruction sets at seed 0 (what another machine computes);
- ``seed sd``: the standard deviation over seeds (what the number means);
- ``needed``: what the tolerance must cover. The test compares one seed across machines, so it
  must cover the range over instruction sets, with a factor 2 (we see only 2 or 3 of them).
  Where that range has grown to a tenth of the seed spread or more, training has amplified the
  last-bit differences into a different trajectory, and another machine's value is a draw from
  the seed spread: the tolerance must then also cover 3 standard deviations of it. So
  ``needed = 2 x isa range`` if ``isa range < 0.1 x seed sd`` ("stable"), else
  ``max(2 x isa range, 3 x seed sd)`` ("chaotic", marked ``*``);
- ``declared``: the chapter's tolerance at the baseline, ``atol + rtol * |baseline|``;
- ``ok``: ``declared >= needed``; a headline the chapter declares ``quick_unstable`` is printed
  with its spread but not compared (the tests do not hold it to a baseline either).

``--full`` runs full mode instead (seed 0, each level), and prints each headline under each
level and every glued value, the prose's verdicts included, that differs between levels: which
of the book's claims another machine would state otherwise.

A chapter declares a ``seed`` in its parameters cell to take part in the seed spread; one that
does not is run at seed 0 only (its seed sd is printed as "-"). Headlines that a chapter records
only in full mode are not in its quick run and do not appear. The exit status is 1 when any
headline's tolerance is below what it needs, so the script can gate a change.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from booktools import (  # noqa: E402
    BASELINES,
    chapters,
    cpu_capabilities,
    emulation_env,
    load_notebook,
    parameters_cell,
    slug,
    source,
)

ISA_FACTOR = 2.0  # margin on the range over instruction sets (only 2 or 3 of them are seen)
SEED_SDS = 3.0  # standard deviations of the seed spread a tolerance must cover
CHAOS = 0.1  # an isa range this large against the seed sd means training amplified it


def needed_tolerance(isa_range: float, seed_sd: float | None) -> tuple[float, bool]:
    """What a headline's tolerance must cover, and whether training amplified the last-bit
    differences (the range over levels reached ``CHAOS`` times the seed spread): see above."""
    chaotic = bool(seed_sd) and isa_range >= CHAOS * seed_sd
    return max(ISA_FACTOR * isa_range, SEED_SDS * seed_sd if chaotic else 0.0), chaotic


def native_capability() -> str:
    out = subprocess.run([sys.executable, "-c", "import torch; print(torch.backends.cpu.get_cpu_capability())"],
                         capture_output=True, text=True, check=True,
                         env={k: v for k, v in os.environ.items() if k != "ATEN_CPU_CAPABILITY"})
    return out.stdout.strip().lower()


def declares_seed(path: Path) -> bool:
    cell = parameters_cell(load_notebook(path))
    return cell is not None and any(line.split("=")[0].strip() == "seed"
                                    for line in source(cell).splitlines() if "=" in line)


def glued_texts(notebook: Path) -> dict[str, str]:
    """Every value an executed chapter glued, as the text the prose would paste."""
    found = {}
    for cell in json.loads(notebook.read_text())["cells"]:
        for output in cell.get("outputs", []):
            name = output.get("metadata", {}).get("scrapbook", {}).get("name", "")
            text = output.get("data", {}).get("application/papermill.record/text/plain")
            if name and not name.startswith("_headline:") and text is not None:
                found[name] = text if isinstance(text, str) else "".join(text)
    return found


def run_one(path: Path, capability: str, seed: int | None, workdir: Path,
            quick: bool = True) -> dict[str, dict]:
    """Execute one chapter in a fresh process; return its headline declarations (and, under the
    key ``None``, every glued value as text)."""
    tag = f"{slug(path)}-{capability}-{'x' if seed is None else seed}-{'quick' if quick else 'full'}"
    out = workdir / f"{tag}.ipynb"
    results = workdir / f"runs-{tag}"
    params = {"quick": quick} if seed is None else {"quick": quick, "seed": seed}
    code = (
        "import json, sys, papermill as pm\n"
        "from scalingbook.book import read_headlines\n"
        "from dataclasses import asdict\n"
        f"pm.execute_notebook({str(path)!r}, {str(out)!r}, parameters={params!r}, "
        f"cwd={str(path.parent)!r}, kernel_name='python3', progress_bar=False)\n"
        f"print(json.dumps({{k: asdict(h) for k, h in read_headlines({str(out)!r}).items()}}))\n"
    )
    env = {**os.environ, **emulation_env(capability), "SCALINGBOOK_RESULTS": str(results),
           "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{tag} failed:\n{done.stderr[-3000:]}")
    return {**json.loads(done.stdout.strip().splitlines()[-1]), None: glued_texts(out)}


def compare_full_mode(paths: list[Path], caps: list[str], jobs: int, json_path: str | None) -> int:
    """Full mode at seed 0 under each level: every headline's values and range, and every glued
    text that is not the same under all levels (a verdict of the prose that the CPU decides)."""
    values = {}
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(jobs) as pool:
        futures = {(path, cap): pool.submit(run_one, path, cap, 0 if declares_seed(path) else None,
                                            Path(tmp), False) for path in paths for cap in caps}
        for (path, cap), fut in futures.items():
            values[(slug(path), cap)] = fut.result()
            print(f"  ran {slug(path)} in full mode at {cap}", flush=True)
    report = {}
    for path in paths:
        name = slug(path)
        runs = {cap: values[(name, cap)] for cap in caps}
        print(f"\n{name}, full mode, seed 0")
        for h in sorted(set.intersection(*(set(v) - {None} for v in runs.values()))):
            vals = [runs[cap][h]["value"] for cap in caps]
            print(f"  {h:<26} " + " ".join(f"{cap}={v:<12.6g}" for cap, v in zip(caps, vals))
                  + f" range {max(vals) - min(vals):.3g}")
        texts = {cap: runs[cap][None] for cap in caps}
        names = sorted(set.intersection(*(set(t) for t in texts.values())))
        differ = [n for n in names if len({texts[cap][n] for cap in caps}) > 1]
        print(f"  glued values: {len(names) - len(differ)} of {len(names)} the same under "
              f"{', '.join(caps)}; differing:")
        for n in differ:
            print(f"    {n}: " + " | ".join(f"{cap}: {texts[cap][n][:70]}" for cap in caps))
        report[name] = {"headlines": {cap: {h: d["value"] for h, d in runs[cap].items() if h}
                                      for cap in caps}, "differing_glue": {
                            n: {cap: texts[cap][n] for cap in caps} for n in differ}}
    if json_path:
        Path(json_path).write_text(json.dumps(report, indent=1))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chapters", help="comma-separated chapter names (default: all)")
    parser.add_argument("--capabilities", help="comma-separated ATEN_CPU_CAPABILITY levels "
                        "(default: every level this CPU has)")
    parser.add_argument("--seeds", default="0,1,2,3", help="seeds for the seed spread (default 0,1,2,3)")
    parser.add_argument("--jobs", type=int, default=2, help="chapters run at once (default 2)")
    parser.add_argument("--json", help="write every value to this file")
    parser.add_argument("--full", action="store_true",
                        help="run full mode at seed 0 under each level instead, and print how "
                        "each headline and each glued text (the prose's verdicts) differ")
    args = parser.parse_args(argv)

    paths = chapters()
    if args.chapters:
        wanted = args.chapters.split(",")
        unknown = set(wanted) - {slug(p) for p in paths}
        if unknown:
            parser.error(f"--chapters: no chapter named {sorted(unknown)}")
        paths = [p for p in paths if slug(p) in wanted]
    caps = args.capabilities.split(",") if args.capabilities else cpu_capabilities()
    native = native_capability()
    seeds = [int(s) for s in args.seeds.split(",")]
    if 0 not in seeds:
        parser.error("--seeds must include 0, the seed the baselines are written at")
    if args.full:
        print(f"full mode at seed 0 under {caps} (native {native})", flush=True)
        return compare_full_mode(paths, caps, args.jobs, args.json)
    print(f"instruction sets {caps} (native {native}); seeds {seeds} at {native}", flush=True)

    jobs = []
    for path in paths:
        with_seed = declares_seed(path)
        for cap in caps:
            jobs.append((path, cap, 0 if with_seed else None))
        if with_seed:
            jobs += [(path, native, s) for s in seeds if s != 0 and native in caps]
    values, broken = {}, []
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(args.jobs) as pool:
        futures = {job: pool.submit(run_one, *job, Path(tmp)) for job in jobs}
        for (path, cap, seed), fut in futures.items():
            try:
                values[(slug(path), cap, seed)] = fut.result()
            except RuntimeError as err:  # report it, measure the rest
                broken.append(slug(path))
                print(f"  FAILED {slug(path)} at {cap}, seed {seed}: {err}", flush=True)
                continue
            print(f"  ran {slug(path)} at {cap}, seed {seed}", flush=True)
    paths = [p for p in paths if slug(p) not in broken]

    rows, failed = [], 0
    for path in paths:
        name = slug(path)
        base_file = BASELINES / f"{name}.json"
        baseline = json.loads(base_file.read_text())["quick"] if base_file.exists() else {}
        seed0 = 0 if declares_seed(path) else None
        at_isa = {cap: values[(name, cap, seed0)] for cap in caps}
        headlines = sorted(set.intersection(*(set(v) - {None} for v in at_isa.values())))
        for h in headlines:
            decl = at_isa[native if native in caps else caps[-1]][h]
            isa_vals = [at_isa[cap][h]["value"] for cap in caps]
            seed_vals = [values[(name, native, s)][h]["value"] for s in seeds
                         if (name, native, s) in values and h in values[(name, native, s)]]
            isa_range = max(isa_vals) - min(isa_vals)
            seed_sd = statistics.stdev(seed_vals) if len(seed_vals) > 1 else None
            needed, chaotic = needed_tolerance(isa_range, seed_sd)
            b = baseline.get(h)
            declared = decl["atol"] + decl["rtol"] * abs(b if b is not None else decl["value"])
            unstable = bool(decl.get("quick_unstable"))
            ok = declared >= needed or unstable  # an unstable number is not compared
            failed += not ok
            rows.append({"chapter": name, "headline": h, "baseline": b,
                         **{f"value_{cap}": at_isa[cap][h]["value"] for cap in caps},
                         "seed_values": seed_vals, "isa_range": isa_range, "seed_sd": seed_sd,
                         "chaotic": chaotic, "quick_unstable": unstable,
                         "needed": needed, "declared": declared, "ok": ok})

    print()
    head = f"{'chapter':<20} {'headline':<24} {'baseline':>11} " + " ".join(
        f"{cap:>11}" for cap in caps) + f" {'isa range':>10} {'seed sd':>10} {'needed':>10} {'declared':>10}  ok"
    print(head)
    print("-" * len(head))
    for r in rows:
        fmt = lambda v: f"{v:>11.5g}" if v is not None else f"{'-':>11}"  # noqa: E731
        sd = f"{r['seed_sd']:>10.3g}" if r["seed_sd"] is not None else f"{'-':>10}"
        print(f"{r['chapter']:<20} {r['headline']:<24} {fmt(r['baseline'])} "
              + " ".join(fmt(r[f'value_{cap}']) for cap in caps)
              + f" {r['isa_range']:>10.3g} {sd} {r['needed']:>9.3g}{'*' if r['chaotic'] else ' '}"
              + f" {r['declared']:>10.3g}  "
              + ("not compared (quick_unstable)" if r["quick_unstable"] else
                 "yes" if r["ok"] else "NO"))
    print(f"\n{len(rows) - failed} of {len(rows)} tolerances cover the measured spread (needed = "
          f"{ISA_FACTOR:g} x isa range, and {SEED_SDS:g} x seed sd where * marks the isa range "
          f"reaching {CHAOS:g} x seed sd)")
    if args.json:
        Path(args.json).write_text(json.dumps({"capabilities": caps, "native": native, "seeds": seeds,
                                               "rows": rows}, indent=1))
    if broken:
        print(f"chapters that failed to run: {sorted(set(broken))}")
    return 1 if failed or broken else 0


if __name__ == "__main__":
    sys.exit(main())
