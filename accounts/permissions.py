"""Who may call a view. Deny by default: `RolePermission` is the project-wide default
permission class, and a view that does not declare `allowed_roles` lets nobody in."""

from __future__ import annotations

from enum import Enum
from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from accounts.models import Role
from accounts.selectors import user_access_get


class Audience(Enum):
    PUBLIC = "public"  # no authentication needed (token endpoint, sign-up, health)
    AUTHENTICATED = "authenticated"  # any logged-in user, whatever their roles


AllowedRoles = frozenset[Role] | Audience

STAFF_ROLES: frozenset[Role] = frozenset({Role.FINANCE_STAFF, Role.OPERATOR_ADMIN})


class RolePermission(BasePermission):
    """Grants access when the caller holds one of `view.allowed_roles`.

    Anonymous callers of a non-public view get 401; authenticated callers without a matching
    role get 403. Which *objects* they see is the queryset's business (ScopedAPIView)."""

    message = "Your role does not allow this."

    def has_permission(self, request: Request, view: Any) -> bool:
        allowed: AllowedRoles | None = getattr(view, "allowed_roles", None)
        if allowed is Audience.PUBLIC:
            return True
        if not request.user.is_authenticated:
            return False
        if allowed is Audience.AUTHENTICATED:
            return True
        if not isinstance(allowed, frozenset):
            return False  # undeclared: fail closed
        return user_access_get(user=request.user).has_any(allowed)
