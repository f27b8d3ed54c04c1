"""Disputes (``dp_…``): a cardholder's bank pulling back a charge, opened and closed from the
control API (``POST /_emulator/disputes``, ``POST /_emulator/disputes/<id>/close``) since in
Stripe they come from the card network, not from an API call; read with
``GET /v1/disputes/{id}``.

Opening a dispute on a succeeded charge (one per charge; the amount defaults to what is left of
the charge after refunds) withdraws the amount from the balance at once, as Stripe does for a
chargeback: the dispute is ``needs_response`` with one balance transaction (``adjustment``,
reporting category ``dispute``, no fee), the charge becomes ``disputed``, and the events are
``charge.dispute.created`` and ``charge.dispute.funds_withdrawn``. Closing it ``won`` reinstates
the funds (a second balance transaction, ``dispute_reversal``) and sends
``charge.dispute.funds_reinstated`` and ``charge.dispute.closed``; closing it ``lost`` sends
``charge.dispute.closed`` only. These events name no API request (``request.id`` is null).
"""

from __future__ import annotations

from typing import Any

from stripe_emulator.balance import new_balance_transaction
from stripe_emulator.context import Call, Outcome, Params, reply
from stripe_emulator.errors import amount_text, invalid_request
from stripe_emulator.templates import build, new_id, public, snapshot

# Stripe's dispute reasons (Dispute.reason).
REASONS = frozenset(
    {
        "bank_cannot_process",
        "check_returned",
        "credit_not_processed",
        "customer_initiated",
        "debit_not_authorized",
        "duplicate",
        "fraudulent",
        "general",
        "incorrect_account_details",
        "insufficient_funds",
        "noncompliant",
        "product_not_received",
        "product_unacceptable",
        "subscription_canceled",
        "unrecognized",
    }
)
OPEN_STATUSES = frozenset({"needs_response", "under_review"})
OUTCOMES = frozenset({"won", "lost"})
EVIDENCE_DAYS = 7  # evidence_details.due_by: a week after opening


def open_dispute(
    call: Call, *, charge_id: str, amount: int | None, reason: str = "general"
) -> dict[str, Any]:
    """Open a chargeback on a succeeded charge; raises Stripe-shaped errors for a bad request."""
    charge = call.load("charge", charge_id, param="charge")
    if charge["status"] != "succeeded":
        raise invalid_request(f"Charge {charge_id} has not succeeded.", param="charge")
    if charge["disputed"]:
        raise invalid_request(f"Charge {charge_id} is already disputed.", param="charge")
    if reason not in REASONS:
        raise invalid_request(
            f"Invalid reason: must be one of {', '.join(sorted(REASONS))}", param="reason"
        )
    left = charge["amount_captured"] - charge["amount_refunded"]
    amount = left if amount is None else amount
    if not 0 < amount <= left:
        raise invalid_request(
            f"The dispute amount must be between 0.01 and {amount_text(left, charge['currency'])}.",
            param="amount",
        )
    dispute_id = new_id("dp")
    withdrawal = new_balance_transaction(
        call,
        amount=-amount,
        currency=charge["currency"],
        source=dispute_id,
        kind="adjustment",
        reporting_category="dispute",
        description=f"Chargeback withdrawal for {charge_id}",
    )
    card = charge["payment_method_details"]["card"]
    dispute = build(
        "dispute",
        {
            "id": dispute_id,
            "amount": amount,
            "balance_transactions": [public(withdrawal)],
            "charge": charge_id,
            "created": call.now,
            "currency": charge["currency"],
            "evidence_details": {
                "due_by": call.now + EVIDENCE_DAYS * 86400,
                "enhanced_eligibility": {},
                "has_evidence": False,
                "past_due": False,
                "submission_count": 0,
            },
            "is_charge_refundable": False,
            "payment_intent": charge["payment_intent"],
            "payment_method_details": {
                "card": {
                    "brand": card["brand"],
                    "case_type": "chargeback",
                    "network_reason_code": None,
                    "network": card["network"],
                },
                "type": "card",
            },
            "reason": reason,
            "status": "needs_response",
        },
    )
    call.store.insert(dispute, parent=charge_id)
    charge["disputed"] = True
    call.store.save(charge)
    call.emit("charge.dispute.created", dispute)
    call.emit("charge.dispute.funds_withdrawn", dispute)
    return public(dispute)


def close_dispute(call: Call, *, dispute_id: str, status: str) -> dict[str, Any]:
    """Close an open dispute as ``won`` (funds reinstated) or ``lost``."""
    if status not in OUTCOMES:
        raise invalid_request("A dispute closes as won or lost.", param="status")
    dispute = call.load("dispute", dispute_id)
    if dispute["status"] not in OPEN_STATUSES:
        raise invalid_request(f"Dispute {dispute_id} is already {dispute['status']}.")
    previous = snapshot(dispute)
    dispute["status"] = status
    dispute["evidence_details"] = {**dispute["evidence_details"], "past_due": False}
    if status == "won":
        reinstatement = new_balance_transaction(
            call,
            amount=dispute["amount"],
            currency=dispute["currency"],
            source=dispute_id,
            kind="adjustment",
            reporting_category="dispute_reversal",
            description=f"Chargeback reversal for {dispute['charge']}",
        )
        dispute["balance_transactions"] = [*dispute["balance_transactions"], public(reinstatement)]
    call.store.save(dispute)
    if status == "won":
        call.emit("charge.dispute.funds_reinstated", dispute, previous=previous)
    call.emit("charge.dispute.closed", dispute, previous=previous)
    return public(dispute)


def retrieve_dispute(call: Call, params: Params, dispute_id: str) -> Outcome:
    return reply(call, call.load("dispute", dispute_id), params)
