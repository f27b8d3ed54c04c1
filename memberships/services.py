"""Membership writes. Every status change goes through `membership_transition`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import authenticate
from django.db import transaction

from accounts.models import Role, User, normalize_email
from accounts.services import role_grant, user_create
from billing.models import (
    BillingCustomer,
    Invoice,
    InvoiceLine,
    InvoiceLineKind,
    InvoiceStatus,
    Payment,
    PaymentStatus,
    StripeCommand,
)
from billing.proration import unused_amount_cents
from billing.services import (
    InvoiceLineInput,
    billing_customer_create,
    billing_customer_payment_method_set,
    invoice_create,
    invoice_pay_retry,
    refund_create,
)
from config import clock
from config.errors import ConflictError, DomainError, NotFoundError
from memberships.lifecycle import ALLOWED_TRANSITIONS, can_transition
from memberships.models import (
    BillingInterval,
    Market,
    Member,
    MemberMarket,
    Membership,
    MembershipEvent,
    MembershipStatus,
    Price,
    PrimeVerification,
)
from memberships.notices import membership_event_notify
from memberships.periods import period_end
from memberships.prime import PrimeCheck, prime_verifier, token_fingerprint
from memberships.selectors import price_active_get
from memberships.signals import membership_service_ended


class InvalidTransitionError(ConflictError):
    code = "invalid_transition"


@transaction.atomic
def membership_transition(
    *,
    membership: Membership,
    to_status: MembershipStatus,
    kind: str,
    actor: User | None = None,
    reason: str = "",
    data: dict[str, Any] | None = None,
) -> Membership:
    """Move the membership to `to_status` under a row lock and record the event. Refuses what
    the table (memberships/lifecycle.py) does not allow."""
    locked = Membership.objects.select_for_update().get(pk=membership.pk)
    current = MembershipStatus(locked.status)
    if not can_transition(current, to_status):
        allowed = ", ".join(sorted(ALLOWED_TRANSITIONS[current])) or "nothing"
        raise InvalidTransitionError(
            f"A {current} membership cannot become {to_status} (allowed: {allowed}).",
            details={"from": current, "to": to_status},
        )
    locked.status = to_status
    update_fields = ["status"]
    ended = to_status in {MembershipStatus.CANCELED, MembershipStatus.EXPIRED}
    if ended:
        locked.ended_at = clock.now()
        update_fields.append("ended_at")
    locked.save(update_fields=update_fields)
    if ended:  # not served from today on
        membership_service_ended.send(
            sender=Membership, membership=locked, last_day=clock.today() - dt.timedelta(days=1)
        )
    event = MembershipEvent.objects.create(
        membership=locked,
        kind=kind,
        from_status=current,
        to_status=to_status,
        actor=actor,
        reason=reason,
        data=data or {},
    )
    membership_event_notify(event=event)
    membership.status = locked.status
    membership.ended_at = locked.ended_at
    return locked


def membership_event_note(
    *,
    membership: Membership,
    kind: str,
    actor: User | None = None,
    reason: str = "",
    data: dict[str, Any] | None = None,
) -> MembershipEvent:
    """Record something that happened to a membership without changing its status (a renewal,
    a scheduled change, a dunning retry). Status changes go through `membership_transition`.
    Either way the event's email, if it calls for one, is queued (memberships/notices.py)."""
    event = MembershipEvent.objects.create(
        membership=membership,
        kind=kind,
        from_status=membership.status,
        to_status=membership.status,
        actor=actor,
        reason=reason,
        data=data or {},
    )
    membership_event_notify(event=event)
    return event


# --- sign-up -----------------------------------------------------------------------------------


class PrimeNotVerifiedError(DomainError):
    code = "prime_not_verified"
    http_status = 400


def _invalid_field(field: str, message: str) -> DomainError:
    """A field error in the same shape as the serializers' (`invalid`, details per field)."""
    error = DomainError(message, details={field: [{"message": message, "code": "not_found"}]})
    error.code = "invalid"
    return error


@dataclass(frozen=True)
class SignupInput:
    email: str
    password: str
    full_name: str
    date_of_birth: dt.date
    market_slug: str
    price_code: str
    payment_method_id: str
    prime_token: str = ""


@dataclass(frozen=True)
class SignupResult:
    user: User
    membership: Membership
    invoice: Invoice
    command_ids: list[int]  # what must reach Stripe for the first charge, in order
    resumed: bool  # True when this completed an earlier sign-up whose card was declined


def member_create(
    *,
    email: str,
    password: str,
    full_name: str,
    date_of_birth: dt.date,
    market: Market,
    on: dt.date,
) -> tuple[User, Member]:
    """A new member: the user (by email), the member role, the member and their home market
    from `on`. Callers (sign-up, enrollment) hold the transaction."""
    user = user_create(email=email, password=password, full_name=full_name)
    role_grant(user=user, role=Role.MEMBER)
    member = Member.objects.create(user=user, date_of_birth=date_of_birth)
    MemberMarket.objects.create(member=member, market=market, effective_from=on, changed_by=user)
    return user, member


def member_signup(*, data: SignupInput) -> SignupResult:
    """Sign a new member up: user, member role, home market, Prime check, Stripe customer with
    the card, a pending membership for the period starting today and its first invoice, all
    committed together with the outbox rows that charge it (the caller pushes them).

    Signing up again with the same email and password while the first sign-up is still
    pending (its card was declined) resumes it with the new card instead of failing."""
    email = normalize_email(data.email)
    existing = User.objects.filter(email=email).first()
    if existing is not None:
        return _signup_resume(user=existing, data=data)
    today = clock.today()
    try:
        price = price_active_get(code=data.price_code, on=today)
    except NotFoundError as exc:
        raise _invalid_field("price_code", exc.message) from exc
    market = Market.objects.filter(slug=data.market_slug).first()
    if market is None:
        raise _invalid_field("market", f"No market {data.market_slug!r}.")
    prime = _prime_check_for(
        price_requires_prime=price.requires_prime, token=data.prime_token, on=today
    )
    with transaction.atomic():
        user, member = member_create(
            email=email,
            password=data.password,
            full_name=data.full_name,
            date_of_birth=data.date_of_birth,
            market=market,
            on=today,
        )
        if prime is not None:
            PrimeVerification.objects.create(
                member=member,
                provider=prime.provider,
                status=prime.status,
                verified_until=prime.verified_until,
                token_fingerprint=token_fingerprint(data.prime_token),
            )
        customer = billing_customer_create(
            email=email, name=data.full_name, user=user, payment_method_id=data.payment_method_id
        )
        membership = Membership.objects.create(
            member=member,
            price=price,
            current_period_start=today,
            current_period_end=period_end(today, price.interval),
        )
        MembershipEvent.objects.create(
            membership=membership,
            kind="signed_up",
            to_status=MembershipStatus.PENDING,
            actor=user,
            data={"price": price.code, "market": market.slug},
        )
        invoice = membership_fee_invoice_create(
            membership=membership,
            customer=customer,
            price=price,
            start=membership.current_period_start,
            end=membership.current_period_end,
        )
        command_ids = list(
            StripeCommand.objects.filter(customer=customer)
            .order_by("id")
            .values_list("id", flat=True)
        )
    return SignupResult(user, membership, invoice, command_ids, resumed=False)


def membership_fee_invoice_create(
    *,
    membership: Membership,
    customer: BillingCustomer,
    price: Price,
    start: dt.date,
    end: dt.date,
    description: str = "",
) -> Invoice:
    """The invoice for one period of a membership at `price` (one fee line, queued for Stripe;
    the database refuses a second fee for the same membership and period start)."""
    return invoice_create(
        customer=customer,
        lines=[
            InvoiceLineInput(
                description=price.name,
                amount_cents=price.amount_cents,
                period_start=start,
                period_end=end,
                kind=InvoiceLineKind.MEMBERSHIP_FEE,
                membership_id=membership.pk,
            )
        ],
        currency=price.currency,
        description=description,
    )


def prime_check_for_price(*, price: Price, token: str, on: dt.date) -> PrimeCheck | None:
    """Sign-up's Prime rule for any start of an individual membership: a Prime price needs
    `token` verified for day `on` (else PrimeNotVerifiedError); None for other prices."""
    return _prime_check_for(price_requires_prime=price.requires_prime, token=token, on=on)


def _prime_check_for(*, price_requires_prime: bool, token: str, on: dt.date) -> PrimeCheck | None:
    if not price_requires_prime:
        return None
    if not token:
        raise PrimeNotVerifiedError(
            "This price is for Prime members: send a Prime verification token.",
            details={"field": "prime_token"},
        )
    check = prime_verifier().verify(token=token, on=on)
    if not check.is_verified:
        raise PrimeNotVerifiedError(
            f"Prime membership could not be verified ({check.status}).",
            details={"field": "prime_token", "prime_status": check.status},
        )
    return check


def _signup_resume(*, user: User, data: SignupInput) -> SignupResult:
    """The same person retrying a sign-up whose first charge was declined: new card, charge
    the same first invoice again. Anyone else with this email gets a 409."""
    conflict = ConflictError("A user with this email already exists.", details={"field": "email"})
    if authenticate(email=user.email, password=data.password) is None:
        raise conflict
    membership = (
        Membership.objects.filter(member__user=user, status=MembershipStatus.PENDING)
        .select_related("price")
        .first()
    )
    if membership is None:
        raise conflict
    invoice = Invoice.objects.filter(
        lines__membership=membership, lines__kind=InvoiceLineKind.MEMBERSHIP_FEE
    ).get(lines__period_start=membership.current_period_start)
    if invoice.status == InvoiceStatus.PAID:
        return SignupResult(user, membership, invoice, [], resumed=True)
    with transaction.atomic():
        customer = BillingCustomer.objects.get(user=user)
        billing_customer_payment_method_set(
            customer=customer, payment_method_id=data.payment_method_id
        )
        invoice_pay_retry(invoice=invoice)
        command_ids = list(
            StripeCommand.objects.filter(customer=customer, status__in=["pending", "in_progress"])
            .order_by("id")
            .values_list("id", flat=True)
        )
    return SignupResult(user, membership, invoice, command_ids, resumed=True)


# --- billing hooks -----------------------------------------------------------------------------

# Invoice lines that charge for a membership period (a regular one, or one a plan change began).
MEMBERSHIP_CHARGE_KINDS = (InvoiceLineKind.MEMBERSHIP_FEE, InvoiceLineKind.PLAN_CHANGE_FEE)


def membership_invoice_paid(*, invoice: Invoice) -> None:
    """An invoice with membership fees was paid: a pending membership (first payment) or a
    past-due one (a successful retry) becomes active. Runs in the transaction that records the
    payment."""
    memberships = Membership.objects.filter(
        invoice_lines__invoice=invoice,
        invoice_lines__kind__in=MEMBERSHIP_CHARGE_KINDS,
        status__in=[MembershipStatus.PENDING, MembershipStatus.PAST_DUE],
    ).distinct()
    for membership in memberships:
        membership_transition(
            membership=membership,
            to_status=MembershipStatus.ACTIVE,
            kind="activated" if membership.status == MembershipStatus.PENDING else "recovered",
            reason=f"invoice {invoice.number or invoice.pk} paid",
            data={"invoice_id": invoice.pk},
        )


# --- self-service ------------------------------------------------------------------------------


def _refuse_if_sponsored(membership: Membership) -> None:
    """An employer-sponsored membership follows the employer's roster: the member cannot
    cancel it or change its plan (they convert to an individual one when it ends)."""
    if membership.sponsor_id is not None:
        raise ConflictError(
            "This membership is sponsored by your employer: it ends when your employer ends "
            "it, and can then be converted to an individual membership "
            "(POST /api/v1/me/membership/convert/).",
            details={"sponsored": True},
        )


def membership_cancel_at_period_end(*, membership: Membership, actor: User) -> Membership:
    """Cancel when the paid period ends (the default cancellation): the bill run ends the
    membership instead of renewing it."""
    return _cancel_at_period_end_set(membership=membership, actor=actor, cancel=True)


def membership_cancellation_undo(*, membership: Membership, actor: User) -> Membership:
    """Resume a membership whose cancellation at period end is still pending."""
    return _cancel_at_period_end_set(membership=membership, actor=actor, cancel=False)


@transaction.atomic
def _cancel_at_period_end_set(*, membership: Membership, actor: User, cancel: bool) -> Membership:
    locked = Membership.objects.select_for_update().get(pk=membership.pk)
    _refuse_if_sponsored(locked)
    if locked.status not in {MembershipStatus.ACTIVE, MembershipStatus.PAST_DUE}:
        action = "canceled" if cancel else "resumed"
        raise ConflictError(f"A {locked.status} membership cannot be {action}.")
    if locked.cancel_at_period_end != cancel:
        locked.cancel_at_period_end = cancel
        locked.save(update_fields=["cancel_at_period_end"])
        membership_event_note(
            membership=locked,
            kind="cancellation_scheduled" if cancel else "cancellation_undone",
            actor=actor,
            data={"ends_after": locked.current_period_end.isoformat()} if cancel else {},
        )
    return locked


@transaction.atomic
def member_payment_method_replace(*, user: User, payment_method_id: str) -> None:
    """The member's new card: queued to Stripe as the default, and if a renewal is past due,
    charged again right away."""
    from memberships.dunning import dunning_retry_now  # dunning builds on these services

    customer = BillingCustomer.objects.filter(user=user).first()
    if customer is None:
        raise NotFoundError("You have no billing account yet.")
    billing_customer_payment_method_set(customer=customer, payment_method_id=payment_method_id)
    past_due = Membership.objects.filter(
        member__user=user, status=MembershipStatus.PAST_DUE
    ).first()
    if past_due is not None:
        dunning_retry_now(membership=past_due)


# --- plan changes ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanChange:
    membership: Membership
    immediate: bool
    invoice: Invoice | None  # the invoice of an immediate change (new plan minus the credit)
    credit_cents: int


@transaction.atomic
def membership_plan_change(*, membership: Membership, price_code: str, actor: User) -> PlanChange:
    """Change plan. Monthly → annual takes effect today: the unused days of the month are
    credited (billing/proration.py: by days, rounded down) against the annual price on one
    invoice, and a new annual period starts today. Any other change (annual → monthly, or
    between annual plans) takes effect when the current period ends (the bill run applies it).
    A Prime plan needs Prime verified for the day it takes effect."""
    locked = (
        Membership.objects.select_for_update()
        .select_related("price", "member")
        .get(pk=membership.pk)
    )
    _refuse_if_sponsored(locked)
    if locked.status != MembershipStatus.ACTIVE:
        raise ConflictError(f"A {locked.status} membership cannot change plan.")
    today = clock.today()
    try:
        new_price = price_active_get(code=price_code, on=today)
    except NotFoundError as exc:
        raise _invalid_field("price_code", exc.message) from exc
    if new_price.code == locked.price.code:
        raise ConflictError("The membership is on this plan already.")
    immediate = (
        locked.price.interval == BillingInterval.MONTH
        and new_price.interval == BillingInterval.YEAR
    )
    effective = today if immediate else locked.current_period_end + dt.timedelta(days=1)
    if new_price.requires_prime:
        latest = locked.member.prime_checks.order_by("-checked_at", "-id").first()
        if latest is None or latest.verified_until is None or latest.verified_until < effective:
            raise PrimeNotVerifiedError(
                "Prime is not verified for the day this plan would start.",
                details={"field": "price_code"},
            )
    if not immediate:
        locked.next_price = new_price
        locked.save(update_fields=["next_price"])
        membership_event_note(
            membership=locked,
            kind="plan_change_scheduled",
            actor=actor,
            data={
                "from": locked.price.code,
                "to": new_price.code,
                "effective": effective.isoformat(),
            },
        )
        return PlanChange(locked, immediate=False, invoice=None, credit_cents=0)
    credit = unused_amount_cents(
        amount_cents=locked.price.amount_cents,
        start=locked.current_period_start,
        end=locked.current_period_end,
        effective=today,
    )
    end = period_end(today, new_price.interval)
    customer = BillingCustomer.objects.get(user_id=locked.member.user_id)
    lines = [
        InvoiceLineInput(
            description=new_price.name,
            amount_cents=new_price.amount_cents,
            period_start=today,
            period_end=end,
            kind=InvoiceLineKind.PLAN_CHANGE_FEE,
            membership_id=locked.pk,
        )
    ]
    if credit:
        lines.append(
            InvoiceLineInput(
                description=f"Credit for unused days of {locked.price.name}",
                amount_cents=-credit,
                period_start=today,
                period_end=locked.current_period_end,
                kind=InvoiceLineKind.ADJUSTMENT,
                membership_id=locked.pk,
            )
        )
    invoice = invoice_create(
        customer=customer, lines=lines, currency=new_price.currency, description="Plan change"
    )
    previous = locked.price
    locked.price = new_price
    locked.next_price = None
    locked.current_period_start = today
    locked.current_period_end = end
    locked.save(update_fields=["price", "next_price", "current_period_start", "current_period_end"])
    membership_service_ended.send(
        sender=Membership, membership=locked, last_day=today - dt.timedelta(days=1)
    )
    membership_event_note(
        membership=locked,
        kind="plan_changed",
        actor=actor,
        data={
            "from": previous.code,
            "to": new_price.code,
            "credit_cents": credit,
            "invoice_id": invoice.pk,
        },
    )
    return PlanChange(locked, immediate=True, invoice=invoice, credit_cents=credit)


# --- immediate cancellation --------------------------------------------------------------------


@dataclass(frozen=True)
class ImmediateCancellation:
    membership: Membership
    refund_cents: int


@transaction.atomic
def membership_cancel_now(*, membership: Membership, actor: User) -> ImmediateCancellation:
    """Cancel today and refund the unused part of the current period's charge: by days, the
    day of cancellation unused, rounded down (billing/proration.py), never more than the
    payment has left to refund. An unpaid period refunds nothing."""
    locked = Membership.objects.select_for_update().get(pk=membership.pk)
    _refuse_if_sponsored(locked)
    if locked.status not in {MembershipStatus.ACTIVE, MembershipStatus.PAST_DUE}:
        raise ConflictError(f"A {locked.status} membership cannot be canceled.")
    today = clock.today()
    charge = (
        InvoiceLine.objects.filter(
            membership=locked,
            kind__in=MEMBERSHIP_CHARGE_KINDS,
            period_start=locked.current_period_start,
            invoice__status=InvoiceStatus.PAID,
        )
        .select_related("invoice")
        .first()
    )
    payment = (
        Payment.objects.filter(invoice=charge.invoice, status=PaymentStatus.SUCCEEDED).first()
        if charge is not None
        else None
    )
    refund_cents = 0
    if charge is not None and payment is not None:
        credit_lines = InvoiceLine.objects.filter(invoice=charge.invoice, amount_cents__lt=0)
        paid_for_period = charge.amount_cents + sum(line.amount_cents for line in credit_lines)
        unused = unused_amount_cents(
            amount_cents=max(paid_for_period, 0),
            start=locked.current_period_start,
            end=locked.current_period_end,
            effective=today,
        )
        already = sum(payment.refunds.values_list("amount_cents", flat=True))
        refund_cents = min(unused, payment.amount_cents - already)
        if refund_cents > 0:
            refund_create(payment=payment, amount_cents=refund_cents, reason="canceled early")
    membership_transition(
        membership=locked,
        to_status=MembershipStatus.CANCELED,
        kind="canceled_now",
        actor=actor,
        data={"refund_cents": refund_cents, "effective": today.isoformat()},
    )
    locked.refresh_from_db()
    return ImmediateCancellation(locked, refund_cents)


# --- home market -------------------------------------------------------------------------------


@transaction.atomic
def member_market_change(
    *, user: User, market_slug: str, effective_from: dt.date, actor: User
) -> MemberMarket:
    """Move the member's home market from `effective_from` on (today or later; the past is
    history and stays). A second change for the same day replaces the first."""
    member = Member.objects.select_for_update().filter(user=user).first()
    if member is None:
        raise NotFoundError("You are not a member.")
    if effective_from < clock.today():
        raise _invalid_field("effective_from", "A market change cannot take effect in the past.")
    market = Market.objects.filter(slug=market_slug).first()
    if market is None:
        raise _invalid_field("market", f"No market {market_slug!r}.")
    change, _ = MemberMarket.objects.update_or_create(
        member=member,
        effective_from=effective_from,
        defaults={"market": market, "changed_by": actor},
    )
    return change
