from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from billing.proration import allocate_cents, period_days, unused_amount_cents, unused_days

dates = st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2035, 12, 31))
amounts = st.integers(min_value=0, max_value=10_000_000)


def test_the_documented_examples():
    assert period_days(dt.date(2027, 1, 1), dt.date(2027, 1, 31)) == 31
    assert period_days(dt.date(2028, 1, 1), dt.date(2028, 12, 31)) == 366
    # $9 January plan changed on the 11th: 21 unused days of 31 → 609.67 → 609 cents.
    assert (
        unused_amount_cents(
            amount_cents=900,
            start=dt.date(2027, 1, 1),
            end=dt.date(2027, 1, 31),
            effective=dt.date(2027, 1, 11),
        )
        == 609
    )
    assert allocate_cents(100, [1, 1, 1]) == [34, 33, 33]
    assert allocate_cents(-100, [1, 1, 1]) == [-34, -33, -33]
    assert allocate_cents(5, [0, 3, 0]) == [0, 5, 0]


def test_a_reversed_period_is_refused():
    with pytest.raises(ValueError, match="before it starts"):
        period_days(dt.date(2027, 2, 1), dt.date(2027, 1, 31))


@given(amount=amounts, start=dates, length=st.integers(0, 400), offset=st.integers(-30, 430))
def test_unused_amount_is_never_negative_nor_more_than_paid(amount, start, length, offset):
    end = start + dt.timedelta(days=length)
    effective = start + dt.timedelta(days=offset)

    credit = unused_amount_cents(amount_cents=amount, start=start, end=end, effective=effective)

    assert 0 <= credit <= amount
    if effective <= start:
        assert credit == amount
    if effective > end:
        assert credit == 0


@given(
    amount=amounts,
    start=dates,
    length=st.integers(1, 400),
    first=st.integers(0, 400),
    second=st.integers(0, 400),
)
def test_later_changes_never_credit_more(amount, start, length, first, second):
    end = start + dt.timedelta(days=length)
    early, late = sorted((first, second))
    credit_early = unused_amount_cents(
        amount_cents=amount, start=start, end=end, effective=start + dt.timedelta(days=early)
    )
    credit_late = unused_amount_cents(
        amount_cents=amount, start=start, end=end, effective=start + dt.timedelta(days=late)
    )
    assert credit_late <= credit_early


@given(amount=amounts, start=dates, length=st.integers(1, 400), split=st.integers(1, 400))
def test_used_and_unused_parts_cover_the_whole_period(amount, start, length, split):
    end = start + dt.timedelta(days=length)
    assume(split <= length)
    effective = start + dt.timedelta(days=split)
    used = period_days(start, effective - dt.timedelta(days=1))
    assert used + unused_days(start, end, effective) == period_days(start, end)


@given(
    amount=st.integers(-10_000_000, 10_000_000),
    weights=st.lists(st.integers(0, 10_000), min_size=1, max_size=30),
)
def test_allocations_sum_to_the_whole_and_stay_within_a_cent_of_exact(amount, weights):
    assume(sum(weights) > 0)

    parts = allocate_cents(amount, weights)

    assert sum(parts) == amount
    total = sum(weights)
    for part, weight in zip(parts, weights, strict=True):
        exact = amount * weight / total
        assert abs(part - exact) < 1
        if amount >= 0:
            assert part >= 0
        if weight == 0:
            assert part == 0
