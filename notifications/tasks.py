"""Celery tasks: thin wrappers that call the service of the same name."""

from __future__ import annotations

import logging

from celery import shared_task

from notifications.services import notification_send, notifications_send_due

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def notification_send_task(notification_id: int) -> None:
    notification_send(notification_id=notification_id)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def notifications_send_due_task() -> None:
    sent = notifications_send_due()
    if sent:
        logger.info("Notifications: %s emails sent", sent)
