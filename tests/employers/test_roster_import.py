"""Roster CSV imports: upload, row errors, preview, confirmation, apply, replacement, scoping."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from accounts.models import Role
from config import clock
from employers.imports import (
    COLUMNS,
    MAX_FILE_BYTES,
    roster_import_apply,
    roster_import_confirm,
    roster_import_validate,
)
from employers.models import (
    Employer,
    RosterChange,
    RosterChangeKind,
    RosterEntry,
    RosterImport,
    RosterImportStatus,
)
from employers.signals import roster_entries_terminated
from tests.api_assertions import assert_error
from tests.factories import EmployerFactory, user_with_role

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 3, 10)
HEADER = ",".join(COLUMNS)


def csv_file(*rows: str, header: str = HEADER) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def row(n: int, **values: str) -> str:
    fields = {
        "external_id": f"E{n:03d}",
        "full_name": f"Employee {n}",
        "work_email": f"employee{n}@acme.example",
        "date_of_birth": "1990-05-17",
        "eligible_from": "2026-01-01",
        "eligible_until": "",
        **values,
    }
    return ",".join(fields[name] for name in COLUMNS)


def entry(employer: Employer, n: int, **fields: Any) -> RosterEntry:
    values: dict[str, Any] = {
        "external_id": f"E{n:03d}",
        "full_name": f"Employee {n}",
        "work_email": f"employee{n}@acme.example",
        "date_of_birth": dt.date(1990, 5, 17),
        "eligible_from": dt.date(2026, 1, 1),
        **fields,
    }
    return RosterEntry.objects.create(employer=employer, **values)


@pytest.fixture(autouse=True)
def _today() -> Iterator[None]:
    with clock.as_of(TODAY):
        yield


@pytest.fixture
def acme() -> Employer:
    return EmployerFactory.create(name="Acme")


@pytest.fixture
def globex() -> Employer:
    return EmployerFactory.create(name="Globex")


@pytest.fixture
def admin(acme):
    return user_with_role(Role.EMPLOYER_ADMIN, employer=acme)


@pytest.fixture
def client(client_for, admin):
    return client_for(admin)


def imports_url(employer: Employer) -> str:
    return f"/api/v1/employers/{employer.pk}/roster/imports/"


def upload(
    client: Any,
    employer: Employer,
    content: bytes,
    capture: Any,
    *,
    replace: bool = False,
    headers: dict[str, str] | None = None,
) -> Any:
    """POST the file; the validation queued on commit runs in process."""
    with capture(execute=True):
        return client.post(
            imports_url(employer),
            {"file": SimpleUploadedFile("roster.csv", content, "text/csv"), "replace": replace},
            format="multipart",
            headers=headers or {},
        )


def uploaded(
    client: Any, employer: Employer, content: bytes, capture: Any, **kw: Any
) -> dict[str, Any]:
    response = upload(client, employer, content, capture, **kw)
    assert response.status_code == 202, response.content
    detail = client.get(f"{imports_url(employer)}{response.json()['id']}/")
    assert detail.status_code == 200
    return dict(detail.json())


def confirm(client: Any, employer: Employer, import_id: int, capture: Any, **body: Any) -> Any:
    with capture(execute=True):
        return client.post(f"{imports_url(employer)}{import_id}/confirm/", body, format="json")


def validated(employer: Employer, content: bytes, *, replace: bool = False) -> RosterImport:
    """An import validated through the service (no HTTP), for the row rules."""
    roster_import = RosterImport.objects.create(
        employer=employer, file_sha256="-", content=content, replace=replace
    )
    return roster_import_validate(import_id=roster_import.pk)


def pages(client: Any, url: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while url:
        body = client.get(url).json()
        found.extend(body["results"])
        url = body["next"]
    return found


# --- upload and preview --------------------------------------------------------------------------


def test_upload_is_accepted_and_validated_into_a_preview(
    client, acme, admin, django_capture_on_commit_callbacks
):
    entry(acme, 2)  # unchanged
    entry(acme, 3, full_name="Old Name")  # update
    content = csv_file(row(1), row(2), row(3))

    response = upload(client, acme, content, django_capture_on_commit_callbacks)

    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued"
    assert body["total_rows"] == 3
    stored = RosterImport.objects.get(pk=body["id"])
    assert bytes(stored.content) == content
    assert len(stored.file_sha256) == 64
    assert stored.uploaded_by == admin
    detail = client.get(f"{imports_url(acme)}{body['id']}/").json()
    assert detail["status"] == "preview"
    assert detail["processed_rows"] == 3
    assert (detail["to_add"], detail["to_update"], detail["unchanged"]) == (1, 1, 1)
    assert detail["error_count"] == 0
    assert detail["first_errors"] == []
    rows = pages(client, f"{imports_url(acme)}{body['id']}/rows/")
    assert [(r["line"], r["external_id"], r["action"]) for r in rows] == [
        (2, "E001", "add"),
        (3, "E002", "unchanged"),
        (4, "E003", "update"),
    ]
    updates = client.get(f"{imports_url(acme)}{body['id']}/rows/?action=update").json()
    assert [r["external_id"] for r in updates["results"]] == ["E003"]
    assert RosterEntry.objects.filter(employer=acme).count() == 2  # nothing applied yet


def test_rows_filter_refuses_an_unknown_action(client, acme, django_capture_on_commit_callbacks):
    body = uploaded(client, acme, csv_file(row(1)), django_capture_on_commit_callbacks)

    response = client.get(f"{imports_url(acme)}{body['id']}/rows/?action=delete")

    assert_error(response, 400, "invalid")


def test_header_in_any_order_with_a_bom_and_crlf_is_read():
    employer = EmployerFactory()
    header = "Eligible_Until, WORK_EMAIL,external_id,full_name,date_of_birth,eligible_from"
    content = "\ufeff" + header + "\r\n" + ",a@b.example,X1,Ann,1980-01-02,2026-01-01\r\n"

    result = validated(employer, content.encode())

    assert result.status == RosterImportStatus.PREVIEW
    assert result.errors == []
    staged = result.rows.get()
    assert (staged.external_id, staged.work_email, staged.eligible_until) == (
        "X1",
        "a@b.example",
        None,
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"external_id,full_name\nE1,Ann\n", "missing work_email"),
        (csv_file(row(1), header=HEADER + ",salary"), "unknown 'salary'"),
        (b"\xff\xfe\x00e\x00x\x00t", "NUL"),
        ("external_id,caf\xe9".encode("latin-1"), "not UTF-8"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "NUL"),
    ],
)
def test_an_unreadable_file_is_refused_cleanly(
    client, acme, content, message, django_capture_on_commit_callbacks
):
    response = upload(client, acme, content, django_capture_on_commit_callbacks)

    error = assert_error(response, 400, "invalid_file" if content else "invalid")
    if content:
        assert message in error["message"]
    assert not RosterImport.objects.exists()


def test_a_file_over_the_size_limit_is_413(client, acme, django_capture_on_commit_callbacks):
    content = csv_file(row(1)) + b"x" * (MAX_FILE_BYTES + 1)

    response = upload(client, acme, content, django_capture_on_commit_callbacks)

    error = assert_error(response, 413, "file_too_large")
    assert error["details"] == {"max_bytes": MAX_FILE_BYTES}
    assert not RosterImport.objects.exists()


def test_an_upload_is_idempotent_with_a_key(client, acme, django_capture_on_commit_callbacks):
    content = csv_file(row(1))
    first = upload(
        client, acme, content, django_capture_on_commit_callbacks, headers={"Idempotency-Key": "k1"}
    )
    again = upload(
        client, acme, content, django_capture_on_commit_callbacks, headers={"Idempotency-Key": "k1"}
    )

    assert first.status_code == again.status_code == 202
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert RosterImport.objects.count() == 1


# --- row errors ----------------------------------------------------------------------------------


RULES = [
    (row(1, external_id=""), "external_id", "Required."),
    (row(1, external_id="X" * 65), "external_id", "At most 64 characters."),
    (row(1, full_name=" "), "full_name", "Required."),
    (row(1, full_name="N" * 201), "full_name", "At most 200 characters."),
    (row(1, work_email=""), "work_email", "Required."),
    (row(1, work_email="not-an-email"), "work_email", "Not a valid email address."),
    (row(1, work_email="a@b"), "work_email", "Not a valid email address."),
    (row(1, work_email="x" * 250 + "@b.example"), "work_email", "At most 254 characters."),
    (row(1, date_of_birth=""), "date_of_birth", "Required."),
    (row(1, date_of_birth="05/17/1990"), "date_of_birth", "Not a date as YYYY-MM-DD."),
    (row(1, date_of_birth="1990-02-30"), "date_of_birth", "Not a date as YYYY-MM-DD."),
    (row(1, date_of_birth="2026-03-10"), "date_of_birth", "Must be in the past"),
    (row(1, date_of_birth="1899-12-31"), "date_of_birth", "after 1900-01-01"),
    (row(1, eligible_from=""), "eligible_from", "Required."),
    (row(1, eligible_from="2026-1-1"), "eligible_from", "Not a date as YYYY-MM-DD."),
    (row(1, eligible_from="1990-05-17"), "eligible_from", "Must be after the date of birth."),
    (row(1, eligible_until="soon"), "eligible_until", "Not a date as YYYY-MM-DD"),
    (row(1, eligible_until="2025-12-31"), "eligible_until", "Must not be before eligible_from."),
    (row(1) + ",extra", "row", "Expected 6 values, found 7."),
    ("E001,Ann", "row", "Expected 6 values, found 2."),
]


@pytest.mark.parametrize(("bad_row", "field", "message"), RULES)
def test_each_rule_reports_line_field_and_message(bad_row, field, message):
    employer = EmployerFactory()

    result = validated(employer, csv_file(row(7), bad_row, row(8)))

    assert result.status == RosterImportStatus.PREVIEW
    assert result.error_count == 1
    [error] = result.errors
    assert (error["line"], error["field"]) == (3, field)
    assert message in error["message"]
    assert result.to_add == 2  # the good rows around it are staged
    assert sorted(result.rows.values_list("line", flat=True)) == [2, 4]


def test_a_row_reports_every_bad_field():
    result = validated(
        EmployerFactory(), csv_file(row(1, full_name="", work_email="nope", eligible_from="x"))
    )

    assert [(e["line"], e["field"]) for e in result.errors] == [
        (2, "full_name"),
        (2, "work_email"),
        (2, "eligible_from"),
    ]
    assert result.errors[0]["external_id"] == "E001"


def test_duplicates_in_the_file_are_errors_on_the_later_line():
    content = csv_file(
        row(1),
        row(2),
        row(1, work_email="other@acme.example"),  # line 4: external id of line 2
        row(3, work_email="EMPLOYEE2@acme.example"),  # line 5: email of line 3, another case
    )

    result = validated(EmployerFactory(), content)

    assert [(e["line"], e["field"], e["message"]) for e in result.errors] == [
        (4, "external_id", "Already on line 2."),
        (5, "work_email", "Already on line 3."),
    ]
    assert result.to_add == 2


def test_an_email_of_another_roster_entry_is_a_conflict():
    employer = EmployerFactory()
    entry(employer, 9, work_email="Taken@Acme.example", eligible_until=dt.date(2026, 2, 1))
    entry(employer, 1)

    result = validated(employer, csv_file(row(1), row(2, work_email="taken@acme.example")))

    assert [(e["line"], e["field"]) for e in result.errors] == [(3, "work_email")]
    assert "external id E009" in result.errors[0]["message"]
    assert (result.unchanged, result.to_add) == (1, 0)


def test_another_employers_roster_does_not_conflict():
    entry(EmployerFactory(), 2)

    result = validated(EmployerFactory(), csv_file(row(2)))

    assert (result.error_count, result.to_add) == (0, 1)


def test_lines_are_physical_lines_of_the_file():
    content = (
        HEADER
        + "\n"  # line 1
        + row(1)
        + "\n"  # line 2
        + "\n"  # line 3, blank: skipped
        + 'E002,"Multi\nLine Name",e2@acme.example,1990-01-01,2026-01-01,\n'  # lines 4-5
        + row(3, date_of_birth="bad")
        + "\n"  # line 6
    ).encode()

    result = validated(EmployerFactory(), content)

    assert [(e["line"], e["field"]) for e in result.errors] == [(6, "date_of_birth")]
    assert sorted(result.rows.values_list("line", flat=True)) == [2, 4]
    assert result.total_rows == 3


def test_values_with_tabs_backslashes_and_quotes_are_staged_as_written():
    name = 'Ann "Nan" O\\Brien\tJr,\nnée\r Ünal'
    quoted = '"' + name.replace('"', '""') + '"'
    content = csv_file(f"T\\1,{quoted},ann@acme.example,1980-01-02,2026-01-01,2026-12-31")

    result = validated(EmployerFactory(), content)

    staged = result.rows.get()
    assert (staged.external_id, staged.full_name) == ("T\\1", name)
    assert staged.eligible_until == dt.date(2026, 12, 31)


def test_a_file_that_cannot_be_read_fails_the_import():
    roster_import = RosterImport.objects.create(
        employer=EmployerFactory(), file_sha256="-", content=b"\xff\xfe\xfa"
    )

    result = roster_import_validate(import_id=roster_import.pk)

    assert result.status == RosterImportStatus.FAILED
    assert "not UTF-8" in result.failure


def test_errors_are_all_listed_and_paginated(client, acme, django_capture_on_commit_callbacks):
    content = csv_file(*[row(n, date_of_birth="x") for n in range(1, 131)])

    body = uploaded(client, acme, content, django_capture_on_commit_callbacks)

    assert body["error_count"] == 130
    assert [e["line"] for e in body["first_errors"]] == list(range(2, 102))
    listed = pages(client, f"{imports_url(acme)}{body['id']}/errors/?limit=50")
    assert [e["line"] for e in listed] == list(range(2, 132))
    assert listed[0] == {
        "line": 2,
        "field": "date_of_birth",
        "message": "Not a date as YYYY-MM-DD.",
        "external_id": "E001",
    }


# --- confirmation and apply ----------------------------------------------------------------------


def test_plain_confirm_of_a_file_with_errors_is_refused(
    client, acme, django_capture_on_commit_callbacks
):
    body = uploaded(
        client, acme, csv_file(row(1), row(2, work_email="x")), django_capture_on_commit_callbacks
    )

    response = confirm(client, acme, body["id"], django_capture_on_commit_callbacks)

    error = assert_error(response, 409, "conflict")
    assert error["details"] == {"error_count": 1, "invalid_rows": 1}
    assert RosterImport.objects.get(pk=body["id"]).status == RosterImportStatus.PREVIEW
    assert not RosterEntry.objects.exists()


def test_confirm_with_valid_rows_only_applies_the_valid_rows(
    client, acme, admin, django_capture_on_commit_callbacks
):
    body = uploaded(
        client,
        acme,
        csv_file(row(1), row(2, work_email="x"), row(3, eligible_until="2026-12-31")),
        django_capture_on_commit_callbacks,
    )

    response = confirm(
        client, acme, body["id"], django_capture_on_commit_callbacks, valid_rows_only=True
    )

    assert response.status_code == 202
    applied = client.get(f"{imports_url(acme)}{body['id']}/").json()
    assert applied["status"] == "applied"
    assert applied["valid_rows_only"] is True
    assert applied["confirmed_by_id"] == admin.pk
    assert (applied["to_add"], applied["to_update"], applied["unchanged"]) == (2, 0, 0)
    entries = {e.external_id: e for e in RosterEntry.objects.filter(employer=acme)}
    assert sorted(entries) == ["E001", "E003"]
    assert entries["E003"].eligible_until == dt.date(2026, 12, 31)
    assert entries["E003"].work_email == "employee3@acme.example"
    changes = RosterChange.objects.filter(employer=acme).order_by("entry__external_id")
    assert [(c.entry.external_id, c.kind) for c in changes] == [
        ("E001", "added"),
        ("E003", "added"),
    ]
    added = changes[1]
    assert added.actor == admin
    assert added.roster_import_id == body["id"]
    assert added.changes["full_name"] == [None, "Employee 3"]
    assert added.changes["eligible_until"] == [None, "2026-12-31"]


def test_confirm_is_refused_unless_in_preview(client, acme, django_capture_on_commit_callbacks):
    body = uploaded(client, acme, csv_file(row(1)), django_capture_on_commit_callbacks)
    assert confirm(client, acme, body["id"], django_capture_on_commit_callbacks).status_code == 202

    again = confirm(client, acme, body["id"], django_capture_on_commit_callbacks)

    error = assert_error(again, 409, "conflict")
    assert error["details"] == {"status": "applied"}
    assert RosterEntry.objects.filter(employer=acme).count() == 1


def test_an_update_records_each_changed_field_before_and_after(
    client, acme, admin, django_capture_on_commit_callbacks
):
    existing = entry(acme, 1, full_name="Old Name", eligible_until=None)
    body = uploaded(
        client,
        acme,
        csv_file(row(1, eligible_until="2026-06-30"), row(2)),
        django_capture_on_commit_callbacks,
    )
    assert (body["to_update"], body["to_add"]) == (1, 1)
    received: list[dict[str, Any]] = []

    def receiver(**kwargs: Any) -> None:
        received.append(kwargs)

    roster_entries_terminated.connect(receiver)
    try:
        confirm(client, acme, body["id"], django_capture_on_commit_callbacks)
    finally:
        roster_entries_terminated.disconnect(receiver)

    existing.refresh_from_db()
    assert (existing.full_name, existing.eligible_until) == ("Employee 1", dt.date(2026, 6, 30))
    change = RosterChange.objects.get(entry=existing)
    assert change.kind == RosterChangeKind.UPDATED
    assert change.actor == admin
    assert change.changes == {
        "full_name": ["Old Name", "Employee 1"],
        "eligible_until": [None, "2026-06-30"],
    }
    # the eligibility the file cut short is announced like a termination
    assert [r["entry_ids"] for r in received] == [[existing.pk]]


def test_reimporting_the_same_file_changes_nothing(
    client, acme, django_capture_on_commit_callbacks
):
    content = csv_file(row(1), row(2, eligible_until="2026-12-31"), row(3))
    first = uploaded(client, acme, content, django_capture_on_commit_callbacks)
    confirm(client, acme, first["id"], django_capture_on_commit_callbacks)
    before = list(RosterEntry.objects.filter(employer=acme).order_by("id").values())
    changes_before = RosterChange.objects.count()

    again = uploaded(client, acme, content, django_capture_on_commit_callbacks)
    assert (again["to_add"], again["to_update"], again["unchanged"]) == (0, 0, 3)
    response = confirm(client, acme, again["id"], django_capture_on_commit_callbacks)

    assert response.status_code == 202
    applied = RosterImport.objects.get(pk=again["id"])
    assert applied.status == RosterImportStatus.APPLIED
    assert (applied.to_add, applied.to_update, applied.unchanged) == (0, 0, 3)
    assert list(RosterEntry.objects.filter(employer=acme).order_by("id").values()) == before
    assert RosterChange.objects.count() == changes_before


def test_apply_uses_the_roster_as_it_is_when_confirmed():
    """The roster changed between preview and confirmation: the apply classifies again."""
    employer = EmployerFactory()
    actor = user_with_role(Role.EMPLOYER_ADMIN, employer=employer)
    result = validated(employer, csv_file(row(1), row(2)))
    assert result.to_add == 2
    entry(employer, 2)  # added by hand meanwhile, the same as the file says

    roster_import_confirm(roster_import=result, actor=actor, valid_rows_only=False)
    applied = roster_import_apply(import_id=result.pk)

    assert applied.status == RosterImportStatus.APPLIED
    assert (applied.to_add, applied.unchanged) == (1, 1)
    assert RosterEntry.objects.filter(employer=employer).count() == 2


def test_apply_fails_cleanly_when_the_roster_took_an_email_meanwhile():
    employer = EmployerFactory()
    actor = user_with_role(Role.EMPLOYER_ADMIN, employer=employer)
    result = validated(employer, csv_file(row(1), row(2)))
    entry(employer, 9, work_email="employee2@acme.example")

    roster_import_confirm(roster_import=result, actor=actor, valid_rows_only=False)
    applied = roster_import_apply(import_id=result.pk)

    assert applied.status == RosterImportStatus.FAILED
    assert "changed since the preview" in applied.failure
    assert RosterEntry.objects.filter(employer=employer).count() == 1  # nothing applied
    assert not RosterChange.objects.exists()


# --- full replacement ----------------------------------------------------------------------------


def test_a_replacement_previews_and_terminates_the_missing_entries(
    client, acme, admin, django_capture_on_commit_callbacks
):
    kept = entry(acme, 1)
    missing = entry(acme, 2)
    missing_ending_later = entry(acme, 3, eligible_until=dt.date(2026, 12, 31))
    not_started = entry(acme, 4, eligible_from=dt.date(2026, 4, 1))
    ended = entry(acme, 5, eligible_until=dt.date(2026, 2, 28))
    row_with_error = entry(acme, 6)
    other_employer = entry(EmployerFactory(), 7)
    content = csv_file(row(1), row(6, date_of_birth="bad"), row(8))

    body = uploaded(client, acme, content, django_capture_on_commit_callbacks, replace=True)

    assert body["to_terminate"] == 3
    listed = pages(client, f"{imports_url(acme)}{body['id']}/terminations/")
    assert [(e["external_id"], e["last_eligible_day"]) for e in listed] == [
        ("E002", "2026-03-10"),
        ("E003", "2026-03-10"),
        ("E004", "2026-04-01"),
    ]
    assert RosterEntry.objects.get(pk=missing.pk).eligible_until is None  # preview only
    received: list[dict[str, Any]] = []

    def receiver(**kwargs: Any) -> None:
        received.append(kwargs)

    roster_entries_terminated.connect(receiver)
    try:
        response = confirm(
            client, acme, body["id"], django_capture_on_commit_callbacks, valid_rows_only=True
        )
    finally:
        roster_entries_terminated.disconnect(receiver)

    assert response.status_code == 202
    until = dict(RosterEntry.objects.values_list("pk", "eligible_until"))
    assert until[missing.pk] == TODAY
    assert until[missing_ending_later.pk] == TODAY
    assert until[not_started.pk] == dt.date(2026, 4, 1)
    assert until[ended.pk] == dt.date(2026, 2, 28)
    assert until[kept.pk] is None
    assert until[row_with_error.pk] is None  # in the file (with an error): not terminated
    assert until[other_employer.pk] is None
    assert len(received) == 1
    assert received[0]["entry_ids"] == sorted([missing.pk, missing_ending_later.pk, not_started.pk])
    assert received[0]["actor"] == admin
    terminated = RosterChange.objects.filter(kind=RosterChangeKind.TERMINATED)
    assert {c.entry_id: c.changes for c in terminated} == {
        missing.pk: {"eligible_until": [None, "2026-03-10"]},
        missing_ending_later.pk: {"eligible_until": ["2026-12-31", "2026-03-10"]},
        not_started.pk: {"eligible_until": [None, "2026-04-01"]},
    }
    applied = client.get(f"{imports_url(acme)}{body['id']}/").json()
    assert (applied["status"], applied["to_terminate"], applied["to_add"]) == ("applied", 3, 1)
    listed = pages(client, f"{imports_url(acme)}{body['id']}/terminations/")
    assert [(e["external_id"], e["last_eligible_day"]) for e in listed] == [
        ("E002", "2026-03-10"),
        ("E003", "2026-03-10"),
        ("E004", "2026-04-01"),
    ]


def test_an_import_without_replace_terminates_nothing(
    client, acme, django_capture_on_commit_callbacks
):
    missing = entry(acme, 2)
    body = uploaded(client, acme, csv_file(row(1)), django_capture_on_commit_callbacks)

    confirm(client, acme, body["id"], django_capture_on_commit_callbacks)

    assert body["to_terminate"] == 0
    assert client.get(f"{imports_url(acme)}{body['id']}/terminations/").json()["count"] == 0
    missing.refresh_from_db()
    assert missing.eligible_until is None


# --- progress ------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_progress_is_committed_while_the_validation_runs():
    employer = EmployerFactory()
    content = csv_file(*[row(n, work_email=f"p{n}@acme.example") for n in range(12_000)])
    roster_import = RosterImport.objects.create(employer=employer, file_sha256="-", content=content)
    dsn = connection.get_connection_params()
    seen: list[tuple[int, int, str]] = []

    def read_from_another_connection(processed: int) -> None:
        with psycopg.connect(
            **{k: v for k, v in dsn.items() if k in {"host", "port", "user", "password", "dbname"}}
        ) as other:
            found = other.execute(
                "SELECT processed_rows, status FROM employers_rosterimport WHERE id = %s",
                [roster_import.pk],
            ).fetchone()
        assert found is not None
        committed, status = found
        seen.append((processed, committed, status))

    result = roster_import_validate(
        import_id=roster_import.pk, on_progress=read_from_another_connection
    )

    assert seen == [
        (5_000, 5_000, "validating"),
        (10_000, 10_000, "validating"),
        (12_000, 12_000, "validating"),
    ]
    assert (result.status, result.processed_rows, result.to_add) == ("preview", 12_000, 12_000)


# --- lists and scoping ---------------------------------------------------------------------------


def test_the_list_shows_the_employers_imports_newest_first(
    client, acme, globex, django_capture_on_commit_callbacks
):
    first = uploaded(client, acme, csv_file(row(1)), django_capture_on_commit_callbacks)
    second = uploaded(client, acme, csv_file(row(2)), django_capture_on_commit_callbacks)
    RosterImport.objects.create(employer=globex, file_sha256="-", content=b"")

    listed = client.get(imports_url(acme)).json()

    assert [i["id"] for i in listed["results"]] == [second["id"], first["id"]]


def test_an_operator_admin_may_import_for_any_employer(
    client_for, acme, django_capture_on_commit_callbacks
):
    operator = client_for(user_with_role(Role.OPERATOR_ADMIN))

    body = uploaded(operator, acme, csv_file(row(1)), django_capture_on_commit_callbacks)

    assert body["status"] == "preview"


def route_calls(employer: Employer, import_id: int) -> list[tuple[str, str, dict[str, Any]]]:
    base = f"/api/v1/employers/{employer.pk}/roster/imports/"
    csv_upload = {"file": SimpleUploadedFile("r.csv", csv_file(row(1))), "replace": False}
    return [
        ("get", base, {}),
        ("post", base, {"data": csv_upload, "format": "multipart"}),
        ("get", f"{base}{import_id}/", {}),
        ("get", f"{base}{import_id}/errors/", {}),
        ("get", f"{base}{import_id}/rows/", {}),
        ("get", f"{base}{import_id}/terminations/", {}),
        ("post", f"{base}{import_id}/confirm/", {"data": {}, "format": "json"}),
    ]


ROUTES = ["list", "upload", "detail", "errors", "rows", "terminations", "confirm"]


@pytest.mark.parametrize("route", range(len(ROUTES)), ids=ROUTES)
def test_an_admin_of_another_employer_gets_404_on_every_route(
    client_for, acme, globex, route, django_capture_on_commit_callbacks
):
    own = uploaded(
        client_for(user_with_role(Role.EMPLOYER_ADMIN, employer=globex)),
        globex,
        csv_file(row(1)),
        django_capture_on_commit_callbacks,
    )
    outsider = client_for(user_with_role(Role.EMPLOYER_ADMIN, employer=acme))
    method, url, kwargs = route_calls(globex, own["id"])[route]

    with django_capture_on_commit_callbacks(execute=True):
        response = getattr(outsider, method)(url, **kwargs)

    assert_error(response, 404, "not_found")
    assert RosterImport.objects.count() == 1
    assert RosterImport.objects.get().status == RosterImportStatus.PREVIEW


def test_an_import_id_of_another_employer_is_404_under_ones_own(
    client, acme, globex, django_capture_on_commit_callbacks
):
    theirs = RosterImport.objects.create(employer=globex, file_sha256="-", content=b"")

    response = client.get(f"{imports_url(acme)}{theirs.pk}/")

    assert_error(response, 404, "not_found")


@pytest.mark.parametrize("role", [Role.MEMBER, Role.FINANCE_STAFF])
def test_other_roles_are_refused(client_for, acme, role):
    response = client_for(user_with_role(role)).get(imports_url(acme))

    assert_error(response, 403, "permission_denied")


def test_anonymous_is_401(api_client, acme):
    assert_error(api_client.get(imports_url(acme)), 401, "not_authenticated")


def test_the_operations_are_documented(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    paths = schema["paths"]
    upload_op = paths["/api/v1/employers/{employer_id}/roster/imports/"]["post"]
    assert "multipart/form-data" in upload_op["requestBody"]["content"]
    assert {"202", "400", "404", "413"} <= set(upload_op["responses"])
    confirm_op = paths["/api/v1/employers/{employer_id}/roster/imports/{id}/confirm/"]["post"]
    assert {"202", "404", "409"} <= set(confirm_op["responses"])
    assert "Idempotency-Key" in {p["name"] for p in confirm_op["parameters"]}
