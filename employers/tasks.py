"""Celery tasks: thin wrappers that call the service of the same name."""

from __future__ import annotations

from celery import shared_task

from employers.imports import roster_import_apply, roster_import_validate


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def roster_import_validate_task(import_id: int) -> None:
    roster_import_validate(import_id=import_id)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def roster_import_apply_task(import_id: int) -> None:
    roster_import_apply(import_id=import_id)
