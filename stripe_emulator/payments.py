"""Payments: PaymentIntents, Charges, InvoicePayments and Refunds.

Paying an invoice works as in Stripe: the invoice has one PaymentIntent (``pi_…``) and one
default InvoicePayment (``inpay_…``) linking them, created at the first attempt and reused by
later ones. Each attempt creates a Charge (``ch_…``) on the chosen card. A card from a decline
token fails: the charge is ``failed``, the PaymentIntent goes back to ``requires_payment_method``
with ``last_payment_error``, and the caller gets HTTP 402 ``card_error``.

A succeeded charge and a refund each get a balance transaction (``txn_…``, with the card fee on
the charge's: :mod:`stripe_emulator.balance`). Refunds (``re_…``) succeed at once. A charge
cannot be refunded beyond what it captured minus earlier refunds; a fully refunded charge
answers ``charge_already_refunded``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from stripe_emulator.balance import card_fee_cents, new_balance_transaction
from stripe_emulator.cards import Decline, decline_of
from stripe_emulator.context import Call, Outcome, Params, metadata_param, reply
from stripe_emulator.errors import StripeError, amount_text, invalid_request, parameter_missing
from stripe_emulator.templates import build, list_object, new_id, public, snapshot

REFUND_CREATE_EMULATED = frozenset(
    {"amount", "charge", "expand", "metadata", "payment_intent", "reason"}
)


def new_invoice_payment_intent(call: Call, invoice: dict[str, Any]) -> dict[str, Any]:
    payment_intent_id = new_id("pi")
    return build(
        "payment_intent",
        {
            "id": payment_intent_id,
            "amount": invoice["amount_remaining"],
            "application": None,
            "application_fee_amount": None,
            "cancellation_reason": None,
            "capture_method": "automatic",
            "client_secret": f"{payment_intent_id}_secret_{secrets.token_urlsafe(18)}",
            "confirmation_method": "automatic",
            "created": call.now,
            "currency": invoice["currency"],
            "customer": invoice["customer"],
            "description": "Payment for Invoice",
            "latest_charge": None,
            "on_behalf_of": None,
            "payment_method": None,
            "payment_method_types": ["card"],
            "receipt_email": None,
            "review": None,
            "setup_future_usage": None,
            "statement_descriptor": None,
            "statement_descriptor_suffix": None,
            "status": "requires_payment_method",
            "transfer_group": None,
            "source": None,
            "excluded_payment_method_types": None,
            "customer_account": None,
        },
    )


def new_invoice_payment(
    call: Call, invoice: dict[str, Any], payment_intent: dict[str, Any]
) -> dict[str, Any]:
    return build(
        "invoice_payment",
        {
            "id": new_id("inpay"),
            "amount_requested": invoice["amount_remaining"],
            "created": call.now,
            "currency": invoice["currency"],
            "invoice": invoice["id"],
            "is_default": True,
            "payment": {"type": "payment_intent", "payment_intent": payment_intent["id"]},
            "status": "open",
            "status_transitions": {"canceled_at": None, "paid_at": None},
        },
    )


def _new_charge(
    call: Call,
    payment_intent: dict[str, Any],
    payment_method: dict[str, Any],
    decline: Decline | None,
) -> dict[str, Any]:
    charge_id = new_id("ch")
    amount = payment_intent["amount"]
    card = payment_method["card"]
    succeeded = decline is None
    if decline is None:
        outcome = {
            "advice_code": None,
            "network_status": "approved_by_network",
            "reason": None,
            "seller_message": "Payment complete.",
            "type": "authorized",
        }
        failure_code, failure_message = None, None
    else:
        outcome = {
            "advice_code": decline.advice_code,
            "network_status": "declined_by_network",
            "reason": decline.decline_code,
            "seller_message": decline.seller_message,
            "type": "issuer_declined",
        }
        failure_code, failure_message = "card_declined", decline.message
    outcome.update(network_advice_code=None, network_decline_code=None)
    return build(
        "charge",
        {
            "id": charge_id,
            "amount": amount,
            "amount_captured": amount if succeeded else 0,
            "amount_refunded": 0,
            "application": None,
            "application_fee": None,
            "application_fee_amount": None,
            "balance_transaction": None,  # set when the charge succeeds (balance.py)
            "billing_details": payment_method["billing_details"],
            "calculated_statement_descriptor": "STRIPE EMULATOR",
            "captured": succeeded,
            "created": call.now,
            "currency": payment_intent["currency"],
            "customer": payment_intent["customer"],
            "description": payment_intent["description"],
            "disputed": False,
            "failure_balance_transaction": None,
            "failure_code": failure_code,
            "failure_message": failure_message,
            "fraud_details": {},
            "on_behalf_of": None,
            "outcome": outcome,
            "paid": succeeded,
            "payment_intent": payment_intent["id"],
            "payment_method": payment_method["id"],
            "payment_method_details": {
                "card": {
                    "amount_authorized": amount if succeeded else None,
                    "brand": card["brand"],
                    "checks": card["checks"],
                    "country": card["country"],
                    "exp_month": card["exp_month"],
                    "exp_year": card["exp_year"],
                    "extended_authorization": {"status": "disabled"},
                    "fingerprint": card["fingerprint"],
                    "funding": card["funding"],
                    "incremental_authorization": {"status": "unavailable"},
                    "installments": None,
                    "last4": card["last4"],
                    "mandate": None,
                    "multicapture": {"status": "unavailable"},
                    "network": card["brand"],
                    "network_token": {"used": False},
                    "overcapture": {"maximum_amount_capturable": amount, "status": "unavailable"},
                    "three_d_secure": None,
                    "wallet": None,
                    "authorization_code": f"{secrets.randbelow(10**6):06d}" if succeeded else None,
                    "regulated_status": card["regulated_status"],
                    "network_transaction_id": f"{secrets.randbelow(10**15):015d}",
                    "transaction_link_id": None,
                },
                "type": "card",
            },
            "receipt_email": None,
            "receipt_number": None,
            "refunded": False,
            "refunds": list_object([], f"/v1/charges/{charge_id}/refunds"),
            "review": None,
            "source_transfer": None,
            "statement_descriptor": None,
            "statement_descriptor_suffix": None,
            "status": "succeeded" if succeeded else "failed",
            "transfer_group": None,
        },
    )


@dataclass(frozen=True)
class ChargeAttempt:
    charge: dict[str, Any]
    payment_intent: dict[str, Any]
    error: StripeError | None


def charge_payment_intent(
    call: Call, payment_intent: dict[str, Any], payment_method: dict[str, Any]
) -> ChargeAttempt:
    """Confirm a PaymentIntent with a card: one charge, its events, the intent's new state."""
    decline = decline_of(payment_method.get("_internal", {}).get("token", ""))
    charge = _new_charge(call, payment_intent, payment_method, decline)
    if decline is None:
        charge["balance_transaction"] = new_balance_transaction(
            call,
            amount=charge["amount"],
            currency=charge["currency"],
            source=charge["id"],
            kind="charge",
            reporting_category="charge",
            description=charge["description"],
            fee=card_fee_cents(charge["amount"]),
        )["id"]
    call.store.insert(charge)
    previous = snapshot(payment_intent)
    payment_intent["latest_charge"] = charge["id"]
    payment_intent["payment_method"] = payment_method["id"]
    if decline is None:
        payment_intent.update(
            status="succeeded", amount_received=payment_intent["amount"], last_payment_error=None
        )
        call.store.save(payment_intent)
        call.emit("charge.succeeded", charge)
        call.emit("payment_intent.succeeded", payment_intent, previous=previous)
        return ChargeAttempt(charge=charge, payment_intent=payment_intent, error=None)
    error_details: dict[str, Any] = {
        "charge": charge["id"],
        "decline_code": decline.decline_code,
        "payment_method": public(payment_method),
    }
    if decline.advice_code is not None:
        error_details["advice_code"] = decline.advice_code
    last_payment_error = StripeError(
        402, decline.message, error_type="card_error", code="card_declined", **error_details
    ).body()["error"]
    payment_intent.update(
        status="requires_payment_method", last_payment_error=last_payment_error, payment_method=None
    )
    call.store.save(payment_intent)
    call.emit("charge.failed", charge)
    call.emit("payment_intent.payment_failed", payment_intent, previous=previous)
    error = StripeError(
        402,
        decline.message,
        error_type="card_error",
        code="card_declined",
        **error_details,
        payment_intent=public(payment_intent),
        request_log_url=f"https://dashboard.stripe.com/test/logs/{call.request_id}",
    )
    return ChargeAttempt(charge=charge, payment_intent=payment_intent, error=error)


def refund_charge(
    call: Call,
    charge: dict[str, Any],
    *,
    amount: int | None,
    reason: str | None,
    metadata: dict[str, str],
) -> dict[str, Any]:
    """Refund (part of) a succeeded charge; raises Stripe's errors beyond what is left."""
    if charge["status"] != "succeeded":
        raise invalid_request(
            f"Charge {charge['id']} has not been captured and cannot be refunded.",
            param="charge",
        )
    left = charge["amount_captured"] - charge["amount_refunded"]
    if left <= 0:
        raise invalid_request(
            f"Charge {charge['id']} has already been refunded.",
            code="charge_already_refunded",
            param="charge",
        )
    amount = left if amount is None else amount
    if amount <= 0:
        raise invalid_request("Refund amount must be a positive integer.", param="amount")
    if amount > left:
        raise invalid_request(
            f"Refund amount ({amount_text(amount, charge['currency'])}) is greater than unrefunded "
            f"amount on charge ({amount_text(left, charge['currency'])})",
            param="amount",
        )
    refund_id = new_id("re")
    balance_transaction = new_balance_transaction(
        call,
        amount=-amount,
        currency=charge["currency"],
        source=refund_id,
        kind="refund",
        reporting_category="refund",
        description=f"REFUND FOR CHARGE ({charge['description']})",
    )
    refund = build(
        "refund",
        {
            "id": refund_id,
            "amount": amount,
            "balance_transaction": balance_transaction["id"],
            "charge": charge["id"],
            "created": call.now,
            "currency": charge["currency"],
            "destination_details": {"card": {"type": "refund"}, "type": "card"},
            "metadata": metadata,
            "payment_intent": charge["payment_intent"],
            "reason": reason,
            "receipt_number": None,
            "source_transfer_reversal": None,
            "status": "succeeded",
            "transfer_reversal": None,
            "customer": None,
            "customer_account": None,
            "payment_method": None,
        },
    )
    call.store.insert(refund, parent=charge["id"])
    previous = snapshot(charge)
    charge["amount_refunded"] += amount
    charge["refunded"] = charge["amount_refunded"] == charge["amount_captured"]
    charge["refunds"] = {
        **charge["refunds"],
        "data": [public(refund), *charge["refunds"]["data"]],
    }
    call.store.save(charge)
    call.emit("refund.created", refund)
    call.emit("charge.refunded", charge, previous=previous)
    return refund


def create_refund(call: Call, params: Params) -> Outcome:
    payment_intent_id = params.get("payment_intent")
    charge_id: str | None = params.get("charge")
    if payment_intent_id is not None:
        payment_intent = call.load("payment_intent", payment_intent_id, param="payment_intent")
        latest_charge = payment_intent["latest_charge"]
        if payment_intent["status"] != "succeeded" or latest_charge is None:
            raise invalid_request(
                f"This PaymentIntent ({payment_intent_id}) does not have a successful charge to "
                "refund.",
                param="payment_intent",
            )
        if charge_id is not None and charge_id != latest_charge:
            raise invalid_request(
                f"Charge {charge_id} does not belong to PaymentIntent {payment_intent_id}.",
                param="charge",
            )
        charge_id = latest_charge
    if charge_id is None:
        raise parameter_missing("charge")
    charge = call.load("charge", charge_id, param="charge")
    refund = refund_charge(
        call,
        charge,
        amount=params.get("amount"),
        reason=params.get("reason"),
        metadata=metadata_param(params),
    )
    return reply(call, refund, params)


def retrieve_refund(call: Call, params: Params, refund_id: str) -> Outcome:
    return reply(call, call.load("refund", refund_id), params)


def retrieve_charge(call: Call, params: Params, charge_id: str) -> Outcome:
    return reply(call, call.load("charge", charge_id), params)


def retrieve_payment_intent(call: Call, params: Params, payment_intent_id: str) -> Outcome:
    payment_intent = call.load("payment_intent", payment_intent_id)
    return reply(call, payment_intent, params)


def retrieve_invoice_payment(call: Call, params: Params, invoice_payment_id: str) -> Outcome:
    invoice_payment = call.load("invoice_payment", invoice_payment_id)
    return reply(call, invoice_payment, params)
