from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from config import clock
from ledger.recognition import RecognitionReport, ledger_recognize


class Command(BaseCommand):
    help = (
        "Recognize deferred membership revenue day by day up to and including --as-of "
        "(default: today). Safe to re-run and to run concurrently."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--as-of", type=dt.date.fromisoformat, help="the last day to recognize (YYYY-MM-DD)"
        )
        parser.add_argument("--chunk-size", type=int, default=200)

    def handle(self, *args: Any, **options: Any) -> None:
        as_of: dt.date = options["as_of"] or clock.today()

        def progress(report: RecognitionReport) -> None:
            self.stdout.write(f"  … {report.schedules} schedules, {report.recognized_cents} cents")

        with clock.as_of(as_of):
            report = ledger_recognize(
                as_of=as_of, chunk_size=options["chunk_size"], progress=progress
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Recognized through {as_of}: {report.recognized_cents} cents over "
                f"{report.schedules} schedules in {report.entries} entries."
            )
        )
