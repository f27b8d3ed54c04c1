"""Balance transactions (``txn_…``): what each movement of money did to the Stripe balance.

A succeeded charge, a refund and each step of a dispute that moves funds has one, retrievable at
``GET /v1/balance_transactions/{id}``. Only charges carry a fee: Stripe's standard US card
pricing, 2.9 % + 30¢, where the 2.9 % is rounded to the nearest cent, half up
(``fee = (amount * 29 + 500) // 1000 + 30``; 1000 → 59, 500 → 45, 19900 → 607), never more than
the amount. Refunds and disputes carry no fee (Stripe's dispute fee is not emulated). Every
balance transaction is ``available`` at once, ``available_on`` equal to ``created``: the emulator
has no payout schedule.
"""

from __future__ import annotations

from typing import Any

from stripe_emulator.context import Call, Outcome, Params, reply
from stripe_emulator.templates import build, new_id

FEE_PERCENT_TENTHS = 29  # 2.9 %
FEE_FIXED_CENTS = 30


def card_fee_cents(amount: int) -> int:
    """Stripe's card fee for a charge of ``amount`` cents: 2.9 % (half up) + 30¢, at most the
    amount itself."""
    return min(amount, (amount * FEE_PERCENT_TENTHS + 500) // 1000 + FEE_FIXED_CENTS)


def new_balance_transaction(
    call: Call,
    *,
    amount: int,
    currency: str,
    source: str,
    kind: str,
    reporting_category: str,
    description: str | None,
    fee: int = 0,
) -> dict[str, Any]:
    """Store and return a balance transaction of ``amount`` (negative for money out)."""
    fee_details = (
        [
            {
                "amount": fee,
                "application": None,
                "currency": currency,
                "description": "Stripe processing fees",
                "type": "stripe_fee",
            }
        ]
        if fee
        else []
    )
    transaction = build(
        "balance_transaction",
        {
            "id": new_id("txn"),
            "amount": amount,
            "available_on": call.now,
            "balance_type": "payments",
            "created": call.now,
            "currency": currency,
            "description": description,
            "exchange_rate": None,
            "fee": fee,
            "fee_details": fee_details,
            "net": amount - fee,
            "reporting_category": reporting_category,
            "source": source,
            "status": "available",
            "type": kind,
        },
    )
    call.store.insert(transaction, parent=source)
    return transaction


def retrieve_balance_transaction(call: Call, params: Params, transaction_id: str) -> Outcome:
    return reply(call, call.load("balance_transaction", transaction_id), params)
