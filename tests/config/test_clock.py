from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from config import clock

UTC = dt.UTC


def test_now_follows_real_time_when_not_frozen():
    before = timezone.now()
    current = clock.now()
    after = timezone.now()
    assert before <= current <= after


def test_as_of_a_date_freezes_at_midnight_in_the_business_time_zone(settings):
    settings.TIME_ZONE = "America/New_York"
    with clock.as_of(dt.date(2027, 1, 1)) as frozen:
        assert clock.today() == dt.date(2027, 1, 1)
        assert clock.now() == frozen
        assert frozen == dt.datetime(2027, 1, 1, tzinfo=ZoneInfo("America/New_York"))
        assert clock.now() == clock.now()  # frozen time does not tick


def test_today_is_the_business_date_not_the_utc_date(settings):
    settings.TIME_ZONE = "America/New_York"
    late_evening_in_ohio = dt.datetime(2026, 11, 24, 3, 30, tzinfo=UTC)
    with clock.as_of(late_evening_in_ohio):
        assert clock.today() == dt.date(2026, 11, 23)


def test_as_of_restores_the_previous_clock_even_after_an_error():
    outer = dt.datetime(2026, 1, 1, 12, tzinfo=UTC)
    inner = dt.datetime(2030, 6, 1, 12, tzinfo=UTC)
    with clock.as_of(outer):
        with pytest.raises(RuntimeError), clock.as_of(inner):  # noqa: PT012
            assert clock.now() == inner
            raise RuntimeError
        assert clock.now() == outer
    assert clock.now() != outer


def test_as_of_refuses_a_naive_datetime():
    with pytest.raises(ValueError, match="aware"), clock.as_of(dt.datetime(2026, 1, 1)):  # noqa: DTZ001
        pass


@given(st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2100, 12, 31)))
def test_as_of_any_date_gives_that_date_as_today(day):
    with clock.as_of(day):
        assert clock.today() == day
        assert clock.start_of_day(day) == clock.now()
