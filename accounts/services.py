"""Writes about users: creating them, granting roles, issuing and revoking bearer tokens."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.auth import authenticate
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import AccessToken, Role, RoleGrant, User, normalize_email
from accounts.selectors import user_access_forget
from config.errors import ConflictError, DomainError
from employers.models import Employer
from partners.models import Partner

TOKEN_PREFIX = "mbt_"  # noqa: S105  (a marker, not a secret)


class InvalidCredentialsError(DomainError):
    code = "authentication_failed"
    http_status = 401


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def user_create(*, email: str, password: str | None, full_name: str = "") -> User:
    """Create a user; a taken email (in any letter case) is a ConflictError."""
    email = normalize_email(email)
    try:
        with transaction.atomic():
            return User.objects.create_user(email, password, full_name=full_name)
    except IntegrityError as exc:
        if User.objects.filter(email=email).exists():
            raise ConflictError(
                "A user with this email already exists.", details={"field": "email"}
            ) from exc
        raise


@transaction.atomic
def role_grant(
    *,
    user: User,
    role: Role,
    employer: Employer | None = None,
    partner: Partner | None = None,
    granted_by: User | None = None,
) -> RoleGrant:
    """Give `user` the role (scoped to an employer or partner where the role needs one).
    Granting the same role twice is a no-op that returns the existing grant."""
    if role == Role.EMPLOYER_ADMIN and employer is None:
        raise DomainError("An employer admin grant needs an employer.")
    if role == Role.PARTNER_VIEWER and partner is None:
        raise DomainError("A partner viewer grant needs a partner.")
    if role not in {Role.EMPLOYER_ADMIN, Role.PARTNER_VIEWER} and (employer or partner):
        raise DomainError(f"The {role.label} role is not scoped to an employer or partner.")
    grant, _ = RoleGrant.objects.get_or_create(
        user=user,
        role=role,
        employer=employer,
        partner=partner,
        defaults={"granted_by": granted_by},
    )
    user_access_forget(user=user)
    return grant


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: datetime
    user: User


def access_token_issue(*, email: str, password: str) -> IssuedToken:
    """Check the credentials and issue a bearer token. A wrong email or password, or an inactive
    user, all raise the same InvalidCredentialsError: the answer does not reveal which emails
    exist."""
    user = authenticate(email=normalize_email(email), password=password)
    if not isinstance(user, User):
        raise InvalidCredentialsError("Email or password is incorrect.")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = timezone.now()
    User.objects.filter(pk=user.pk).update(last_login=now)
    record = AccessToken.objects.create(
        digest=token_digest(token),
        user=user,
        created_at=now,
        expires_at=now + settings.AUTH_TOKEN_TTL,
    )
    return IssuedToken(token=token, expires_at=record.expires_at, user=user)


def access_token_revoke(*, access_token: AccessToken) -> None:
    AccessToken.objects.filter(pk=access_token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
