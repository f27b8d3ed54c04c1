from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from config import clock
from memberships.dunning import memberships_dunning_run
from memberships.notices import membership_renewal_reminders_queue
from memberships.renewals import RenewalReport, memberships_renew_due


class Command(BaseCommand):
    help = (
        "Renew every membership whose period has ended by --as-of (default: today) (next "
        "invoice, period moved on, queued for Stripe), then dunning and the upcoming-renewal "
        "emails for that day. Safe to re-run and to run concurrently."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--as-of", type=dt.date.fromisoformat, help="the run's date (YYYY-MM-DD)"
        )
        parser.add_argument("--chunk-size", type=int, default=500)

    def handle(self, *args: Any, **options: Any) -> None:
        as_of: dt.date = options["as_of"] or clock.today()

        def progress(report: RenewalReport) -> None:
            self.stdout.write(
                f"  … {report.renewed} renewed, {report.canceled} canceled, "
                f"{report.prime_lapsed} moved off Prime"
            )

        with clock.as_of(as_of):
            report = memberships_renew_due(
                as_of=as_of, chunk_size=options["chunk_size"], progress=progress
            )
            dunning = memberships_dunning_run(as_of=as_of)
            reminders = membership_renewal_reminders_queue(as_of=as_of)
        self.stdout.write(
            self.style.SUCCESS(
                f"Bill run as of {as_of}: {report.renewed} renewed, {report.canceled} canceled, "
                f"{report.prime_lapsed} renewed at the standard price after Prime lapsed; "
                f"dunning: {dunning.retries_queued} retries queued, {dunning.canceled} canceled; "
                f"{reminders} renewal reminders queued."
            )
        )
