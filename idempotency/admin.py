from django.contrib import admin
from django.http import HttpRequest

from idempotency.models import IdempotencyRecord


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(admin.ModelAdmin[IdempotencyRecord]):
    """Read-only, without the stored bodies (they may hold personal data). Deleting a record
    frees its key, e.g. one left in progress by a worker that died."""

    list_display = ("key", "user", "method", "path", "status", "response_status", "expires_at")
    list_filter = ("status", "method")
    search_fields = ("key", "path", "user__email")
    fields = (
        "user",
        "key",
        "method",
        "path",
        "status",
        "response_status",
        "created_at",
        "completed_at",
        "expires_at",
    )
    readonly_fields = fields
    list_select_related = ("user",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: IdempotencyRecord | None = None
    ) -> bool:
        return False
