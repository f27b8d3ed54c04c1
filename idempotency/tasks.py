"""Celery tasks: thin wrappers that call the service of the same name."""

from __future__ import annotations

import logging

from celery import shared_task

from idempotency.services import idempotency_records_purge

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def idempotency_records_purge_task() -> None:
    deleted = idempotency_records_purge()
    if deleted:
        logger.info("Purged %s expired idempotency records", deleted)
