"""Celery tasks: thin wrappers that call the service of the same name."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from config import clock
from memberships.dunning import memberships_dunning_run
from memberships.notices import membership_renewal_reminders_queue
from memberships.renewals import memberships_renew_due

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def memberships_renew_due_task() -> None:
    today = clock.today()
    report = memberships_renew_due(as_of=today, chunk_size=settings.BILL_RUN_CHUNK_SIZE)
    dunning = memberships_dunning_run(as_of=today)
    logger.info(
        "Bill run: %s renewed, %s canceled; dunning: %s retries queued, %s canceled",
        report.renewed,
        report.canceled,
        dunning.retries_queued,
        dunning.canceled,
    )


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def memberships_renewal_reminders_task() -> None:
    queued = membership_renewal_reminders_queue(as_of=clock.today())
    if queued:
        logger.info("Renewal reminders: %s queued", queued)
