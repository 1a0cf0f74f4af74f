"""The object every fitter returns: estimates, their uncertainty, residuals and convergence."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["FitResult"]


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

    @property
    def param_names(self) -> list[str]:
        return list(self.params)

    @property
    def n_bootstrap(self) -> int:
        return 0 if self.bootstrap_params is None else int(self.bootstrap_params.shape[0])

    def summary(self) -> str:
        """A small table: one line per parameter with its estimate, stderr and 95% CI."""
        width = max(len(name) for name in self.params)
        header = (
            f"{self.method}: {self.n_points} points, loss {self.loss:.4g} ({self.objective}), "
            f"{'converged' if self.converged else 'NOT converged'}, {self.n_starts} start(s), "
            f"{self.n_bootstrap} bootstrap refits"
        )
        lines = [header]
        for name, value in self.params.items():
            line = f"  {name:<{width}} = {value:.6g}"
            if name in self.stderr:
                line += f"  ± {self.stderr[name]:.3g} (s.e.)"
            if name in self.ci:
                low, high = self.ci[name]
                line += f"  95% CI [{low:.6g}, {high:.6g}]"
            lines.append(line)
        lines.extend(f"  note: {note}" for note in self.notes)
        return "\n".join(lines)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v:.4g}" for k, v in self.params.items())
        return (
            f"FitResult(method={self.method!r}, {shown}, loss={self.loss:.4g}, "
            f"n_points={self.n_points}, converged={self.converged}, n_bootstrap={self.n_bootstrap})"
        )
