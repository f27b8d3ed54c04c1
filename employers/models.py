"""Employers that sponsor memberships for their employees."""

from __future__ import annotations

from typing import ClassVar, Self

from django.db import models
from django.utils import timezone

from accounts.scoping import ScopedQuerySet
from accounts.selectors import Access


class EmployerQuerySet(ScopedQuerySet["Employer"]):
    def visible_to(self, access: Access) -> Self:
        """Staff see every employer; an employer admin sees the employers they administer."""
        if access.is_staff_wide:
            return self
        return self.filter(id__in=access.employer_ids)


class Employer(models.Model):
    name = models.CharField(max_length=200)
    billing_email = models.EmailField()
    created_at = models.DateTimeField(default=timezone.now)

    objects: ClassVar[EmployerQuerySet] = EmployerQuerySet.as_manager()  # type: ignore[assignment]

    def __str__(self) -> str:
        return self.name
