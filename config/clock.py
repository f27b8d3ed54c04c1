"""The one clock of the system. Billing code asks `clock.now()` / `clock.today()` instead of
`timezone.now()` so that a job can run "as of" another moment (tests, demos, back-fills):

    with clock.as_of(date(2027, 1, 1)):
        billing_run()          # sees today() == 2027-01-01

`as_of` accepts an aware datetime (used as is) or a date (midnight at the start of that day in
the business time zone, settings.TIME_ZONE). Frozen time does not tick. The override lives in a
context variable, so it is scoped to the current thread / task and to the `with` block.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.utils import timezone

_frozen_at: ContextVar[dt.datetime | None] = ContextVar("clock_frozen_at", default=None)


def now() -> dt.datetime:
    """The current moment (aware, UTC), or the moment set by `as_of`."""
    frozen = _frozen_at.get()
    return frozen if frozen is not None else timezone.now()


def today() -> dt.date:
    """The current date in the business time zone."""
    return timezone.localdate(now())


def start_of_day(day: dt.date) -> dt.datetime:
    """Midnight at the start of `day` in the business time zone, as an aware datetime."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


@contextmanager
def as_of(moment: dt.datetime | dt.date) -> Iterator[dt.datetime]:
    """Freeze the clock at `moment` inside the block."""
    if isinstance(moment, dt.datetime):
        if timezone.is_naive(moment):
            raise ValueError("clock.as_of needs an aware datetime (or a date)")
        frozen = moment
    else:
        frozen = start_of_day(moment)
    token = _frozen_at.set(frozen)
    try:
        yield frozen
    finally:
        _frozen_at.reset(token)
