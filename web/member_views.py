"""The member's own page: their membership, their invoices, and cancelling at period end (or
resuming), through the same selectors and services as `/api/v1/me/…`."""

from __future__ import annotations

from typing import Any, ClassVar, cast

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views import View

from accounts.models import Role, User
from billing.money import money_display
from config.errors import DomainError
from memberships.selectors import invoices_for_user, membership_current_for_user
from memberships.services import membership_cancel_at_period_end, membership_cancellation_undo
from web.access import MEMBER_ROLES, RolePageMixin

INVOICES_SHOWN = 24


class AccountPage(RolePageMixin, View):
    allowed_roles: ClassVar[frozenset[Role]] = MEMBER_ROLES

    def get(self, request: HttpRequest) -> HttpResponse:
        user = _user(request)
        try:
            membership = membership_current_for_user(user_id=user.pk)
        except DomainError:
            membership = None
        invoices = [
            {
                "number": invoice.number or f"#{invoice.pk}",
                "created_at": invoice.created_at,
                "status": invoice.status,
                "total": money_display(amount_cents=invoice.total_cents, currency=invoice.currency),
                "hosted_invoice_url": invoice.hosted_invoice_url,
            }
            for invoice in invoices_for_user(user_id=user.pk)[:INVOICES_SHOWN]
        ]
        context: dict[str, Any] = {"membership": membership, "invoices": invoices}
        if membership is not None:
            context["price"] = money_display(
                amount_cents=membership.price.amount_cents, currency=membership.price.currency
            )
        return render(request, "web/member/account.html", context)


class AccountCancelPage(RolePageMixin, View):
    """GET: the confirmation; POST: cancel at period end (`confirm=yes`) or resume."""

    allowed_roles: ClassVar[frozenset[Role]] = MEMBER_ROLES

    def get(self, request: HttpRequest) -> HttpResponse:
        membership = membership_current_for_user(user_id=_user(request).pk)
        return render(request, "web/member/cancel_confirm.html", {"membership": membership})

    def post(self, request: HttpRequest) -> HttpResponse:
        user = _user(request)
        action = request.POST.get("action")
        try:
            membership = membership_current_for_user(user_id=user.pk)
            if action == "cancel" and request.POST.get("confirm") == "yes":
                membership = membership_cancel_at_period_end(membership=membership, actor=user)
                messages.success(
                    request,
                    f"Your membership will end after {membership.current_period_end:%B %-d, %Y}.",
                )
            elif action == "resume":
                membership_cancellation_undo(membership=membership, actor=user)
                messages.success(request, "Your membership will renew as usual.")
            else:
                messages.error(request, "Nothing was changed: confirm the cancellation first.")
        except DomainError as exc:
            messages.error(request, exc.message)
        return redirect("web:account")


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)  # RolePageMixin let only logged-in members in
