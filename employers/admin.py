from django.contrib import admin

from employers.models import Employer


@admin.register(Employer)
class EmployerAdmin(admin.ModelAdmin[Employer]):
    list_display = ("id", "name", "billing_email", "created_at")
    search_fields = ("name",)
