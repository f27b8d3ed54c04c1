"""The one transition table of membership statuses.

    pending ──first payment──► active ──renewal charge fails──► past_due
       │                         │  ▲                              │  │
       │                         │  └──── a retry or new card ─────┘  │
       │                         ├──cancel (period end or now)──► canceled ◄── dunning gives up
       └──abandoned / declined──►│
                               expired (pending never activated, or a period ran out)

Anything not in the table is refused with a clear error (InvalidTransitionError, HTTP 409).
"""

from __future__ import annotations

from memberships.models import MembershipStatus

S = MembershipStatus

ALLOWED_TRANSITIONS: dict[MembershipStatus, frozenset[MembershipStatus]] = {
    S.PENDING: frozenset({S.ACTIVE, S.CANCELED, S.EXPIRED}),
    S.ACTIVE: frozenset({S.PAST_DUE, S.CANCELED, S.EXPIRED}),
    S.PAST_DUE: frozenset({S.ACTIVE, S.CANCELED}),
    S.CANCELED: frozenset(),
    S.EXPIRED: frozenset(),
}


def can_transition(current: MembershipStatus, target: MembershipStatus) -> bool:
    return target in ALLOWED_TRANSITIONS[current]
