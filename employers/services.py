"""Employer writes for operator staff: employers (with their Stripe billing customer), contracts
and benefits-admin invitations. Roster writes are in `employers/roster.py`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode

from accounts.models import Role, RoleGrant, User, normalize_email
from accounts.services import role_grant, user_create
from billing.models import BillingCustomer
from billing.services import billing_customer_contact_update, billing_customer_create
from config import clock
from config.errors import ConflictError, DomainError
from employers.models import ContributionKind, Employer, EmployerContract
from notifications.models import NotificationKind
from notifications.services import notification_queue

CONTRACT_WINDOWS_CONSTRAINT = "contract_windows_do_not_overlap"


class InvalidInputError(DomainError):
    """Field errors found by a service, answered like a serializer's: 400 `invalid` with
    `details` mapping each field to a list of `{"message", "code"}`."""

    code = "invalid"

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(
            "Invalid input.",
            details={
                field: [{"message": message, "code": "invalid"}]
                for field, message in errors.items()
            },
        )


# --- employers ---------------------------------------------------------------------------------


@transaction.atomic
def employer_create(*, name: str, billing_email: str) -> Employer:
    """Create an employer (its enrollment code is generated) and the billing customer its
    invoices go to; the customer reaches Stripe through the outbox after the commit."""
    employer = Employer.objects.create(
        name=name.strip(), billing_email=normalize_email(billing_email)
    )
    billing_customer_create(email=employer.billing_email, name=employer.name, employer=employer)
    return employer


@transaction.atomic
def employer_update(
    *, employer: Employer, name: str | None = None, billing_email: str | None = None
) -> Employer:
    """Change an employer's name or billing email; the billing customer follows (and Stripe
    with it, through the outbox). The code never changes: employees already use it."""
    employer = Employer.objects.select_for_update().get(pk=employer.pk)
    if name is not None:
        employer.name = name.strip()
    if billing_email is not None:
        employer.billing_email = normalize_email(billing_email)
    employer.save(update_fields=["name", "billing_email"])
    customer = BillingCustomer.objects.filter(employer=employer).first()
    if customer is None:
        billing_customer_create(email=employer.billing_email, name=employer.name, employer=employer)
    elif (customer.email, customer.name) != (employer.billing_email, employer.name):
        billing_customer_contact_update(
            customer=customer, email=employer.billing_email, name=employer.name
        )
    return employer


# --- contracts ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContractInput:
    pepm_cents: int
    contribution_kind: ContributionKind
    effective_from: dt.date
    contribution_cents: int = 0
    billing_day: int = 1
    net_days: int = 30
    effective_until: dt.date | None = None  # exclusive
    currency: str = "usd"


def contract_input_errors(data: ContractInput) -> dict[str, str]:
    """The rules a contract must meet (the database checks them too), by field."""
    errors: dict[str, str] = {}
    if data.pepm_cents <= 0:
        errors["pepm_cents"] = "The price per member-month must be more than zero."
    if data.contribution_kind == ContributionKind.FULL and data.contribution_cents != 0:
        errors["contribution_cents"] = "A full contribution takes no amount (send 0 or omit it)."
    if data.contribution_kind == ContributionKind.FIXED and not (
        0 <= data.contribution_cents < data.pepm_cents
    ):
        errors["contribution_cents"] = (
            "A fixed contribution is at least 0 and less than the price per member-month "
            "(the member pays the rest); for the whole price use contribution_kind=full."
        )
    if not 1 <= data.billing_day <= 28:
        errors["billing_day"] = "The billing day is between 1 and 28 (a day every month has)."
    if data.net_days > 365:
        errors["net_days"] = "Net terms are at most 365 days."
    if data.effective_until is not None and data.effective_until <= data.effective_from:
        errors["effective_until"] = "The contract must end after it starts (the end is exclusive)."
    return errors


@transaction.atomic
def contract_create(*, employer: Employer, data: ContractInput) -> EmployerContract:
    """Add a contract to the employer. Its window [effective_from, effective_until) may not
    overlap another contract of the employer: that is a 409 naming the contract in the way.
    The employer row is locked so that two concurrent creations are checked one after the other
    (the database's exclusion constraint is the last word either way)."""
    errors = contract_input_errors(data)
    if errors:
        raise InvalidInputError(errors)
    Employer.objects.select_for_update().filter(pk=employer.pk).first()
    overlapping = _contracts_overlapping(
        employer=employer, start=data.effective_from, end=data.effective_until
    ).first()
    if overlapping is not None:
        raise _overlap_error(overlapping)
    try:
        with transaction.atomic():
            return EmployerContract.objects.create(
                employer=employer,
                pepm_cents=data.pepm_cents,
                currency=data.currency,
                contribution_kind=data.contribution_kind,
                contribution_cents=data.contribution_cents,
                billing_day=data.billing_day,
                net_days=data.net_days,
                effective_from=data.effective_from,
                effective_until=data.effective_until,
            )
    except IntegrityError as exc:
        if CONTRACT_WINDOWS_CONSTRAINT in str(exc):
            raise ConflictError(
                "This contract's dates overlap another contract of the employer.",
                details={"field": "effective_from"},
            ) from exc
        raise


@transaction.atomic
def contract_end(*, contract: EmployerContract, effective_until: dt.date) -> EmployerContract:
    """End a contract: `effective_until` (exclusive) becomes the first day it no longer
    applies, so a new contract can start that day. Only forward: the date may not be before
    today (months already billed keep the terms they were billed on), must be after the
    contract's start, and may not move an end already passed. Ending it later than it now ends
    may not run into the next contract (409)."""
    Employer.objects.select_for_update().filter(pk=contract.employer_id).first()
    locked = EmployerContract.objects.select_for_update().get(pk=contract.pk)
    today = clock.today()
    if locked.effective_until is not None and locked.effective_until <= today:
        raise ConflictError(
            f"Contract #{locked.pk} ended on {locked.effective_until.isoformat()} already.",
            details={"field": "effective_until"},
        )
    if effective_until < today:
        raise InvalidInputError({"effective_until": "A contract cannot end in the past."})
    if effective_until <= locked.effective_from:
        raise InvalidInputError(
            {"effective_until": "The end must come after the contract's effective_from."}
        )
    overlapping = (
        _contracts_overlapping(
            employer=locked.employer, start=locked.effective_from, end=effective_until
        )
        .exclude(pk=locked.pk)
        .first()
    )
    if overlapping is not None:
        raise _overlap_error(overlapping)
    locked.effective_until = effective_until
    locked.save(update_fields=["effective_until"])
    return locked


def _contracts_overlapping(
    *, employer: Employer, start: dt.date, end: dt.date | None
) -> QuerySet[EmployerContract]:
    query = EmployerContract.objects.filter(employer=employer).exclude(
        effective_until__isnull=False, effective_until__lte=start
    )
    if end is not None:
        query = query.filter(effective_from__lt=end)
    return query.order_by("effective_from")


def _overlap_error(other: EmployerContract) -> ConflictError:
    until = other.effective_until.isoformat() if other.effective_until else "open-ended"
    return ConflictError(
        f"This contract's dates overlap contract #{other.pk} "
        f"({other.effective_from.isoformat()} to {until}); contracts of one employer "
        "may not overlap.",
        details={"field": "effective_from", "conflicting_contract_id": other.pk},
    )


# --- benefits admins ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AdminInvitation:
    user: User
    grant: RoleGrant
    user_created: bool  # a new account, which sets its password through the emailed link
    invited: bool  # False when the user already was an admin of this employer (nothing sent)


@transaction.atomic
def employer_admin_invite(
    *, employer: Employer, email: str, full_name: str = "", invited_by: User | None
) -> AdminInvitation:
    """Make the person with `email` a benefits admin of `employer`. A new person gets an account
    without a usable password and an invitation email with a one-time link to set one (see
    `employer_admin_password_set`); an existing user gets the role and an email telling them so.
    Inviting an existing admin of this employer again changes nothing and sends nothing."""
    email = normalize_email(email)
    user = User.objects.filter(email=email).first()
    user_created = user is None
    if user is None:
        user = user_create(email=email, password=None, full_name=full_name.strip())
    already = RoleGrant.objects.filter(
        user=user, role=Role.EMPLOYER_ADMIN, employer=employer
    ).exists()
    grant = role_grant(
        user=user, role=Role.EMPLOYER_ADMIN, employer=employer, granted_by=invited_by
    )
    if not already:
        context: dict[str, Any] = {"employer_name": employer.name, "set_password_url": ""}
        if not user.has_usable_password():
            context["set_password_url"] = _set_password_url(user)
        notification_queue(
            user_id=user.pk,
            kind=NotificationKind.EMPLOYER_ADMIN_INVITATION,
            dedupe_key=f"employer-admin-invitation:{grant.pk}",
            context=context,
        )
    return AdminInvitation(user=user, grant=grant, user_created=user_created, invited=not already)


def _set_password_url(user: User) -> str:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return f"{settings.APP_BASE_URL.rstrip('/')}/set-password?uid={uid}&token={token}"


class InvalidSetPasswordLinkError(DomainError):
    code = "invalid_link"
    http_status = 400


@transaction.atomic
def employer_admin_password_set(*, uid: str, token: str, password: str) -> User:
    """Set the password of an invited admin from the link of their invitation. The token is
    Django's password-reset token: it expires after PASSWORD_RESET_TIMEOUT and is spent once the
    password changes, so the link works once."""
    try:
        user_id = int(force_str(urlsafe_base64_decode(uid)))
    except (ValueError, TypeError, OverflowError):
        user_id = 0
    user = User.objects.select_for_update().filter(pk=user_id, is_active=True).first()
    if user is None or not default_token_generator.check_token(user, token):
        raise InvalidSetPasswordLinkError("This link is invalid, expired or already used.")
    try:
        validate_password(password, user=user)
    except DjangoValidationError as exc:
        raise InvalidInputError({"password": " ".join(exc.messages)}) from exc
    user.set_password(password)
    user.save(update_fields=["password"])
    return user
