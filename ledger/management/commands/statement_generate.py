from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from billing.money import money_display
from ledger.statements import statements_generate


def _month(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(f"{value}-01")
    except ValueError as exc:
        raise CommandError(f"--period must look like 2027-01, not {value!r}") from exc


class Command(BaseCommand):
    help = (
        "Build (or rebuild, while still drafts) the revenue-share statement of every partner "
        "with an agreement for the month --period YYYY-MM, from the ledger. Approved "
        "statements are never changed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--period", required=True, type=_month, help="the month (YYYY-MM)")

    def handle(self, *args: Any, **options: Any) -> None:
        period: dt.date = options["period"]
        statements = statements_generate(period=period)
        for statement in statements:
            self.stdout.write(
                f"  {statement.partner.name}: {statement.status}, net "
                f"{money_display(amount_cents=statement.net_cents)}, amount due "
                f"{money_display(amount_cents=statement.amount_due_cents)}"
            )
        self.stdout.write(self.style.SUCCESS(f"{len(statements)} statements for {period:%Y-%m}."))
