"""Gadre et al.'s over-training law and the power-law allocation rules (Kaplan, Hoffmann approach 1)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scalingbook.laws import ChinchillaLaw, KaplanLaw
from scalingbook.laws.allocation_rule import AllocationRule, power_law_allocation
from scalingbook.laws.overtraining import OvertrainingLaw

LAW = OvertrainingLaw(E=1.8, a=200.0, b=350.0, eta=0.14)

laws = st.builds(OvertrainingLaw, E=st.floats(0.0, 4.0), a=st.floats(1e-2, 1e4),
                 b=st.floats(1e-2, 1e4), eta=st.floats(0.02, 1.0))


# --- OvertrainingLaw --------------------------------------------------------------------------


def test_values_shapes_and_the_chinchilla_equivalence():
    C, M = 1e21, 40.0
    assert LAW.loss(C, M) == pytest.approx(1.8 + (200 * 40**0.14 + 350 * 40**-0.14) * 1e21**-0.14)
    assert isinstance(LAW.loss(C, M), float) and LAW(C, M) == LAW.loss(C, M)
    grid = LAW.loss(np.geomspace(1e18, 1e24, 4)[:, None], np.array([10.0, 20.0, 640.0])[None, :])
    assert grid.shape == (4, 3)
    # Equal exponents: the law is E + A N^-alpha + B D^-alpha under C = 6ND, M = D/N.
    chin = ChinchillaLaw(E=1.7, A=400.0, B=410.0, alpha=0.3, beta=0.3)
    over = OvertrainingLaw.from_chinchilla(1.7, 400.0, 410.0, 0.3)
    N, D = np.geomspace(1e7, 1e11, 5), np.geomspace(1e9, 1e13, 5)
    np.testing.assert_allclose(over.loss_at(N, D), chin.loss(N, D), rtol=1e-12)
    assert over.eta == pytest.approx(0.15)


@settings(max_examples=60, deadline=None)
@given(law=laws, log_c=st.floats(15.0, 28.0), k=st.floats(0.05, 20.0))
def test_optimal_multiplier_and_constant_compute_penalty(law, log_c, k):
    m_star = law.optimal_multiplier
    assert law.offset(m_star) <= law.offset(m_star * k) * (1 + 1e-12)
    assert law.compute_penalty(m_star) == pytest.approx(1.0, rel=1e-9)
    M = m_star * k
    penalty = law.compute_penalty(M)
    assert penalty >= 1.0 - 1e-9
    # Training at M needs `penalty` times the compute to match M* -- at every budget.
    C = 10.0**log_c
    assert law.reducible(C * penalty, M) == pytest.approx(law.reducible(C, m_star), rel=1e-9)


@settings(max_examples=40, deadline=None)
@given(law=laws, M=st.floats(1.0, 1000.0))
def test_reducible_loss_is_a_power_law_in_compute_with_one_exponent(law, M):
    C = np.geomspace(1e15, 1e27, 7)
    slope = np.polyfit(np.log(C), np.log(law.reducible(C, M)), 1)[0]
    assert slope == pytest.approx(-law.eta, rel=1e-9)


def test_huge_budgets_stay_finite():
    value = LAW.loss(1e300, 1e4)
    expected = 1.8 + 200 * np.exp(0.14 * (np.log(1e4) - np.log(1e300))) + 350 * np.exp(-0.14 * (np.log(1e4) + np.log(1e300)))
    assert np.isfinite(value) and value == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("call, name", [
    (lambda: OvertrainingLaw(-0.1, 1.0, 1.0, 0.1), "E"),
    (lambda: OvertrainingLaw(1.0, 0.0, 1.0, 0.1), "a"),
    (lambda: OvertrainingLaw(1.0, 1.0, np.nan, 0.1), "b"),
    (lambda: OvertrainingLaw(1.0, 1.0, 1.0, -0.1), "eta"),
    (lambda: LAW.loss(0.0, 20.0), "C"),
    (lambda: LAW.loss(1e20, [20.0, -1.0]), "M"),
    (lambda: LAW.loss_at(1e9, np.inf), "D"),
    (lambda: LAW.compute_penalty(0.0), "M"),
    (lambda: OvertrainingLaw.from_chinchilla(1.0, 1.0, 1.0, 0.0), "alpha"),
])
def test_bad_inputs_name_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()


# --- AllocationRule and power_law_allocation ------------------------------------------------


def test_rule_values_and_accounting():
    rule = AllocationRule(N_ref=1.3e9, a=0.73, C_ref=8.64e19)
    n, d = rule.compute_optimal(8.64e21)  # 100 PF-days
    assert n == pytest.approx(1.3e9 * 100**0.73)
    assert 6 * n * d == pytest.approx(8.64e21)
    C = np.geomspace(1e18, 1e26, 5)
    n, d = rule.compute_optimal(C)
    assert n.shape == (5,) and rule.b == pytest.approx(0.27)
    np.testing.assert_allclose(np.diff(np.log(n)) / np.diff(np.log(C)), 0.73)
    np.testing.assert_allclose(rule.tokens_per_parameter(C), d / n)
    # k = 8 FLOPs per parameter per token gives 6/8 of the tokens.
    other = AllocationRule(N_ref=1.3e9, a=0.73, C_ref=8.64e19, flops_per_param_token=8.0)
    assert other.compute_optimal(1e22)[1] == pytest.approx(0.75 * rule.compute_optimal(1e22)[1])


@settings(max_examples=40, deadline=None)
@given(a=st.floats(0.2, 0.9), log_k=st.floats(-5.0, 5.0))
def test_through_recovers_an_exact_rule(a, log_k):
    C = np.geomspace(1e18, 1e26, 6)
    N = np.exp(log_k) * C**a
    rule = AllocationRule.through(C, N)
    assert rule.a == pytest.approx(a, rel=1e-9)
    np.testing.assert_allclose(rule.compute_optimal(C)[0], N, rtol=1e-8)
    K, a2 = power_law_allocation(rule)
    assert a2 == pytest.approx(a, rel=1e-8) and K == pytest.approx(np.exp(log_k), rel=1e-6)


def test_power_law_allocation_of_the_two_variable_laws():
    chin = ChinchillaLaw(1.69, 406.4, 410.7, 0.34, 0.28)
    K, a = power_law_allocation(chin)
    assert a == pytest.approx(chin.a, rel=1e-10)
    assert K == pytest.approx(chin.G * 6.0**-chin.a, rel=1e-8)
    for C in (1e19, 5.76e23, 1e26):
        assert K * C**a == pytest.approx(chin.compute_optimal(C)[0], rel=1e-8)
    kap = KaplanLaw(alpha_N=0.076, alpha_D=0.103, N_c=6.4e13, D_c=1.8e13)
    assert power_law_allocation(kap)[1] == pytest.approx(kap.a, rel=1e-10)


class _Curved:
    """An allocation that bends: N* = C^0.5 (1 + 1e-20 C)."""

    def compute_optimal(self, C):
        return np.sqrt(C) * (1 + 1e-20 * C), C


@pytest.mark.parametrize("call, match", [
    (lambda: AllocationRule(1e9, 1.0), "a must lie strictly between 0 and 1"),
    (lambda: AllocationRule(1e9, 0.0), "a must be strictly positive"),
    (lambda: AllocationRule(-1e9, 0.5), "N_ref"),
    (lambda: AllocationRule(1e9, 0.5, C_ref=0.0), "C_ref"),
    (lambda: AllocationRule(1e9, 0.5).compute_optimal([1e20, np.nan]), "C"),
    (lambda: AllocationRule.through([1e20, 1e20], [1e9, 2e9]), "two distinct budgets"),
    (lambda: AllocationRule.through([1e20, 1e21], [1e9]), "mismatched lengths"),
    (lambda: power_law_allocation(object()), "compute_optimal"),
    (lambda: power_law_allocation(_Curved()), "not a power law"),
    (lambda: power_law_allocation(AllocationRule(1e9, 0.5), C_range=(1e20, 1e19)), "low < high"),
])
def test_rule_bad_inputs(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# --- the allocation exponent under another FLOP accounting --------------------------------------


@settings(max_examples=40, deadline=None)
@given(alpha=st.floats(0.1, 1.0), beta=st.floats(0.1, 1.0), gamma=st.floats(0.8, 1.2))
def test_chinchilla_exponent_with_flops_growing_as_n_to_the_gamma(alpha, beta, gamma):
    from scipy.optimize import minimize_scalar

    from scalingbook.laws.allocation_rule import chinchilla_allocation_exponent

    law = ChinchillaLaw(1.0, 300.0, 400.0, alpha, beta)
    k = 7.0

    def n_star(C):  # minimize L(N, C / (k N^gamma)) over ln N numerically
        # The log of the reducible part has the same minimizer and no cancellation against E
        # (with E added, float64 resolves the optimum of ln N only to about 1e-3).
        def reducible(u):
            return np.log(law.A * np.exp(-alpha * u) + law.B * (C / (k * np.exp(gamma * u))) ** -beta)

        res = minimize_scalar(reducible, bounds=(0.0, 80.0), method="bounded",
                              options={"xatol": 1e-10})
        return np.exp(res.x)

    slope = np.log(n_star(1e24) / n_star(1e18)) / np.log(1e6)
    assert slope == pytest.approx(chinchilla_allocation_exponent(alpha, beta, gamma), abs=1e-5)
    assert chinchilla_allocation_exponent(alpha, beta) == pytest.approx(law.a)


def test_flops_scaling_recovers_a_power_law_and_rejects_bad_input():
    from scalingbook.laws.allocation_rule import flops_scaling

    N = np.geomspace(1e3, 1e6, 7)
    k, gamma = flops_scaling(N, 7.5 * N**0.95)
    assert k == pytest.approx(7.5, rel=1e-9) and gamma == pytest.approx(0.95, rel=1e-9)
    with pytest.raises(ValueError, match="two distinct sizes"):
        flops_scaling([1e3, 1e3], [1e4, 2e4])
    with pytest.raises(ValueError, match="flops_per_token"):
        flops_scaling([1e3, 1e4], [1e4, -1.0])
    from scalingbook.laws.allocation_rule import chinchilla_allocation_exponent

    with pytest.raises(ValueError, match="gamma"):
        chinchilla_allocation_exponent(0.3, 0.3, 0.0)
