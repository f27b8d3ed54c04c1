"""Signed webhooks to a local receiver: signature, retries, duplicates, shuffling."""

from __future__ import annotations

import time

import stripe

from tests.stripe_emulator.conftest import WEBHOOK_SECRET


def wait_for(condition, *, timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def test_every_event_arrives_signed_as_stripe_signs(client, emulator, webhook_receiver):
    emulator.configure(webhook_url=webhook_receiver.url)
    customer = client.v1.customers.create(params={"email": "hook@example.com"})
    client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})

    wait_for(lambda: len(webhook_receiver.received) == 2, what="two webhooks")
    for delivery in webhook_receiver.received:
        assert delivery.headers["Content-Type"] == "application/json; charset=utf-8"
        event = stripe.Webhook.construct_event(
            delivery.body.decode(),
            delivery.headers["Stripe-Signature"],
            WEBHOOK_SECRET,
            tolerance=300,
        )
        assert event.id.startswith("evt_")
    types = sorted(event["type"] for event in webhook_receiver.events())
    assert types == ["customer.created", "payment_method.attached"]
    wait_for(lambda: all(row["delivered"] for row in emulator.webhooks()), what="log")
    [created] = [row for row in emulator.webhooks() if row["type"] == "customer.created"]
    assert (created["attempts"], created["deliveries"], created["last_status"]) == (1, 1, 200)


def test_a_wrong_secret_does_not_verify(client, emulator, webhook_receiver):
    emulator.configure(webhook_url=webhook_receiver.url)
    client.v1.customers.create()
    wait_for(lambda: webhook_receiver.received, what="a webhook")
    delivery = webhook_receiver.received[0]
    try:
        stripe.Webhook.construct_event(
            delivery.body.decode(),
            delivery.headers["Stripe-Signature"],
            "whsec_other",
            tolerance=300,
        )
    except stripe.SignatureVerificationError:
        return
    raise AssertionError("a signature verified with another secret")


def test_a_failed_delivery_is_retried(client, emulator, webhook_receiver):
    webhook_receiver.statuses = [500]
    emulator.configure(webhook_url=webhook_receiver.url, webhook_backoff_ms=50)
    customer = client.v1.customers.create()

    wait_for(lambda: len(webhook_receiver.received) == 2, what="a retry")
    assert [e["data"]["object"]["id"] for e in webhook_receiver.events()] == [customer.id] * 2
    wait_for(lambda: emulator.webhooks()[0]["delivered"], what="delivered")
    [row] = emulator.webhooks()
    assert (row["attempts"], row["deliveries"], row["last_status"]) == (2, 1, 200)


def test_delivery_gives_up_after_max_attempts(client, emulator, webhook_receiver):
    webhook_receiver.statuses = [503] * 10
    emulator.configure(
        webhook_url=webhook_receiver.url, webhook_backoff_ms=20, webhook_max_attempts=3
    )
    customer = client.v1.customers.create()

    wait_for(lambda: emulator.webhooks()[0]["failed"], what="giving up")
    [row] = emulator.webhooks()
    assert (row["attempts"], row["delivered"], row["last_status"]) == (3, False, 503)
    [event] = client.v1.events.list(params={"type": "customer.created"}).data
    assert event.data.object.id == customer.id
    assert event.pending_webhooks == 0


def test_duplicates_deliver_every_event_n_times(client, emulator, webhook_receiver):
    emulator.configure(webhook_url=webhook_receiver.url, webhook_duplicates=3)
    client.v1.customers.create()

    wait_for(lambda: len(webhook_receiver.received) == 3, what="three copies")
    assert len({event["id"] for event in webhook_receiver.events()}) == 1
    [row] = emulator.webhooks()
    assert (row["copies"], row["deliveries"]) == (3, 3)


def test_shuffle_delivers_a_batch_in_random_order(client, emulator, webhook_receiver):
    emulator.configure(
        webhook_url=webhook_receiver.url, webhook_shuffle=True, webhook_batch_ms=400, seed=3
    )
    started = time.monotonic()
    created = [client.v1.customers.create(params={"name": f"c{n}"}).id for n in range(12)]

    wait_for(lambda: webhook_receiver.received, what="the first webhook")
    assert time.monotonic() - started >= 0.35  # held back while the batch collected
    wait_for(lambda: len(webhook_receiver.received) == 12, what="twelve webhooks")
    arrived = [event["data"]["object"]["id"] for event in webhook_receiver.events()]
    assert sorted(arrived) == sorted(created)
    assert arrived != created


def test_events_created_without_an_endpoint_are_not_delivered_later(
    client, emulator, webhook_receiver
):
    client.v1.customers.create()
    emulator.configure(webhook_url=webhook_receiver.url)
    client.v1.customers.create(params={"name": "after"})
    wait_for(lambda: webhook_receiver.received, what="a webhook")
    time.sleep(0.2)
    assert [e["data"]["object"]["name"] for e in webhook_receiver.events()] == ["after"]
