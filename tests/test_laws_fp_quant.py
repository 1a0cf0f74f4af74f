"""Sun et al.'s floating-point quantization law: values, derived optima against brute force, bad input."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize, minimize_scalar

from scalingbook.laws import ChinchillaLaw, FPQuantLaw
from scalingbook.papers import sun2025

PAPER = FPQuantLaw()

laws = st.builds(
    FPQuantLaw,
    n=st.floats(1.0, 500.0),
    alpha=st.floats(0.1, 0.8),
    d=st.floats(10.0, 1e5),
    beta=st.floats(0.1, 0.8),
    epsilon=st.floats(0.0, 3.0),
    gamma=st.floats(1.0, 1e5),
    delta=st.floats(0.3, 6.0),
    nu=st.floats(0.3, 6.0),
)


def by_hand(law, N, D, E, M, B):
    return (law.n / N**law.alpha + law.d / D**law.beta + law.epsilon
            + D**law.beta / N**law.alpha * math.log2(B)
            / (law.gamma * (E + 0.5) ** law.delta * (M + 0.5) ** law.nu))


# --- the law ------------------------------------------------------------------------------------


def test_defaults_are_the_papers_table_2():
    for name, value in sun2025.TABLE_2.items():
        assert getattr(PAPER, name) == value
    assert PAPER.base == ChinchillaLaw(E=1.9061, A=69.2343, B=68973.0621, alpha=0.2368, beta=0.5162)


def test_loss_values_shapes_and_the_high_precision_limit():
    value = PAPER.loss(1e9, 1e11, 4, 3, 128)
    assert isinstance(value, float)
    assert value == pytest.approx(by_hand(PAPER, 1e9, 1e11, 4, 3, 128), rel=1e-12)
    assert PAPER(1e9, 1e11, 4, 3, 128) == value
    # one scale per element adds nothing: the Chinchilla part alone
    assert PAPER.loss(1e9, 1e11, 1, 1, 1) == pytest.approx(PAPER.base.loss(1e9, 1e11), rel=1e-15)
    E = np.arange(0, 6)[:, None]
    M = np.arange(0, 5)[None, :]
    table = PAPER.loss(1e8, 5e10, E, M, 32)
    assert table.shape == (6, 5)
    for e in range(6):
        for m in range(5):
            assert table[e, m] == pytest.approx(by_hand(PAPER, 1e8, 5e10, e, m, 32), rel=1e-12)
    penalty = PAPER.precision_penalty(1e8, 5e10, E, M, 32)
    np.testing.assert_allclose(table - PAPER.base.loss(1e8, 5e10), penalty, rtol=1e-9)


def test_huge_sizes_do_not_overflow():
    assert math.isfinite(FPQuantLaw(beta=0.99).loss(1e12, 1e300, 1, 1, 2**20))


@settings(max_examples=60, deadline=None)
@given(laws, st.floats(1e5, 1e12), st.floats(1e6, 1e14), st.floats(0, 8), st.floats(0, 8),
       st.floats(1.5, 4096))
def test_penalty_is_positive_and_moves_the_right_way(law, N, D, E, M, B):
    rho = law.precision_penalty(N, D, E, M, B)
    assert rho > 0
    assert law.precision_penalty(N, D, E + 1, M, B) < rho  # more exponent bits help
    assert law.precision_penalty(N, D, E, M + 1, B) < rho  # more mantissa bits help
    assert law.precision_penalty(N, 2 * D, E, M, B) > rho  # more data, more "knowledge intensity"
    assert law.precision_penalty(2 * N, D, E, M, B) < rho  # bigger models tolerate low precision
    assert law.precision_penalty(N, D, E, M, 2 * B) > rho  # coarser scales hurt


# --- the best exponent/mantissa split ------------------------------------------------------------


def test_optimal_mantissa_matches_eq_19_and_the_papers_layouts():
    for P in (4, 8, 16):
        m_star = PAPER.nu * P / (PAPER.delta + PAPER.nu) - 0.5
        assert PAPER.optimal_mantissa(P) == pytest.approx(m_star, rel=1e-14)
        assert PAPER.optimal_exponent(P) == pytest.approx(P - 1 - m_star, rel=1e-14)
        assert PAPER.best_layout(P) == sun2025.OPTIMAL_LAYOUTS[P]
    np.testing.assert_allclose(PAPER.optimal_mantissa(np.array([4.0, 8.0])),
                               [PAPER.optimal_mantissa(4), PAPER.optimal_mantissa(8)])


@settings(max_examples=80, deadline=None)
@given(laws, st.floats(2.0, 40.0))
def test_optimal_mantissa_agrees_with_brute_force(law, P):
    m_star = law.optimal_mantissa(P)
    assert 0.0 <= m_star <= P - 1.0
    penalty = lambda m: law.precision_penalty(1e9, 1e11, P - 1.0 - m, m, 64)
    grid = np.linspace(0.0, P - 1.0, 2001)
    values = law.precision_penalty(1e9, 1e11, P - 1.0 - grid, grid, 64)
    assert penalty(m_star) <= values.min() * (1 + 1e-9)
    # a bounded scalar search lands on the same point, when the optimum is inside the interval
    res = minimize_scalar(penalty, bounds=(0.0, P - 1.0), method="bounded",
                          options={"xatol": 1e-10})
    assert penalty(m_star) <= res.fun * (1 + 1e-9)
    if 1e-3 < m_star < P - 1.0 - 1e-3:
        assert res.x == pytest.approx(m_star, abs=1e-4)


def test_a_constrained_optimum_sits_at_the_end_of_the_interval():
    # nu much smaller than delta: the unconstrained M* is negative at P = 2, so M* = 0
    law = FPQuantLaw(delta=6.0, nu=0.5)
    assert law.nu * 2 / (law.delta + law.nu) - 0.5 < 0
    assert law.optimal_mantissa(2) == 0.0 and law.optimal_exponent(2) == 1.0


@settings(max_examples=60, deadline=None)
@given(laws, st.integers(2, 24))
def test_best_layout_is_the_best_integer_split(law, P):
    E, M = law.best_layout(P)
    assert E + M == P - 1 and E >= 0 and M >= 0
    losses = [law.loss(1e9, 1e11, e, P - 1 - e, 32) for e in range(P)]
    assert law.loss(1e9, 1e11, E, M, 32) <= min(losses) * (1 + 1e-12)
    # the integer optimum is a neighbour of the real-valued one (the objective is convex in M)
    assert abs(M - law.optimal_mantissa(P)) < 1.0 + 1e-9


# --- the critical data size --------------------------------------------------------------------


def test_critical_data_reproduces_the_papers_numbers():
    for (E, M), tokens in sun2025.CRITICAL_DATA_TOKENS.items():
        ours = PAPER.critical_data(sun2025.CRITICAL_DATA_N, E, M, sun2025.CRITICAL_DATA_BLOCK)
        printed_digits = 0.05e12 if tokens < 1e12 else 0.5e12  # "0.4T", "27T", "1730T"
        assert abs(ours - tokens) <= printed_digits


@settings(max_examples=60, deadline=None)
@given(laws, st.floats(1e6, 1e11), st.floats(0, 6), st.floats(0, 6), st.floats(2.0, 1024))
def test_critical_data_is_the_minimum_over_data(law, N, E, M, B):
    d_crit = law.critical_data(N, E, M, B)
    assert d_crit > 0
    f = lambda log_d: law.loss(N, math.exp(log_d), E, M, B)
    log_c = math.log(d_crit)
    # the loss falls before it and rises after it
    assert f(log_c - 0.5) > f(log_c) < f(log_c + 0.5)
    # Its data-dependent part, d/D^beta + K D^beta, has the same minimizer; minimizing its log
    # avoids the cancellation against the constant terms that limits float64 to about 1e-4 in
    # ln D when the minimum is shallow.
    K = math.log2(B) / (N ** law.alpha * law.gamma * (E + 0.5) ** law.delta * (M + 0.5) ** law.nu)
    part = lambda log_d: math.log(law.d * math.exp(-law.beta * log_d) + K * math.exp(law.beta * log_d))
    res = minimize_scalar(part, bracket=(log_c - 3, log_c, log_c + 3), options={"xtol": 1e-12})
    assert res.x == pytest.approx(log_c, abs=1e-4)
    assert law.loss_at_critical_data(N, E, M, B) == pytest.approx(f(log_c), rel=1e-12)


def test_critical_data_without_a_penalty_is_infinite_and_broadcasts():
    assert PAPER.critical_data(1e9, 4, 3, 1) == math.inf
    assert PAPER.loss_at_critical_data(1e9, 4, 3, 1) == pytest.approx(PAPER.n / 1e9**PAPER.alpha + PAPER.epsilon)
    out = PAPER.critical_data(np.array([1e8, 1e9, 1e10]), 4, 3, 128)
    assert out.shape == (3,) and np.all(np.diff(out) > 0)  # bigger models, later critical point


# --- compute-optimal size, data and precision ------------------------------------------------------


def test_loss_at_optimal_layout_is_the_closed_form():
    for P in (3.0, 4.5, 8.0, 16.0):
        closed = (PAPER.base.loss(1e9, 1e11)
                  + 1e11**PAPER.beta / 1e9**PAPER.alpha * 7 / (PAPER.gamma_p * P ** (PAPER.delta + PAPER.nu)))
        assert PAPER.loss_at_optimal_layout(1e9, 1e11, P, 128) == pytest.approx(closed, rel=1e-12)


@pytest.mark.parametrize("C", [1e19, 1e21, 1e25, 1e31])
def test_cost_optimal_matches_a_numerical_minimum(C):
    k, B = sun2025.COST_OPTIMAL_K, 128
    n_opt, d_opt, p_opt = PAPER.cost_optimal(C, B, k=k)
    assert k * p_opt * n_opt * d_opt == pytest.approx(C, rel=1e-10)

    def loss(x):  # x = (log N, log D); P follows from the budget
        N, D = math.exp(x[0]), math.exp(x[1])
        P = C / (k * N * D)
        return PAPER.loss_at_optimal_layout(N, D, P, B) if P >= 2 else 1e9

    res = minimize(loss, [math.log(n_opt) + 0.3, math.log(d_opt) - 0.3], method="Nelder-Mead",
                   options={"xatol": 1e-9, "fatol": 1e-15, "maxiter": 20000})
    assert loss(res.x) >= loss([math.log(n_opt), math.log(d_opt)]) - 1e-12
    assert res.x[0] == pytest.approx(math.log(n_opt), abs=2e-3)
    assert res.x[1] == pytest.approx(math.log(d_opt), abs=2e-3)


def test_cost_optimal_precision_lies_in_the_papers_range():
    low, high = sun2025.COST_OPTIMAL_PRECISION_RANGE
    budgets = np.geomspace(*sun2025.COST_OPTIMAL_BUDGETS, 11)
    _, _, p = PAPER.cost_optimal(budgets, 128, k=sun2025.COST_OPTIMAL_K)
    assert p.shape == (11,) and np.all(np.diff(p) > 0)  # more compute, more bits
    assert low <= p.min() and p.max() <= high


# --- bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: PAPER.loss(0.0, 1e10, 4, 3, 32), "N"),
        (lambda: PAPER.loss(-1e9, 1e10, 4, 3, 32), "N"),
        (lambda: PAPER.loss(1e9, [1e10, 0.0], 4, 3, 32), "D"),
        (lambda: PAPER.loss(1e9, 1e10, -1, 3, 32), "E"),
        (lambda: PAPER.loss(1e9, 1e10, 4, [3, -0.5], 32), "M"),
        (lambda: PAPER.loss(1e9, 1e10, 4, 3, 0), "B"),
        (lambda: PAPER.loss(1e9, 1e10, 4, 3, 0.5), "B"),
        (lambda: PAPER.loss(np.nan, 1e10, 4, 3, 32), "N"),
        (lambda: PAPER.loss(1e9, 1e10, np.nan, 3, 32), "E"),
        (lambda: PAPER.loss(1e9, 1e10, 4, np.inf, 32), "M"),
        (lambda: PAPER.loss(1e9, 1e10, 4, 3, np.nan), "B"),
        (lambda: PAPER.optimal_mantissa(1.5), "P"),
        (lambda: PAPER.optimal_mantissa([8, 1]), "P"),
        (lambda: PAPER.optimal_mantissa(np.nan), "P"),
        (lambda: PAPER.optimal_exponent(0), "P"),
        (lambda: PAPER.best_layout(1), "P"),
        (lambda: PAPER.best_layout(8.0), "P"),
        (lambda: PAPER.critical_data(0.0, 4, 3, 32), "N"),
        (lambda: PAPER.critical_data(1e9, -1, 3, 32), "E"),
        (lambda: PAPER.critical_data(1e9, 4, 3, -8), "B"),
        (lambda: PAPER.cost_optimal(0.0, 128), "C"),
        (lambda: PAPER.cost_optimal(1e21, 1), "B"),
        (lambda: PAPER.cost_optimal(1e21, 128, k=0.0), "k"),
        (lambda: FPQuantLaw(gamma=0.0), "gamma"),
        (lambda: FPQuantLaw(delta=-1.0), "delta"),
        (lambda: FPQuantLaw(nu=np.nan), "nu"),
        (lambda: FPQuantLaw(epsilon=-0.1), "epsilon"),
        (lambda: FPQuantLaw(alpha=0.0), "alpha"),
    ],
)
def test_bad_input_names_the_argument(call, name):
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        call()
