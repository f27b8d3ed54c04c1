"""Celery tasks of enrollment: thin wrappers that call the service of the same name. (Imported
by EmployersConfig.ready(), so workers register them.)"""

from __future__ import annotations

import logging

from celery import shared_task

from config import clock
from employers.enrollment import sponsored_memberships_end_due

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def sponsored_memberships_end_due_task() -> None:
    report = sponsored_memberships_end_due(as_of=clock.today())
    if report.ended:
        logger.info("Sponsored memberships: %s ended, %s converted", report.ended, report.converted)
