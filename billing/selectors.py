"""Billing reads."""

from __future__ import annotations

import functools

from billing.models import BillingInstallation


@functools.cache
def installation_key_prefix() -> str:
    """The prefix of every Stripe idempotency key written by this database (see
    BillingInstallation). Read once per process."""
    installation, _ = BillingInstallation.objects.get_or_create(pk=1)
    return installation.installation_id.hex[:12]
