"""Employers that sponsor memberships for their employees: contracts, rosters (with their
change history and CSV imports), enrollments and the monthly employer invoices."""

from __future__ import annotations

import secrets
from typing import ClassVar, Self

from django.conf import settings
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import RangeOperators
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from accounts.scoping import ScopedQuerySet
from accounts.selectors import Access
from config import clock
from memberships.models import DateRange

EMPLOYER_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I


def employer_code_new() -> str:
    """A random enrollment code employees type in, e.g. `K7Q2-MZ4P`."""
    raw = "".join(secrets.choice(EMPLOYER_CODE_ALPHABET) for _ in range(8))
    return f"{raw[:4]}-{raw[4:]}"


class EmployerQuerySet(ScopedQuerySet["Employer"]):
    def visible_to(self, access: Access) -> Self:
        """Staff see every employer; an employer admin sees the employers they administer."""
        if access.is_staff_wide:
            return self
        return self.filter(id__in=access.employer_ids)


class Employer(models.Model):
    name = models.CharField(max_length=200)
    billing_email = models.EmailField()
    code = models.CharField(max_length=16, unique=True, default=employer_code_new)
    created_at = models.DateTimeField(default=timezone.now)

    objects: ClassVar[EmployerQuerySet] = EmployerQuerySet.as_manager()  # type: ignore[assignment]

    def __str__(self) -> str:
        return self.name


class ContributionKind(models.TextChoices):
    FULL = "full"  # the employer pays the whole PEPM price
    FIXED = "fixed"  # the employer pays up to a fixed amount per member-month; the member the rest


class EmployerContract(models.Model):
    """What an employer pays, from a date on: a price per enrolled member-month (PEPM), the
    employer's contribution, the invoice day of the month and net payment terms. Windows of one
    employer never overlap; `effective_until` is exclusive."""

    employer = models.ForeignKey(Employer, on_delete=models.PROTECT, related_name="contracts")
    pepm_cents = models.BigIntegerField()
    currency = models.CharField(max_length=3, default="usd")
    contribution_kind = models.CharField(max_length=8, choices=ContributionKind.choices)
    contribution_cents = models.BigIntegerField(default=0)  # per member-month, for FIXED
    billing_day = models.PositiveSmallIntegerField(default=1)  # 1..28
    net_days = models.PositiveSmallIntegerField(default=30)
    effective_from = models.DateField()
    effective_until = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        constraints: ClassVar = [
            models.CheckConstraint(name="contract_pepm_positive", condition=Q(pepm_cents__gt=0)),
            models.CheckConstraint(
                name="contract_billing_day_in_every_month",
                condition=Q(billing_day__gte=1, billing_day__lte=28),
            ),
            models.CheckConstraint(
                name="contract_contribution_fits",
                condition=Q(contribution_kind="full", contribution_cents=0)
                | Q(
                    contribution_kind="fixed",
                    contribution_cents__gte=0,
                    contribution_cents__lt=models.F("pepm_cents"),
                ),
            ),
            models.CheckConstraint(
                name="contract_window_ordered",
                condition=Q(effective_until__isnull=True)
                | Q(effective_until__gt=models.F("effective_from")),
            ),
            ExclusionConstraint(
                name="contract_windows_do_not_overlap",
                expressions=[
                    ("employer", RangeOperators.EQUAL),
                    (
                        DateRange("effective_from", "effective_until", models.Value("[)")),
                        RangeOperators.OVERLAPS,
                    ),
                ],
            ),
        ]

    def __str__(self) -> str:
        return f"contract #{self.pk} of {self.employer_id} from {self.effective_from}"

    @property
    def employer_share_cents(self) -> int:
        """What the employer pays for one full member-month."""
        if self.contribution_kind == ContributionKind.FULL:
            return self.pepm_cents
        return self.contribution_cents

    @property
    def member_share_cents(self) -> int:
        """What the member pays for one full member-month (on their own card)."""
        return self.pepm_cents - self.employer_share_cents


class RosterEntryQuerySet(ScopedQuerySet["RosterEntry"]):
    def visible_to(self, access: Access) -> Self:
        if access.is_staff_wide:
            return self
        return self.filter(employer_id__in=access.employer_ids)


class RosterEntry(models.Model):
    """One eligible employee of one employer. Eligible from `eligible_from` through
    `eligible_until` (inclusive; open-ended when null). Never deleted: a termination sets
    `eligible_until`, and every change is kept in `RosterChange`."""

    employer = models.ForeignKey(Employer, on_delete=models.PROTECT, related_name="roster")
    external_id = models.CharField(max_length=64)  # the employer's own employee id
    full_name = models.CharField(max_length=200)
    work_email = models.EmailField()  # stored lower-case
    date_of_birth = models.DateField()
    eligible_from = models.DateField()
    eligible_until = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(default=clock.now)

    objects: ClassVar[RosterEntryQuerySet] = RosterEntryQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["employer", "external_id"], name="roster_one_entry_per_external_id"
            ),
            models.UniqueConstraint(
                "employer", Lower("work_email"), name="roster_one_entry_per_work_email"
            ),
            models.CheckConstraint(
                name="roster_eligibility_ordered",
                condition=Q(eligible_until__isnull=True)
                | Q(eligible_until__gte=models.F("eligible_from")),
            ),
        ]
        indexes: ClassVar = [
            models.Index(fields=["employer", "full_name"], name="roster_by_name"),
        ]

    def __str__(self) -> str:
        return f"{self.external_id} of employer {self.employer_id}"


class RosterChangeKind(models.TextChoices):
    ADDED = "added"
    UPDATED = "updated"
    TERMINATED = "terminated"
    ENROLLED = "enrolled"
    ENROLLMENT_ENDED = "enrollment_ended"


class RosterChangeQuerySet(ScopedQuerySet["RosterChange"]):
    def visible_to(self, access: Access) -> Self:
        if access.is_staff_wide:
            return self
        return self.filter(employer_id__in=access.employer_ids)


class RosterChange(models.Model):
    """History of a roster and its enrollments: who changed what, when (and by which import)."""

    # Both covered by the (…, created_at) indexes below: no index of their own (imports write a
    # change per entry, and every index is paid per row).
    employer = models.ForeignKey(
        Employer, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    entry = models.ForeignKey(
        RosterEntry, on_delete=models.PROTECT, related_name="changes", db_index=False
    )
    kind = models.CharField(max_length=20, choices=RosterChangeKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    roster_import = models.ForeignKey(
        "RosterImport", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    changes = models.JSONField(default=dict, blank=True)  # field → [before, after]
    created_at = models.DateTimeField(default=clock.now)

    objects: ClassVar[RosterChangeQuerySet] = RosterChangeQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        indexes: ClassVar = [
            models.Index(fields=["employer", "created_at"], name="roster_change_by_time"),
            models.Index(fields=["entry", "created_at"], name="roster_change_by_entry"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} of roster entry {self.entry_id}"


class RosterImportStatus(models.TextChoices):
    QUEUED = "queued"  # uploaded, waiting for a worker
    VALIDATING = "validating"  # rows being read, checked and compared with the roster
    PREVIEW = "preview"  # validated: errors and the changes it would make, waiting to confirm
    APPLYING = "applying"
    APPLIED = "applied"
    FAILED = "failed"  # the file could not be read at all (see `failure`)


class RosterImportQuerySet(ScopedQuerySet["RosterImport"]):
    def visible_to(self, access: Access) -> Self:
        if access.is_staff_wide:
            return self
        return self.filter(employer_id__in=access.employer_ids)


class RosterImport(models.Model):
    """One uploaded roster file: validated into `RosterImportRow` staging rows and a preview,
    then applied on confirmation (all rows, or only the valid ones when the admin asks).
    With `replace`, entries missing from the file are terminated."""

    employer = models.ForeignKey(Employer, on_delete=models.PROTECT, related_name="imports")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    file_name = models.CharField(max_length=255, blank=True)
    file_sha256 = models.CharField(max_length=64)
    content = models.BinaryField()
    replace = models.BooleanField(default=False)
    status = models.CharField(
        max_length=16, choices=RosterImportStatus.choices, default=RosterImportStatus.QUEUED
    )
    failure = models.CharField(max_length=500, blank=True)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)  # [{line, field, message}], capped
    to_add = models.PositiveIntegerField(default=0)
    to_update = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    to_terminate = models.PositiveIntegerField(default=0)
    valid_rows_only = models.BooleanField(default=False)  # chosen at confirmation
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=clock.now)
    validated_at = models.DateTimeField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)  # since when it is applying
    applied_at = models.DateTimeField(null=True, blank=True)

    objects: ClassVar[RosterImportQuerySet] = RosterImportQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        indexes: ClassVar = [
            models.Index(fields=["employer", "created_at"], name="roster_import_by_time"),
        ]

    def __str__(self) -> str:
        return f"roster import #{self.pk} ({self.status})"


class RosterImportAction(models.TextChoices):
    ADD = "add"
    UPDATE = "update"
    UNCHANGED = "unchanged"


class RosterImportRow(models.Model):
    """A valid row of an import (staging, written with COPY), with what applying it would do."""

    # Covered by the (roster_import, …) indexes below.
    roster_import = models.ForeignKey(
        RosterImport, on_delete=models.CASCADE, related_name="rows", db_index=False
    )
    line = models.PositiveIntegerField()
    external_id = models.CharField(max_length=64)
    full_name = models.CharField(max_length=200)
    work_email = models.EmailField()
    date_of_birth = models.DateField()
    eligible_from = models.DateField()
    eligible_until = models.DateField(null=True, blank=True)
    action = models.CharField(max_length=12, choices=RosterImportAction.choices, blank=True)
    # Never looked up by entry, and entries are never deleted: no index.
    entry = models.ForeignKey(
        RosterEntry,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )

    class Meta:
        indexes: ClassVar = [
            models.Index(fields=["roster_import", "external_id"], name="import_row_by_external_id"),
            models.Index(fields=["roster_import", "line"], name="import_row_by_line"),
        ]

    def __str__(self) -> str:
        return f"line {self.line} of import {self.roster_import_id}"


class EnrollmentQuerySet(ScopedQuerySet["Enrollment"]):
    def visible_to(self, access: Access) -> Self:
        if access.is_staff_wide:
            return self
        return self.filter(employer_id__in=access.employer_ids)


class Enrollment(models.Model):
    """A roster entry enrolled in a sponsored membership, covered from `starts_on` through
    `ends_on` (inclusive; open while null). One open enrollment per roster entry."""

    employer = models.ForeignKey(Employer, on_delete=models.PROTECT, related_name="enrollments")
    entry = models.ForeignKey(RosterEntry, on_delete=models.PROTECT, related_name="enrollments")
    membership = models.OneToOneField(
        "memberships.Membership", on_delete=models.PROTECT, related_name="enrollment"
    )
    starts_on = models.DateField()
    ends_on = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(default=clock.now)

    objects: ClassVar[EnrollmentQuerySet] = EnrollmentQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["entry"],
                condition=Q(ends_on__isnull=True),
                name="enrollment_one_open_per_entry",
            ),
            models.CheckConstraint(
                name="enrollment_dates_ordered",
                condition=Q(ends_on__isnull=True) | Q(ends_on__gte=models.F("starts_on")),
            ),
        ]

    def __str__(self) -> str:
        return f"enrollment of roster entry {self.entry_id} in membership {self.membership_id}"


class EmployerInvoiceQuerySet(ScopedQuerySet["EmployerInvoice"]):
    def visible_to(self, access: Access) -> Self:
        if access.is_staff_wide:
            return self
        return self.filter(employer_id__in=access.employer_ids)


class EmployerInvoice(models.Model):
    """The employer's invoice for one month of member-months: at most one per employer and
    month, whoever (or however many runs) tries."""

    employer = models.ForeignKey(Employer, on_delete=models.PROTECT, related_name="invoices")
    period = models.DateField()  # the first day of the month billed
    invoice = models.OneToOneField(
        "billing.Invoice", on_delete=models.PROTECT, related_name="employer_invoice"
    )
    created_at = models.DateTimeField(default=clock.now)

    objects: ClassVar[EmployerInvoiceQuerySet] = EmployerInvoiceQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["employer", "period"], name="employer_invoice_one_per_month"
            ),
            models.CheckConstraint(
                name="employer_invoice_period_is_a_month", condition=Q(period__day=1)
            ),
        ]

    def __str__(self) -> str:
        return f"invoice of employer {self.employer_id} for {self.period:%Y-%m}"
