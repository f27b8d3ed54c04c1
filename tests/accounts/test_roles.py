from __future__ import annotations

import pytest
from django.db import IntegrityError

from accounts.models import Role, RoleGrant, User
from accounts.selectors import user_access_get
from accounts.services import role_grant, user_create
from config.errors import ConflictError, DomainError
from tests.factories import EmployerFactory, PartnerFactory, UserFactory, user_with_role

pytestmark = pytest.mark.django_db


def test_user_create_stores_email_lowercased_and_refuses_a_case_variant():
    user = user_create(email="Ada@Example.test", password="s3cret-enough", full_name="Ada")
    assert user.email == "ada@example.test"
    assert user.check_password("s3cret-enough")

    with pytest.raises(ConflictError):
        user_create(email="ADA@example.TEST", password="x")
    assert User.objects.count() == 1


def test_database_refuses_mixed_case_email():
    with pytest.raises(IntegrityError):
        User.objects.create(email="Mixed@Example.test")


@pytest.mark.parametrize(
    ("role", "scope"),
    [
        (Role.EMPLOYER_ADMIN, {}),
        (Role.PARTNER_VIEWER, {}),
        (Role.MEMBER, {"employer": True}),
        (Role.FINANCE_STAFF, {"partner": True}),
    ],
)
def test_role_grant_refuses_a_scope_that_does_not_fit_the_role(role, scope):
    user = UserFactory()
    kwargs = {
        "employer": EmployerFactory() if scope.get("employer") else None,
        "partner": PartnerFactory() if scope.get("partner") else None,
    }
    with pytest.raises(DomainError):
        role_grant(user=user, role=role, **kwargs)
    assert not RoleGrant.objects.exists()


def test_database_refuses_an_employer_admin_grant_without_employer():
    user = UserFactory()
    with pytest.raises(IntegrityError):
        RoleGrant.objects.create(user=user, role=Role.EMPLOYER_ADMIN)


def test_database_refuses_a_partner_viewer_grant_with_an_employer():
    user = UserFactory()
    with pytest.raises(IntegrityError):
        RoleGrant.objects.create(
            user=user,
            role=Role.PARTNER_VIEWER,
            partner=PartnerFactory(),
            employer=EmployerFactory(),
        )


def test_granting_twice_is_a_no_op():
    user = UserFactory()
    first = role_grant(user=user, role=Role.FINANCE_STAFF)
    second = role_grant(user=user, role=Role.FINANCE_STAFF)
    assert first.pk == second.pk
    assert RoleGrant.objects.count() == 1


def test_access_collects_every_grant_of_a_user():
    employer_a, employer_b, partner = EmployerFactory(), EmployerFactory(), PartnerFactory()
    user = user_with_role(Role.EMPLOYER_ADMIN, employer=employer_a)
    role_grant(user=user, role=Role.EMPLOYER_ADMIN, employer=employer_b)
    role_grant(user=user, role=Role.PARTNER_VIEWER, partner=partner)
    role_grant(user=user, role=Role.MEMBER)

    access = user_access_get(user=user)

    assert access.roles == {Role.EMPLOYER_ADMIN, Role.PARTNER_VIEWER, Role.MEMBER}
    assert access.employer_ids == {employer_a.id, employer_b.id}
    assert access.partner_ids == {partner.id}
    assert not access.is_staff_wide


def test_access_of_an_inactive_user_is_empty():
    user = user_with_role(Role.OPERATOR_ADMIN, is_active=False)
    assert user_access_get(user=user).roles == frozenset()
