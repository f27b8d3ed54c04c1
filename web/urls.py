"""The web pages (server-rendered, same services and permissions as the API)."""

from django.urls import include, path

from web import member_views, views

app_name = "web"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    # the member's own page (web/member_views.py)
    path("account/", member_views.AccountPage.as_view(), name="account"),
    path("account/cancel/", member_views.AccountCancelPage.as_view(), name="account-cancel"),
    path("employer/", include("web.employer_urls")),
    path("finance/", include("web.finance_urls")),
]
