"""Seeds demo data: one user per role, two employers, three health-system partners.
Safe to run again: what exists is left as it is."""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import Role, User
from accounts.services import role_grant, user_create
from employers.models import Employer
from employers.services import employer_create
from partners.models import Partner
from partners.services import partner_create

PARTNERS = ["Cleveland Clinic", "Hartford HealthCare", "Virginia Mason Franciscan Health"]
EMPLOYERS = [("Acme Logistics", "benefits@acme.example"), ("Globex Retail", "ap@globex.example")]


class Command(BaseCommand):
    help = "Create demo users for every role, employers and partners (idempotent)."

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        password = os.environ.get("DEMO_PASSWORD", "demo-password-2026")
        partners = {
            name: Partner.objects.filter(name=name).first() or partner_create(name=name)
            for name in PARTNERS
        }
        employers = {
            name: Employer.objects.filter(name=name).first()
            or employer_create(name=name, billing_email=email)
            for name, email in EMPLOYERS
        }
        demo_users: list[tuple[str, str, Role, dict[str, Any]]] = [
            ("operator@demo.example", "Olivia Operator", Role.OPERATOR_ADMIN, {}),
            ("finance@demo.example", "Frank Finance", Role.FINANCE_STAFF, {}),
            ("member@demo.example", "Maya Member", Role.MEMBER, {}),
            (
                "benefits@acme.demo.example",
                "Abel Acme-Admin",
                Role.EMPLOYER_ADMIN,
                {"employer": employers["Acme Logistics"]},
            ),
            (
                "benefits@globex.demo.example",
                "Gina Globex-Admin",
                Role.EMPLOYER_ADMIN,
                {"employer": employers["Globex Retail"]},
            ),
            (
                "viewer@clevelandclinic.demo.example",
                "Carl Clinic-Viewer",
                Role.PARTNER_VIEWER,
                {"partner": partners["Cleveland Clinic"]},
            ),
        ]
        for email, full_name, role, scope in demo_users:
            user = User.objects.filter(email=email).first()
            if user is None:
                user = user_create(email=email, password=password, full_name=full_name)
            if role == Role.OPERATOR_ADMIN and not user.is_superuser:
                user.is_staff = user.is_superuser = True
                user.save(update_fields=["is_staff", "is_superuser"])
            role_grant(user=user, role=role, **scope)
            self.stdout.write(f"  {role.label:<24} {email}")
        self.stdout.write(
            self.style.SUCCESS(f"Demo data ready; every demo user's password: {password}")
        )
