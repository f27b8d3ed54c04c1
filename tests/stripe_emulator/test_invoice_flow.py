"""The invoice workflow through the real SDK: customer → card → draft → items → finalize → pay."""

from __future__ import annotations

import pytest
import requests
import stripe

from tests.stripe_emulator.scenarios import customer_with_card, draft_invoice


def test_full_flow_from_customer_to_paid_invoice(client):
    customer = client.v1.customers.create(
        params={"email": "ada@example.com", "name": "Ada", "metadata": {"local_id": "7"}}
    )
    assert customer.id.startswith("cus_")
    assert len(customer.invoice_prefix) == 8
    assert customer.invoice_prefix.isupper()
    assert customer.next_invoice_sequence == 1
    assert customer.metadata.to_dict() == {"local_id": "7"}

    card = client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
    assert card.id.startswith("pm_")
    assert card.id != "pm_card_visa"
    assert (card.type, card.card.brand, card.card.last4, card.customer) == (
        "card",
        "visa",
        "4242",
        customer.id,
    )
    customer = client.v1.customers.update(
        customer.id, params={"invoice_settings": {"default_payment_method": card.id}}
    )
    assert customer.invoice_settings.default_payment_method == card.id

    invoice = client.v1.invoices.create(
        params={"customer": customer.id, "auto_advance": False, "metadata": {"local": "1"}}
    )
    assert (invoice.status, invoice.currency, invoice.amount_due) == ("draft", "usd", 0)
    first = client.v1.invoice_items.create(
        params={
            "customer": customer.id,
            "invoice": invoice.id,
            "amount": 900,
            "currency": "usd",
            "description": "Membership, January",
            "period": {"start": 1767225600, "end": 1769903999},
            "metadata": {"line": "1"},
        }
    )
    client.v1.invoice_items.create(
        params={"customer": customer.id, "invoice": invoice.id, "amount": 1500}
    )
    assert first.id.startswith("ii_")
    assert first.invoice == invoice.id
    assert first.period.start == 1767225600
    assert client.v1.invoice_items.retrieve(first.id).amount == 900

    draft = client.v1.invoices.retrieve(invoice.id)
    assert (draft.subtotal, draft.total, draft.amount_due, draft.amount_remaining) == (
        2400,
        2400,
        2400,
        2400,
    )
    assert [line.amount for line in draft.lines.data] == [900, 1500]
    assert draft.lines.data[0].parent.invoice_item_details.invoice_item == first.id

    finalized = client.v1.invoices.finalize_invoice(invoice.id)
    assert finalized.status == "open"
    assert finalized.number == f"{customer.invoice_prefix}-0001"
    assert finalized.status_transitions.finalized_at is not None
    assert finalized.hosted_invoice_url.endswith(f"/i/{invoice.id}")
    assert finalized.due_date is None  # charge_automatically
    assert client.v1.customers.retrieve(customer.id).next_invoice_sequence == 2

    paid = client.v1.invoices.pay(invoice.id, params={"off_session": True})
    assert paid.status == "paid"
    assert (paid.amount_paid, paid.amount_remaining, paid.attempted, paid.attempt_count) == (
        2400,
        0,
        True,
        1,
    )
    assert paid.status_transitions.paid_at is not None

    expanded = client.v1.invoices.retrieve(invoice.id, params={"expand": ["payments"]})
    [payment] = expanded.payments.data
    assert payment.id.startswith("inpay_")
    assert (payment.status, payment.amount_paid, payment.payment.type) == (
        "paid",
        2400,
        "payment_intent",
    )
    intent = client.v1.payment_intents.retrieve(payment.payment.payment_intent)
    assert (intent.status, intent.amount_received) == ("succeeded", 2400)
    charge = client.v1.charges.retrieve(intent.latest_charge)
    assert (charge.status, charge.amount, charge.paid, charge.payment_method) == (
        "succeeded",
        2400,
        True,
        card.id,
    )


def test_invoice_numbers_follow_the_customer_sequence(client):
    customer = customer_with_card(client)
    numbers = []
    for _ in range(3):
        invoice = draft_invoice(client, customer.id, 100)
        numbers.append(client.v1.invoices.finalize_invoice(invoice.id).number)
    prefix = customer.invoice_prefix
    assert numbers == [f"{prefix}-0001", f"{prefix}-0002", f"{prefix}-0003"]


def test_finalizing_takes_the_customer_details_of_that_moment(client):
    customer = customer_with_card(client)
    invoice = draft_invoice(client, customer.id, 100)
    client.v1.customers.update(customer.id, params={"email": "new@example.com", "name": "New"})
    finalized = client.v1.invoices.finalize_invoice(invoice.id)
    assert (finalized.customer_email, finalized.customer_name) == ("new@example.com", "New")
    client.v1.customers.update(customer.id, params={"email": "later@example.com"})
    assert client.v1.invoices.retrieve(invoice.id).customer_email == "new@example.com"


def test_a_zero_amount_invoice_is_paid_when_finalized(client):
    customer = customer_with_card(client)
    invoice = draft_invoice(client, customer.id)
    finalized = client.v1.invoices.finalize_invoice(invoice.id)
    assert (finalized.status, finalized.amount_due, finalized.amount_paid) == ("paid", 0, 0)


def test_paying_a_draft_finalizes_it_first(client):
    customer = customer_with_card(client)
    invoice = draft_invoice(client, customer.id, 700)
    paid = client.v1.invoices.pay(invoice.id)
    assert paid.status == "paid"
    assert paid.number
    assert paid.amount_paid == 700


def test_payment_method_order_param_then_invoice_then_customer(client):
    customer = customer_with_card(client, "pm_card_chargeDeclined")
    mastercard = client.v1.payment_methods.attach(
        "pm_card_mastercard", params={"customer": customer.id}
    )
    # The invoice's default wins over the customer's (declining) default.
    invoice = draft_invoice(client, customer.id, 500, default_payment_method=mastercard.id)
    paid = client.v1.invoices.pay(invoice.id, params={"expand": ["payments"]})
    intent = client.v1.payment_intents.retrieve(paid.payments.data[0].payment.payment_intent)
    assert intent.payment_method == mastercard.id
    # The parameter wins over both.
    visa = client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
    other = draft_invoice(client, customer.id, 500, default_payment_method=mastercard.id)
    paid = client.v1.invoices.pay(
        other.id, params={"payment_method": visa.id, "expand": ["payments"]}
    )
    intent = client.v1.payment_intents.retrieve(paid.payments.data[0].payment.payment_intent)
    assert intent.payment_method == visa.id


def test_paying_without_any_payment_method_is_refused_clearly(client):
    customer = client.v1.customers.create(params={"email": "nocard@example.com"})
    invoice = draft_invoice(client, customer.id, 500)
    client.v1.invoices.finalize_invoice(invoice.id)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.invoices.pay(invoice.id)
    assert raised.value.http_status == 400
    assert "no attached payment source or default payment method" in str(raised.value.user_message)
    assert client.v1.invoices.retrieve(invoice.id).status == "open"


def test_pending_invoice_items_join_the_next_invoice_that_includes_them(client):
    customer = customer_with_card(client)
    pending = client.v1.invoice_items.create(params={"customer": customer.id, "amount": 250})
    assert pending.invoice is None
    excluded = client.v1.invoices.create(
        params={"customer": customer.id, "pending_invoice_items_behavior": "exclude"}
    )
    assert excluded.lines.data == []
    included = client.v1.invoices.create(
        params={"customer": customer.id, "pending_invoice_items_behavior": "include"}
    )
    assert [line.amount for line in included.lines.data] == [250]
    assert client.v1.invoice_items.retrieve(pending.id).invoice == included.id


def test_invoice_items_go_only_on_drafts(client):
    customer = customer_with_card(client)
    invoice = draft_invoice(client, customer.id, 100)
    client.v1.invoices.finalize_invoice(invoice.id)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.invoice_items.create(
            params={"customer": customer.id, "invoice": invoice.id, "amount": 100}
        )
    assert (raised.value.http_status, raised.value.param) == (400, "invoice")


def test_hosted_invoice_page_and_pdf_are_served(client):
    customer = customer_with_card(client)
    invoice = client.v1.invoices.finalize_invoice(draft_invoice(client, customer.id, 1234).id)
    page = requests.get(invoice.hosted_invoice_url, timeout=5)
    assert page.status_code == 200
    assert "12.34 USD" in page.text
    pdf = requests.get(invoice.invoice_pdf, timeout=5)
    assert pdf.headers["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")


def test_invoices_list_filters_and_pages(client):
    first, second = customer_with_card(client), customer_with_card(client)
    ids = [draft_invoice(client, first.id, 100).id for _ in range(3)]
    draft_invoice(client, second.id, 100)
    client.v1.invoices.finalize_invoice(ids[0])

    page = client.v1.invoices.list(params={"customer": first.id, "limit": 2})
    assert [inv.id for inv in page.data] == [ids[2], ids[1]]  # newest first
    assert page.has_more is True
    rest = client.v1.invoices.list(
        params={"customer": first.id, "limit": 2, "starting_after": ids[1]}
    )
    assert [inv.id for inv in rest.data] == [ids[0]]
    assert rest.has_more is False
    before = client.v1.invoices.list(params={"customer": first.id, "ending_before": ids[0]})
    assert [inv.id for inv in before.data] == [ids[2], ids[1]]
    opened = client.v1.invoices.list(params={"status": "open"})
    assert [inv.id for inv in opened.data] == [ids[0]]
    assert len(client.v1.invoices.list(params={"created": {"gte": 0}}).data) == 4
    assert client.v1.invoices.list(params={"created": {"lt": 1}}).data == []
