"""Amazon Prime verification behind one interface. The provider is chosen by the setting
PRIME_VERIFIER (a dotted path); the default is the deterministic sandbox below.

Sandbox tokens (case-sensitive):

- `prime_valid` or `prime_valid_…`: verified until one year after the check date.
- `prime_valid_until_YYYY-MM-DD`: verified until that date; expired if that is before the
  check date (use it to make Prime lapse before a renewal).
- `prime_expired` or `prime_expired_…`: expired (the account exists, Prime has lapsed).
- anything else: invalid.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from memberships.models import PrimeStatus


@dataclass(frozen=True)
class PrimeCheck:
    status: PrimeStatus
    verified_until: dt.date | None
    provider: str

    @property
    def is_verified(self) -> bool:
        return self.status == PrimeStatus.VERIFIED


class PrimeVerifier(Protocol):
    name: str

    def verify(self, *, token: str, on: dt.date) -> PrimeCheck: ...


class SandboxPrimeVerifier:
    """Deterministic verifier for development and tests (see the module docstring)."""

    name = "sandbox"

    def verify(self, *, token: str, on: dt.date) -> PrimeCheck:
        if token.startswith("prime_valid_until_"):
            try:
                until = dt.date.fromisoformat(token.removeprefix("prime_valid_until_"))
            except ValueError:
                return PrimeCheck(PrimeStatus.INVALID, None, self.name)
            status = PrimeStatus.VERIFIED if until >= on else PrimeStatus.EXPIRED
            return PrimeCheck(status, until, self.name)
        if token == "prime_valid" or token.startswith("prime_valid_"):  # noqa: S105
            return PrimeCheck(PrimeStatus.VERIFIED, _one_year_after(on), self.name)
        if token == "prime_expired" or token.startswith("prime_expired_"):  # noqa: S105
            return PrimeCheck(PrimeStatus.EXPIRED, None, self.name)
        return PrimeCheck(PrimeStatus.INVALID, None, self.name)


def _one_year_after(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year + 1, day=28)


def token_fingerprint(token: str) -> str:
    """What is stored of a token: its SHA-256, so a re-check can be matched, never replayed."""
    return hashlib.sha256(token.encode()).hexdigest()


@functools.cache
def _verifier(path: str) -> PrimeVerifier:
    verifier: PrimeVerifier = import_string(path)()
    return verifier


def prime_verifier() -> PrimeVerifier:
    return _verifier(settings.PRIME_VERIFIER)
