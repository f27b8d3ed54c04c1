"""Money splits. The one place where the project divides an amount of cents.

Rules (property-tested in tests/billing/test_proration.py):

- A **service period** is a range of whole dates, both ends included: a January membership runs
  2027-01-01 … 2027-01-31 (31 days); the next period starts the day after the end.
- **Proration is by days.** The day a change takes effect belongs to the *new* arrangement, so
  on a change effective on day D the old plan's unused days are D … end (D included).
- **Credits and refunds round down** to the cent: `floor(amount * unused_days / period_days)`.
  A customer is never credited more than the exact share, so never more than was paid; the
  leftover fraction of a cent stays with the operator.
- **Allocations sum to the whole** (`allocate_cents`): each part gets the floor of its exact share,
  and the leftover cents go one each to the parts with the largest remainders (ties to the
  earlier part). No part is negative when the weights are not.
- **Charges for part of a period round half up** (`prorated_charge_cents`): a charge for some days
  of a period at a full-period rate is `round_half_up(rate * days / period_days)` (x.5 cents go
  up), summed over the rates in force before the one rounding when the rate changes within the
  period. A full period is exactly the rate. Used for sponsored member-months
  (employers/invoicing.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence


def period_days(start: dt.date, end: dt.date) -> int:
    """Days in the service period `start` … `end`, both included."""
    if end < start:
        raise ValueError(f"a period cannot end ({end}) before it starts ({start})")
    return (end - start).days + 1


def unused_days(start: dt.date, end: dt.date, effective: dt.date) -> int:
    """Days of the period not yet used when a change takes effect on `effective`."""
    total = period_days(start, end)
    if effective <= start:
        return total
    if effective > end:
        return 0
    return (end - effective).days + 1


def unused_amount_cents(
    *, amount_cents: int, start: dt.date, end: dt.date, effective: dt.date
) -> int:
    """The part of `amount_cents` paid for `start` … `end` that covers the days from
    `effective` on, rounded down to the cent."""
    if amount_cents < 0:
        raise ValueError("amount_cents must not be negative")
    return amount_cents * unused_days(start, end, effective) // period_days(start, end)


def allocate_cents(amount_cents: int, weights: Sequence[int]) -> list[int]:
    """Split `amount_cents` in proportion to `weights` so that the parts sum exactly to it
    (largest-remainder method; leftover cents to the largest remainders, earlier part first)."""
    if not weights:
        raise ValueError("nothing to allocate to")
    if any(w < 0 for w in weights):
        raise ValueError("weights must not be negative")
    total_weight = sum(weights)
    if total_weight == 0:
        raise ValueError("weights must not all be zero")
    sign = -1 if amount_cents < 0 else 1
    whole = abs(amount_cents)
    floors = [whole * w // total_weight for w in weights]
    remainders = [whole * w % total_weight for w in weights]
    leftover = whole - sum(floors)
    by_remainder = sorted(range(len(weights)), key=lambda i: (-remainders[i], i))
    for index in by_remainder[:leftover]:
        floors[index] += 1
    return [sign * part for part in floors]


def prorated_charge_cents(*, parts: Sequence[tuple[int, int]], period_days: int) -> int:
    """What `(rate_cents, days)` parts of a period of `period_days` days cost, each rate being
    the price of the whole period: `round_half_up(sum(rate * days) / period_days)`, rounded once."""
    if period_days <= 0:
        raise ValueError("period_days must be positive")
    if any(rate < 0 or days < 0 for rate, days in parts):
        raise ValueError("rates and days must not be negative")
    if sum(days for _, days in parts) > period_days:
        raise ValueError("the parts cover more days than the period has")
    weighted = sum(rate * days for rate, days in parts)
    return (2 * weighted + period_days) // (2 * period_days)
