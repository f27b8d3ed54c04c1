"""Benchmark: one partner-month statement over a ledger of 1,000,000 postings (issue #8, 6)
against a floor measured in the same run: the raw SQL aggregate the statement needs (one
`SELECT market_id, occurred_on, account, sum(amount_cents) … GROUP BY` for that partner-month).

    python bench/statement.py [--scale 0.1]

Postings are permanent (triggers refuse UPDATE and DELETE), so the ledger is generated in a
throwaway database, `<db>_bench_statement`, made from the migrated database as a template and
dropped at the end (also on failure). The postings go in with set-based SQL: per batch one
statement inserting the journal entries and their balanced postings, committed, so the ledger's
deferred balance trigger checks every entry."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

import psycopg  # noqa: E402
from django.db import connection, connections, transaction  # noqa: E402

from bench.figures import Figure, figures_table  # noqa: E402
from ledger import chart  # noqa: E402
from ledger.models import RevenueShareAgreement  # noqa: E402
from ledger.statements import month_bounds, statement_figures, statement_generate  # noqa: E402
from memberships.models import Market  # noqa: E402
from partners.models import Partner  # noqa: E402

PARTNERS = 20
MARKETS_PER_PARTNER = 3
FIRST_DAY = dt.date(2024, 1, 1)
DAYS = 731  # 2024 and 2025: 24 months
PERIOD = dt.date(2025, 6, 1)
BATCH = 50_000  # entries per statement (two postings each)
REPEATS = 7

FLOOR_SQL = """
SELECT p.market_id, p.occurred_on, a.code, sum(p.amount_cents)
  FROM ledger_posting p JOIN ledger_account a ON a.id = p.account_id
 WHERE p.partner_id = %(partner)s AND p.occurred_on BETWEEN %(first)s AND %(last)s
   AND p.market_id IS NOT NULL AND a.code = ANY(%(codes)s)
 GROUP BY p.market_id, p.occurred_on, a.code
"""

GENERATE_SQL = """
WITH m AS (
    SELECT (row_number() OVER (ORDER BY id)) - 1 AS i, id AS market_id, partner_id
      FROM memberships_market WHERE slug LIKE 'bench-stmt-%%'
), src AS (
    SELECT n, m.market_id, m.partner_id,
           %(first_day)s::date + ((n * 7919) %% %(days)s)::int AS day,
           n %% 10 = 0 AS refund, 1000 + n %% 5000 AS cents
      FROM generate_series(%(lo)s::bigint, %(hi)s::bigint - 1) AS n
      JOIN m ON m.i = n %% %(markets)s
), e AS (
    INSERT INTO ledger_journalentry (idempotency_key, kind, occurred_on, memo, created_at)
    SELECT 'bench-stmt:' || n, CASE WHEN refund THEN 'refund' ELSE 'recognition' END, day, '',
           now()
      FROM src
    RETURNING id, idempotency_key
)
INSERT INTO ledger_posting
       (entry_id, account_id, amount_cents, currency, occurred_on, partner_id, market_id)
SELECT e.id,
       CASE WHEN src.refund THEN (CASE WHEN side.sign = 1 THEN %(refunds)s ELSE %(cash)s END)
            ELSE (CASE WHEN side.sign = 1 THEN %(deferred)s ELSE %(revenue)s END) END,
       side.sign * src.cents, 'usd', src.day, src.partner_id, src.market_id
  FROM e JOIN src ON e.idempotency_key = 'bench-stmt:' || src.n
 CROSS JOIN (VALUES (1), (-1)) AS side(sign)
"""


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _admin_connection() -> psycopg.Connection[Any]:
    s = connection.settings_dict
    return psycopg.connect(
        dbname="postgres",
        host=s["HOST"] or None,
        port=s["PORT"] or None,
        user=s["USER"] or None,
        password=s["PASSWORD"] or None,
        autocommit=True,
    )


@contextmanager
def throwaway_database(suffix: str = "bench_statement") -> Iterator[str]:
    """Point the default connection at a copy of the migrated database, `<db>_<suffix>`; drop
    it afterwards (also on failure)."""
    template = str(connection.settings_dict["NAME"])
    name = f"{template}_{suffix}"
    connections.close_all()
    with _admin_connection() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    connection.settings_dict["NAME"] = name
    try:
        yield name
    finally:
        connections.close_all()
        connection.settings_dict["NAME"] = template
        with _admin_connection() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def generate(postings: int) -> tuple[float, list[int]]:
    """Partners, markets, agreements and `postings` postings; (seconds, partner ids)."""
    partner_ids: list[int] = []
    for p in range(PARTNERS):
        partner = Partner.objects.create(name=f"Bench statement partner {p}")
        partner_ids.append(partner.pk)
        for m in range(MARKETS_PER_PARTNER):
            market = Market.objects.create(
                name=f"Bench statement market {p}-{m}",
                slug=f"bench-stmt-{p:03d}-{m}",
                partner=partner,
            )
            RevenueShareAgreement.objects.create(
                partner=partner, market=market, share_bps=2000, effective_from=FIRST_DAY
            )
    accounts = {
        "revenue": chart.account_get(chart.MEMBERSHIP_REVENUE).pk,
        "refunds": chart.account_get(chart.REFUNDS_CREDITS).pk,
        "deferred": chart.account_get(chart.DEFERRED_REVENUE).pk,
        "cash": chart.account_get(chart.CASH_STRIPE).pk,
    }
    entries = postings // 2
    started = time.perf_counter()
    for lo in range(0, entries, BATCH):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                GENERATE_SQL,
                {
                    **accounts,
                    "first_day": FIRST_DAY,
                    "days": DAYS,
                    "lo": lo,
                    "hi": min(lo + BATCH, entries),
                    "markets": PARTNERS * MARKETS_PER_PARTNER,
                },
            )
        # the commit ran the deferred balance trigger over the batch's postings
    elapsed = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE ledger_posting")
        cursor.execute("ANALYZE ledger_journalentry")
    return elapsed, partner_ids


def floor_params(partner_id: int) -> dict[str, Any]:
    first, last = month_bounds(PERIOD)
    return {
        "partner": partner_id,
        "first": first,
        "last": last,
        "codes": [chart.MEMBERSHIP_REVENUE, chart.REFUNDS_CREDITS],
    }


def raw_aggregate(partner_id: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute(FLOOR_SQL, floor_params(partner_id))
        return len(cursor.fetchall())


def explain(partner_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + FLOOR_SQL, floor_params(partner_id))
        return "\n".join(str(row[0]) for row in cursor.fetchall())


def best_of(fn: Callable[[], object]) -> tuple[float, float]:
    """(best, median) seconds of REPEATS calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times), statistics.median(times)


def measure(*, scale: float = 1.0) -> list[Figure]:
    postings = max(int(1_000_000 * scale), 20_000)
    with throwaway_database() as name:
        gen_seconds, partner_ids = generate(postings)
        say(
            f"statement: {postings:,} postings generated in {gen_seconds:.1f} s "
            f"({postings / gen_seconds:,.0f} postings/s, balance trigger included) in {name}"
        )
        partner_id = partner_ids[0]
        partner = Partner.objects.get(pk=partner_id)
        rows = raw_aggregate(partner_id)
        plan = explain(partner_id)
        say(f"  floor query plan ({rows} groups):")
        for line in plan.splitlines():
            say(f"    {line}")
        figures = statement_figures(partner_id=partner_id, period=PERIOD)
        floor, floor_median = best_of(lambda: raw_aggregate(partner_id))
        fig, fig_median = best_of(lambda: statement_figures(partner_id=partner_id, period=PERIOD))
        gen, gen_median = best_of(lambda: statement_generate(partner=partner, period=PERIOD))
        floor_after, _ = best_of(lambda: raw_aggregate(partner_id))
        floor = min(floor, floor_after)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM ledger_posting WHERE partner_id = %s"
                " AND occurred_on BETWEEN %s AND %s",
                [partner_id, *month_bounds(PERIOD)],
            )
            in_month = int(cursor.fetchone()[0])
    recognized = sum(m.recognized_cents for m in figures.markets.values())
    say(
        f"  partner-month: {in_month:,} postings, {len(figures.markets)} markets, "
        f"recognized {recognized:,} cents"
    )
    for label, best, median in (
        ("FLOOR raw SQL aggregate", floor, floor_median),
        ("statement_figures", fig, fig_median),
        ("statement_generate (regenerate)", gen, gen_median),
    ):
        say(f"  {label:32s} best {best * 1e3:7.2f} ms  median {median * 1e3:7.2f} ms")
    floor_name = "raw SQL aggregate of the partner-month (GROUP BY market, day, account)"
    notes = f"{postings:,} postings; partner-month of {in_month:,} postings; best of {REPEATS}"
    return [
        Figure(
            benchmark="statement",
            measure="statement_figures, one partner-month",
            seconds=fig,
            floor=floor_name,
            floor_seconds=floor,
            target_ratio=3.0,
            notes=notes,
            extra={"postings": postings, "plan": plan},
        ),
        Figure(
            benchmark="statement",
            measure="statement_generate (draft regenerated), one partner-month",
            seconds=gen,
            floor=floor_name,
            floor_seconds=floor,
            target_ratio=3.0,
            notes=notes,
        ),
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()
    print(figures_table(measure(scale=args.scale)))
