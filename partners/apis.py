from __future__ import annotations

from typing import ClassVar

from rest_framework import generics, serializers

from accounts.api.scoped_views import ScopedAPIView
from accounts.models import Role
from accounts.permissions import STAFF_ROLES, AllowedRoles
from partners.models import Partner


class PartnerOutputSerializer(serializers.ModelSerializer[Partner]):
    class Meta:
        model = Partner
        fields = ("id", "name", "created_at")


PARTNER_READERS: AllowedRoles = STAFF_ROLES | {Role.PARTNER_VIEWER}


class PartnerListApi(ScopedAPIView, generics.ListAPIView):  # type: ignore[type-arg]
    """Partners the caller may see: all for staff, their own for a partner viewer."""

    allowed_roles: ClassVar[AllowedRoles] = PARTNER_READERS
    queryset = Partner.objects.order_by("id")
    serializer_class = PartnerOutputSerializer


class PartnerDetailApi(ScopedAPIView, generics.RetrieveAPIView):  # type: ignore[type-arg]
    allowed_roles: ClassVar[AllowedRoles] = PARTNER_READERS
    queryset = Partner.objects.all()
    serializer_class = PartnerOutputSerializer
