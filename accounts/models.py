"""Users (identified by email), their role grants, and bearer tokens."""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone


class Role(models.TextChoices):
    MEMBER = "member", "Member"
    EMPLOYER_ADMIN = "employer_admin", "Employer benefits admin"
    FINANCE_STAFF = "finance_staff", "Finance staff"
    PARTNER_VIEWER = "partner_viewer", "Partner viewer"
    OPERATOR_ADMIN = "operator_admin", "Operator admin"


def normalize_email(email: str) -> str:
    """Emails identify users case-insensitively; they are stored lower-cased and trimmed."""
    return email.strip().lower()


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **fields: Any) -> User:
        if not email:
            raise ValueError("A user needs an email address")
        user = self.model(email=normalize_email(email), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields: Any) -> User:
        fields.setdefault("is_staff", True)
        fields.setdefault("is_superuser", True)
        return self.create_user(email, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who can log in: member, employer admin, finance staff, partner viewer or operator
    admin (see RoleGrant). `is_staff` only opens the Django admin site."""

    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        constraints: ClassVar = [
            models.CheckConstraint(condition=Q(email=Lower("email")), name="user_email_lowercase"),
        ]

    def __str__(self) -> str:
        return self.email


class RoleGrant(models.Model):
    """One role of one user. Employer admins are scoped to one employer, partner viewers to one
    partner; the other roles carry no scope. A user may hold several grants (a benefits admin who
    is also a member). The database refuses a grant whose scope does not fit its role."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="role_grants")
    role = models.CharField(max_length=32, choices=Role.choices)
    employer = models.ForeignKey(
        "employers.Employer", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    partner = models.ForeignKey(
        "partners.Partner", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    granted_at = models.DateTimeField(default=timezone.now)
    granted_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints: ClassVar = [
            models.CheckConstraint(
                name="role_grant_scope_fits_role",
                condition=(
                    Q(role=Role.EMPLOYER_ADMIN, employer__isnull=False, partner__isnull=True)
                    | Q(role=Role.PARTNER_VIEWER, partner__isnull=False, employer__isnull=True)
                    | Q(
                        role__in=[Role.MEMBER, Role.FINANCE_STAFF, Role.OPERATOR_ADMIN],
                        employer__isnull=True,
                        partner__isnull=True,
                    )
                ),
            ),
            models.UniqueConstraint(
                fields=["user", "role", "employer", "partner"],
                nulls_distinct=False,
                name="role_grant_unique",
            ),
        ]

    def __str__(self) -> str:
        scope = self.employer_id or self.partner_id
        return f"{self.role}:{scope}" if scope else str(self.role)


class AccessToken(models.Model):
    """A bearer token. Only its SHA-256 digest is stored; the token itself is shown once."""

    digest = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="access_tokens")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes: ClassVar = [models.Index(fields=["user", "expires_at"])]

    def __str__(self) -> str:
        return f"token #{self.pk} of user #{self.user_id}"
