"""Celery tasks: thin wrappers that call the service of the same name."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from billing.reconciliation import stripe_reconcile
from billing.stripe_events import stripe_event_process, stripe_events_process_pending
from billing.stripe_outbox import stripe_outbox_push

logger = logging.getLogger(__name__)
RECONCILE_WINDOW = timedelta(days=35)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def stripe_outbox_push_task() -> None:
    report = stripe_outbox_push()
    if report.claimed:
        logger.info(
            "Stripe outbox: %s claimed, %s done, %s retried later, %s failed",
            report.claimed,
            report.done,
            report.retried,
            report.failed,
        )


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    autoretry_for=(Exception,),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=10,
)
def stripe_event_process_task(event_pk: int) -> None:
    stripe_event_process(event_pk=event_pk)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def stripe_events_process_pending_task() -> None:
    applied = stripe_events_process_pending()
    if applied:
        logger.warning("Applied %s Stripe events whose processing task had been lost", applied)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def stripe_reconcile_task() -> None:
    # A rolling window: older invoices were compared by earlier runs.
    report = stripe_reconcile(since=timezone.now() - RECONCILE_WINDOW, repair=True)
    logger.info("Stripe reconciliation: %s", report.summary())
