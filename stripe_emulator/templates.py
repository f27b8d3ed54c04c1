"""Response objects built from Stripe's own example objects.

``fixtures.json`` holds Stripe's published example for each resource the emulator serves (copied
verbatim from Stripe's OpenAPI repository, see ``FIXTURES_LICENSE``). An object is built as::

    template (Stripe's example)  ←  NEUTRAL[resource]  ←  the real values of this object

so every response has exactly the example's field set and nesting. ``NEUTRAL`` replaces the
example's sample data (a sample customer id, a tax rate, a shipping cost, …) with what Stripe
returns for a plain object that does not use those features (``null``, ``[]``, ``0``). Building an
object with a field the example does not have is a programming error.
"""

from __future__ import annotations

import copy
import json
import secrets
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_FIXTURES_PATH = Path(__file__).with_name("fixtures.json")
TEMPLATES: dict[str, dict[str, Any]] = json.loads(_FIXTURES_PATH.read_text(encoding="utf-8"))[
    "resources"
]

_ALPHABET = string.ascii_letters + string.digits

EMPTY_ADDRESS: dict[str, Any] = {
    "city": None,
    "country": None,
    "line1": None,
    "line2": None,
    "postal_code": None,
    "state": None,
}


def new_id(prefix: str, length: int = 24) -> str:
    """A Stripe-style id: the resource prefix and random letters and digits."""
    return f"{prefix}_" + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def public(obj: dict[str, Any]) -> dict[str, Any]:
    """The object as Stripe returns it: without the emulator's ``_internal`` bookkeeping."""
    return {key: value for key, value in obj.items() if key != "_internal"}


def snapshot(obj: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of the public object, unaffected by later changes (for "before" states)."""
    return copy.deepcopy(public(obj))


def list_object(data: list[dict[str, Any]], url: str, *, has_more: bool = False) -> dict[str, Any]:
    """Stripe's list object (the shape of ``invoice.lines`` in the examples)."""
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


NEUTRAL: dict[str, dict[str, Any]] = {
    "customer": {
        "address": None,
        "currency": None,
        "discount": None,
        "invoice_prefix": None,
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "metadata": {},
        "shipping": None,
    },
    "payment_method": {
        "allow_redisplay": "unspecified",
        "billing_details": {
            "address": dict(EMPTY_ADDRESS),
            "email": None,
            "name": None,
            "phone": None,
            "tax_id": None,
        },
        "customer": None,
        "metadata": {},
    },
    "invoice": {
        "account_name": None,
        "amount_due": 0,
        "amount_paid": 0,
        "amount_remaining": 0,
        "amount_overpaid": 0,
        "auto_advance": False,
        "automatic_tax": {
            "enabled": False,
            "liability": None,
            "status": None,
            "disabled_reason": None,
            "provider": None,
        },
        "customer_address": None,
        "customer_shipping": None,
        "due_date": None,
        "effective_at": None,
        "from_invoice": None,
        "last_finalization_error": None,
        "next_payment_attempt": None,
        "parent": None,
        "payment_settings": {
            "default_mandate": None,
            "payment_method_options": None,
            "payment_method_types": None,
        },
        "rendering": {
            "amount_tax_display": None,
            "pdf": {"page_size": "auto"},
            "template": None,
            "template_version": None,
        },
        "shipping_cost": None,
        "shipping_details": None,
        "subtotal": 0,
        "subtotal_excluding_tax": 0,
        "total": 0,
        "total_excluding_tax": 0,
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "webhooks_delivered_at": None,
    },
    "line_item": {
        "pretax_credit_amounts": [],
        "taxes": [],
        "metadata": {},
    },
    "invoiceitem": {
        "invoice": None,
        "metadata": {},
        "parent": None,
        "quantity_decimal": "1",
    },
    "payment_intent": {
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": 0,
        "automatic_payment_methods": None,
        "canceled_at": None,
        "last_payment_error": None,
        "managed_payments": None,
        "metadata": {},
        "next_action": None,
        "payment_method_configuration_details": None,
        "payment_method_options": {
            "card": {"installments": None, "mandate_options": None, "network": None}
        },
        "processing": None,
        "shipping": None,
        "transfer_data": None,
    },
    "charge": {
        "billing_details": {
            "address": dict(EMPTY_ADDRESS),
            "email": None,
            "name": None,
            "phone": None,
            "tax_id": None,
        },
        "metadata": {},
        "receipt_url": None,
        "shipping": None,
        "source": None,
        "transfer_data": None,
    },
    "invoice_payment": {
        "amount_paid": None,
    },
    "credit_note": {
        "discount_amounts": [],
        "metadata": {},
        "pretax_credit_amounts": [],
        "refunds": [],
        "shipping_cost": None,
        "total_taxes": [],
        "voided_at": None,
    },
    "credit_note_line_item": {
        "pretax_credit_amounts": [],
        "taxes": [],
        "tax_rates": [],
        "metadata": {},
    },
    "refund": {
        "metadata": {},
    },
    "balance_transaction": {},
    "dispute": {
        "balance_transactions": [],
        "enhanced_eligibility_types": [],
        "metadata": {},
    },
    "event": {},
}


def build(resource: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """A new object of ``resource``: Stripe's example with neutral and then real values."""
    template = TEMPLATES[resource]
    unknown = set(values) - set(template)
    if unknown:
        raise KeyError(f"{resource} has no field(s) {sorted(unknown)} in Stripe's example")
    obj = copy.deepcopy(template)
    obj.update(copy.deepcopy(NEUTRAL[resource]))
    obj.update(values)
    if "livemode" in obj:
        obj["livemode"] = False
    return obj
