"""The base class for every API view that exposes tenant data."""

from __future__ import annotations

from typing import Any, ClassVar, final

from django.db.models import Model
from rest_framework.generics import GenericAPIView

from accounts.permissions import AllowedRoles
from accounts.scoping import ScopedQuerySet
from accounts.selectors import Access, user_access_get


class ScopedAPIView(GenericAPIView):  # type: ignore[type-arg]
    """`get_queryset()` always returns `base_queryset().visible_to(caller's access)`, so list,
    detail, update and custom actions are scoped alike, and another tenant's object is a 404.
    Subclasses narrow the rows with `base_queryset()`; they cannot replace `get_queryset()`."""

    allowed_roles: ClassVar[AllowedRoles]
    queryset: ScopedQuerySet[Any]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "get_queryset" in cls.__dict__:
            raise TypeError(
                f"{cls.__name__} overrides get_queryset(); override base_queryset() instead "
                "so that tenant scoping still applies."
            )

    @property
    def access(self) -> Access:
        return user_access_get(user=self.request.user)

    def base_queryset(self) -> ScopedQuerySet[Any]:
        return self.queryset.all()

    @final
    def get_queryset(self) -> ScopedQuerySet[Model]:
        return self.base_queryset().visible_to(self.access)
