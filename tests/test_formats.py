"""The one set of formatters: what each kind of number reads as, and what unknown reads as."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from healthscore import formats


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, "—"), (1234.0, "1,234"), (123.4, "123"), (12.34, "12.3"), (0.1250, "0.125"), (2, "2")],
)
def test_measurements_take_precision_from_their_magnitude(value, text):
    assert formats.measurement(value) == text


def test_changes_have_a_real_minus_an_explicit_plus_and_a_plain_zero():
    assert formats.signed(-3) == "\u22123"
    assert formats.signed(1234.5, 1) == "+1,234.5"
    assert formats.signed(-0.04, 1) == "±0"
    assert formats.signed(None) == "—"


def test_money_quantities_and_statistics():
    assert formats.money(Decimal("1234.5")) == "1,234" and formats.money(12.5, 2) == "12.50"
    assert formats.quantity(3.0) == "3" and formats.quantity(2.25) == "2.2"
    assert formats.decimal(0.81234, 3) == "0.812" and formats.decimal(None) == "n/a"
    assert formats.percent(0.256) == "26%" and formats.percent(0.256, 1) == "25.6%"
    assert formats.percent(None, missing="—") == "—"


def test_an_estimate_shows_its_interval_only_when_it_has_one():
    assert formats.estimate(0.8123, 0.79, 0.83, interval="[{}]") == "0.812 [0.790-0.830]"
    assert formats.estimate(0.8, None, 0.9, interval="[{}]") == "0.800"
    text = formats.estimate(None, None, None, interval="({})", unknown="n/a (no churn)")
    assert text == "n/a (no churn)"


def test_moments_are_shown_in_utc():
    moment = datetime(2026, 6, 1, 14, 30, tzinfo=timezone(timedelta(hours=2)))
    assert formats.timestamp(moment) == "2026-06-01 12:30 UTC"
    assert formats.timestamp(None) == "—"
    assert formats.day(date(2026, 6, 1)) == formats.day(datetime(2026, 6, 1, tzinfo=UTC))
