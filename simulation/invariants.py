"""The invariants the simulation checks at the end, each read independently from the database,
the ledger and Stripe (through the SDK), and the digest of the books.

Every check answers an `InvariantResult`: its name, whether it holds, and its figures."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from dataclasses import dataclass

from django.db import connection
from django.db.models import Sum

from billing.models import (
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
    StripeCommand,
    StripeCommandStatus,
    StripeEvent,
)
from billing.stripe_gateway import stripe_gateway
from ledger import chart
from ledger.models import (
    JournalEntry,
    Posting,
    RevenueShareAgreement,
    Statement,
    StatementLine,
    StatementLineKind,
    StatementStatus,
)
from ledger.selectors import journal_entries_unbalanced, ledger_trial_balance_cents
from partners.models import Partner

RECEIVABLES = (chart.RECEIVABLE_MEMBER, chart.RECEIVABLE_EMPLOYER)


@dataclass(frozen=True)
class InvariantResult:
    name: str
    ok: bool
    figures: str


SqlParams = dict[str, dt.date | int | str | list[str]]


def _one_value(sql: str, params: SqlParams | None = None) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or {})
        return int(cursor.fetchone()[0] or 0)


def _rows(sql: str, params: SqlParams | None = None) -> list[tuple[object, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or {})
        return list(cursor.fetchall())


# --- the ledger ----------------------------------------------------------------------------------


def books_balance_check() -> InvariantResult:
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # fires any deferred check now
    balance = ledger_trial_balance_cents()
    unbalanced = journal_entries_unbalanced()
    return InvariantResult(
        "trial balance zero, every entry balances",
        balance == 0 and not unbalanced,
        f"{JournalEntry.objects.count()} entries, {Posting.objects.count()} postings, "
        f"trial balance {balance} cents, {len(unbalanced)} unbalanced entries",
    )


# --- statements ----------------------------------------------------------------------------------


def independent_share_cents(*, partner_id: int, first: dt.date, last_period: dt.date) -> int:
    """The partner's share recomputed from the ledger alone, in SQL: Σ over months and agreement
    windows of round_half_up(net * bps / 10000), net = -(revenue + refunds and credits)."""
    return _one_value(
        """
        WITH months AS (
            SELECT m::date AS first, (m + interval '1 month' - interval '1 day')::date AS last
            FROM generate_series(%(first)s::date, %(last_period)s::date, interval '1 month') m
        ), windows AS (
            SELECT a.id, a.market_id, a.share_bps,
                   greatest(months.first, a.effective_from) AS first,
                   least(months.last, coalesce(a.effective_until - 1, months.last)) AS last
            FROM ledger_revenueshareagreement a CROSS JOIN months
            WHERE a.partner_id = %(partner)s AND a.effective_from <= months.last
              AND (a.effective_until IS NULL OR a.effective_until > months.first)
        ), nets AS (
            SELECT w.share_bps, -coalesce(sum(p.amount_cents), 0) AS net
            FROM windows w
            LEFT JOIN ledger_posting p ON p.partner_id = %(partner)s
                AND p.market_id = w.market_id AND p.occurred_on BETWEEN w.first AND w.last
                AND p.account_id IN (SELECT id FROM ledger_account
                                     WHERE code IN (%(revenue)s, %(contra)s))
            GROUP BY w.id, w.share_bps, w.first
        )
        SELECT coalesce(sum(sign(net) * floor((2 * abs(net) * share_bps + 10000) / 20000)), 0)
        FROM nets
        """,
        {
            "first": first,
            "last_period": last_period,
            "partner": partner_id,
            "revenue": chart.MEMBERSHIP_REVENUE,
            "contra": chart.REFUNDS_CREDITS,
        },
    )


def statements_tie_out_check(*, first: dt.date, last_period: dt.date) -> InvariantResult:
    """Per partner: no draft left; the payable account equals the approved, unpaid statements;
    what was accrued equals what the statements said was due; shares plus prior-period
    adjustments equal the share recomputed from the ledger; recoupment within its limit."""
    problems: list[str] = []
    partners = Partner.objects.filter(statements__isnull=False).distinct().order_by("id")
    for partner in partners:
        statements = Statement.objects.filter(partner=partner)
        drafts = statements.filter(status=StatementStatus.DRAFT).count()
        payable = Posting.objects.filter(account=chart.partner_payable_account(partner.pk))
        payable_cents = payable.aggregate(total=Sum("amount_cents"))["total"] or 0
        unpaid_due = statements.filter(status=StatementStatus.APPROVED).aggregate(
            total=Sum("amount_due_cents")
        )["total"]
        accrued = -(
            payable.filter(entry__idempotency_key__endswith=":accrual").aggregate(
                total=Sum("amount_cents")
            )["total"]
            or 0
        )
        due = statements.aggregate(total=Sum("amount_due_cents"))["total"] or 0
        lines = StatementLine.objects.filter(statement__partner=partner)
        shares = (
            lines.filter(kind=StatementLineKind.MARKET).aggregate(total=Sum("share_cents"))["total"]
            or 0
        )
        adjustments = (
            lines.filter(kind=StatementLineKind.ADJUSTMENT).aggregate(total=Sum("amount_cents"))[
                "total"
            ]
            or 0
        )
        independent = independent_share_cents(
            partner_id=partner.pk, first=first, last_period=last_period
        )
        if drafts:
            problems.append(f"{partner.name}: {drafts} drafts")
        if payable_cents != -(unpaid_due or 0):
            problems.append(f"{partner.name}: payable {payable_cents} vs unpaid {unpaid_due}")
        if accrued != due:
            problems.append(f"{partner.name}: accrued {accrued} vs due {due}")
        if shares + adjustments != independent:
            problems.append(
                f"{partner.name}: shares {shares} + adjustments {adjustments} vs ledger "
                f"{independent}"
            )
    over = [
        agreement.pk
        for agreement in RevenueShareAgreement.objects.all()
        if (
            agreement.recoupments.filter(
                statement__status__in=[StatementStatus.APPROVED, StatementStatus.PAID]
            ).aggregate(total=Sum("amount_cents"))["total"]
            or 0
        )
        > agreement.recoupment_total_cents
    ]
    if over:
        problems.append(f"recoupment beyond its total: agreements {over}")
    counts = {status: Statement.objects.filter(status=status).count() for status in StatementStatus}
    return InvariantResult(
        "every statement ties out to the ledger",
        not problems,
        f"{sum(counts.values())} statements ({', '.join(f'{n} {s}' for s, n in counts.items())})"
        f" for {partners.count()} partners" + ("; " + "; ".join(problems[:10]) if problems else ""),
    )


# --- Stripe --------------------------------------------------------------------------------------


def _ledger_amounts_by_key(kind: str, codes: tuple[str, ...]) -> dict[str, int]:
    """Idempotency key → the sum of the entry's postings on these accounts."""
    rows = _rows(
        """
        SELECT e.idempotency_key, sum(p.amount_cents)
        FROM ledger_journalentry e
        JOIN ledger_posting p ON p.entry_id = e.id
        JOIN ledger_account a ON a.id = p.account_id
        WHERE e.kind = %(kind)s AND a.code = ANY(%(codes)s)
        GROUP BY e.idempotency_key
        """,
        {"kind": kind, "codes": list(codes)},
    )
    return {str(key): int(amount) for key, amount in rows}  # type: ignore[call-overload]


def three_way_tie_out_check() -> tuple[InvariantResult, dict[str, int]]:
    """Local invoices, payments and refunds = Stripe's (listed and fetched through the SDK) =
    the ledger's postings, one by one and in total. Also answers how many Stripe invoices claim
    each local invoice (for the duplicate check)."""
    gateway = stripe_gateway()
    stripe_invoices = {snapshot.id: snapshot for snapshot in gateway.invoices_list()}
    claims: dict[str, int] = defaultdict(int)
    for snapshot in stripe_invoices.values():
        claims[snapshot.metadata.get("local_invoice_id", "")] += 1
    finalized = _ledger_amounts_by_key("invoice_finalized", RECEIVABLES)
    paid_in = _ledger_amounts_by_key("payment", (chart.CASH_STRIPE,))
    refunded_out = _ledger_amounts_by_key("refund", (chart.CASH_STRIPE,))
    payments_by_invoice: dict[int, int] = defaultdict(int)
    for invoice_id, amount in Payment.objects.filter(status=PaymentStatus.SUCCEEDED).values_list(
        "invoice_id", "amount_cents"
    ):
        payments_by_invoice[invoice_id] += amount

    problems: list[str] = []
    totals: dict[str, int] = defaultdict(int)
    for invoice in Invoice.objects.order_by("id").iterator(chunk_size=2000):
        if invoice.status == InvoiceStatus.DRAFT:
            problems.append(f"invoice #{invoice.pk} is still a draft")
            continue
        found = stripe_invoices.get(invoice.stripe_invoice_id or "")
        if found is None:
            problems.append(f"invoice #{invoice.pk} is not in Stripe")
            continue
        snapshot = found
        totals["invoices_local"] += invoice.total_cents
        totals["invoices_stripe"] += snapshot.total
        if snapshot.total != invoice.total_cents or snapshot.status != invoice.status:
            problems.append(
                f"invoice #{invoice.pk}: local {invoice.status} {invoice.total_cents}, "
                f"Stripe {snapshot.status} {snapshot.total}"
            )
        if invoice.status != InvoiceStatus.VOID:
            ledger = finalized.get(f"invoice:{invoice.pk}:finalized", 0)
            totals["invoices_ledger"] += ledger
            totals["invoices_local_not_void"] += invoice.total_cents
            if ledger != invoice.total_cents:
                problems.append(f"invoice #{invoice.pk}: {invoice.total_cents}, ledger {ledger}")
        paid_locally = payments_by_invoice.get(invoice.pk, 0)
        totals["paid_local"] += paid_locally
        totals["paid_stripe"] += snapshot.amount_paid
        if snapshot.amount_paid != paid_locally:
            problems.append(
                f"invoice #{invoice.pk}: paid {paid_locally} locally, {snapshot.amount_paid} "
                "in Stripe"
            )
    for payment in Payment.objects.filter(status=PaymentStatus.SUCCEEDED).order_by("id"):
        ledger = paid_in.get(f"payment:{payment.pk}", 0)
        totals["paid_ledger"] += ledger
        if ledger != payment.amount_cents:
            problems.append(f"payment #{payment.pk}: {payment.amount_cents}, ledger {ledger}")
    for refund in Refund.objects.exclude(status=RefundStatus.FAILED).order_by("id"):
        if refund.status != RefundStatus.SUCCEEDED or not refund.stripe_refund_id:
            problems.append(f"refund #{refund.pk} is {refund.status}")
            continue
        remote = gateway.refund_retrieve(refund_id=refund.stripe_refund_id)
        ledger = -refunded_out.get(f"refund:{refund.pk}", 0)
        totals["refunds_local"] += refund.amount_cents
        totals["refunds_stripe"] += remote.amount if remote.status == "succeeded" else 0
        totals["refunds_ledger"] += ledger
        if not (refund.amount_cents == ledger == remote.amount) or remote.status != "succeeded":
            problems.append(
                f"refund #{refund.pk}: {refund.amount_cents}, Stripe {remote.status} "
                f"{remote.amount}, ledger {ledger}"
            )
    unknown = [
        snapshot.id
        for snapshot in stripe_invoices.values()
        if not snapshot.metadata.get("local_invoice_id", "").isdigit()
    ]
    if unknown:
        problems.append(f"{len(unknown)} Stripe invoices no local invoice claims")
    figures = (
        f"{Invoice.objects.count()} invoices: local {totals['invoices_local']} = Stripe "
        f"{totals['invoices_stripe']} cents (not void: local {totals['invoices_local_not_void']}"
        f" = ledger {totals['invoices_ledger']}); payments: local {totals['paid_local']} = "
        f"Stripe {totals['paid_stripe']} = ledger {totals['paid_ledger']}; refunds: local "
        f"{totals['refunds_local']} = Stripe {totals['refunds_stripe']} = ledger "
        f"{totals['refunds_ledger']}"
    )
    if problems:
        figures += f"; {len(problems)} differences, e.g. " + "; ".join(problems[:10])
    return InvariantResult(
        "three-way tie-out: local = Stripe = ledger", not problems, figures
    ), dict(claims)


# --- duplicates and stuck work -----------------------------------------------------------------


def no_duplicates_check(*, stripe_claims: dict[str, int]) -> InvariantResult:
    membership_periods = _one_value(
        """
        SELECT count(*) FROM (
            SELECT l.membership_id, l.kind, l.period_start
            FROM billing_invoiceline l JOIN billing_invoice i ON i.id = l.invoice_id
            WHERE i.status <> 'void' AND l.membership_id IS NOT NULL
              AND l.kind IN ('membership_fee', 'employer_seat', 'member_share')
            GROUP BY 1, 2, 3 HAVING count(*) > 1
        ) d
        """
    )
    employer_months = _one_value(
        "SELECT count(*) FROM (SELECT 1 FROM employers_employerinvoice "
        "GROUP BY employer_id, period HAVING count(*) > 1) d"
    )
    charges = _one_value(
        "SELECT count(*) FROM (SELECT 1 FROM billing_payment WHERE status = 'succeeded' "
        "GROUP BY invoice_id HAVING count(*) > 1) d"
    )
    stripe_twice = sum(1 for key, count in stripe_claims.items() if key and count > 1)
    entries_twice = _one_value(
        "SELECT count(*) FROM (SELECT 1 FROM ledger_journalentry "
        "GROUP BY idempotency_key HAVING count(*) > 1) d"
    )
    sources = {
        "payments without their one entry": _one_value(
            "SELECT count(*) FROM billing_payment p WHERE p.status = 'succeeded' AND "
            "(SELECT count(*) FROM ledger_journalentry e "
            "WHERE e.idempotency_key = 'payment:' || p.id) <> 1"
        ),
        "refunds without their one entry": _one_value(
            "SELECT count(*) FROM billing_refund r WHERE r.status = 'succeeded' AND "
            "(SELECT count(*) FROM ledger_journalentry e "
            "WHERE e.idempotency_key = 'refund:' || r.id) <> 1"
        ),
    }
    found = {
        "membership periods invoiced twice": membership_periods,
        "employer months invoiced twice": employer_months,
        "invoices charged twice": charges,
        "local invoices with more than one Stripe invoice": stripe_twice,
        "source keys posted twice": entries_twice,
        **sources,
    }
    return InvariantResult(
        "no duplicates",
        not any(found.values()),
        ", ".join(f"{name}: {count}" for name, count in found.items()),
    )


def nothing_stuck_check() -> InvariantResult:
    commands = {
        status: StripeCommand.objects.filter(status=status).count()
        for status in StripeCommandStatus
    }
    unprocessed = StripeEvent.objects.filter(processed_at__isnull=True).count()
    stuck = sum(n for status, n in commands.items() if status != StripeCommandStatus.DONE)
    return InvariantResult(
        "nothing stuck (outbox drained, every webhook event processed)",
        stuck == 0 and unprocessed == 0,
        ", ".join(f"{n} commands {status}" for status, n in commands.items())
        + f"; {StripeEvent.objects.count()} events stored, {unprocessed} unprocessed",
    )


# --- the digest ------------------------------------------------------------------------------

# The books in canonical form: natural keys (emails, market slugs, partner names, dates) instead
# of database ids, Stripe ids, numbers and timestamps, which legitimately differ between runs.
DIGEST_QUERIES = {
    "postings": """
        SELECT e.kind, p.occurred_on, a.code, p.currency, p.amount_cents,
               coalesce(pa.name, ''), coalesce(mk.slug, ''), coalesce(u.email, ''),
               coalesce(l.kind, ''), coalesce(l.period_start::text, ''),
               coalesce(l.period_end::text, '')
        FROM ledger_posting p
        JOIN ledger_journalentry e ON e.id = p.entry_id
        JOIN ledger_account a ON a.id = p.account_id
        LEFT JOIN partners_partner pa ON pa.id = p.partner_id
        LEFT JOIN memberships_market mk ON mk.id = p.market_id
        LEFT JOIN memberships_membership ms ON ms.id = p.membership_id
        LEFT JOIN memberships_member mb ON mb.id = ms.member_id
        LEFT JOIN accounts_user u ON u.id = mb.user_id
        LEFT JOIN billing_invoiceline l ON l.id = p.invoice_line_id
        ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11
    """,
    "invoices": """
        SELECT c.email, i.collection_method, i.status, i.total_cents, i.amount_paid_cents,
               i.amount_credited_cents,
               (SELECT string_agg(l.kind || ' ' || l.period_start || ' ' || l.period_end || ' '
                                  || l.amount_cents, '; ' ORDER BY l.kind, l.period_start,
                                  l.amount_cents)
                FROM billing_invoiceline l WHERE l.invoice_id = i.id) AS lines
        FROM billing_invoice i JOIN billing_billingcustomer c ON c.id = i.customer_id
        ORDER BY 1, 7, 2, 3, 4, 5, 6
    """,
    "payments": """
        SELECT c.email, p.status, p.amount_cents, coalesce(p.stripe_fee_cents, -1),
               (SELECT coalesce(sum(r.amount_cents), 0) FROM billing_refund r
                WHERE r.payment_id = p.id AND r.status = 'succeeded')
        FROM billing_payment p JOIN billing_invoice i ON i.id = p.invoice_id
        JOIN billing_billingcustomer c ON c.id = i.customer_id
        ORDER BY 1, 2, 3, 4, 5
    """,
    "memberships": """
        SELECT u.email, pr.code, ms.status, ms.current_period_start, ms.current_period_end,
               ms.cancel_at_period_end, coalesce(em.name, '')
        FROM memberships_membership ms
        JOIN memberships_member mb ON mb.id = ms.member_id
        JOIN accounts_user u ON u.id = mb.user_id
        JOIN memberships_price pr ON pr.id = ms.price_id
        LEFT JOIN employers_employer em ON em.id = ms.sponsor_id
        ORDER BY 1, 4, 2, 3, 5, 6, 7
    """,
    "statements": """
        SELECT pa.name, s.period, s.status, s.recognized_cents, s.refunds_cents, s.net_cents,
               s.share_cents, s.recoupment_cents, s.adjustment_cents, s.amount_due_cents
        FROM ledger_statement s JOIN partners_partner pa ON pa.id = s.partner_id
        ORDER BY 1, 2
    """,
    "employer_invoices": """
        SELECT em.name, ei.period, i.total_cents, i.status
        FROM employers_employerinvoice ei
        JOIN employers_employer em ON em.id = ei.employer_id
        JOIN billing_invoice i ON i.id = ei.invoice_id
        ORDER BY 1, 2
    """,
}


def books_digest() -> tuple[str, dict[str, int]]:
    """SHA-256 of the canonical books, and the number of rows of each part."""
    digest = hashlib.sha256()
    counts: dict[str, int] = {}
    for name, sql in DIGEST_QUERIES.items():
        digest.update(f"[{name}]\n".encode())
        counts[name] = 0
        with connection.cursor() as cursor:
            cursor.execute(sql)
            while rows := cursor.fetchmany(5000):
                for row in rows:
                    digest.update(("\t".join(str(value) for value in row) + "\n").encode())
                counts[name] += len(rows)
    return digest.hexdigest(), counts
