"""A request whose body never fully arrives is not executed (found by the seeded simulation: a
push worker SIGKILLed between sending a request's headers and its body left the emulator
saving a 400 under the idempotency key, so the retry with the whole body got an
`idempotency_error` and the command failed)."""

from __future__ import annotations

import socket
import time

from tests.stripe_emulator.conftest import API_KEY


def test_a_body_cut_short_executes_nothing_and_saves_no_idempotent_result(client, emulator):
    customer = client.v1.customers.create(params={"email": "a@example.com"})
    headers = (
        "POST /v1/invoiceitems HTTP/1.1\r\n"
        "Host: 127.0.0.1\r\n"
        f"Authorization: Bearer {API_KEY}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        "Idempotency-Key: item-1\r\n"
        "Content-Length: 200\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", emulator.port)) as dying_client:
        dying_client.sendall(headers.encode() + b"customer=" + customer.id.encode())
    time.sleep(0.2)  # the emulator reads what there is and sees the connection close

    item = client.v1.invoice_items.create(
        params={"customer": customer.id, "amount": 100, "currency": "usd"},
        options={"idempotency_key": "item-1"},
    )

    assert item.amount == 100
    assert "Idempotent-Replayed" not in item.last_response.headers
    assert emulator.stats()["requests"] == 2  # the customer and the item: nothing cut short
