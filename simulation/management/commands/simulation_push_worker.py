from __future__ import annotations

import datetime as dt
import os
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from billing.stripe_outbox import stripe_outbox_push
from config import clock
from simulation.environment import simulation_settings
from simulation.worker_kill import READY


class Command(BaseCommand):
    help = (
        "Internal to `simulate`: push the Stripe outbox as of a simulated day, in the "
        "simulation's settings (it is killed with SIGKILL part-way; see simulation/worker_kill.py)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--as-of", type=dt.date.fromisoformat, required=True)
        parser.add_argument("--seconds", type=float, default=60.0)

    def handle(self, *args: Any, **options: Any) -> None:
        with (
            simulation_settings(stripe_api_base=os.environ["SIMULATION_STRIPE_API_BASE"]),
            clock.as_of(options["as_of"]),
        ):
            self.stdout.write(READY)
            self.stdout.flush()
            stripe_outbox_push(run_seconds=options["seconds"])
