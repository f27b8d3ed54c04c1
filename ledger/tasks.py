"""Celery tasks: thin wrappers that call the service of the same name."""

from __future__ import annotations

import logging

from celery import shared_task

from config import clock
from ledger.recognition import ledger_recognize

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def ledger_recognize_task() -> None:
    report = ledger_recognize(as_of=clock.today())
    if report.schedules:
        logger.info(
            "Recognition: %s cents over %s schedules", report.recognized_cents, report.schedules
        )
