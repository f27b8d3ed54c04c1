"""Disputes and Stripe fees in the books, through the real stack: sign-up through the API, the
Stripe emulator over HTTP (disputes opened and closed from its control API, as the card network
would), signed webhooks to the running app, the outbox reading each payment's fee."""

from __future__ import annotations

from typing import Any

import pytest
import stripe
from django.db.models import Sum

from billing.models import Dispute, DisputeStatus, Payment, StripeEvent
from billing.stripe_gateway import stripe_gateway
from billing.stripe_outbox import stripe_outbox_push
from config import clock
from ledger import chart
from ledger.models import JournalEntry, Posting, RevenueShareAgreement
from ledger.recognition import ledger_recognize
from ledger.statements import statements_generate
from memberships.models import Market
from tests.billing.test_stripe_rail_end_to_end import wait_for
from tests.emulator_process import EmulatorProcess
from tests.ledger.ledger_checks import assert_line_identity, trial_balance_cents, unbalanced_entries
from tests.stripe_emulator.scenarios import paid_invoice

pytestmark = pytest.mark.django_db(transaction=True)

PRICE_CENTS = 19900  # standard_annual
FEE_CENTS = (PRICE_CENTS * 29 + 500) // 1000 + 30  # 2.9 % rounded half up, + 30¢ = 607


def balance(code: str, **dimensions: Any) -> int:
    return int(
        Posting.objects.filter(account__code=code, **dimensions).aggregate(t=Sum("amount_cents"))[
            "t"
        ]
        or 0
    )


def entry_postings(key: str) -> list[tuple[str, int]]:
    entry = JournalEntry.objects.get(idempotency_key=key)
    return sorted(entry.postings.values_list("account__code", "amount_cents"))


def books() -> tuple[int, int, list[tuple[Any, ...]]]:
    """What must not change on a replay: entry and posting counts, and the disputes."""
    return (
        JournalEntry.objects.count(),
        Posting.objects.count(),
        list(
            Dispute.objects.order_by("pk").values_list("stripe_dispute_id", "status", "closed_at")
        ),
    )


def settle(emulator: EmulatorProcess) -> None:
    """Every webhook delivered (each is processed before the app answers it) and applied."""
    wait_for(
        lambda: all(row["delivered"] for row in emulator.webhooks()),
        what="every webhook delivered",
    )
    assert list(StripeEvent.objects.exclude(last_error="").values_list("type", "last_error")) == []
    assert not StripeEvent.objects.filter(processed_at__isnull=True).exists()


@pytest.fixture
def paid(api_client, stripe_emulator, live_server, settings) -> Payment:
    """A member signed up today in a partner's market (20 % share) and paid $199 by card;
    webhooks go to the running app; the payment's Stripe fee has been read."""
    stripe_emulator.configure(
        webhook_url=f"{live_server.url}/webhooks/stripe/",
        webhook_secret=settings.STRIPE_WEBHOOK_SECRET,
    )
    market = Market.objects.get(slug="northeast-ohio")
    assert market.partner is not None
    RevenueShareAgreement.objects.create(
        partner=market.partner,
        market=market,
        share_bps=2000,
        effective_from=clock.today().replace(year=clock.today().year - 1),
    )
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
    report = stripe_outbox_push(run_seconds=30)  # the fee is read after the payment
    assert report.failed == 0, report.errors
    settle(stripe_emulator)
    return Payment.objects.get(status="succeeded")


def test_the_stripe_fee_of_a_payment_is_posted_once(paid, stripe_emulator):
    assert paid.amount_cents == PRICE_CENTS
    assert paid.stripe_fee_cents == FEE_CENTS == 607
    [charge] = stripe_emulator.objects("charges")["data"]
    assert paid.stripe_charge_id == charge["id"]
    [txn] = [
        t
        for t in stripe_emulator.objects("balance_transactions")["data"]
        if t["source"] == charge["id"]
    ]
    assert (txn["fee"], txn["net"]) == (FEE_CENTS, PRICE_CENTS - FEE_CENTS)
    assert entry_postings(f"payment:{paid.pk}:fee") == [
        (chart.CASH_STRIPE, -FEE_CENTS),
        (chart.STRIPE_FEES, FEE_CENTS),
    ]
    assert balance(chart.CASH_STRIPE) == PRICE_CENTS - FEE_CENTS

    before = books()
    assert stripe_outbox_push(run_seconds=5).claimed == 0  # nothing left to read
    assert books() == before


def test_a_dispute_lost_nets_out_of_revenue_and_the_partner_statement(paid, stripe_emulator):
    [line] = paid.invoice.lines.all()
    keys_before = set(JournalEntry.objects.values_list("idempotency_key", flat=True))
    assert keys_before == {
        f"invoice:{paid.invoice_id}:finalized",
        f"payment:{paid.pk}",
        f"payment:{paid.pk}:fee",
    }

    opened = stripe_emulator.open_dispute(paid.stripe_charge_id, reason="fraudulent")
    settle(stripe_emulator)
    dispute = Dispute.objects.get()
    assert (dispute.stripe_dispute_id, dispute.payment_id, dispute.amount_cents) == (
        opened["id"],
        paid.pk,
        PRICE_CENTS,
    )
    assert (dispute.status, dispute.reason, dispute.closed_at) == (
        DisputeStatus.NEEDS_RESPONSE,
        "fraudulent",
        None,
    )
    assert entry_postings(f"dispute:{dispute.stripe_dispute_id}:opened") == [
        (chart.CASH_STRIPE, -PRICE_CENTS),
        (chart.DISPUTED_FUNDS, PRICE_CENTS),
    ]

    stripe_emulator.close_dispute(dispute.stripe_dispute_id, status="lost")
    settle(stripe_emulator)

    dispute.refresh_from_db()
    assert dispute.status == DisputeStatus.LOST
    assert dispute.closed_at is not None
    new_keys = set(JournalEntry.objects.values_list("idempotency_key", flat=True)) - keys_before
    assert new_keys == {
        f"dispute:{dispute.stripe_dispute_id}:opened",
        f"dispute:{dispute.stripe_dispute_id}:lost",
    }
    lost = JournalEntry.objects.get(idempotency_key=f"dispute:{dispute.stripe_dispute_id}:lost")
    market = Market.objects.get(slug="northeast-ohio")
    assert sorted(
        lost.postings.values_list(
            "account__code", "amount_cents", "partner_id", "market_id", "invoice_line_id"
        )
    ) == [
        (chart.DISPUTED_FUNDS, -PRICE_CENTS, market.partner_id, market.pk, line.pk),
        (chart.REFUNDS_CREDITS, PRICE_CENTS, market.partner_id, market.pk, line.pk),
    ]
    assert balance(chart.DISPUTED_FUNDS) == 0
    assert balance(chart.CASH_STRIPE) == -FEE_CENTS  # paid, then taken back; the fee stays spent
    assert trial_balance_cents() == 0
    assert unbalanced_entries() == []

    # The partner's statement for this month nets the lost dispute out of its revenue.
    ledger_recognize(as_of=clock.today())
    assert_line_identity(line.pk, invoiced=PRICE_CENTS, refunded=PRICE_CENTS)
    [statement] = statements_generate(period=clock.today())
    recognized = -balance(chart.MEMBERSHIP_REVENUE, market=market)
    assert (statement.recognized_cents, statement.refunds_cents) == (recognized, PRICE_CENTS)
    assert statement.net_cents == recognized - PRICE_CENTS


def test_a_dispute_won_returns_the_funds(paid, stripe_emulator):
    opened = stripe_emulator.open_dispute(paid.stripe_charge_id, amount=5000)
    settle(stripe_emulator)
    assert balance(chart.DISPUTED_FUNDS) == 5000

    stripe_emulator.close_dispute(opened["id"], status="won")
    settle(stripe_emulator)

    dispute = Dispute.objects.get()
    assert (dispute.status, dispute.amount_cents) == (DisputeStatus.WON, 5000)
    assert entry_postings(f"dispute:{opened['id']}:won") == [
        (chart.CASH_STRIPE, 5000),
        (chart.DISPUTED_FUNDS, -5000),
    ]
    assert balance(chart.DISPUTED_FUNDS) == 0
    assert balance(chart.CASH_STRIPE) == PRICE_CENTS - FEE_CENTS
    assert balance(chart.REFUNDS_CREDITS) == 0
    assert JournalEntry.objects.filter(kind__startswith="dispute").count() == 2
    assert trial_balance_cents() == 0


def test_replaying_every_webhook_in_order_and_in_reverse_changes_nothing(paid, stripe_emulator):
    opened = stripe_emulator.open_dispute(paid.stripe_charge_id)
    stripe_emulator.close_dispute(opened["id"], status="lost")
    settle(stripe_emulator)
    before = books()
    assert before[2][0][1] == DisputeStatus.LOST

    newest_first = [event["id"] for event in stripe_gateway().events_list()]
    for order in (list(reversed(newest_first)), newest_first):
        results = stripe_emulator.resend(order)
        assert {r["status"] for r in results} == {200}
        assert books() == before
    assert stripe_outbox_push(run_seconds=5).claimed == 0
    assert trial_balance_cents() == 0


def test_dispute_events_first_delivered_in_reverse_order_end_the_same(
    paid, stripe_emulator, live_server
):
    """The close arrives before the opening: the dispute is recorded opened and lost at once,
    and the late opening events change nothing."""
    stripe_emulator.configure(webhook_url=None)  # deliver nothing as it happens
    opened = stripe_emulator.open_dispute(paid.stripe_charge_id)
    stripe_emulator.close_dispute(opened["id"], status="lost")
    dispute_events = [
        event["id"]
        for event in stripe_gateway().events_list()
        if event["type"].startswith("charge.dispute.")
    ]  # newest first: closed, funds_withdrawn, created
    assert len(dispute_events) == 3
    stripe_emulator.configure(webhook_url=f"{live_server.url}/webhooks/stripe/")

    [closed] = stripe_emulator.resend(dispute_events[:1])
    assert closed["status"] == 200
    after_close = books()
    stripe_emulator.resend(dispute_events[1:])

    assert books() == after_close
    assert Dispute.objects.get().status == DisputeStatus.LOST
    assert (
        JournalEntry.objects.filter(
            idempotency_key__in=[f"dispute:{opened['id']}:opened", f"dispute:{opened['id']}:lost"]
        ).count()
        == 2
    )
    assert balance(chart.DISPUTED_FUNDS) == 0
    assert trial_balance_cents() == 0


def test_a_dispute_of_a_charge_not_made_here_is_stored_and_ignored(paid, stripe_emulator):
    client = stripe.StripeClient("sk_test_other", base_addresses={"api": stripe_emulator.api_base})
    invoice = paid_invoice(client, 1000)
    intent = client.v1.payment_intents.retrieve(invoice.payments.data[0].payment.payment_intent)
    before = books()

    stripe_emulator.open_dispute(str(intent.latest_charge))
    settle(stripe_emulator)

    assert StripeEvent.objects.filter(type="charge.dispute.created").exists()
    assert books() == before
