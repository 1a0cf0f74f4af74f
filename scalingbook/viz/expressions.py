"""Vega expressions for the laws, so static charts compute the same formulas as the package.

A chart whose sliders move in the static page cannot call Python: the browser evaluates the
law itself, as a Vega expression. These builders write those expressions from the same
definitions as :mod:`scalingbook.laws`, and the unit tests evaluate each expression against
the numpy function over a grid, so the two cannot drift apart silently.

Arguments are Vega expression fragments: a field (``"datum.m"``), a parameter name
(``"alpha"``) or a number.
"""

from __future__ import annotations


def _term(value: str | float) -> str:
    return f"({value})"


def power_law(x: str, a: str | float, alpha: str | float) -> str:
    """Vega expression for a·x^(−alpha) (:func:`scalingbook.laws.power_law`)."""
    return f"{_term(a)} * pow({x}, -{_term(alpha)})"


def power_law_with_offset(x: str, e: str | float, a: str | float, alpha: str | float) -> str:
    """Vega expression for e + a·x^(−alpha) (:func:`scalingbook.laws.power_law_with_offset`)."""
    return f"{_term(e)} + {power_law(x, a, alpha)}"


def learning_curve(
    m: str, best_guess: str | float, irreducible: str | float, m0: str | float, beta: str | float
) -> str:
    """Vega expression for the three-region curve of :class:`scalingbook.laws.LearningCurve`.

    ε(m) = ε∞ + (ε0 − ε∞) / (1 + (m/m0)^β).
    """
    return (
        f"{_term(irreducible)} + ({_term(best_guess)} - {_term(irreducible)})"
        f" / (1 + pow({m} / {_term(m0)}, {_term(beta)}))"
    )
