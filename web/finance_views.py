"""Finance pages: statements (list, page with chart, approve and payout), the ledger (balances
as of a day, entries with their postings) and invoices (search, detail, refund). Thin views:
the reads are the API's selectors and export functions, the actions the API's services, the
filters checked by the API's own serializers; every query starts from the models' `visible_to`
querysets. Actions take two steps (a confirmation page, then the confirmed POST), redirect
after success and show a service's refusal as a message."""

from __future__ import annotations

from typing import Any, ClassVar, cast

from django.contrib import messages
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views import View

from accounts.models import Role, User
from billing.invoice_apis import InvoiceFilterSerializer
from billing.models import Invoice, InvoiceStatus, Payment
from billing.money import money_display
from billing.selectors import (
    invoice_creditable_cents,
    invoices_filtered,
    invoices_with_details,
    payment_refundable_cents,
)
from billing.services import invoice_refund
from config import clock
from config.errors import DomainError
from ledger.apis import AccountBalanceQuerySerializer, JournalEntryQuerySerializer
from ledger.models import Account, Statement, StatementLineKind, StatementStatus
from ledger.selectors import (
    account_balances_as_of,
    journal_entries_filtered,
    journal_entries_with_postings,
)
from ledger.statement_apis import StatementFilterSerializer, StatementPayoutInputSerializer
from ledger.statement_export import (
    CURRENCY,
    statement_lines,
    statement_monthly_series,
    statement_totals,
)
from ledger.statements import statement_approve, statement_payout_record
from memberships.models import Market
from partners.models import Partner
from web.access import FINANCE_ROLES, RolePageMixin
from web.charts import revenue_share_chart_svg
from web.finance_forms import RefundForm, filter_values

PAGE_SIZE = 25
CONFIRMED = "yes"


class FinancePage(RolePageMixin, View):
    allowed_roles: ClassVar[frozenset[Role]] = FINANCE_ROLES

    @property
    def actor(self) -> User:
        return cast(User, self.request.user)  # RolePageMixin let only logged-in users in

    def paginate(self, queryset: QuerySet[Any]) -> Page[Any]:
        return Paginator(queryset, PAGE_SIZE).get_page(self.request.GET.get("page"))


def _confirmed(request: HttpRequest) -> bool:
    return request.POST.get("confirmed") == CONFIRMED


# --- statements ----------------------------------------------------------------------------------


class StatementListPage(FinancePage):
    def get(self, request: HttpRequest) -> HttpResponse:
        wanted, errors = filter_values(StatementFilterSerializer, request.GET)
        statements = (
            Statement.objects.visible_to(self.access)
            .select_related("partner")
            .order_by("-period", "partner__name", "id")
        )
        if "partner" in wanted:
            statements = statements.filter(partner_id=wanted["partner"])
        if "period" in wanted:
            statements = statements.filter(period=wanted["period"])
        if "status" in wanted:
            statements = statements.filter(status=wanted["status"])
        return render(
            request,
            "web/finance/statement_list.html",
            {
                "page": self.paginate(statements),
                "errors": errors,
                "partners": Partner.objects.order_by("name").only("id", "name"),
                "statuses": StatementStatus.choices,
                "filters": request.GET,
            },
        )


class StatementPageBase(FinancePage):
    def statement(self, pk: int) -> Statement:
        statements = Statement.objects.visible_to(self.access).select_related(
            "partner", "approved_by"
        )
        return get_object_or_404(statements, pk=pk)

    def back(self, statement: Statement) -> HttpResponse:
        return redirect("web:finance-statement", pk=statement.pk)


class StatementPage(StatementPageBase):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        statement = self.statement(pk)
        lines = statement_lines(statement=statement)
        series = statement_monthly_series(statement=statement)
        title = f"{statement.partner.name}: net basis and partner share, last 12 months"
        return render(
            request,
            "web/finance/statement_detail.html",
            {
                "statement": statement,
                "market_lines": [x for x in lines if x.kind == StatementLineKind.MARKET],
                "adjustment_lines": [x for x in lines if x.kind == StatementLineKind.ADJUSTMENT],
                "totals": statement_totals(statement=statement, lines=lines),
                "series": series,
                "chart": revenue_share_chart_svg(
                    series=series, current=statement.period, title=title
                ),
                "chart_title": title,
                "csv_url": reverse("statement-export-csv", kwargs={"pk": statement.pk}),
                "pdf_url": reverse("statement-export-pdf", kwargs={"pk": statement.pk}),
                "is_draft": statement.status == StatementStatus.DRAFT,
                "is_approved": statement.status == StatementStatus.APPROVED,
                "currency": CURRENCY,
            },
        )


class StatementApprovePage(StatementPageBase):
    """Approve a draft: the first POST (or a GET) shows what will happen, the confirmed POST
    calls `statement_approve`."""

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self._confirm(request, self.statement(pk))

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        statement = self.statement(pk)
        if not _confirmed(request):
            return self._confirm(request, statement)
        try:
            statement_approve(statement=statement, actor=self.actor)
        except DomainError as error:
            messages.error(request, f"Not approved: {error.message}")
        else:
            messages.success(request, "Statement approved; its amount is accrued to the payable.")
        return self.back(statement)

    def _confirm(self, request: HttpRequest, statement: Statement) -> HttpResponse:
        return render(
            request,
            "web/finance/statement_confirm.html",
            {"statement": statement, "action": "approve", "reference": ""},
        )


class StatementPayoutPage(StatementPageBase):
    """Record the payout of an approved statement, with its reference: the first POST shows
    what will be recorded, the confirmed POST calls `statement_payout_record`."""

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        statement = self.statement(pk)
        payload = StatementPayoutInputSerializer(
            data={"reference": request.POST.get("reference", "")}
        )
        if not payload.is_valid():
            for message in payload.errors.get("reference", []):
                messages.error(request, f"Payout reference: {message}")
            return self.back(statement)
        reference = payload.validated_data["reference"]
        if not _confirmed(request):
            return render(
                request,
                "web/finance/statement_confirm.html",
                {"statement": statement, "action": "payout", "reference": reference},
            )
        try:
            statement_payout_record(statement=statement, actor=self.actor, reference=reference)
        except DomainError as error:
            messages.error(request, f"Payout not recorded: {error.message}")
        else:
            messages.success(request, f"Payout recorded (reference {reference}).")
        return self.back(statement)


# --- ledger --------------------------------------------------------------------------------------


class LedgerPage(FinancePage):
    def get(self, request: HttpRequest) -> HttpResponse:
        wanted, errors = filter_values(AccountBalanceQuerySerializer, request.GET)
        as_of = wanted.get("as_of") or clock.today()
        accounts = list(account_balances_as_of(as_of=as_of).visible_to(self.access))
        return render(
            request,
            "web/finance/ledger.html",
            {
                "accounts": accounts,
                "as_of": as_of,
                "errors": errors,
                "total_cents": sum(account.balance_cents for account in accounts),
            },
        )


class JournalEntryListPage(FinancePage):
    def get(self, request: HttpRequest) -> HttpResponse:
        wanted, errors = filter_values(JournalEntryQuerySerializer, request.GET)
        entries = journal_entries_filtered(
            account_code=wanted.get("account"),
            partner_id=wanted.get("partner"),
            market_id=wanted.get("market"),
            occurred_from=wanted.get("from"),
            occurred_to=wanted.get("to"),
        ).visible_to(self.access)
        partners = list(Partner.objects.order_by("name").only("id", "name"))
        markets = list(Market.objects.order_by("name").only("id", "name"))
        return render(
            request,
            "web/finance/entry_list.html",
            {
                "page": self.paginate(entries),
                "errors": errors,
                "accounts": Account.objects.order_by("code").only("code", "name"),
                "partners": partners,
                "markets": markets,
                "partner_names": {p.pk: p.name for p in partners},
                "market_names": {m.pk: m.name for m in markets},
                "filters": request.GET,
            },
        )


class JournalEntryPage(FinancePage):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        entry = get_object_or_404(journal_entries_with_postings().visible_to(self.access), pk=pk)
        postings = list(entry.postings.all())
        partner_ids = {p.partner_id for p in postings if p.partner_id}
        market_ids = {p.market_id for p in postings if p.market_id}
        return render(
            request,
            "web/finance/entry_detail.html",
            {
                "entry": entry,
                "postings": postings,
                "partner_names": dict(
                    Partner.objects.filter(pk__in=partner_ids).values_list("id", "name")
                ),
                "market_names": dict(
                    Market.objects.filter(pk__in=market_ids).values_list("id", "name")
                ),
            },
        )


# --- invoices ------------------------------------------------------------------------------------


class InvoiceListPage(FinancePage):
    def get(self, request: HttpRequest) -> HttpResponse:
        wanted, errors = filter_values(InvoiceFilterSerializer, request.GET)
        invoices = invoices_filtered(
            status=wanted.get("status"),
            search=wanted.get("search"),
            created_from=wanted.get("created_from"),
            created_to=wanted.get("created_to"),
        ).visible_to(self.access)
        return render(
            request,
            "web/finance/invoice_list.html",
            {
                "page": self.paginate(invoices),
                "errors": errors,
                "statuses": InvoiceStatus.choices,
                "filters": request.GET,
            },
        )


class InvoicePageBase(FinancePage):
    def invoice(self, pk: int) -> Invoice:
        return get_object_or_404(invoices_with_details().visible_to(self.access), pk=pk)


class InvoicePage(InvoicePageBase):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        invoice = self.invoice(pk)
        payments: list[Payment] = invoice.payment_list  # type: ignore[attr-defined]
        refundable = {
            payment.pk: payment_refundable_cents(
                payment=payment,
                refunds=payment.refund_list,  # type: ignore[attr-defined]
            )
            for payment in payments
        }
        return render(
            request,
            "web/finance/invoice_detail.html",
            {
                "invoice": invoice,
                "lines": invoice.line_list,  # type: ignore[attr-defined]
                "payments": [(p, refundable[p.pk]) for p in payments],
                "credit_notes": invoice.credit_note_list,  # type: ignore[attr-defined]
                "refundable_cents": sum(refundable.values()),
                "creditable_cents": invoice_creditable_cents(
                    invoice=invoice,
                    credit_notes=invoice.credit_note_list,  # type: ignore[attr-defined]
                ),
            },
        )


class InvoiceRefundPage(InvoicePageBase):
    """Refund part or all of one payment of the invoice: the first POST checks the form and
    shows what will be refunded, the confirmed POST calls `invoice_refund` (which checks the
    payment and the amount in `refund_create`, as for the API)."""

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        invoice = self.invoice(pk)
        form = RefundForm(request.POST)
        if not form.is_valid():
            for message in form.error_messages():
                messages.error(request, f"No refund: {message}")
            return redirect("web:finance-invoice", pk=invoice.pk)
        amount_cents: int = form.cleaned_data["amount"]
        payment_id: int = form.cleaned_data["payment_id"]
        reason: str = form.cleaned_data["reason"]
        payment = next((p for p in invoice.payment_list if p.pk == payment_id), None)  # type: ignore[attr-defined]
        refundable = (
            payment_refundable_cents(payment=payment, refunds=payment.refund_list)
            if payment is not None
            else None
        )
        if not _confirmed(request):
            return render(
                request,
                "web/finance/refund_confirm.html",
                {
                    "invoice": invoice,
                    "payment_id": payment_id,
                    "amount": form.data["amount"],
                    "amount_display": money_display(
                        amount_cents=amount_cents, currency=invoice.currency
                    ),
                    "amount_cents": amount_cents,
                    "reason": reason,
                    "refundable_seen": refundable,
                },
            )
        seen = request.POST.get("refundable_seen")
        if seen not in (None, "", str(refundable)):
            # e.g. the confirmation sent twice: the first refund changed what is refundable
            messages.error(
                request,
                "No refund: the payment changed since the confirmation page was shown "
                "(another refund?). Check the figures and refund again if still needed.",
            )
            return redirect("web:finance-invoice", pk=invoice.pk)
        try:
            refund = invoice_refund(
                invoice=invoice,
                amount_cents=amount_cents,
                reason=reason,
                payment_id=payment_id,
                created_by=self.actor,
            )
        except DomainError as error:
            messages.error(request, f"No refund: {error.message}")
        else:
            shown = money_display(amount_cents=refund.amount_cents, currency=invoice.currency)
            messages.success(
                request, f"Refund of {shown} queued for Stripe (pending until Stripe confirms)."
            )
        return redirect("web:finance-invoice", pk=invoice.pk)
