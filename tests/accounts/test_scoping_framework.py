"""The scoping machinery itself: deny by default, and no way around the scoped queryset."""

from __future__ import annotations

import pytest
from rest_framework.views import APIView

from accounts.api.scoped_views import ScopedAPIView
from accounts.permissions import Audience, RolePermission
from employers.models import Employer
from tests.url_routes import url_routes


def api_views() -> list[tuple[str, type[APIView]]]:
    """Every DRF view under /api/v1/, with its route."""
    return [
        (r.route, r.view_class)
        for r in url_routes()
        if r.route.startswith("api/v1/") and r.view_class is not None
    ]


def test_the_api_has_routes():
    assert len(api_views()) >= 5


@pytest.mark.parametrize(("route", "view_class"), api_views())
def test_every_api_view_declares_who_may_call_it(route, view_class):
    allowed = getattr(view_class, "allowed_roles", None)
    assert isinstance(allowed, frozenset | Audience), f"{route} does not declare allowed_roles"
    permissions = view_class().get_permissions()
    assert any(isinstance(p, RolePermission) for p in permissions), (
        f"{route} dropped RolePermission"
    )


@pytest.mark.parametrize(("route", "view_class"), api_views())
def test_every_view_with_an_object_id_is_scoped(route, view_class):
    if "<" in route:
        assert issubclass(view_class, ScopedAPIView), f"{route} exposes objects without scoping"


def test_a_view_that_forgets_allowed_roles_lets_nobody_in():
    class Forgetful(APIView):
        pass

    class FakeUser:
        is_authenticated = True

    class FakeRequest:
        user = FakeUser()

    assert RolePermission().has_permission(FakeRequest(), Forgetful()) is False


def test_a_scoped_view_cannot_replace_get_queryset():
    with pytest.raises(TypeError, match="base_queryset"):

        class Leaky(ScopedAPIView):
            queryset = Employer.objects.all()

            def get_queryset(self):  # type: ignore[misc]
                return Employer.objects.all()
