"""data_multiplier: the data a power law asks for to divide its reducible error."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scalingbook.laws import data_multiplier, power_law


def test_known_values():
    assert data_multiplier(0.5, 2.0) == pytest.approx(4.0)
    assert data_multiplier(1.0, 10.0) == pytest.approx(10.0)
    np.testing.assert_allclose(data_multiplier(np.array([0.5, 0.25]), 2.0), [4.0, 16.0])


@given(
    exponent=st.floats(0.02, 3.0),
    reduction=st.floats(1.01, 100.0),
    m=st.floats(1.0, 1e6),
)
def test_multiplying_the_data_divides_the_power_law(exponent, reduction, m):
    k = data_multiplier(exponent, reduction)
    before = power_law(m, 1.0, exponent)
    after = power_law(m * k, 1.0, exponent)
    assert before / after == pytest.approx(reduction, rel=1e-9)


@pytest.mark.parametrize(
    "exponent,reduction,match",
    [(0.0, 2.0, "exponent"), (-0.3, 2.0, "exponent"), (float("nan"), 2.0, "exponent"),
     (0.3, 1.0, "reduction must exceed 1"), (0.3, 0.5, "reduction must exceed 1"),
     (0.3, float("inf"), "reduction")],
)
def test_bad_input(exponent, reduction, match):
    with pytest.raises(ValueError, match=match):
        data_multiplier(exponent, reduction)
