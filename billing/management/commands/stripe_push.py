from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from billing.stripe_outbox import stripe_outbox_push


class Command(BaseCommand):
    help = "Push due Stripe outbox commands now (the Celery beat task does this every 10 s)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seconds", type=float, default=60.0, help="stop after this long")

    def handle(self, *args: Any, **options: Any) -> None:
        report = stripe_outbox_push(run_seconds=options["seconds"])
        self.stdout.write(
            f"claimed {report.claimed}, done {report.done}, "
            f"retried later {report.retried}, failed {report.failed}"
        )
        for error in report.errors:
            self.stderr.write(error)
