"""Reads of the ledger for finance: account balances as of a day, and journal entries with
their postings. The querysets returned are scoped querysets (`visible_to`), so the API views
apply the caller's scope to them."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, TypedDict

from django.conf import settings
from django.db import connection
from django.db.models import (
    BigIntegerField,
    Case,
    CharField,
    Exists,
    F,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce, Concat

from billing.models import Invoice, InvoiceStatus, Payment, PaymentStatus, Refund, RefundStatus
from ledger.models import (
    Account,
    AccountType,
    FinanceOnlyQuerySet,
    JournalEntry,
    Posting,
    RevenueSchedule,
)

LEDGER_CURRENCY = "usd"

# Accounts whose normal balance is a credit: finance reads them with the sign turned round.
CREDIT_NORMAL_TYPES = (AccountType.LIABILITY, AccountType.REVENUE)


class AccountBalance(TypedDict):
    balance_cents: int
    normal_balance_cents: int


if TYPE_CHECKING:  # WithAnnotations takes its second argument only for the type checker
    from django_stubs_ext import WithAnnotations

    AccountWithBalance = WithAnnotations[Account, AccountBalance]


def account_balances_as_of(*, as_of: dt.date) -> FinanceOnlyQuerySet[AccountWithBalance]:
    """Every account, by code, annotated with its balance in cents at the end of `as_of`:
    `balance_cents` (debits positive, credits negative) and `normal_balance_cents` (the balance
    turned round for liability and revenue accounts, so that their usual figure is positive).
    One aggregate query; an account without postings by then has 0. USD postings only."""
    balance = Coalesce(
        Sum(
            "postings__amount_cents",
            filter=Q(postings__occurred_on__lte=as_of, postings__currency=LEDGER_CURRENCY),
        ),
        0,
        output_field=BigIntegerField(),
    )
    return (
        Account.objects.all()
        .annotate(balance_cents=balance)
        .annotate(
            normal_balance_cents=Case(
                When(type__in=CREDIT_NORMAL_TYPES, then=-F("balance_cents")),
                default=F("balance_cents"),
                output_field=BigIntegerField(),
            )
        )
        .order_by("code")
    )


def journal_entries_with_postings() -> FinanceOnlyQuerySet[JournalEntry]:
    """Journal entries, newest first, their postings (with the account) prefetched in one more
    query whatever the number of entries."""
    postings = Posting.objects.select_related("account").order_by("id")
    return (
        JournalEntry.objects.all()
        .prefetch_related(Prefetch("postings", queryset=postings))
        .order_by("-occurred_on", "-id")
    )


def journal_entries_filtered(
    *,
    account_code: str | None = None,
    partner_id: int | None = None,
    market_id: int | None = None,
    membership_id: int | None = None,
    invoice_line_id: int | None = None,
    kind: str | None = None,
    occurred_from: dt.date | None = None,
    occurred_to: dt.date | None = None,
) -> FinanceOnlyQuerySet[JournalEntry]:
    """`journal_entries_with_postings()` narrowed by what is given. The posting criteria
    (account, partner, market, membership, invoice line) select entries having at least one
    posting that meets all of them; `occurred_from`/`occurred_to` are inclusive."""
    entries = journal_entries_with_postings()
    if kind is not None:
        entries = entries.filter(kind=kind)
    if occurred_from is not None:
        entries = entries.filter(occurred_on__gte=occurred_from)
    if occurred_to is not None:
        entries = entries.filter(occurred_on__lte=occurred_to)
    posting_criteria = {
        name: value
        for name, value in (
            ("account__code", account_code),
            ("partner_id", partner_id),
            ("market_id", market_id),
            ("membership_id", membership_id),
            ("invoice_line_id", invoice_line_id),
        )
        if value is not None
    }
    if posting_criteria:
        matching = Posting.objects.filter(entry=OuterRef("pk"), **posting_criteria)
        entries = entries.filter(Exists(matching))
    return entries


# --- stuck work (billing/stuck_work.py) --------------------------------------------------------


def _has_entry(prefix: str, suffix: str = "") -> Exists:
    """Whether the outer row (by pk) has its journal entry `<prefix><pk><suffix>`."""
    key = Concat(Value(prefix), Cast(OuterRef("pk"), CharField()), Value(suffix))
    return Exists(JournalEntry.objects.filter(idempotency_key=key))


def ledger_postings_missing() -> list[tuple[str, int]]:
    """Business events the books should hold and do not, as (event, id): a finalized invoice
    without its `invoice:<id>:finalized` entry, a succeeded payment without `payment:<id>`, a
    fetched Stripe fee without `payment:<id>:fee`, a succeeded refund without `refund:<id>`.
    Each is posted in the transaction of its event, so any row here is a bug to look into."""
    finalized = Invoice.objects.filter(
        status__in=[InvoiceStatus.OPEN, InvoiceStatus.PAID, InvoiceStatus.UNCOLLECTIBLE],
        total_cents__gt=0,
    ).filter(~_has_entry("invoice:", ":finalized"))
    payments = Payment.objects.filter(status=PaymentStatus.SUCCEEDED, amount_cents__gt=0)
    missing = [("invoice_finalized", pk) for pk in finalized.values_list("pk", flat=True)]
    missing += [
        ("payment", pk)
        for pk in payments.filter(~_has_entry("payment:")).values_list("pk", flat=True)
    ]
    missing += [
        ("stripe_fee", pk)
        for pk in payments.filter(stripe_fee_cents__gt=0)
        .filter(~_has_entry("payment:", ":fee"))
        .values_list("pk", flat=True)
    ]
    missing += [
        ("refund", pk)
        for pk in Refund.objects.filter(status=RefundStatus.SUCCEEDED)
        .filter(~_has_entry("refund:"))
        .values_list("pk", flat=True)
    ]
    return sorted(missing)


def revenue_schedules_behind(*, today: dt.date) -> QuerySet[RevenueSchedule]:
    """Revenue schedules whose service ended more than STUCK_RECOGNITION_GRACE_DAYS days ago
    and that are still not fully recognized: the daily recognition run has not caught up."""
    last_day = Coalesce(F("ends_early_on"), F("service_end"))
    return (
        RevenueSchedule.objects.annotate(last_served_day=last_day)
        .filter(
            done=False,
            last_served_day__lt=today - dt.timedelta(days=settings.STUCK_RECOGNITION_GRACE_DAYS),
        )
        .order_by("id")
    )


def ledger_trial_balance_cents() -> int:
    """The sum of every posting ever made (zero when the books balance), read in SQL."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(sum(amount_cents), 0) FROM ledger_posting")
        return int(cursor.fetchone()[0])


def journal_entries_unbalanced() -> list[int]:
    """Ids of the journal entries whose postings do not sum to zero in some currency."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT entry_id FROM ledger_posting GROUP BY entry_id, currency "
            "HAVING sum(amount_cents) <> 0 ORDER BY entry_id"
        )
        return [row[0] for row in cursor.fetchall()]
