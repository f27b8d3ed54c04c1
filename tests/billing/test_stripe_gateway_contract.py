"""Contract tests for the gateway: the same tests against the emulator (always) and against
Stripe's real test mode when STRIPE_TEST_SECRET_KEY holds an sk_test_ key (skipped otherwise)."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator

import pytest

from billing.stripe_gateway import StripeGateway, StripeRequestError

STRIPE_TEST_KEY = os.environ.get("STRIPE_TEST_SECRET_KEY", "")


@pytest.fixture(params=["emulator", "stripe_test_mode"])
def gateway(request, stripe_emulator_process) -> Iterator[StripeGateway]:
    if request.param == "stripe_test_mode":
        if not STRIPE_TEST_KEY.startswith("sk_test_"):
            pytest.skip("STRIPE_TEST_SECRET_KEY is not an sk_test_ key: real test mode not tried")
        yield StripeGateway(
            api_key=STRIPE_TEST_KEY,
            api_base="https://api.stripe.com",
            timeout_seconds=30,
            throttle=None,
        )
        return
    stripe_emulator_process.reset()
    yield StripeGateway(
        api_key="sk_test_emulator",
        api_base=stripe_emulator_process.api_base,
        timeout_seconds=10,
        throttle=None,
    )


def key(label: str) -> str:
    return f"contract:{label}:{uuid.uuid4()}"


def customer_with_card(gateway: StripeGateway, token: str = "pm_card_visa") -> str:  # noqa: S107
    customer_id = gateway.customer_create(
        email="contract@example.test",
        name="Contract Test",
        metadata={"suite": "contract"},
        idempotency_key=key("cus"),
    )
    method = gateway.payment_method_attach(
        payment_method_id=token, customer_id=customer_id, idempotency_key=key("pm")
    )
    assert method.id.startswith("pm_")
    gateway.customer_update(
        customer_id=customer_id,
        email="contract@example.test",
        name="Contract Test",
        default_payment_method_id=method.id,
        idempotency_key=key("default"),
    )
    return customer_id


def draft_with_items(
    gateway: StripeGateway, customer_id: str, *amounts: int, **invoice_kwargs
) -> str:
    invoice = gateway.invoice_create(
        customer_id=customer_id,
        currency="usd",
        collection_method=invoice_kwargs.get("collection_method", "charge_automatically"),
        days_until_due=invoice_kwargs.get("days_until_due"),
        description="Contract test",
        metadata={"local_invoice_id": "contract"},
        idempotency_key=key("inv"),
    )
    assert invoice.status == "draft"
    for n, amount in enumerate(amounts):
        gateway.invoice_item_add(
            customer_id=customer_id,
            invoice_id=invoice.id,
            amount_cents=amount,
            currency="usd",
            description=f"Item {n}",
            period_start=dt.date(2027, 1, 1),
            period_end=dt.date(2027, 1, 31),
            metadata={"n": str(n)},
            idempotency_key=key(f"item{n}"),
        )
    return invoice.id


def test_invoice_draft_items_finalize_pay(gateway):
    customer_id = customer_with_card(gateway)
    invoice_id = draft_with_items(gateway, customer_id, 900, 1500)

    finalized = gateway.invoice_finalize(invoice_id=invoice_id, idempotency_key=key("fin"))
    assert (finalized.status, finalized.total, finalized.amount_due) == ("open", 2400, 2400)
    assert finalized.number

    outcome = gateway.invoice_pay(invoice_id=invoice_id, idempotency_key=key("pay"))
    assert outcome.succeeded
    assert outcome.invoice is not None
    assert (outcome.invoice.status, outcome.invoice.amount_paid) == ("paid", 2400)
    assert outcome.payment_intent_id.startswith("pi_")


@pytest.mark.parametrize(
    ("token", "decline_code"),
    [
        ("pm_card_chargeDeclined", "generic_decline"),
        ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds"),
    ],
)
def test_declines_are_outcomes_with_stripe_codes(gateway, token, decline_code):
    customer_id = customer_with_card(gateway, token)
    invoice_id = draft_with_items(gateway, customer_id, 900)
    gateway.invoice_finalize(invoice_id=invoice_id, idempotency_key=key("fin"))

    outcome = gateway.invoice_pay(invoice_id=invoice_id, idempotency_key=key("pay"))

    assert not outcome.succeeded
    assert (outcome.failure_code, outcome.decline_code) == ("card_declined", decline_code)
    assert gateway.invoice_retrieve(invoice_id=invoice_id).status == "open"


def test_same_key_same_request_is_replayed_other_request_is_refused(gateway):
    shared = key("cus-replay")
    first = gateway.customer_create(
        email="a@example.test", name="A", metadata={}, idempotency_key=shared
    )
    again = gateway.customer_create(
        email="a@example.test", name="A", metadata={}, idempotency_key=shared
    )
    assert first == again

    with pytest.raises(StripeRequestError) as refused:
        gateway.customer_create(
            email="b@example.test", name="B", metadata={}, idempotency_key=shared
        )
    assert refused.value.code == "idempotency_error"


def test_send_invoice_with_net_terms_then_void(gateway):
    customer_id = gateway.customer_create(
        email="ap@employer.test", name="Employer", metadata={}, idempotency_key=key("cus")
    )
    invoice_id = draft_with_items(
        gateway, customer_id, 60000, collection_method="send_invoice", days_until_due=30
    )
    gateway.invoice_finalize(invoice_id=invoice_id, idempotency_key=key("fin"))

    sent = gateway.invoice_send(invoice_id=invoice_id, idempotency_key=key("send"))
    assert sent.status == "open"
    voided = gateway.invoice_void(invoice_id=invoice_id, idempotency_key=key("void"))
    assert voided.status == "void"
    with pytest.raises(StripeRequestError):
        gateway.invoice_mark_uncollectible(invoice_id=invoice_id, idempotency_key=key("unc"))


def test_mark_uncollectible_then_pay(gateway):
    customer_id = customer_with_card(gateway)
    invoice_id = draft_with_items(gateway, customer_id, 900)
    gateway.invoice_finalize(invoice_id=invoice_id, idempotency_key=key("fin"))

    assert (
        gateway.invoice_mark_uncollectible(invoice_id=invoice_id, idempotency_key=key("unc")).status
        == "uncollectible"
    )
    assert gateway.invoice_pay(invoice_id=invoice_id, idempotency_key=key("pay")).succeeded


def test_refund_and_credit_note_on_a_paid_invoice(gateway):
    customer_id = customer_with_card(gateway)
    invoice_id = draft_with_items(gateway, customer_id, 9900)
    gateway.invoice_finalize(invoice_id=invoice_id, idempotency_key=key("fin"))
    paid = gateway.invoice_pay(invoice_id=invoice_id, idempotency_key=key("pay"))

    note = gateway.credit_note_create(
        invoice_id=invoice_id,
        amount_cents=1000,
        reason="product_unsatisfactory",
        memo="Goodwill",
        refund_amount_cents=1000,
        idempotency_key=key("cn"),
    )
    assert note.amount == 1000
    refund = gateway.refund_create(
        payment_intent_id=paid.payment_intent_id,
        amount_cents=500,
        metadata={},
        idempotency_key=key("re"),
    )
    assert (refund.status, refund.amount) == ("succeeded", 500)
    with pytest.raises(StripeRequestError):
        gateway.refund_create(
            payment_intent_id=paid.payment_intent_id,
            amount_cents=9900,
            metadata={},
            idempotency_key=key("re2"),
        )


def test_events_record_what_happened(gateway):
    customer_id = customer_with_card(gateway)
    invoice_id = draft_with_items(gateway, customer_id, 900)
    gateway.invoice_finalize(invoice_id=invoice_id, idempotency_key=key("fin"))
    gateway.invoice_pay(invoice_id=invoice_id, idempotency_key=key("pay"))

    types = [
        e["type"]
        for e in gateway.events_list(limit=100)
        if e["data"]["object"].get("id") == invoice_id
    ]

    assert "invoice.finalized" in types
    assert "invoice.paid" in types
