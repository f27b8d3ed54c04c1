"""Tenant scoping at the queryset level. Every model an endpoint exposes gets a QuerySet class
deriving from `ScopedQuerySet` that says, in one place, which rows a caller's Access may see.
`ScopedAPIView` (accounts/api/scoped_views.py) applies it to every list, detail and action, so
another tenant's object is simply not found (404)."""

from __future__ import annotations

from typing import Self, TypeVar

from django.db import models

from accounts.selectors import Access

_M = TypeVar("_M", bound=models.Model)


class ScopedQuerySet(models.QuerySet[_M]):
    def visible_to(self, access: Access) -> Self:
        raise NotImplementedError(f"{type(self).__name__} must define visible_to()")
