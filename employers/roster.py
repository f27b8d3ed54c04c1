"""Roster writes, one entry at a time (the CSV import has its own module): add, update and
terminate. Every change writes a `RosterChange` (who, what kind, field → [before, after]) in
the same transaction, and a roster entry is never deleted.

Termination rule: the effective date is the LAST day the employee is eligible (covered);
`eligible_until` is set to it. It may not be before `eligible_from` (400). An entry whose
eligibility already ended before today cannot be terminated again with a later date (409:
that would revive past eligibility; correct the dates with an update instead); while the end
date is today or later, terminating again replaces it, earlier or later. Terminating with the
date the entry already has changes nothing. A termination (and an update that sets or moves
`eligible_until`) sends `employers.signals.roster_entries_terminated`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.db.models.functions import Lower

from accounts.models import User, normalize_email
from config import clock
from config.errors import ConflictError
from employers.models import Employer, RosterChange, RosterChangeKind, RosterEntry
from employers.services import InvalidInputError
from employers.signals import roster_entries_terminated

# Fields an update may change; the external id is the employer's key for the entry and stays.
UPDATABLE_FIELDS = ("full_name", "work_email", "date_of_birth", "eligible_from", "eligible_until")
RECORDED_FIELDS = ("external_id", *UPDATABLE_FIELDS)

_UNIQUE_CONSTRAINT_FIELDS = {
    "roster_one_entry_per_external_id": "external_id",
    "roster_one_entry_per_work_email": "work_email",
}


@dataclass(frozen=True)
class RosterEntryInput:
    external_id: str
    full_name: str
    work_email: str
    date_of_birth: dt.date
    eligible_from: dt.date
    eligible_until: dt.date | None = None


def _as_json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


def _entry_errors(
    *, full_name: str, date_of_birth: dt.date, eligible_from: dt.date, until: dt.date | None
) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not full_name:
        errors["full_name"] = "The name may not be blank."
    if date_of_birth > clock.today():
        errors["date_of_birth"] = "The date of birth is in the future."
    if until is not None and until < eligible_from:
        errors["eligible_until"] = "Eligibility cannot end before it starts."
    return errors


def _duplicate_check(
    *, employer_id: int, external_id: str | None, work_email: str | None, exclude_id: int | None
) -> None:
    """409 naming the field when another entry of the employer has this external id or work
    email (matched case-insensitively, through the constraint's lower(work_email) index)."""
    match = Q()
    if external_id is not None:
        match |= Q(external_id=external_id)
    if work_email is not None:
        match |= Q(email_lower=work_email)
    if not match:
        return
    query = RosterEntry.objects.alias(email_lower=Lower("work_email")).filter(
        match, employer_id=employer_id
    )
    if exclude_id is not None:
        query = query.exclude(pk=exclude_id)
    clash = query.values("external_id", "work_email").first()
    if clash is None:
        return
    if external_id is not None and clash["external_id"] == external_id:
        raise _duplicate_error("external_id")
    raise _duplicate_error("work_email")


def _duplicate_error(field: str) -> ConflictError:
    label = "external id" if field == "external_id" else "work email"
    return ConflictError(
        f"Another roster entry of this employer has this {label}.", details={"field": field}
    )


def _integrity_conflict(exc: IntegrityError) -> ConflictError | None:
    for constraint, field in _UNIQUE_CONSTRAINT_FIELDS.items():
        if constraint in str(exc):
            return _duplicate_error(field)
    return None


def _change_record(
    *, entry: RosterEntry, kind: RosterChangeKind, actor: User | None, changes: dict[str, Any]
) -> RosterChange:
    return RosterChange.objects.create(
        employer_id=entry.employer_id,
        entry=entry,
        kind=kind,
        actor=actor,
        changes=changes,
        created_at=clock.now(),
    )


def _announce_termination(*, entry: RosterEntry, actor: User | None) -> None:
    roster_entries_terminated.send(sender=RosterEntry, entry_ids=[entry.pk], actor=actor)


@transaction.atomic
def roster_entry_add(
    *, employer: Employer, data: RosterEntryInput, actor: User | None
) -> RosterEntry:
    """Add an eligible employee. A second entry with the same external id or work email in the
    employer is a 409 naming the field."""
    external_id = data.external_id.strip()
    work_email = normalize_email(data.work_email)
    full_name = data.full_name.strip()
    errors = _entry_errors(
        full_name=full_name,
        date_of_birth=data.date_of_birth,
        eligible_from=data.eligible_from,
        until=data.eligible_until,
    )
    if not external_id:
        errors["external_id"] = "The external id may not be blank."
    if errors:
        raise InvalidInputError(errors)
    _duplicate_check(
        employer_id=employer.pk, external_id=external_id, work_email=work_email, exclude_id=None
    )
    now = clock.now()
    try:
        with transaction.atomic():
            entry = RosterEntry.objects.create(
                employer=employer,
                external_id=external_id,
                full_name=full_name,
                work_email=work_email,
                date_of_birth=data.date_of_birth,
                eligible_from=data.eligible_from,
                eligible_until=data.eligible_until,
                created_at=now,
                updated_at=now,
            )
    except IntegrityError as exc:  # a concurrent add of the same employee won the race
        conflict = _integrity_conflict(exc)
        if conflict is None:
            raise
        raise conflict from exc
    _change_record(
        entry=entry,
        kind=RosterChangeKind.ADDED,
        actor=actor,
        changes={field: [None, _as_json(getattr(entry, field))] for field in RECORDED_FIELDS},
    )
    return entry


@transaction.atomic
def roster_entry_update(
    *, entry: RosterEntry, changes: dict[str, Any], actor: User | None
) -> RosterEntry:
    """Change some of `UPDATABLE_FIELDS` (others are refused). Only fields whose value really
    changes are recorded; a change of nothing writes nothing. Setting or moving
    `eligible_until` (a correction of a termination) announces the termination like
    `roster_entry_terminate` does; clearing it reinstates the entry (a new enrollment is then
    needed: ended enrollments do not reopen)."""
    unknown = set(changes) - set(UPDATABLE_FIELDS)
    if unknown:
        raise InvalidInputError(dict.fromkeys(unknown, "This field cannot be changed."))
    entry = RosterEntry.objects.select_for_update().get(pk=entry.pk)
    wanted = dict(changes)
    if "work_email" in wanted:
        wanted["work_email"] = normalize_email(wanted["work_email"])
    if "full_name" in wanted:
        wanted["full_name"] = wanted["full_name"].strip()
    diff = {
        field: [_as_json(getattr(entry, field)), _as_json(value)]
        for field, value in wanted.items()
        if getattr(entry, field) != value
    }
    if not diff:
        return entry
    merged = {field: wanted.get(field, getattr(entry, field)) for field in UPDATABLE_FIELDS}
    errors = _entry_errors(
        full_name=merged["full_name"],
        date_of_birth=merged["date_of_birth"],
        eligible_from=merged["eligible_from"],
        until=merged["eligible_until"],
    )
    if errors:
        raise InvalidInputError(errors)
    if "work_email" in diff:
        _duplicate_check(
            employer_id=entry.employer_id,
            external_id=None,
            work_email=merged["work_email"],
            exclude_id=entry.pk,
        )
    for field in diff:
        setattr(entry, field, merged[field])
    entry.updated_at = clock.now()
    try:
        with transaction.atomic():
            entry.save(update_fields=[*diff, "updated_at"])
    except IntegrityError as exc:
        conflict = _integrity_conflict(exc)
        if conflict is None:
            raise
        raise conflict from exc
    _change_record(entry=entry, kind=RosterChangeKind.UPDATED, actor=actor, changes=diff)
    if "eligible_until" in diff and entry.eligible_until is not None:
        _announce_termination(entry=entry, actor=actor)
    return entry


class TerminationRefusedError(ConflictError):
    code = "already_terminated"


@transaction.atomic
def roster_entry_terminate(
    *, entry: RosterEntry, effective_date: dt.date, actor: User | None
) -> RosterEntry:
    """End the entry's eligibility: `effective_date` is the last eligible day (see the module
    docstring for the rules on terminating again)."""
    entry = RosterEntry.objects.select_for_update().get(pk=entry.pk)
    if effective_date < entry.eligible_from:
        raise InvalidInputError(
            {
                "effective_date": "The last eligible day cannot be before eligibility starts "
                f"({entry.eligible_from.isoformat()})."
            }
        )
    before = entry.eligible_until
    if before == effective_date:
        return entry
    if before is not None and before < clock.today() and effective_date > before:
        raise TerminationRefusedError(
            f"This entry's eligibility already ended on {before.isoformat()}; it cannot be "
            "terminated again with a later date. Correct its dates with an update instead.",
            details={"field": "effective_date", "eligible_until": before.isoformat()},
        )
    entry.eligible_until = effective_date
    entry.updated_at = clock.now()
    entry.save(update_fields=["eligible_until", "updated_at"])
    _change_record(
        entry=entry,
        kind=RosterChangeKind.TERMINATED,
        actor=actor,
        changes={"eligible_until": [_as_json(before), _as_json(effective_date)]},
    )
    _announce_termination(entry=entry, actor=actor)
    return entry
