"""Invoice status transitions: finalize, send, void, mark_uncollectible, update."""

from __future__ import annotations

import time

import pytest
import stripe

from tests.stripe_emulator.scenarios import customer_with_card, draft_invoice, paid_invoice

DAY = 86_400


@pytest.fixture
def open_invoice(client):
    customer = customer_with_card(client)
    return client.v1.invoices.finalize_invoice(draft_invoice(client, customer.id, 1000).id)


def test_void_an_open_invoice(client, open_invoice):
    voided = client.v1.invoices.void_invoice(open_invoice.id)
    assert voided.status == "void"
    assert voided.status_transitions.voided_at is not None


def test_mark_uncollectible_then_void(client, open_invoice):
    written_off = client.v1.invoices.mark_uncollectible(open_invoice.id)
    assert written_off.status == "uncollectible"
    assert written_off.status_transitions.marked_uncollectible_at is not None
    assert client.v1.invoices.void_invoice(open_invoice.id).status == "void"


@pytest.mark.parametrize(
    ("state", "action", "message"),
    [
        ("draft", "void_invoice", "draft"),
        ("draft", "mark_uncollectible", "draft"),
        ("paid", "void_invoice", "paid"),
        ("paid", "mark_uncollectible", "paid"),
        ("void", "void_invoice", "already void"),
        ("void", "mark_uncollectible", "void"),
        ("uncollectible", "mark_uncollectible", "uncollectible"),
        ("open", "finalize_invoice", "already finalized"),
    ],
)
def test_invalid_transitions_are_refused(client, state, action, message):
    customer = customer_with_card(client)
    invoice = draft_invoice(client, customer.id, 1000)
    if state != "draft":
        client.v1.invoices.finalize_invoice(invoice.id)
    if state == "paid":
        client.v1.invoices.pay(invoice.id)
    elif state == "void":
        client.v1.invoices.void_invoice(invoice.id)
    elif state == "uncollectible":
        client.v1.invoices.mark_uncollectible(invoice.id)

    with pytest.raises(stripe.InvalidRequestError, match=message) as raised:
        getattr(client.v1.invoices, action)(invoice.id)

    assert raised.value.http_status == 400
    assert raised.value.json_body["error"]["type"] == "invalid_request_error"
    assert client.v1.invoices.retrieve(invoice.id).status == state


def test_send_invoice_with_net_terms_sets_the_due_date(client):
    customer = client.v1.customers.create(params={"email": "benefits@example.com"})
    invoice = draft_invoice(
        client, customer.id, 60_000, collection_method="send_invoice", days_until_due=30
    )
    assert invoice.due_date is None
    finalized = client.v1.invoices.finalize_invoice(invoice.id)
    finalized_at = finalized.status_transitions.finalized_at
    assert finalized.due_date == finalized_at + 30 * DAY
    assert finalized.collection_method == "send_invoice"
    sent = client.v1.invoices.send_invoice(invoice.id)
    assert sent.status == "open"
    [event] = client.v1.events.list(params={"type": "invoice.sent"}).data
    assert event.data.object.id == invoice.id


def test_send_invoice_needs_net_terms(client):
    customer = client.v1.customers.create()
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.invoices.create(
            params={"customer": customer.id, "collection_method": "send_invoice"}
        )
    assert raised.value.param == "days_until_due"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.create(params={"customer": customer.id, "days_until_due": 30})


def test_an_explicit_due_date_is_kept(client):
    customer = client.v1.customers.create()
    due = int(time.time()) + 10 * DAY
    invoice = draft_invoice(
        client, customer.id, 100, collection_method="send_invoice", due_date=due
    )
    assert client.v1.invoices.finalize_invoice(invoice.id).due_date == due


def test_only_send_invoice_invoices_that_are_open_can_be_sent(client, open_invoice):
    with pytest.raises(stripe.InvalidRequestError, match="send_invoice"):
        client.v1.invoices.send_invoice(open_invoice.id)
    customer = client.v1.customers.create()
    draft = draft_invoice(
        client, customer.id, 100, collection_method="send_invoice", days_until_due=7
    )
    with pytest.raises(stripe.InvalidRequestError, match="open"):
        client.v1.invoices.send_invoice(draft.id)


def test_a_draft_can_be_updated(client):
    customer = customer_with_card(client)
    invoice = draft_invoice(client, customer.id, 100, metadata={"a": "1", "b": "2"})
    updated = client.v1.invoices.update(
        invoice.id,
        params={"description": "January", "metadata": {"a": "", "c": "3"}, "auto_advance": True},
    )
    assert updated.description == "January"
    assert updated.metadata.to_dict() == {"b": "2", "c": "3"}
    assert updated.auto_advance is True
    [event] = client.v1.events.list(params={"type": "invoice.updated"}).data[:1]
    assert event.data.previous_attributes.description is None


def test_a_finalized_invoice_takes_only_metadata_like_updates(client, open_invoice):
    updated = client.v1.invoices.update(open_invoice.id, params={"metadata": {"k": "v"}})
    assert updated.metadata.to_dict() == {"k": "v"}
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.invoices.update(open_invoice.id, params={"collection_method": "send_invoice"})
    assert (raised.value.code, raised.value.param) == ("invoice_not_editable", "collection_method")


def test_paid_invoice_cannot_be_finalized_again(client):
    invoice = paid_invoice(client, 100)
    with pytest.raises(stripe.InvalidRequestError, match="already finalized"):
        client.v1.invoices.finalize_invoice(invoice.id)
