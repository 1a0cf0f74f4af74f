"""The command line (scalingbook.cli): `python -m scalingbook fit runs.csv ...`.

Most tests call ``main(argv)`` in-process; one runs the real ``python -m scalingbook`` in a
subprocess. Fits use ``--starts`` with a few starts and a few bootstrap refits to stay fast.
"""

import contextlib
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scalingbook.cli import main
from scalingbook.laws import ChinchillaLaw, power_law_with_offset

PLANTED = ChinchillaLaw(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
REPO = Path(__file__).resolve().parents[1]


def run(*argv) -> tuple[int, str, str]:
    """main(argv) with its stdout and stderr captured."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def write_runs(path: Path, noise: float = 0.005, seed: int = 0) -> Path:
    """A 6 x 6 grid of runs (1e7..1e11 parameters, 1e8..1e13 tokens) from the planted law,
    with seeded log-normal noise and a `seed` column (six groups) for the group bootstrap."""
    N = np.repeat(np.geomspace(1e7, 1e11, 6), 6)
    D = np.tile(np.geomspace(1e8, 1e13, 6), 6)
    loss = PLANTED.loss(N, D) * np.exp(np.random.default_rng(seed).normal(0.0, noise, N.size))
    rows = [f"{n:.6g},{d:.6g},{l:.6f},{i % 6}" for i, (n, d, l) in enumerate(zip(N, D, loss))]
    lines = ["N,D,loss,seed", *rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def printed_params(out: str) -> dict[str, float]:
    """The parameter table of the report: lines like '  alpha = 0.3412  95% CI [...]'."""
    table = re.finditer(r"^  (\w+)\s+= ([-+]?\d[\d.eE+-]*)", out, flags=re.MULTILINE)
    return {m[1]: float(m[2]) for m in table}


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    """One fit with every output: bootstrap over groups, a prediction, a budget, chart and JSON."""
    tmp = tmp_path_factory.mktemp("cli")
    csv = write_runs(tmp / "runs.csv")
    code, out, err = run("fit", csv, "--starts", 32, "--bootstrap", 10, "--group-col", "seed",
                         "--predict", "N=7e10,D=1.4e12", "--budget", "5.76e23",
                         "--plot", tmp / "fit.html", "--json", tmp / "fit.json")
    return {"code": code, "out": out, "err": err, "dir": tmp, "csv": csv}


def test_fit_prints_parameters_near_the_planted_law(full_run):
    assert full_run["code"] == 0, full_run["err"]
    assert "Traceback" not in full_run["err"] and "error:" not in full_run["err"]
    p = printed_params(full_run["out"])
    assert p["alpha"] == pytest.approx(0.34, abs=0.03)
    assert p["beta"] == pytest.approx(0.28, abs=0.03)
    assert p["E"] == pytest.approx(1.69, rel=0.05)
    assert p["A"] == pytest.approx(406.4, rel=0.3) and p["B"] == pytest.approx(410.7, rel=0.3)
    out = full_run["out"]
    assert re.search(r"alpha\s+= \S+\s+95% CI \[\S+, \S+\]", out)  # intervals with the estimates
    assert re.search(r"multistart: \d+ of 32 starts", out)
    assert "bootstrap: 10 refits resampling whole groups of column 'seed'" in out


def test_prediction_matches_the_law_and_lies_in_its_band(full_run):
    m = re.search(r"N=7e\+10, D=1\.4e\+12: loss (\S+) \[(\S+), (\S+)\]", full_run["out"])
    assert m, full_run["out"]
    value, low, high = (float(x) for x in m.groups())
    assert value == pytest.approx(PLANTED.loss(7e10, 1.4e12), rel=0.01)
    assert low <= value <= high


def test_json_holds_parameters_intervals_predictions_and_budgets(full_run):
    record = json.loads((full_run["dir"] / "fit.json").read_text())
    p = printed_params(full_run["out"])
    assert set(record["params"]) == {"E", "A", "B", "alpha", "beta"}
    for name, value in record["params"].items():
        assert value == pytest.approx(p[name], rel=1e-5)
        low, high = record["ci95"][name]
        assert low <= high
    assert record["converged"] is True and record["input"]["starts"] == 32
    assert record["input"]["columns"]["group"] == "seed"
    assert record["diagnostics"]["n_starts"] == 32
    (pred,) = record["predictions"]
    assert pred["inputs"] == {"N": 7e10, "D": 1.4e12} and pred["n_bootstrap"] == 10
    assert len(record["bootstrap_params"]["rows"]) == 10
    # The budget is the fitted law's compute-optimal allocation, and close to the planted one's loss.
    (budget,) = record["budgets"]
    fitted = ChinchillaLaw(**record["params"])
    n_opt, d_opt = fitted.compute_optimal(5.76e23)
    assert budget["N_opt"]["value"] == pytest.approx(n_opt, rel=1e-9)
    assert budget["D_opt"]["value"] == pytest.approx(d_opt, rel=1e-9)
    assert budget["loss"]["value"] == pytest.approx(PLANTED.loss_at_compute(5.76e23), rel=0.01)
    assert budget["n_usable"] <= budget["n_bootstrap"] == 10
    low, high = budget["N_opt"]["ci95"]
    assert low <= high
    assert "C=5.76e+23 FLOPs: N*=" in full_run["out"]


def test_plot_is_written_with_the_chart_spec(full_run):
    html = (full_run["dir"] / "fit.html").read_text()
    assert "vega-lite" in html and "tokens D" in html and "crimson" in html  # data, law, prediction
    assert "wrote" in full_run["out"] and "fit.html" in full_run["out"]
    try:
        import vl_convert  # noqa: F401
    except ImportError:
        return
    assert 'src="https://cdn' not in html  # self-contained: Vega is inlined, no network needed


def test_same_csv_and_seed_give_the_same_output(tmp_path):
    csv = write_runs(tmp_path / "runs.csv")
    # Starts that stall run to --max-iter; a lower limit keeps the test fast (the best needs < 100).
    args = ["fit", csv, "--starts", 8, "--max-iter", 300, "--bootstrap", 3, "--predict", "N=1e9,D=1e11"]
    first, second = run(*args, "--json", tmp_path / "a.json"), run(*args, "--json", tmp_path / "b.json")
    strip = lambda text: "\n".join(line for line in text.splitlines() if not line.startswith("wrote"))
    assert first[0] == second[0] == 0
    assert strip(first[1]) == strip(second[1])
    assert (tmp_path / "a.json").read_text() == (tmp_path / "b.json").read_text()
    other = run(*args, "--seed", 1)
    assert other[0] == 0 and strip(other[1]) != strip(first[1])  # the seed moves the intervals


def test_python_dash_m_scalingbook_runs_in_a_subprocess(tmp_path):
    csv = write_runs(tmp_path / "runs.csv")
    done = subprocess.run([sys.executable, "-m", "scalingbook", "fit", str(csv), "--starts", "8",
                           "--max-iter", "300", "--predict", "N=7e10,D=1.4e12"],
                          capture_output=True, text=True, cwd=REPO, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "alpha" in done.stdout and "N=7e+10, D=1.4e+12: loss" in done.stdout
    missing = subprocess.run([sys.executable, "-m", "scalingbook", "fit", str(tmp_path / "nope.csv")],
                             capture_output=True, text=True, cwd=REPO, timeout=120, check=False)
    assert missing.returncode == 2 and missing.stdout == ""
    assert missing.stderr.strip().splitlines() == [f"error: {tmp_path / 'nope.csv'}: no such file"]


def test_power_offset_fits_one_size_column(tmp_path):
    x = np.repeat(np.geomspace(1e5, 1e9, 9), 2)
    y = power_law_with_offset(x, 1.8, 40.0, 0.3) * np.exp(np.random.default_rng(0).normal(0, 0.003, x.size))
    csv = tmp_path / "sizes.csv"
    csv.write_text("params,val_loss\n" + "".join(f"{a:.6g},{b:.6f}\n" for a, b in zip(x, y)))
    code, out, err = run("fit", csv, "--law", "power-offset", "--x-col", "params", "--loss-col", "val_loss",
                         "--bootstrap", 5, "--predict", "params=1e10", "--plot", tmp_path / "po.json")
    assert code == 0, err
    p = printed_params(out)
    assert p["alpha"] == pytest.approx(0.3, abs=0.03) and p["e"] == pytest.approx(1.8, rel=0.03)
    m = re.search(r"params=1e\+10: loss (\S+) \[\S+, \S+\]  \(extrapolates: params 10× the largest run\)", out)
    assert float(m[1]) == pytest.approx(power_law_with_offset(1e10, 1.8, 40.0, 0.3), rel=0.01)
    spec = json.loads((tmp_path / "po.json").read_text())
    assert "layer" in spec and "$schema" in spec


def test_power_law_and_renamed_chinchilla_columns(tmp_path):
    csv = tmp_path / "runs.csv"
    N = np.repeat(np.geomspace(1e7, 1e11, 4), 4)
    D = np.tile(np.geomspace(1e8, 1e13, 4), 4)
    csv.write_text("params,tokens,val_loss\n"
                   + "".join(f"{n:g},{d:g},{l:.6f}\n" for n, d, l in zip(N, D, PLANTED.loss(N, D))))
    code, out, err = run("fit", csv, "--n-col", "params", "--d-col", "tokens", "--loss-col", "val_loss",
                         "--starts", 8, "--predict", "params=1e9,tokens=1e10")
    assert code == 0, err
    assert "N = column 'params'" in out
    m = re.search(r"N=1e\+09, D=1e\+10: loss (\S+)", out)
    assert float(m[1]) == pytest.approx(PLANTED.loss(1e9, 1e10), rel=1e-3)
    code, out, err = run("fit", csv, "--law", "power", "--x-col", "params", "--loss-col", "val_loss")
    assert code == 0, err
    assert set(printed_params(out)) == {"a", "alpha"}


def test_a_fit_that_does_not_converge_warns_and_exits_3(tmp_path):
    csv = write_runs(tmp_path / "runs.csv")
    code, out, err = run("fit", csv, "--starts", 4, "--max-iter", 3)
    assert code == 3
    assert "NOT converged" in out and "alpha" in printed_params(out)
    assert any(line.startswith("warning:") and "converg" in line for line in err.splitlines())
    assert "Traceback" not in err and "error:" not in err


def test_help_documents_the_exit_statuses():
    code, out, _ = run("fit", "--help")
    assert code == 0
    assert "3  the fit did not converge" in out and "--starts" in out and "2  bad input" in out


def test_html_without_vl_convert_loads_vega_from_a_cdn_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "vl_convert", None)  # `import vl_convert` now fails
    csv = write_runs(tmp_path / "runs.csv")
    code, _, err = run("fit", csv, "--law", "power", "--plot", tmp_path / "fit.html")
    assert code == 0, err
    assert [line for line in err.splitlines() if line.startswith("note:")]
    assert "needs network" in err and "cdn" in (tmp_path / "fit.html").read_text()


# ---------------------------------------------------------------------------------------------
# Errors: one `error:` line on stderr, exit status 2, nothing on stdout, never a traceback
# ---------------------------------------------------------------------------------------------

GOOD = "N,D,loss\n" + "".join(
    f"{n:g},{d:g},{PLANTED.loss(n, d):.6f}\n" for n in (1e7, 1e8, 1e9) for d in (1e9, 1e10, 1e11))


def with_line(line: int, text: str) -> str:
    """GOOD with file line ``line`` (1 = header) replaced by ``text``."""
    lines = GOOD.splitlines()
    lines[line - 1] = text
    return "\n".join(lines) + "\n"


def with_cell(line: int, column: int, value: str) -> str:
    """GOOD with the cell at file line ``line`` (1 = header), column ``column`` replaced."""
    lines = GOOD.splitlines()
    cells = lines[line - 1].split(",")
    cells[column] = value
    lines[line - 1] = ",".join(cells)
    return "\n".join(lines) + "\n"


ERROR_CASES = {
    # name: (CSV text, or None for no file; extra flags; substrings the error line must contain)
    "missing file": (None, [], ["no such file"]),
    "empty file": ("", [], ["is empty"]),
    "header only": ("N,D,loss\n", [], ["0 data rows", "at least 6"]),
    "too few rows": ("N,D,loss\n" + "".join(GOOD.splitlines(True)[1:5]), [], ["4 data rows", "at least 6"]),
    "missing column": (GOOD.replace("loss", "final_loss"), [],
                       ["no column 'loss'", "--loss-col", "'N', 'D', 'final_loss'"]),
    "misnamed column flag": (GOOD, ["--d-col", "tokens"], ["no column 'tokens'", "--d-col"]),
    "unparsable number": (with_cell(4, 1, "abc"), [], ["line 4", "column 'D' (--d-col)", "'abc'"]),
    "empty cell": (with_cell(3, 2, ""), [], ["line 3", "column 'loss'", "empty"]),
    "NaN": (with_cell(5, 2, "nan"), [], ["line 5", "column 'loss'", "NaN"]),
    "infinity": (with_cell(6, 0, "inf"), [], ["line 6", "column 'N'", "infinite"]),
    "non-positive": (with_cell(2, 0, "-1e7"), [], ["line 2", "column 'N' (--n-col)", "'-1e7'", "above 0"]),
    "zero loss": (with_cell(7, 2, "0"), [], ["line 7", "column 'loss'", "above 0"]),
    "short row": (with_line(6, "1e8,2.9"), [], ["line 6", "2 fields", "header has 3", "column 'loss'"]),
    "missing group column": (GOOD, ["--group-col", "seed"], ["no column 'seed'", "--group-col"]),
    "one distinct N": ("N,D,loss\n" + "".join(f"1e7,{10.0**k:g},{3 - k / 10}\n" for k in range(7)),
                       [], ["column 'N' (--n-col)", "single distinct value"]),
    "predict syntax": (GOOD, ["--predict", "N7e10"], ["--predict", "NAME=VALUE"]),
    "predict unknown name": (GOOD, ["--predict", "N=7e10,Q=3"],
                             ["unknown name Q in --predict; expected N and D"]),
    "predict missing name": (GOOD, ["--predict", "N=7e10"], ["--predict N=7e10 lacks D"]),
    "predict non-positive": (GOOD, ["--predict", "N=-1,D=1e9"], ["--predict", "above 0"]),
    "bootstrap of 1": (GOOD, ["--bootstrap", "1"], ["--bootstrap", "at least 2"]),
    "bootstrap not a number": (GOOD, ["--bootstrap", "many"], ["--bootstrap", "integer"]),
    "starts out of range": (GOOD, ["--starts", "5000"], ["--starts", "at most 4500"]),
    "negative delta": (GOOD, ["--delta", "-1"], ["--delta", "above 0"]),
    "budget with power-offset": (GOOD, ["--law", "power-offset", "--budget", "1e21"],
                                 ["--budget applies to --law chinchilla"]),
    "x-col with chinchilla": (GOOD, ["--x-col", "N"], ["--x-col applies to --law power-offset"]),
    "unknown law": (GOOD, ["--law", "kaplan"], ["invalid choice", "kaplan"]),
    "unknown flag": (GOOD, ["--bogus"], ["unrecognized arguments: --bogus"]),
    "plot extension": (GOOD, ["--plot", "fit.txt"], ["--plot fit.txt", ".html"]),
    "plot directory": (GOOD, ["--plot", "no/such/dir/fit.html"], ["--plot", "does not exist"]),
}


@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_bad_input_is_one_error_line_and_exit_2(tmp_path, monkeypatch, case):
    text, flags, expected = ERROR_CASES[case]
    monkeypatch.chdir(tmp_path)
    csv = tmp_path / "runs.csv"
    if text is not None:
        csv.write_text(text)
    code, out, err = run("fit", csv, *flags)
    assert code == 2, (out, err)
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for part in expected:
        assert part in lines[0], (part, lines[0])


def test_an_unreadable_path_and_a_one_group_bootstrap_are_errors_too(tmp_path):
    code, out, err = run("fit", tmp_path)  # a directory
    assert code == 2 and err.strip() == f"error: {tmp_path} is a directory, not a CSV file"
    csv = write_runs(tmp_path / "runs.csv")
    csv.write_text(re.sub(r",\d$", ",0", csv.read_text(), flags=re.MULTILINE))  # every run in group 0
    code, out, err = run("fit", csv, "--starts", 4, "--max-iter", 100, "--bootstrap", 2,
                         "--group-col", "seed")
    lines = err.strip().splitlines()
    assert code == 2 and out == "" and len(lines) == 1, err
    assert lines[0].startswith("error: column 'seed' (--group-col) has a single group")


def test_no_stall_stop_runs_every_start_to_the_end(tmp_path):
    """By default plateau starts are stopped and counted in the multistart line; --no-stall-stop
    lets them run, and is refused for a law it does not apply to."""
    csv = write_runs(tmp_path / "runs.csv")
    args = ["fit", csv, "--starts", 300, "--max-iter", 200]
    code, out, _ = run(*args)
    assert code == 0 and "stalled far above the best" in out
    code, out, _ = run(*args, "--no-stall-stop")
    assert code == 0 and "stalled far above the best" not in out
    code, _, err = run("fit", csv, "--law", "power", "--x-col", "N", "--no-stall-stop")
    assert code != 0 and "--no-stall-stop applies to --law chinchilla only" in err
