from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from billing.stuck_work import stuck_work_find

COLUMNS = ("area", "kind", "object_id", "since", "detail")


class Command(BaseCommand):
    help = (
        "Report work that is stuck (outbox, webhooks, refunds, emails, roster imports, "
        "renewals, ledger); exits 1 when anything is, 0 when all is clear."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        found = stuck_work_find()
        if options["json"]:
            items = [item.as_dict() for item in found]
            self.stdout.write(json.dumps({"stuck": len(found), "items": items}, indent=2))
        elif not found:
            self.stdout.write("Nothing is stuck.")
        else:
            rows = [COLUMNS, *(tuple(str(getattr(item, c)) for c in COLUMNS) for item in found)]
            widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS) - 1)]
            for row in rows:
                cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
                self.stdout.write("  ".join([*cells, row[-1]]).rstrip())
            self.stdout.write(f"{len(found)} stuck.")
        if found:
            raise SystemExit(1)
