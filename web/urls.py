"""The web pages (server-rendered, same services and permissions as the API)."""

from django.urls import include, path

from web import views

app_name = "web"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("finance/", include("web.finance_urls")),
]
