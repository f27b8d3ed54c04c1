"""The stuck-work report: work that should have finished by itself and did not.

Each app says what is stuck in its own `selectors.py` (thresholds are settings, `STUCK_*`);
this module only gathers their answers into one list for `python manage.py stuck_work`:

- billing: outbox commands failed (refused, or out of attempts), claimed by a worker whose
  lease ran out long ago, or due and not taken by a pusher (`stripe_command_failed`,
  `…_lease_lost`, `…_overdue`); webhook events received and not applied; refunds and credit
  notes Stripe has not confirmed (`refund_pending`, `credit_note_pending`);
- notifications: emails refused every time or due and not sent (`email_failed`,
  `email_overdue`);
- employers: roster imports queued, validating or applying too long (`roster_import_<status>`);
- memberships: a period that ended days ago without a renewal invoice (`renewal_overdue`);
- ledger: a business event without its journal entry (`posting_missing_<event>`), revenue
  still deferred after its service ended (`recognition_behind`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from django.utils import timezone

from billing.models import StripeCommandStatus
from billing.selectors import (
    credit_notes_stuck,
    refunds_stuck,
    stripe_commands_stuck,
    stripe_events_stuck,
)
from config import clock
from employers.selectors import roster_imports_stuck
from ledger.selectors import ledger_postings_missing, revenue_schedules_behind
from memberships.selectors import memberships_renewal_overdue
from notifications.models import NotificationStatus
from notifications.selectors import email_notifications_stuck


@dataclass(frozen=True)
class StuckWork:
    area: str  # the app that owns the work
    kind: str
    object_id: int
    since: str  # ISO date or datetime: when it was due, or "" when unknown
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _iso(moment: dt.datetime | dt.date | None) -> str:
    return moment.isoformat() if moment is not None else ""


def _stripe_commands(now: dt.datetime) -> list[StuckWork]:
    found = []
    for command in stripe_commands_stuck(now=now):
        since: dt.datetime | None
        if command.status == StripeCommandStatus.FAILED:
            kind, since = "stripe_command_failed", command.completed_at or command.next_attempt_at
        elif command.status == StripeCommandStatus.IN_PROGRESS:
            kind, since = "stripe_command_lease_lost", command.lease_expires_at
        else:
            kind, since = "stripe_command_overdue", command.next_attempt_at
        found.append(
            StuckWork(
                area="billing",
                kind=kind,
                object_id=command.pk,
                since=_iso(since),
                detail=f"{command.kind}, {command.attempts} attempts: {command.last_error[:120]}",
            )
        )
    return found


def stuck_work_find(*, now: dt.datetime | None = None) -> list[StuckWork]:
    """Everything stuck at `now` (default: the real time), area by area."""
    now = now or clock.now()
    today = timezone.localdate(now)
    found = _stripe_commands(now)
    found += [
        StuckWork(
            "billing",
            "webhook_event_unprocessed",
            event.pk,
            _iso(event.received_at),
            f"{event.type} {event.stripe_event_id}, {event.processing_attempts} attempts: "
            f"{event.last_error[:120]}",
        )
        for event in stripe_events_stuck(now=now)
    ]
    found += [
        StuckWork(
            "billing",
            "refund_pending",
            refund.pk,
            _iso(refund.created_at),
            f"{refund.amount_cents} cents of payment {refund.payment_id}",
        )
        for refund in refunds_stuck(now=now)
    ]
    found += [
        StuckWork(
            "billing",
            "credit_note_pending",
            note.pk,
            _iso(note.created_at),
            f"{note.amount_cents} cents on invoice {note.invoice_id}",
        )
        for note in credit_notes_stuck(now=now)
    ]
    found += [
        StuckWork(
            "notifications",
            "email_failed" if email.status == NotificationStatus.FAILED else "email_overdue",
            email.pk,
            _iso(email.next_attempt_at),
            f"{email.kind}, {email.attempts} attempts: {email.last_error[:120]}",
        )
        for email in email_notifications_stuck(now=now)
    ]
    found += [
        StuckWork(
            "employers",
            f"roster_import_{roster_import.status}",
            roster_import.pk,
            _iso(roster_import.confirmed_at or roster_import.created_at),
            f"employer {roster_import.employer_id}, {roster_import.processed_rows} of "
            f"{roster_import.total_rows} rows read",
        )
        for roster_import in roster_imports_stuck(now=now)
    ]
    found += [
        StuckWork(
            "memberships",
            "renewal_overdue",
            membership.pk,
            _iso(membership.current_period_end + dt.timedelta(days=1)),
            f"period ended {membership.current_period_end.isoformat()}, no renewal invoice",
        )
        for membership in memberships_renewal_overdue(today=today)
    ]
    found += [
        StuckWork("ledger", f"posting_missing_{event}", object_id, "", f"{event} {object_id}")
        for event, object_id in ledger_postings_missing()
    ]
    found += [
        StuckWork(
            "ledger",
            "recognition_behind",
            schedule.pk,
            _iso(schedule.ends_early_on or schedule.service_end),
            f"invoice line {schedule.invoice_line_id}: {schedule.recognized_cents} of "
            f"{schedule.total_cents} cents recognized",
        )
        for schedule in revenue_schedules_behind(today=today)
    ]
    return found
