"""The double-entry ledger. Amounts are integer cents; a posting's amount is signed, debits
positive and credits negative, so an entry balances when its postings sum to zero per currency.

The database enforces the rules (migration 0002): postings of an entry sum to zero per currency
and there are at least two of them (a deferred constraint trigger, checked at commit); posted
entries and postings are never updated or deleted (triggers). Only `ledger/posting.py` writes
them; a correction is a reversing entry. Every entry carries the idempotency key of the business
event that caused it (unique), so a replayed event posts nothing."""

from __future__ import annotations

from typing import ClassVar, Self, TypeVar

from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import RangeOperators
from django.db import models
from django.db.models import Q

from accounts.scoping import ScopedQuerySet
from accounts.selectors import Access
from config import clock
from memberships.models import DateRange

_M = TypeVar("_M", bound=models.Model)


class FinanceOnlyQuerySet(ScopedQuerySet[_M]):
    """Who sees ledger rows: finance staff and operator admins all of them, nobody else any."""

    def visible_to(self, access: Access) -> Self:
        return self if access.is_staff_wide else self.none()


class AccountType(models.TextChoices):
    ASSET = "asset"
    LIABILITY = "liability"
    REVENUE = "revenue"
    CONTRA_REVENUE = "contra_revenue"  # refunds and credits: reduce revenue
    EXPENSE = "expense"


class Account(models.Model):
    """One account of the chart (ledger/chart.py). Partner payables are one per partner."""

    code = models.CharField(max_length=64, unique=True)  # e.g. receivable:member, payable:3
    name = models.CharField(max_length=200)
    type = models.CharField(max_length=16, choices=AccountType.choices)
    partner = models.ForeignKey(
        "partners.Partner", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    objects: ClassVar[FinanceOnlyQuerySet[Account]] = FinanceOnlyQuerySet.as_manager()  # type: ignore[assignment]

    def __str__(self) -> str:
        return self.code


class JournalEntry(models.Model):
    idempotency_key = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=32)  # invoice_finalized, payment, refund, recognition …
    occurred_on = models.DateField()  # the accounting date (statements select by it)
    memo = models.CharField(max_length=500, blank=True)
    reverses = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversals"
    )
    created_at = models.DateTimeField(default=clock.now)

    objects: ClassVar[FinanceOnlyQuerySet[JournalEntry]] = FinanceOnlyQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        indexes: ClassVar = [models.Index(fields=["occurred_on", "kind"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.occurred_on} ({self.idempotency_key})"


class Posting(models.Model):
    entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, related_name="postings")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="postings")
    amount_cents = models.BigIntegerField()  # debit > 0, credit < 0
    currency = models.CharField(max_length=3, default="usd")
    occurred_on = models.DateField()  # the entry's date, copied for range scans
    # Dimensions, for drill-down and statements.
    partner = models.ForeignKey(
        "partners.Partner", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    market = models.ForeignKey(
        "memberships.Market", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    membership = models.ForeignKey(
        "memberships.Membership",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    invoice_line = models.ForeignKey(
        "billing.InvoiceLine", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        constraints: ClassVar = [
            models.CheckConstraint(name="posting_amount_not_zero", condition=~Q(amount_cents=0))
        ]
        indexes: ClassVar = [
            models.Index(fields=["account", "occurred_on"]),
            models.Index(fields=["market", "occurred_on"]),
            models.Index(fields=["invoice_line"]),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.amount_cents:+d}"


class RevenueSchedule(models.Model):
    """How one invoice line's revenue is recognized: over its service period, by days. The
    recognized amount so far is kept here (written in the same transaction as the recognition
    postings, and checked against them by the tests); a line whose service ended early (the
    membership ended, the plan changed) recognizes the rest on `ends_early_on`."""

    invoice_line = models.OneToOneField(
        "billing.InvoiceLine", on_delete=models.PROTECT, related_name="revenue_schedule"
    )
    total_cents = models.BigIntegerField()
    currency = models.CharField(max_length=3, default="usd")
    service_start = models.DateField()
    service_end = models.DateField()  # inclusive
    ends_early_on = models.DateField(null=True, blank=True)
    recognized_cents = models.BigIntegerField(default=0)
    done = models.BooleanField(default=False)  # fully recognized, or its invoice was voided
    partner = models.ForeignKey(
        "partners.Partner", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    market = models.ForeignKey(
        "memberships.Market", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    membership = models.ForeignKey(
        "memberships.Membership", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        indexes: ClassVar = [
            models.Index(fields=["service_start"], condition=Q(done=False), name="schedule_open")
        ]

    def __str__(self) -> str:
        return f"schedule of line #{self.invoice_line_id}"


class RevenueShareAgreement(models.Model):
    """A partner's share of the net recognized membership revenue of one market, from a date
    on, in basis points; optionally repaying a start-up contribution (`recoupment_total_cents`)
    at an extra rate until it is repaid. Windows of one partner and market never overlap."""

    partner = models.ForeignKey(
        "partners.Partner", on_delete=models.PROTECT, related_name="agreements"
    )
    market = models.ForeignKey("memberships.Market", on_delete=models.PROTECT, related_name="+")
    share_bps = models.PositiveIntegerField()
    recoupment_total_cents = models.BigIntegerField(default=0)
    recoupment_rate_bps = models.PositiveIntegerField(default=0)
    effective_from = models.DateField()
    effective_until = models.DateField(null=True, blank=True)  # exclusive
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        constraints: ClassVar = [
            models.CheckConstraint(
                name="agreement_share_at_most_all", condition=Q(share_bps__lte=10000)
            ),
            models.CheckConstraint(
                name="agreement_recoupment_not_negative",
                condition=Q(recoupment_total_cents__gte=0, recoupment_rate_bps__lte=10000),
            ),
            models.CheckConstraint(
                name="agreement_window_ordered",
                condition=Q(effective_until__isnull=True)
                | Q(effective_until__gt=models.F("effective_from")),
            ),
            ExclusionConstraint(
                name="agreement_windows_do_not_overlap",
                expressions=[
                    ("partner", RangeOperators.EQUAL),
                    ("market", RangeOperators.EQUAL),
                    (
                        DateRange("effective_from", "effective_until", models.Value("[)")),
                        RangeOperators.OVERLAPS,
                    ),
                ],
            ),
        ]

    def __str__(self) -> str:
        return f"partner {self.partner_id}, market {self.market_id}: {self.share_bps} bps"


class StatementStatus(models.TextChoices):
    DRAFT = "draft"
    APPROVED = "approved"  # locked; its share is posted to the partner payable
    PAID = "paid"  # the payout is posted


class StatementQuerySet(ScopedQuerySet["Statement"]):
    def visible_to(self, access: Access) -> Self:
        """Staff see every statement; a partner viewer sees only their partner's."""
        if access.is_staff_wide:
            return self
        return self.filter(partner_id__in=access.partner_ids)


class Statement(models.Model):
    partner = models.ForeignKey(
        "partners.Partner", on_delete=models.PROTECT, related_name="statements"
    )
    period = models.DateField()  # the first day of the month
    status = models.CharField(
        max_length=16, choices=StatementStatus.choices, default=StatementStatus.DRAFT
    )
    recognized_cents = models.BigIntegerField(default=0)
    refunds_cents = models.BigIntegerField(default=0)
    net_cents = models.BigIntegerField(default=0)
    share_cents = models.BigIntegerField(default=0)
    recoupment_cents = models.BigIntegerField(default=0)
    adjustment_cents = models.BigIntegerField(default=0)
    amount_due_cents = models.BigIntegerField(default=0)
    generated_at = models.DateTimeField(default=clock.now)
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    paid_at = models.DateTimeField(null=True, blank=True)
    payout_reference = models.CharField(max_length=200, blank=True)

    objects: ClassVar[StatementQuerySet] = StatementQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["partner", "period"], name="statement_one_per_month"),
            models.CheckConstraint(name="statement_period_is_a_month", condition=Q(period__day=1)),
        ]

    def __str__(self) -> str:
        return f"statement {self.partner_id} {self.period:%Y-%m} ({self.status})"


class StatementLineKind(models.TextChoices):
    MARKET = "market"  # this period's figures of one market
    ADJUSTMENT = "adjustment"  # a change to an approved earlier period of one market


class StatementLine(models.Model):
    statement = models.ForeignKey(Statement, on_delete=models.CASCADE, related_name="lines")
    kind = models.CharField(max_length=16, choices=StatementLineKind.choices)
    market = models.ForeignKey("memberships.Market", on_delete=models.PROTECT, related_name="+")
    adjusts_period = models.DateField(null=True, blank=True)  # for adjustment lines
    recognized_cents = models.BigIntegerField(default=0)
    refunds_cents = models.BigIntegerField(default=0)
    net_cents = models.BigIntegerField(default=0)
    share_cents = models.BigIntegerField(default=0)
    recoupment_cents = models.BigIntegerField(default=0)
    amount_cents = models.BigIntegerField(default=0)  # share + recoupment (or the adjustment)
    active_members = models.PositiveIntegerField(default=0)
    new_members = models.PositiveIntegerField(default=0)
    churned_members = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.kind} {self.market_id} {self.amount_cents}"


class StatementRecoupment(models.Model):
    """What one statement repays of one agreement's start-up contribution. What is left to
    recoup is the contribution minus these rows of the approved and paid statements (of any
    month), so approving months in any order never repays more than was contributed."""

    statement = models.ForeignKey(Statement, on_delete=models.CASCADE, related_name="recoupments")
    agreement = models.ForeignKey(
        RevenueShareAgreement, on_delete=models.PROTECT, related_name="recoupments"
    )
    amount_cents = models.BigIntegerField()

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["statement", "agreement"], name="statement_recoupment_one_per_agreement"
            ),
            models.CheckConstraint(
                name="statement_recoupment_positive", condition=Q(amount_cents__gt=0)
            ),
        ]

    def __str__(self) -> str:
        return f"recoupment of agreement {self.agreement_id}: {self.amount_cents}"


# --- audit history -------------------------------------------------------------------------------
# Who changed revenue-share agreements and statements, when, and what (DESIGN §7). Written by the
# services (ledger/agreements.py, ledger/statements.py) in the same transaction as the change;
# never updated or deleted; read-only in the Django admin.


class AgreementChangeKind(models.TextChoices):
    CREATED = "created"
    EDITED = "edited"
    ENDED = "ended"  # only `effective_until` was set or moved


class AgreementChange(models.Model):
    agreement = models.ForeignKey(
        RevenueShareAgreement, on_delete=models.PROTECT, related_name="changes"
    )
    kind = models.CharField(max_length=16, choices=AgreementChangeKind.choices)
    actor = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # field → [before, after] (JSON values; dates as YYYY-MM-DD); on creation every field, with
    # `null` before
    changes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=clock.now)

    objects: ClassVar[FinanceOnlyQuerySet[AgreementChange]] = FinanceOnlyQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        indexes: ClassVar = [models.Index(fields=["agreement", "created_at"])]

    def __str__(self) -> str:
        return f"agreement {self.agreement_id} {self.kind} by {self.actor_id}"


class StatementEventKind(models.TextChoices):
    GENERATED = "generated"
    REGENERATED = "regenerated"  # a draft made again whose amounts changed
    APPROVED = "approved"
    PAYOUT_RECORDED = "payout_recorded"


class StatementEvent(models.Model):
    statement = models.ForeignKey(Statement, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=16, choices=StatementEventKind.choices)
    actor = models.ForeignKey(  # null: the system (the monthly task or command)
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # the statement's amounts that changed, field → [before, after]; for a payout, its reference
    changes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=clock.now)

    objects: ClassVar[FinanceOnlyQuerySet[StatementEvent]] = FinanceOnlyQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        indexes: ClassVar = [models.Index(fields=["statement", "created_at"])]

    def __str__(self) -> str:
        return f"statement {self.statement_id} {self.kind} by {self.actor_id}"
