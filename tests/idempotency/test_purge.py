"""Expired records: purged by the service, the management command and the beat task."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.utils import timezone

from config import clock
from idempotency.models import IdempotencyRecord
from idempotency.services import idempotency_records_purge
from idempotency.tasks import idempotency_records_purge_task

pytestmark = pytest.mark.django_db


def make_record(key: str, *, expires_in: timedelta) -> IdempotencyRecord:
    now = timezone.now()
    return IdempotencyRecord.objects.create(
        key=key,
        method="POST",
        path="/p",
        fingerprint="0" * 64,
        created_at=now,
        expires_at=now + expires_in,
    )


def test_purge_deletes_only_expired_records():
    make_record("old", expires_in=-timedelta(seconds=1))
    make_record("fresh", expires_in=timedelta(hours=1))

    assert idempotency_records_purge() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["fresh"]

    with clock.as_of(timezone.now() + timedelta(hours=2)):
        assert idempotency_records_purge() == 1
    assert not IdempotencyRecord.objects.exists()


def test_the_management_command_purges():
    make_record("old", expires_in=-timedelta(minutes=1))
    out = io.StringIO()

    call_command("idempotency_purge", stdout=out)

    assert "deleted 1 expired idempotency records" in out.getvalue()
    assert not IdempotencyRecord.objects.exists()


def test_the_beat_task_purges_hourly():
    make_record("old", expires_in=-timedelta(minutes=1))

    idempotency_records_purge_task.delay()

    assert not IdempotencyRecord.objects.exists()
    entry = django_settings.CELERY_BEAT_SCHEDULE["idempotency-purge"]
    assert entry == {"task": idempotency_records_purge_task.name, "schedule": 3600.0}
