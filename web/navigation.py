"""The navigation bar: the links of the pages the logged-in user's roles may open. Each area
adds its links here, under the roles that may open them (web/access.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest

from accounts.selectors import Access, user_access_get
from web.access import FINANCE_ROLES


@dataclass(frozen=True)
class NavLink:
    label: str
    url: str


def navigation_links(access: Access) -> list[NavLink]:
    links: list[NavLink] = []
    if access.has_any(FINANCE_ROLES):
        links += [
            NavLink("Statements", "/finance/statements/"),
            NavLink("Ledger", "/finance/ledger/"),
            NavLink("Invoices", "/finance/invoices/"),
        ]
    return links


def navigation(request: HttpRequest) -> dict[str, Any]:
    """Template context processor: `nav_links` for the logged-in user."""
    if not request.user.is_authenticated:
        return {"nav_links": []}
    return {"nav_links": navigation_links(user_access_get(user=request.user))}
