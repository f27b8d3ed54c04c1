from __future__ import annotations

from django.db import transaction

from employers.models import Employer


@transaction.atomic
def employer_create(*, name: str, billing_email: str) -> Employer:
    return Employer.objects.create(name=name.strip(), billing_email=billing_email.strip().lower())
