from django.contrib import admin

from memberships.models import (
    Clinic,
    Market,
    Member,
    MemberMarket,
    Membership,
    MembershipEvent,
    Price,
    PrimeVerification,
)


@admin.register(Price)
class PriceAdmin(admin.ModelAdmin[Price]):
    list_display = (
        "code",
        "name",
        "amount_cents",
        "interval",
        "requires_prime",
        "active_from",
        "active_until",
    )
    list_filter = ("code", "interval", "requires_prime")


class ClinicInline(admin.TabularInline[Clinic, Market]):
    model = Clinic
    extra = 0


@admin.register(Market)
class MarketAdmin(admin.ModelAdmin[Market]):
    list_display = ("name", "slug", "partner")
    inlines = (ClinicInline,)


class MemberMarketInline(admin.TabularInline[MemberMarket, Member]):
    model = MemberMarket
    fk_name = "member"
    extra = 0


@admin.register(Member)
class MemberAdmin(admin.ModelAdmin[Member]):
    list_display = ("id", "user", "created_at")
    search_fields = ("user__email",)
    inlines = (MemberMarketInline,)


class MembershipEventInline(admin.TabularInline[MembershipEvent, Membership]):
    model = MembershipEvent
    extra = 0
    can_delete = False
    readonly_fields = ("kind", "from_status", "to_status", "actor", "reason", "data", "created_at")


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin[Membership]):
    list_display = ("id", "member", "price", "status", "current_period_start", "current_period_end")
    list_filter = ("status", "price__code")
    readonly_fields = ("status",)  # changes go through membership_transition, with an event
    inlines = (MembershipEventInline,)


@admin.register(PrimeVerification)
class PrimeVerificationAdmin(admin.ModelAdmin[PrimeVerification]):
    list_display = ("member", "provider", "status", "verified_until", "checked_at")
    readonly_fields = ("token_fingerprint",)
