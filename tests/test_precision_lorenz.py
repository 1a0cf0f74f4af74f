"""The Lorenz integrator: float64 against independent references, the emulated formats bit-exact
against native float16/float32 arithmetic, stochastic rounding reproducible by seed, the
Wasserstein distances, and argument checks."""

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from scalingbook.precision import (
    FloatFormat,
    attractor_distance,
    bf16,
    fp16,
    fp32,
    integrate_lorenz,
    lorenz_starts,
    lorenz_tendency,
    round_to_format,
    wasserstein_distance,
)

SIGMA, RHO, BETA = 10.0, 28.0, 8.0 / 3.0
X0 = np.array([[1.0, 1.0, 1.0], [-5.5, 3.25, 30.0]])


def numpy_rk4(u, steps, dt, dtype=np.float64):
    """The same RK4 scheme, with the same operations in the same order, in a numpy dtype."""
    c = lambda v: dtype(v)
    sigma, rho, beta, h, half, sixth, two = c(SIGMA), c(RHO), c(BETA), c(dt), c(dt / 2), c(dt / 6), c(2.0)

    def f(u):
        x, y, z = u[..., 0], u[..., 1], u[..., 2]
        a0, a1, a2, a3 = y - x, rho - z, x * y, beta * z
        return np.stack([sigma * a0, x * a1 - y, a2 - a3], axis=-1)

    u = u.astype(dtype)
    out = [u]
    for _ in range(steps):
        k1 = f(u)
        k2 = f(u + half * k1)
        k3 = f(u + half * k2)
        k4 = f(u + h * k3)
        acc = k1 + two * k2
        acc = acc + two * k3
        acc = acc + k4
        u = u + sixth * acc
        out.append(u)
    return np.stack(out).astype(np.float64)


def numpy_euler(u, steps, dt, dtype):
    sigma, rho, beta, h = dtype(SIGMA), dtype(RHO), dtype(BETA), dtype(dt)
    u = u.astype(dtype)
    out = [u]
    for _ in range(steps):
        x, y, z = u[..., 0], u[..., 1], u[..., 2]
        k = np.stack([sigma * (y - x), x * (rho - z) - y, x * y - beta * z], axis=-1)
        u = u + h * k
        out.append(u)
    return np.stack(out).astype(np.float64)


def test_tendency_is_the_lorenz_field():
    np.testing.assert_allclose(lorenz_tendency([1.0, 2.0, 3.0]), [10.0, 1 * 25 - 2, 2 - 8.0])
    assert lorenz_tendency(np.zeros((4, 5, 3))).shape == (4, 5, 3)


def test_float64_matches_an_independent_rk4():
    got = integrate_lorenz(X0, 300, 0.01)
    np.testing.assert_allclose(got, numpy_rk4(X0, 300, 0.01), rtol=0, atol=1e-9)


def test_float64_rk4_converges_to_the_ode_solution():
    dt, t_end = 0.001, 1.0
    got = integrate_lorenz(X0[1], int(t_end / dt), dt)[-1]
    ref = solve_ivp(lambda t, u: lorenz_tendency(u), (0, t_end), X0[1], method="DOP853", rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got, ref.y[:, -1], atol=1e-7)


@pytest.mark.parametrize("fmt,dtype", [(fp16, np.float16), (fp32, np.float32)], ids=["fp16", "fp32"])
def test_round_to_nearest_is_bit_exact_against_native_arithmetic(fmt, dtype):
    """numpy rounds every float16/float32 operation to nearest-even; so do we."""
    np.testing.assert_array_equal(integrate_lorenz(X0, 400, 0.01, fmt=fmt), numpy_rk4(X0, 400, 0.01, dtype))
    np.testing.assert_array_equal(
        integrate_lorenz(X0, 400, 0.01, fmt=fmt, scheme="euler"), numpy_euler(X0, 400, 0.01, dtype)
    )


def test_every_state_lies_on_the_grid_and_low_precision_stays_near_float64_briefly():
    fmt = FloatFormat(8, 10, "ieee")
    for rounding in ("nearest_even", "stochastic"):
        run = integrate_lorenz(X0, 50, 0.01, fmt=fmt, rounding=rounding, seed=1)
        np.testing.assert_array_equal(round_to_format(run, fmt).double().numpy(), run)
        ref = integrate_lorenz(X0, 50, 0.01)
        assert np.abs(run - ref).max() < 0.5  # half a time unit: rounding has not yet taken over


def test_stochastic_rounding_is_reproducible_from_its_seed():
    a = integrate_lorenz(X0, 100, 0.01, fmt=bf16, rounding="stochastic", seed=5)
    b = integrate_lorenz(X0, 100, 0.01, fmt=bf16, rounding="stochastic", seed=5)
    c = integrate_lorenz(X0, 100, 0.01, fmt=bf16, rounding="stochastic", seed=6)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_records_follow_burn_in_and_stride():
    run = integrate_lorenz(X0[0], 10, 0.01)
    assert run.shape == (11, 3) and np.array_equal(run[0], X0[0])
    part = integrate_lorenz(X0, 10, 0.01, burn_in=4, record_every=3)
    assert part.shape == (3, 2, 3)  # steps 4, 7, 10
    np.testing.assert_array_equal(part[0], integrate_lorenz(X0, 4, 0.01)[-1])


def test_starts_lie_on_the_attractor_and_depend_on_the_seed():
    a, b = lorenz_starts(64, seed=0, spin_up=800), lorenz_starts(64, seed=1, spin_up=800)
    assert a.shape == (64, 3) and not np.allclose(a, b)
    assert (a[:, 2] > 0).all() and (np.abs(a[:, :2]) < 30).all() and (a[:, 2] < 55).all()
    np.testing.assert_array_equal(a, lorenz_starts(64, seed=0, spin_up=800))


def test_wasserstein_distance_of_shifted_and_equal_samples():
    rng = np.random.default_rng(0)
    x = rng.normal(size=20000)
    assert wasserstein_distance(x, x) == 0.0
    assert wasserstein_distance(x, x + 0.7) == pytest.approx(0.7, abs=1e-12)
    # two samples of one distribution: a small distance that shrinks with sample size
    assert wasserstein_distance(x, rng.normal(size=20000)) < 0.05
    # the standard normal against the uniform on [-1, 1] (known value, by numerical quadrature)
    u = rng.uniform(-1, 1, size=200000)
    grid = np.linspace(-8, 8, 400001)
    from scipy.stats import norm, uniform
    exact = np.trapezoid(np.abs(norm.cdf(grid) - uniform(-1, 2).cdf(grid)), grid)
    assert wasserstein_distance(rng.normal(size=200000), u) == pytest.approx(exact, abs=0.01)


def test_attractor_distance_is_per_coordinate():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(100, 4, 3))
    b = a + np.array([0.0, 1.0, -2.0])
    np.testing.assert_allclose(attractor_distance(b, a), [0.0, 1.0, 2.0], atol=1e-12)


def test_lorenz_rejects_bad_input():
    with pytest.raises(ValueError, match="x0 must have shape"):
        integrate_lorenz(np.ones((2, 2)), 10, 0.01)
    with pytest.raises(ValueError, match="x0 contains NaN"):
        integrate_lorenz([1.0, np.nan, 1.0], 10, 0.01)
    with pytest.raises(ValueError, match="steps"):
        integrate_lorenz(X0, 0, 0.01)
    with pytest.raises(ValueError, match="dt"):
        integrate_lorenz(X0, 10, -0.01)
    with pytest.raises(ValueError, match="scheme"):
        integrate_lorenz(X0, 10, 0.01, scheme="leapfrog")
    with pytest.raises(ValueError, match="burn_in"):
        integrate_lorenz(X0, 10, 0.01, burn_in=11)
    with pytest.raises(ValueError, match="rounding"):
        integrate_lorenz(X0, 10, 0.01, fmt=fp16, rounding="up")
    with pytest.raises(ValueError, match="sigma"):
        integrate_lorenz(X0, 10, 0.01, sigma=0.0)
    with pytest.raises(ValueError, match="members"):
        lorenz_starts(0)
    with pytest.raises(ValueError, match="state must have shape"):
        lorenz_tendency([1.0, 2.0])
    with pytest.raises(ValueError, match="a and b must each hold"):
        wasserstein_distance([], [1.0])
    with pytest.raises(ValueError, match="reference must have a last axis"):
        attractor_distance(np.ones((4, 3)), np.ones((4, 2)))


def _fake_study(values, floor_z=0.1):
    import pandas as pd

    from scalingbook.precision import LorenzStudy

    rows = [{"man_bits": m, "rounding": r, "w_x": 1.0, "w_y": 1.0, "w_z": v}
            for (m, r), v in values.items()]
    return LorenzStudy(summary=pd.DataFrame(rows), floor=np.array([1.0, 1.0, floor_z]),
                       histograms=pd.DataFrame(), samples=1)


def test_bits_needed_takes_the_narrowest_width_after_which_all_are_within_the_floor():
    st = _fake_study({(4, "sr"): 0.5, (5, "sr"): 0.12, (6, "sr"): 0.2, (7, "sr"): 0.14, (8, "sr"): 0.09,
                      (4, "rn"): 0.5, (5, "rn"): 0.5, (6, "rn"): 0.5, (7, "rn"): 0.5, (8, "rn"): 0.5})
    assert st.bits_needed("sr") == 7  # 5 is within, but 6 is not
    assert st.bits_needed("sr", factor=2.5) == 5
    assert st.bits_needed("rn") is None
    with pytest.raises(ValueError, match="not in the study"):
        st.bits_needed("stochastic")
    with pytest.raises(ValueError, match="coordinate"):
        st.bits_needed("sr", coordinate="w")


def test_precision_study_runs_every_format_and_rounding():
    from scalingbook.precision import lorenz_precision_study

    st = lorenz_precision_study([FloatFormat(8, 4, "ieee"), FloatFormat(8, 12, "ieee")], members=16, steps=250,
                                burn_in=50, record_every=5)
    assert len(st.summary) == 4 and st.samples == 41 * 16
    assert set(st.histograms["rounding"]) == {"float64", "nearest_even", "stochastic"}
    w = {(r.man_bits, r.rounding): r.w_z for r in st.summary.itertuples()}
    # 4 mantissa bits with round-to-nearest wrecks the climate; 12 bits does not
    assert w[(4, "nearest_even")] > 3 * w[(12, "nearest_even")]
    assert (st.floor > 0).all()
    with pytest.raises(ValueError, match="formats"):
        lorenz_precision_study([])
    with pytest.raises(ValueError, match="rounding"):
        lorenz_precision_study([fp16], ["up"])
