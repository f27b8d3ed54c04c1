from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from billing.reconciliation import stripe_reconcile
from config import clock


class Command(BaseCommand):
    help = "Compare local invoices and payments with Stripe; report drift and repair what is safe."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--since",
            type=dt.date.fromisoformat,
            help="only invoices created on or after (YYYY-MM-DD)",
        )
        parser.add_argument("--no-repair", action="store_true", help="report only, change nothing")
        parser.add_argument("--json", action="store_true", help="print every drift as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        since = clock.start_of_day(options["since"]) if options["since"] else None
        report = stripe_reconcile(since=since, repair=not options["no_repair"])
        if options["json"]:
            rows = [drift.__dict__ for drift in report.drifts]
            self.stdout.write(json.dumps({"summary": report.summary(), "drifts": rows}, indent=2))
            return
        self.stdout.write(json.dumps(report.summary()))
        for drift in report.drifts:
            self.stdout.write(
                f"{drift.kind:<18} invoice={drift.invoice_id} stripe={drift.stripe_invoice_id} "
                f"local={drift.local} stripe_side={drift.stripe} repaired={drift.repaired}"
            )
