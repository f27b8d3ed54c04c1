"""Celery task of employer invoicing: a thin wrapper around the service of the same name
(registered through `CELERY_IMPORTS`; scheduled as `employers-invoicing-run`)."""

from __future__ import annotations

import logging

from celery import shared_task

from config import clock
from employers.invoicing import employer_invoicing_run

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def employer_invoicing_run_task() -> None:
    report = employer_invoicing_run(as_of=clock.today())
    logger.info("Employer invoicing: %s", report.summary())
