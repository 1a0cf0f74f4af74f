"""The object every fitter returns: estimates, their uncertainty, residuals and convergence."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["FitResult", "Prediction"]


def parameter_lines(params: dict[str, float], ci: dict[str, tuple[float, float]],
                    stderr: dict[str, float] | None = None, width: int | None = None) -> list[str]:
    """One line per parameter: its estimate, standard error and 95% interval where known."""
    stderr = stderr or {}
    width = width or max(len(name) for name in params)
    lines = []
    for name, value in params.items():
        line = f"  {name:<{width}} = {value:.6g}"
        if name in stderr:
            line += f"  ± {stderr[name]:.3g} (s.e.)"
        if name in ci:
            low, high = ci[name]
            line += f"  95% CI [{low:.6g}, {high:.6g}]"
        lines.append(line)
    return lines


@dataclass(frozen=True)
class Prediction:
    """The fitted law's value at some inputs, with a bootstrap confidence band.

    Attributes
    ----------
    value : ndarray or float
        The law at the best-fit parameters, in the units of the fitted quantity.
    low, high : ndarray or float, or None
        The ``level`` percentile-bootstrap band of the law's value: the spread of the value
        across refits on resampled runs. It is a band for the *law* (the mean loss a run of
        that size would reach), not for one new run's loss, which scatters around the law by
        the run-to-run noise as well. None when the fit had no bootstrap.
    level : float
        Coverage the band aims at, e.g. 0.95.
    n_bootstrap : int
        Refits the band was computed from (0 without bootstrap).
    """

    value: np.ndarray | float
    low: np.ndarray | float | None
    high: np.ndarray | float | None
    level: float
    n_bootstrap: int

    def __repr__(self) -> str:
        if np.ndim(self.value) or self.low is None:
            return (f"Prediction(value={self.value!r}, low={self.low!r}, high={self.high!r}, "
                    f"level={self.level}, n_bootstrap={self.n_bootstrap})")
        return (f"Prediction({self.value:.6g}, {self.level:.0%} band [{self.low:.6g}, {self.high:.6g}] "
                f"from {self.n_bootstrap} refits)")


@dataclass
class FitResult:
    """Outcome of fitting a scaling law to measured points.

    Attributes
    ----------
    params : dict[str, float]
        Best-fit parameters by name, in the law's own units (see the fitter's docstring).
    ci : dict[str, tuple[float, float]]
        95% percentile-bootstrap interval per parameter; empty when no bootstrap was run.
    stderr : dict[str, float]
        Standard errors where the fitter has a closed form for them (may be empty).
    residuals : ndarray, shape (n_points,)
        ``log(y) - log(law(x))`` at the fitted parameters (natural log, dimensionless).
    loss : float
        Final objective, as ``objective`` names it: for the least-squares fitters the sum of
        squared log-space residuals; for ``fit_chinchilla`` the summed (or averaged) Huber loss.
    converged : bool
        Whether the optimizer reported success (always True for closed-form fits).
    n_points : int
        Number of points fitted.
    method : str
        Which fitter produced this result.
    law : callable
        The fitted law: maps sizes (scalar or array) to predicted values.
    bootstrap_params : ndarray, shape (B, k), or None
        One row per bootstrap refit, columns in the order of ``params``; None without bootstrap.
    n_starts : int
        Starting points tried for the full-data fit (1 for closed-form fits).
    notes : list[str]
        Diagnostics worth reading before trusting the numbers: a parameter stuck at its
        search bound, a floor too small to matter, bootstrap refits that did not converge.
    objective : str
        What ``loss`` measures (for the summary line); least-squares fitters keep the default.
    diagnostics : dict
        Fitter-specific details, e.g. for multistart fits how many starts reached the best
        optimum and the spread of the others (empty when the fitter has none).
    evaluate : callable or None
        ``evaluate(params, *x)`` computes the law for any parameter dict (the best fit or a
        bootstrap refit) at inputs ``x``; :meth:`predict` uses it. None if the fitter gives none.
    """

    params: dict[str, float]
    ci: dict[str, tuple[float, float]]
    stderr: dict[str, float]
    residuals: np.ndarray
    loss: float
    converged: bool
    n_points: int
    method: str
    law: Callable[[Any], Any]
    bootstrap_params: np.ndarray | None = None
    n_starts: int = 1
    notes: list[str] = field(default_factory=list)
    objective: str = "sum sq. log residuals"
    diagnostics: dict[str, Any] = field(default_factory=dict)
    evaluate: Callable[..., Any] | None = field(default=None, repr=False)

    @property
    def param_names(self) -> list[str]:
        return list(self.params)

    @property
    def n_bootstrap(self) -> int:
        return 0 if self.bootstrap_params is None else int(self.bootstrap_params.shape[0])

    def predict(self, *x: Any, level: float = 0.95) -> Prediction:
        """The fitted law at ``x`` (for example ``predict(N, D)``), with its bootstrap band.

        Each bootstrap refit's parameters are put through the same law; the band is the
        central ``level`` percentile interval of those values, point by point. Inputs are
        validated by the law (strictly positive, finite); ``level`` must lie in (0, 1).
        """
        if self.evaluate is None:
            raise ValueError(f"{self.method} gives no law evaluator; predict is not available")
        level = float(level)
        if not 0.0 < level < 1.0:
            raise ValueError(f"level must lie strictly between 0 and 1, got {level}")
        value = self.evaluate(self.params, *x)
        if self.bootstrap_params is None:
            return Prediction(value, None, None, level, 0)
        names = list(self.params)
        draws = np.stack([np.asarray(self.evaluate(dict(zip(names, row)), *x), dtype=float)
                          for row in self.bootstrap_params])
        tail = 50.0 * (1.0 - level)
        low, high = np.percentile(draws, [tail, 100.0 - tail], axis=0)
        if np.ndim(value) == 0:
            low, high = float(low), float(high)
        return Prediction(value, low, high, level, len(draws))

    def summary(self) -> str:
        """A small table: one line per parameter with its estimate, stderr and 95% CI."""
        width = max(len(name) for name in self.params)
        header = (
            f"{self.method}: {self.n_points} points, loss {self.loss:.4g} ({self.objective}), "
            f"{'converged' if self.converged else 'NOT converged'}, {self.n_starts} start(s), "
            f"{self.n_bootstrap} bootstrap refits"
        )
        return "\n".join([header, *parameter_lines(self.params, self.ci, self.stderr, width),
                          *(f"  note: {note}" for note in self.notes)])

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v:.4g}" for k, v in self.params.items())
        return (
            f"FitResult(method={self.method!r}, {shown}, loss={self.loss:.4g}, "
            f"n_points={self.n_points}, converged={self.converged}, n_bootstrap={self.n_bootstrap})"
        )
