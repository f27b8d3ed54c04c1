"""The navigation bar: the links of the pages the logged-in user's roles may open. Each area
adds its links here, under the roles that may open them (web/access.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.urls import reverse

from accounts.selectors import Access, user_access_get
from web.access import EMPLOYER_ROLES, FINANCE_ROLES, MEMBER_ROLES


@dataclass(frozen=True)
class NavLink:
    label: str
    url: str


def navigation_links(access: Access) -> list[NavLink]:
    links: list[NavLink] = []
    if access.has_any(FINANCE_ROLES):
        links += [
            NavLink("Statements", reverse("web:finance-statements")),
            NavLink("Ledger", reverse("web:finance-ledger")),
            NavLink("Invoices", reverse("web:finance-invoices")),
        ]
    links.extend(employer_links(access))
    if access.has_any(MEMBER_ROLES):
        links.append(NavLink("My membership", reverse("web:account")))
    return links


def employer_links(access: Access) -> list[NavLink]:
    """An employer admin's pages, for each employer they administer (numbered when several)."""
    if not access.has_any(EMPLOYER_ROLES):
        return []
    employer_ids = sorted(access.employer_ids)
    links: list[NavLink] = []
    for employer_id in employer_ids:
        suffix = f" (employer {employer_id})" if len(employer_ids) > 1 else ""
        kwargs = {"employer_id": employer_id}
        links += [
            NavLink(f"Roster{suffix}", reverse("web:employer-roster", kwargs=kwargs)),
            NavLink(
                f"Import roster{suffix}",
                reverse("web:employer-roster-import-upload", kwargs=kwargs),
            ),
            NavLink(f"Invoices{suffix}", reverse("web:employer-invoices", kwargs=kwargs)),
        ]
    return links


def navigation(request: HttpRequest) -> dict[str, Any]:
    """Template context processor: `nav_links` for the logged-in user."""
    if not request.user.is_authenticated:
        return {"nav_links": []}
    return {"nav_links": navigation_links(user_access_get(user=request.user))}
