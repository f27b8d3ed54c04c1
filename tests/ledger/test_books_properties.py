"""Property test of the books (issue #6): random 24-month histories of sign-ups, renewals (the
bill run, day by day), finance refunds, plan changes, cancellations, Prime lapses and
revenue-share agreement changes, driven through the real services and the Stripe emulator over
HTTP. After each history:

- every entry balances per currency and the trial balance is zero;
- per invoice line, recognized (net of refunds and credits) + deferred = invoiced - refunded,
  and what the ledger says was refunded on an invoice equals the refunds Stripe confirmed;
- a line whose service is over (its period ended, or its membership ended) has nothing
  deferred left;
- re-running recognition and regenerating every statement changes nothing;
- approved statements tie out to each partner's payable account to the cent, and their shares
  plus prior-period adjustments equal the share recomputed independently (in SQL) from the
  final ledger; recoupment never exceeds the start-up contribution.

Each example runs on committed data (the Stripe outbox is never pushed inside a transaction)
and is wiped before the next one. `BOOKS_PROPERTY_EXAMPLES` sets the number of examples (5 in
the test command; `BOOKS_PROPERTY_EXAMPLES=100 pytest tests/ledger/test_books_properties.py`
for a longer search).
"""

from __future__ import annotations

import datetime as dt
import os
from collections import defaultdict
from dataclasses import dataclass, field

import pytest
from django.db import connection
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import Role, User
from accounts.services import role_grant
from billing.models import (
    InvoiceLine,
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
    StripeCommand,
    StripeCommandStatus,
)
from billing.services import refund_create
from billing.stripe_outbox import stripe_outbox_push
from config import clock
from config.errors import DomainError
from ledger import chart
from ledger.models import (
    JournalEntry,
    Posting,
    RevenueShareAgreement,
    Statement,
    StatementLine,
    StatementLineKind,
    StatementStatus,
)
from ledger.recognition import ledger_recognize
from ledger.statements import (
    month_bounds,
    statement_approve,
    statement_payout_record,
    statements_generate,
)
from memberships.models import Market, Membership, MembershipStatus
from memberships.periods import add_months
from memberships.renewals import memberships_renew_due
from memberships.services import (
    SignupInput,
    member_signup,
    membership_cancel_at_period_end,
    membership_cancel_now,
    membership_plan_change,
)
from simulation.invariants import independent_share_cents
from tests.factories import UserFactory
from tests.ledger.ledger_checks import line_sums, trial_balance_cents, unbalanced_entries

pytestmark = pytest.mark.django_db(transaction=True)

START = dt.date(2027, 1, 1)
MONTHS = 24
END = add_months(START, MONTHS) - dt.timedelta(days=1)  # 2028-12-31
DAYS = (END - START).days + 1
MARKETS = ("northeast-ohio", "connecticut", "puget-sound")
EXAMPLES = int(os.environ.get("BOOKS_PROPERTY_EXAMPLES", "5"))


# --- the histories ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberHistory:
    signup_day: int  # days after START
    market: str
    price_code: str
    prime_months: int  # how long the member's Prime stays valid (re-checked at each renewal)
    actions: tuple[tuple[int, str, int], ...]  # (days after sign-up, action, percent)


@dataclass(frozen=True)
class AgreementChange:
    day: int  # days after START: the new terms apply from that day (a mid-month split)
    market: str
    share_bps: int
    recoupment_total_cents: int
    recoupment_rate_bps: int


@dataclass(frozen=True)
class History:
    members: tuple[MemberHistory, ...]
    agreement_changes: tuple[AgreementChange, ...]
    approved_months: frozenset[int]  # statements approved when their month is generated
    paid_months: frozenset[int]  # … and paid out then


ACTIONS = ("refund", "plan_change", "cancel_now", "cancel_at_period_end")

member_histories = st.builds(
    MemberHistory,
    signup_day=st.integers(0, 600),
    market=st.sampled_from(MARKETS),
    price_code=st.sampled_from(["standard_annual", "prime_annual", "prime_monthly"]),
    prime_months=st.integers(1, 30),
    actions=st.lists(
        st.tuples(st.integers(1, 500), st.sampled_from(ACTIONS), st.integers(1, 100)),
        max_size=3,
    ).map(tuple),
)
agreement_changes = st.builds(
    AgreementChange,
    day=st.integers(1, DAYS - 1),
    market=st.sampled_from(MARKETS),
    share_bps=st.integers(0, 5000),
    recoupment_total_cents=st.sampled_from([0, 0, 1_000, 50_000]),
    recoupment_rate_bps=st.integers(0, 3000),
)
histories = st.builds(
    History,
    members=st.lists(member_histories, min_size=1, max_size=4).map(tuple),
    agreement_changes=st.lists(agreement_changes, max_size=3, unique_by=lambda c: c.day).map(tuple),
    approved_months=st.frozensets(st.integers(0, MONTHS - 1)),
    paid_months=st.frozensets(st.integers(0, MONTHS - 1)),
)


def partnered_markets() -> list[tuple[Market, int]]:
    """Each market with a partner, and its partner's id."""
    return [
        (market, market.partner_id)
        for market in Market.objects.filter(partner__isnull=False).order_by("id")
        if market.partner_id is not None
    ]


# --- running one ------------------------------------------------------------------------------


@dataclass
class Simulation:
    history: History
    finance: User
    users: dict[int, User] = field(default_factory=dict)  # member index → user

    def run(self) -> None:
        for market, partner_id in partnered_markets():
            RevenueShareAgreement.objects.create(
                partner_id=partner_id, market=market, share_bps=2000, effective_from=START
            )
        todo: dict[int, list[tuple[str, int, int]]] = defaultdict(list)  # day → (what, who, %)
        for index, member in enumerate(self.history.members):
            todo[member.signup_day].append(("signup", index, 0))
            for after, action, percent in member.actions:
                if member.signup_day + after < DAYS:
                    todo[member.signup_day + after].append((action, index, percent))
        for change in self.history.agreement_changes:
            todo[change.day].append(("agreement", self.history.agreement_changes.index(change), 0))
        for offset in range(DAYS):
            day = START + dt.timedelta(days=offset)
            with clock.as_of(day):
                memberships_renew_due(as_of=day)
                for what, who, percent in todo.get(offset, []):
                    self.act(what, who, percent, day)
                self.push()
                if (day + dt.timedelta(days=1)).day == 1:
                    self.month_end(day)

    def act(self, what: str, who: int, percent: int, day: dt.date) -> None:
        if what == "signup":
            self.signup(who, day)
            return
        if what == "agreement":
            self.agreement_change(self.history.agreement_changes[who], day)
            return
        user = self.users.get(who)
        membership = Membership.objects.filter(member__user=user).order_by("-id").first()
        if user is None or membership is None:
            return
        try:
            if what == "refund":
                self.refund(membership, percent)
            elif what == "plan_change":
                monthly = membership.price.interval == "month"
                target = "standard_annual" if monthly else "prime_monthly"
                membership_plan_change(membership=membership, price_code=target, actor=user)
            elif what == "cancel_now":
                membership_cancel_now(membership=membership, actor=user)
            else:
                membership_cancel_at_period_end(membership=membership, actor=user)
        except DomainError:
            pass  # refused by a business rule (e.g. canceled already, Prime lapsed): no change

    def signup(self, index: int, day: dt.date) -> None:
        member = self.history.members[index]
        prime_until = add_months(day, member.prime_months)
        result = member_signup(
            data=SignupInput(
                email=f"member{index}@example.test",
                password="a long enough password",
                full_name=f"Member {index}",
                date_of_birth=dt.date(1980, 1, 1),
                market_slug=member.market,
                price_code=member.price_code,
                payment_method_id="pm_card_visa",
                prime_token=f"prime_valid_until_{prime_until.isoformat()}",
            )
        )
        self.users[index] = result.user

    def refund(self, membership: Membership, percent: int) -> None:
        payment = (
            Payment.objects.filter(
                invoice__lines__membership=membership, status=PaymentStatus.SUCCEEDED
            )
            .order_by("-id")
            .first()
        )
        if payment is None:
            return
        refunded = Refund.objects.filter(payment=payment).exclude(status=RefundStatus.FAILED)
        left = payment.amount_cents - (refunded.aggregate(total=Sum("amount_cents"))["total"] or 0)
        amount = left * percent // 100
        if amount > 0:
            refund_create(payment=payment, amount_cents=amount, reason="goodwill")

    def agreement_change(self, change: AgreementChange, day: dt.date) -> None:
        [(market, partner_id)] = [
            (market, partner_id)
            for market, partner_id in partnered_markets()
            if market.slug == change.market
        ]
        current = RevenueShareAgreement.objects.get(
            partner_id=partner_id, market=market, effective_until__isnull=True
        )
        current.effective_until = day
        current.save(update_fields=["effective_until"])
        RevenueShareAgreement.objects.create(
            partner_id=partner_id,
            market=market,
            share_bps=change.share_bps,
            recoupment_total_cents=change.recoupment_total_cents,
            recoupment_rate_bps=change.recoupment_rate_bps,
            effective_from=day,
        )

    def push(self) -> None:
        if StripeCommand.objects.filter(status=StripeCommandStatus.PENDING).exists():
            stripe_outbox_push(run_seconds=30)
            assert not StripeCommand.objects.filter(status=StripeCommandStatus.PENDING).exists()

    def month_end(self, day: dt.date) -> None:
        month = (day.year - START.year) * 12 + day.month - START.month
        ledger_recognize(as_of=day)
        for statement in statements_generate(period=day.replace(day=1)):
            if month in self.history.approved_months:
                statement_approve(statement=statement, actor=self.finance)
                if month in self.history.paid_months:
                    statement_payout_record(
                        statement=statement, actor=self.finance, reference=f"ACH {month}"
                    )


# --- the invariants -----------------------------------------------------------------------------


def assert_every_entry_balances() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # fires any deferred check now
    assert unbalanced_entries() == []
    assert trial_balance_cents() == 0


def assert_lines_hold(last_day: dt.date) -> None:
    ended = set(
        Membership.objects.filter(status=MembershipStatus.CANCELED).values_list("pk", flat=True)
    )
    refunds_by_invoice: dict[int, int] = defaultdict(int)
    for line in InvoiceLine.objects.filter(amount_cents__gt=0).select_related("membership"):
        sums = line_sums(line.pk)
        recognized = -sums.get(chart.MEMBERSHIP_REVENUE, 0)
        refunded = sums.get(chart.REFUNDS_CREDITS, 0)
        deferred = -sums.get(chart.DEFERRED_REVENUE, 0)
        assert (recognized - refunded) + deferred == line.amount_cents - refunded, line.pk
        assert deferred >= 0, line.pk
        service_over = line.period_end <= last_day or line.membership_id in ended
        if service_over:
            assert deferred == 0, (line.pk, deferred)
        refunds_by_invoice[line.invoice_id] += refunded
    confirmed: dict[int, int] = defaultdict(int)
    for invoice_id, amount in Refund.objects.filter(status=RefundStatus.SUCCEEDED).values_list(
        "payment__invoice_id", "amount_cents"
    ):
        confirmed[invoice_id] += amount
    assert {k: v for k, v in refunds_by_invoice.items() if v} == dict(confirmed)


def books_snapshot() -> tuple[object, ...]:
    statements = tuple(
        Statement.objects.order_by("partner_id", "period").values_list(
            "partner_id", "period", "status", "share_cents", "adjustment_cents", "amount_due_cents"
        )
    )
    return JournalEntry.objects.count(), Posting.objects.count(), statements


def assert_statements_tie_out(finance: User) -> None:
    # Approve what is left in order, then one more month, whose adjustments bring every
    # earlier month to today's ledger.
    after = add_months(START, MONTHS)
    with clock.as_of(END):
        for statement in Statement.objects.filter(status=StatementStatus.DRAFT).order_by("period"):
            statement_approve(statement=statement, actor=finance)
    with clock.as_of(month_bounds(after)[1]):
        for statement in statements_generate(period=after):
            statement_approve(statement=statement, actor=finance)
    for _market, partner_id in partnered_markets():
        statements = Statement.objects.filter(partner_id=partner_id)
        assert not statements.filter(status=StatementStatus.DRAFT).exists()
        payable = Posting.objects.filter(account=chart.partner_payable_account(partner_id))
        unpaid_due = statements.filter(status=StatementStatus.APPROVED).aggregate(
            total=Sum("amount_due_cents")
        )["total"]
        assert (payable.aggregate(total=Sum("amount_cents"))["total"] or 0) == -(unpaid_due or 0)
        accrued = payable.filter(entry__idempotency_key__endswith=":accrual")
        assert -(accrued.aggregate(total=Sum("amount_cents"))["total"] or 0) == (
            statements.aggregate(total=Sum("amount_due_cents"))["total"] or 0
        )
        lines = StatementLine.objects.filter(statement__partner_id=partner_id)
        shares = lines.filter(kind=StatementLineKind.MARKET).aggregate(total=Sum("share_cents"))[
            "total"
        ]
        adjustments = lines.filter(kind=StatementLineKind.ADJUSTMENT).aggregate(
            total=Sum("amount_cents")
        )["total"]
        assert (shares or 0) + (adjustments or 0) == independent_share_cents(
            partner_id=partner_id, first=START, last_period=after
        )
    for agreement in RevenueShareAgreement.objects.all():
        recouped = agreement.recoupments.filter(
            statement__status__in=[StatementStatus.APPROVED, StatementStatus.PAID]
        ).aggregate(total=Sum("amount_cents"))["total"]
        assert (recouped or 0) <= agreement.recoupment_total_cents, agreement.pk


# --- the test -----------------------------------------------------------------------------------


def wipe_tables(tables: list[str]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(tables)} CASCADE")


@pytest.fixture
def tables_filled_by_a_history() -> list[str]:
    """Every table that is empty before the first history (seeded catalog tables are kept)."""
    names = connection.introspection.django_table_names(only_existing=True)
    empty = []
    with connection.cursor() as cursor:
        for name in names:
            cursor.execute(f"SELECT NOT EXISTS (SELECT 1 FROM {name})")  # noqa: S608
            if cursor.fetchone()[0]:
                empty.append(name)
    return empty


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=histories)
def test_the_books_hold_for_random_24_month_histories(
    history: History, stripe_emulator, tables_filled_by_a_history
):
    wipe_tables(tables_filled_by_a_history)
    stripe_emulator.reset()
    finance = UserFactory.create()
    role_grant(user=finance, role=Role.FINANCE_STAFF)

    Simulation(history=history, finance=finance).run()

    assert_every_entry_balances()
    assert_lines_hold(last_day=END)
    before = books_snapshot()
    with clock.as_of(END):
        ledger_recognize(as_of=END)
        for first in (add_months(START, month) for month in range(MONTHS)):
            statements_generate(period=first)
    assert books_snapshot() == before
    assert_statements_tie_out(finance)
    assert_every_entry_balances()
