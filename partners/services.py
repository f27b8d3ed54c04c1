from __future__ import annotations

from django.db import transaction

from partners.models import Partner


@transaction.atomic
def partner_create(*, name: str) -> Partner:
    return Partner.objects.create(name=name.strip())
