from __future__ import annotations

import time

import pytest

from billing.models import Invoice, InvoiceStatus, Payment, StripeEvent
from tests.api_assertions import assert_error
from tests.billing.factories import member_customer, member_invoice
from tests.billing.stripe_payloads import body_of, event, invoice_object, signed

pytestmark = pytest.mark.django_db

URL = "/webhooks/stripe/"


def post(client, body: bytes, signature: str | None):
    headers = {"HTTP_STRIPE_SIGNATURE": signature} if signature is not None else {}
    return client.post(URL, data=body, content_type="application/json", **headers)


@pytest.fixture
def paid_event(settings):
    invoice = member_invoice(member_customer(), 900)
    obj = invoice_object(
        stripe_id="in_WEBHOOK",
        local_invoice_id=invoice.pk,
        status="paid",
        amount_paid=900,
        number="WEBHOOK1-0001",
        paid_at=1798765200,
    )
    return invoice, body_of(event("evt_paid_1", "invoice.paid", obj))


def test_a_signed_event_is_stored_raw_and_applied_once(
    api_client, settings, paid_event, django_capture_on_commit_callbacks
):
    invoice, body = paid_event

    with django_capture_on_commit_callbacks(execute=True):
        response = post(api_client, body, signed(body, settings.STRIPE_WEBHOOK_SECRET))

    assert response.status_code == 200
    assert response.json() == {"received": True, "duplicate": False}
    stored = StripeEvent.objects.get()
    assert stored.raw_body == body.decode()
    assert stored.processed_at is not None
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert Payment.objects.filter(invoice=invoice).count() == 1


def test_a_duplicate_delivery_is_a_no_op_200(
    api_client, settings, paid_event, django_capture_on_commit_callbacks
):
    _, body = paid_event
    signature = signed(body, settings.STRIPE_WEBHOOK_SECRET)
    with django_capture_on_commit_callbacks(execute=True):
        post(api_client, body, signature)

    with django_capture_on_commit_callbacks(execute=True) as queued:
        again = post(api_client, body, signature)

    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    assert queued == []  # nothing queued for processing the second time
    assert StripeEvent.objects.count() == 1
    assert Payment.objects.count() == 1


@pytest.mark.parametrize(
    ("case", "make_signature"),
    [
        ("wrong secret", lambda body, secret: signed(body, "whsec_someone_else")),
        ("no header", lambda body, secret: None),
        ("garbage header", lambda body, secret: "nonsense"),
        (
            "stale timestamp",
            lambda body, secret: signed(body, secret, timestamp=int(time.time()) - 360),
        ),
        (
            "future timestamp",
            lambda body, secret: signed(body, secret, timestamp=int(time.time()) + 360),
        ),
    ],
)
def test_bad_signatures_are_400_and_nothing_is_stored(
    api_client, settings, paid_event, case, make_signature
):
    invoice, body = paid_event

    response = post(api_client, body, make_signature(body, settings.STRIPE_WEBHOOK_SECRET))

    assert_error(response, 400, "webhook_rejected")
    assert not StripeEvent.objects.exists()
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.DRAFT


def test_a_body_altered_after_signing_is_refused(api_client, settings, paid_event):
    _, body = paid_event
    signature = signed(body, settings.STRIPE_WEBHOOK_SECRET)

    response = post(api_client, body.replace(b"900", b"100"), signature)

    assert_error(response, 400, "webhook_rejected")
    assert not StripeEvent.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        b"not json at all",
        b"[1, 2, 3]",
        body_of({"id": "evt_1", "object": "event", "type": "invoice.paid"}),
        body_of(
            {"id": "nope", "object": "event", "type": "x", "created": 1, "data": {"object": {}}}
        ),
        "\u00e9t\u00e9".encode("latin-1"),
    ],
)
def test_a_signed_but_malformed_body_is_400_and_nothing_is_stored(api_client, settings, body):
    response = post(api_client, body, signed(body, settings.STRIPE_WEBHOOK_SECRET))

    assert_error(response, 400, "webhook_rejected")
    assert not StripeEvent.objects.exists()


def test_an_unhandled_event_type_is_stored_and_marked_processed(
    api_client, settings, django_capture_on_commit_callbacks
):
    body = body_of(event("evt_cust_1", "customer.created", {"id": "cus_1", "object": "customer"}))

    with django_capture_on_commit_callbacks(execute=True):
        response = post(api_client, body, signed(body, settings.STRIPE_WEBHOOK_SECRET))

    assert response.status_code == 200
    assert StripeEvent.objects.get().processed_at is not None
    assert Invoice.objects.count() == 0
