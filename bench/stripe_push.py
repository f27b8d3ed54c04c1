"""Benchmark: local invoices pushed through the Stripe outbox to the Stripe emulator (run as a
subprocess) with its limit at 25 requests/s and the project's shared throttle at 25/s, by two
pusher threads until drained. The floor is the limit itself: R requests take R / 25 s.

    python bench/stripe_push.py [--scale 0.1]

Reports the sustained rate (emulator requests / wall time), the most requests the emulator saw
in any 1 s window, and checks nothing was lost: every invoice exactly once in the emulator and
every outbox command done. Customers are created and synced to Stripe before the timing.
Everything it writes locally is removed at the end (the emulator's data lives in a temporary
directory). Needs the app's environment (DATABASE_URL of a migrated database, REDIS_URL).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

import logging  # noqa: E402

from django.db import connection, transaction  # noqa: E402
from django.test import override_settings  # noqa: E402

from accounts.models import User  # noqa: E402
from bench.figures import Figure, figures_table  # noqa: E402
from billing.models import (  # noqa: E402
    BillingCustomer,
    CollectionMethod,
    Invoice,
    InvoiceStatus,
    Payment,
    StripeCommand,
    StripeCommandStatus,
)
from billing.services import (  # noqa: E402
    InvoiceLineInput,
    billing_customer_create,
    invoice_create,
)
from billing.stripe_gateway import stripe_gateway  # noqa: E402
from billing.stripe_outbox import PushReport, stripe_outbox_push  # noqa: E402
from tests.emulator_process import EmulatorProcess  # noqa: E402

LIMIT = 25  # requests/s: the emulator's (Stripe test mode) and our throttle's
INVOICES = 10_000  # at scale 1
CUSTOMERS = 50
THREADS = 2
PERIOD = (dt.date(2027, 1, 1), dt.date(2027, 1, 31))
logging.getLogger("stripe").setLevel(logging.WARNING)  # one line per request otherwise
UNFINISHED = [StripeCommandStatus.PENDING, StripeCommandStatus.IN_PROGRESS]


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def push_until_drained(reports: list[PushReport], budget_seconds: float) -> None:
    """One pusher thread: push until no command is pending or in progress."""
    deadline = time.monotonic() + budget_seconds
    try:
        while time.monotonic() < deadline:
            report = stripe_outbox_push(run_seconds=20)
            reports.append(report)
            if not StripeCommand.objects.filter(status__in=UNFINISHED).exists():
                return
            if report.claimed == 0:
                time.sleep(0.05)
    finally:
        connection.close()


def push_all(threads: int, budget_seconds: float) -> list[PushReport]:
    reports: list[PushReport] = []
    workers = [
        threading.Thread(target=push_until_drained, args=(reports, budget_seconds))
        for _ in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return reports


def cleanup(user_ids: list[int]) -> None:
    """Remove every row the run wrote. The ledger is append-only (triggers refuse UPDATE and
    DELETE), so its rows for these invoices and payments go with the triggers off for this
    transaction only (`session_replication_role = replica`, as the superuser the bench uses)."""
    customers = list(
        BillingCustomer.objects.filter(user_id__in=user_ids).values_list("pk", flat=True)
    )
    invoices = list(Invoice.objects.filter(customer_id__in=customers).values_list("pk", flat=True))
    payments = [
        str(pk)
        for pk in Payment.objects.filter(invoice_id__in=invoices).values_list("pk", flat=True)
    ]
    entries = (
        "SELECT id FROM ledger_journalentry WHERE"
        " (split_part(idempotency_key, ':', 1) = 'invoice'"
        "  AND split_part(idempotency_key, ':', 2) = ANY(%(invoices)s))"
        " OR (split_part(idempotency_key, ':', 1) = 'payment'"
        "  AND split_part(idempotency_key, ':', 2) = ANY(%(payments)s))"
    )
    params: dict[str, Any] = {
        "invoices": [str(pk) for pk in invoices],
        "invoice_ids": invoices,
        "payments": payments,
        "customers": customers,
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(entries, params)
        params["entries"] = [row[0] for row in cursor.fetchall()]
        cursor.execute("SET LOCAL session_replication_role = replica")
        for sql in (
            "DELETE FROM ledger_posting WHERE entry_id = ANY(%(entries)s) OR invoice_line_id IN"
            " (SELECT id FROM billing_invoiceline WHERE invoice_id = ANY(%(invoice_ids)s))",
            "DELETE FROM ledger_journalentry WHERE id = ANY(%(entries)s)",
            "DELETE FROM ledger_revenueschedule WHERE invoice_line_id IN"
            " (SELECT id FROM billing_invoiceline WHERE invoice_id = ANY(%(invoice_ids)s))",
            "DELETE FROM billing_stripecommand WHERE invoice_id = ANY(%(invoice_ids)s)"
            " OR customer_id = ANY(%(customers)s)",
            "DELETE FROM billing_payment WHERE invoice_id = ANY(%(invoice_ids)s)",
            "DELETE FROM billing_invoiceline WHERE invoice_id = ANY(%(invoice_ids)s)",
            "DELETE FROM billing_invoice WHERE id = ANY(%(invoice_ids)s)",
            "DELETE FROM billing_billingcustomer WHERE id = ANY(%(customers)s)",
        ):
            cursor.execute(sql, params)
    User.objects.filter(pk__in=user_ids).delete()


def measure(*, scale: float = 1.0, throttle: int = LIMIT) -> list[Figure]:
    """Push `10,000 x scale` invoices (at least 20) at 25/s; the figure against R / 25 s."""
    invoices_wanted = max(int(INVOICES * scale), 20)
    customers_wanted = min(CUSTOMERS, invoices_wanted)
    stamp = time.time_ns()
    user_ids: list[int] = []
    with tempfile.TemporaryDirectory(prefix="bench-stripe-") as data_dir:
        emulator = EmulatorProcess(data_dir=Path(data_dir), rate_limit_per_second=LIMIT).start()
        try:
            with override_settings(
                STRIPE_API_BASE=emulator.api_base,
                STRIPE_API_KEY="sk_test_emulator",
                STRIPE_MAX_REQUESTS_PER_SECOND=throttle,
                STRIPE_OUTBOX_WAKE_ON_COMMIT=False,
                STRIPE_OUTBOX_BACKOFF_BASE_SECONDS=0.05,
                STRIPE_OUTBOX_BACKOFF_MAX_SECONDS=1.0,
            ):
                return _run(emulator, invoices_wanted, customers_wanted, stamp, user_ids, throttle)
        finally:
            emulator.stop()
            cleanup(user_ids)


def _run(
    emulator: EmulatorProcess,
    invoices_wanted: int,
    customers_wanted: int,
    stamp: int,
    user_ids: list[int],
    throttle: int,
) -> list[Figure]:
    if StripeCommand.objects.filter(status__in=UNFINISHED).exists():
        raise RuntimeError("the outbox already has unfinished commands: use an idle database")
    customers = []
    for n in range(customers_wanted):
        user = User.objects.create_user(email=f"bench-push-{stamp}-{n}@example.test")
        user_ids.append(user.pk)
        customers.append(
            billing_customer_create(
                email=user.email, name=f"Bench {n}", user=user, payment_method_id="pm_card_visa"
            )
        )
    push_all(THREADS, 600)  # the customers reach Stripe before the timing
    invoices = [
        invoice_create(
            customer=customers[n % customers_wanted],
            lines=[InvoiceLineInput("Membership", 900 + n % 100, *PERIOD)],
            collection_method=CollectionMethod.CHARGE_AUTOMATICALLY,
        )
        for n in range(invoices_wanted)
    ]
    commands = StripeCommand.objects.filter(status__in=UNFINISHED).count()
    say(
        f"stripe push: {invoices_wanted} invoices ({commands} commands),"
        f" limit {LIMIT}/s, our throttle {throttle}/s"
    )
    emulator.reset_stats()
    started = time.perf_counter()
    reports = push_all(THREADS, 3600)
    elapsed = time.perf_counter() - started
    stats = emulator.stats()

    # Nothing lost: every invoice exactly once in the emulator, every command done.
    in_stripe = Counter(
        s.metadata.get("local_invoice_id") for s in stripe_gateway().invoices_list()
    )
    wanted_ids = {str(invoice.pk) for invoice in invoices}
    found = {key: count for key, count in in_stripe.items() if key in wanted_ids}
    not_done = StripeCommand.objects.exclude(status=StripeCommandStatus.DONE).count()
    paid = Invoice.objects.filter(pk__in=[i.pk for i in invoices], status=InvoiceStatus.PAID)
    failed = sum(r.failed for r in reports)
    requests = int(stats["requests"])
    window_max = int(stats["max_requests_in_any_1s_window"])
    rate = requests / elapsed
    floor = requests / LIMIT
    lost_ok = (
        len(found) == invoices_wanted
        and set(found.values()) == {1}
        and not_done == 0
        and failed == 0
    )
    say(
        f"  requests {requests} in {elapsed:.1f} s = {rate:.1f}/s ({rate / LIMIT:.0%} of {LIMIT}/s)"
    )
    say(f"  max in any 1 s window {window_max} (limit {LIMIT}), 429s {stats['rate_limited']}")
    say(
        f"  in Stripe {len(found)}/{invoices_wanted} (all once: {set(found.values()) == {1}}),"
        f" paid locally {paid.count()}, commands not done {not_done}, failed {failed}"
    )
    say(f"  FLOOR {requests} requests / {LIMIT}/s = {floor:.1f} s; ratio {elapsed / floor:.3f}")
    if not lost_ok:
        raise RuntimeError("the push lost or duplicated work (see above)")
    return [
        Figure(
            benchmark="stripe push",
            measure=(
                f"{invoices_wanted:,} invoices ({requests:,} requests), {THREADS} threads,"
                f" throttle {throttle}/s"
            ),
            seconds=elapsed,
            floor=f"the limit: requests / {LIMIT}/s",
            floor_seconds=floor,
            target_ratio=1 / 0.9,  # sustained ≥ 90% of the limit
            rate=f"{rate:.1f} req/s, {invoices_wanted / elapsed:.2f} invoices/s",
            notes=(
                f"max {window_max} in any 1 s window (≤ {LIMIT}: {window_max <= LIMIT}); "
                f"429s {stats['rate_limited']}; every invoice once, all commands done"
            ),
            extra={
                "requests": requests,
                "max_in_1s": window_max,
                "rate_limited": stats["rate_limited"],
                "requests_per_invoice": requests / invoices_wanted,
            },
        )
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--throttle", type=int, default=LIMIT, help="our requests/s (default 25)")
    arguments = parser.parse_args()
    print(figures_table(measure(scale=arguments.scale, throttle=arguments.throttle)))
