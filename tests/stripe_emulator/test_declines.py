"""Stripe's decline test cards: they attach fine and fail when charged."""

from __future__ import annotations

import pytest
import stripe

from tests.stripe_emulator.scenarios import customer_with_card, draft_invoice

DECLINES = [
    ("pm_card_chargeDeclined", "generic_decline", "Your card was declined.", "0002"),
    (
        "pm_card_chargeDeclinedInsufficientFunds",
        "insufficient_funds",
        "Your card has insufficient funds.",
        "9995",
    ),
]


@pytest.mark.parametrize(("token", "decline_code", "message", "last4"), DECLINES)
def test_a_declined_card_raises_card_error_and_leaves_the_invoice_open(
    client, token, decline_code, message, last4
):
    customer = customer_with_card(client, token)
    card = client.v1.payment_methods.retrieve(customer.invoice_settings.default_payment_method)
    assert card.card.last4 == last4
    invoice = client.v1.invoices.finalize_invoice(draft_invoice(client, customer.id, 9900).id)

    with pytest.raises(stripe.CardError) as raised:
        client.v1.invoices.pay(invoice.id)

    error = raised.value
    assert (error.http_status, error.code, error.user_message) == (402, "card_declined", message)
    body = error.json_body["error"]
    assert body["type"] == "card_error"
    assert body["decline_code"] == decline_code
    assert body["doc_url"] == "https://stripe.com/docs/error-codes/card-declined"
    assert body["charge"].startswith("ch_")
    assert body["payment_method"]["id"] == card.id
    assert body["payment_intent"]["status"] == "requires_payment_method"
    assert body["payment_intent"]["last_payment_error"]["decline_code"] == decline_code
    assert error.headers["Request-Id"].startswith("req_")

    after = client.v1.invoices.retrieve(invoice.id)
    assert (after.status, after.amount_paid, after.attempted, after.attempt_count) == (
        "open",
        0,
        True,
        1,
    )
    charge = client.v1.charges.retrieve(body["charge"])
    assert (charge.status, charge.paid, charge.failure_code, charge.outcome.reason) == (
        "failed",
        False,
        "card_declined",
        decline_code,
    )


def test_a_retry_with_a_good_card_reuses_the_invoice_payment_intent(client):
    customer = customer_with_card(client, "pm_card_chargeDeclined")
    invoice = client.v1.invoices.finalize_invoice(draft_invoice(client, customer.id, 500).id)
    with pytest.raises(stripe.CardError) as raised:
        client.v1.invoices.pay(invoice.id)
    failed_intent = raised.value.json_body["error"]["payment_intent"]["id"]

    visa = client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
    paid = client.v1.invoices.pay(
        invoice.id, params={"payment_method": visa.id, "expand": ["payments"]}
    )

    assert (paid.status, paid.attempt_count, paid.amount_paid) == ("paid", 2, 500)
    [payment] = paid.payments.data
    assert payment.payment.payment_intent == failed_intent
    intent = client.v1.payment_intents.retrieve(failed_intent)
    assert (intent.status, intent.last_payment_error) == ("succeeded", None)


def test_an_uncollectible_invoice_can_still_be_paid(client):
    customer = customer_with_card(client)
    invoice = client.v1.invoices.finalize_invoice(draft_invoice(client, customer.id, 300).id)
    client.v1.invoices.mark_uncollectible(invoice.id)
    assert client.v1.invoices.pay(invoice.id).status == "paid"


def test_paying_a_paid_invoice_is_refused(client):
    customer = customer_with_card(client)
    invoice = client.v1.invoices.pay(draft_invoice(client, customer.id, 300).id)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.invoices.pay(invoice.id)
    assert (raised.value.http_status, raised.value.code) == (400, "invoice_already_paid")


def test_paying_a_void_invoice_is_refused(client):
    customer = customer_with_card(client)
    invoice = client.v1.invoices.finalize_invoice(draft_invoice(client, customer.id, 300).id)
    client.v1.invoices.void_invoice(invoice.id)
    with pytest.raises(stripe.InvalidRequestError, match="void"):
        client.v1.invoices.pay(invoice.id)


def test_attaching_an_unknown_payment_method_is_resource_missing(client):
    customer = client.v1.customers.create()
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_methods.attach("pm_does_not_exist", params={"customer": customer.id})
    assert (raised.value.http_status, raised.value.code) == (404, "resource_missing")


def test_a_card_attached_elsewhere_cannot_be_attached_again(client):
    first, second = client.v1.customers.create(), client.v1.customers.create()
    card = client.v1.payment_methods.attach("pm_card_visa", params={"customer": first.id})
    again = client.v1.payment_methods.attach(card.id, params={"customer": first.id})
    assert again.id == card.id
    with pytest.raises(stripe.InvalidRequestError, match="already been attached"):
        client.v1.payment_methods.attach(card.id, params={"customer": second.id})
