"""Every object has the field set and nesting of Stripe's published example for its resource
(stripe_emulator/fixtures.json, from Stripe's OpenAPI fixtures), and none of the example's
sample values leak into responses."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import stripe

from stripe_emulator.templates import TEMPLATES
from tests.stripe_emulator.scenarios import customer_with_card, draft_invoice, paid_invoice

# Fields whose example value is a placeholder rather than the real shape.
PLACEHOLDERS = {
    "payment_intent.last_payment_error",  # an error object when a payment failed
    "invoice_payment.payment",  # {"type": "payment_intent", "payment_intent": "pi_…"}
    "event.data",  # the example holds a plan; checked by test_events_snapshot_objects_…
}


def assert_shape(actual: Any, template: Any, path: str) -> None:
    if path in PLACEHOLDERS or actual is None or template is None:
        return
    if isinstance(template, dict):
        assert isinstance(actual, dict), path
        if not template or path.endswith("metadata"):
            return  # free-form hashes
        assert set(actual) == set(template), (
            f"{path}: extra {sorted(set(actual) - set(template))}, "
            f"missing {sorted(set(template) - set(actual))}"
        )
        for key, value in template.items():
            assert_shape(actual[key], value, f"{path}.{key}")
    elif isinstance(template, list) and template:
        assert isinstance(actual, list), path
        for item in actual:
            same_type = [
                t for t in template if isinstance(t, dict) and t.get("type") == item.get("type")
            ]
            assert_shape(item, (same_type or template)[0], f"{path}[]")


# An id like the examples' "cus_QXg1o8vcGmoR32" or "obj_123": a prefix, then letters and digits.
SAMPLE_ID = re.compile(r"[a-z]{2,6}_(?=[A-Za-z0-9]*\d)[A-Za-z0-9]{3,}")


def is_sample(value: Any) -> bool:
    if isinstance(value, str):
        return bool(SAMPLE_ID.fullmatch(value)) or "stripe.me" in value
    # Sample amounts and timestamps (1234567890, the examples' stand-in time, aside).
    return type(value) is int and value > 100_000_000 and value != 1234567890


def example_values() -> set[Any]:
    """Sample ids, URLs and amounts of Stripe's examples, which a response must not contain."""
    found: set[Any] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif is_sample(value):
            found.add(value)

    walk(TEMPLATES)
    return found


@pytest.fixture
def objects(client):
    """One of each object the emulator serves, as returned over HTTP."""
    paid = paid_invoice(client, 900, 1500)
    payment = paid.payments.data[0]
    intent = client.v1.payment_intents.retrieve(payment.payment.payment_intent)
    note = client.v1.credit_notes.create(
        params={
            "invoice": paid.id,
            "lines": [
                {
                    "type": "invoice_line_item",
                    "invoice_line_item": paid.lines.data[0].id,
                    "amount": 300,
                },
                {"type": "custom_line_item", "description": "Goodwill", "unit_amount": 200},
            ],
            "refund_amount": 500,
        }
    )
    refund = client.v1.refunds.retrieve(note.refunds[0].refund)
    declined = customer_with_card(client, "pm_card_chargeDeclined")
    failing = client.v1.invoices.finalize_invoice(draft_invoice(client, declined.id, 100).id)
    with pytest.raises(stripe.CardError) as raised:
        client.v1.invoices.pay(failing.id)
    return {
        "customer": [client.v1.customers.retrieve(paid.customer)],
        "payment_method": [client.v1.payment_methods.retrieve(intent.payment_method)],
        "invoice": [
            paid,
            client.v1.invoices.retrieve(failing.id),
            client.v1.invoices.create(params={"customer": declined.id}),
        ],
        "invoiceitem": [
            client.v1.invoice_items.retrieve(
                paid.lines.data[0].parent.invoice_item_details.invoice_item
            )
        ],
        "payment_intent": [
            intent,
            client.v1.payment_intents.retrieve(
                raised.value.json_body["error"]["payment_intent"]["id"]
            ),
        ],
        "charge": [
            client.v1.charges.retrieve(refund.charge),
            client.v1.charges.retrieve(raised.value.json_body["error"]["charge"]),
        ],
        "invoice_payment": [client.v1.invoice_payments.retrieve(payment.id)],
        "credit_note": [note],
        "refund": [refund],
        "event": list(client.v1.events.list(params={"limit": 100}).data),
    }


def as_dict(obj: Any) -> dict[str, Any]:
    return dict(obj.to_dict())


def test_every_object_has_the_shape_of_stripes_example(objects):
    for resource, items in objects.items():
        for item in items:
            data = as_dict(item)
            data.pop("payments", None)  # includable, present only when expanded
            assert_shape(data, TEMPLATES[resource], resource)


def test_events_snapshot_objects_of_the_right_shape(objects):
    for event in objects["event"]:
        data = as_dict(event)
        assert set(data["data"]) <= {"object", "previous_attributes"}
        snapshot = data["data"]["object"]
        assert_shape(snapshot, TEMPLATES[snapshot["object"]], snapshot["object"])


def test_no_example_value_leaks_into_responses(objects):
    leaked = example_values()
    assert leaked, "the example values were not collected"
    text = json.dumps([as_dict(item) for items in objects.values() for item in items], default=str)
    for value in leaked:
        assert str(value) not in text, value
