"""State and pending webhook deliveries survive a restart."""

from __future__ import annotations

import stripe

from tests.emulator_process import EmulatorProcess
from tests.stripe_emulator.conftest import API_KEY, WEBHOOK_SECRET
from tests.stripe_emulator.scenarios import customer_with_card, draft_invoice
from tests.stripe_emulator.test_webhooks import wait_for


def sdk(emulator: EmulatorProcess) -> stripe.StripeClient:
    return stripe.StripeClient(
        API_KEY, base_addresses={"api": emulator.api_base}, max_network_retries=0
    )


def test_state_survives_a_restart(tmp_path):
    with EmulatorProcess(data_dir=tmp_path, rate_limit_per_second=0) as emulator:
        client = sdk(emulator)
        customer = customer_with_card(client)
        invoice = client.v1.invoices.finalize_invoice(
            draft_invoice(client, customer.id, 1200).id, options={"idempotency_key": "finalize"}
        )
        events_before = [event.id for event in client.v1.events.list(params={"limit": 100}).data]

        emulator.restart()

        client = sdk(emulator)
        again = client.v1.invoices.retrieve(invoice.id)
        assert (again.status, again.number, again.amount_due) == ("open", invoice.number, 1200)
        assert client.v1.customers.retrieve(customer.id).next_invoice_sequence == 2
        events_after = [event.id for event in client.v1.events.list(params={"limit": 100}).data]
        assert events_after == events_before
        replay = client.v1.invoices.finalize_invoice(
            invoice.id, options={"idempotency_key": "finalize"}
        )
        assert replay.last_response.headers["Idempotent-Replayed"] == "true"
        assert client.v1.invoices.pay(invoice.id).status == "paid"


def test_pending_webhooks_resume_after_a_restart(tmp_path, webhook_receiver):
    webhook_receiver.statuses = [500]
    with EmulatorProcess(
        data_dir=tmp_path,
        rate_limit_per_second=0,
        webhook_url=webhook_receiver.url,
        webhook_secret=WEBHOOK_SECRET,
        webhook_backoff_ms=1500,
    ) as emulator:
        customer = sdk(emulator).v1.customers.create()
        wait_for(lambda: len(webhook_receiver.received) == 1, what="the first, failing attempt")

        emulator.restart()

        wait_for(lambda: len(webhook_receiver.received) == 2, what="the retry after the restart")
        [row] = emulator.webhooks()
        assert (row["attempts"], row["delivered"]) == (2, True)
        assert webhook_receiver.events()[1]["data"]["object"]["id"] == customer.id
