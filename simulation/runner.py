"""Runs a `SimulationPlan` day by day through the real services, the Stripe emulator (over HTTP,
through the SDK) and the webhook intake, with the clock frozen on each simulated day:

    each day D:  bill run (renewals) · dunning · sponsored memberships that ended · employer
                 invoicing · the plan's actions for D (sign-ups, member actions, roster files
                 validated and confirmed, enrollments, agreement changes) · Stripe faults on or
                 off · a push worker killed part-way (on some days) · the outbox pushed until
                 nothing is left · webhooks delivered to the intake · at month end: revenue
                 recognition, statements generated, approved and paid out as planned

The simulation only calls services; it has no billing logic of its own. Business rules refusing
an action (e.g. cancelling a canceled membership) are counted, not errors.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db.models import QuerySet

from accounts.models import Role, User
from accounts.services import role_grant, user_create
from billing.models import (
    Payment,
    PaymentStatus,
    Refund,
    StripeCommand,
    StripeCommandStatus,
)
from billing.selectors import payment_refundable_cents
from billing.services import refund_create
from billing.stripe_outbox import stripe_outbox_push
from config import clock
from config.errors import DomainError
from employers.enrollment import EnrollInput, employee_enroll, sponsored_memberships_end_due
from employers.imports import COLUMNS, roster_import_confirm, roster_import_create
from employers.invoicing import employer_invoicing_run
from employers.models import ContributionKind, Employer, RosterImport, RosterImportStatus
from employers.services import ContractInput, contract_create, employer_create
from ledger.agreements import revenue_share_agreement_create, revenue_share_agreement_update
from ledger.models import RevenueShareAgreement, Statement, StatementStatus
from ledger.recognition import ledger_recognize
from ledger.statements import statement_approve, statement_payout_record, statements_generate
from memberships.dunning import memberships_dunning_run
from memberships.models import Market, Membership
from memberships.periods import add_months
from memberships.renewals import memberships_renew_due
from memberships.services import (
    SignupInput,
    member_signup,
    membership_cancel_at_period_end,
    membership_cancel_now,
    membership_plan_change,
)
from simulation.plan import GOOD_CARD, EmployeePlan, EmployerPlan, SimulationPlan
from simulation.webhooks import WebhookDeliverer
from simulation.worker_kill import push_worker_kill
from stripe_emulator.process import EmulatorProcess

PASSWORD = "simulated member password"  # noqa: S105  (throwaway simulated accounts)
PUSH_TIMEOUT_SECONDS = 600.0
STRIPE_ERROR_RATE = 0.05  # on fault days: share of Stripe requests answered 500 …
STRIPE_RATE_LIMIT_RATE = 0.05  # … and 429
WEBHOOK_COPIES = 2  # … and every event delivered this many times, shuffled
INITIAL_SHARE_BPS = 2000


@dataclass
class SimulationFigures:
    actions: Counter[str] = field(default_factory=Counter)  # what was done
    refused: Counter[str] = field(default_factory=Counter)  # refused by a business rule
    renewed: int = 0
    canceled_by_bill_run: int = 0
    dunning_retries: int = 0
    sponsored_ended: int = 0
    employer_invoices: int = 0
    member_share_invoices: int = 0
    statements_generated: int = 0
    statements_approved: int = 0
    statements_paid: int = 0
    stripe_fault_days: int = 0
    worker_kills: int = 0
    commands_left_by_killed_workers: int = 0
    push_claimed: int = 0
    push_retried: int = 0
    push_failed: int = 0


class Simulation:
    def __init__(
        self,
        *,
        plan: SimulationPlan,
        emulator: EmulatorProcess,
        webhooks: WebhookDeliverer,
        progress: Callable[[str], None],
    ) -> None:
        self.plan = plan
        self.emulator = emulator
        self.webhooks = webhooks
        self.progress = progress
        self.figures = SimulationFigures()
        self.fault_rng = random.Random(plan.seed * 7919 + 1)  # noqa: S311  (which days, when)
        self._faulty = False  # the emulator's fault settings are on
        self.users: dict[int, User] = {}
        self.employers: dict[int, Employer] = {}
        self.employees: dict[int, EmployeePlan] = {
            e.index: e for employer in plan.employers for e in employer.employees
        }
        self.finance = user_create(
            email="finance@simulation.example", password=PASSWORD, full_name="Finance"
        )
        role_grant(user=self.finance, role=Role.FINANCE_STAFF)

    # --- the run ------------------------------------------------------------------------------

    def run(self) -> None:
        started = time.monotonic()
        with clock.as_of(self.plan.start):
            self._agreements_open()
        for offset in range(self.plan.days):
            day = self.plan.start + dt.timedelta(days=offset)
            with clock.as_of(day):
                self._day(offset, day)
            if (day + dt.timedelta(days=1)).day == 1:
                with clock.as_of(day):
                    self._month_end(day)
                self.progress(
                    f"{day:%Y-%m}  {time.monotonic() - started:7.1f} s  "
                    f"sign-ups {self.figures.actions['signup']}, "
                    f"enrollments {self.figures.actions['enroll']}, "
                    f"renewed {self.figures.renewed}, "
                    f"employer invoices {self.figures.employer_invoices}, "
                    f"webhooks {self.webhooks.figures.delivered}, "
                    f"kills {self.figures.worker_kills}"
                )
        self.emulator.configure(
            error_rate=0.0, rate_limit_error_rate=0.0, webhook_duplicates=1, webhook_shuffle=False
        )
        with clock.as_of(self.plan.end):
            self._webhooks_settle()

    def _day(self, offset: int, day: dt.date) -> None:
        renewals = memberships_renew_due(as_of=day)
        self.figures.renewed += renewals.renewed
        self.figures.canceled_by_bill_run += renewals.canceled
        self.figures.dunning_retries += memberships_dunning_run(as_of=day).retries_queued
        self.figures.sponsored_ended += sponsored_memberships_end_due(as_of=day).ended
        invoicing = employer_invoicing_run(as_of=day)
        self.figures.employer_invoices += invoicing.employer_invoices
        self.figures.member_share_invoices += invoicing.member_share_invoices
        for what, who, detail in self.plan.day_actions.get(offset, []):
            self._act(what, who, detail, day)
        faulty = offset in self.plan.stripe_fault_days
        if faulty:
            self.figures.stripe_fault_days += 1
        if faulty != self._faulty:
            self.emulator.configure(
                error_rate=STRIPE_ERROR_RATE if faulty else 0.0,
                rate_limit_error_rate=STRIPE_RATE_LIMIT_RATE if faulty else 0.0,
                webhook_duplicates=WEBHOOK_COPIES if faulty else 1,
                webhook_shuffle=faulty,
            )
            self._faulty = faulty
        if _commands_open().exists() and self.fault_rng.random() < self.plan.worker_kill_share:
            self.figures.worker_kills += 1
            self.figures.commands_left_by_killed_workers += push_worker_kill(
                day=day, rng=self.fault_rng, stripe_api_base=self.emulator.api_base
            )
        self._push()
        self.webhooks.deliver_due()

    def _month_end(self, day: dt.date) -> None:
        month = (day.year - self.plan.start.year) * 12 + day.month - self.plan.start.month
        ledger_recognize(as_of=day)
        for statement in statements_generate(period=day.replace(day=1)):
            self.figures.statements_generated += 1
            if month in self.plan.approved_months:
                approved = statement_approve(statement=statement, actor=self.finance)
                self.figures.statements_approved += 1
                if month in self.plan.paid_months and approved.amount_due_cents:
                    statement_payout_record(
                        statement=approved, actor=self.finance, reference=f"ACH {day:%Y-%m}"
                    )
                    self.figures.statements_paid += 1

    def books_close(self) -> dt.date:
        """Approve the statements left in draft, in order, then generate and approve the month
        after the run, whose prior-period adjustments bring every earlier month to the final
        ledger (so that statements can be tied out to it). Returns that month."""
        after = add_months(self.plan.start, self.plan.months)
        with clock.as_of(self.plan.end):
            for statement in Statement.objects.filter(status=StatementStatus.DRAFT).order_by(
                "period", "partner_id"
            ):
                statement_approve(statement=statement, actor=self.finance)
        last = add_months(after, 1) - dt.timedelta(days=1)
        with clock.as_of(last):
            ledger_recognize(as_of=last)
            for statement in statements_generate(period=after):
                statement_approve(statement=statement, actor=self.finance)
        return after

    # --- Stripe ------------------------------------------------------------------------------

    def _push(self) -> None:
        """Push until no command is pending or leased (leases of a killed worker expire)."""
        deadline = time.monotonic() + PUSH_TIMEOUT_SECONDS
        open_commands = _commands_open()
        while open_commands.exists():
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"The outbox did not drain in {PUSH_TIMEOUT_SECONDS:.0f} s "
                    f"({open_commands.count()} commands open)."
                )
            report = stripe_outbox_push(run_seconds=60)
            self.figures.push_claimed += report.claimed
            self.figures.push_retried += report.retried
            self.figures.push_failed += report.failed
            if not report.claimed:
                time.sleep(0.05)  # a backoff or a dead worker's lease is running out

    def _webhooks_settle(self) -> None:
        """Wait until the emulator has sent every delivery, then hand them all to the intake."""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            pending = [
                hook
                for hook in self.emulator.webhooks()
                if not hook["delivered"] and not hook["failed"]
            ]
            if not pending:
                break
            time.sleep(0.5)
        time.sleep(0.3)
        self.webhooks.deliver_all()

    # --- actions ------------------------------------------------------------------------------

    def _act(self, what: str, who: int, detail: int, day: dt.date) -> None:
        try:
            if what == "signup":
                self._signup(who, day)
            elif what == "import":
                self._roster_import(self.plan.employers[who], day)
            elif what == "enroll":
                self._enroll(self.plan.employers[who], self.employees[detail], day)
            elif what == "agreement":
                self._agreement_change(who, day)
            else:
                self._member_action(what, who, detail)
        except DomainError as error:
            self.figures.refused[f"{what}:{error.code}"] += 1
            return
        self.figures.actions[what] += 1

    def _signup(self, index: int, day: dt.date) -> None:
        member = self.plan.members[index]
        prime_until = add_months(day, member.prime_months)
        result = member_signup(
            data=SignupInput(
                email=f"member{index}@simulation.example",
                password=PASSWORD,
                full_name=f"Member {index}",
                date_of_birth=dt.date(1960 + index % 40, 1 + index % 12, 1 + index % 28),
                market_slug=member.market,
                price_code=member.price_code,
                payment_method_id=member.card,
                prime_token=f"prime_valid_until_{prime_until.isoformat()}",
            )
        )
        self.users[index] = result.user

    def _member_action(self, what: str, index: int, percent: int) -> None:
        user = self.users.get(index)
        membership = (
            Membership.objects.filter(member__user=user).order_by("-id").first() if user else None
        )
        if user is None or membership is None:
            raise _NothingToDoError("The member has no membership.")
        if what == "refund":
            self._refund(membership, percent)
        elif what == "plan_change":
            monthly = membership.price.interval == "month"
            target = "standard_annual" if monthly else "prime_monthly"
            membership_plan_change(membership=membership, price_code=target, actor=user)
        elif what == "cancel_now":
            membership_cancel_now(membership=membership, actor=user)
        else:
            membership_cancel_at_period_end(membership=membership, actor=user)

    def _refund(self, membership: Membership, percent: int) -> None:
        payment = (
            Payment.objects.filter(
                invoice__lines__membership=membership, status=PaymentStatus.SUCCEEDED
            )
            .order_by("-id")
            .first()
        )
        if payment is None:
            raise _NothingToDoError("Nothing to act on.")
        left = payment_refundable_cents(
            payment=payment, refunds=Refund.objects.filter(payment=payment)
        )
        amount = left * percent // 100
        if amount <= 0:
            raise _NothingToDoError("Nothing to act on.")
        refund_create(
            payment=payment, amount_cents=amount, reason="finance goodwill", created_by=self.finance
        )

    def _employer(self, plan: EmployerPlan, day: dt.date) -> Employer:
        employer = self.employers.get(plan.index)
        if employer is None:
            employer = employer_create(
                name=f"Employer {plan.index}",
                billing_email=f"billing@employer{plan.index}.example",
            )
            contract_create(
                employer=employer,
                data=ContractInput(
                    pepm_cents=plan.pepm_cents,
                    contribution_kind=(
                        ContributionKind.FULL
                        if plan.contribution_cents is None
                        else ContributionKind.FIXED
                    ),
                    contribution_cents=plan.contribution_cents or 0,
                    billing_day=plan.billing_day,
                    effective_from=day,
                ),
            )
            self.employers[plan.index] = employer
        return employer

    def _roster_import(self, plan: EmployerPlan, day: dt.date) -> None:
        """Upload the employer's roster as it stands today (hires to date, with the last day
        of those terminated by today), validate it and confirm it (the tasks run at commit)."""
        employer = self._employer(plan, day)
        rows = [",".join(COLUMNS)]
        for employee in plan.employees:
            if self.plan.start + dt.timedelta(days=employee.hired_day) > day:
                continue
            until = ""
            if employee.terminated_day is not None:
                last = self.plan.start + dt.timedelta(days=employee.terminated_day)
                until = last.isoformat() if last <= day else ""
            rows.append(
                ",".join(
                    {
                        "external_id": _external_id(employee),
                        "full_name": f"Employee {employee.index}",
                        "work_email": _work_email(employee),
                        "date_of_birth": _employee_birthday(employee).isoformat(),
                        "eligible_from": (
                            self.plan.start + dt.timedelta(days=employee.hired_day)
                        ).isoformat(),
                        "eligible_until": until,
                    }[column]
                    for column in COLUMNS
                )
            )
        roster_import = roster_import_create(
            employer=employer,
            uploaded_by=None,
            file_name=f"roster-{day.isoformat()}.csv",
            content=("\n".join(rows) + "\n").encode(),
            replace=False,
        )  # validated by its task at the commit
        roster_import.refresh_from_db()
        if roster_import.status != RosterImportStatus.PREVIEW:
            raise RuntimeError(f"Roster import #{roster_import.pk} is {roster_import.status}.")
        roster_import_confirm(
            roster_import=roster_import, actor=self.finance, valid_rows_only=False
        )
        status = RosterImport.objects.values_list("status", flat=True).get(pk=roster_import.pk)
        if status != RosterImportStatus.APPLIED:
            raise RuntimeError(f"Roster import #{roster_import.pk} is {status} after confirming.")

    def _enroll(self, plan: EmployerPlan, employee: EmployeePlan, day: dt.date) -> None:
        employer = self.employers.get(plan.index)
        if employer is None:
            raise _NothingToDoError("Nothing to act on.")
        employee_enroll(
            data=EnrollInput(
                employer_code=employer.code,
                password=PASSWORD,
                full_name=f"Employee {employee.index}",
                date_of_birth=_employee_birthday(employee),
                market_slug=employee.market,
                work_email=_work_email(employee),
                payment_method_id=GOOD_CARD if plan.contribution_cents is not None else "",
            )
        )

    def _agreements_open(self) -> None:
        for market in Market.objects.filter(partner__isnull=False).order_by("id"):
            assert market.partner_id is not None  # noqa: S101  (filtered above)
            revenue_share_agreement_create(
                actor=None,
                partner_id=market.partner_id,
                market=market,
                share_bps=INITIAL_SHARE_BPS,
                effective_from=self.plan.start,
            )

    def _agreement_change(self, number: int, day: dt.date) -> None:
        """New terms from `day`: the agreement in force ends, a new one starts (the services
        finance's admin form uses, so the audit history records both)."""
        change = self.plan.agreement_changes[number]
        current = RevenueShareAgreement.objects.filter(
            market__slug=change.market, effective_until__isnull=True
        ).first()
        if current is None:
            raise _NothingToDoError("Nothing to act on.")
        if current.effective_from >= day:
            raise _NothingToDoError("Two changes the same day: the first stands.")
        revenue_share_agreement_update(agreement=current, actor=None, effective_until=day)
        revenue_share_agreement_create(
            actor=None,
            partner_id=current.partner_id,
            market_id=current.market_id,
            share_bps=change.share_bps,
            recoupment_total_cents=change.recoupment_total_cents,
            recoupment_rate_bps=change.recoupment_rate_bps,
            effective_from=day,
        )


def _commands_open() -> QuerySet[StripeCommand]:
    return StripeCommand.objects.filter(
        status__in=[StripeCommandStatus.PENDING, StripeCommandStatus.IN_PROGRESS]
    )


class _NothingToDoError(DomainError):
    """Nothing to act on (e.g. a refund for a member with no payment): counted as refused."""

    code = "nothing_to_do"


def _external_id(employee: EmployeePlan) -> str:
    return f"E{employee.index:06d}"


def _work_email(employee: EmployeePlan) -> str:
    return f"employee{employee.index}@employer{employee.employer}.example"


def _employee_birthday(employee: EmployeePlan) -> dt.date:
    return dt.date(1960 + employee.index % 40, 1 + employee.index % 12, 1 + employee.index % 28)
