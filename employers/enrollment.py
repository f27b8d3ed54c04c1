"""Enrollment in employer-sponsored memberships, their end, and conversion to an individual one.

Rules:
- **Enroll** (`employee_enroll`): the employer code must name an employer with a contract in
  force today, and the roster identity must match one of its entries eligible today
  (`eligible_from <= today <= eligible_until`): the work email (any letter case) or the
  external id, and in both cases the date of birth (knowing a colleague's work email is not
  enough to enroll as them). Every mismatch (unknown, wrong date of birth,
  not yet or no longer eligible) is the same `no_eligible_employee` 404, so the answer never
  tells whether an employee exists. An entry whose enrollment has not ended is a 409
  (`already_enrolled`); so is a person who already has a live membership: an individual one
  (`individual_membership_exists`, with the way out: cancel it now with a prorated refund,
  then enroll) or another sponsored one. The login is the roster's work email; somebody who has
  an account with it already (a former member) enrolls with its password.
  Enrolling creates, in one transaction: the user, member role, member and home market (or
  reuses them), the Stripe customer (the card, needed only when the contract has a member share,
  is attached through the outbox as at sign-up), a membership on the sponsored plan with
  `sponsor` set, `pending` then `active` through `membership_transition` (events `enrolled`,
  `sponsorship_started`), a first period from today to the end of this month (the employer
  invoicing run moves the period on month by month), the `Enrollment` (starts today), a
  `RosterChange(enrolled)` and the confirmation email. Nothing is charged at enrollment: the
  member share is charged by the monthly invoicing run.
- **End** (`enrollments_end_for_terminated_entries`, on `roster_entries_terminated`): the
  contract's rule is that coverage runs to the END OF THE MONTH of the entry's last eligible
  day: `Enrollment.ends_on = month_end(max(eligible_until, starts_on))` (an entry terminated
  back to before its enrollment started is still covered through the month it enrolled in).
  The membership stays active until then; it gets a `sponsorship_ending` event, the roster a
  `RosterChange(enrollment_ended)` with the date, and the member an email offering conversion.
  A later termination with another date moves `ends_on` (and emails again); it is a handful of
  bulk statements per 5,000 entries, not a query per entry, so an import's full replacement of
  thousands of entries is cheap. Lifting a termination does not reopen an enrollment.
- **Daily run** (`sponsored_memberships_end_due(as_of=D)`): every live sponsored membership
  whose enrollment ended before D (`ends_on < D`) is canceled through `membership_transition`
  (event `sponsorship_ended`), and a scheduled conversion starts (below). Claimed in chunks with
  `SELECT … FOR UPDATE SKIP LOCKED`; an ended membership is no longer due, so re-runs and
  concurrent runs do nothing twice. Run hourly by beat and by
  `manage.py sponsored_memberships_end --as-of D`. The individual bill run is not involved.
- **Conversion** (`membership_convert`): a member whose sponsored membership is ending
  (`ends_on` set, still live) or has ended chooses an individual plan (sold individually, Prime
  rules of sign-up: a Prime price needs a token verified for the first day). Ending: the plan is
  scheduled as the sponsored membership's `next_price`, the card set, and the daily run starts
  the individual membership on `ends_on + 1` (at the standard price if Prime has lapsed by then,
  with the usual notice) and queues its first invoice for the outbox. Ended: the individual
  membership starts today and its first invoice (`membership_fee_invoice_create`, as at sign-up)
  is charged right away; a declined card leaves it pending and converting again with another
  card charges the same invoice again. It becomes active when paid (`membership_invoice_paid`).
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from django.contrib.auth import authenticate
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Lower

from accounts.models import Role, User, normalize_email
from accounts.services import role_grant
from billing.models import BillingCustomer, Invoice, InvoiceLineKind, StripeCommand
from billing.money import money_display
from billing.services import (
    billing_customer_create,
    billing_customer_payment_method_set,
    invoice_pay_retry,
)
from config import clock
from config.errors import ConflictError, DomainError, NotFoundError
from employers.models import (
    Employer,
    EmployerContract,
    Enrollment,
    RosterChange,
    RosterChangeKind,
    RosterEntry,
)
from memberships.models import (
    LIVE_STATUSES,
    Market,
    Member,
    MemberMarket,
    Membership,
    MembershipEvent,
    MembershipStatus,
    Price,
    PrimeVerification,
)
from memberships.periods import period_end
from memberships.prime import token_fingerprint
from memberships.selectors import (
    SPONSORED_PRICE_CODE,
    member_market_on,
    membership_renewal_price_get,
    price_active_get,
)
from memberships.services import (
    member_create,
    membership_event_note,
    membership_fee_invoice_create,
    membership_transition,
    prime_check_for_price,
)
from notifications.models import EmailNotification, NotificationKind
from notifications.services import notification_queue, notifications_queue_many

# How many roster entries one round of the termination receiver reads and writes at once.
TERMINATION_CHUNK = 5000


class EmployerCodeInvalidError(NotFoundError):
    code = "employer_code_invalid"


class NoEligibleEmployeeError(NotFoundError):
    code = "no_eligible_employee"


class AlreadyEnrolledError(ConflictError):
    code = "already_enrolled"


class IndividualMembershipExistsError(ConflictError):
    code = "individual_membership_exists"


class NotConvertibleError(ConflictError):
    code = "not_convertible"


def month_end(day: dt.date) -> dt.date:
    """The last day of `day`'s month."""
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def enrollment_ends_on(*, eligible_until: dt.date, starts_on: dt.date) -> dt.date:
    """The contract's rule: covered to the end of the month of the last eligible day (and at
    least through the month the enrollment started in)."""
    return month_end(max(eligible_until, starts_on))


def contract_in_force_get(*, employer_id: int, on: dt.date) -> EmployerContract | None:
    return (
        EmployerContract.objects.filter(employer_id=employer_id, effective_from__lte=on)
        .filter(Q(effective_until__isnull=True) | Q(effective_until__gt=on))
        .first()
    )


def _field_error(field: str, message: str) -> DomainError:
    """A field error in the serializers' shape (`invalid`, details per field)."""
    error = DomainError(message, details={field: [{"message": message, "code": "invalid"}]})
    error.code = "invalid"
    return error


def _day(day: dt.date) -> str:
    return f"{day:%B} {day.day}, {day.year}"


# --- enroll ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EnrollInput:
    employer_code: str
    password: str
    full_name: str
    date_of_birth: dt.date
    market_slug: str
    work_email: str = ""
    external_id: str = ""
    payment_method_id: str = ""


@dataclass(frozen=True)
class EnrollResult:
    user: User
    membership: Membership
    enrollment: Enrollment
    member_share_cents: int


def employee_enroll(*, data: EnrollInput) -> EnrollResult:
    """Enroll an eligible employee in a sponsored membership (see the module docstring)."""
    today = clock.today()
    code = data.employer_code.strip().upper()
    employer = Employer.objects.filter(code=code).first()
    contract = contract_in_force_get(employer_id=employer.pk, on=today) if employer else None
    if employer is None or contract is None:
        raise EmployerCodeInvalidError("No employer offers enrollment with this code today.")
    market = Market.objects.filter(slug=data.market_slug).first()
    if market is None:
        raise _field_error("market", f"No market {data.market_slug!r}.")
    share = contract.member_share_cents
    if share and not data.payment_method_id:
        raise _field_error(
            "payment_method_id",
            f"Your employer pays part of the membership; your share of "
            f"{money_display(amount_cents=share, currency=contract.currency)} a month is "
            "charged to a card: send a Stripe PaymentMethod id.",
        )
    price = price_active_get(code=SPONSORED_PRICE_CODE, on=today, sold_individually=False)
    with transaction.atomic():
        entry = _eligible_entry_lock(employer=employer, data=data, on=today)
        enrolled = Enrollment.objects.filter(entry=entry).filter(
            Q(ends_on__isnull=True) | Q(ends_on__gte=today)
        )
        if enrolled.exists():
            raise AlreadyEnrolledError("This employee is enrolled already.")
        user, member = _enrollee(
            email=normalize_email(entry.work_email), data=data, market=market, on=today
        )
        _customer_ready(user=user, payment_method_id=data.payment_method_id if share else "")
        membership = Membership.objects.create(
            member=member,
            price=price,
            sponsor=employer,
            current_period_start=today,
            current_period_end=month_end(today),
        )
        MembershipEvent.objects.create(
            membership=membership,
            kind="enrolled",
            to_status=MembershipStatus.PENDING,
            actor=user,
            data={"employer_id": employer.pk, "roster_entry_id": entry.pk},
        )
        membership_transition(
            membership=membership,
            to_status=MembershipStatus.ACTIVE,
            kind="sponsorship_started",
            actor=user,
            reason=f"sponsored by employer {employer.pk}",
            data={"employer_id": employer.pk, "contract_id": contract.pk},
        )
        enrollment = Enrollment.objects.create(
            employer=employer, entry=entry, membership=membership, starts_on=today
        )
        RosterChange.objects.create(
            employer=employer,
            entry=entry,
            kind=RosterChangeKind.ENROLLED,
            actor=user,
            changes={
                "enrollment_id": [None, enrollment.pk],
                "starts_on": [None, today.isoformat()],
            },
        )
        notification_queue(
            user_id=user.pk,
            kind=NotificationKind.ENROLLMENT_CONFIRMED,
            dedupe_key=f"enrollment:{enrollment.pk}:confirmed",
            context={
                "employer": employer.name,
                "plan": price.name,
                "starts_on": _day(today),
                "member_share": money_display(amount_cents=share, currency=contract.currency)
                if share
                else "",
            },
        )
    return EnrollResult(user, membership, enrollment, member_share_cents=share)


def _eligible_entry_lock(*, employer: Employer, data: EnrollInput, on: dt.date) -> RosterEntry:
    """The roster entry the identity names, eligible on `on`, locked; else the generic 404."""
    eligible = RosterEntry.objects.filter(
        employer=employer, eligible_from__lte=on, date_of_birth=data.date_of_birth
    ).filter(Q(eligible_until__isnull=True) | Q(eligible_until__gte=on))
    if data.work_email:
        matches = eligible.alias(email_lower=Lower("work_email")).filter(
            email_lower=normalize_email(data.work_email)
        )
    else:
        matches = eligible.filter(external_id=data.external_id.strip())
    entry = matches.select_for_update().first() if (data.work_email or data.external_id) else None
    if entry is None:
        raise NoEligibleEmployeeError("No eligible employee matches these details.")
    return entry


def _enrollee(*, email: str, data: EnrollInput, market: Market, on: dt.date) -> tuple[User, Member]:
    """The enrolling person: a new user and member, or the existing account with this email
    (its password must match, and it must have no live membership)."""
    existing = User.objects.filter(email=email).first()
    if existing is None:
        return member_create(
            email=email,
            password=data.password,
            full_name=data.full_name,
            date_of_birth=data.date_of_birth,
            market=market,
            on=on,
        )
    if authenticate(email=email, password=data.password) is None:
        raise ConflictError(
            "An account with this work email exists already: enroll with its password.",
            details={"field": "password"},
        )
    live = Membership.objects.filter(member__user=existing, status__in=LIVE_STATUSES).first()
    if live is not None and live.sponsor_id is None:
        raise IndividualMembershipExistsError(
            "You have an individual membership. Cancel it now (a prorated refund of the unused "
            "days goes back to your card) with POST /api/v1/me/membership/cancel/ "
            '{"when": "now"}, then enroll again.',
            details={"membership_id": live.pk, "cancel_url": "/api/v1/me/membership/cancel/"},
        )
    if live is not None:
        raise AlreadyEnrolledError("You have a sponsored membership already.")
    role_grant(user=existing, role=Role.MEMBER)
    member, created = Member.objects.get_or_create(
        user=existing, defaults={"date_of_birth": data.date_of_birth}
    )
    current_market = None if created else member_market_on(member=member, on=on)
    if current_market is None or current_market.pk != market.pk:
        MemberMarket.objects.update_or_create(
            member=member, effective_from=on, defaults={"market": market, "changed_by": existing}
        )
    return existing, member


def _customer_ready(*, user: User, payment_method_id: str) -> BillingCustomer:
    """The member's Stripe customer (created through the outbox), with the card to attach."""
    customer = BillingCustomer.objects.filter(user=user).first()
    if customer is None:
        return billing_customer_create(
            email=user.email, name=user.full_name, user=user, payment_method_id=payment_method_id
        )
    if payment_method_id:
        customer = billing_customer_payment_method_set(
            customer=customer, payment_method_id=payment_method_id
        )
    return customer


# --- end of sponsorship ------------------------------------------------------------------------


def enrollments_end_for_terminated_entries(
    *, entry_ids: Sequence[int], actor: User | None = None
) -> int:
    """Set the end of every not-yet-ended enrollment of these (terminated) roster entries by
    the contract's rule, with its history, event and email. Returns how many changed."""
    ids = sorted(set(entry_ids))
    changed = 0
    for start in range(0, len(ids), TERMINATION_CHUNK):
        changed += _enrollments_end_chunk(
            entry_ids=ids[start : start + TERMINATION_CHUNK], actor=actor
        )
    return changed


@transaction.atomic
def _enrollments_end_chunk(*, entry_ids: Sequence[int], actor: User | None) -> int:
    today = clock.today()
    now = clock.now()
    enrollments = list(
        Enrollment.objects.filter(
            entry_id__in=entry_ids,
            entry__eligible_until__isnull=False,
            membership__status__in=LIVE_STATUSES,
        )
        .filter(Q(ends_on__isnull=True) | Q(ends_on__gte=today))
        .select_related("entry", "employer", "membership__member", "membership__price")
        .select_for_update(of=("self",))
        .order_by("id")
    )
    changes, events, notifications, updated = [], [], [], []
    for enrollment in enrollments:
        eligible_until = enrollment.entry.eligible_until
        if eligible_until is None:  # filtered out by the query
            continue
        ends_on = enrollment_ends_on(eligible_until=eligible_until, starts_on=enrollment.starts_on)
        if enrollment.ends_on == ends_on:
            continue  # told twice about the same termination
        before = enrollment.ends_on.isoformat() if enrollment.ends_on else None
        enrollment.ends_on = ends_on
        updated.append(enrollment)
        membership = enrollment.membership
        changes.append(
            RosterChange(
                employer_id=enrollment.employer_id,
                entry_id=enrollment.entry_id,
                kind=RosterChangeKind.ENROLLMENT_ENDED,
                actor=actor,
                changes={"ends_on": [before, ends_on.isoformat()]},
                created_at=now,
            )
        )
        events.append(
            MembershipEvent(
                membership=membership,
                kind="sponsorship_ending",
                from_status=membership.status,
                to_status=membership.status,
                actor=actor,
                reason="the employer's roster no longer lists the member as eligible",
                data={
                    "enrollment_id": enrollment.pk,
                    "eligible_until": eligible_until.isoformat(),
                    "ends_on": ends_on.isoformat(),
                },
                created_at=now,
            )
        )
        notifications.append(
            EmailNotification(
                kind=NotificationKind.SPONSORSHIP_ENDING,
                user_id=membership.member.user_id,
                dedupe_key=f"enrollment:{enrollment.pk}:ending:{ends_on.isoformat()}",
                context={
                    "employer": enrollment.employer.name,
                    "plan": membership.price.name,
                    "ends_on": _day(ends_on),
                    "convert_url": "/api/v1/me/membership/convert/",
                },
                created_at=now,
                next_attempt_at=now,
            )
        )
    if updated:
        Enrollment.objects.bulk_update(updated, ["ends_on"], batch_size=1000)
        RosterChange.objects.bulk_create(changes, batch_size=1000)
        MembershipEvent.objects.bulk_create(events, batch_size=1000)
        notifications_queue_many(notifications=notifications)
    return len(updated)


@dataclass
class SponsoredEndReport:
    ended: int = 0
    converted: int = 0


def sponsored_memberships_end_due(*, as_of: dt.date, chunk_size: int = 500) -> SponsoredEndReport:
    """Cancel every live sponsored membership whose enrollment ended before `as_of`, and start
    the individual memberships their members chose (see the module docstring)."""
    report = SponsoredEndReport()
    while _end_due_chunk(as_of=as_of, chunk_size=chunk_size, report=report) == chunk_size:
        pass
    return report


@transaction.atomic
def _end_due_chunk(*, as_of: dt.date, chunk_size: int, report: SponsoredEndReport) -> int:
    due = list(
        Membership.objects.filter(
            sponsor__isnull=False, status__in=LIVE_STATUSES, enrollment__ends_on__lt=as_of
        )
        .select_related("enrollment", "next_price", "price", "member")
        .order_by("enrollment__ends_on", "id")
        .select_for_update(skip_locked=True, of=("self",))[:chunk_size]
    )
    for membership in due:
        ends_on = membership.enrollment.ends_on
        if ends_on is None:  # filtered out by the query
            continue
        membership_transition(
            membership=membership,
            to_status=MembershipStatus.CANCELED,
            kind="sponsorship_ended",
            reason="the employer's sponsorship ended",
            data={"enrollment_id": membership.enrollment.pk, "ends_on": ends_on.isoformat()},
        )
        report.ended += 1
        next_day = ends_on + dt.timedelta(days=1)
        if membership.next_price_id is not None and _scheduled_conversion_start(
            sponsored=membership, start=next_day
        ):
            report.converted += 1
    return len(due)


def _scheduled_conversion_start(*, sponsored: Membership, start: dt.date) -> bool:
    """The individual membership the member chose before the sponsorship ended, from `start`:
    at the chosen plan's price that day, or the standard price when Prime has lapsed."""
    try:
        renewal = membership_renewal_price_get(membership=sponsored, start=start)
    except NotFoundError as exc:
        membership_event_note(
            membership=sponsored,
            kind="conversion_not_started",
            reason=exc.message,
            data={"price": sponsored.next_price.code if sponsored.next_price else None},
        )
        return False
    membership, _ = _individual_membership_start(
        member=sponsored.member, price=renewal.price, start=start, actor=None, previous=sponsored
    )
    if renewal.prime_lapsed:
        membership_event_note(
            membership=membership,
            kind="prime_lapsed",
            reason="Prime is not verified for the first day; started at the standard price",
            data={
                "was": renewal.planned.code,
                "now": renewal.price.code,
                "amount_cents": renewal.price.amount_cents,
            },
        )
    return True


# --- conversion --------------------------------------------------------------------------------


def _individual_membership_start(
    *, member: Member, price: Price, start: dt.date, actor: User | None, previous: Membership
) -> tuple[Membership, Invoice]:
    """A pending individual membership from `start` and its first invoice, queued for Stripe
    (the sign-up path: activated by `membership_invoice_paid` once paid)."""
    end = period_end(start, price.interval)
    membership = Membership.objects.create(
        member=member, price=price, current_period_start=start, current_period_end=end
    )
    MembershipEvent.objects.create(
        membership=membership,
        kind="converted_from_sponsored",
        to_status=MembershipStatus.PENDING,
        actor=actor,
        data={"from_membership_id": previous.pk, "price": price.code},
    )
    customer = BillingCustomer.objects.get(user_id=member.user_id)
    invoice = membership_fee_invoice_create(
        membership=membership,
        customer=customer,
        price=price,
        start=start,
        end=end,
        description="Individual membership after employer sponsorship",
    )
    return membership, invoice


@dataclass(frozen=True)
class ConversionResult:
    membership: Membership  # the individual one, or the ending sponsored one when scheduled
    starts_on: dt.date
    scheduled: bool  # True: starts when the sponsorship ends (the daily run starts it)
    invoice: Invoice | None
    command_ids: list[int]  # what must reach Stripe for the first charge, in order


def membership_convert(
    *, user: User, price_code: str, payment_method_id: str, prime_token: str = ""
) -> ConversionResult:
    """Convert the caller's ending or ended sponsored membership to an individual one (see the
    module docstring)."""
    memberships = Membership.objects.filter(member__user=user).select_related("price", "member")
    live = memberships.filter(status__in=LIVE_STATUSES).first()
    if live is None:
        latest = memberships.order_by("-created_at", "-id").first()
        if latest is None:
            raise NotFoundError("You have no membership.")
        if latest.sponsor_id is None:
            raise NotConvertibleError(
                "Only a membership your employer sponsored converts; sign up for a new one."
            )
        return _convert_now(
            user=user,
            previous=latest,
            price_code=price_code,
            payment_method_id=payment_method_id,
            prime_token=prime_token,
        )
    if live.sponsor_id is None:
        converted = live.events.filter(kind="converted_from_sponsored").exists()
        if live.status == MembershipStatus.PENDING and converted:
            return _convert_retry(user=user, membership=live, payment_method_id=payment_method_id)
        raise NotConvertibleError("Your membership is an individual one already.")
    enrollment = Enrollment.objects.get(membership=live)
    if enrollment.ends_on is None:
        raise NotConvertibleError(
            "Your employer still sponsors your membership; it converts once the sponsorship "
            "is ending."
        )
    return _convert_scheduled(
        user=user,
        sponsored=live,
        start=enrollment.ends_on + dt.timedelta(days=1),
        price_code=price_code,
        payment_method_id=payment_method_id,
        prime_token=prime_token,
    )


def _price_and_prime(
    *, member: Member, price_code: str, prime_token: str, on: dt.date
) -> tuple[Price, PrimeVerification | None]:
    try:
        price = price_active_get(code=price_code, on=on)
    except NotFoundError as exc:
        raise _field_error("price_code", exc.message) from exc
    check = prime_check_for_price(price=price, token=prime_token, on=on)
    verification = None
    if check is not None:
        verification = PrimeVerification(
            member=member,
            provider=check.provider,
            status=check.status,
            verified_until=check.verified_until,
            token_fingerprint=token_fingerprint(prime_token),
        )
    return price, verification


def _pending_command_ids(*, user: User) -> list[int]:
    return list(
        StripeCommand.objects.filter(customer__user=user, status__in=["pending", "in_progress"])
        .order_by("id")
        .values_list("id", flat=True)
    )


def _convert_now(
    *,
    user: User,
    previous: Membership,
    price_code: str,
    payment_method_id: str,
    prime_token: str,
) -> ConversionResult:
    today = clock.today()
    price, verification = _price_and_prime(
        member=previous.member, price_code=price_code, prime_token=prime_token, on=today
    )
    with transaction.atomic():
        Member.objects.select_for_update().get(pk=previous.member_id)  # one conversion at a time
        if Membership.objects.filter(
            member_id=previous.member_id, status__in=LIVE_STATUSES
        ).exists():
            raise NotConvertibleError("You have a live membership already.")
        if verification is not None:
            verification.save()
        _customer_ready(user=user, payment_method_id=payment_method_id)
        membership, invoice = _individual_membership_start(
            member=previous.member, price=price, start=today, actor=user, previous=previous
        )
        command_ids = _pending_command_ids(user=user)
    return ConversionResult(
        membership, today, scheduled=False, invoice=invoice, command_ids=command_ids
    )


def _convert_retry(
    *, user: User, membership: Membership, payment_method_id: str
) -> ConversionResult:
    """The first charge of a conversion was declined: the new card charges the same invoice."""
    invoice = Invoice.objects.filter(
        lines__membership=membership,
        lines__kind=InvoiceLineKind.MEMBERSHIP_FEE,
        lines__period_start=membership.current_period_start,
    ).get()
    with transaction.atomic():
        _customer_ready(user=user, payment_method_id=payment_method_id)
        invoice_pay_retry(invoice=invoice)
        command_ids = _pending_command_ids(user=user)
    return ConversionResult(
        membership,
        membership.current_period_start,
        scheduled=False,
        invoice=invoice,
        command_ids=command_ids,
    )


def _convert_scheduled(
    *,
    user: User,
    sponsored: Membership,
    start: dt.date,
    price_code: str,
    payment_method_id: str,
    prime_token: str,
) -> ConversionResult:
    price, verification = _price_and_prime(
        member=sponsored.member, price_code=price_code, prime_token=prime_token, on=start
    )
    with transaction.atomic():
        locked = Membership.objects.select_for_update().get(pk=sponsored.pk)
        if locked.status not in LIVE_STATUSES:
            raise NotConvertibleError("Your sponsored membership has just ended: try again.")
        if verification is not None:
            verification.save()
        _customer_ready(user=user, payment_method_id=payment_method_id)
        locked.next_price = price
        locked.save(update_fields=["next_price"])
        membership_event_note(
            membership=locked,
            kind="conversion_scheduled",
            actor=user,
            data={"price": price.code, "starts_on": start.isoformat()},
        )
        command_ids = _pending_command_ids(user=user)
    return ConversionResult(locked, start, scheduled=True, invoice=None, command_ids=command_ids)
