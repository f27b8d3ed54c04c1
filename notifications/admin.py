from django.contrib import admin
from django.http import HttpRequest

from notifications.models import EmailNotification


@admin.register(EmailNotification)
class EmailNotificationAdmin(admin.ModelAdmin[EmailNotification]):
    """Read-only: what was sent to whom and when, and what is stuck."""

    list_display = ("id", "kind", "user", "status", "attempts", "created_at", "sent_at")
    list_filter = ("kind", "status")
    search_fields = ("dedupe_key",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
