"""Membership service periods: whole dates, both ends included (billing/proration.py has the
money rules). A period starts on a date and ends the day before the same date one interval
later; a start on the 29th-31st ends, in short months, on the month's last day minus one and
the next period starts on the month's last day (the anchor day is not restored)."""

from __future__ import annotations

import calendar
import datetime as dt

from memberships.models import BillingInterval


def add_months(day: dt.date, months: int) -> dt.date:
    """`day` moved by whole months, clamped to the end of a shorter month."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def period_end(start: dt.date, interval: BillingInterval | str) -> dt.date:
    months = 1 if interval == BillingInterval.MONTH else 12
    return add_months(start, months) - dt.timedelta(days=1)
