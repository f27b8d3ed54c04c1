"""Membership reads."""

from __future__ import annotations

import datetime as dt

from config.errors import NotFoundError
from memberships.models import Market, Member, MemberMarket, Price


def price_active_get(*, code: str, on: dt.date) -> Price:
    """The price of plan `code` on day `on`."""
    price = Price.objects.active_on(on).filter(code=code).first()
    if price is None:
        raise NotFoundError(
            f"No price {code!r} is on sale on {on}.", details={"field": "price_code"}
        )
    return price


def member_market_on(*, member: Member, on: dt.date) -> Market | None:
    """The member's home market on day `on` (the latest change effective by then)."""
    row = (
        MemberMarket.objects.filter(member=member, effective_from__lte=on)
        .select_related("market")
        .order_by("-effective_from")
        .first()
    )
    return row.market if row else None
