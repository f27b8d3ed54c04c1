"""Disputes opened and closed from the control API, and the balance transactions (with Stripe's
card fee) of charges, refunds and disputes, read through the real SDK."""

from __future__ import annotations

import pytest
import stripe

from stripe_emulator.balance import card_fee_cents
from stripe_emulator.templates import TEMPLATES
from tests.stripe_emulator.conftest import WEBHOOK_SECRET
from tests.stripe_emulator.scenarios import paid_invoice
from tests.stripe_emulator.test_shapes import as_dict, assert_shape
from tests.stripe_emulator.test_webhooks import wait_for


def paid_charge(client, *amounts: int):
    invoice = paid_invoice(client, *amounts)
    intent = client.v1.payment_intents.retrieve(invoice.payments.data[0].payment.payment_intent)
    return client.v1.charges.retrieve(intent.latest_charge)


@pytest.mark.parametrize(
    ("amount", "fee"),
    [(1000, 59), (500, 45), (19900, 607), (900, 56), (50, 31), (1, 1), (0, 0)],
)
def test_the_card_fee_is_2_9_percent_half_up_plus_30_cents(amount, fee):
    assert card_fee_cents(amount) == fee


def test_a_succeeded_charge_has_a_balance_transaction_with_the_fee(client):
    charge = paid_charge(client, 900, 1100)

    txn = client.v1.balance_transactions.retrieve(charge.balance_transaction)

    assert txn.id.startswith("txn_")
    assert (txn.amount, txn.fee, txn.net, txn.currency) == (2000, 88, 1912, "usd")
    assert (txn.type, txn.reporting_category, txn.source, txn.status) == (
        "charge",
        "charge",
        charge.id,
        "available",
    )
    assert [as_dict(d) for d in txn.fee_details] == [
        {
            "amount": 88,
            "application": None,
            "currency": "usd",
            "description": "Stripe processing fees",
            "type": "stripe_fee",
        }
    ]
    assert_shape(as_dict(txn), TEMPLATES["balance_transaction"], "balance_transaction")
    expanded = client.v1.charges.retrieve(charge.id, params={"expand": ["balance_transaction"]})
    assert expanded.balance_transaction.fee == 88


def test_a_refund_has_a_balance_transaction_without_fee(client):
    charge = paid_charge(client, 1000)
    refund = client.v1.refunds.create(params={"charge": charge.id, "amount": 400})
    txn = client.v1.balance_transactions.retrieve(refund.balance_transaction)
    assert (txn.amount, txn.fee, txn.net, txn.type, txn.source) == (
        -400,
        0,
        -400,
        "refund",
        refund.id,
    )


def test_an_unknown_balance_transaction_or_dispute_is_404(client):
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.balance_transactions.retrieve("txn_nope")
    assert raised.value.http_status == 404
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.disputes.retrieve("dp_nope")


def test_a_dispute_withdraws_the_charge_and_is_retrievable(client, emulator):
    charge = paid_charge(client, 1500)

    opened = emulator.open_dispute(charge.id, reason="fraudulent")

    dispute = client.v1.disputes.retrieve(opened["id"])
    assert dispute.id.startswith("dp_")
    assert (dispute.amount, dispute.currency, dispute.status, dispute.reason) == (
        1500,
        "usd",
        "needs_response",
        "fraudulent",
    )
    assert (dispute.charge, dispute.payment_intent) == (charge.id, charge.payment_intent)
    [withdrawal] = dispute.balance_transactions
    assert (withdrawal.amount, withdrawal.fee, withdrawal.reporting_category) == (
        -1500,
        0,
        "dispute",
    )
    assert client.v1.balance_transactions.retrieve(withdrawal.id).source == dispute.id
    assert client.v1.charges.retrieve(charge.id).disputed is True
    assert_shape(as_dict(dispute), TEMPLATES["dispute"], "dispute")
    types = [e.type for e in client.v1.events.list(params={"type": "charge.dispute.*"}).data]
    assert sorted(types) == ["charge.dispute.created", "charge.dispute.funds_withdrawn"]


def test_a_partial_dispute_and_the_limits(client, emulator):
    charge = paid_charge(client, 1000)
    client.v1.refunds.create(params={"charge": charge.id, "amount": 300})
    with pytest.raises(RuntimeError, match="400"):
        emulator.open_dispute(charge.id, amount=701)  # more than is left after the refund
    with pytest.raises(RuntimeError, match="400"):
        emulator.open_dispute(charge.id, reason="because")
    with pytest.raises(RuntimeError, match="404"):
        emulator.open_dispute("ch_missing")
    assert emulator.open_dispute(charge.id)["amount"] == 700  # the default: what is left
    with pytest.raises(RuntimeError, match="already disputed"):
        emulator.open_dispute(charge.id, amount=1)


def test_a_won_dispute_reinstates_the_funds(client, emulator):
    charge = paid_charge(client, 1200)
    opened = emulator.open_dispute(charge.id, amount=1000)

    closed = emulator.close_dispute(opened["id"], status="won")

    assert closed["status"] == "won"
    dispute = client.v1.disputes.retrieve(opened["id"])
    assert [t.amount for t in dispute.balance_transactions] == [-1000, 1000]
    assert dispute.balance_transactions[1].reporting_category == "dispute_reversal"
    events = client.v1.events.list(params={"type": "charge.dispute.*"}).data
    assert sorted(e.type for e in events) == [
        "charge.dispute.closed",
        "charge.dispute.created",
        "charge.dispute.funds_reinstated",
        "charge.dispute.funds_withdrawn",
    ]
    [closed_event] = [e for e in events if e.type == "charge.dispute.closed"]
    assert closed_event.data.object.status == "won"
    assert closed_event.data.previous_attributes.status == "needs_response"
    assert closed_event.request.id is None
    with pytest.raises(RuntimeError, match="already won"):
        emulator.close_dispute(opened["id"], status="lost")


def test_a_lost_dispute_keeps_the_funds_withdrawn(client, emulator):
    charge = paid_charge(client, 1200)
    opened = emulator.open_dispute(charge.id)
    with pytest.raises(RuntimeError, match="400"):
        emulator.close_dispute(opened["id"], status="maybe")

    emulator.close_dispute(opened["id"], status="lost")

    dispute = client.v1.disputes.retrieve(opened["id"])
    assert dispute.status == "lost"
    assert [t.amount for t in dispute.balance_transactions] == [-1200]
    types = [e.type for e in client.v1.events.list(params={"type": "charge.dispute.*"}).data]
    assert sorted(types) == [
        "charge.dispute.closed",
        "charge.dispute.created",
        "charge.dispute.funds_withdrawn",
    ]
    assert emulator.objects("disputes", status="lost")["count"] == 1


def test_dispute_events_arrive_as_signed_webhooks(client, emulator, webhook_receiver):
    charge = paid_charge(client, 800)
    emulator.configure(webhook_url=webhook_receiver.url)

    opened = emulator.open_dispute(charge.id)
    emulator.close_dispute(opened["id"], status="won")

    wait_for(lambda: len(webhook_receiver.received) == 4, what="four dispute webhooks")
    for delivery in webhook_receiver.received:
        event = stripe.Webhook.construct_event(
            delivery.body.decode(), delivery.headers["Stripe-Signature"], WEBHOOK_SECRET, 300
        )
        assert event.data.object.id == opened["id"]
