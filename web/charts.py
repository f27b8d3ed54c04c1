"""Server-rendered SVG charts for the web pages (no JavaScript library). Drawing only: the
figures come from the selectors that the exports use (`ledger.statement_export`)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from billing.money import money_display
from ledger.statement_export import CURRENCY, MonthFigures, axis_step_cents

WIDTH = 760
HEIGHT = 300
LEFT = 86  # room for the axis labels
RIGHT = 12
TOP = 34  # room for the legend
BOTTOM = 28  # room for the month labels
NET_COLOR = "#9cb2cc"  # the PDF's colours
SHARE_COLOR = "#1f4e79"
GRID_COLOR = "#d7d7d7"
TEXT_COLOR = "#1e1e1e"
MUTED_COLOR = "#5b6675"


def _money(cents: int) -> str:
    return money_display(amount_cents=cents, currency=CURRENCY)


def _fmt(value: float) -> str:
    return f"{value:.1f}"


def revenue_share_chart_svg(
    *, series: Sequence[MonthFigures], current: dt.date, title: str
) -> SafeString:
    """Grouped bars per month (net basis, partner share), a money axis with gridlines, the
    month of `current` in bold. Accessible: `role="img"` with a `<title>` and `<desc>` naming
    every figure (the page shows the same figures in a table too)."""
    values = [v for month in series for v in (month.net_cents, month.share_cents)]
    low, high = min(0, *values), max(0, *values)
    step = axis_step_cents(high - low)
    low = math.floor(low / step) * step
    high = max(math.ceil(high / step) * step, low + step)
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM

    def y_of(cents: float) -> float:
        return TOP + (high - cents) / (high - low) * plot_height

    parts: list[str] = []
    for tick in range(int(low), int(high) + 1, step):
        y = y_of(tick)
        color = TEXT_COLOR if tick == 0 else GRID_COLOR
        parts.append(
            f'<line x1="{LEFT}" y1="{_fmt(y)}" x2="{WIDTH - RIGHT}" y2="{_fmt(y)}" '
            f'stroke="{color}" stroke-width="1"/>'
            f'<text x="{LEFT - 6}" y="{_fmt(y + 4)}" text-anchor="end" font-size="11" '
            f'fill="{MUTED_COLOR}">{escape(_money(tick))}</text>'
        )
    slot = plot_width / max(len(series), 1)
    bar = slot * 0.32
    zero = y_of(0)
    for i, month in enumerate(series):
        x = LEFT + i * slot + (slot - 2 * bar) / 2
        for j, (cents, color, name) in enumerate(
            (
                (month.net_cents, NET_COLOR, "Net basis"),
                (month.share_cents, SHARE_COLOR, "Partner share"),
            )
        ):
            if cents:
                y = y_of(cents)
                label = f"{name} {month.period:%b %Y}: {_money(cents)}"
                parts.append(
                    f'<rect class="bar" x="{_fmt(x + j * bar)}" y="{_fmt(min(y, zero))}" '
                    f'width="{_fmt(bar)}" height="{_fmt(abs(zero - y))}" fill="{color}">'
                    f"<title>{escape(label)}</title></rect>"
                )
        is_current = month.period == current.replace(day=1)
        weight = ' font-weight="bold"' if is_current else ""
        fill = TEXT_COLOR if is_current else MUTED_COLOR
        parts.append(
            f'<text x="{_fmt(LEFT + i * slot + slot / 2)}" y="{HEIGHT - 8}" text-anchor="middle" '
            f'font-size="11" fill="{fill}"{weight}>{month.period:%b %y}</text>'
        )
    parts.append(
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_height}" '
        f'stroke="{TEXT_COLOR}" stroke-width="1"/>'
    )
    legend = (
        f'<rect x="{LEFT}" y="8" width="12" height="12" fill="{NET_COLOR}"/>'
        f'<text x="{LEFT + 18}" y="18" font-size="12" fill="{TEXT_COLOR}">Net basis</text>'
        f'<rect x="{LEFT + 110}" y="8" width="12" height="12" fill="{SHARE_COLOR}"/>'
        f'<text x="{LEFT + 128}" y="18" font-size="12" fill="{TEXT_COLOR}">Partner share</text>'
    )
    description = "; ".join(
        f"{m.period:%b %Y}: net basis {_money(m.net_cents)}, partner share {_money(m.share_cents)}"
        for m in series
    )
    svg = (
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-labelledby="chart-title chart-desc" '
        f'font-family="system-ui, sans-serif">'
        f'<title id="chart-title">{escape(title)}</title>'
        f'<desc id="chart-desc">{escape(description)}</desc>'
        f"{legend}{''.join(parts)}</svg>"
    )
    return mark_safe(svg)  # noqa: S308 - every text in it is escaped above
