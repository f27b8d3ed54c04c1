"""Celery tasks: thin wrappers that call the service of the same name."""

from __future__ import annotations

import logging

from celery import shared_task

from config import clock
from memberships.renewals import memberships_renew_due

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def memberships_renew_due_task() -> None:
    report = memberships_renew_due(as_of=clock.today())
    logger.info("Bill run: %s renewed, %s canceled", report.renewed, report.canceled)
