"""Login, logout and the home page (which sends each role to its first page)."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from accounts.selectors import user_access_get
from web.navigation import navigation_links


class LoginView(auth_views.LoginView):
    template_name = "web/login.html"
    redirect_authenticated_user = True


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
