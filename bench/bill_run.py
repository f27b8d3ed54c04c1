# ruff: noqa: S608  (SQL built from fixed table names; values are parameters)
"""Benchmarks 1 and 2: the bill run. `memberships_renew_due` renews 100,000 due memberships
(invoices, lines, outbox rows, events, notices; the Stripe push excluded) against a floor
measured in the same run: one `INSERT … SELECT generate_series` per table writing the same
number of rows into a plain copy of that table (`LIKE … INCLUDING ALL`: columns, defaults,
indexes and checks, no foreign keys). Then the same renewal on 2 worker processes claiming
chunks with SKIP LOCKED, for the speed-up.

    python bench/bill_run.py [--memberships 100000] [--chunk-size 500] [--profile]

Needs the app's environment (DATABASE_URL of a migrated database, REDIS_URL); see
bench/README.md. Everything it writes is removed at the end, also on failure.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import multiprocessing
import os
import pstats
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection, connections, transaction  # noqa: E402

from bench.figures import Figure, figures_table  # noqa: E402
from config.celery import app  # noqa: E402
from memberships.renewals import memberships_renew_due  # noqa: E402

AS_OF = dt.date(2027, 2, 1)  # every generated membership's period ends on 2027-01-31
# Tables the bill run may write (counted before and after; the floor writes the same counts).
WRITTEN = [
    "billing_invoice",
    "billing_invoiceline",
    "billing_stripecommand",
    "memberships_membershipevent",
    "notifications_emailnotification",
    "ledger_journalentry",
    "ledger_posting",
    "ledger_revenueschedule",
]


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def seed(count: int, tag: str) -> None:
    """`count` due individual memberships, set-based: users, members, billing customers (with
    Stripe ids), Prime checks and memberships whose period ended on 2027-01-31. One in four is
    on the standard annual plan, one in four Prime annual, the rest Prime monthly; one Prime
    member in twenty has a check that lapses before the new period (renewed at the standard
    price, with a notice)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO accounts_user (password, is_superuser, email, full_name, is_active,"
            " is_staff, date_joined)"
            " SELECT '!', false, %s || g || '@bench.example', 'Bench Member ' || g, true, false,"
            " now() FROM generate_series(1, %s) g",
            [f"{tag}-", count],
        )
        cursor.execute(
            "INSERT INTO memberships_member (user_id, date_of_birth, created_at)"
            " SELECT id, date '1990-01-01', now() FROM accounts_user WHERE email LIKE %s",
            [f"{tag}-%"],
        )
        cursor.execute(
            "INSERT INTO billing_billingcustomer (user_id, email, name, stripe_customer_id,"
            " payment_method_to_attach, default_payment_method_id, created_at)"
            " SELECT u.id, u.email, u.full_name, 'cus_' || %s || u.id, '', 'pm_card_visa', now()"
            " FROM accounts_user u WHERE u.email LIKE %s",
            [tag, f"{tag}-%"],
        )
        cursor.execute(
            "CREATE TEMP TABLE bench_b1_seed ON COMMIT DROP AS"
            " SELECT m.id AS member_id, row_number() OVER (ORDER BY m.id) AS n"
            " FROM memberships_member m JOIN accounts_user u ON u.id = m.user_id"
            " WHERE u.email LIKE %s",
            [f"{tag}-%"],
        )
        cursor.execute(
            "INSERT INTO memberships_primeverification (member_id, provider, status,"
            " verified_until, token_fingerprint, checked_at)"
            " SELECT member_id, 'sandbox', 'verified',"
            " CASE WHEN n %% 20 = 2 THEN date '2027-01-15' ELSE date '2030-01-01' END,"
            " repeat('0', 64), now() FROM bench_b1_seed WHERE n %% 4 <> 0",
            [],
        )
        cursor.execute(
            "INSERT INTO memberships_membership (member_id, price_id, status,"
            " current_period_start, current_period_end, cancel_at_period_end, created_at)"
            " SELECT s.member_id, p.id, 'active',"
            " CASE WHEN p.interval = 'month' THEN date '2027-01-01' ELSE date '2026-02-01' END,"
            " date '2027-01-31', false, now()"
            " FROM bench_b1_seed s JOIN memberships_price p ON p.sold_individually"
            " AND p.code = CASE s.n %% 4 WHEN 0 THEN 'standard_annual'"
            " WHEN 1 THEN 'prime_annual' ELSE 'prime_monthly' END"
            " AND p.active_from <= date '2027-02-01'"
            " AND (p.active_until IS NULL OR p.active_until > date '2027-02-01')",
            [],
        )


def cleanup(tag: str) -> None:
    """Delete everything `seed` and the bill run wrote for `tag`."""
    users = "SELECT id FROM accounts_user WHERE email LIKE %s"
    customers = f"SELECT id FROM billing_billingcustomer WHERE user_id IN ({users})"
    members = f"SELECT id FROM memberships_member WHERE user_id IN ({users})"
    invoices = f"SELECT id FROM billing_invoice WHERE customer_id IN ({customers})"
    memberships = f"SELECT id FROM memberships_membership WHERE member_id IN ({members})"
    with transaction.atomic(), connection.cursor() as cursor:
        for sql in (
            f"DELETE FROM notifications_emailnotification WHERE user_id IN ({users})",
            f"DELETE FROM billing_stripecommand WHERE customer_id IN ({customers})",
            f"DELETE FROM billing_invoiceline WHERE invoice_id IN ({invoices})",
            f"DELETE FROM billing_invoice WHERE customer_id IN ({customers})",
            f"DELETE FROM memberships_membershipevent WHERE membership_id IN ({memberships})",
            f"DELETE FROM memberships_membership WHERE member_id IN ({members})",
            f"DELETE FROM memberships_primeverification WHERE member_id IN ({members})",
            f"DELETE FROM billing_billingcustomer WHERE user_id IN ({users})",
            f"DELETE FROM memberships_member WHERE user_id IN ({users})",
            f"DELETE FROM accounts_user WHERE id IN ({users})",
        ):
            cursor.execute(sql, [f"{tag}-%"])


def row_counts() -> dict[str, int]:
    with connection.cursor() as cursor:
        counts = {}
        for table in WRITTEN:
            cursor.execute(f"SELECT count(*) FROM {table}")
            counts[table] = int(cursor.fetchone()[0])
        return counts


def _value(column: str, data_type: str, max_length: int | None) -> str:
    """A generated value for one column of row `g` (unique where it has to be)."""
    if data_type in {"bigint", "integer"}:
        return "g"
    if data_type == "smallint":
        return "(g % 30000)::smallint"
    if data_type in {"character varying", "text"}:
        text = "g::text || '-' || md5(g::text)"
        return f"left({text}, {max_length})" if max_length else text
    if data_type == "date":
        return "date '2027-02-01'"
    if data_type.startswith("timestamp"):
        return "now()"
    if data_type == "boolean":
        return "false"
    if data_type in {"jsonb", "json"}:
        return "jsonb_build_object('n', g)"
    if data_type == "uuid":
        return "gen_random_uuid()"
    raise ValueError(f"no generated value for {column} ({data_type})")


def floor_seconds(written: dict[str, int]) -> float:
    """Seconds PostgreSQL takes to write `written` rows, one INSERT … SELECT generate_series
    per table into a plain copy of it (same columns, indexes and checks; no foreign keys), all
    in one committed transaction. Every column gets a value (nullable ones too)."""
    with connection.cursor() as cursor:
        statements = []
        for table, rows in written.items():
            if not rows:
                continue
            copy = f"bench_b1_floor_{table}"
            cursor.execute(f"DROP TABLE IF EXISTS {copy}")
            cursor.execute(f"CREATE TABLE {copy} (LIKE {table} INCLUDING ALL)")
            cursor.execute(
                "SELECT column_name, data_type, character_maximum_length"
                " FROM information_schema.columns WHERE table_name = %s AND column_name <> 'id'"
                " ORDER BY ordinal_position",
                [table],
            )
            columns = cursor.fetchall()
            names = ", ".join(c[0] for c in columns)
            values = ", ".join(_value(*c) for c in columns)
            statements.append(
                f"INSERT INTO {copy} ({names}) SELECT {values}"
                f" FROM generate_series(1, {int(rows)}) g"
            )
        started = time.perf_counter()
        with transaction.atomic():
            for statement in statements:
                cursor.execute(statement)
        elapsed = time.perf_counter() - started
        for table in written:
            cursor.execute(f"DROP TABLE IF EXISTS bench_b1_floor_{table}")
    return elapsed


def _worker(chunk_size: int, results: Any) -> None:
    connections.close_all()  # a fresh connection in this process (never the parent's)
    report = memberships_renew_due(as_of=AS_OF, chunk_size=chunk_size)
    results.put(report.handled)
    connections.close_all()


def renew(processes: int, chunk_size: int) -> tuple[float, int]:
    """Seconds for `processes` worker processes, each running the bill run on the same due
    set (they split it through SKIP LOCKED), and how many memberships they handled."""
    if processes == 1:
        started = time.perf_counter()
        report = memberships_renew_due(as_of=AS_OF, chunk_size=chunk_size)
        return time.perf_counter() - started, report.handled
    connections.close_all()
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    workers = [
        context.Process(target=_worker, args=(chunk_size, results)) for _ in range(processes)
    ]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    handled = sum(results.get() for _ in workers)
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    if any(worker.exitcode for worker in workers):
        raise RuntimeError("a bill run worker failed")
    return elapsed, handled


def profile_chunk(chunk_size: int) -> str:
    """cProfile of one chunk (the first `chunk_size` due memberships): the top costs."""
    profiler = cProfile.Profile()
    profiler.enable()
    memberships_renew_due(as_of=AS_OF, chunk_size=chunk_size * 2 + 1)  # one chunk, then stops
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
    return out.getvalue()


def measure(*, scale: float = 1.0, chunk_size: int = 500, profile: bool = False) -> list[Figure]:
    """The bill run of `100,000 x scale` due memberships on 1 process, then on 2, each beside
    the floor for the rows it wrote."""
    count = max(int(100_000 * scale), 100)
    settings.STRIPE_OUTBOX_WAKE_ON_COMMIT = False  # the Stripe push is not part of the run
    app.conf.task_always_eager = False  # notices are queued to the broker, not sent here
    tag = f"bench-b1-{time.time_ns()}"
    figures: list[Figure] = []
    try:
        runs: dict[int, tuple[float, int, dict[str, int], float]] = {}
        for processes in (1, 2):
            seed(count, tag)
            before = row_counts()
            seconds, handled = renew(processes, chunk_size)
            after = row_counts()
            written = {table: after[table] - before[table] for table in WRITTEN}
            floor = floor_seconds(written)
            if handled != count:
                raise RuntimeError(f"{processes} process(es) renewed {handled} of {count}")
            runs[processes] = (seconds, handled, written, floor)
            say(
                f"{processes} process(es): {count:,} memberships in {seconds:.2f} s"
                f" ({count / seconds:,.0f}/s); rows written {sum(written.values()):,}"
                f" {written}; floor {floor:.3f} s; ratio {seconds / floor:.1f}x"
            )
            cleanup(tag)
        if profile:
            seed(max(chunk_size, 100), tag)
            say(profile_chunk(chunk_size))
            cleanup(tag)
    finally:
        cleanup(tag)
        app.control.purge()  # the notices' send tasks queued to the broker

    one, two = runs[1], runs[2]
    floor_name = "INSERT … SELECT generate_series of the same rows per table"
    rows_note = ", ".join(f"{t}={n}" for t, n in one[2].items() if n)
    figures.append(
        Figure(
            benchmark="bill run",
            measure=f"{count:,} renewals, 1 process",
            seconds=one[0],
            floor=floor_name,
            floor_seconds=one[3],
            target_ratio=10.0,
            rate=f"{count / one[0]:,.0f} memberships/s",
            notes=f"rows: {rows_note}",
            extra={"rows": one[2]},
        )
    )
    figures.append(
        Figure(
            benchmark="bill run scale-out",
            measure=f"{count:,} renewals, 2 processes (speed-up {one[0] / two[0]:.2f}x)",
            seconds=two[0],
            floor=floor_name,
            floor_seconds=two[3],
            target_ratio=None,
            rate=f"{count / two[0]:,.0f} memberships/s",
            extra={"speedup": one[0] / two[0], "cpus": os.cpu_count()},
        )
    )
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memberships", type=int, default=100_000)
    parser.add_argument("--chunk-size", type=int, default=500)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    figures = measure(
        scale=args.memberships / 100_000, chunk_size=args.chunk_size, profile=args.profile
    )
    print(figures_table(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
