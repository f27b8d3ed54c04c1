"""Who may open which page. The web pages use the same roles and tenant scoping as the API
(`accounts.selectors.user_access_get`): a page names the roles it serves; anybody else logged
in gets a 403 page, an anonymous visitor the login page. Objects of another tenant are looked
up through the same `visible_to` querysets, so they are a 404."""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render

from accounts.models import Role
from accounts.selectors import Access, user_access_get

FINANCE_ROLES: frozenset[Role] = frozenset({Role.FINANCE_STAFF, Role.OPERATOR_ADMIN})
EMPLOYER_ROLES: frozenset[Role] = frozenset({Role.EMPLOYER_ADMIN, Role.OPERATOR_ADMIN})
MEMBER_ROLES: frozenset[Role] = frozenset({Role.MEMBER})


def forbidden(request: HttpRequest) -> HttpResponse:
    return render(request, "web/403.html", status=403)


class RolePageMixin(LoginRequiredMixin):
    """For a page view: log in first, then one of `allowed_roles`. `self.access` is the
    caller's Access (roles and tenants)."""

    allowed_roles: ClassVar[frozenset[Role]] = frozenset()
    login_url = "/login/"
    access: Access

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.access = user_access_get(user=request.user)
        if not self.access.has_any(self.allowed_roles):
            return forbidden(request)
        return super().dispatch(request, *args, **kwargs)
