"""A pytest plugin: no log record of the whole test run may hold personal data or a secret.

During the session every log record that any logger emits (formatted with its exception and
stack, the way a log shipper would see it, including Django's `django.request` lines on 4xx and
5xx) goes through one handler and is scanned. At the end of the session the `*.log` files that
subprocesses wrote under the session's temporary directory (the Stripe emulator's log, a worker's
log) are scanned too. A leak fails the session (exit status 1) with a list of what leaked, where
and in which test.

A leak is:
- a card number: a run of 13 to 19 digits (spaces or dashes allowed between them) that passes Luhn;
- a password used in the suite: `tests.factories.TEST_PASSWORD`, the demo password, and every
  password the suite sets or tries (recorded by `RecordingPasswordHasher`, the fast hasher the
  tests use);
- a bearer token (`mbt_…`, or `Bearer <credential>`), an invitation/set-password token (recorded
  as Django's token generator makes it), a Stripe secret (`sk_…`, `rk_…`, `whsec_…`);
- the date of birth of any member or roster entry the suite created (recorded on `post_save`),
  written as `YYYY-MM-DD`, `MM/DD/YYYY` or `datetime.date(Y, M, D)`. Other dates (billing
  periods, due dates) are not leaks.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
from collections.abc import Generator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher

# Passwords shorter than this are not looked for: a test that tries "x" as a wrong password
# would otherwise make every "x" in a log a leak.
MIN_PASSWORD_LENGTH = 8
DEMO_PASSWORD = "demo-password-2026"

CARD_CANDIDATE = re.compile(r"(?<![\w.])\d(?:[ -]?\d){12,18}(?![\w.])")
BEARER_TOKEN = re.compile(r"\bmbt_[A-Za-z0-9_-]{16,}|\bBearer\s+[A-Za-z0-9._~+/=-]{8,}")
STRIPE_SECRET = re.compile(
    r"\b(?:sk|rk)_(?:test|live)_[A-Za-z0-9]{4,}|\bwhsec_[A-Za-z0-9+/=_-]{4,}"
)
ISO_DATE = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")
US_DATE = re.compile(r"(?<!\d)(\d{2})/(\d{2})/(\d{4})(?!\d)")
REPR_DATE = re.compile(r"date\((\d{4}), (\d{1,2}), (\d{1,2})\)")


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _date_or_none(year: str, month: str, day: str) -> dt.date | None:
    try:
        return dt.date(int(year), int(month), int(day))
    except ValueError:
        return None


@dataclass(frozen=True)
class Leak:
    kind: str  # card_number, password, bearer_token, invitation_token, stripe_secret, date_of_birth
    found: str  # what matched, shortened so that the report does not repeat the secret whole
    source: str  # "logger <name>" or a log file's path
    test: str  # the test that was running, or "(session)"
    excerpt: str  # the start of the record, the leaks in it replaced by their kind


def _mask(value: str) -> str:
    return value if len(value) <= 6 else f"{value[:4]}…({len(value)} chars)"


@dataclass
class LogLeakScanner:
    """Finds leaks in text. Knows the suite's secrets (passwords, issued invitation tokens,
    dates of birth) as they are recorded."""

    passwords: set[str] = field(default_factory=set)
    tokens: set[str] = field(default_factory=set)
    dates_of_birth: set[dt.date] = field(default_factory=set)
    _literals: re.Pattern[str] | None = None

    def password_record(self, password: str) -> None:
        if len(password) >= MIN_PASSWORD_LENGTH and password not in self.passwords:
            self.passwords.add(password)
            self._literals = None

    def token_record(self, token: str) -> None:
        if token and token not in self.tokens:
            self.tokens.add(token)
            self._literals = None

    def date_of_birth_record(self, date_of_birth: dt.date) -> None:
        self.dates_of_birth.add(date_of_birth)

    def _literal_pattern(self) -> re.Pattern[str] | None:
        if self._literals is None and (self.passwords or self.tokens):
            # Longest first, so that a password containing another is reported as itself.
            literals = sorted(self.passwords | self.tokens, key=len, reverse=True)
            self._literals = re.compile("|".join(re.escape(literal) for literal in literals))
        return self._literals

    def scan(self, text: str) -> list[tuple[str, str]]:
        """The leaks in `text` as (kind, masked match)."""
        return [(kind, _mask(found)) for kind, found, _ in self.find(text)]

    def find(self, text: str) -> list[tuple[str, str, tuple[int, int]]]:
        """The leaks in `text` as (kind, match, span)."""
        found: list[tuple[str, str, tuple[int, int]]] = []
        for match in CARD_CANDIDATE.finditer(text):
            digits = re.sub(r"[ -]", "", match.group())
            if 13 <= len(digits) <= 19 and luhn_valid(digits):
                found.append(("card_number", digits, match.span()))
        for kind, pattern in (("bearer_token", BEARER_TOKEN), ("stripe_secret", STRIPE_SECRET)):
            found += [(kind, m.group(), m.span()) for m in pattern.finditer(text)]
        literals = self._literal_pattern()
        if literals is not None:
            for match in literals.finditer(text):
                kind = "password" if match.group() in self.passwords else "invitation_token"
                found.append((kind, match.group(), match.span()))
        if self.dates_of_birth:
            for pattern, order in (
                (ISO_DATE, (1, 2, 3)),
                (REPR_DATE, (1, 2, 3)),
                (US_DATE, (3, 1, 2)),
            ):
                for match in pattern.finditer(text):
                    year, month, day = (match.group(index) for index in order)
                    date = _date_or_none(year, month, day)
                    if date is not None and date in self.dates_of_birth:
                        found.append(("date_of_birth", match.group(), match.span()))
        return found

    def redact(self, text: str) -> str:
        """`text` with each leak replaced by its kind, for the report."""
        for kind, _, (start, end) in sorted(self.find(text), key=lambda leak: -leak[2][0]):
            text = f"{text[:start]}<{kind}>{text[end:]}"
        return text


class LeakCollectingHandler(logging.Handler):
    """Formats every record (message, exception, stack) and scans it."""

    def __init__(self, scanner: LogLeakScanner) -> None:
        super().__init__(level=logging.NOTSET)
        self.scanner = scanner
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        self.records_scanned = 0
        self.files_scanned = 0
        self.file_lines_scanned = 0
        self.leaks: list[Leak] = []
        self.current_test = "(session)"

    def emit(self, record: logging.LogRecord) -> None:
        scanned_by: set[int] = record.__dict__.setdefault("_privacy_scanned_by", set())
        if id(self) in scanned_by:
            return  # it reached this handler through a second logger
        scanned_by.add(id(self))
        self.records_scanned += 1
        try:
            text = self.format(record)
        except Exception:  # a record whose message cannot be formatted: scan what it holds
            text = f"{record.msg!r} {record.args!r}"
        leaks = self.scanner.scan(text)
        if leaks:
            excerpt = self.scanner.redact(text)[:300]
            for kind, found in leaks:
                source = f"logger {record.name}"
                self.leaks.append(Leak(kind, found, source, self.current_test, excerpt))

    def scan_file(self, path: Path) -> int:
        """Scan a log file line by line; returns the number of lines."""
        lines = 0
        with path.open(encoding="utf-8", errors="replace") as log:
            for lines, line in enumerate(log, start=1):  # noqa: B007 - the count is the result
                for kind, found in self.scanner.scan(line):
                    excerpt = self.scanner.redact(line)[:300]
                    self.leaks.append(Leak(kind, found, str(path), "(subprocess)", excerpt))
        return lines


SCANNER = LogLeakScanner()
HANDLER = LeakCollectingHandler(SCANNER)
SCANNER.password_record(os.environ.get("DEMO_PASSWORD") or DEMO_PASSWORD)


class RecordingPasswordHasher(MD5PasswordHasher):
    """The tests' fast hasher; remembers every password set or checked, to look for in logs."""

    def encode(self, password: str, salt: str) -> str:
        SCANNER.password_record(password)
        return super().encode(password, salt)


def _attach(handler: logging.Handler) -> None:
    """On the root logger and on every logger that does not propagate to it."""
    loggers: Iterable[Any] = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for logger in loggers:
        if not isinstance(logger, logging.Logger):
            continue  # a PlaceHolder
        if (
            logger is logging.getLogger() or not logger.propagate
        ) and handler not in logger.handlers:
            logger.addHandler(handler)


def _record_date_of_birth(sender: type, instance: Any, **kwargs: Any) -> None:
    date_of_birth = getattr(instance, "date_of_birth", None)
    if isinstance(date_of_birth, dt.date):
        SCANNER.date_of_birth_record(date_of_birth)


def pytest_sessionstart(session: pytest.Session) -> None:
    from django.contrib.auth.tokens import PasswordResetTokenGenerator
    from django.db.models.signals import post_save

    from employers.models import RosterEntry
    from memberships.models import Member
    from tests.factories import TEST_PASSWORD

    SCANNER.password_record(TEST_PASSWORD)
    for model in (Member, RosterEntry):
        post_save.connect(
            _record_date_of_birth, sender=model, weak=False, dispatch_uid="log-privacy-dob"
        )
    make_token = PasswordResetTokenGenerator.make_token

    def recording_make_token(self: PasswordResetTokenGenerator, user: Any) -> str:
        token = make_token(self, user)
        SCANNER.token_record(token)
        return token

    PasswordResetTokenGenerator.make_token = recording_make_token  # type: ignore[method-assign]
    _attach(HANDLER)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, None, None]:
    _attach(HANDLER)  # a test may have configured logging again, or made a new logger
    HANDLER.current_test = item.nodeid
    yield
    HANDLER.current_test = "(session)"


def pytest_sessionfinish(session: pytest.Session) -> None:
    files = 0
    lines = 0
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is not None:
        try:
            base = factory.getbasetemp()
        except (OSError, ValueError):
            base = None
        if base is not None and base.is_dir():
            for path in sorted(base.rglob("*.log")):
                files += 1
                lines += HANDLER.scan_file(path)
    HANDLER.files_scanned = files
    HANDLER.file_lines_scanned = lines
    if HANDLER.leaks and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    files, lines = HANDLER.files_scanned, HANDLER.file_lines_scanned
    summary = (
        f"log privacy: {HANDLER.records_scanned} log records and {lines} lines of {files} "
        f"subprocess log files scanned; {len(HANDLER.leaks)} leaks"
    )
    if not HANDLER.leaks:
        terminalreporter.write_line(summary)
        return
    terminalreporter.section("log privacy: personal data or secrets in logs", red=True)
    for leak in HANDLER.leaks[:200]:
        terminalreporter.write_line(
            f"{leak.kind}: {leak.found} in {leak.source} during {leak.test}\n    {leak.excerpt!r}"
        )
    if len(HANDLER.leaks) > 200:
        terminalreporter.write_line(f"… and {len(HANDLER.leaks) - 200} more")
    terminalreporter.write_line(summary, red=True)
