"""Writes about revenue-share agreements: creating and editing them (ending one is an edit of
`effective_until`). Each write records one `AgreementChange` with the actor and the fields
before and after, in the same transaction. The Django admin (ledger/admin.py) calls these."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction

from accounts.models import User
from ledger.models import AgreementChange, AgreementChangeKind, RevenueShareAgreement

AUDITED_FIELDS = (
    "partner_id",
    "market_id",
    "share_bps",
    "recoupment_total_cents",
    "recoupment_rate_bps",
    "effective_from",
    "effective_until",
)


def _json_value(value: object) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


def agreement_snapshot(*, agreement: RevenueShareAgreement) -> dict[str, Any]:
    """The audited fields as JSON values."""
    return {name: _json_value(getattr(agreement, name)) for name in AUDITED_FIELDS}


@transaction.atomic
def revenue_share_agreement_create(*, actor: User | None, **fields: Any) -> RevenueShareAgreement:
    """A new agreement (fields as on the model); the database checks windows and ranges."""
    agreement = RevenueShareAgreement.objects.create(**fields)
    AgreementChange.objects.create(
        agreement=agreement,
        kind=AgreementChangeKind.CREATED,
        actor=actor,
        changes={
            name: [None, value] for name, value in agreement_snapshot(agreement=agreement).items()
        },
    )
    return agreement


@transaction.atomic
def revenue_share_agreement_update(
    *, agreement: RevenueShareAgreement, actor: User | None, **fields: Any
) -> RevenueShareAgreement:
    """Change an agreement. A change of `effective_until` alone is recorded as `ended`; no
    change at all records nothing."""
    locked = RevenueShareAgreement.objects.select_for_update().get(pk=agreement.pk)
    before = agreement_snapshot(agreement=locked)
    for name, value in fields.items():
        setattr(locked, name, value)
    locked.save()
    after = agreement_snapshot(agreement=locked)
    changes = {
        name: [before[name], after[name]] for name in AUDITED_FIELDS if before[name] != after[name]
    }
    if changes:
        kind = (
            AgreementChangeKind.ENDED
            if set(changes) == {"effective_until"}
            else AgreementChangeKind.EDITED
        )
        AgreementChange.objects.create(agreement=locked, kind=kind, actor=actor, changes=changes)
    return locked
