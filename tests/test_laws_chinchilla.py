"""Two-variable scaling laws: Chinchilla (Hoffmann), Kaplan, and the smoothly broken power law."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize_scalar

from scalingbook.laws import ChinchillaLaw, KaplanLaw, SmoothlyBrokenPowerLaw

HOFFMANN = ChinchillaLaw(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
KAPLAN = KaplanLaw(alpha_N=0.076, alpha_D=0.095, N_c=8.8e13, D_c=5.4e13)

laws = st.builds(
    ChinchillaLaw,
    E=st.floats(0.0, 5.0),
    A=st.floats(1.0, 1e4),
    B=st.floats(1.0, 1e4),
    alpha=st.floats(0.05, 1.5),
    beta=st.floats(0.05, 1.5),
)
sizes = st.floats(1e3, 1e15)
budgets = st.floats(1e15, 1e27)


# --- ChinchillaLaw ----------------------------------------------------------------------------


def test_chinchilla_loss_values_and_shapes():
    assert HOFFMANN.loss(1.0, 1.0) == pytest.approx(1.69 + 406.4 + 410.7)
    assert isinstance(HOFFMANN.loss(1e9, 2e10), float)
    # 70B parameters on 1.4T tokens: 1.69 + 406.4/70e9^0.34 + 410.7/1.4e12^0.28
    expected = 1.69 + 406.4 * 70e9**-0.34 + 410.7 * 1.4e12**-0.28
    assert HOFFMANN.loss(70e9, 1.4e12) == pytest.approx(expected, rel=1e-12)
    N = np.geomspace(1e8, 1e11, 4)[:, None]
    D = np.geomspace(1e9, 1e13, 3)[None, :]
    out = HOFFMANN.loss(N, D)
    assert out.shape == (4, 3)
    np.testing.assert_allclose(out, 1.69 + 406.4 * N**-0.34 + 410.7 * D**-0.28, rtol=1e-12)
    assert HOFFMANN(1e9, 1e10) == HOFFMANN.loss(1e9, 1e10)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: HOFFMANN.loss([1e9, 0.0], 1e10), "N"),
        (lambda: HOFFMANN.loss(1e9, [1e10, -1.0]), "D"),
        (lambda: HOFFMANN.loss(np.nan, 1e10), "N"),
        (lambda: HOFFMANN.compute_optimal([1e20, np.inf]), "C"),
        (lambda: HOFFMANN.compute_optimal(0.0), "C"),
        (lambda: ChinchillaLaw(-0.1, 1.0, 1.0, 0.3, 0.3), "E"),
        (lambda: ChinchillaLaw(1.0, 0.0, 1.0, 0.3, 0.3), "A"),
        (lambda: ChinchillaLaw(1.0, 1.0, 1.0, 0.0, 0.3), "alpha"),
        (lambda: ChinchillaLaw(1.0, 1.0, 1.0, 0.3, np.nan), "beta"),
        (lambda: KaplanLaw(0.076, 0.095, -1.0, 5e13), "N_c"),
        (lambda: KAPLAN.loss(0.0, 1e10), "N"),
        (lambda: SmoothlyBrokenPowerLaw(0.1, 1.0, 0.3, 0.2, 1e5, 0.0), "f1"),
        (lambda: SmoothlyBrokenPowerLaw(0.1, 1.0, 0.3, 0.2, 1e5, 1.0)([1.0, -2.0]), "x"),
    ],
)
def test_laws_reject_bad_input_naming_the_argument(call, name):
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        call()


def _brute_force_optimum(law, C):
    """Minimize the loss along C = 6 N D over log N numerically."""
    log_c6 = np.log(C / 6.0)
    res = minimize_scalar(
        lambda ln: law.loss(np.exp(ln), np.exp(log_c6 - ln)),
        bounds=(np.log(1e-3), log_c6 - np.log(1e-3)),
        method="bounded",
        options={"xatol": 1e-10},
    )
    return np.exp(res.x), np.exp(log_c6 - res.x), res.fun


@pytest.mark.parametrize("C", [1e18, 5.76e23, 1e26])
@pytest.mark.parametrize("law", [HOFFMANN, ChinchillaLaw(1.82, 482.0, 2085.4, 0.35, 0.37), KAPLAN])
def test_compute_optimal_matches_brute_force(law, C):
    n_opt, d_opt = law.compute_optimal(C)
    n_bf, d_bf, l_bf = _brute_force_optimum(law, C)
    assert n_opt == pytest.approx(n_bf, rel=1e-4)
    assert d_opt == pytest.approx(d_bf, rel=1e-4)
    assert 6.0 * n_opt * d_opt == pytest.approx(C, rel=1e-12)
    # The closed form is a minimum: no worse than the brute-force one, and better than moving.
    assert law.loss_at_compute(C) <= l_bf + 1e-12
    for factor in (0.8, 1.25):
        assert law.loss(n_opt * factor, d_opt / factor) > law.loss_at_compute(C)


def test_compute_optimal_closed_form_and_exponents():
    G = (0.34 * 406.4 / (0.28 * 410.7)) ** (1 / 0.62)
    assert HOFFMANN.G == pytest.approx(G)
    assert HOFFMANN.a == pytest.approx(0.28 / 0.62)
    assert HOFFMANN.b == pytest.approx(0.34 / 0.62)
    C = np.array([1e20, 1e22, 1e24])
    n_opt, d_opt = HOFFMANN.compute_optimal(C)
    np.testing.assert_allclose(n_opt, G * (C / 6) ** HOFFMANN.a, rtol=1e-12)
    np.testing.assert_allclose(d_opt, (C / 6) ** HOFFMANN.b / G, rtol=1e-12)
    # Slopes on log-log axes are the exponents.
    np.testing.assert_allclose(np.diff(np.log(n_opt)) / np.diff(np.log(C)), HOFFMANN.a, rtol=1e-10)
    np.testing.assert_allclose(HOFFMANN.tokens_per_parameter(C), d_opt / n_opt, rtol=1e-12)
    assert HOFFMANN.loss_at_compute(C).shape == (3,)


@settings(max_examples=60, deadline=None)
@given(law=laws, C=budgets)
def test_property_allocation_exponents_sum_to_one_and_spend_the_budget(law, C):
    assert law.a + law.b == pytest.approx(1.0, rel=1e-12)
    n_opt, d_opt = law.compute_optimal(C)
    assert 6.0 * n_opt * d_opt == pytest.approx(C, rel=1e-9)
    # Stationarity: alpha A / N^alpha = beta B / D^beta at the optimum.
    assert law.alpha * law.A * n_opt**-law.alpha == pytest.approx(
        law.beta * law.B * d_opt**-law.beta, rel=1e-8
    )
    # More compute never hurts: the reducible loss at the optimum falls strictly (compared
    # without E, which can swamp it in float64 at large budgets), the total never rises.
    def reducible(budget):
        n, d = law.compute_optimal(budget)
        return law.A * n**-law.alpha + law.B * d**-law.beta

    assert reducible(2.0 * C) < reducible(C)
    assert law.loss_at_compute(2.0 * C) <= law.loss_at_compute(C)


@settings(max_examples=60, deadline=None)
@given(law=laws, N=sizes, D=sizes, factor=st.floats(1.01, 100.0))
def test_property_loss_decreases_in_N_and_D_and_stays_above_E(law, N, D, factor):
    base = law.loss(N, D)
    # Strictly above E, unless the reducible part is below float64 resolution next to E.
    reducible = law.A * N**-law.alpha + law.B * D**-law.beta
    assert base > law.E or reducible < 1e-15 * max(law.E, 1.0)
    assert base >= law.E
    assert law.loss(N * factor, D) <= base
    assert law.loss(N, D * factor) <= base


# --- KaplanLaw --------------------------------------------------------------------------------


def test_kaplan_loss_and_limits():
    N, D = 1e9, 2e10
    r = 0.076 / 0.095
    assert KAPLAN.loss(N, D) == pytest.approx(((8.8e13 / N) ** r + 5.4e13 / D) ** 0.095, rel=1e-12)
    # D -> infinity: the parameter-limited law (N_c/N)^alpha_N; N -> infinity: (D_c/D)^alpha_D.
    assert KAPLAN.loss(N, 1e300) == pytest.approx((8.8e13 / N) ** 0.076, rel=1e-9)
    assert KAPLAN.loss(1e300, D) == pytest.approx((5.4e13 / D) ** 0.095, rel=1e-9)
    assert KAPLAN.loss(np.array([1e8, 1e9]), np.array([1e10, 1e11])).shape == (2,)
    assert KAPLAN.a + KAPLAN.b == pytest.approx(1.0)
    assert KAPLAN.a == pytest.approx(0.095 / (0.076 + 0.095))


@settings(max_examples=40, deadline=None)
@given(N=sizes, D=sizes, factor=st.floats(1.01, 100.0))
def test_property_kaplan_decreasing(N, D, factor):
    base = KAPLAN.loss(N, D)
    assert KAPLAN.loss(N * factor, D) <= base and KAPLAN.loss(N, D * factor) <= base


# --- SmoothlyBrokenPowerLaw -------------------------------------------------------------------


def test_broken_power_law_asymptotes_and_local_exponent():
    law = SmoothlyBrokenPowerLaw(a=0.1, b=5.0, c0=0.2, c1=0.4, d1=1e6, f1=0.5)
    x_small = np.array([1.0, 10.0, 100.0])
    np.testing.assert_allclose(law(x_small), 0.1 + 5.0 * x_small**-0.2, rtol=1e-5)
    x_big = np.array([1e12, 1e13])
    np.testing.assert_allclose(law(x_big), 0.1 + 5.0 * 1e6**0.4 * x_big**-0.6, rtol=1e-5)
    assert law.local_exponent(1.0) == pytest.approx(0.2, abs=1e-6)
    assert law.local_exponent(1e12) == pytest.approx(0.6, abs=1e-6)
    assert law.local_exponent(1e6) == pytest.approx(0.4)  # halfway at the break
    assert law.exponent_after == pytest.approx(0.6)
    # The local exponent is the numerical slope of log(y - a).
    x = np.geomspace(1e3, 1e9, 7)
    h = 1e-5
    slope = -(np.log(law(x * np.exp(h)) - 0.1) - np.log(law(x * np.exp(-h)) - 0.1)) / (2 * h)
    np.testing.assert_allclose(slope, law.local_exponent(x), rtol=1e-6)
    assert isinstance(law(10.0), float)
    # A very sharp break does not overflow.
    sharp = SmoothlyBrokenPowerLaw(0.0, 1.0, 0.5, 0.5, 1e3, 1e-4)
    assert np.isfinite(sharp(np.array([1e-3, 1e3, 1e9]))).all()
