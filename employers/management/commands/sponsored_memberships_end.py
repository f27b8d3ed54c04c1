from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from config import clock
from employers.enrollment import sponsored_memberships_end_due


class Command(BaseCommand):
    help = (
        "End every sponsored membership whose enrollment ended before --as-of (default: today), "
        "and start the individual memberships their members chose. Safe to re-run and to run "
        "concurrently."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--as-of", type=dt.date.fromisoformat, help="the run's date (YYYY-MM-DD)"
        )
        parser.add_argument("--chunk-size", type=int, default=500)

    def handle(self, *args: Any, **options: Any) -> None:
        as_of: dt.date = options["as_of"] or clock.today()
        with clock.as_of(as_of):
            report = sponsored_memberships_end_due(as_of=as_of, chunk_size=options["chunk_size"])
        self.stdout.write(
            self.style.SUCCESS(
                f"Sponsored memberships as of {as_of}: {report.ended} ended, "
                f"{report.converted} converted to individual memberships."
            )
        )
