"""The seeded plan of a simulation: who signs up when, on which plan, what each member does
later, the employers with their contracts, rosters and imports, the revenue-share agreement
changes, which statements finance approves and pays, and the faults. Everything comes from one
`random.Random(seed)`, so the same seed and sizes give the same plan (and the same books).

Of `members`, 30 % are employees of the employers (when there are any), spread over them;
the rest sign up individually, spread over the whole run."""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from dataclasses import dataclass, field

from memberships.periods import add_months

MARKETS = ("northeast-ohio", "connecticut", "puget-sound")
INDIVIDUAL_PRICES = ("standard_annual", "prime_annual", "prime_monthly")
MEMBER_ACTIONS = ("refund", "plan_change", "cancel_now", "cancel_at_period_end")
DECLINING_CARD = "pm_card_chargeDeclined"
GOOD_CARD = "pm_card_visa"
EMPLOYEE_SHARE = 0.3


@dataclass(frozen=True)
class MemberPlan:
    index: int
    signup_day: int  # days after the start
    market: str
    price_code: str
    prime_months: int  # how long the member's Prime stays valid
    card: str
    actions: tuple[tuple[int, str, int], ...]  # (days after sign-up, action, percent)


@dataclass(frozen=True)
class EmployeePlan:
    index: int  # over all employers
    employer: int
    hired_day: int  # first eligible day, days after the start
    market: str
    enroll_after_import: int | None  # days after the import that lists them; None: never
    terminated_day: int | None  # last eligible day


@dataclass(frozen=True)
class EmployerPlan:
    index: int
    start_day: int  # the contract's first day
    pepm_cents: int
    contribution_cents: int | None  # None: the employer pays it all
    billing_day: int
    import_days: tuple[int, ...]  # roster files uploaded (validated and confirmed) these days
    employees: tuple[EmployeePlan, ...]


@dataclass(frozen=True)
class AgreementChange:
    day: int
    market: str
    share_bps: int
    recoupment_total_cents: int
    recoupment_rate_bps: int


@dataclass(frozen=True)
class SimulationPlan:
    seed: int
    start: dt.date
    months: int
    members: tuple[MemberPlan, ...]
    employers: tuple[EmployerPlan, ...]
    agreement_changes: tuple[AgreementChange, ...]
    approved_months: frozenset[int]  # statements approved at their month end …
    paid_months: frozenset[int]  # … and paid out then
    stripe_fault_days: frozenset[int]  # days with Stripe 500s and 429s injected
    worker_kill_share: float  # share of the days with Stripe work whose push starts in a
    # worker that is SIGKILLed part-way
    day_actions: dict[int, list[tuple[str, int, int]]] = field(default_factory=dict)

    @property
    def end(self) -> dt.date:
        return add_months(self.start, self.months) - dt.timedelta(days=1)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def simulation_plan_make(
    *,
    seed: int,
    members: int,
    employers: int,
    months: int,
    start: dt.date,
    stripe_fault_share: float = 0.25,
    worker_kill_share: float = 0.05,
) -> SimulationPlan:
    """The plan for these sizes (see the module docstring)."""
    rng = random.Random(seed)  # noqa: S311  (a simulation, not secrets)
    days = (add_months(start, months) - start).days
    employee_count = int(members * EMPLOYEE_SHARE) if employers else 0
    member_plans = tuple(
        _member_plan(rng, index, days) for index in range(members - employee_count)
    )
    employer_plans = _employer_plans(rng, employers, employee_count, days)
    changes = tuple(
        AgreementChange(
            day=rng.randrange(1, days),
            market=rng.choice(MARKETS),
            share_bps=rng.randrange(0, 5001),
            recoupment_total_cents=rng.choice([0, 0, 1_000, 50_000]),
            recoupment_rate_bps=rng.randrange(0, 3001),
        )
        for _ in range(max(1, months // 6))
    )
    approved = frozenset(m for m in range(months) if rng.random() < 0.7)
    paid = frozenset(m for m in approved if rng.random() < 0.6)
    fault_days = frozenset(d for d in range(days) if rng.random() < stripe_fault_share)
    plan = SimulationPlan(
        seed=seed,
        start=start,
        months=months,
        members=member_plans,
        employers=employer_plans,
        agreement_changes=tuple(sorted(changes, key=lambda c: c.day)),
        approved_months=approved,
        paid_months=paid,
        stripe_fault_days=fault_days,
        worker_kill_share=worker_kill_share,
    )
    plan.day_actions.update(_day_actions(plan))
    return plan


def _member_plan(rng: random.Random, index: int, days: int) -> MemberPlan:
    signup_day = rng.randrange(0, days)
    actions = []
    for _ in range(rng.choice([0, 0, 0, 1, 1, 2])):
        actions.append((rng.randrange(1, 500), rng.choice(MEMBER_ACTIONS), rng.randrange(1, 101)))
    return MemberPlan(
        index=index,
        signup_day=signup_day,
        market=rng.choice(MARKETS),
        price_code=rng.choice(INDIVIDUAL_PRICES),
        prime_months=rng.randrange(1, 31),
        card=DECLINING_CARD if rng.random() < 0.02 else GOOD_CARD,
        actions=tuple(sorted(actions)),
    )


def _employer_plans(
    rng: random.Random, employers: int, employee_count: int, days: int
) -> tuple[EmployerPlan, ...]:
    sizes = [0] * employers
    for _ in range(employee_count):
        sizes[rng.randrange(employers) if employers else 0] += 1
    plans = []
    next_employee = 0
    for index in range(employers):
        start_day = rng.randrange(0, min(days, 90))
        pepm = rng.randrange(3_000, 8_001, 100)
        contribution = None if rng.random() < 0.6 else rng.randrange(0, pepm, 100)
        # the first file on the contract's first day, then one every one to three months
        import_days = [start_day]
        while (following := import_days[-1] + rng.randrange(30, 92)) < days:
            import_days.append(following)
        employees = []
        for _ in range(sizes[index]):
            hired = start_day if rng.random() < 0.7 else rng.randrange(start_day, days)
            terminated = None
            if rng.random() < 0.25:
                terminated = rng.randrange(hired, days)
            enroll_after = rng.randrange(0, 20) if rng.random() < 0.85 else None
            employees.append(
                EmployeePlan(
                    index=next_employee,
                    employer=index,
                    hired_day=hired,
                    market=rng.choice(MARKETS),
                    enroll_after_import=enroll_after,
                    terminated_day=terminated,
                )
            )
            next_employee += 1
        plans.append(
            EmployerPlan(
                index=index,
                start_day=start_day,
                pepm_cents=pepm,
                contribution_cents=contribution,
                billing_day=rng.randrange(1, 29),
                import_days=tuple(import_days),
                employees=tuple(employees),
            )
        )
    return tuple(plans)


def employee_listed_on(employee: EmployeePlan, import_days: tuple[int, ...]) -> int | None:
    """The day of the first roster file that lists the employee (hired by then)."""
    return next((day for day in import_days if day >= employee.hired_day), None)


def _day_actions(plan: SimulationPlan) -> dict[int, list[tuple[str, int, int]]]:
    """Day → what happens, in order: ("signup", member, 0), ("<action>", member, percent),
    ("import", employer, 0), ("enroll", employer, employee), ("agreement", change, 0)."""
    todo: dict[int, list[tuple[str, int, int]]] = defaultdict(list)
    for member in plan.members:
        todo[member.signup_day].append(("signup", member.index, 0))
        for after, action, percent in member.actions:
            if member.signup_day + after < plan.days:
                todo[member.signup_day + after].append((action, member.index, percent))
    for employer in plan.employers:
        for day in employer.import_days:
            todo[day].append(("import", employer.index, 0))
        for employee in employer.employees:
            listed = employee_listed_on(employee, employer.import_days)
            if listed is None or employee.enroll_after_import is None:
                continue
            day = listed + employee.enroll_after_import
            if day < plan.days:
                todo[day].append(("enroll", employer.index, employee.index))
    for number, change in enumerate(plan.agreement_changes):
        todo[change.day].append(("agreement", number, 0))
    return dict(todo)
