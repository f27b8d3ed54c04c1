"""1,000 invoices pushed while the emulator fails 30% of requests (500s and 429s): every one ends
in Stripe exactly once, and the shared throttle never lets more than the configured rate out."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from django.db import connection

from billing.models import (
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentStatus,
    StripeCommand,
    StripeCommandStatus,
)
from billing.stripe_gateway import stripe_gateway
from billing.stripe_outbox import PushReport, stripe_outbox_push
from billing.stripe_throttle import max_in_any_window
from tests.billing.factories import member_customer, member_invoice

pytestmark = pytest.mark.django_db(transaction=True)

INVOICES = 1000
CUSTOMERS = 50
RATE = 120  # our throttle, requests/s
EMULATOR_LIMIT = 150  # the emulator's own limiter (Stripe's), above ours


def push_until_drained(reports: list[PushReport], budget_seconds: float = 300) -> None:
    """Push until no command is pending or in progress. A command put back to wait out its
    backoff is not due yet, so a push can return having claimed nothing: wait a little then,
    rather than spending a fixed number of rounds."""
    deadline = time.monotonic() + budget_seconds
    try:
        while time.monotonic() < deadline:
            report = stripe_outbox_push(run_seconds=20)
            reports.append(report)
            if not StripeCommand.objects.filter(
                status__in=[StripeCommandStatus.PENDING, StripeCommandStatus.IN_PROGRESS]
            ).exists():
                return
            if report.claimed == 0:
                time.sleep(0.05)
    finally:
        connection.close()


def test_a_thousand_invoices_through_30_percent_faults_land_exactly_once(stripe_emulator, settings):
    settings.STRIPE_MAX_REQUESTS_PER_SECOND = RATE
    settings.STRIPE_OUTBOX_MAX_ATTEMPTS = 50
    customers = [member_customer() for _ in range(CUSTOMERS)]
    invoices = [member_invoice(customers[n % CUSTOMERS], 900 + n) for n in range(INVOICES)]
    stripe_emulator.configure(
        error_rate=0.15, rate_limit_error_rate=0.15, rate_limit_per_second=EMULATOR_LIMIT, seed=7
    )
    stripe_emulator.reset_stats()

    throttle = stripe_gateway().throttle  # the one gateway (and throttle) both workers share
    assert throttle is not None
    reports = []
    workers = [threading.Thread(target=push_until_drained, args=(reports,)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    stats = stripe_emulator.stats()
    slots = list(throttle.recent_slots)
    stripe_emulator.configure(error_rate=0.0, rate_limit_error_rate=0.0, rate_limit_per_second=0)
    assert sum(r.failed for r in reports) == 0, [e for r in reports for e in r.errors][:5]
    assert sum(r.retried for r in reports) > 0  # the faults really hit us
    assert stats["injected_500"] > 0
    assert stats["injected_429"] > 0
    assert StripeCommand.objects.exclude(status=StripeCommandStatus.DONE).count() == 0

    in_stripe = Counter(
        s.metadata.get("local_invoice_id") for s in stripe_gateway().invoices_list()
    )
    assert len(in_stripe) == INVOICES
    assert set(in_stripe.values()) == {1}  # each local invoice exactly once in Stripe
    assert in_stripe.keys() == {str(invoice.pk) for invoice in invoices}
    assert Invoice.objects.filter(status=InvoiceStatus.PAID).count() == INVOICES
    assert Payment.objects.filter(status=PaymentStatus.SUCCEEDED).count() == INVOICES
    assert (
        len({c.stripe_customer_id for c in customers if c.refresh_from_db() is None}) == CUSTOMERS
    )

    # The throttle: the slots it handed out, and what the emulator saw arrive.
    assert len(slots) == stats["requests"]  # every request the emulator saw went through it
    assert max_in_any_window(slots) <= RATE
    assert stats["rate_limited"] == 0  # Stripe's own limit was never hit
    assert stats["max_requests_in_any_1s_window"] <= EMULATOR_LIMIT
