from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from idempotency.services import idempotency_records_purge


class Command(BaseCommand):
    help = "Delete expired idempotency records (Celery beat does this every hour)."

    def handle(self, *args: Any, **options: Any) -> None:
        deleted = idempotency_records_purge()
        self.stdout.write(f"deleted {deleted} expired idempotency records")
