"""Stripe-shaped payloads and signatures for tests that do not need the emulator. The signature
is computed here from Stripe's documented scheme, independently of the code under test."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any


def invoice_object(
    *,
    stripe_id: str,
    local_invoice_id: int,
    status: str,
    total: int = 900,
    amount_paid: int = 0,
    number: str = "",
    paid_at: int | None = None,
) -> dict[str, Any]:
    return {
        "id": stripe_id,
        "object": "invoice",
        "status": status,
        "customer": "cus_TEST",
        "currency": "usd",
        "total": total,
        "amount_due": total,
        "amount_paid": amount_paid,
        "attempt_count": 1 if status == "paid" else 0,
        "number": number or None,
        "hosted_invoice_url": f"https://invoice.stripe.test/{stripe_id}" if number else None,
        "metadata": {"local_invoice_id": str(local_invoice_id)},
        "status_transitions": {
            "finalized_at": 1798761600 if status != "draft" else None,
            "paid_at": paid_at,
            "voided_at": None,
            "marked_uncollectible_at": None,
        },
    }


def event(
    event_id: str, event_type: str, obj: dict[str, Any], created: int = 1798761600
) -> dict[str, Any]:
    return {
        "id": event_id,
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": created,
        "type": event_type,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "data": {"object": obj},
    }


def signed(body: bytes, secret: str, *, timestamp: int | None = None) -> str:
    stamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


def body_of(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()
