from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from billing.urls import webhook_urlpatterns
from config.health import healthz

api_v1 = [
    path("", include("accounts.urls")),
    path("", include("memberships.urls")),
    path("employers/", include("employers.urls")),
    path("", include("employers.enrollment_urls")),
    path("partners/", include("partners.urls")),
    path("ledger/", include("ledger.urls")),
    path("statements/", include("ledger.statement_urls")),
    path("invoices/", include("billing.invoice_urls")),
]

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("webhooks/", include(webhook_urlpatterns)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("", include("web.urls")),
]

handler400 = "config.api_errors.bad_request"
handler403 = "config.api_errors.permission_denied"
handler404 = "config.api_errors.not_found"
handler500 = "config.api_errors.server_error"
