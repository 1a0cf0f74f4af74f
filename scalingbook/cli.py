"""The command line: fit a scaling law to your own runs, from a CSV file.

    python -m scalingbook fit runs.csv --law chinchilla --bootstrap 200 \\
        --predict N=7e10,D=1.4e12 --budget 5.76e23 --plot fit.html --json fit.json

One row per training run; the columns hold the run's parameters ``N``, training tokens ``D``
and final loss (nats), under names the ``--*-col`` flags set. The command prints the fitted
parameters with their 95% bootstrap intervals, the multistart report, the law's value at the
``--predict`` points and the compute-optimal allocation at the ``--budget`` compute budgets;
``--plot`` writes an Altair chart, ``--json`` everything as JSON.

Exit status: 0 done; 2 bad input (one line on stderr that starts with ``error:``, never a
traceback); 3 the fit did not converge (the results are printed, with a ``warning:`` line).

Everything is deterministic: the same file, flags and ``--seed`` print the same output.
:func:`main` takes the arguments as a list and returns the exit status, so tests and notebooks
can call it in-process; ``python -m scalingbook`` calls it with ``sys.argv``.
"""

from __future__ import annotations

import argparse
import csv
import difflib
import io
import json
import math
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["main"]

EXIT_OK, EXIT_ERROR, EXIT_NOT_CONVERGED = 0, 2, 3
N_HOFFMANN_STARTS = 4500  # the size of scalingbook.fit.hoffmann_grid(); checked when used
PLOT_FORMATS = (".html", ".json", ".png", ".svg", ".pdf")


class CliError(Exception):
    """A problem reported as one ``error:`` line; exit status 2 (bad input) unless ``status`` says."""

    def __init__(self, message: str, status: int = EXIT_ERROR):
        super().__init__(message)
        self.status = status


# ---------------------------------------------------------------------------------------------
# The laws the command fits
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Law:
    """What the command needs to know about one law: its inputs, formula and data needs."""

    name: str
    formula: str
    variables: tuple[str, ...]  # the law's inputs, as --predict names them
    description: str  # for error messages: "the Chinchilla law (5 parameters)"
    min_rows: int  # the fitter's own minimum: parameters plus one


LAWS = {
    "chinchilla": _Law("chinchilla", "L(N, D) = E + A/N^alpha + B/D^beta", ("N", "D"),
                       "the Chinchilla law (5 parameters)", 6),
    "power-offset": _Law("power-offset", "L(x) = e + a x^-alpha", ("x",),
                         "a power law with offset (3 parameters)", 4),
    "power": _Law("power", "L(x) = a x^-alpha", ("x",), "a power law (2 parameters)", 3),
}


# ---------------------------------------------------------------------------------------------
# Flags
# ---------------------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one ``error:`` line (argparse prints usage and its prog)."""

    def error(self, message: str):  # type: ignore[override]
        raise CliError(f"{message} (see '{self.prog} --help')")


def _int_at_least(minimum: int, maximum: int | None = None):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            upper = f" and at most {maximum}" if maximum is not None else ""
            raise argparse.ArgumentTypeError(f"must be at least {minimum}{upper}, got {value}")
        return value
    return parse


def _bootstrap_count(text: str) -> int:
    value = _int_at_least(0)(text)
    if value == 1:
        raise argparse.ArgumentTypeError("must be 0 (no bootstrap) or at least 2 refits, got 1")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number above 0, got {text!r}")
    return value


def _predict_point(text: str) -> tuple[str, list[tuple[str, float]]]:
    """``N=7e10,D=1.4e12`` -> (the text, [("N", 7e10), ("D", 1.4e12)]); names are checked later."""
    pairs = []
    for part in text.split(","):
        name, eq, value = part.partition("=")
        name, value = name.strip(), value.strip()
        if not eq or not name or not value:
            raise argparse.ArgumentTypeError(
                f"expected NAME=VALUE pairs separated by commas (e.g. N=7e10,D=1.4e12), got {text!r}")
        try:
            number = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name}={value}: {value!r} is not a number") from None
        if not math.isfinite(number) or number <= 0:
            raise argparse.ArgumentTypeError(f"{name}={value}: must be a finite number above 0")
        pairs.append((name, number))
    return text, pairs


HELP_EPILOG = f"""\
input:
  A CSV file (or - for standard input), one row per training run, with a header line. Blank
  lines and lines starting with # are skipped. Every value the law uses must be a finite number
  above 0 (a law fitted in log space).

laws:
  chinchilla     {LAWS['chinchilla'].formula}  (Hoffmann et al. 2022, approach 3:
                 Huber loss on log residuals, L-BFGS from Hoffmann's grid of 4,500 starts)
  power-offset   {LAWS['power-offset'].formula}   (log-space least squares, 20 starts)
  power          {LAWS['power'].formula}          (least squares in log-log space)

starts (chinchilla):
  --starts K fits from K of the 4,500 starts instead of all: a fixed pseudo-random subset
  (numpy default_rng(0), independent of --seed), the same K starts on every run, and a larger
  K contains a smaller K's starts. Good for quick looks; check the multistart report.

intervals:
  95% percentile-bootstrap intervals from --bootstrap refits on resampled runs (whole groups of
  runs with --group-col). A prediction's band is the spread of the law's value across refits:
  a band for the mean loss at that size, not for one new run.

exit status:
  0  done
  2  bad input or flags: one line on stderr starting with 'error:'
  3  the fit did not converge: the results are printed, with a 'warning:' line on stderr
     (or it failed outright, e.g. every start diverged: one 'error:' line)

examples:
  python -m scalingbook fit runs.csv --bootstrap 200 --predict N=7e10,D=1.4e12 --plot fit.html
  python -m scalingbook fit runs.csv --n-col params --d-col tokens --loss-col val_loss --budget 1e24
  python -m scalingbook fit sizes.csv --law power-offset --x-col N --predict N=1e9
"""


def _parser() -> _Parser:
    parser = _Parser(prog="python -m scalingbook",
                     description="Command line of scalingbook, the package behind the scaling-laws book.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="{fit}")
    fit = commands.add_parser(
        "fit", help="fit a scaling law to runs in a CSV file",
        description="Fit a scaling law to your runs (one CSV row per run) and print the parameters\n"
                    "with intervals, predictions and compute-optimal allocations.",
        epilog=HELP_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    fit.add_argument("csv", help="CSV file of runs, or - for standard input")
    fit.add_argument("--law", choices=list(LAWS), default="chinchilla",
                     help="the law to fit (default: chinchilla)")
    cols = fit.add_argument_group("columns")
    cols.add_argument("--n-col", metavar="NAME", help="parameters per run (chinchilla; default: N)")
    cols.add_argument("--d-col", metavar="NAME", help="training tokens per run (chinchilla; default: D)")
    cols.add_argument("--x-col", metavar="NAME",
                      help="the size the one-variable laws scale with (default: N)")
    cols.add_argument("--loss-col", metavar="NAME", default="loss",
                      help="final loss in nats (default: loss)")
    cols.add_argument("--group-col", metavar="NAME",
                      help="optional group label (model family, seed): the bootstrap resamples groups")
    cols.add_argument("--sep", default=",", help="field separator (default: ','; use $'\\t' for TSV)")
    est = fit.add_argument_group("estimation")
    est.add_argument("--bootstrap", type=_bootstrap_count, default=0, metavar="B",
                     help="bootstrap refits for 95%% intervals (default: 0, none)")
    est.add_argument("--seed", type=_int_at_least(0), default=0, help="bootstrap seed (default: 0)")
    est.add_argument("--delta", type=_positive_float,
                     help="Huber threshold on log residuals (chinchilla; default: 1e-3)")
    est.add_argument("--starts", type=_int_at_least(1, N_HOFFMANN_STARTS), metavar="K",
                     help="fit from K of Hoffmann's 4,500 starts (chinchilla; default: all; see below)")
    est.add_argument("--max-iter", type=_int_at_least(1), metavar="M",
                     help="L-BFGS iterations per start (chinchilla; default: 1000)")
    est.add_argument("--no-stall-stop", action="store_true",
                     help="run every start until it converges or reaches --max-iter, instead of "
                          "stopping starts stalled on a plateau far above the best (chinchilla)")
    out = fit.add_argument_group("output")
    out.add_argument("--predict", type=_predict_point, action="append", default=[], metavar="N=..,D=..",
                     help="the law at these inputs, with its bootstrap band (repeatable)")
    out.add_argument("--budget", type=_positive_float, action="append", default=[], metavar="C",
                     help="compute-optimal N*, D* and loss at C FLOPs, C = 6ND (chinchilla; repeatable)")
    out.add_argument("--plot", metavar="PATH",
                     help="write a chart: .html (self-contained), .json (Vega-Lite), .png, .svg or .pdf")
    out.add_argument("--json", metavar="PATH",
                     help="write parameters, intervals, predictions and diagnostics as JSON")
    out.add_argument("--debug", action="store_true", help="show the Python traceback of unexpected errors")
    return parser


@dataclass(frozen=True)
class _Columns:
    """The CSV columns one fit reads, each with the flag that names it."""

    inputs: dict[str, tuple[str, str]]  # law variable -> (column, flag)
    loss: str
    group: str | None


def _check_flags(args: argparse.Namespace) -> _Columns:
    """Resolve column defaults and refuse flags that the chosen law would silently ignore."""
    law = LAWS[args.law]
    if law.name == "chinchilla":
        misplaced = {"--x-col": args.x_col}
        inputs = {"N": (args.n_col or "N", "--n-col"), "D": (args.d_col or "D", "--d-col")}
    else:
        misplaced = {"--n-col": args.n_col, "--d-col": args.d_col, "--delta": args.delta,
                     "--starts": args.starts, "--max-iter": args.max_iter, "--budget": args.budget or None,
                     "--no-stall-stop": args.no_stall_stop or None}
        inputs = {"x": (args.x_col or "N", "--x-col")}
    for flag, value in misplaced.items():
        if value is not None:
            needs = "--law power-offset or --law power" if flag == "--x-col" else "--law chinchilla"
            raise CliError(f"{flag} applies to {needs} only (this is --law {law.name})")
    for path_flag in ("plot", "json"):
        path = getattr(args, path_flag)
        if path is None:
            continue
        if path_flag == "plot" and Path(path).suffix.lower() not in PLOT_FORMATS:
            raise CliError(f"--plot {path}: the file name must end in {', '.join(PLOT_FORMATS)}")
        parent = Path(path).parent
        if not parent.is_dir():
            raise CliError(f"--{path_flag} {path}: directory {str(parent)!r} does not exist")
    return _Columns(inputs, args.loss_col, args.group_col)


# ---------------------------------------------------------------------------------------------
# Reading the runs
# ---------------------------------------------------------------------------------------------


@dataclass
class _Table:
    source: str
    header: list[str]
    rows: list[tuple[int, list[str]]]  # (line number in the file, cells)

    def index(self, column: str, flag: str) -> int:
        if column not in self.header:
            close = difflib.get_close_matches(column, self.header, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            have = ", ".join(repr(c) for c in self.header)
            raise CliError(f"{self.source} has no column {column!r} (set {flag}); "
                           f"its columns are {have}{hint}")
        if self.header.count(column) > 1:
            raise CliError(f"{self.source}: column {column!r} appears {self.header.count(column)} "
                           "times in the header")
        return self.header.index(column)

    def cells(self, column: str, flag: str) -> list[tuple[int, str]]:
        """(line, stripped cell) for every row; a row too short for the column is an error."""
        i = self.index(column, flag)
        out = []
        for line, cells in self.rows:
            if i >= len(cells):
                raise CliError(f"{self.source} line {line}: {len(cells)} fields but the header has "
                               f"{len(self.header)}, so column {column!r} ({flag}) is missing")
            out.append((line, cells[i].strip()))
        return out

    def numbers(self, column: str, flag: str) -> np.ndarray:
        """A column as floats, each finite and above 0; the first bad cell is named with its line."""
        values = np.empty(len(self.rows))
        for k, (line, cell) in enumerate(self.cells(column, flag)):
            where = f"{self.source} line {line}: column {column!r} ({flag})"
            if not cell:
                raise CliError(f"{where} is empty")
            try:
                value = float(cell)
            except ValueError:
                raise CliError(f"{where} has {cell!r}, which is not a number") from None
            if math.isnan(value):
                raise CliError(f"{where} is NaN")
            if math.isinf(value):
                raise CliError(f"{where} is infinite ({cell!r})")
            if value <= 0:
                raise CliError(f"{where} has {cell!r}; the law needs values above 0 (fitted in log space)")
            values[k] = value
        return values

    def labels(self, column: str, flag: str) -> np.ndarray:
        cells = self.cells(column, flag)
        for line, cell in cells:
            if not cell:
                raise CliError(f"{self.source} line {line}: column {column!r} ({flag}) is empty")
        return np.array([cell for _, cell in cells])


def _read_table(path: str, sep: str) -> _Table:
    if len(sep) != 1:
        raise CliError(f"--sep must be one character, got {sep!r}")
    source = "<stdin>" if path == "-" else path
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise CliError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CliError(f"{path} is a directory, not a CSV file") from None
    except UnicodeDecodeError as exc:
        raise CliError(f"cannot read {path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}") from None
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")), delimiter=sep)  # a BOM on stdin
    header: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    try:
        for cells in reader:
            if not any(c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
                continue
            if header is None:
                header = [c.strip() for c in cells]
            else:
                rows.append((reader.line_num, cells))
    except csv.Error as exc:
        raise CliError(f"{source} line {reader.line_num}: not valid CSV ({exc})") from None
    if header is None:
        raise CliError(f"{source} is empty: expected a header line and one row per run")
    return _Table(source, header, rows)


@dataclass
class _Runs:
    inputs: dict[str, np.ndarray]  # law variable -> values
    loss: np.ndarray
    groups: np.ndarray | None


def _read_runs(table: _Table, columns: _Columns, law: _Law) -> _Runs:
    inputs = {var: table.numbers(col, flag) for var, (col, flag) in columns.inputs.items()}
    loss = table.numbers(columns.loss, "--loss-col")
    groups = table.labels(columns.group, "--group-col") if columns.group else None
    if len(loss) < law.min_rows:
        raise CliError(f"{table.source} has {len(loss)} data row{'s' * (len(loss) != 1)}; "
                       f"{law.description} needs at least {law.min_rows}")
    return _Runs(inputs, loss, groups)


# ---------------------------------------------------------------------------------------------
# Fitting
# ---------------------------------------------------------------------------------------------


def _start_subset(k: int) -> np.ndarray:
    """K of Hoffmann's starts: the first K of a fixed permutation, in grid order (see --help)."""
    from scalingbook.fit import hoffmann_grid

    grid = hoffmann_grid()
    assert len(grid) == N_HOFFMANN_STARTS
    return grid[np.sort(np.random.default_rng(0).permutation(len(grid))[:k])]


def _explain(exc: ValueError, columns: _Columns, law: _Law) -> str:
    """A fitter's ValueError names its argument (N, D, loss, x, y, groups); say the column instead."""
    if law.name == "chinchilla":
        names = {**columns.inputs, "loss": (columns.loss, "--loss-col")}
    else:
        names = {"x": columns.inputs["x"], "y": (columns.loss, "--loss-col")}
    if columns.group:
        names["groups"] = (columns.group, "--group-col")
    message = str(exc)
    first, _, rest = message.partition(" ")
    if first in names:
        column, flag = names[first]
        return f"column {column!r} ({flag}) {rest}"
    return message


def _fit(args: argparse.Namespace, runs: _Runs, columns: _Columns, law: _Law):
    """Run the fitter; returns (FitResult, warning messages it issued)."""
    from scalingbook.fit import fit_chinchilla, fit_power_law, fit_power_law_with_offset

    common = {"bootstrap": args.bootstrap, "seed": args.seed, "groups": runs.groups}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if law.name == "chinchilla":
                # Only the flags given: the fitter's own defaults stay the single source of truth.
                options = {"delta": args.delta, "max_iter": args.max_iter,
                           "starts": _start_subset(args.starts) if args.starts else None}
                options = {k: v for k, v in options.items() if v is not None}
                if args.no_stall_stop:
                    options["stall_window"] = None
                result = fit_chinchilla(runs.inputs["N"], runs.inputs["D"], runs.loss, **common, **options)
            elif law.name == "power-offset":
                result = fit_power_law_with_offset(runs.inputs["x"], runs.loss, **common)
            else:
                result = fit_power_law(runs.inputs["x"], runs.loss, **common)
        except ValueError as exc:
            raise CliError(_explain(exc, columns, law)) from None
        except RuntimeError as exc:  # e.g. every start ended with a non-finite objective
            raise CliError(f"the fit failed: {exc}", EXIT_NOT_CONVERGED) from None
    messages = []
    for w in caught:
        text = str(w.message).removeprefix("fit_chinchilla: ")
        if text not in messages:
            messages.append(text)
    return result, messages


def _interval(samples: np.ndarray) -> tuple[float, float] | None:
    """The central 95% of finite samples, or None with fewer than 2."""
    samples = np.asarray(samples, dtype=float)
    samples = samples[np.isfinite(samples)]
    if len(samples) < 2:
        return None
    low, high = np.percentile(samples, [2.5, 97.5])
    return float(low), float(high)


def _bootstrap_laws(result) -> tuple[list, int]:
    """ChinchillaLaws of the bootstrap refits whose exponents are positive, and how many refits."""
    from scalingbook.laws import ChinchillaLaw

    if result.bootstrap_params is None:
        return [], 0
    laws = []
    for row in result.bootstrap_params:
        try:
            laws.append(ChinchillaLaw(**dict(zip(result.params, map(float, row)))))
        except ValueError:  # a non-positive exponent (or a non-finite value): no allocation
            pass
    return laws, len(result.bootstrap_params)


def _predict_points(args, columns: _Columns, law: _Law) -> list[dict[str, float]]:
    """Each --predict as {law variable: value}, checked against the law before any fitting."""
    names = {var: (col if var == "x" else var) for var, (col, _) in columns.inputs.items()}
    aliases = {name: var for var, name in names.items()}
    for var, (col, _) in columns.inputs.items():
        aliases.setdefault(col, var)  # the column name works too: --n-col params, params=7e10
    if "x" in names:
        aliases.setdefault("x", "x")
    expected = " and ".join(names.values())
    points = []
    for text, pairs in args.predict:
        point: dict[str, float] = {}
        for name, value in pairs:
            if name not in aliases:
                raise CliError(f"unknown name {name} in --predict; expected {expected}")
            if aliases[name] in point:
                raise CliError(f"{name} given twice in one --predict")
            point[aliases[name]] = value
        missing = [names[v] for v in law.variables if v not in point]
        if missing:
            raise CliError(f"--predict {text} lacks {' and '.join(missing)}")
        points.append(point)
    return points


def _predictions(points: list[dict[str, float]], result, columns: _Columns, law: _Law) -> list[dict]:
    """The fitted law at each point, with its bootstrap band; inputs keyed by their shown names."""
    names = {var: (col if var == "x" else var) for var, (col, _) in columns.inputs.items()}
    return [{"inputs": {names[v]: point[v] for v in law.variables},
             "prediction": result.predict(*(point[v] for v in law.variables))} for point in points]


def _budgets(args, result) -> list[dict[str, Any]]:
    """Compute-optimal allocation at each --budget, with intervals from the usable refits."""
    if not args.budget or result.law is None:
        return []
    laws, n_boot = _bootstrap_laws(result)
    out = []
    for C in args.budget:
        n_opt, d_opt = result.law.compute_optimal(C)
        entry: dict[str, Any] = {"C": C, "n_usable": len(laws), "n_bootstrap": n_boot}
        boot = np.array([[*lw.compute_optimal(C), lw.tokens_per_parameter(C), lw.loss_at_compute(C)]
                         for lw in laws]).reshape(len(laws), 4)
        for j, (key, value) in enumerate((("N_opt", n_opt), ("D_opt", d_opt),
                                           ("tokens_per_parameter", d_opt / n_opt),
                                           ("loss", result.law.loss_at_compute(C)))):
            entry[key] = {"value": float(value), "ci95": _interval(boot[:, j])}
        out.append(entry)
    return out


def _exponents(result) -> dict[str, Any]:
    """N* ∝ C^a and D* ∝ C^b of the fitted law, with intervals from the usable refits."""
    if result.law is None:
        return {}
    laws, _ = _bootstrap_laws(result)
    return {"a": {"value": result.law.a, "ci95": _interval([lw.a for lw in laws])},
            "b": {"value": result.law.b, "ci95": _interval([lw.b for lw in laws])}}


# ---------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------


def _ci(ci: tuple[float, float] | None, fmt: str = ".4g") -> str:
    return f" [{ci[0]:{fmt}}, {ci[1]:{fmt}}]" if ci else ""


def _vci(entry: dict[str, Any], fmt: str = ".4g") -> str:
    """'1.234 [1.2, 1.3]' from {"value": ..., "ci95": (low, high) or None}."""
    return f"{entry['value']:{fmt}}{_ci(entry['ci95'], fmt)}"


def _span(values: np.ndarray) -> str:
    return f"{values.min():.3g}..{values.max():.3g} ({len(np.unique(values))} distinct)"


def _report(args, table: _Table, runs: _Runs, columns: _Columns, law: _Law, result,
            predictions, budgets, exponents) -> list[str]:
    lines = [f"data: {table.source}, {len(runs.loss)} runs"]
    for var, (col, _) in columns.inputs.items():
        lines.append(f"  {var} = column {col!r}: {_span(runs.inputs[var])}")
    lines.append(f"  loss = column {columns.loss!r}: {runs.loss.min():.4g}..{runs.loss.max():.4g}")
    if runs.groups is not None:
        n_groups = len(np.unique(runs.groups))
        lines.append(f"  groups = column {columns.group!r}: {n_groups} groups")
        if n_groups < 5 and args.bootstrap:
            lines.append(f"  note: a bootstrap over {n_groups} groups has few distinct resamples; "
                         "its intervals mean little")
    lines += ["", f"law: {law.formula}", result.summary()]
    p = result.params
    if law.name == "chinchilla":
        lines.append(f"fitted: L(N, D) = {p['E']:.4g} + {p['A']:.4g}/N^{p['alpha']:.4g}"
                     f" + {p['B']:.4g}/D^{p['beta']:.4g}")
        lines += _multistart_lines(result.diagnostics)
        if exponents:
            lines.append(f"compute-optimal exponents: N* ∝ C^{_vci(exponents['a'])}, "
                         f"D* ∝ C^{_vci(exponents['b'])}")
    elif law.name == "power-offset":
        lines.append(f"fitted: L(x) = {p['e']:.4g} + {p['a']:.4g} x^-{p['alpha']:.4g}")
    else:
        lines.append(f"fitted: L(x) = {p['a']:.4g} x^-{p['alpha']:.4g}")
    if result.n_bootstrap:
        by = f"whole groups of column {columns.group!r}" if runs.groups is not None else "runs"
        lines.append(f"bootstrap: {result.n_bootstrap} refits resampling {by}, seed {args.seed}")
    elif columns.group:
        lines.append("note: --group-col has no effect without --bootstrap")
    if predictions:
        lines += ["", *_prediction_lines(predictions, result, runs)]
    if args.budget:
        lines += ["", *_budget_lines(budgets, result)]
    return lines


def _multistart_lines(d: dict[str, Any]) -> list[str]:
    subset = (f" (--starts: a fixed subset of Hoffmann's {N_HOFFMANN_STARTS:,})"
              if d["n_starts"] < N_HOFFMANN_STARTS else "")
    status = ", ".join(f"{v} {k}" for k, v in d["status_counts"].items() if v)
    if d["n_nonfinite"]:
        status += f", {d['n_nonfinite']} non-finite"
    return [(f"multistart: {d['n_at_best']} of {d['n_starts']} starts{subset} reached the best objective "
             f"(within relative {d['best_rtol']:g})"),
            (f"  the best stopped by: {d['best_status']} after {d['best_iterations']} iterations; "
             f"all starts: {status}")]


def _prediction_lines(predictions, result, runs: _Runs) -> list[str]:
    band = (f"{predictions[0]['prediction'].level:.0%} band of the law from {result.n_bootstrap} refits"
            if result.n_bootstrap else "no band without --bootstrap")
    lines = [f"predictions ({band}):"]
    for entry in predictions:
        pred = entry["prediction"]
        where = ", ".join(f"{k}={v:.4g}" for k, v in entry["inputs"].items())
        band_text = f" [{pred.low:.5g}, {pred.high:.5g}]" if pred.low is not None else ""
        lines.append(f"  {where}: loss {pred.value:.5g}{band_text}{_extrapolation(entry, runs)}")
    return lines


def _budget_lines(budgets, result) -> list[str]:
    if result.law is None:
        return ["compute-optimal allocation: not available, the best fit has a non-positive exponent"]
    n_use, n_boot = budgets[0]["n_usable"], budgets[0]["n_bootstrap"]
    how = (f"95% intervals from the {n_use} of {n_boot} refits with positive exponents"
           if n_boot else "no intervals without --bootstrap")
    lines = [f"compute-optimal allocation under C = 6 N D ({how}):"]
    for b in budgets:
        lines.append(f"  C={b['C']:.4g} FLOPs: N*={_vci(b['N_opt'])}, D*={_vci(b['D_opt'])}, "
                     f"D*/N*={_vci(b['tokens_per_parameter'], '.3g')}, loss {_vci(b['loss'], '.5g')}")
    return lines


def _extrapolation(entry, runs: _Runs) -> str:
    """'  (extrapolates: N 7× the largest run)' when a prediction lies outside the fitted range."""
    parts = []
    for (name, value), data in zip(entry["inputs"].items(), runs.inputs.values()):
        if value > data.max():
            parts.append(f"{name} {value / data.max():.3g}× the largest run")
        elif value < data.min():
            parts.append(f"{name} {data.min() / value:.3g}× below the smallest run")
    return f"  (extrapolates: {', '.join(parts)})" if parts else ""


# ---------------------------------------------------------------------------------------------
# JSON and the chart
# ---------------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """JSON-ready: numpy scalars to Python, NaN and infinities to None, dict keys to str."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def _json_record(args, table, runs, columns, law, result, predictions, budgets, exponents) -> dict:
    diagnostics = {k: v for k, v in result.diagnostics.items() if not isinstance(v, np.ndarray)}
    record = {
        "input": {"csv": table.source, "runs": len(runs.loss), "law": law.name, "formula": law.formula,
                  "columns": {**{var: col for var, (col, _) in columns.inputs.items()},
                              "loss": columns.loss, "group": columns.group},
                  "bootstrap": args.bootstrap, "seed": args.seed},
        "method": result.method,
        "converged": result.converged,
        "params": result.params,
        "ci95": result.ci,
        "stderr": result.stderr,
        "objective": {"name": result.objective, "value": result.loss},
        "n_starts": result.n_starts,
        "notes": result.notes,
        "diagnostics": diagnostics,
        "predictions": [{"inputs": e["inputs"], "loss": e["prediction"].value, "low": e["prediction"].low,
                         "high": e["prediction"].high, "level": e["prediction"].level,
                         "n_bootstrap": e["prediction"].n_bootstrap} for e in predictions],
    }
    if law.name == "chinchilla":
        record["input"].update(delta=result.diagnostics["delta"], starts=result.n_starts)
        record["compute_optimal_exponents"] = exponents
        record["budgets"] = budgets
    if result.bootstrap_params is not None:
        record["bootstrap_params"] = {"names": list(result.params), "rows": result.bootstrap_params}
    return _plain(record)


def _curve_rows(result, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The law (and its bootstrap band) along a grid, as chart columns."""
    pred = result.predict(*inputs.values())
    rows = {**inputs, "loss": np.asarray(pred.value, dtype=float)}
    if pred.low is not None:
        rows["low"], rows["high"] = np.asarray(pred.low, dtype=float), np.asarray(pred.high, dtype=float)
    return rows


def _chart(table, runs: _Runs, columns: _Columns, law: _Law, result, predictions):
    """Loss against N (or x) on log axes: the runs, the fitted law with its band, the predictions.

    For the Chinchilla law the runs are coloured by D (log scale) and the law is drawn as curves
    at fixed D: every tested D on a grid of runs (at most 8), else five quantiles of D, plus the D
    of each prediction, so each prediction sits on a curve.
    """
    import altair as alt
    import pandas as pd

    chinchilla = law.name == "chinchilla"
    x_var = "N" if chinchilla else "x"
    x_col = columns.inputs[x_var][0]
    has_band = result.n_bootstrap > 0

    # --- the data frames ---
    points = pd.DataFrame({**runs.inputs, "loss": runs.loss})
    tooltip = [alt.Tooltip(f"{v}:Q", format=".4~e") for v in runs.inputs]
    tooltip.append(alt.Tooltip("loss:Q", format=".4f"))
    if runs.groups is not None:
        points["group"] = runs.groups
        tooltip.append(alt.Tooltip("group:N", title=columns.group))
    pred_x = [next(iter(e["inputs"].values())) for e in predictions]  # N, or the one size
    xs = np.concatenate([runs.inputs[x_var], pred_x])
    grid = np.geomspace(xs.min() / 1.5, xs.max() * 1.5, 120)
    if chinchilla:
        distinct = np.unique(runs.inputs["D"])
        if len(distinct) > 8:
            distinct = np.quantile(distinct, [0, 0.25, 0.5, 0.75, 1], method="nearest")
        at = np.unique(np.concatenate([distinct, [e["inputs"]["D"] for e in predictions]]))
        curves = pd.concat([pd.DataFrame(_curve_rows(result, {"N": grid, "D": np.full_like(grid, d)}))
                            for d in at], ignore_index=True)
    else:
        curves = pd.DataFrame(_curve_rows(result, {"x": grid}))
    preds = pd.DataFrame([
        {x_var: x, "loss": float(e["prediction"].value),
         "where": ", ".join(f"{k}={v:.3g}" for k, v in e["inputs"].items()),
         **({"low": float(e["prediction"].low), "high": float(e["prediction"].high)}
            if e["prediction"].low is not None else {})}
        for e, x in zip(predictions, pred_x)])

    # --- scales: log axes fitted to what is drawn, not to whole decades ---
    ys = np.concatenate([runs.loss, curves["loss"], *(preds[c] for c in ("low", "high") if c in preds)])
    ys = ys[np.isfinite(ys) & (ys > 0)]
    x_scale = alt.Scale(type="log", domain=[float(grid[0]), float(grid[-1])], nice=False)
    y_scale = alt.Scale(type="log", domain=[float(ys.min() / 1.03), float(ys.max() * 1.03)], nice=False)
    # Label whole decades (the default log axis also labels 2e7, 5e7, ...), unless there are too few.
    decades = [10.0**k for k in range(math.ceil(np.log10(grid[0])), math.floor(np.log10(grid[-1])) + 1)]
    axis = alt.Axis(format=".0e", values=decades) if len(decades) >= 2 else alt.Axis(format=".2~e")
    x_enc = alt.X(f"{x_var}:Q", scale=x_scale, axis=axis,
                  title=f"parameters N (column {x_col!r})" if chinchilla else f"size (column {x_col!r})")
    y_enc = alt.Y("loss:Q", scale=y_scale, title=f"loss (column {columns.loss!r})")
    if chinchilla:
        # One gradient legend, from the points: a legend merged over the lines' stroke and the
        # points' fill would be drawn as a list of symbols. The layers share the colour scale.
        d_scale = alt.Scale(type="log", scheme="viridis")
        color = {"color": alt.Color("D:Q", scale=d_scale, legend=None), "detail": "D:Q"}
        dot_color = {"color": alt.Color("D:Q", scale=d_scale, title="tokens D",
                                        legend=alt.Legend(type="gradient", format=".0e"))}
        p = result.params
        subtitle = (f"E={p['E']:.4g}, A={p['A']:.4g}, B={p['B']:.4g}, α={p['alpha']:.3g}, "
                    f"β={p['beta']:.3g}; curves at fixed D")
    else:
        color = {"color": alt.value("#3182bd")}
        dot_color = {"color": alt.value("black")}
        subtitle = ", ".join(f"{k}={v:.4g}" for k, v in result.params.items())
    if has_band:
        subtitle += f"; bands: 95% of {result.n_bootstrap} bootstrap refits"

    # --- the layers ---
    layers = []
    if has_band:
        layers.append(alt.Chart(curves).mark_area(opacity=0.18).encode(
            x=x_enc, y=alt.Y("low:Q", scale=y_scale), y2="high:Q", **color))
    layers.append(alt.Chart(curves).mark_line(strokeWidth=1.5).encode(x=x_enc, y=y_enc, **color))
    dots = alt.Chart(points).mark_point(filled=True, size=40, opacity=0.9, stroke="black", strokeWidth=0.5)
    layers.append(dots.encode(x=x_enc, y=y_enc, tooltip=tooltip, **dot_color))
    if len(preds):
        if "low" in preds:
            layers.append(alt.Chart(preds).mark_rule(color="black", strokeWidth=1.5).encode(
                x=x_enc, y=alt.Y("low:Q", scale=y_scale), y2="high:Q"))
        pred_tip = ["where:N", alt.Tooltip("loss:Q", format=".4f")]
        if "low" in preds:
            pred_tip += [alt.Tooltip("low:Q", format=".4f"), alt.Tooltip("high:Q", format=".4f")]
        layers.append(alt.Chart(preds).mark_point(shape="diamond", filled=True, size=110, color="crimson")
                      .encode(x=x_enc, y=y_enc, tooltip=pred_tip))
    title = alt.TitleParams(f"{Path(table.source).name}: {law.formula}", subtitle=subtitle, anchor="start")
    chart = alt.layer(*layers).properties(width=520, height=320, title=title)
    return chart.resolve_legend(color="independent").interactive()


def _save_chart(chart, path: str, err) -> str:
    """Write the chart; HTML is self-contained when vl-convert is installed. Returns what was written."""
    import altair as alt

    suffix = Path(path).suffix.lower()
    with alt.data_transformers.disable_max_rows():
        if suffix != ".html":
            try:
                chart.save(path)
            except (ImportError, RuntimeError) as exc:
                first = str(exc).strip().splitlines()[0]
                raise CliError(f"--plot {path}: {suffix} needs vl-convert-python ({first})") from None
            return f"{suffix[1:].upper()} chart"
        try:
            chart.save(path, inline=True)
            return "self-contained HTML chart"
        except (ImportError, RuntimeError):
            chart.save(path)
            print(f"note: vl-convert-python is not installed, so {path} loads Vega from a CDN and "
                  "needs network to draw (pip install vl-convert-python for an offline file)", file=err)
            return "HTML chart (loads Vega from a CDN)"


# ---------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------


def _run_fit(args: argparse.Namespace, out, err) -> int:
    law = LAWS[args.law]
    columns = _check_flags(args)
    table = _read_table(args.csv, args.sep)
    runs = _read_runs(table, columns, law)
    points = _predict_points(args, columns, law)
    result, caught = _fit(args, runs, columns, law)
    predictions = _predictions(points, result, columns, law)
    budgets = _budgets(args, result)
    exponents = _exponents(result) if law.name == "chinchilla" else {}

    print("\n".join(_report(args, table, runs, columns, law, result, predictions, budgets, exponents)),
          file=out)
    written = []
    if args.json:
        record = _json_record(args, table, runs, columns, law, result, predictions, budgets, exponents)
        try:
            text = json.dumps(record, indent=2, ensure_ascii=False) + "\n"
            Path(args.json).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise CliError(f"cannot write --json {args.json}: {exc.strerror or exc}") from None
        written.append(f"wrote {args.json} (JSON)")
    if args.plot:
        try:
            what = _save_chart(_chart(table, runs, columns, law, result, predictions), args.plot, err)
        except OSError as exc:
            raise CliError(f"cannot write --plot {args.plot}: {exc.strerror or exc}") from None
        written.append(f"wrote {args.plot} ({what})")
    if written:
        print("\n" + "\n".join(written), file=out)

    for message in caught:
        print(f"warning: {message}", file=err)
    if not result.converged:
        if not any("converg" in m for m in caught):
            print("warning: the best start did not converge; the parameters are not a trustworthy optimum",
                  file=err)
        return EXIT_NOT_CONVERGED
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``) and return the exit status.

    Output goes to ``sys.stdout``; errors and warnings to ``sys.stderr``, one line each.
    """
    out, err = sys.stdout, sys.stderr
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv
    try:
        try:
            args = _parser().parse_args(argv)
        except SystemExit as exc:  # --help
            return int(exc.code or 0)
        if args.command == "fit":
            return _run_fit(args, out, err)
        raise CliError(f"unknown command {args.command!r}")  # pragma: no cover (argparse refuses it)
    except CliError as exc:
        print(f"error: {exc}", file=err)
        return exc.status
    except KeyboardInterrupt:
        print("error: interrupted", file=err)
        return 130
    except BrokenPipeError:  # `... | head`: the reader left; keep the interpreter's exit quiet
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 1
    except Exception as exc:  # never a traceback, unless asked for
        if debug:
            raise
        first = (str(exc).strip().splitlines() or [""])[0]
        print(f"error: unexpected {type(exc).__name__}: {first} (rerun with --debug for the traceback)",
              file=err)
        return 1
