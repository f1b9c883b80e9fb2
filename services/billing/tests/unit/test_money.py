"""Integer cents, the half-up rounding rule and the exact pro-rata split."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.domain.money import (MoneyError, apply_basis_points, format_euros, percent_to_basis_points,
                                  split_pro_rata)


def test_percentages_are_read_exactly_as_basis_points():
    assert percent_to_basis_points(100) == 10_000
    assert percent_to_basis_points("12.5") == 1_250
    assert percent_to_basis_points("0.01") == 1


@pytest.mark.parametrize("bad", ["12.345", "abc", "NaN", "Infinity"])
def test_more_than_two_decimals_or_garbage_is_refused_in_french(bad):
    with pytest.raises(MoneyError, match="Pourcentage invalide"):
        percent_to_basis_points(bad)


@pytest.mark.parametrize("amount, bp, expected", [
    (350, 5_000, 175),      # exact
    (355, 5_000, 178),      # 177.5 -> 178: half goes up
    (333, 5_000, 167),      # 166.5 -> 167
    (101, 3_333, 34),       # 33.6633 -> 34
    (100, 3_333, 33),       # 33.33 -> 33
    (1, 4_999, 0),          # 0.4999 -> 0
    (-355, 5_000, -178),    # half away from zero for negative amounts
    (0, 15_000, 0),
])
def test_percentage_of_an_amount_is_rounded_half_up_to_the_cent(amount, bp, expected):
    assert apply_basis_points(amount, bp) == expected


@settings(deadline=None)  # shared machine: no per-example time limit
@given(st.integers(-10**9, 10**9), st.integers(0, 100_000))
def test_rounding_is_never_more_than_half_a_cent_off(amount, bp):
    exact = amount * bp / 10_000
    assert abs(apply_basis_points(amount, bp) - exact) <= 0.5 + 1e-9


@settings(deadline=None)  # shared machine: no per-example time limit
@given(st.integers(0, 10**7), st.lists(st.integers(0, 10**6), min_size=1, max_size=30))
def test_pro_rata_parts_sum_exactly_and_each_is_within_a_cent_of_its_share(total, weights):
    if sum(weights) == 0:
        if total:
            with pytest.raises(MoneyError):
                split_pro_rata(total, weights)
        return
    parts = split_pro_rata(total, weights)
    assert sum(parts) == total
    for part, weight in zip(parts, weights):
        assert abs(part - total * weight / sum(weights)) < 1
        assert part >= 0


def test_pro_rata_leftover_cents_go_to_the_largest_remainders_then_the_first():
    assert split_pro_rata(100, [1, 1, 1]) == [34, 33, 33]
    assert split_pro_rata(10, [1, 2]) == [3, 7]


def test_euros_are_displayed_the_french_way():
    assert format_euros(1_234_567) == "12\u202f345,67\u00a0€"
    assert format_euros(5) == "0,05\u00a0€"
    assert format_euros(-250) == "-2,50\u00a0€"
