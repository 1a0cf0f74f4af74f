"""Power laws and the three-region learning curve (scalingbook.laws.power)."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scalingbook.laws import LearningCurve, power_law, power_law_with_offset

# --- power_law / power_law_with_offset --------------------------------------------------------


def test_power_law_values_and_shapes():
    assert power_law(100.0, 2.0, 0.5) == pytest.approx(0.2)
    assert isinstance(power_law(100, 2.0, 0.5), float)
    x = np.array([[1.0, 10.0], [100.0, 1000.0]])
    out = power_law(x, 3.0, 1.0)
    assert out.shape == (2, 2)
    np.testing.assert_allclose(out, 3.0 / x)
    # negative exponent: growth (Hestness's model size vs data)
    assert power_law(4.0, 1.0, -0.5) == pytest.approx(2.0)


def test_power_law_with_offset_values_and_floor():
    assert power_law_with_offset(1.0, 0.1, 2.0, 0.3) == pytest.approx(2.1)
    big = power_law_with_offset(np.array([1e12, 1e15]), 0.25, 5.0, 0.5)
    np.testing.assert_allclose(big, 0.25, rtol=1e-4)
    # zero floor reduces to the pure power law
    x = np.geomspace(1, 1e6, 7)
    np.testing.assert_allclose(power_law_with_offset(x, 0.0, 2.0, 0.4), power_law(x, 2.0, 0.4))


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: power_law([1.0, np.nan], 1.0, 0.5), "x"),
        (lambda: power_law([1.0, np.inf], 1.0, 0.5), "x"),
        (lambda: power_law([1.0, 0.0], 1.0, 0.5), "x"),
        (lambda: power_law([-3.0], 1.0, 0.5), "x"),
        (lambda: power_law([1.0], 0.0, 0.5), "a"),
        (lambda: power_law([1.0], np.nan, 0.5), "a"),
        (lambda: power_law([1.0], 1.0, np.nan), "alpha"),
        (lambda: power_law([1.0], 1.0, np.inf), "alpha"),
        (lambda: power_law("ten", 1.0, 0.5), "x"),
        (lambda: power_law_with_offset([1.0], -0.1, 1.0, 0.5), "e"),
        (lambda: power_law_with_offset([1.0], 0.1, -1.0, 0.5), "a"),
        (lambda: power_law_with_offset([1.0], 0.1, 1.0, 0.0), "alpha"),
        (lambda: power_law_with_offset([1.0], 0.1, 1.0, -0.5), "alpha"),
        (lambda: power_law_with_offset([0.0], 0.1, 1.0, 0.5), "x"),
    ],
)
def test_power_laws_reject_bad_input_naming_the_argument(call, name):
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        call()


@settings(max_examples=60, deadline=None)
@given(
    a=st.floats(1e-3, 1e3),
    alpha=st.floats(-2.0, 3.0),
    x=st.floats(1.0, 1e6),
    k=st.floats(1.5, 100.0),
)
def test_power_law_scales_by_k_to_minus_alpha(a, alpha, x, k):
    # The defining property: multiplying the size by k multiplies the value by k^-alpha.
    ratio = power_law(x * k, a, alpha) / power_law(x, a, alpha)
    assert ratio == pytest.approx(k ** (-alpha), rel=1e-9)


# --- LearningCurve -----------------------------------------------------------------------------

LC = LearningCurve(best_guess_error=1.0, irreducible_error=0.01, m0=100.0, beta=0.5)


def test_learning_curve_limits_and_midpoint():
    assert LC.error(1e-6) == pytest.approx(1.0, rel=1e-3)
    assert LC.error(1e20) == pytest.approx(0.01, rel=1e-3)
    assert LC.error(100.0) == pytest.approx(0.01 + 0.99 / 2)  # half the reducible error at m0
    m = np.geomspace(1, 1e9, 50)
    err = LC.error(m)
    assert err.shape == (50,)
    assert np.all(np.diff(err) < 0)


def test_asymptote_meets_best_guess_at_m0_and_floor_at_irreducible_boundary():
    assert LC.small_data_boundary == 100.0
    assert LC.irreducible_error + LC.power_law_asymptote(LC.small_data_boundary) == pytest.approx(1.0)
    # m0 * (0.99 / 0.01)^(1/0.5) = 100 * 99^2
    assert LC.irreducible_boundary == pytest.approx(100 * 99.0**2)
    assert LC.power_law_asymptote(LC.irreducible_boundary) == pytest.approx(0.01)
    # far into the power-law region the curve hugs the asymptote: (m/m0)^beta = 100 here
    m = 1e6
    assert LC.error(m) - LC.irreducible_error == pytest.approx(LC.power_law_asymptote(m), rel=0.011)


def test_irreducible_boundary_is_infinite_without_a_floor():
    lc = LearningCurve(1.0, 0.0, 10.0, 1.0)
    assert lc.irreducible_boundary == float("inf")
    assert set(lc.region([1.0, 1e30]).tolist()) == {"small-data", "power-law"}


def test_region_labels():
    m = np.array([1.0, 99.0, 100.0, 1e4, 100 * 99.0**2, 1e9])
    assert LC.region(m).tolist() == [
        "small-data", "small-data", "power-law", "power-law", "irreducible", "irreducible"
    ]
    assert LC.region(5.0).shape == ()


def test_no_power_law_region_when_floor_exceeds_reducible_error():
    lc = LearningCurve(1.0, 0.6, 10.0, 1.0)  # floor 0.6 > reducible 0.4
    assert lc.irreducible_boundary < lc.small_data_boundary
    assert lc.region([1.0, 10.0, 1e6]).tolist() == ["small-data", "irreducible", "irreducible"]


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(best_guess_error=0.5, irreducible_error=0.5, m0=1.0, beta=1.0), "best_guess_error"),
        (dict(best_guess_error=0.5, irreducible_error=0.7, m0=1.0, beta=1.0), "best_guess_error"),
        (dict(best_guess_error=1.0, irreducible_error=-0.1, m0=1.0, beta=1.0), "irreducible_error"),
        (dict(best_guess_error=1.0, irreducible_error=0.1, m0=0.0, beta=1.0), "m0"),
        (dict(best_guess_error=1.0, irreducible_error=0.1, m0=1.0, beta=0.0), "beta"),
        (dict(best_guess_error=1.0, irreducible_error=0.1, m0=1.0, beta=-1.0), "beta"),
        (dict(best_guess_error=np.nan, irreducible_error=0.1, m0=1.0, beta=1.0), "best_guess_error"),
        (dict(best_guess_error=1.0, irreducible_error=0.1, m0=np.inf, beta=1.0), "m0"),
    ],
)
def test_learning_curve_rejects_bad_parameters(kwargs, name):
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        LearningCurve(**kwargs)


def test_learning_curve_is_frozen_and_rejects_bad_sizes():
    with pytest.raises(dataclasses.FrozenInstanceError):
        LC.beta = 2.0  # type: ignore[misc]
    for bad in ([0.0], [np.nan], [-1.0]):
        with pytest.raises(ValueError, match=r"^m\b"):
            LC.error(bad)
        with pytest.raises(ValueError, match=r"^m\b"):
            LC.region(bad)


@settings(max_examples=60, deadline=None)
@given(
    eps0=st.floats(0.1, 10.0),
    floor_frac=st.floats(0.0, 0.9),
    m0=st.floats(1.0, 1e4),
    beta=st.floats(0.05, 3.0),
)
def test_learning_curve_lies_between_floor_and_best_guess_with_slope_minus_beta(eps0, floor_frac, m0, beta):
    lc = LearningCurve(eps0, floor_frac * eps0, m0, beta)
    m = np.geomspace(m0 * 1e-3, m0 * 1e3, 25)
    err = lc.error(m)
    assert np.all(err <= eps0) and np.all(err >= lc.irreducible_error)
    assert np.all(np.diff(err) <= 0)
    # Reducible error has log-log slope -beta far past m0 (relative correction ~ (m/m0)^-beta).
    big = m0 * 10 ** (8 / beta)
    r1 = lc.error(big) - lc.irreducible_error
    r2 = lc.error(big * 10) - lc.irreducible_error
    assert np.log10(r2 / r1) == pytest.approx(-beta, rel=1e-3)
