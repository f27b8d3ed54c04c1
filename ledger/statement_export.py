"""Statements as files: CSV (one row per statement line plus a totals row, money in integer
cents) and a one-page PDF (partner, period, status, the per-market table, the amount due and a
bar chart of the partner's last 12 months). Both read the statement as stored; they never
recompute it from the ledger."""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from dataclasses import dataclass

from django.db.models import Prefetch, prefetch_related_objects
from django.utils.text import slugify
from fpdf import FPDF
from fpdf.enums import Align, XPos, YPos

from billing.money import money_display
from ledger.models import Statement, StatementLine, StatementLineKind

CURRENCY = "usd"
SERIES_MONTHS = 12

MONEY_COLUMNS = (
    "recognized_cents",
    "refunds_cents",
    "net_cents",
    "share_cents",
    "recoupment_cents",
    "amount_cents",
)
MEMBER_COLUMNS = ("active_members", "new_members", "churned_members")
CSV_HEADER = ("market_id", "market", "kind", "adjusts_period", *MONEY_COLUMNS, *MEMBER_COLUMNS)
TOTAL_LABEL = "Total"


# --- reads ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MonthFigures:
    period: dt.date  # the first day of the month
    net_cents: int
    share_cents: int


@dataclass(frozen=True)
class StatementTotals:
    """The statement's own totals (amount = amount due, adjustments included) and its member
    counts summed over the market lines."""

    recognized_cents: int
    refunds_cents: int
    net_cents: int
    share_cents: int
    recoupment_cents: int
    adjustment_cents: int
    amount_cents: int
    active_members: int
    new_members: int
    churned_members: int


def statement_lines(*, statement: Statement) -> list[StatementLine]:
    """The statement's lines with their markets: market lines first, then adjustments. They are
    read once per statement object (a `lines` prefetch made by the caller is used as it is)."""
    prefetch_related_objects(
        [statement], Prefetch("lines", queryset=StatementLine.objects.select_related("market"))
    )
    return sorted(
        statement.lines.all(), key=lambda line: (line.kind != StatementLineKind.MARKET, line.pk)
    )


def statement_totals(*, statement: Statement, lines: list[StatementLine]) -> StatementTotals:
    return StatementTotals(
        recognized_cents=statement.recognized_cents,
        refunds_cents=statement.refunds_cents,
        net_cents=statement.net_cents,
        share_cents=statement.share_cents,
        recoupment_cents=statement.recoupment_cents,
        adjustment_cents=statement.adjustment_cents,
        amount_cents=statement.amount_due_cents,
        active_members=sum(line.active_members for line in lines),
        new_members=sum(line.new_members for line in lines),
        churned_members=sum(line.churned_members for line in lines),
    )


def months_ending_at(period: dt.date, count: int = SERIES_MONTHS) -> list[dt.date]:
    """The first days of the `count` months ending with the month of `period`, oldest first."""
    index = period.year * 12 + period.month - 1
    return [
        dt.date(i // 12, i % 12 + 1, 1)
        for i in range(index - count + 1, index + 1)  # months since year 0
    ]


def statement_monthly_series(*, statement: Statement) -> list[MonthFigures]:
    """Net basis and partner share of the partner's statements for the 12 months ending at this
    statement's period, oldest first; a month without a statement shows 0."""
    months = months_ending_at(statement.period)
    stored = {
        row["period"]: row
        for row in Statement.objects.filter(
            partner_id=statement.partner_id, period__gte=months[0], period__lte=months[-1]
        ).values("period", "net_cents", "share_cents")
    }
    return [
        MonthFigures(
            period=month,
            net_cents=int(stored[month]["net_cents"]) if month in stored else 0,
            share_cents=int(stored[month]["share_cents"]) if month in stored else 0,
        )
        for month in months
    ]


def statement_filename(*, statement: Statement, extension: str) -> str:
    """`statement-<partner>-<YYYY-MM>.<extension>`, the partner as a slug of its name (its id
    when the name has nothing to slug)."""
    partner = slugify(statement.partner.name) or str(statement.partner_id)
    return f"statement-{partner}-{statement.period:%Y-%m}.{extension}"


# --- CSV -----------------------------------------------------------------------------------------


def _csv_text(value: str) -> str:
    """Text a spreadsheet will not run as a formula."""
    return f"'{value}" if value[:1] in {"=", "+", "-", "@", "\t", "\r"} else value


def statement_csv(*, statement: Statement) -> str:
    """One row per line (market id and name, kind, adjusted period, money in cents, member
    counts), then a totals row whose money columns are the statement's totals."""
    lines = statement_lines(statement=statement)
    totals = statement_totals(statement=statement, lines=lines)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for line in lines:
        writer.writerow(
            [
                line.market_id,
                _csv_text(line.market.name),
                line.kind,
                f"{line.adjusts_period:%Y-%m}" if line.adjusts_period else "",
                *(getattr(line, column) for column in MONEY_COLUMNS),
                *(getattr(line, column) for column in MEMBER_COLUMNS),
            ]
        )
    writer.writerow(
        [
            "",
            TOTAL_LABEL,
            "total",
            "",
            *(getattr(totals, column) for column in MONEY_COLUMNS),
            *(getattr(totals, column) for column in MEMBER_COLUMNS),
        ]
    )
    return out.getvalue()


# --- PDF -----------------------------------------------------------------------------------------

NET_COLOR = (156, 178, 204)
SHARE_COLOR = (31, 78, 121)
GRID_COLOR = (215, 215, 215)
TEXT_COLOR = (30, 30, 30)
MUTED_COLOR = (110, 110, 110)
HEADER_FILL = (235, 239, 244)

TABLE_COLUMNS: tuple[tuple[str, float], ...] = (
    ("Market", 40),
    ("Recognized", 21),
    ("Refunds", 19),
    ("Net basis", 21),
    ("Share", 19),
    ("Recoupment", 20),
    ("Amount", 21),
    ("Active", 11),
    ("New", 10),
    ("Churned", 13),
)
TABLE_ROWS_SPACE_MM = 92.0  # the table shrinks its rows (down to a limit) to keep to one page
ROW_HEIGHT_MM = 5.5
MIN_ROW_HEIGHT_MM = 3.6
CHART_HEIGHT_MM = 75.0


_LATIN1_SUBSTITUTES = str.maketrans(
    {"\u2013": "-", "\u2014": "-", "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'}
)


def _pdf_text(value: str) -> str:
    """The built-in PDF fonts cover Latin-1 only: common punctuation is swapped for its ASCII
    look-alike, anything else outside Latin-1 becomes '?'."""
    return value.translate(_LATIN1_SUBSTITUTES).encode("latin-1", "replace").decode("latin-1")


def _money(cents: int) -> str:
    return money_display(amount_cents=cents, currency=CURRENCY)


def axis_step_cents(span: float, ticks: int = 4) -> int:
    """A round step (1, 2 or 5 times 10^n cents, at least $1) so that `ticks` steps cover
    `span`: the value axis of the 12-month chart, in the PDF and on the web page."""
    raw = max(span / ticks, 100.0)
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * magnitude >= raw:
            return int(factor * magnitude)
    return int(10 * magnitude)  # pragma: no cover - the loop always returns


class _StatementPdf:
    def __init__(self, statement: Statement) -> None:
        self.statement = statement
        self.pdf = FPDF(orientation="portrait", unit="mm", format="Letter")
        self.pdf.set_auto_page_break(auto=False, margin=15)
        self.pdf.set_margins(left=15, top=15, right=15)
        self.pdf.set_title(
            _pdf_text(f"Statement {statement.partner.name} {statement.period:%Y-%m}")
        )
        self.pdf.set_creator("membership billing")
        self.pdf.add_page()
        self.width = self.pdf.w - self.pdf.l_margin - self.pdf.r_margin

    def render(self) -> bytes:
        lines = statement_lines(statement=self.statement)
        totals = statement_totals(statement=self.statement, lines=lines)
        self._header()
        self._table(lines, totals)
        self._amount_due(totals)
        self._chart(statement_monthly_series(statement=self.statement))
        return bytes(self.pdf.output())

    def _text(self, size: float, style: str = "", color: tuple[int, int, int] = TEXT_COLOR) -> None:
        self.pdf.set_font("Helvetica", style, size)
        self.pdf.set_text_color(*color)

    def _header(self) -> None:
        pdf, statement = self.pdf, self.statement
        self._text(17, "B")
        pdf.cell(0, 9, "Revenue share statement", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self._text(12, "B")
        pdf.cell(0, 7, _pdf_text(statement.partner.name), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        facts = [
            ("Period", f"{statement.period:%B %Y}"),
            ("Status", statement.get_status_display()),
            ("Generated", f"{statement.generated_at:%Y-%m-%d}"),
        ]
        if statement.approved_at:
            facts.append(("Approved", f"{statement.approved_at:%Y-%m-%d}"))
        if statement.paid_at:
            facts.append(("Paid", f"{statement.paid_at:%Y-%m-%d}"))
        if statement.payout_reference:
            facts.append(("Payout reference", statement.payout_reference))
        for label, value in facts:
            self._text(9, "", MUTED_COLOR)
            pdf.cell(32, 5, label)
            self._text(9)
            pdf.cell(0, 5, _pdf_text(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(3)

    def _table(self, lines: list[StatementLine], totals: StatementTotals) -> None:
        pdf = self.pdf
        scale = self.width / sum(width for _, width in TABLE_COLUMNS)
        widths = [width * scale for _, width in TABLE_COLUMNS]
        fitting = int(TABLE_ROWS_SPACE_MM // MIN_ROW_HEIGHT_MM) - 2  # header and totals rows
        shown, hidden = lines[:fitting], lines[fitting:]
        rows = len(shown) + 2 + (1 if hidden else 0)
        height = min(ROW_HEIGHT_MM, TABLE_ROWS_SPACE_MM / rows)
        size = 8 if height >= 4.5 else 6.5

        self._text(size, "B")
        pdf.set_fill_color(*HEADER_FILL)
        for (title, _), width in zip(TABLE_COLUMNS, widths, strict=True):
            align = Align.L if title == "Market" else Align.R
            pdf.cell(width, height, title, border="B", align=align, fill=True)
        pdf.ln(height)

        self._text(size)
        for line in shown:
            name = line.market.name
            if line.kind == StatementLineKind.ADJUSTMENT and line.adjusts_period:
                name = f"{name} (adj. {line.adjusts_period:%Y-%m})"
            self._row(
                widths,
                height,
                name,
                [getattr(line, column) for column in MONEY_COLUMNS],
                [getattr(line, column) for column in MEMBER_COLUMNS],
            )
        if hidden:
            self._text(size, "I", MUTED_COLOR)
            pdf.cell(
                0,
                height,
                f"... and {len(hidden)} more lines (all lines are in the CSV export)",
                new_x=XPos.LMARGIN,
                new_y=YPos.NEXT,
            )
        self._text(size, "B")
        self._row(
            widths,
            height,
            TOTAL_LABEL,
            [getattr(totals, column) for column in MONEY_COLUMNS],
            [getattr(totals, column) for column in MEMBER_COLUMNS],
            border="T",
        )

    def _row(
        self,
        widths: list[float],
        height: float,
        name: str,
        money: list[int],
        members: list[int],
        border: str = "",
    ) -> None:
        pdf = self.pdf
        name_width = widths[0]
        name = _pdf_text(name)
        if pdf.get_string_width(name) > name_width - 1:
            while len(name) > 1 and pdf.get_string_width(f"{name}...") > name_width - 1:
                name = name[:-1]
            name = f"{name}..."
        pdf.cell(name_width, height, name, border=border)
        texts = [_money(cents) for cents in money] + [str(count) for count in members]
        for text, width in zip(texts, widths[1:], strict=True):
            pdf.cell(width, height, text, border=border, align=Align.R)
        pdf.ln(height)

    def _amount_due(self, totals: StatementTotals) -> None:
        pdf = self.pdf
        pdf.ln(4)
        self._text(12, "B")
        pdf.cell(self.width - 60, 8, "Amount due to the partner", border="TB")
        pdf.cell(60, 8, _money(totals.amount_cents), border="TB", align=Align.R)
        pdf.ln(8)
        if totals.adjustment_cents:
            self._text(8, "", MUTED_COLOR)
            pdf.cell(
                0,
                5,
                f"Includes prior-period adjustments of {_money(totals.adjustment_cents)}.",
                new_x=XPos.LMARGIN,
                new_y=YPos.NEXT,
            )

    def _chart(self, series: list[MonthFigures]) -> None:
        pdf = self.pdf
        top = pdf.get_y() + 8
        self._text(10, "B")
        pdf.set_xy(pdf.l_margin, top)
        pdf.cell(0, 6, "Last 12 months", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        legend_y = top + 7
        for i, (label, color) in enumerate(
            (("Net basis", NET_COLOR), ("Partner share", SHARE_COLOR))
        ):
            x = pdf.l_margin + i * 34
            pdf.set_fill_color(*color)
            pdf.rect(x, legend_y + 0.8, 3.5, 3.5, style="F")
            self._text(8)
            pdf.set_xy(x + 5, legend_y)
            pdf.cell(28, 5, label)

        axis_width = 22.0
        left = pdf.l_margin + axis_width
        width = self.width - axis_width
        plot_top = legend_y + 9
        # as tall as CHART_HEIGHT_MM, or what is left of the page above the month labels
        plot_height = min(CHART_HEIGHT_MM, pdf.h - pdf.b_margin - 8 - plot_top)
        values = [v for month in series for v in (month.net_cents, month.share_cents)]
        low, high = min(0, *values), max(0, *values)
        step = axis_step_cents(high - low)
        low = math.floor(low / step) * step
        high = max(math.ceil(high / step) * step, low + step)

        def y_of(cents: float) -> float:
            return plot_top + (high - cents) / (high - low) * plot_height

        pdf.set_line_width(0.15)
        for tick in range(int(low), int(high) + 1, step):
            y = y_of(tick)
            pdf.set_draw_color(*(TEXT_COLOR if tick == 0 else GRID_COLOR))
            pdf.line(left, y, left + width, y)
            self._text(6.5, "", MUTED_COLOR)
            pdf.set_xy(pdf.l_margin, y - 2)
            pdf.cell(axis_width - 2, 4, _money(tick), align=Align.R)

        slot = width / len(series)
        bar = slot * 0.32
        zero = y_of(0)
        for i, month in enumerate(series):
            x = left + i * slot + (slot - 2 * bar) / 2
            for j, (cents, color) in enumerate(
                ((month.net_cents, NET_COLOR), (month.share_cents, SHARE_COLOR))
            ):
                if cents:
                    y = y_of(cents)
                    pdf.set_fill_color(*color)
                    pdf.rect(x + j * bar, min(y, zero), bar, abs(zero - y), style="F")
            current = month.period == self.statement.period
            self._text(6.5, "B" if current else "", TEXT_COLOR if current else MUTED_COLOR)
            pdf.set_xy(left + i * slot, plot_top + plot_height + 1.5)
            pdf.cell(slot, 4, f"{month.period:%b %y}", align=Align.C)
        pdf.set_draw_color(*TEXT_COLOR)
        pdf.line(left, plot_top, left, plot_top + plot_height)


def statement_pdf(*, statement: Statement) -> bytes:
    """The statement on one Letter page."""
    return _StatementPdf(statement).render()
