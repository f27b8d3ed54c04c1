"""Credit notes and refunds, and the limits on both."""

from __future__ import annotations

import pytest
import stripe

from tests.stripe_emulator.scenarios import customer_with_card, draft_invoice, paid_invoice


def intent_of(invoice) -> str:
    return str(invoice.payments.data[0].payment.payment_intent)


def test_a_credit_note_on_an_open_invoice_lowers_what_is_due(client):
    customer = customer_with_card(client)
    invoice = client.v1.invoices.finalize_invoice(draft_invoice(client, customer.id, 1000).id)

    note = client.v1.credit_notes.create(
        params={"invoice": invoice.id, "amount": 300, "reason": "order_change", "memo": "Sorry"}
    )

    assert note.id.startswith("cn_")
    assert (note.type, note.amount, note.total, note.status) == ("pre_payment", 300, 300, "issued")
    assert note.number == f"{invoice.number}-CN-01"
    assert (note.memo, note.reason) == ("Sorry", "order_change")
    after = client.v1.invoices.retrieve(invoice.id)
    assert (after.amount_due, after.amount_remaining, after.pre_payment_credit_notes_amount) == (
        700,
        700,
        300,
    )
    paid = client.v1.invoices.pay(invoice.id)
    assert paid.amount_paid == 700
    assert client.v1.credit_notes.retrieve(note.id).amount == 300


def test_crediting_all_that_is_due_pays_the_invoice(client):
    customer = customer_with_card(client)
    invoice = client.v1.invoices.finalize_invoice(draft_invoice(client, customer.id, 1000).id)
    client.v1.credit_notes.create(params={"invoice": invoice.id, "amount": 1000})
    assert client.v1.invoices.retrieve(invoice.id).status == "paid"


def test_a_credit_note_cannot_exceed_what_is_left(client):
    customer = customer_with_card(client)
    invoice = client.v1.invoices.finalize_invoice(draft_invoice(client, customer.id, 1000).id)
    client.v1.credit_notes.create(params={"invoice": invoice.id, "amount": 600})
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.credit_notes.create(params={"invoice": invoice.id, "amount": 401})
    assert raised.value.param == "amount"
    second = client.v1.credit_notes.create(params={"invoice": invoice.id, "amount": 400})
    assert second.number.endswith("-CN-02")


def test_credit_notes_by_line(client):
    customer = customer_with_card(client)
    invoice = client.v1.invoices.finalize_invoice(draft_invoice(client, customer.id, 1000, 500).id)
    first_line = invoice.lines.data[0].id
    note = client.v1.credit_notes.create(
        params={
            "invoice": invoice.id,
            "lines": [
                {"type": "invoice_line_item", "invoice_line_item": first_line, "amount": 400},
                {
                    "type": "custom_line_item",
                    "description": "Goodwill",
                    "unit_amount": 50,
                    "quantity": 2,
                },
            ],
        }
    )
    assert note.amount == 500
    assert [line.type for line in note.lines.data] == ["invoice_line_item", "custom_line_item"]
    assert note.lines.data[0].invoice_line_item == first_line
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.credit_notes.create(
            params={
                "invoice": invoice.id,
                "lines": [
                    {"type": "invoice_line_item", "invoice_line_item": first_line, "amount": 601}
                ],
            }
        )
    assert raised.value.param == "lines[0][amount]"


def test_no_credit_notes_on_drafts_or_void_invoices(client):
    customer = customer_with_card(client)
    draft = draft_invoice(client, customer.id, 1000)
    with pytest.raises(stripe.InvalidRequestError, match="draft"):
        client.v1.credit_notes.create(params={"invoice": draft.id, "amount": 100})


def test_a_post_payment_credit_note_refunds_the_charge(client):
    invoice = paid_invoice(client, 2000)
    note = client.v1.credit_notes.create(
        params={"invoice": invoice.id, "amount": 500, "refund_amount": 500}
    )
    assert (note.type, note.post_payment_amount, note.pre_payment_amount) == (
        "post_payment",
        500,
        0,
    )
    [refund_entry] = note.refunds
    refund = client.v1.refunds.retrieve(refund_entry.refund)
    assert (refund.amount, refund.status, refund.payment_intent) == (
        500,
        "succeeded",
        intent_of(invoice),
    )
    charge = client.v1.charges.retrieve(refund.charge)
    assert (charge.amount_refunded, charge.refunded) == (500, False)
    after = client.v1.invoices.retrieve(invoice.id)
    assert (after.status, after.post_payment_credit_notes_amount) == ("paid", 500)


def test_a_post_payment_credit_note_credits_the_balance_by_default(client):
    invoice = paid_invoice(client, 2000)
    note = client.v1.credit_notes.create(params={"invoice": invoice.id, "amount": 800})
    assert note.customer_balance_transaction.startswith("cbtxn_")
    assert client.v1.customers.retrieve(invoice.customer).balance == -800
    # The credit is applied to the customer's next invoice.
    nxt = draft_invoice(client, invoice.customer, 1000)
    finalized = client.v1.invoices.finalize_invoice(nxt.id)
    assert (finalized.amount_due, finalized.starting_balance, finalized.ending_balance) == (
        200,
        -800,
        0,
    )


def test_post_payment_credit_is_limited_to_what_was_paid(client):
    invoice = paid_invoice(client, 1000)
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.credit_notes.create(params={"invoice": invoice.id, "amount": 1001})
    with pytest.raises(stripe.InvalidRequestError, match="must equal"):
        client.v1.credit_notes.create(
            params={
                "invoice": invoice.id,
                "amount": 500,
                "refund_amount": 300,
                "credit_amount": 100,
            }
        )


def test_refunds_up_to_the_charged_amount(client):
    invoice = paid_invoice(client, 1000)
    intent = intent_of(invoice)
    first = client.v1.refunds.create(
        params={
            "payment_intent": intent,
            "amount": 400,
            "reason": "requested_by_customer",
            "metadata": {"k": "v"},
        }
    )
    assert first.id.startswith("re_")
    assert (first.amount, first.status, first.reason) == (400, "succeeded", "requested_by_customer")
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.refunds.create(params={"payment_intent": intent, "amount": 601})
    assert raised.value.param == "amount"
    rest = client.v1.refunds.create(params={"charge": first.charge})  # default: what remains
    assert rest.amount == 600
    charge = client.v1.charges.retrieve(first.charge)
    assert (charge.amount_refunded, charge.refunded) == (1000, True)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.refunds.create(params={"charge": first.charge, "amount": 1})
    assert raised.value.code == "charge_already_refunded"


def test_a_refund_needs_a_charge_or_payment_intent(client):
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.refunds.create(params={"amount": 100})
    assert raised.value.code == "parameter_missing"
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.refunds.create(params={"charge": "ch_missing"})
    assert (raised.value.http_status, raised.value.code) == (404, "resource_missing")


def test_a_failed_charge_cannot_be_refunded(client):
    customer = customer_with_card(client, "pm_card_chargeDeclined")
    invoice = client.v1.invoices.finalize_invoice(draft_invoice(client, customer.id, 500).id)
    with pytest.raises(stripe.CardError) as declined:
        client.v1.invoices.pay(invoice.id)
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.refunds.create(params={"charge": declined.value.json_body["error"]["charge"]})
