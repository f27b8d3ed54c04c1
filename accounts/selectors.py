"""Reads about users: what a caller may see (their `Access`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth.models import AnonymousUser

from accounts.models import Role, RoleGrant, User

STAFF_WIDE_ROLES = frozenset({Role.FINANCE_STAFF, Role.OPERATOR_ADMIN})


@dataclass(frozen=True)
class Access:
    """Everything the scoping code needs to know about a caller: their roles and the tenants
    (employers, partners) they are scoped to. Computed once per request."""

    user_id: int | None
    roles: frozenset[Role]
    employer_ids: frozenset[int]
    partner_ids: frozenset[int]

    def has_any(self, roles: Iterable[Role]) -> bool:
        return not self.roles.isdisjoint(roles)

    @property
    def is_staff_wide(self) -> bool:
        """Finance staff and operator admins see every tenant."""
        return self.has_any(STAFF_WIDE_ROLES)


ANONYMOUS_ACCESS = Access(
    user_id=None, roles=frozenset(), employer_ids=frozenset(), partner_ids=frozenset()
)

_CACHE_ATTRIBUTE = "_cached_access"


def user_access_get(*, user: User | AnonymousUser) -> Access:
    """The caller's Access, read with one query and cached on the user object."""
    if not isinstance(user, User) or not user.is_active:
        return ANONYMOUS_ACCESS
    cached: Access | None = getattr(user, _CACHE_ATTRIBUTE, None)
    if cached is not None:
        return cached
    grants = list(
        RoleGrant.objects.filter(user=user).values_list("role", "employer_id", "partner_id")
    )
    access = Access(
        user_id=user.pk,
        roles=frozenset(Role(role) for role, _, _ in grants),
        employer_ids=frozenset(e for _, e, _ in grants if e is not None),
        partner_ids=frozenset(p for _, _, p in grants if p is not None),
    )
    setattr(user, _CACHE_ATTRIBUTE, access)
    return access


def user_access_forget(*, user: User) -> None:
    """Drop the cached Access after the user's grants change."""
    user.__dict__.pop(_CACHE_ATTRIBUTE, None)
