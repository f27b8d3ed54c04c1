"""The emulator's own control API (not Stripe's)."""

from __future__ import annotations

import requests


def test_health_and_config(emulator):
    assert requests.get(f"{emulator.api_base}/_emulator/health", timeout=5).json() == {"ok": True}
    config = emulator.config()
    assert config["rate_limit_per_second"] == 0
    assert config["webhook_secret"].startswith("whsec_")
    assert emulator.configure(latency_ms=5)["latency_ms"] == 5


def test_objects_can_be_counted_by_metadata(client, emulator):
    customer = client.v1.customers.create()
    for run in ("a", "a", "b"):
        client.v1.invoices.create(params={"customer": customer.id, "metadata": {"run": run}})

    runs = emulator.objects("invoices", metadata_key="run", metadata_value="a")
    assert runs["count"] == 2
    assert {invoice["metadata"]["run"] for invoice in runs["data"]} == {"a"}
    assert emulator.objects("invoices", metadata_key="run")["count"] == 3
    assert (
        emulator.objects("invoices", customer=customer.id, status="draft", limit="1")["count"] == 3
    )
    assert len(emulator.objects("invoices", limit="1")["data"]) == 1


def test_reset_deletes_everything(client, emulator):
    client.v1.customers.create(options={"idempotency_key": "before-reset"})
    emulator.reset()
    assert emulator.objects("customers")["count"] == 0
    assert client.v1.events.list().data == []
    again = client.v1.customers.create(options={"idempotency_key": "before-reset"})
    assert "Idempotent-Replayed" not in again.last_response.headers


def test_unknown_control_endpoints_are_404(emulator):
    assert requests.get(f"{emulator.api_base}/_emulator/nothing", timeout=5).status_code == 404
    assert (
        requests.get(f"{emulator.api_base}/_emulator/objects/plans", timeout=5).status_code == 404
    )
