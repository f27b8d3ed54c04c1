from __future__ import annotations

import datetime as dt
import logging
import os
import random
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from billing.models import BillingCustomer, Invoice
from billing.selectors import installation_key_prefix
from employers.models import Employer
from ledger.models import JournalEntry, RevenueShareAgreement
from memberships.models import Membership
from simulation.environment import simulation_settings
from simulation.invariants import (
    InvariantResult,
    books_balance_check,
    books_digest,
    no_duplicates_check,
    nothing_stuck_check,
    statements_tie_out_check,
    three_way_tie_out_check,
)
from simulation.plan import simulation_plan_make
from simulation.runner import Simulation
from simulation.webhooks import WebhookCollector, WebhookDeliverer
from stripe_emulator.process import EmulatorProcess

# Tables the migrations fill (catalog, markets, clinics, partners, Django's own): kept by --reset.
SEEDED_TABLES = frozenset(
    {
        "django_migrations",
        "django_content_type",
        "auth_permission",
        "memberships_price",
        "memberships_market",
        "memberships_clinic",
        "partners_partner",
    }
)
WEBHOOK_HOLD_BACK = 0.1  # share of a day's webhook deliveries handed over a day late
# Loggers that log every Stripe request, task and email at INFO: quiet during the run.
CHATTY_LOGGERS = ("stripe", "celery", "celery.app.trace", "notifications")


class Command(BaseCommand):
    help = (
        "Seeded simulation: drive sign-ups, renewals, plan changes, cancellations, refunds, "
        "employers (contracts, roster files, enrollments, terminations, invoicing), agreement "
        "changes and statements day by day through the real services, the Stripe emulator and "
        "the webhook intake, with faults injected; then check the invariants and print the "
        "digest of the books. Exits non-zero when an invariant fails. See README "
        "'Reliability'."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--members", type=int, default=1000)
        parser.add_argument("--employers", type=int, default=5)
        parser.add_argument("--months", type=int, default=12)
        parser.add_argument(
            "--start", type=dt.date.fromisoformat, default=dt.date(2027, 1, 1), help="first day"
        )
        parser.add_argument(
            "--stripe-fault-share",
            type=float,
            default=0.25,
            help="share of the days on which 5%% of Stripe requests fail with 500 and 5%% "
            "with 429, and webhooks come twice and shuffled (default 0.25)",
        )
        parser.add_argument(
            "--worker-kill-share",
            type=float,
            default=0.05,
            help="share of the days with Stripe work whose push worker is SIGKILLed part-way "
            "(default 0.05)",
        )
        parser.add_argument(
            "--no-faults", action="store_true", help="inject no faults (both shares 0)"
        )
        parser.add_argument(
            "--reset",
            action="store_true",
            help="wipe this database's data first (every table but the catalog, markets, "
            "clinics and partners the migrations seed); without it a database that holds "
            "billing data is refused",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        levels = {name: logging.getLogger(name).level for name in CHATTY_LOGGERS}
        for name in CHATTY_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
        try:
            self._simulate(options)
        finally:
            for name, level in levels.items():
                logging.getLogger(name).setLevel(level)

    def _simulate(self, options: dict[str, Any]) -> None:
        self._database_check(reset=options["reset"])
        # The Stripe idempotency keys' prefix is read once per process: read it again (a reset
        # made a new installation), and store it now, so that push workers use the same one.
        installation_key_prefix.cache_clear()
        installation_key_prefix()
        plan = simulation_plan_make(
            seed=options["seed"],
            members=options["members"],
            employers=options["employers"],
            months=options["months"],
            start=options["start"],
            stripe_fault_share=0.0 if options["no_faults"] else options["stripe_fault_share"],
            worker_kill_share=0.0 if options["no_faults"] else options["worker_kill_share"],
        )
        faults = not options["no_faults"]
        self.stdout.write(
            f"Simulation seed {plan.seed}: {len(plan.members)} individual members, "
            f"{sum(len(e.employees) for e in plan.employers)} employees of "
            f"{len(plan.employers)} employers, {plan.months} months "
            f"({plan.start} to {plan.end}), database {connection.settings_dict['NAME']}; "
            f"Stripe faults on {len(plan.stripe_fault_days)} days, push workers killed on "
            f"{plan.worker_kill_share:.0%} of the days with Stripe work"
        )
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="simulation-emulator-") as data_dir:
            emulator, own = self._emulator(Path(data_dir))
            collector = WebhookCollector().start()
            previous = emulator.config()
            try:
                emulator.reset_stats()
                emulator.configure(
                    webhook_url=collector.url,
                    webhook_secret=settings.STRIPE_WEBHOOK_SECRET,
                    webhook_duplicates=1,
                    webhook_shuffle=False,
                    rate_limit_per_second=0,
                    latency_ms=0,
                    error_rate=0.0,
                    rate_limit_error_rate=0.0,
                    seed=plan.seed,
                )
                webhooks = WebhookDeliverer(
                    collector=collector,
                    rng=random.Random(plan.seed * 31 + 3),  # noqa: S311  (a simulation, not secrets)
                    hold_back=WEBHOOK_HOLD_BACK if faults else 0.0,
                )
                with simulation_settings(stripe_api_base=emulator.api_base):
                    simulation = Simulation(
                        plan=plan, emulator=emulator, webhooks=webhooks, progress=self.stdout.write
                    )
                    simulation.run()
                    after = simulation.books_close()
                    stats = emulator.stats()
                    self._report_run(simulation, stats, time.monotonic() - started)
                    results = self._invariants(first=plan.start, last_period=after)
            finally:
                collector.stop()
                if own:
                    emulator.stop()
                else:
                    emulator.configure(
                        **{k: v for k, v in previous.items() if k != "webhook_secret"}
                    )
        digest, counts = books_digest()
        self.stdout.write(
            f"books digest {digest} ({', '.join(f'{n} {name}' for name, n in counts.items())})"
        )
        self.stdout.write(f"total {time.monotonic() - started:.1f} s")
        failed = [result.name for result in results if not result.ok]
        if failed:
            raise CommandError(f"{len(failed)} invariants failed: {'; '.join(failed)}")

    # --- set-up ------------------------------------------------------------------------------

    def _database_check(self, *, reset: bool) -> None:
        holds_data = any(
            model.objects.exists()
            for model in (
                Membership,
                Invoice,
                BillingCustomer,
                Employer,
                JournalEntry,
                RevenueShareAgreement,
            )
        )
        if reset:
            tables = [
                name
                for name in connection.introspection.django_table_names(only_existing=True)
                if name not in SEEDED_TABLES
            ]
            with connection.cursor() as cursor:
                cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
            self.stdout.write(f"--reset: emptied {len(tables)} tables")
        elif holds_data:
            raise CommandError(
                f"Database {connection.settings_dict['NAME']} already holds billing data; the "
                "simulation would mix its books with it. Use a fresh database, or --reset to "
                "wipe it first."
            )

    def _emulator(self, data_dir: Path) -> tuple[EmulatorProcess, bool]:
        """The emulator STRIPE_API_BASE points at when it is set and answers, else our own
        process (its data in a temporary directory). Returns it and whether it is ours."""
        base = os.environ.get("STRIPE_API_BASE", "")
        if base:
            parts = urlsplit(base)
            if parts.hostname != "127.0.0.1" or parts.port is None:
                raise CommandError(
                    "STRIPE_API_BASE must name an emulator on http://127.0.0.1:<port>."
                )
            existing = EmulatorProcess(data_dir=data_dir, port=parts.port)
            try:
                existing.config()
            except OSError as error:
                raise CommandError(f"No Stripe emulator answers on {base}: {error}") from error
            self.stdout.write(f"using the Stripe emulator at {base}")
            return existing, False
        return EmulatorProcess(data_dir=data_dir).start(), True

    # --- the report --------------------------------------------------------------------------

    def _report_run(self, simulation: Simulation, stats: dict[str, Any], seconds: float) -> None:
        figures = simulation.figures
        hooks = simulation.webhooks.figures
        self.stdout.write(f"ran {seconds:.1f} s")
        self.stdout.write(
            "done: " + ", ".join(f"{n} {what}" for what, n in sorted(figures.actions.items()))
        )
        self.stdout.write(
            "refused by business rules: "
            + (", ".join(f"{n} {why}" for why, n in sorted(figures.refused.items())) or "none")
        )
        self.stdout.write(
            f"bill runs: {figures.renewed} renewed, {figures.canceled_by_bill_run} canceled, "
            f"{figures.dunning_retries} dunning retries; {figures.sponsored_ended} sponsored "
            f"memberships ended; {figures.employer_invoices} employer invoices, "
            f"{figures.member_share_invoices} member-share invoices; statements: "
            f"{figures.statements_generated} generated, {figures.statements_approved} approved, "
            f"{figures.statements_paid} paid out"
        )
        self.stdout.write(
            f"faults: Stripe {stats.get('requests')} requests, {stats.get('injected_500')} "
            f"injected 500s, {stats.get('injected_429')} injected 429s "
            f"(on {figures.stripe_fault_days} days); {figures.worker_kills} push workers "
            f"SIGKILLed, leaving {figures.commands_left_by_killed_workers} commands leased; "
            f"pusher: {figures.push_claimed} claims, {figures.push_retried} retried later, "
            f"{figures.push_failed} failed; webhooks: {hooks.delivered} deliveries to the "
            f"intake, {hooks.new_events} new events, {hooks.duplicates} duplicates, "
            f"{hooks.held_back} held back a day (out of order), rejected "
            f"{dict(hooks.rejected) or 0}"
        )

    def _invariants(self, *, first: dt.date, last_period: dt.date) -> list[InvariantResult]:
        tie_out, claims = three_way_tie_out_check()
        results = [
            books_balance_check(),
            statements_tie_out_check(first=first, last_period=last_period),
            tie_out,
            no_duplicates_check(stripe_claims=claims),
            nothing_stuck_check(),
        ]
        for result in results:
            mark = "ok  " if result.ok else "FAIL"
            self.stdout.write(f"{mark} {result.name}: {result.figures}")
        return results
