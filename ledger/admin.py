"""The ledger in the Django admin, for finance staff.

Who: finance staff and operator admins (their role grant, as everywhere else) and superusers.
`is_staff` only opens the admin site; without one of those roles a user sees no ledger page
(they are missing from the index and answer 403), whatever Django model permissions they hold.

What: the books (accounts, journal entries with their postings, revenue schedules) are
read-only for everyone, superusers included; the database refuses to change posted rows
anyway, and corrections are reversing entries posted by services. Revenue-share agreements
are finance's own data and editable. Statements are read-only apart from the "approve"
action, which calls `statement_approve` for each selected draft."""

from __future__ import annotations

from typing import Any, TypeVar

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from accounts.models import User
from accounts.selectors import user_access_get
from billing.money import money_display
from config.errors import DomainError
from ledger.agreements import revenue_share_agreement_create, revenue_share_agreement_update
from ledger.models import (
    Account,
    AgreementChange,
    JournalEntry,
    Posting,
    RevenueSchedule,
    RevenueShareAgreement,
    Statement,
    StatementEvent,
    StatementLine,
    StatementStatus,
)
from ledger.statements import ALLOWED_TRANSITIONS, statement_approve

_M = TypeVar("_M", bound=models.Model)


def finance_admin_allowed(request: HttpRequest) -> bool:
    """Finance staff and operator admins (by role grant), and superusers."""
    return request.user.is_superuser or user_access_get(user=request.user).is_staff_wide


class FinanceAdmin(admin.ModelAdmin[_M]):
    """Visible to finance (see the module docstring); adding and changing rows too, unless a
    subclass says otherwise. Never deleting: ledger rows and what statements were computed
    from stay."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return finance_admin_allowed(request)

    def has_view_permission(self, request: HttpRequest, obj: _M | None = None) -> bool:
        return finance_admin_allowed(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return finance_admin_allowed(request)

    def has_change_permission(self, request: HttpRequest, obj: _M | None = None) -> bool:
        return finance_admin_allowed(request)

    def has_delete_permission(self, request: HttpRequest, obj: _M | None = None) -> bool:
        return False


class ReadOnlyFinanceAdmin(FinanceAdmin[_M]):
    """Finance may look, nobody may add or change (services write these rows)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: _M | None = None) -> bool:
        return False


class ReadOnlyFinanceInline(admin.TabularInline[_M, Any]):
    extra = 0
    can_delete = False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return finance_admin_allowed(request)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --- the books -------------------------------------------------------------------------------


@admin.register(Account)
class AccountAdmin(ReadOnlyFinanceAdmin[Account]):
    list_display = ("code", "name", "type", "partner")
    list_filter = ("type", "partner")
    search_fields = ("code", "name")
    list_select_related = ("partner",)
    ordering = ("code",)


class PostingInline(ReadOnlyFinanceInline[Posting]):
    model = Posting
    fields = ("account", "amount", "partner", "market", "membership", "invoice_line")
    readonly_fields = fields
    ordering = ("id",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Posting]:
        return (
            super()
            .get_queryset(request)
            .select_related("account", "partner", "market", "membership", "invoice_line")
        )

    @admin.display(description="Amount (debit +, credit -)")
    def amount(self, obj: Posting) -> str:
        return money_display(amount_cents=obj.amount_cents, currency=obj.currency)


@admin.register(JournalEntry)
class JournalEntryAdmin(ReadOnlyFinanceAdmin[JournalEntry]):
    list_display = ("id", "occurred_on", "kind", "idempotency_key", "memo", "reverses")
    list_filter = ("kind", "occurred_on", "postings__account__type")
    search_fields = ("idempotency_key", "memo", "postings__account__code")
    date_hierarchy = "occurred_on"
    list_select_related = ("reverses",)
    ordering = ("-occurred_on", "-id")
    show_full_result_count = False  # the books grow without bound; one count per page is enough
    fields = ("idempotency_key", "kind", "occurred_on", "memo", "reverses", "created_at")
    readonly_fields = fields
    inlines = (PostingInline,)


@admin.register(Posting)
class PostingAdmin(ReadOnlyFinanceAdmin[Posting]):
    list_display = (
        "id",
        "occurred_on",
        "entry",
        "account",
        "amount",
        "partner",
        "market",
        "membership_id",
        "invoice_line_id",
    )
    # No date_hierarchy and no filter by distinct values here: on the biggest table they would
    # scan it on every page load (there is no index on occurred_on alone); the date filter
    # costs no query.
    list_filter = ("account__type", "account", "partner", "market", "occurred_on")
    search_fields = ("entry__idempotency_key", "account__code")
    list_select_related = ("entry", "account", "partner", "market")
    ordering = ("-occurred_on", "-id")
    show_full_result_count = False
    fields = (
        "entry",
        "account",
        "amount",
        "occurred_on",
        "partner",
        "market",
        "membership",
        "invoice_line",
    )
    readonly_fields = fields

    @admin.display(description="Amount (debit +, credit -)", ordering="amount_cents")
    def amount(self, obj: Posting) -> str:
        return money_display(amount_cents=obj.amount_cents, currency=obj.currency)


@admin.register(RevenueSchedule)
class RevenueScheduleAdmin(ReadOnlyFinanceAdmin[RevenueSchedule]):
    list_display = (
        "id",
        "invoice_line_id",
        "total",
        "recognized",
        "service_start",
        "service_end",
        "ends_early_on",
        "done",
        "partner",
        "market",
    )
    list_filter = ("done", "partner", "market", "service_start")  # no date_hierarchy: as postings
    search_fields = ("invoice_line__invoice__number",)
    list_select_related = ("partner", "market")
    ordering = ("-service_start", "-id")
    show_full_result_count = False
    fields = (
        "invoice_line",
        "membership",
        "partner",
        "market",
        "total",
        "recognized",
        "service_start",
        "service_end",
        "ends_early_on",
        "done",
    )
    readonly_fields = fields

    @admin.display(description="Total", ordering="total_cents")
    def total(self, obj: RevenueSchedule) -> str:
        return money_display(amount_cents=obj.total_cents, currency=obj.currency)

    @admin.display(description="Recognized", ordering="recognized_cents")
    def recognized(self, obj: RevenueSchedule) -> str:
        return money_display(amount_cents=obj.recognized_cents, currency=obj.currency)


# --- revenue share -------------------------------------------------------------------------


class RevenueShareAgreementForm(forms.ModelForm[RevenueShareAgreement]):
    """The database's rules on agreements (migration 0001's constraints), as form errors on the
    field at fault. Django would check the constraints too, but name only the constraint."""

    share_bps = forms.IntegerField(
        label="Share (basis points)",
        validators=[MinValueValidator(0), MaxValueValidator(10000)],
        help_text="10000 basis points = 100%.",
    )
    recoupment_rate_bps = forms.IntegerField(
        label="Recoupment rate (basis points)",
        initial=0,
        validators=[MinValueValidator(0), MaxValueValidator(10000)],
    )
    recoupment_total_cents = forms.IntegerField(
        label="Start-up contribution to recoup (cents)", initial=0, min_value=0
    )

    class Meta:
        model = RevenueShareAgreement
        fields = (
            "partner",
            "market",
            "share_bps",
            "recoupment_total_cents",
            "recoupment_rate_bps",
            "effective_from",
            "effective_until",
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        start, until = cleaned.get("effective_from"), cleaned.get("effective_until")
        if start is not None and until is not None and until <= start:
            self.add_error("effective_until", "Must be after the start (it is exclusive).")
            return cleaned
        partner, market = cleaned.get("partner"), cleaned.get("market")
        if None in (partner, market, start):
            return cleaned
        clash = (
            RevenueShareAgreement.objects.filter(partner=partner, market=market)
            .filter(Q(effective_until__isnull=True) | Q(effective_until__gt=start))
            .exclude(pk=self.instance.pk)
            .order_by("effective_from")
        )
        if until is not None:
            clash = clash.filter(effective_from__lt=until)
        other = clash.first()
        if other is not None:
            ends = f"until {other.effective_until}" if other.effective_until else "open-ended"
            self.add_error(
                "effective_from",
                f"Overlaps agreement #{other.pk} of this partner and market "
                f"(from {other.effective_from}, {ends}); end that one first.",
            )
        return cleaned


@admin.register(RevenueShareAgreement)
class RevenueShareAgreementAdmin(FinanceAdmin[RevenueShareAgreement]):
    """Finance's own data: they add and edit agreements (an edit to a month already approved
    shows up on the next statement as a prior-period adjustment). No deleting: end an
    agreement with `effective_until` instead, so approved months keep their basis. Saving goes
    through the services of ledger/agreements.py, which record who changed what (the
    history below the form; not an inline, whose empty formset every save would have to post)."""

    form = RevenueShareAgreementForm
    list_display = (
        "id",
        "partner",
        "market",
        "share_bps",
        "recoupment",
        "recoupment_rate_bps",
        "effective_from",
        "effective_until",
    )
    list_filter = ("partner", "market")
    search_fields = ("partner__name", "market__name")
    list_select_related = ("partner", "market")
    ordering = ("partner__name", "market__name", "effective_from")
    readonly_fields = ("created_at", "history")

    @admin.display(description="History")
    def history(self, obj: RevenueShareAgreement) -> str:
        if obj.pk is None:
            return "-"
        changes = obj.changes.select_related("actor").order_by("-created_at", "-id")
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                "<li>{} {} by {}: {}</li>",
                (
                    (
                        f"{change.created_at:%Y-%m-%d %H:%M}",
                        change.kind,
                        change.actor.email if change.actor else "the system",
                        ", ".join(
                            f"{name} {old} → {new}" for name, (old, new) in change.changes.items()
                        ),
                    )
                    for change in changes
                ),
            ),
        )

    @admin.display(description="Recoupment total", ordering="recoupment_total_cents")
    def recoupment(self, obj: RevenueShareAgreement) -> str:
        return money_display(amount_cents=obj.recoupment_total_cents)

    def save_model(
        self,
        request: HttpRequest,
        obj: RevenueShareAgreement,
        form: forms.ModelForm[RevenueShareAgreement],
        change: bool,
    ) -> None:
        actor = request.user if isinstance(request.user, User) else None
        fields = {name: form.cleaned_data[name] for name in RevenueShareAgreementForm.Meta.fields}
        if change:
            saved = revenue_share_agreement_update(
                agreement=RevenueShareAgreement.objects.get(pk=obj.pk), actor=actor, **fields
            )
        else:
            saved = revenue_share_agreement_create(actor=actor, **fields)
        obj.pk = saved.pk
        obj.created_at = saved.created_at


@admin.register(AgreementChange)
class AgreementChangeAdmin(ReadOnlyFinanceAdmin[AgreementChange]):
    list_display = ("created_at", "agreement", "kind", "actor")
    list_filter = ("kind",)
    list_select_related = ("agreement", "actor")
    ordering = ("-created_at", "-id")
    fields = ("agreement", "kind", "actor", "changes", "created_at")
    readonly_fields = fields


@admin.register(StatementEvent)
class StatementEventAdmin(ReadOnlyFinanceAdmin[StatementEvent]):
    list_display = ("created_at", "statement", "kind", "actor")
    list_filter = ("kind",)
    list_select_related = ("statement", "actor")
    ordering = ("-created_at", "-id")
    fields = ("statement", "kind", "actor", "changes", "created_at")
    readonly_fields = fields


class StatementEventInline(ReadOnlyFinanceInline[StatementEvent]):
    model = StatementEvent
    fields = ("created_at", "kind", "actor", "changes")
    readonly_fields = fields
    ordering = ("-created_at", "-id")


class StatementLineInline(ReadOnlyFinanceInline[StatementLine]):
    model = StatementLine
    fields = (
        "kind",
        "market",
        "adjusts_period",
        "recognized",
        "refunds",
        "net",
        "share",
        "recoupment",
        "amount",
        "active_members",
        "new_members",
        "churned_members",
    )
    readonly_fields = fields
    ordering = ("id",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[StatementLine]:
        return super().get_queryset(request).select_related("market")

    @admin.display(description="Recognized")
    def recognized(self, obj: StatementLine) -> str:
        return money_display(amount_cents=obj.recognized_cents)

    @admin.display(description="Refunds and credits")
    def refunds(self, obj: StatementLine) -> str:
        return money_display(amount_cents=obj.refunds_cents)

    @admin.display(description="Net")
    def net(self, obj: StatementLine) -> str:
        return money_display(amount_cents=obj.net_cents)

    @admin.display(description="Share")
    def share(self, obj: StatementLine) -> str:
        return money_display(amount_cents=obj.share_cents)

    @admin.display(description="Recoupment")
    def recoupment(self, obj: StatementLine) -> str:
        return money_display(amount_cents=obj.recoupment_cents)

    @admin.display(description="Amount")
    def amount(self, obj: StatementLine) -> str:
        return money_display(amount_cents=obj.amount_cents)


@admin.register(Statement)
class StatementAdmin(ReadOnlyFinanceAdmin[Statement]):
    """Read-only; approving goes through `statement_approve` (the "approve" action). Recording
    a payout is the statements API's job (it needs the payment reference)."""

    list_display = (
        "id",
        "partner",
        "month",
        "status",
        "amount_due",
        "generated_at",
        "approved_at",
        "approved_by",
        "paid_at",
    )
    list_filter = ("status", "partner", "period")
    search_fields = ("partner__name", "payout_reference")
    date_hierarchy = "period"
    list_select_related = ("partner", "approved_by")
    ordering = ("-period", "partner__name")
    actions = ("approve",)
    fields = (
        "partner",
        "month",
        "status",
        "recognized",
        "refunds",
        "net",
        "share",
        "recoupment",
        "adjustment",
        "amount_due",
        "generated_at",
        "approved_at",
        "approved_by",
        "paid_at",
        "payout_reference",
    )
    readonly_fields = fields
    inlines = (StatementLineInline, StatementEventInline)

    @admin.display(description="Period", ordering="period")
    def month(self, obj: Statement) -> str:
        return f"{obj.period:%Y-%m}"

    @admin.display(description="Recognized")
    def recognized(self, obj: Statement) -> str:
        return money_display(amount_cents=obj.recognized_cents)

    @admin.display(description="Refunds and credits")
    def refunds(self, obj: Statement) -> str:
        return money_display(amount_cents=obj.refunds_cents)

    @admin.display(description="Net")
    def net(self, obj: Statement) -> str:
        return money_display(amount_cents=obj.net_cents)

    @admin.display(description="Share")
    def share(self, obj: Statement) -> str:
        return money_display(amount_cents=obj.share_cents)

    @admin.display(description="Recoupment")
    def recoupment(self, obj: Statement) -> str:
        return money_display(amount_cents=obj.recoupment_cents)

    @admin.display(description="Prior-period adjustments")
    def adjustment(self, obj: Statement) -> str:
        return money_display(amount_cents=obj.adjustment_cents)

    @admin.display(description="Amount due", ordering="amount_due_cents")
    def amount_due(self, obj: Statement) -> str:
        return money_display(amount_cents=obj.amount_due_cents)

    def has_approve_permission(self, request: HttpRequest) -> bool:
        return finance_admin_allowed(request)

    @admin.action(description="Approve selected statements", permissions=["approve"])
    def approve(self, request: HttpRequest, queryset: QuerySet[Statement]) -> None:
        """`statement_approve` for each selected draft, each in its own transaction: one that
        fails does not hold up the others. Approved and paid ones are skipped."""
        actor = request.user
        if not isinstance(actor, User):
            raise PermissionDenied
        for statement in queryset.select_related("partner").order_by("period", "partner__name"):
            label = f"Statement of {statement.partner} for {statement.period:%Y-%m}"
            if (
                StatementStatus.APPROVED
                not in ALLOWED_TRANSITIONS[StatementStatus(statement.status)]
            ):
                self.message_user(
                    request, f"{label} skipped: it is already {statement.status}.", messages.WARNING
                )
                continue
            try:
                approved = statement_approve(statement=statement, actor=actor)
            except DomainError as error:
                self.message_user(request, f"{label} not approved: {error.message}", messages.ERROR)
                continue
            self.message_user(
                request,
                f"{label} approved: {money_display(amount_cents=approved.amount_due_cents)} "
                "accrued to the partner's payable account.",
                messages.SUCCESS,
            )
