"""The one transition table of invoice statuses, as Stripe moves them.

    draft ──finalize──► open ──pay──► paid
      │                  │ ├─void──► void
      └─(zero total)─► paid └─mark_uncollectible─► uncollectible ──pay──► paid
                                                                 └─void──► void

Stripe reports statuses through API responses and webhooks that may arrive late, twice or out
of order. The local status therefore only ever moves *forward* along this table: a status that
is reachable from the current one is applied, the current one again is a no-op, anything else is
stale news and is ignored. Applying any set of true Stripe statuses in any order ends in the same
local status.
"""

from __future__ import annotations

from billing.models import InvoiceStatus

NEXT_STATUSES: dict[InvoiceStatus, frozenset[InvoiceStatus]] = {
    InvoiceStatus.DRAFT: frozenset({InvoiceStatus.OPEN, InvoiceStatus.PAID}),
    InvoiceStatus.OPEN: frozenset(
        {InvoiceStatus.PAID, InvoiceStatus.VOID, InvoiceStatus.UNCOLLECTIBLE}
    ),
    InvoiceStatus.UNCOLLECTIBLE: frozenset({InvoiceStatus.PAID, InvoiceStatus.VOID}),
    InvoiceStatus.PAID: frozenset(),
    InvoiceStatus.VOID: frozenset(),
}


def reachable_statuses(current: InvoiceStatus) -> frozenset[InvoiceStatus]:
    """Every status that can follow `current`, directly or through others."""
    seen: set[InvoiceStatus] = set()
    frontier = [current]
    while frontier:
        for following in NEXT_STATUSES[frontier.pop()]:
            if following not in seen:
                seen.add(following)
                frontier.append(following)
    return frozenset(seen)


def is_forward(current: InvoiceStatus, reported: InvoiceStatus) -> bool:
    """True when `reported` is news: a status Stripe can reach from `current`."""
    return reported in reachable_statuses(current)
