"""factory-boy factories for the models tests need. Role grants go through the service so the
same validation applies as in production."""

from __future__ import annotations

from typing import Any

import factory
from factory.declarations import PostGenerationMethodCall, Sequence
from factory.faker import Faker

from accounts.models import Role, User
from accounts.services import role_grant
from employers.models import Employer
from partners.models import Partner

TEST_PASSWORD = "correct horse battery staple"


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = Sequence(lambda n: f"user{n}@example.test")
    full_name = Faker("name")
    password = PostGenerationMethodCall("set_password", TEST_PASSWORD)

    @classmethod
    def _after_postgeneration(cls, instance: User, create: bool, results: Any = None) -> None:
        if create:
            instance.save()


class EmployerFactory(factory.django.DjangoModelFactory[Employer]):
    class Meta:
        model = Employer

    name = Sequence(lambda n: f"Employer {n}")
    billing_email = Sequence(lambda n: f"billing{n}@employer.test")


class PartnerFactory(factory.django.DjangoModelFactory[Partner]):
    class Meta:
        model = Partner

    name = Sequence(lambda n: f"Health System {n}")


def user_with_role(
    role: Role, *, employer: Employer | None = None, partner: Partner | None = None, **fields: Any
) -> User:
    user = UserFactory.create(**fields)
    role_grant(user=user, role=role, employer=employer, partner=partner)
    return user
