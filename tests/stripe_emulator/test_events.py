"""Events: what changed, newest first, with Stripe's filters and cursors."""

from __future__ import annotations

import pytest
import stripe

from tests.stripe_emulator.scenarios import customer_with_card, draft_invoice


def test_the_invoice_flow_records_its_events_newest_first(client):
    customer = customer_with_card(client)
    invoice = draft_invoice(client, customer.id, 900, 1500)
    client.v1.invoices.finalize_invoice(invoice.id)
    client.v1.invoices.pay(invoice.id)

    events = client.v1.events.list(params={"limit": 100}).data
    assert [event.type for event in reversed(events)] == [
        "customer.created",
        "payment_method.attached",
        "customer.updated",
        "invoice.created",
        "invoiceitem.created",
        "invoice.updated",
        "invoiceitem.created",
        "invoice.updated",
        "invoice.finalized",
        "charge.succeeded",
        "payment_intent.succeeded",
        "invoice.paid",
        "invoice.payment_succeeded",
    ]
    created = [event.created for event in events]
    assert created == sorted(created, reverse=True)
    paid = events[1]
    assert paid.id.startswith("evt_")
    assert paid.api_version == stripe._api_version._ApiVersion.CURRENT
    assert paid.livemode is False
    assert paid.data.object.status == "paid"
    assert paid.data.previous_attributes.status == "open"
    assert paid.request.id.startswith("req_")


def test_a_declined_payment_records_the_failure_events(client):
    customer = customer_with_card(client, "pm_card_chargeDeclinedInsufficientFunds")
    invoice = client.v1.invoices.finalize_invoice(draft_invoice(client, customer.id, 500).id)
    with pytest.raises(stripe.CardError):
        client.v1.invoices.pay(invoice.id)
    types = [event.type for event in client.v1.events.list(params={"limit": 3}).data]
    assert types == ["invoice.payment_failed", "payment_intent.payment_failed", "charge.failed"]


def test_events_carry_the_idempotency_key_of_their_request(client):
    client.v1.customers.create(options={"idempotency_key": "who-did-this"})
    [event] = client.v1.events.list(params={"type": "customer.created"}).data
    assert event.request.idempotency_key == "who-did-this"
    assert client.v1.events.retrieve(event.id).id == event.id


def test_filters_by_type_types_wildcard_and_created(client):
    customer = customer_with_card(client)
    invoice = draft_invoice(client, customer.id, 100)
    client.v1.invoices.void_invoice(client.v1.invoices.finalize_invoice(invoice.id).id)

    def types_of(params):
        return [event.type for event in client.v1.events.list(params=params).data]

    assert types_of({"type": "invoice.voided"}) == ["invoice.voided"]
    assert types_of({"types": ["invoice.created", "customer.created"]}) == [
        "invoice.created",
        "customer.created",
    ]
    assert set(types_of({"type": "invoice.*"})) == {
        "invoice.created",
        "invoice.updated",
        "invoice.finalized",
        "invoice.voided",
    }
    newest = client.v1.events.list(params={"limit": 1}).data[0]
    assert len(types_of({"created": {"gte": newest.created}})) >= 1
    assert types_of({"created": {"gt": newest.created}}) == []


def test_pages_with_starting_after_and_ending_before(client):
    for number in range(5):
        client.v1.customers.create(params={"name": f"c{number}"})
    everything = [event.id for event in client.v1.events.list().data]
    first = client.v1.events.list(params={"limit": 2})
    assert [event.id for event in first.data] == everything[:2]
    assert first.has_more is True
    second = client.v1.events.list(params={"limit": 2, "starting_after": everything[1]})
    assert [event.id for event in second.data] == everything[2:4]
    back = client.v1.events.list(params={"limit": 2, "ending_before": everything[2]})
    assert [event.id for event in back.data] == everything[:2]
    assert back.has_more is False
    last = client.v1.events.list(params={"limit": 2, "starting_after": everything[3]})
    assert ([event.id for event in last.data], last.has_more) == ([everything[4]], False)


@pytest.mark.parametrize("limit", [0, 101])
def test_list_limits_are_checked(client, limit):
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.events.list(params={"limit": limit})
    assert raised.value.param == "limit"
