"""Price grids by quotient familial and charge rules by attendance reason."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.domain.pricing import (DEFAULT_RULE_SET, ChargeRule, PriceGrid, PricingError, Reason, RuleSet,
                                    line_amount)

GRID = PriceGrid.of((500, 150), (900, 280), (1_400, 350), (None, 410))


@pytest.mark.parametrize("qf, price", [(0, 150), (500, 150), (501, 280), (900, 280), (1_399, 350),
                                       (1_400, 350), (1_401, 410), (99_999, 410)])
def test_the_bracket_is_the_first_whose_inclusive_upper_bound_covers_the_qf(qf, price):
    assert GRID.price_for(qf) == price


def test_a_family_without_a_proof_of_qf_pays_the_highest_bracket():
    assert GRID.price_for(None) == 410
    assert line_amount(GRID, None, Reason.PRESENT) == 410


@pytest.mark.parametrize("pairs", [
    (),
    ((500, 100),),                          # the last bracket must be unbounded
    ((900, 100), (500, 120), (None, 130)),  # bounds must increase
    ((500, 100), (500, 120), (None, 130)),  # and be distinct
    ((500, 100), (None, 120), (None, 130)),
    ((None, -1),),
])
def test_malformed_grids_are_refused_in_french(pairs):
    with pytest.raises(PricingError) as error:
        PriceGrid.of(*pairs)
    assert error.value.detail and " " in error.value.detail


def test_defaults_charge_presence_and_late_cancellation_and_nothing_else():
    charged = {reason: line_amount(GRID, 600, reason) for reason in Reason}
    assert charged == {
        Reason.PRESENT: 280,
        Reason.ABSENT_JUSTIFIED: 0,
        Reason.ABSENT_UNJUSTIFIED: 0,
        Reason.CANCELLED_IN_TIME: 0,
        Reason.CANCELLED_LATE: 280,
        Reason.PRESENT_WITHOUT_BOOKING: 280,
        Reason.NOT_BOOKED: 0,
    }


def test_surcharges_for_presence_without_booking_and_unjustified_absence():
    rules = RuleSet({
        Reason.PRESENT_WITHOUT_BOOKING: ChargeRule.percent(100, plus_cents=200),  # price + 2,00 €
        Reason.ABSENT_UNJUSTIFIED: ChargeRule.fixed(150),                          # flat 1,50 €
        Reason.CANCELLED_LATE: ChargeRule.percent("50"),
    })
    assert line_amount(GRID, 600, Reason.PRESENT_WITHOUT_BOOKING, rules) == 480
    assert line_amount(GRID, 600, Reason.ABSENT_UNJUSTIFIED, rules) == 150
    assert line_amount(GRID, None, Reason.CANCELLED_LATE, rules) == 205
    assert line_amount(GRID, 600, Reason.PRESENT, rules) == 280  # untouched reasons keep the defaults


def test_percentage_rules_round_half_up_per_line():
    grid = PriceGrid.flat(355)
    half = RuleSet({Reason.CANCELLED_LATE: ChargeRule.percent(50)})
    assert line_amount(grid, None, Reason.CANCELLED_LATE, half) == 178
    assert line_amount(grid, None, Reason.PRESENT, RuleSet({Reason.PRESENT: ChargeRule.percent("33.33")})) == 118


def test_justified_absences_can_never_be_charged():
    with pytest.raises(PricingError, match="absence justifiée"):
        RuleSet({Reason.ABSENT_JUSTIFIED: ChargeRule.fixed(100)})
    assert RuleSet({Reason.ABSENT_JUSTIFIED: ChargeRule()}).rule_for(Reason.ABSENT_JUSTIFIED).is_free


def test_rule_sets_accept_reason_strings_from_stored_settings():
    rules = RuleSet({"absent_unjustified": ChargeRule.fixed(99)})
    assert rules.rule_for(Reason.ABSENT_UNJUSTIFIED).fixed_cents == 99


def test_negative_rules_are_refused():
    with pytest.raises(PricingError):
        ChargeRule(-100, 0)
    with pytest.raises(PricingError):
        ChargeRule.fixed(-1)


def test_rules_describe_themselves_in_french():
    assert ChargeRule.percent(100, plus_cents=200).describe() == "100 % du tarif + 2,00\u00a0€"
    assert ChargeRule.percent("12.5").describe() == "12.5 % du tarif"
    assert ChargeRule().describe() == "gratuit"


@settings(deadline=None)  # shared machine: no per-example time limit
@given(st.lists(st.integers(0, 5_000), min_size=1, max_size=6, unique=True),
       st.lists(st.integers(0, 100_000), min_size=7, max_size=7), st.integers(0, 6_000))
def test_a_higher_qf_never_pays_less_when_prices_rise_with_brackets(bounds, prices, qf):
    bounds = sorted(bounds)
    prices = sorted(prices)[: len(bounds) + 1]
    grid = PriceGrid.of(*zip(bounds + [None], prices))
    assert grid.price_for(qf) <= grid.price_for(qf + 1) <= grid.price_for(None)
    assert line_amount(grid, qf, Reason.PRESENT, DEFAULT_RULE_SET) == grid.price_for(qf)
