"""Idempotent requests as Stripe documents them."""

from __future__ import annotations

import threading
import time

import pytest
import requests
import stripe

from stripe_emulator.idempotency import KEY_TTL_SECONDS, Claim, Idempotency, fingerprint
from stripe_emulator.store import IdempotentResult, Store
from tests.stripe_emulator.conftest import API_KEY
from tests.stripe_emulator.scenarios import customer_with_card, draft_invoice


def test_the_same_key_and_params_replay_the_first_response(client, emulator):
    options = {"idempotency_key": "customer-create-1"}
    first = client.v1.customers.create(params={"email": "a@example.com"}, options=options)
    again = client.v1.customers.create(params={"email": "a@example.com"}, options=options)

    assert again.id == first.id
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    assert again.last_response.headers["Original-Request"] == first.last_response.request_id
    assert again.last_response.body == first.last_response.body  # byte for byte
    assert "Idempotent-Replayed" not in first.last_response.headers
    assert emulator.objects("customers")["count"] == 1


def test_the_same_key_with_other_params_is_an_idempotency_error(client):
    options = {"idempotency_key": "customer-create-2"}
    client.v1.customers.create(params={"email": "a@example.com"}, options=options)
    with pytest.raises(stripe.IdempotencyError) as raised:
        client.v1.customers.create(params={"email": "b@example.com"}, options=options)
    assert raised.value.http_status == 400
    assert raised.value.json_body["error"]["type"] == "idempotency_error"
    assert str(raised.value.user_message) == (
        "Keys for idempotent requests can only be used with the same parameters they were first "
        "used with. Try using a key other than 'customer-create-2' if you meant to execute a "
        "different request."
    )


def test_the_same_key_on_another_endpoint_is_an_idempotency_error(client):
    customer = client.v1.customers.create(options={"idempotency_key": "shared"})
    with pytest.raises(stripe.IdempotencyError):
        client.v1.invoices.create(
            params={"customer": customer.id}, options={"idempotency_key": "shared"}
        )


def test_keys_are_scoped_to_the_api_key(client, emulator):
    other = stripe.StripeClient(
        "sk_test_other_account", base_addresses={"api": emulator.api_base}, max_network_retries=0
    )
    first = client.v1.customers.create(options={"idempotency_key": "k"})
    second = other.v1.customers.create(options={"idempotency_key": "k"})
    assert first.id != second.id


def test_a_card_decline_is_saved_and_replayed(client, emulator):
    customer = customer_with_card(client, "pm_card_chargeDeclined")
    invoice = client.v1.invoices.finalize_invoice(draft_invoice(client, customer.id, 500).id)
    options = {"idempotency_key": f"pay-{invoice.id}"}
    with pytest.raises(stripe.CardError) as first:
        client.v1.invoices.pay(invoice.id, options=options)
    with pytest.raises(stripe.CardError) as again:
        client.v1.invoices.pay(invoice.id, options=options)

    assert again.value.http_body == first.value.http_body
    assert again.value.headers["Idempotent-Replayed"] == "true"
    assert client.v1.invoices.retrieve(invoice.id).attempt_count == 1  # charged once
    assert emulator.objects("charges")["count"] == 1


def test_a_business_rule_error_is_saved_and_replayed(client):
    customer = customer_with_card(client)
    invoice = draft_invoice(client, customer.id, 500)
    options = {"idempotency_key": "void-a-draft"}
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.void_invoice(invoice.id, options=options)
    client.v1.invoices.finalize_invoice(invoice.id)
    # Voiding would now work, but the key's saved answer is the first one.
    with pytest.raises(stripe.InvalidRequestError) as again:
        client.v1.invoices.void_invoice(invoice.id, options=options)
    assert again.value.headers["Idempotent-Replayed"] == "true"
    assert client.v1.invoices.retrieve(invoice.id).status == "open"


def test_a_validation_failure_saves_nothing(client):
    options = {"idempotency_key": "fix-the-params"}
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.customers.create(params={"emial": "typo@example.com"}, options=options)
    # Other params under the same key: executed, not an idempotency error.
    customer = client.v1.customers.create(params={"email": "ok@example.com"}, options=options)
    assert customer.email == "ok@example.com"


def test_an_injected_fault_saves_nothing(client, emulator):
    emulator.configure(error_rate=1.0)
    options = {"idempotency_key": "through-a-fault"}
    with pytest.raises(stripe.APIError):
        client.v1.customers.create(params={"email": "x@example.com"}, options=options)
    emulator.configure(error_rate=0.0)
    customer = client.v1.customers.create(params={"email": "x@example.com"}, options=options)
    assert "Idempotent-Replayed" not in customer.last_response.headers


def test_a_key_in_flight_answers_409(client, emulator):
    emulator.configure(latency_ms=600)
    url = f"{emulator.api_base}/v1/customers"
    headers = {"Authorization": f"Bearer {API_KEY}", "Idempotency-Key": "in-flight"}
    statuses = []

    def post():
        statuses.append(
            requests.post(url, data={"email": "a@b.c"}, headers=headers, timeout=10).status_code
        )

    threads = [threading.Thread(target=post) for _ in range(2)]
    threads[0].start()
    time.sleep(0.2)  # the first one holds the key while it sleeps its latency
    threads[1].start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 409]


def test_saved_results_expire_after_24_hours(tmp_path):
    now = [1_000_000.0]
    layer = Idempotency(Store(tmp_path), clock=lambda: now[0])
    first = fingerprint("POST", "/v1/customers", {"email": "a"})
    claim = layer.begin("sk_test_x", "key", first)
    assert isinstance(claim, Claim)
    layer.save(claim, status=200, body=b"{}", request_id="req_1")
    layer.release(claim)

    other = fingerprint("POST", "/v1/customers", {"email": "b"})
    replay = layer.begin("sk_test_x", "key", first)
    assert isinstance(replay, IdempotentResult)
    assert replay.request_id == "req_1"
    now[0] += KEY_TTL_SECONDS + 1
    assert isinstance(layer.begin("sk_test_x", "key", other), Claim)  # expired: usable again
