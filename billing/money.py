"""Showing integer cents to people (emails, statements). Amounts stay integer cents everywhere
else; this is only the last step before text."""

from __future__ import annotations

CURRENCY_SYMBOLS = {"usd": "$"}


def money_display(*, amount_cents: int, currency: str = "usd") -> str:
    """`9900` → `$99.00`, `-1234567` → `-$12,345.67`; other currencies by code: `12.00 EUR`."""
    sign = "-" if amount_cents < 0 else ""
    whole, cents = divmod(abs(amount_cents), 100)
    symbol = CURRENCY_SYMBOLS.get(currency.lower())
    if symbol is not None:
        return f"{sign}{symbol}{whole:,}.{cents:02d}"
    return f"{sign}{whole:,}.{cents:02d} {currency.upper()}"
