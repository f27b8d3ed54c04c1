"""Template filters for the finance pages: integer cents shown with `money_display`."""

from __future__ import annotations

from django import template

from billing.money import money_display

register = template.Library()


@register.filter
def money(cents: int | None, currency: str = "usd") -> str:
    """`{{ 9900|money }}` → `$99.00`; `{{ cents|money:invoice.currency }}`."""
    if cents is None:
        return ""
    return money_display(amount_cents=int(cents), currency=currency or "usd")


@register.filter
def debit_part(cents: int) -> str:
    """A posting's debit (a positive amount) as money, or nothing."""
    return money_display(amount_cents=cents) if cents > 0 else ""


@register.filter
def credit_part(cents: int) -> str:
    """A posting's credit (a negative amount) as a positive money figure, or nothing."""
    return money_display(amount_cents=-cents) if cents < 0 else ""


@register.filter
def lookup(mapping: dict[int, str], key: int | None) -> str:
    """`{{ partner_names|lookup:posting.partner_id }}`: the name, or nothing."""
    if key is None:
        return ""
    return mapping.get(key, "")
