"""Membership writes. Every status change goes through `membership_transition`."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from accounts.models import User
from config import clock
from config.errors import ConflictError
from memberships.lifecycle import ALLOWED_TRANSITIONS, can_transition
from memberships.models import Membership, MembershipEvent, MembershipStatus


class InvalidTransitionError(ConflictError):
    code = "invalid_transition"


@transaction.atomic
def membership_transition(
    *,
    membership: Membership,
    to_status: MembershipStatus,
    kind: str,
    actor: User | None = None,
    reason: str = "",
    data: dict[str, Any] | None = None,
) -> Membership:
    """Move the membership to `to_status` under a row lock and record the event. Refuses what
    the table (memberships/lifecycle.py) does not allow."""
    locked = Membership.objects.select_for_update().get(pk=membership.pk)
    current = MembershipStatus(locked.status)
    if not can_transition(current, to_status):
        allowed = ", ".join(sorted(ALLOWED_TRANSITIONS[current])) or "nothing"
        raise InvalidTransitionError(
            f"A {current} membership cannot become {to_status} (allowed: {allowed}).",
            details={"from": current, "to": to_status},
        )
    locked.status = to_status
    update_fields = ["status"]
    if to_status in {MembershipStatus.CANCELED, MembershipStatus.EXPIRED}:
        locked.ended_at = clock.now()
        update_fields.append("ended_at")
    locked.save(update_fields=update_fields)
    MembershipEvent.objects.create(
        membership=locked,
        kind=kind,
        from_status=current,
        to_status=to_status,
        actor=actor,
        reason=reason,
        data=data or {},
    )
    membership.status = locked.status
    membership.ended_at = locked.ended_at
    return locked
