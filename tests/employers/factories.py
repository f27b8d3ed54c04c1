"""Factories for employer models (shared by the employer tests). Rows made here skip the
services: use them to set up state, and the services or the API for what is under test."""

from __future__ import annotations

import datetime as dt

import factory
from factory.declarations import LazyAttribute, Sequence, SubFactory

from employers.models import ContributionKind, EmployerContract, RosterEntry
from tests.factories import EmployerFactory

__all__ = ["ContractFactory", "EmployerFactory", "RosterEntryFactory"]


class ContractFactory(factory.django.DjangoModelFactory[EmployerContract]):
    """A fully sponsored $20 PEPM contract from 2026-01-01, open-ended."""

    class Meta:
        model = EmployerContract

    employer = SubFactory(EmployerFactory)
    pepm_cents = 2000
    contribution_kind = ContributionKind.FULL
    contribution_cents = 0
    billing_day = 1
    net_days = 30
    effective_from = dt.date(2026, 1, 1)
    effective_until = None


class RosterEntryFactory(factory.django.DjangoModelFactory[RosterEntry]):
    """An employee eligible from 2026-01-01, open-ended."""

    class Meta:
        model = RosterEntry

    employer = SubFactory(EmployerFactory)
    external_id = Sequence(lambda n: f"E{n:06d}")
    full_name = Sequence(lambda n: f"Employee {n}")
    work_email = LazyAttribute(lambda entry: f"{entry.external_id.lower()}@work.example")
    date_of_birth = dt.date(1990, 5, 17)
    eligible_from = dt.date(2026, 1, 1)
    eligible_until = None
