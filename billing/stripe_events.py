"""Stripe webhook events: receive (verify, store raw, queue) and process (apply, once).

Receiving is fast and does no business work: the signature is checked on the raw body, the event
is stored as received, and processing is queued after the commit. A duplicate delivery (same
event id) stores nothing and queues nothing. Processing locks the event row, applies it through
the same services the pusher uses (which only move state forward), and marks it processed in
the same transaction, so an event is applied at most once and any arrival order ends in the same
local state.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from billing.models import StripeEvent
from billing.services import dispute_sync_from_stripe, invoice_sync_from_stripe
from billing.stripe_gateway import (
    StripeDisputeSnapshot,
    StripeGateway,
    StripeInvoiceSnapshot,
    WebhookSignatureInvalid,
)
from config.errors import DomainError
from config.parsers import MAX_JSON_DEPTH, json_depth_exceeds

logger = logging.getLogger(__name__)


class WebhookRejectedError(DomainError):
    code = "webhook_rejected"
    http_status = 400


def _parse_event(raw_body: bytes) -> dict[str, Any]:
    try:
        event = json.loads(raw_body)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        # ValueError: malformed, or a number of more than 4,300 digits; RecursionError: nested
        # too deeply for the decoder
        raise WebhookRejectedError("The body is not JSON.") from exc
    if json_depth_exceeds(event, limit=MAX_JSON_DEPTH):
        raise WebhookRejectedError(f"The body nests deeper than {MAX_JSON_DEPTH} levels.")
    if not isinstance(event, dict):
        raise WebhookRejectedError("The body is not a Stripe event object.")
    data = event.get("data")
    problems = [
        name
        for name, ok in (
            ("id", isinstance(event.get("id"), str) and str(event.get("id")).startswith("evt_")),
            ("type", isinstance(event.get("type"), str) and bool(event.get("type"))),
            ("created", isinstance(event.get("created"), int) and 0 < event["created"] < 2**37),
            ("data.object", isinstance(data, dict) and isinstance(data.get("object"), dict)),
        )
        if not ok
    ]
    if problems or event.get("object") != "event":
        raise WebhookRejectedError(
            "The body is not a Stripe event object.", details={"invalid": problems or ["object"]}
        )
    return event


def stripe_event_receive(
    *, raw_body: bytes, signature_header: str | None
) -> tuple[StripeEvent, bool]:
    """Verify and store one delivery. Returns the event and whether it was new."""
    try:
        StripeGateway.webhook_event_verify(
            payload=raw_body,
            signature_header=signature_header,
            secret=settings.STRIPE_WEBHOOK_SECRET,
            tolerance_seconds=settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS,
        )
    except WebhookSignatureInvalid as exc:
        raise WebhookRejectedError(f"Invalid Stripe signature: {exc}") from exc
    event = _parse_event(raw_body)
    # Insert first (almost every delivery is new): one INSERT instead of get_or_create's
    # SELECT + SAVEPOINT + INSERT + RELEASE. A duplicate (an earlier or a concurrent delivery of
    # the same event id) hits the unique constraint and is answered from the stored row.
    try:
        with transaction.atomic():
            stored = StripeEvent.objects.create(
                stripe_event_id=event["id"],
                type=event["type"],
                api_version=str(event.get("api_version") or ""),
                stripe_created_at=dt.datetime.fromtimestamp(event["created"], tz=dt.UTC),
                raw_body=raw_body.decode("utf-8"),
                payload=event,
            )
            # robust: if the broker is down the event is stored and the sweep applies it
            transaction.on_commit(lambda: _queue_processing(stored.pk), robust=True)
    except IntegrityError:  # the same event was stored before (or concurrently)
        return StripeEvent.objects.get(stripe_event_id=event["id"]), False
    return stored, True


def _queue_processing(event_pk: int) -> None:
    from billing.tasks import stripe_event_process_task

    stripe_event_process_task.delay(event_pk)


def _apply_invoice(obj: Mapping[str, Any]) -> None:
    invoice_sync_from_stripe(snapshot=StripeInvoiceSnapshot.from_dict(obj))


def _apply_dispute(obj: Mapping[str, Any]) -> None:
    dispute_sync_from_stripe(snapshot=StripeDisputeSnapshot.from_dict(obj))


def _nothing_to_apply(obj: Mapping[str, Any]) -> None:
    """Stored for the record; no local state follows from it (yet)."""


INVOICE_EVENT_TYPES = (
    "invoice.created",
    "invoice.updated",
    "invoice.finalized",
    "invoice.paid",
    "invoice.payment_succeeded",
    "invoice.payment_failed",
    "invoice.sent",
    "invoice.voided",
    "invoice.marked_uncollectible",
)
# Each carries the whole dispute; its status says where it stands, whichever event it is.
DISPUTE_EVENT_TYPES = (
    "charge.dispute.created",
    "charge.dispute.updated",
    "charge.dispute.closed",
    "charge.dispute.funds_withdrawn",
    "charge.dispute.funds_reinstated",
)
HANDLERS: dict[str, Callable[[Mapping[str, Any]], None]] = {
    **dict.fromkeys(INVOICE_EVENT_TYPES, _apply_invoice),
    **dict.fromkeys(DISPUTE_EVENT_TYPES, _apply_dispute),
}


def stripe_event_process(*, event_pk: int) -> bool:
    """Apply one stored event, once. Returns False when it had been processed already."""
    try:
        with transaction.atomic():
            event = StripeEvent.objects.select_for_update().get(pk=event_pk)
            if event.processed_at is not None:
                return False
            handler = HANDLERS.get(event.type, _nothing_to_apply)
            handler(event.payload["data"]["object"])
            event.processed_at = timezone.now()
            event.processing_attempts += 1
            event.last_error = ""
            event.save(update_fields=["processed_at", "processing_attempts", "last_error"])
            return True
    except Exception as exc:
        StripeEvent.objects.filter(pk=event_pk).update(
            processing_attempts=F("processing_attempts") + 1,
            last_error=f"{type(exc).__name__}: {exc}"[:2000],
        )
        logger.exception("Stripe event #%s could not be processed", event_pk)
        raise


MAX_PROCESSING_ATTEMPTS = 10


def stripe_events_process_pending(*, older_than_seconds: int = 60, limit: int = 500) -> int:
    """Process events whose queued task was lost (broker down, worker killed). Returns how many
    were applied now. An event that failed MAX_PROCESSING_ATTEMPTS times is left for a person
    (its last_error says why), so it cannot crowd out newer ones."""
    cutoff = timezone.now() - dt.timedelta(seconds=older_than_seconds)
    pending = StripeEvent.objects.filter(
        processed_at__isnull=True,
        received_at__lte=cutoff,
        processing_attempts__lt=MAX_PROCESSING_ATTEMPTS,
    )
    applied = 0
    for event_pk in pending.order_by("stripe_created_at", "id").values_list("pk", flat=True)[
        :limit
    ]:
        try:
            applied += stripe_event_process(event_pk=event_pk)
        except Exception:  # noqa: S112  (logged and counted in processing_attempts; next sweep retries)
            continue
    return applied
