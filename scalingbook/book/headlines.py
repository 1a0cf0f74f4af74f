"""Headline numbers: the values a chapter states in its prose and the tests hold it to.

A chapter calls :func:`record` for each number it puts in the text. That does two things:

1. it glues the value (myst_nb ``glue``) under ``name``, so the prose can paste it with
   ``{glue:text}`name:.3f```, and no number in the text is typed by hand;
2. it glues, under ``_headline:name``, a small JSON declaration of how far the number may move
   between runs (``rtol``/``atol``) and, where the paper or a theory gives a value our setting
   can reproduce, that ``expected`` value with its tolerance and its source.

The test suite executes each chapter with papermill, reads the declarations back with
:func:`read_headlines`, and compares the values with the baselines stored in ``tests/``.

A tolerance is measured, not guessed: ``benchmarks/headline_noise.py`` prints, per headline, its
spread over CPU instruction sets and over seeds beside the tolerance declared here. A number
that quick mode cannot make stable (one whose spread is as large as what it means) is declared
with ``quick_unstable="why"``: the tests then report it with that reason instead of holding it
to a baseline, and the book (full mode) still glues and declares it.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .._validate import nonnegative_scalar

GLUE_PREFIX = "application/papermill.record/"
_DECL_MIME = GLUE_PREFIX + "application/json"
_DECL_PREFIX = "_headline:"


@dataclass(frozen=True)
class Headline:
    """One headline number and what the tests may expect of it.

    ``rtol``/``atol`` bound the drift from the stored baseline (|v - b| <= atol + rtol*|b|).
    ``expected``/``expected_tol``/``source`` state a value the number must reproduce, within
    an absolute tolerance, and where that value comes from (a paper, a closed-form result).
    ``quick_unstable``, when not empty, says why the quick run's value is not held to a
    baseline (its spread over seeds and CPUs is as large as what it measures).
    """

    name: str
    value: float
    rtol: float = 0.0
    atol: float = 0.0
    expected: float | None = None
    expected_tol: float | None = None
    source: str = ""
    quick_unstable: str = ""

    def within_baseline(self, baseline: float) -> bool:
        return abs(self.value - baseline) <= self.atol + self.rtol * abs(baseline)

    def meets_expected(self) -> bool:
        if self.expected is None:
            return True
        return abs(self.value - self.expected) <= self.expected_tol


def record(
    name: str,
    value: Any,
    *,
    rtol: float = 0.0,
    atol: float = 0.0,
    expected: float | None = None,
    expected_tol: float | None = None,
    source: str = "",
    quick_unstable: str = "",
) -> None:
    """Glue ``value`` under ``name`` for the prose and declare its tolerances for the tests.

    At least one of ``rtol``/``atol`` must be positive: a number produced by training has
    some run-to-run spread, and a zero tolerance would make the regression test brittle
    rather than strict. ``expected`` needs ``expected_tol`` and a ``source``.
    ``quick_unstable`` (a reason, or empty) marks a number the quick run cannot make stable;
    it takes no tolerance and no ``expected`` (nothing is compared in quick mode).
    """
    if not isinstance(name, str) or not name or name.startswith(_DECL_PREFIX):
        raise ValueError(f"name must be a non-empty string not starting with {_DECL_PREFIX!r}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"value for {name!r} must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"value for {name!r} must be finite, got {v!r}")
    rtol = nonnegative_scalar("rtol", rtol)
    atol = nonnegative_scalar("atol", atol)
    if not isinstance(quick_unstable, str):
        raise ValueError(f"headline {name!r}: quick_unstable must be a reason (a string), "
                         f"got {quick_unstable!r}")
    if quick_unstable:
        if rtol or atol or expected is not None:
            raise ValueError(f"headline {name!r}: a quick_unstable number takes no rtol, atol "
                             "or expected (the tests do not compare it)")
    elif rtol == 0 and atol == 0:
        raise ValueError(f"headline {name!r} needs a positive rtol or atol")
    if expected is not None:
        expected = float(expected)
        if expected_tol is None:
            raise ValueError(f"headline {name!r}: expected needs expected_tol")
        expected_tol = nonnegative_scalar("expected_tol", expected_tol)
        if not source:
            raise ValueError(f"headline {name!r}: expected needs a source")
    elif expected_tol is not None:
        raise ValueError(f"headline {name!r}: expected_tol given without expected")
    headline = Headline(name, v, rtol, atol, expected, expected_tol, source, quick_unstable)
    _glue(name, v)
    _glue_declaration(headline)


def _glue(name: str, value: Any) -> None:
    from myst_nb import glue

    glue(name, value, display=False)


def _glue_declaration(headline: Headline) -> None:
    # Emitted the way myst_nb's glue emits an undisplayed value, but with a JSON body, so the
    # tests read it without parsing Python reprs and the book never renders it. nbformat wants
    # a string here (the mime type does not end in "+json").
    from IPython.display import display

    display(
        {_DECL_MIME: json.dumps(asdict(headline))},
        raw=True,
        metadata={"scrapbook": {"name": _DECL_PREFIX + headline.name, "mime_prefix": GLUE_PREFIX}},
    )


def read_headlines(notebook: Any) -> dict[str, Headline]:
    """Read the headline declarations from an executed notebook (a path or an nbformat node)."""
    if isinstance(notebook, (str, Path)):
        notebook = json.loads(Path(notebook).read_text())
    found: dict[str, Headline] = {}
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []) if cell["cell_type"] == "code" else []:
            name = output.get("metadata", {}).get("scrapbook", {}).get("name", "")
            if name.startswith(_DECL_PREFIX) and _DECL_MIME in output.get("data", {}):
                data = output["data"][_DECL_MIME]
                if isinstance(data, str):
                    data = json.loads(data)
                found[data["name"]] = Headline(**data)
    return found
