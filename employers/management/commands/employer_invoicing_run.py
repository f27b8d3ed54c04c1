from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from config import clock
from employers.invoicing import employer_invoicing_run


class Command(BaseCommand):
    help = (
        "Invoice employers for every month whose billing day has come by --as-of (default: "
        "today), in arrears, prorated by days; charge members their share under fixed-"
        "contribution contracts; move sponsored memberships to the current month. Safe to "
        "re-run and to run concurrently."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--as-of", type=dt.date.fromisoformat, help="the run's date (YYYY-MM-DD)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        as_of: dt.date = options["as_of"] or clock.today()
        with clock.as_of(as_of):
            report = employer_invoicing_run(as_of=as_of)
        self.stdout.write(
            self.style.SUCCESS(f"Employer invoicing as of {as_of}: {report.summary()}.")
        )
