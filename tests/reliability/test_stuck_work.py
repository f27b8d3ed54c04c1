"""The stuck-work report (`python manage.py stuck_work`, billing/stuck_work.py): each kind of
stuck work is made for real, reported, and no longer reported once it moves; work that is
merely in progress, or younger than its threshold, is not reported; a clean system exits 0."""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from billing.models import (
    CreditNote,
    CreditNoteStatus,
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
    StripeCommand,
    StripeCommandKind,
    StripeCommandStatus,
    StripeEvent,
)
from billing.stripe_outbox import stripe_outbox_push
from billing.stuck_work import stuck_work_find
from employers.models import RosterImport, RosterImportStatus
from ledger.recognition import ledger_recognize
from ledger.services import ledger_invoice_finalized, ledger_payment_succeeded
from memberships.renewals import memberships_renew_due
from notifications.models import EmailNotification, NotificationKind, NotificationStatus
from tests.billing.factories import employer_customer, member_customer, member_invoice
from tests.factories import EmployerFactory, UserFactory
from tests.memberships.factories import active_membership

pytestmark = pytest.mark.django_db


def reported(area: str, *, now: dt.datetime) -> set[tuple[str, int]]:
    return {(item.kind, item.object_id) for item in stuck_work_find(now=now) if item.area == area}


def seconds_ago(now: dt.datetime, seconds: int) -> dt.datetime:
    return now - dt.timedelta(seconds=seconds)


def at_noon(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(12)))


def test_outbox_commands_failed_with_a_lost_lease_or_overdue_are_stuck():
    customer = employer_customer()  # its own sync command is due now: not stuck
    now = timezone.now()
    limit = settings.STUCK_STRIPE_COMMAND_SECONDS
    late, recent = seconds_ago(now, limit + 60), seconds_ago(now, limit - 60)

    def command(name: str, **fields: Any) -> StripeCommand:
        return StripeCommand.objects.create(
            kind=StripeCommandKind.CUSTOMER_SYNC,
            customer=customer,
            idempotency_key=f"test:{name}",
            **fields,
        )

    failed = command("failed", status=StripeCommandStatus.FAILED, attempts=25, last_error="429")
    lost = command(
        "lost",
        status=StripeCommandStatus.IN_PROGRESS,
        lease_expires_at=late,
        lease_token=uuid.uuid4(),
    )
    command(
        "held",
        status=StripeCommandStatus.IN_PROGRESS,
        lease_expires_at=now + dt.timedelta(seconds=60),
        lease_token=uuid.uuid4(),
    )
    overdue = command("overdue", status=StripeCommandStatus.PENDING, next_attempt_at=late)
    command("backing-off", status=StripeCommandStatus.PENDING, next_attempt_at=recent)
    command("done", status=StripeCommandStatus.DONE, next_attempt_at=late)

    assert reported("billing", now=now) == {
        ("stripe_command_failed", failed.pk),
        ("stripe_command_lease_lost", lost.pk),
        ("stripe_command_overdue", overdue.pk),
    }


def test_webhook_events_received_and_not_applied_are_stuck():
    now = timezone.now()
    limit = settings.STUCK_WEBHOOK_EVENT_SECONDS

    def event(name: str, received_at: dt.datetime, **fields: Any) -> StripeEvent:
        return StripeEvent.objects.create(
            stripe_event_id=f"evt_{name}",
            type="invoice.paid",
            stripe_created_at=received_at,
            raw_body="{}",
            payload={},
            received_at=received_at,
            **fields,
        )

    lost = event("lost", seconds_ago(now, limit + 60))
    failing = event(
        "failing", seconds_ago(now, limit + 60), processing_attempts=10, last_error="KeyError"
    )
    event("just_in", seconds_ago(now, limit - 60))
    event("applied", seconds_ago(now, limit + 60), processed_at=now)

    assert reported("billing", now=now) == {
        ("webhook_event_unprocessed", lost.pk),
        ("webhook_event_unprocessed", failing.pk),
    }


def test_refunds_and_credit_notes_stripe_has_not_confirmed_are_stuck():
    invoice = member_invoice(member_customer(), 900)
    StripeCommand.objects.update(status=StripeCommandStatus.DONE)  # pushed: not the subject
    payment = Payment.objects.create(
        invoice=invoice,
        status=PaymentStatus.SUCCEEDED,
        amount_cents=900,
        currency="usd",
        stripe_payment_intent_id="pi_test",
    )
    now = timezone.now()
    limit = settings.STUCK_REFUND_SECONDS
    late, recent = seconds_ago(now, limit + 60), seconds_ago(now, limit - 60)
    pending = Refund.objects.create(payment=payment, amount_cents=100, reason="x", created_at=late)
    Refund.objects.create(payment=payment, amount_cents=100, reason="x", created_at=recent)
    Refund.objects.create(
        payment=payment,
        amount_cents=100,
        reason="x",
        created_at=late,
        status=RefundStatus.SUCCEEDED,
    )
    note = CreditNote.objects.create(invoice=invoice, amount_cents=50, reason="x", created_at=late)
    CreditNote.objects.create(invoice=invoice, amount_cents=50, reason="x", created_at=recent)
    CreditNote.objects.create(
        invoice=invoice,
        amount_cents=50,
        reason="x",
        created_at=late,
        status=CreditNoteStatus.ISSUED,
    )

    assert reported("billing", now=now) == {
        ("refund_pending", pending.pk),
        ("credit_note_pending", note.pk),
    }


def test_emails_refused_for_good_or_due_and_not_sent_are_stuck():
    user = UserFactory.create()
    now = timezone.now()
    limit = settings.STUCK_EMAIL_SECONDS

    def email(name: str, **fields: Any) -> EmailNotification:
        return EmailNotification.objects.create(
            kind=NotificationKind.SIGNUP_RECEIPT, user=user, dedupe_key=f"test:{name}", **fields
        )

    failed = email("failed", status=NotificationStatus.FAILED, attempts=8, last_error="550")
    overdue = email("overdue", next_attempt_at=seconds_ago(now, limit + 60))
    email("retrying", next_attempt_at=seconds_ago(now, limit - 60))
    email("sent", status=NotificationStatus.SENT, next_attempt_at=seconds_ago(now, limit + 60))

    assert reported("notifications", now=now) == {
        ("email_failed", failed.pk),
        ("email_overdue", overdue.pk),
    }


def test_roster_imports_stopped_half_way_are_stuck_but_previews_are_not():
    employer = EmployerFactory.create()
    now = timezone.now()
    limit = settings.STUCK_ROSTER_IMPORT_SECONDS
    late, recent = seconds_ago(now, limit + 60), seconds_ago(now, limit - 60)

    def roster_import(status: RosterImportStatus, **fields: Any) -> RosterImport:
        return RosterImport.objects.create(
            employer=employer, file_sha256="-", content=b"", status=status, **fields
        )

    queued = roster_import(RosterImportStatus.QUEUED, created_at=late)
    validating = roster_import(RosterImportStatus.VALIDATING, created_at=late)
    applying = roster_import(RosterImportStatus.APPLYING, created_at=late, confirmed_at=late)
    # Previewed long ago, confirmed a moment ago: its apply is under way.
    roster_import(RosterImportStatus.APPLYING, created_at=late, confirmed_at=recent)
    roster_import(RosterImportStatus.QUEUED, created_at=recent)
    roster_import(RosterImportStatus.PREVIEW, created_at=late)  # waits for a person
    roster_import(RosterImportStatus.APPLIED, created_at=late, confirmed_at=late)

    assert reported("employers", now=now) == {
        ("roster_import_queued", queued.pk),
        ("roster_import_validating", validating.pk),
        ("roster_import_applying", applying.pk),
    }


def test_a_membership_not_renewed_after_its_period_ended_is_stuck_until_the_bill_run():
    membership = active_membership()  # monthly, January 2027
    ended = membership.current_period_end
    grace = settings.STUCK_RENEWAL_GRACE_DAYS

    on_time = at_noon(ended + dt.timedelta(days=grace))
    late = at_noon(ended + dt.timedelta(days=grace + 1))

    assert reported("memberships", now=on_time) == set()
    assert reported("memberships", now=late) == {("renewal_overdue", membership.pk)}
    memberships_renew_due(as_of=late.date())
    assert reported("memberships", now=late) == set()


def test_events_missing_from_the_books_and_recognition_behind_are_stuck():
    invoice = member_invoice(member_customer(), 900)  # January 2027
    Invoice.objects.filter(pk=invoice.pk).update(status=InvoiceStatus.PAID)
    invoice.refresh_from_db()
    # Rows written behind the services' backs: no signal, so no posting.
    payment = Payment.objects.create(
        invoice=invoice, status=PaymentStatus.SUCCEEDED, amount_cents=900, currency="usd"
    )
    now = timezone.now()

    assert reported("ledger", now=now) == {
        ("posting_missing_invoice_finalized", invoice.pk),
        ("posting_missing_payment", payment.pk),
    }

    ledger_invoice_finalized(invoice=invoice)
    ledger_payment_succeeded(payment=payment)
    assert reported("ledger", now=now) == set()

    # Service over (January 2027) and a few days later nothing recognized: behind.
    [schedule_id] = invoice.lines.values_list("revenue_schedule", flat=True)
    grace = settings.STUCK_RECOGNITION_GRACE_DAYS
    after_service = at_noon(dt.date(2027, 1, 31) + dt.timedelta(days=grace + 1))
    assert reported("ledger", now=after_service) == {("recognition_behind", schedule_id)}
    ledger_recognize(as_of=dt.date(2027, 1, 31))
    assert reported("ledger", now=after_service) == set()


def run_stuck_work(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("stuck_work", *args, stdout=out)
    except SystemExit as exit_:
        return int(exit_.code or 0), out.getvalue()
    return 0, out.getvalue()


def test_the_command_prints_a_table_or_json_and_exits_1_when_anything_is_stuck():
    customer = employer_customer()
    failed = StripeCommand.objects.create(
        kind=StripeCommandKind.INVOICE_VOID,
        customer=customer,
        idempotency_key="test:void",
        status=StripeCommandStatus.FAILED,
        attempts=3,
        last_error="No such invoice",
    )

    code, table = run_stuck_work()
    json_code, as_json = run_stuck_work("--json")

    assert code == json_code == 1
    lines = table.splitlines()
    assert lines[0].split() == ["area", "kind", "object_id", "since", "detail"]
    assert lines[1].split()[:3] == ["billing", "stripe_command_failed", str(failed.pk)]
    assert "invoice_void, 3 attempts: No such invoice" in lines[1]
    assert lines[-1] == "1 stuck."
    report = json.loads(as_json)
    assert report["stuck"] == 1
    [item] = report["items"]
    assert (item["area"], item["kind"], item["object_id"]) == (
        "billing",
        "stripe_command_failed",
        failed.pk,
    )


@pytest.mark.django_db(transaction=True)
def test_a_system_that_did_its_work_is_clean_and_exits_0(stripe_emulator):
    # A member's invoice through the real outbox and the Stripe emulator: pushed, paid, its fee
    # read, the books posted; nothing is left for the report.
    invoice = member_invoice(member_customer(), 900)
    stripe_outbox_push(run_seconds=30)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID

    assert run_stuck_work() == (0, "Nothing is stuck.\n")
    code, as_json = run_stuck_work("--json")
    assert (code, json.loads(as_json)) == (0, {"stuck": 0, "items": []})
