from __future__ import annotations

from typing import ClassVar

from rest_framework import generics, serializers

from accounts.api.scoped_views import ScopedAPIView
from accounts.models import Role
from accounts.permissions import STAFF_ROLES, AllowedRoles
from employers.models import Employer


class EmployerOutputSerializer(serializers.ModelSerializer[Employer]):
    class Meta:
        model = Employer
        fields = ("id", "name", "billing_email", "created_at")


EMPLOYER_READERS: AllowedRoles = STAFF_ROLES | {Role.EMPLOYER_ADMIN}


class EmployerListApi(ScopedAPIView, generics.ListAPIView):  # type: ignore[type-arg]
    """Employers the caller may see: all for staff, their own for an employer admin."""

    allowed_roles: ClassVar[AllowedRoles] = EMPLOYER_READERS
    queryset = Employer.objects.order_by("id")
    serializer_class = EmployerOutputSerializer


class EmployerDetailApi(ScopedAPIView, generics.RetrieveAPIView):  # type: ignore[type-arg]
    allowed_roles: ClassVar[AllowedRoles] = EMPLOYER_READERS
    queryset = Employer.objects.all()
    serializer_class = EmployerOutputSerializer
