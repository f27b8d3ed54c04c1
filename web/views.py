"""Login, logout and the home page (which sends each role to its first page)."""

from __future__ import annotations

import math
from typing import Any

from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rest_framework.throttling import ScopedRateThrottle

from accounts.selectors import user_access_get
from config.api_errors import REDIS_UNAVAILABLE_RETRY_AFTER_SECONDS
from web.navigation import navigation_links


class LoginView(auth_views.LoginView):
    """Django's login page, rate-limited per client like the API's token endpoint (the same
    `auth` rate and counter: guesses on either count against both)."""

    template_name = "web/login.html"
    redirect_authenticated_user = True
    throttle_scope = "auth"

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        throttle = ScopedRateThrottle()
        try:
            allowed = throttle.allow_request(request, self)  # type: ignore[arg-type]
        except (RedisConnectionError, RedisTimeoutError):
            # The counters are unreachable: refuse rather than allow unlimited guesses, as the
            # API does (config/api_errors.py).
            response = render(
                request,
                "web/error.html",
                {"status": 503, "message": "Login is unavailable for a moment; try again shortly."},
                status=503,
            )
            response["Retry-After"] = str(REDIS_UNAVAILABLE_RETRY_AFTER_SECONDS)
            return response
        if not allowed:
            wait = throttle.wait()
            response = render(
                request,
                "web/error.html",
                {"status": 429, "message": "Too many login attempts; wait a minute and retry."},
                status=429,
            )
            response["Retry-After"] = str(max(1, math.ceil(wait or 1)))
            return response
        return super().post(request, *args, **kwargs)


class LogoutView(auth_views.LogoutView):
    next_page = "/login/"


def home(request: HttpRequest) -> HttpResponse:
    """The first page of the caller's area, or the login page."""
    if not request.user.is_authenticated:
        return redirect("/login/")
    links = navigation_links(user_access_get(user=request.user))
    if links:
        return redirect(links[0].url)
    return render(request, "web/nothing_here.html")
