"""Customers and card PaymentMethods.

Rules mirrored from Stripe:

- A customer gets an 8-character uppercase ``invoice_prefix`` (or the one given, 3 to 12 uppercase
  letters or digits) and ``next_invoice_sequence`` 1; finalizing an invoice numbers it from them.
- ``metadata[key]=""`` removes a key; ``metadata=""`` removes them all; other emptyable fields
  sent as ``""`` become ``null``.
- ``invoice_settings[default_payment_method]`` must be a PaymentMethod attached to the customer.
- Attaching a test token (``pm_card_visa``, … see :mod:`stripe_emulator.cards`) creates a new card
  PaymentMethod; attaching a PaymentMethod already attached to another customer is refused.
"""

from __future__ import annotations

import re
import secrets
import string
import time
from typing import Any

from stripe_emulator.cards import card_of_token
from stripe_emulator.context import Call, Outcome, Params, reply, require
from stripe_emulator.errors import invalid_request, resource_missing
from stripe_emulator.params import EMPTY
from stripe_emulator.templates import EMPTY_ADDRESS, build, new_id, public, snapshot

INVOICE_PREFIX = re.compile(r"^[A-Z0-9]{3,12}$")

CUSTOMER_CREATE_EMULATED = frozenset(
    {
        "address",
        "balance",
        "description",
        "email",
        "expand",
        "invoice_prefix",
        "invoice_settings.default_payment_method",
        "invoice_settings.footer",
        "metadata",
        "name",
        "next_invoice_sequence",
        "payment_method",
        "phone",
        "preferred_locales",
        "shipping",
        "tax_exempt",
    }
)
CUSTOMER_UPDATE_EMULATED = CUSTOMER_CREATE_EMULATED - {"payment_method"}
PAYMENT_METHOD_ATTACH_EMULATED = frozenset({"customer", "expand"})


def merge_metadata(current: dict[str, str], update: Any) -> dict[str, str]:
    """Stripe's metadata update: ``""`` as the hash clears it, ``""`` as a value removes the key."""
    if update is EMPTY:
        return {}
    merged = dict(current)
    for key, value in update.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _address(value: Any) -> dict[str, Any] | None:
    if value is EMPTY:
        return None
    return {**EMPTY_ADDRESS, **value}


def _shipping(value: Any) -> dict[str, Any] | None:
    if value is EMPTY:
        return None
    return {
        "address": _address(value["address"]),
        "name": value["name"],
        "phone": value.get("phone"),
    }


def _random_invoice_prefix() -> str:
    return "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(8))


def _apply_customer_params(call: Call, customer: dict[str, Any], params: Params) -> None:
    for field in ("description", "email", "name", "phone", "preferred_locales", "tax_exempt"):
        if field in params:
            customer[field] = params[field]
    if "balance" in params:
        customer["balance"] = params["balance"]
    if "address" in params:
        customer["address"] = _address(params["address"])
    if "shipping" in params:
        customer["shipping"] = _shipping(params["shipping"])
    if "metadata" in params:
        customer["metadata"] = merge_metadata(customer["metadata"], params["metadata"])
    if "invoice_prefix" in params:
        prefix = params["invoice_prefix"]
        if not INVOICE_PREFIX.match(prefix):
            raise invalid_request(
                f"Invalid invoice_prefix: {prefix}. It must be 3 to 12 uppercase letters or "
                "numbers.",
                param="invoice_prefix",
            )
        customer["invoice_prefix"] = prefix
    if "next_invoice_sequence" in params:
        sequence = params["next_invoice_sequence"]
        if sequence < 1:
            raise invalid_request(
                "next_invoice_sequence must be a positive integer.", param="next_invoice_sequence"
            )
        customer["next_invoice_sequence"] = sequence
    settings = params.get("invoice_settings", {})
    if "footer" in settings:
        customer["invoice_settings"]["footer"] = settings["footer"]
    if "default_payment_method" in settings:
        payment_method_id = settings["default_payment_method"]
        payment_method = call.store.get(payment_method_id)
        if (
            payment_method is None
            or payment_method.get("object") != "payment_method"
            or payment_method["customer"] != customer["id"]
        ):
            raise invalid_request(
                f"The customer does not have a payment method with the ID {payment_method_id}. "
                "The payment method must be attached to the customer.",
                param="invoice_settings[default_payment_method]",
            )
        customer["invoice_settings"]["default_payment_method"] = payment_method_id


def create_customer(call: Call, params: Params) -> Outcome:
    customer = build(
        "customer",
        {
            "id": new_id("cus", 14),
            "balance": 0,
            "created": call.now,
            "default_source": None,
            "delinquent": False,
            "description": None,
            "email": None,
            "invoice_prefix": _random_invoice_prefix(),
            "name": None,
            "next_invoice_sequence": 1,
            "phone": None,
            "preferred_locales": [],
            "tax_exempt": "none",
            "test_clock": None,
        },
    )
    attached = None
    if "payment_method" in params:
        # Attached before the settings are applied, so that
        # invoice_settings[default_payment_method] may name it (or the token it came from).
        token = params["payment_method"]
        attached = _attach(call, token, customer, announce=False)
        settings = params.get("invoice_settings", {})
        if settings.get("default_payment_method") == token:
            params = {
                **params,
                "invoice_settings": {**settings, "default_payment_method": attached["id"]},
            }
    _apply_customer_params(call, customer, params)
    call.store.insert(customer)
    call.emit("customer.created", customer)
    if attached is not None:
        call.emit("payment_method.attached", attached)
    return reply(call, customer, params)


def retrieve_customer(call: Call, params: Params, customer_id: str) -> Outcome:
    customer = call.load("customer", customer_id, param="customer")
    return reply(call, customer, params)


def update_customer(call: Call, params: Params, customer_id: str) -> Outcome:
    customer = call.load("customer", customer_id, param="customer")
    before = snapshot(customer)
    _apply_customer_params(call, customer, params)
    if public(customer) != before:
        call.store.save(customer)
        call.emit("customer.updated", customer, previous=before)
    return reply(call, customer, params)


def _card_payment_method(call: Call, token: str, customer_id: str) -> dict[str, Any]:
    card = card_of_token(token)
    if card is None:
        raise resource_missing("PaymentMethod", token, param="payment_method")
    payment_method = build(
        "payment_method",
        {
            "id": new_id("pm"),
            "card": {
                "brand": card.brand,
                "checks": {
                    "address_line1_check": None,
                    "address_postal_code_check": None,
                    "cvc_check": None,
                },
                "country": "US",
                "display_brand": card.brand,
                "exp_month": 12,
                "exp_year": time.gmtime(call.now).tm_year + 2,
                "fingerprint": card.fingerprint,
                "funding": "credit",
                "generated_from": None,
                "last4": card.last4,
                "networks": {"available": [card.brand], "preferred": None},
                "three_d_secure_usage": {"supported": True},
                "wallet": None,
                "regulated_status": "unregulated",
            },
            "created": call.now,
            "customer": customer_id,
            "type": "card",
            "customer_account": None,
        },
    )
    # The token the card came from decides what happens when it is charged.
    payment_method["_internal"] = {"token": token}
    return payment_method


def _attach(
    call: Call, payment_method_id: str, customer: dict[str, Any], *, announce: bool = True
) -> dict[str, Any]:
    """Attach a token (creating its card) or an existing PaymentMethod to a customer.

    ``announce=False`` leaves the ``payment_method.attached`` event to the caller.
    """
    if card_of_token(payment_method_id) is not None:
        payment_method = _card_payment_method(call, payment_method_id, customer["id"])
        call.store.insert(payment_method)
        if announce:
            call.emit("payment_method.attached", payment_method)
        return payment_method
    payment_method = call.load("payment_method", payment_method_id, param="payment_method")
    if payment_method["customer"] == customer["id"]:
        return payment_method
    if payment_method["customer"] is not None:
        raise invalid_request(
            "The payment method you provided has already been attached to a customer.",
            param="payment_method",
            code="payment_method_unexpected_state",
        )
    payment_method["customer"] = customer["id"]
    call.store.save(payment_method)
    if announce:
        call.emit("payment_method.attached", payment_method)
    return payment_method


def attach_payment_method(call: Call, params: Params, payment_method_id: str) -> Outcome:
    customer = call.load("customer", require(params, "customer"), param="customer")
    payment_method = _attach(call, payment_method_id, customer)
    return reply(call, payment_method, params)


def retrieve_payment_method(call: Call, params: Params, payment_method_id: str) -> Outcome:
    payment_method = call.load("payment_method", payment_method_id, param="payment_method")
    return reply(call, payment_method, params)


def payment_method_for(
    call: Call, payment_method_id: str, customer: dict[str, Any], *, param: str
) -> dict[str, Any]:
    """The PaymentMethod to charge for ``customer``: attached to it (a test token is attached)."""
    if card_of_token(payment_method_id) is not None:
        return _attach(call, payment_method_id, customer)
    payment_method = call.load("payment_method", payment_method_id, param=param)
    if payment_method["customer"] != customer["id"]:
        raise invalid_request(
            f"The PaymentMethod {payment_method_id} does not belong to the Customer "
            f"{customer['id']}. Please use a PaymentMethod attached to this Customer.",
            param=param,
        )
    return payment_method
