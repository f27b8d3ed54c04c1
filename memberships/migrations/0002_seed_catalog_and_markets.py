"""The launch catalog and markets, as data (editable in the admin afterwards)."""

import datetime as dt

from django.db import migrations

LAUNCH = dt.date(2026, 1, 1)

PRICES = [
    # code, name, cents, interval, requires Prime
    ("prime_monthly", "Prime membership, monthly", 900, "month", True),
    ("prime_annual", "Prime membership, annual", 9900, "year", True),
    ("standard_annual", "Membership, annual", 19900, "year", False),
]

MARKETS = [
    # name, slug, partner (health system) or None, clinics
    ("Northeast Ohio", "northeast-ohio", "Cleveland Clinic", ["Avon", "Shaker Heights"]),
    ("Connecticut", "connecticut", "Hartford HealthCare", ["West Hartford", "Glastonbury"]),
    ("Puget Sound", "puget-sound", "Virginia Mason Franciscan Health", ["Seattle", "Bellevue"]),
]


def seed(apps, schema_editor):
    Price = apps.get_model("memberships", "Price")
    Market = apps.get_model("memberships", "Market")
    Clinic = apps.get_model("memberships", "Clinic")
    Partner = apps.get_model("partners", "Partner")
    for code, name, cents, interval, requires_prime in PRICES:
        if not Price.objects.filter(code=code).exists():
            Price.objects.create(
                code=code,
                name=name,
                amount_cents=cents,
                interval=interval,
                requires_prime=requires_prime,
                active_from=LAUNCH,
            )
    for name, slug, partner_name, clinics in MARKETS:
        partner, _ = Partner.objects.get_or_create(name=partner_name)
        market, _ = Market.objects.get_or_create(
            slug=slug, defaults={"name": name, "partner": partner}
        )
        for clinic in clinics:
            Clinic.objects.get_or_create(market=market, name=clinic)


class Migration(migrations.Migration):
    dependencies = [
        ("memberships", "0001_initial"),
        ("partners", "0001_initial"),
    ]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
