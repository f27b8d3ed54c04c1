"""The log privacy scan (tests/log_privacy_plugin.py): it finds each kind of leak planted in a
log record, through the real logging machinery (message, exception, stack), and does not take
ordinary billing dates, Stripe ids or amounts for one. The session-wide instance is checked to
be installed and fed by what the suite does (passwords tried, members created, 4xx logs)."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from memberships.models import Member
from tests import log_privacy_plugin
from tests.factories import UserFactory
from tests.log_privacy_plugin import LeakCollectingHandler, LogLeakScanner

DATE_OF_BIRTH = dt.date(1984, 7, 23)


@pytest.fixture
def planted() -> tuple[logging.Logger, LeakCollectingHandler]:
    """A scanner of its own (the session's must stay clean), on a logger of its own."""
    scanner = LogLeakScanner()
    scanner.password_record("hunter2-is-my-password")
    scanner.token_record("c5x9d2-0f3a9b8e7d6c5b4a39281706f5e4d3c2")
    scanner.date_of_birth_record(DATE_OF_BIRTH)
    handler = LeakCollectingHandler(scanner)
    # Not registered with logging (no parent, so nothing propagates to the root logger): the
    # planted secrets stay away from the session's scan.
    logger = logging.Logger("tests.security.planted", level=logging.DEBUG)
    logger.addHandler(handler)
    return logger, handler


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("card_number", "charging card 4242424242424242 now"),
        ("card_number", "card 4000 0566 5566 5556 declined"),
        ("card_number", "amex 378282246310005"),
        ("password", "login failed for a@b.test with hunter2-is-my-password"),
        ("bearer_token", "token mbt_Zx8yQ2vR0tLpKs7mNw3eUa9iOb4cDh6fGj1kXl5ZyAc issued"),
        ("bearer_token", "header Authorization: Bearer some-opaque-credential"),
        ("invitation_token", "set-password?uid=MTI&token=c5x9d2-0f3a9b8e7d6c5b4a39281706f5e4d3c2"),
        ("stripe_secret", "using key sk_test_51Hx0aBcDeFgHiJk"),
        ("stripe_secret", "using key sk_live_abcdEFGH1234"),
        ("stripe_secret", "webhook secret whsec_abc123XYZ"),
        ("date_of_birth", "member born 1984-07-23 signed up"),
        ("date_of_birth", "member born 07/23/1984 signed up"),
        ("date_of_birth", "data={'date_of_birth': datetime.date(1984, 7, 23)}"),
    ],
)
def test_each_kind_of_planted_leak_is_found(
    planted: tuple[logging.Logger, LeakCollectingHandler], kind: str, message: str
) -> None:
    logger, handler = planted
    logger.info(message)
    assert [leak.kind for leak in handler.leaks] == [kind]
    assert handler.leaks[0].source == "logger tests.security.planted"
    assert f"<{kind}>" in handler.leaks[0].excerpt  # the report does not repeat the secret
    assert handler.records_scanned == 1


def test_a_leak_in_an_exception_or_a_formatting_argument_is_found(
    planted: tuple[logging.Logger, LeakCollectingHandler],
) -> None:
    logger, handler = planted
    try:
        raise ValueError("bad password hunter2-is-my-password")
    except ValueError:
        logger.exception("Sign-up failed")
    logger.warning("Stripe said %s", {"card": "4242424242424242"}, stack_info=True)
    # (the traceback and the stack repeat the source lines, so each is found more than once)
    assert {leak.kind for leak in handler.leaks} == {"password", "card_number"}
    assert handler.records_scanned == 2


def test_ordinary_billing_dates_ids_and_amounts_are_not_leaks(
    planted: tuple[logging.Logger, LeakCollectingHandler],
) -> None:
    logger, handler = planted
    logger.info("Invoice 1234567 for 2026-01-01 to 2026-01-31, due 02/15/2026, 19900 cents")
    logger.info("Stripe pi_3NqLuhn4242424242424242 ch_1234567890123456 cus_ABC in_1 paid")
    logger.info("Luhn-invalid digits 4242424242424241 and a timestamp 1767225600")
    logger.info("period date(2026, 1, 1); prime until 2027-07-23; sk_ is a prefix")
    assert handler.leaks == []
    assert handler.records_scanned == 4


def test_a_subprocess_log_file_is_scanned(
    planted: tuple[logging.Logger, LeakCollectingHandler], tmp_path: Path
) -> None:
    _, handler = planted
    log = tmp_path / "worker.log.planted"  # not *.log: the session scans those at its end
    log.write_text("INFO started\nERROR charge 4242424242424242 failed\nINFO 2026-01-01\n")
    assert handler.scan_file(log) == 3
    assert [(leak.kind, leak.source) for leak in handler.leaks] == [("card_number", str(log))]


@pytest.mark.django_db
def test_the_session_scan_is_installed_and_learns_the_suites_secrets(
    api_client: APIClient,
) -> None:
    session = log_privacy_plugin.HANDLER
    assert session in logging.getLogger().handlers
    assert session in logging.getLogger("django.server").handlers  # does not propagate

    before = session.records_scanned
    api_client.post(
        "/api/v1/auth/token/",
        {"email": "nobody@example.test", "password": "a-password-someone-posted"},
    )  # a 401, which django.request logs
    assert session.records_scanned > before
    assert "a-password-someone-posted" in log_privacy_plugin.SCANNER.passwords

    Member.objects.create(user=UserFactory.create(), date_of_birth=DATE_OF_BIRTH)
    assert DATE_OF_BIRTH in log_privacy_plugin.SCANNER.dates_of_birth
