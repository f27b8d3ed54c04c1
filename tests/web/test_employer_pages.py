"""The employer-admin pages through Django's test client: the roster (search, filter, paginate
in a fixed number of queries, add and terminate through the forms), the roster import (upload,
preview with row errors, refused and accepted confirmation, replacement terminations, progress),
the invoices, and who may open them (another employer's admin: 404 everywhere; finance staff
and members: 403)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import Role, User
from billing.models import Invoice
from config import clock
from employers.imports import COLUMNS
from employers.invoicing import employer_invoicing_run
from employers.models import (
    Employer,
    EmployerInvoice,
    RosterChange,
    RosterChangeKind,
    RosterEntry,
    RosterImport,
    RosterImportStatus,
)
from tests.employers.test_employer_invoicing import JULY_5, contract, june_roster
from tests.factories import EmployerFactory, user_with_role

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 3, 10)
HEADER = ",".join(COLUMNS)
TO = "\N{EN DASH}"  # between the first and last day of a period


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
def admin(acme: Employer) -> User:
    return user_with_role(Role.EMPLOYER_ADMIN, employer=acme)


@pytest.fixture
def web(admin: User) -> Client:
    client = Client()
    client.force_login(admin)
    return client


def client_as(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def entry(employer: Employer, external_id: str, name: str, **fields: Any) -> RosterEntry:
    values: dict[str, Any] = {
        "work_email": f"{external_id.lower()}@{employer.name.lower()}.example",
        "date_of_birth": dt.date(1990, 5, 17),
        "eligible_from": dt.date(2026, 1, 1),
        **fields,
    }
    return RosterEntry.objects.create(
        employer=employer, external_id=external_id, full_name=name, **values
    )


def csv_file(*rows: str) -> bytes:
    return ("\n".join([HEADER, *rows]) + "\n").encode()


def text(response: Any) -> str:
    """The page's text without tags, whitespace collapsed (to assert what a reader sees)."""
    body = response.content.decode()
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


def table_rows(response: Any, table_id: str) -> list[list[str]]:
    """The cells' text of each body row of the table with this id."""
    html = response.content.decode()
    match = re.search(rf'<table id="{table_id}">(.*?)</table>', html, re.S)
    assert match, f"no table #{table_id}"
    body = match.group(1).split("<tbody>", 1)[1]
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", body, re.S):
        cells = re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)
        rows.append([re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", cell)).strip() for cell in cells])
    return rows


def roster_url(employer: Employer) -> str:
    return f"/employer/{employer.pk}/roster/"


def upload_url(employer: Employer) -> str:
    return f"/employer/{employer.pk}/roster/import/"


def import_url(employer: Employer, roster_import: RosterImport) -> str:
    return f"/employer/{employer.pk}/roster/imports/{roster_import.pk}/"


# --- roster --------------------------------------------------------------------------------------


@pytest.fixture
def roster(acme: Employer, globex: Employer) -> dict[str, RosterEntry]:
    return {
        "ada": entry(acme, "E001", "Ada Lovelace"),
        "ben": entry(acme, "E002", "Ben Franklin", eligible_until=dt.date(2026, 2, 28)),
        "cy": entry(acme, "E003", "Cy Young", eligible_from=dt.date(2026, 4, 1)),
        "theirs": entry(globex, "G001", "Gina Globex"),
    }


def test_the_roster_lists_the_employers_entries_with_their_status(web, acme, roster):
    response = web.get(roster_url(acme))

    assert response.status_code == 200
    html = response.content.decode()
    assert html.count("<h1>") == 1
    page = text(response)
    assert "Roster · Acme" in page
    assert "E001 Ada Lovelace e001@acme.example 2026-01-01 — active" in page
    assert "E002 Ben Franklin e002@acme.example 2026-01-01 2026-02-28 terminated" in page
    assert "E003 Cy Young e003@acme.example 2026-04-01 — future" in page
    assert "Gina Globex" not in page  # another employer's roster
    assert "3 employees" in page


def test_the_roster_searches_and_filters_by_status(web, acme, roster):
    by_name = text(web.get(roster_url(acme), {"q": "lovel"}))
    assert "Ada Lovelace" in by_name
    assert "Ben Franklin" not in by_name
    assert "1 employee matches" in by_name

    by_id = text(web.get(roster_url(acme), {"q": "E00"}))
    assert all(name in by_id for name in ("Ada Lovelace", "Ben Franklin", "Cy Young"))

    terminated = text(web.get(roster_url(acme), {"status": "terminated"}))
    assert "Ben Franklin" in terminated
    assert "Ada Lovelace" not in terminated
    assert "Cy Young" not in terminated

    future = text(web.get(roster_url(acme), {"status": "future", "q": "young"}))
    assert "Cy Young" in future
    assert "Ada Lovelace" not in future


def test_the_roster_paginates_in_a_fixed_number_of_queries(web, acme):
    for n in range(3):
        entry(acme, f"A{n:03d}", f"Person {n:03d}")
    with CaptureQueriesContext(connection) as few:
        assert web.get(roster_url(acme), {"q": "Person"}).status_code == 200
    for n in range(3, 30):
        entry(acme, f"A{n:03d}", f"Person {n:03d}")
    with CaptureQueriesContext(connection) as many:
        first = web.get(roster_url(acme), {"q": "Person"})

    assert len(many) == len(few)
    page = text(first)
    assert "Person 000" in page
    assert "Person 024" in page
    assert "Person 025" not in page
    assert "Page 1 of 2" in page
    html = first.content.decode()
    assert 'href="?q=Person&amp;page=2"' in html  # the search is kept

    second = text(web.get(roster_url(acme), {"q": "Person", "page": 2}))
    assert "Person 025" in second
    assert "Person 029" in second
    assert "Person 024" not in second
    assert "Page 2 of 2" in second


ADD = {
    "add-external_id": "E100",
    "add-full_name": "Grace Hopper",
    "add-work_email": "Grace.Hopper@Acme.example",
    "add-date_of_birth": "1985-12-09",
    "add-eligible_from": "2026-03-01",
    "add-eligible_until": "",
}


def test_an_employee_is_added_through_the_form(web, acme, admin):
    response = web.post(roster_url(acme), ADD)

    assert response.status_code == 302
    assert response["Location"] == roster_url(acme)
    added = RosterEntry.objects.get(employer=acme, external_id="E100")
    assert (added.full_name, added.work_email, added.date_of_birth, added.eligible_until) == (
        "Grace Hopper",
        "grace.hopper@acme.example",
        dt.date(1985, 12, 9),
        None,
    )
    change = RosterChange.objects.get(entry=added)
    assert (change.kind, change.actor_id) == (RosterChangeKind.ADDED, admin.pk)
    page = text(web.get(roster_url(acme)))
    assert "Grace Hopper (E100) was added." in page
    assert "E100 Grace Hopper grace.hopper@acme.example 2026-03-01 — active" in page


def test_a_duplicate_external_id_is_shown_on_its_field_and_nothing_is_added(web, acme, roster):
    response = web.post(roster_url(acme), {**ADD, "add-external_id": "E001"})

    assert response.status_code == 400
    html = response.content.decode()
    field = html.split('for="id_add-external_id"', 1)[1].split("</p>", 1)[0]
    assert "Another roster entry of this employer has this external id." in field
    assert 'value="Grace Hopper"' in html  # what was typed is kept
    assert not RosterEntry.objects.filter(full_name="Grace Hopper").exists()


def test_the_services_field_rules_and_the_forms_own_show_per_field(web, acme):
    response = web.post(
        roster_url(acme),
        {**ADD, "add-date_of_birth": "2030-01-01", "add-eligible_until": "2026-02-01"},
    )
    assert response.status_code == 400
    html = response.content.decode()
    birth = html.split('for="id_add-date_of_birth"', 1)[1].split("</p>", 1)[0]
    until = html.split('for="id_add-eligible_until"', 1)[1].split("</p>", 1)[0]
    assert "The date of birth is in the future." in birth
    assert "Eligibility cannot end before it starts." in until

    missing = web.post(roster_url(acme), {**ADD, "add-full_name": "", "add-work_email": "nope"})
    assert missing.status_code == 400
    html = missing.content.decode()
    assert "This field is required." in html.split('for="id_add-full_name"', 1)[1]
    assert "Enter a valid email address." in html.split('for="id_add-work_email"', 1)[1]
    assert RosterEntry.objects.count() == 0


def test_terminating_takes_a_date_then_a_confirmation(web, acme, admin, roster):
    ada = roster["ada"]
    url = f"/employer/{acme.pk}/roster/{ada.pk}/terminate/"

    form = web.get(url)
    assert form.status_code == 200
    assert 'value="2026-03-10"' in form.content.decode()  # today by default
    assert "Terminate Ada Lovelace" in text(form)

    step = web.post(url, {"effective_date": "2026-03-31"})
    assert step.status_code == 200
    page = text(step)
    assert "Terminate Ada Lovelace (E001) with 2026-03-31 as the last eligible day?" in page
    assert "Yes, terminate" in page
    ada.refresh_from_db()
    assert ada.eligible_until is None  # not yet

    done = web.post(url, {"effective_date": "2026-03-31", "confirmed": "on"})
    assert done.status_code == 302
    ada.refresh_from_db()
    assert ada.eligible_until == dt.date(2026, 3, 31)
    change = RosterChange.objects.get(entry=ada, kind=RosterChangeKind.TERMINATED)
    assert change.actor_id == admin.pk
    assert change.changes == {"eligible_until": [None, "2026-03-31"]}
    assert "is terminated; last eligible day 2026-03-31." in text(web.get(roster_url(acme)))


def test_a_refused_termination_is_shown_on_the_form(web, acme, roster):
    ben = roster["ben"]  # ended 2026-02-28, before today
    url = f"/employer/{acme.pk}/roster/{ben.pk}/terminate/"

    early = web.post(url, {"effective_date": "2025-12-31", "confirmed": "on"})
    assert early.status_code == 400
    assert "cannot be before eligibility starts (2026-01-01)" in text(early)

    later = web.post(url, {"effective_date": "2026-04-30", "confirmed": "on"})
    assert later.status_code == 400
    assert "already ended on 2026-02-28" in text(later)
    ben.refresh_from_db()
    assert ben.eligible_until == dt.date(2026, 2, 28)


# --- roster import -------------------------------------------------------------------------------

GOOD_ROWS = (
    "E101,Grace Hopper,grace@acme.example,1985-12-09,2026-03-01,",
    "E102,Alan Turing,alan@acme.example,1980-06-23,2026-03-01,2026-12-31",
)
BAD_ROW = "E103,Katherine Johnson,katherine@acme.example,1918-08-26x,2026-03-01,"


def upload(
    client: Client, employer: Employer, content: bytes, capture: Any, *, replace: bool = False
) -> Any:
    """POST the file; the validation queued on commit runs in process."""
    data: dict[str, Any] = {"file": SimpleUploadedFile("roster.csv", content, "text/csv")}
    if replace:
        data["replace"] = "on"
    with capture(execute=True):
        return client.post(upload_url(employer), data)


def test_an_upload_previews_row_errors_refuses_a_plain_confirm_and_applies_the_valid_rows(
    web, acme, admin, django_capture_on_commit_callbacks
):
    entry(acme, "E001", "Ada Lovelace")
    content = csv_file(
        "E001,Ada King,e001@acme.example,1990-05-17,2026-01-01,",  # an update (name)
        *GOOD_ROWS,
        BAD_ROW,
    )

    response = upload(web, acme, content, django_capture_on_commit_callbacks)

    roster_import = RosterImport.objects.get(employer=acme)
    assert response.status_code == 302
    assert response["Location"] == import_url(acme, roster_import)
    preview = web.get(import_url(acme, roster_import))
    assert preview.status_code == 200
    page = text(preview)
    assert "Preview of the changes" in page
    assert "roster.csv was uploaded." in page
    counts = table_rows(preview, "import-errors")
    assert counts == [["5", "date_of_birth", "Not a date as YYYY-MM-DD.", "E103"]]
    assert table_rows(preview, "rows-to-add") == [
        ["3", "E101", "Grace Hopper", "grace@acme.example", "1985-12-09", "2026-03-01", "—"],
        ["4", "E102", "Alan Turing", "alan@acme.example", "1980-06-23", "2026-03-01", "2026-12-31"],
    ]
    assert table_rows(preview, "rows-to-update") == [
        ["2", "E001", "Ada King", "full_name: Ada Lovelace → Ada King"]
    ]
    html = preview.content.decode()
    assert 'data-count="add">2<' in html
    assert 'data-count="update">1<' in html
    assert 'data-count="errors">1<' in html
    assert "Import only the valid rows" in page

    confirm_url = import_url(acme, roster_import) + "confirm/"
    refused = web.post(confirm_url, {}, follow=True)
    assert "The file has 1 errors; fix them and upload it again" in text(refused)
    roster_import.refresh_from_db()
    assert roster_import.status == RosterImportStatus.PREVIEW
    assert not RosterEntry.objects.filter(external_id="E101").exists()

    with django_capture_on_commit_callbacks(execute=True):
        accepted = web.post(confirm_url, {"valid_rows_only": "on"})
    assert accepted.status_code == 302
    roster_import.refresh_from_db()
    assert roster_import.status == RosterImportStatus.APPLIED
    assert roster_import.confirmed_by_id == admin.pk
    applied = text(web.get(import_url(acme, roster_import)))
    assert "2 added, 1 updated, 0 unchanged; 1 error skipped." in applied
    names = set(RosterEntry.objects.filter(employer=acme).values_list("full_name", flat=True))
    assert names == {"Ada King", "Grace Hopper", "Alan Turing"}
    roster_page = text(web.get(roster_url(acme)))
    assert "E101 Grace Hopper grace@acme.example" in roster_page
    assert "Katherine Johnson" not in roster_page


def test_a_clean_file_is_confirmed_without_the_valid_rows_checkbox(
    web, acme, django_capture_on_commit_callbacks
):
    upload(web, acme, csv_file(*GOOD_ROWS), django_capture_on_commit_callbacks)
    roster_import = RosterImport.objects.get(employer=acme)

    preview = web.get(import_url(acme, roster_import))
    assert "No errors: every row of the file is valid." in text(preview)
    assert "Import only the valid rows" not in text(preview)
    with django_capture_on_commit_callbacks(execute=True):
        web.post(import_url(acme, roster_import) + "confirm/")

    roster_import.refresh_from_db()
    assert (roster_import.status, roster_import.to_add) == (RosterImportStatus.APPLIED, 2)
    assert RosterEntry.objects.filter(employer=acme).count() == 2
    # confirming again is refused by the service, shown as a message
    again = web.post(import_url(acme, roster_import) + "confirm/", follow=True)
    assert "Only an import in preview can be confirmed; this one is applied." in text(again)


def test_a_replacement_previews_the_employees_it_would_terminate(
    web, acme, django_capture_on_commit_callbacks
):
    entry(acme, "E900", "Olga Old")

    upload(web, acme, csv_file(*GOOD_ROWS), django_capture_on_commit_callbacks, replace=True)

    roster_import = RosterImport.objects.get(employer=acme)
    assert roster_import.replace
    preview = web.get(import_url(acme, roster_import))
    assert table_rows(preview, "terminations") == [
        ["E900", "Olga Old", "e900@acme.example", "2026-01-01", "2026-03-10"]
    ]
    assert 'data-count="terminate">1<' in preview.content.decode()


def test_an_unreadable_file_is_refused_on_the_form(web, acme):
    response = web.post(
        upload_url(acme),
        {"file": SimpleUploadedFile("roster.csv", b"id,name\n1,Ada\n", "text/csv")},
    )

    assert response.status_code == 400
    assert "The first line must be the header" in text(response)
    assert not RosterImport.objects.exists()


def test_a_queued_import_shows_its_progress_and_refreshes(web, acme, admin):
    # Uploaded but not validated yet (the on-commit validation is not run here).
    web.post(upload_url(acme), {"file": SimpleUploadedFile("r.csv", csv_file(*GOOD_ROWS))})
    roster_import = RosterImport.objects.get(employer=acme)
    assert roster_import.status == RosterImportStatus.QUEUED

    response = web.get(import_url(acme, roster_import))

    page = text(response)
    html = response.content.decode()
    assert "Waiting to be checked" in page
    assert "0 of 2 rows" in page
    assert 'data-refresh-seconds="2"' in html
    assert "/static/web/import_progress.js" in html
    assert f'<a href="{import_url(acme, roster_import)}">Refresh</a>' in html
    assert "Confirm import" not in page

    upload_page = text(web.get(upload_url(acme)))
    assert f"#{roster_import.pk} r.csv" in upload_page
    assert admin.email in upload_page


# --- invoices ------------------------------------------------------------------------------------


@pytest.fixture
def invoiced(acme: Employer, globex: Employer) -> dict[str, EmployerInvoice]:
    for employer in (acme, globex):
        contract(employer)
        june_roster(employer)
    employer_invoicing_run(as_of=JULY_5)
    return {
        "acme": EmployerInvoice.objects.get(employer=acme),
        "globex": EmployerInvoice.objects.get(employer=globex),
    }


def test_the_invoices_page_lists_the_employers_invoices(web, acme, invoiced):
    Invoice.objects.filter(pk=invoiced["acme"].invoice_id).update(
        hosted_invoice_url="http://stripe.test/i/acme-june"
    )

    response = web.get(f"/employer/{acme.pk}/invoices/")

    assert response.status_code == 200
    page = text(response)
    assert "June 2027" in page
    assert "draft $110.00 $110.00 30 days after it is sent" in page
    html = response.content.decode()
    assert 'href="http://stripe.test/i/acme-june"' in html
    assert f'href="/employer/{acme.pk}/invoices/{invoiced["acme"].pk}/"' in html
    assert f"/invoices/{invoiced['globex'].pk}/" not in html


def test_an_invoice_page_shows_a_line_per_member(web, acme, invoiced):
    response = web.get(f"/employer/{acme.pk}/invoices/{invoiced['acme'].pk}/")

    assert response.status_code == 200
    page = text(response)
    assert "Invoice for June 2027" in page
    assert "Members (3)" in page
    assert "Ada Lovelace" in page
    assert f"2027-06-01 {TO} 2027-06-30 30 $50.00" in page
    assert "Ben Franklin" in page
    assert f"2027-06-15 {TO} 2027-06-30 16 $26.67" in page
    assert "Cy Young" in page
    assert f"2027-06-01 {TO} 2027-06-20 20 $33.33" in page
    assert "Total $110.00" in page


# --- who may open the pages ----------------------------------------------------------------------


@pytest.fixture
def acme_import(acme: Employer, admin: User) -> RosterImport:
    return RosterImport.objects.create(
        employer=acme,
        uploaded_by=admin,
        file_name="acme.csv",
        file_sha256="0" * 64,
        content=csv_file(*GOOD_ROWS),
        total_rows=2,
        status=RosterImportStatus.PREVIEW,
    )


def employer_get_paths(
    employer: Employer, entry: RosterEntry, roster_import: RosterImport, invoice_id: int
) -> list[str]:
    base = f"/employer/{employer.pk}"
    return [
        f"{base}/roster/",
        f"{base}/roster/{entry.pk}/terminate/",
        f"{base}/roster/import/",
        f"{base}/roster/imports/{roster_import.pk}/",
        f"{base}/invoices/",
        f"{base}/invoices/{invoice_id}/",
    ]


def test_another_employers_admin_gets_404_on_every_employer_page(
    acme, globex, roster, acme_import, invoiced
):
    intruder = client_as(user_with_role(Role.EMPLOYER_ADMIN, employer=globex))
    ada = roster["ada"]
    paths = employer_get_paths(acme, ada, acme_import, invoiced["acme"].pk)

    for path in paths:
        assert intruder.get(path).status_code == 404, path
    base = f"/employer/{acme.pk}"
    posts: list[tuple[str, dict[str, Any]]] = [
        (f"{base}/roster/", ADD),
        (
            f"{base}/roster/{ada.pk}/terminate/",
            {"effective_date": "2026-03-31", "confirmed": "on"},
        ),
        (f"{base}/roster/import/", {"file": SimpleUploadedFile("x.csv", csv_file(*GOOD_ROWS))}),
        (f"{base}/roster/imports/{acme_import.pk}/confirm/", {"valid_rows_only": "on"}),
    ]
    for path, data in posts:
        assert intruder.post(path, data).status_code == 404, path
    # acme's objects under the intruder's own employer are not found either
    theirs = f"/employer/{globex.pk}"
    for path in (
        f"{theirs}/roster/{ada.pk}/terminate/",
        f"{theirs}/roster/imports/{acme_import.pk}/",
        f"{theirs}/roster/imports/{acme_import.pk}/confirm/",
        f"{theirs}/invoices/{invoiced['acme'].pk}/",
    ):
        assert intruder.get(path).status_code == 404, path
    # a missing employer looks the same
    assert intruder.get("/employer/999999/roster/").status_code == 404

    assert not RosterEntry.objects.filter(external_id="E100").exists()
    ada.refresh_from_db()
    assert ada.eligible_until is None
    assert RosterImport.objects.count() == 1
    acme_import.refresh_from_db()
    assert acme_import.status == RosterImportStatus.PREVIEW


@pytest.mark.parametrize("role", [Role.FINANCE_STAFF, Role.MEMBER])
def test_finance_staff_and_members_are_refused_every_employer_page(
    role, acme, roster, acme_import, invoiced
):
    other = client_as(user_with_role(role))
    paths = employer_get_paths(acme, roster["ada"], acme_import, invoiced["acme"].pk)

    for path in paths:
        response = other.get(path)
        assert response.status_code == 403, path
        assert "Not allowed" in text(response)
    assert other.post(f"/employer/{acme.pk}/roster/", ADD).status_code == 403
    assert not RosterEntry.objects.filter(external_id="E100").exists()


def test_anonymous_visitors_are_sent_to_the_login_page(acme):
    response = Client().get(roster_url(acme))
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_operator_admins_open_any_employers_pages(acme, roster):
    operator = client_as(user_with_role(Role.OPERATOR_ADMIN))
    assert "Ada Lovelace" in text(operator.get(roster_url(acme)))


def test_an_employer_admin_is_sent_to_their_roster_and_sees_their_links(web, acme):
    home = web.get("/")
    assert home.status_code == 302
    assert home["Location"] == roster_url(acme)

    html = web.get(roster_url(acme)).content.decode()
    nav = html.split('<nav aria-label="Main">', 1)[1].split("</nav>", 1)[0]
    assert f'href="{roster_url(acme)}" aria-current="page">Roster<' in nav
    assert f'href="{upload_url(acme)}">Import roster<' in nav
    assert f'href="/employer/{acme.pk}/invoices/">Invoices<' in nav
