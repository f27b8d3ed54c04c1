"""A roster import at the size the issue names: 100,000 rows, 50 of them bad, through the API."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import Role
from config import clock
from employers.imports import COLUMNS, MAX_ROWS
from employers.models import RosterChange, RosterEntry, RosterImport, RosterImportStatus
from tests.api_assertions import assert_error
from tests.factories import EmployerFactory, user_with_role

pytestmark = pytest.mark.django_db

ROWS = 100_000
# One way to break a row for each rule, each giving exactly one error on its line.
BREAKS = [
    ("external_id", ""),
    ("full_name", ""),
    ("work_email", "no-at-sign.example"),
    ("date_of_birth", "17/05/1990"),
    ("date_of_birth", "2099-01-01"),
    ("eligible_from", "2026-13-01"),
    ("eligible_until", "2025-01-01"),
    ("work_email", "DUPLICATE"),  # the work email of the row before
    ("external_id", "DUPLICATE"),  # the external id of the row before
]


def roster_file(rows: int, bad_lines: dict[int, tuple[str, str]]) -> bytes:
    """`rows` data rows (line = index + 2); the rows on `bad_lines` broken as said."""
    lines = [",".join(COLUMNS)]
    for n in range(rows):
        line = n + 2
        fields = {
            "external_id": f"E{n:06d}",
            "full_name": f"Employee {n}",
            "work_email": f"employee{n}@big.example",
            "date_of_birth": (dt.date(1960, 1, 1) + dt.timedelta(days=n % 15_000)).isoformat(),
            "eligible_from": "2026-01-01",
            "eligible_until": "" if n % 7 else "2026-12-31",
        }
        if line in bad_lines:
            name, value = bad_lines[line]
            if value == "DUPLICATE":
                value = {
                    "work_email": f"employee{n - 1}@big.example",
                    "external_id": f"E{n - 1:06d}",
                }[name]
            fields[name] = value
        lines.append(",".join(fields[name] for name in COLUMNS))
    return ("\n".join(lines) + "\n").encode()


def post_file(client: Any, url: str, content: bytes, capture: Any) -> Any:
    with capture(execute=True):
        return client.post(
            url, {"file": SimpleUploadedFile("big.csv", content, "text/csv")}, format="multipart"
        )


def test_100k_rows_with_50_bad_rows_report_exactly_those_and_import_nothing_until_told(
    client_for, django_capture_on_commit_callbacks
):
    employer = EmployerFactory()
    client = client_for(user_with_role(Role.EMPLOYER_ADMIN, employer=employer))
    url = f"/api/v1/employers/{employer.pk}/roster/imports/"
    # line 2 has no row before it to duplicate; a fixed seed, not for security
    chosen = sorted(random.Random(5).sample(range(3, ROWS + 2), 50))  # noqa: S311
    bad_lines = {line: BREAKS[i % len(BREAKS)] for i, line in enumerate(chosen)}
    content = roster_file(ROWS, bad_lines)

    with clock.as_of(dt.date(2026, 3, 10)):
        uploaded = post_file(client, url, content, django_capture_on_commit_callbacks)
        assert uploaded.status_code == 202, uploaded.content
        import_url = f"{url}{uploaded.json()['id']}/"
        preview = client.get(import_url).json()

        assert preview["status"] == "preview"
        assert preview["processed_rows"] == preview["total_rows"] == ROWS
        assert preview["error_count"] == 50
        errors: list[dict[str, Any]] = []
        next_url = f"{import_url}errors/?limit=20"
        while next_url:
            page = client.get(next_url).json()
            errors.extend(page["results"])
            next_url = page["next"]
        assert [e["line"] for e in errors] == chosen
        assert [e["field"] for e in errors] == [bad_lines[line][0] for line in chosen]
        assert (preview["to_add"], preview["to_update"], preview["unchanged"]) == (
            ROWS - 50,
            0,
            0,
        )
        assert not RosterEntry.objects.filter(employer=employer).exists()  # nothing yet

        refused = client.post(f"{import_url}confirm/", {}, format="json")
        assert_error(refused, 409, "conflict")
        assert refused.json()["error"]["details"]["error_count"] == 50
        assert not RosterEntry.objects.filter(employer=employer).exists()

        with django_capture_on_commit_callbacks(execute=True):
            confirmed = client.post(
                f"{import_url}confirm/", {"valid_rows_only": True}, format="json"
            )
        assert confirmed.status_code == 202
        applied = client.get(import_url).json()
        assert (applied["status"], applied["to_add"]) == ("applied", ROWS - 50)
        assert RosterEntry.objects.filter(employer=employer).count() == ROWS - 50
        assert RosterChange.objects.filter(employer=employer, kind="added").count() == ROWS - 50
        good = {f"E{n:06d}" for n in range(ROWS) if n + 2 not in bad_lines}
        applied_ids = RosterEntry.objects.filter(employer=employer).values_list(
            "external_id", flat=True
        )
        assert set(applied_ids) == good

        # The same file again: every valid row unchanged, and confirming changes nothing.
        changes = RosterChange.objects.count()
        again = post_file(client, url, content, django_capture_on_commit_callbacks).json()
        again_url = f"{url}{again['id']}/"
        preview_again = client.get(again_url).json()
        assert (preview_again["error_count"], preview_again["unchanged"]) == (50, ROWS - 50)
        assert preview_again["to_add"] == preview_again["to_update"] == 0
        with django_capture_on_commit_callbacks(execute=True):
            client.post(f"{again_url}confirm/", {"valid_rows_only": True}, format="json")
        assert RosterImport.objects.get(pk=again["id"]).status == RosterImportStatus.APPLIED
        assert RosterChange.objects.count() == changes
        assert RosterEntry.objects.filter(employer=employer).count() == ROWS - 50


def test_more_than_100k_rows_is_refused_at_upload(client_for, django_capture_on_commit_callbacks):
    employer = EmployerFactory()
    client = client_for(user_with_role(Role.EMPLOYER_ADMIN, employer=employer))
    content = roster_file(MAX_ROWS + 1, {})

    response = post_file(
        client,
        f"/api/v1/employers/{employer.pk}/roster/imports/",
        content,
        django_capture_on_commit_callbacks,
    )

    error = assert_error(response, 413, "file_too_large")
    assert error["details"] == {"max_rows": MAX_ROWS}
    assert not RosterImport.objects.exists()
