"""Health-system partners that share membership revenue."""

from __future__ import annotations

from typing import ClassVar, Self

from django.db import models
from django.utils import timezone

from accounts.scoping import ScopedQuerySet
from accounts.selectors import Access


class PartnerQuerySet(ScopedQuerySet["Partner"]):
    def visible_to(self, access: Access) -> Self:
        """Staff see every partner; a partner viewer sees only their own partner."""
        if access.is_staff_wide:
            return self
        return self.filter(id__in=access.partner_ids)


class Partner(models.Model):
    name = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects: ClassVar[PartnerQuerySet] = PartnerQuerySet.as_manager()  # type: ignore[assignment]

    def __str__(self) -> str:
        return self.name
