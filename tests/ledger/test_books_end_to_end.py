"""The books through the real stack (sign-up and cancellation through the API, Stripe emulator
over HTTP, webhooks): postings, recognition, a refund, statements that tie out to the partner
payable account, and replays that change nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db.models import Sum

from accounts.models import Role
from accounts.services import role_grant
from billing.models import InvoiceLine, Refund, RefundStatus
from billing.proration import unused_amount_cents
from billing.stripe_gateway import stripe_gateway
from billing.stripe_outbox import stripe_outbox_push
from config import clock
from ledger import chart
from ledger.models import JournalEntry, Posting, RevenueShareAgreement, StatementStatus
from ledger.recognition import ledger_recognize
from ledger.statements import statement_approve, statement_payout_record, statements_generate
from memberships.models import Market, Membership
from tests.factories import UserFactory
from tests.ledger.ledger_checks import assert_line_identity, trial_balance_cents, unbalanced_entries

pytestmark = pytest.mark.django_db(transaction=True)

SIGNED_UP = dt.date(2027, 1, 5)
CANCELED = dt.date(2027, 2, 10)


def half_up(numerator: int, denominator: int) -> int:
    return (2 * numerator + denominator) // (2 * denominator)


def payable_balance(partner_id: int) -> int:
    return int(
        Posting.objects.filter(account=chart.partner_payable_account(partner_id)).aggregate(
            total=Sum("amount_cents")
        )["total"]
        or 0
    )


def test_a_year_bought_used_for_a_month_then_refunded(
    api_client, stripe_emulator, live_server, settings
):
    stripe_emulator.configure(
        webhook_url=f"{live_server.url}/webhooks/stripe/",
        webhook_secret=settings.STRIPE_WEBHOOK_SECRET,
    )
    market = Market.objects.get(slug="northeast-ohio")
    partner = market.partner
    RevenueShareAgreement.objects.create(
        partner=partner, market=market, share_bps=2000, effective_from=dt.date(2026, 1, 1)
    )
    finance = UserFactory.create()
    role_grant(user=finance, role=Role.FINANCE_STAFF)

    with clock.as_of(SIGNED_UP):
        signup = api_client.post(
            "/api/v1/signup/",
            {
                "email": "ada@example.test",
                "password": "a long enough password",
                "full_name": "Ada Lovelace",
                "date_of_birth": "1985-12-10",
                "market": "northeast-ohio",
                "price_code": "standard_annual",
                "payment_method_id": "pm_card_visa",
            },
        )
    assert signup.status_code == 201, signup.content
    line = InvoiceLine.objects.get()
    assert sorted(JournalEntry.objects.values_list("kind", flat=True)) == [
        "invoice_finalized",
        "payment",
    ]
    assert Posting.objects.filter(account__code=chart.CASH_STRIPE).get().amount_cents == 19900

    # January: 27 days of 365 recognized (5th to 31st).
    ledger_recognize(as_of=dt.date(2027, 1, 31))
    january_revenue = half_up(19900 * 27, 365)
    [january] = statements_generate(period=dt.date(2027, 1, 1))
    assert (january.recognized_cents, january.refunds_cents) == (january_revenue, 0)
    assert january.share_cents == half_up(january_revenue * 2000, 10000)
    [jan_line] = january.lines.all()
    assert (jan_line.active_members, jan_line.new_members, jan_line.churned_members) == (1, 1, 0)

    # February: canceled on the 10th, the unused days refunded; the rest of the year's revenue
    # is recognized on the last served day, and the refund nets it.
    with clock.as_of(CANCELED):
        response = api_client.post(
            "/api/v1/me/membership/cancel/",
            {"when": "now"},
            HTTP_AUTHORIZATION=f"Bearer {signup.json()['token']}",
        )
        assert response.status_code == 200, response.content
        stripe_outbox_push(run_seconds=30)
    refund = Refund.objects.get()
    assert refund.status == RefundStatus.SUCCEEDED
    expected_refund = unused_amount_cents(
        amount_cents=19900, start=line.period_start, end=line.period_end, effective=CANCELED
    )
    assert refund.amount_cents == expected_refund
    ledger_recognize(as_of=dt.date(2027, 2, 28))
    assert_line_identity(line.pk, invoiced=19900, refunded=expected_refund)
    assert (
        -sum(  # nothing left deferred
            Posting.objects.filter(
                invoice_line=line, account__code=chart.DEFERRED_REVENUE
            ).values_list("amount_cents", flat=True)
        )
        == 0
    )

    [february] = statements_generate(period=dt.date(2027, 2, 1))
    assert february.recognized_cents == 19900 - january_revenue
    assert february.refunds_cents == expected_refund
    assert february.net_cents == 19900 - january_revenue - expected_refund
    [feb_line] = february.lines.all()
    assert (feb_line.active_members, feb_line.new_members, feb_line.churned_members) == (0, 0, 1)

    # Approve both and pay January: the partner payable holds exactly what is due.
    january = statement_approve(statement=january, actor=finance)
    february = statement_approve(statement=february, actor=finance)
    assert payable_balance(partner.pk) == -(january.amount_due_cents + february.amount_due_cents)
    statement_payout_record(statement=january, actor=finance, reference="ACH 1")
    assert payable_balance(partner.pk) == -february.amount_due_cents
    assert trial_balance_cents() == 0
    assert unbalanced_entries() == []

    # Replays: every webhook again, recognition and statements again: nothing changes.
    counts = (JournalEntry.objects.count(), Posting.objects.count())
    event_ids = [event["id"] for event in stripe_gateway().events_list()]
    results = stripe_emulator.resend(event_ids)
    assert {r["status"] for r in results} == {200}
    ledger_recognize(as_of=dt.date(2027, 2, 28))
    ledger_recognize(as_of=dt.date(2027, 3, 31))
    again = statements_generate(period=dt.date(2027, 2, 1))
    assert (JournalEntry.objects.count(), Posting.objects.count()) == counts
    assert again[0].status == StatementStatus.APPROVED
    assert again[0].amount_due_cents == february.amount_due_cents
    assert Membership.objects.get().status == "canceled"
