"""The employer admin's main task in a real browser: upload a roster file with a bad row, see
the error in the preview, upload the fixed file, confirm, see it applied and the new people on
the roster. Finance staff are refused the employer pages.

The validation and the apply are queued with `transaction.on_commit` and run eagerly in the
live server's thread right after the upload's (and the confirmation's) commit."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import expect

from accounts.models import Role
from employers.imports import COLUMNS
from employers.models import RosterEntry, RosterImport, RosterImportStatus
from tests.factories import TEST_PASSWORD, EmployerFactory, user_with_role
from tests.web.conftest import screenshot

pytestmark = pytest.mark.django_db(transaction=True)

ROWS = [
    "E101,Grace Hopper,grace.hopper@acme.example,1985-12-09,2026-01-01,",
    "E102,Alan Turing,alan.turing@acme.example,1980-06-23,2026-01-01,",
    "E103,Katherine Johnson,katherine.johnson@acme.example,1978-08-26,2026-02-01,",
    "E104,Edsger Dijkstra,edsger.dijkstra@acme.example,1975-05-11,2026-01-01,2026-12-31",
    "E105,Barbara Liskov,barbara.liskov@acme.example,1979-11-07,2026-03-01,",
]
BAD = "E106,Margaret Hamilton,margaret.hamilton@acme.example,1986-17-08,2026-01-01,"  # month 17
FIXED = "E106,Margaret Hamilton,margaret.hamilton@acme.example,1986-08-17,2026-01-01,"


def roster_csv(*rows: str) -> bytes:
    return ("\n".join([",".join(COLUMNS), *rows]) + "\n").encode()


def upload(page, content: bytes) -> None:
    page.get_by_role("link", name="Import roster").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Import roster")
    page.get_by_label("Roster file (CSV)").set_input_files(
        {"name": "acme-roster.csv", "mimeType": "text/csv", "buffer": content}
    )
    page.get_by_role("button", name="Upload and preview").click()
    page.wait_for_load_state()


def test_an_employer_admin_imports_a_roster_fixing_a_bad_row(login, live_server):
    acme = EmployerFactory.create(name="Acme")
    RosterEntry.objects.create(
        employer=acme,
        external_id="E001",
        full_name="Ada Lovelace",
        work_email="ada.lovelace@acme.example",
        date_of_birth=dt.date(1985, 12, 10),
        eligible_from=dt.date(2025, 1, 1),
    )
    admin = user_with_role(Role.EMPLOYER_ADMIN, employer=acme)

    page = login(admin, TEST_PASSWORD)
    expect(page.get_by_role("heading", level=1)).to_have_text("Roster · Acme")
    expect(page.get_by_role("row", name="Ada Lovelace")).to_contain_text("active")

    # 1. A file with one bad row: the preview shows the error with its line, and the real rows.
    upload(
        page,
        roster_csv(
            "E001,Ada Lovelace,ada.lovelace@acme.example,1985-12-10,2025-01-01,", *ROWS, BAD
        ),
    )
    expect(page.get_by_role("heading", level=1)).to_contain_text("Roster import #")
    expect(page.locator("#import-status")).to_have_text("Preview")
    error_rows = page.locator("#import-errors tbody tr")
    expect(error_rows).to_have_count(1)
    expect(error_rows.first.locator("td")).to_have_text(
        ["8", "date_of_birth", "Not a date as YYYY-MM-DD.", "E106"]
    )
    add_rows = page.locator("#rows-to-add tbody tr")
    expect(add_rows).to_have_count(5)
    expect(page.get_by_role("row", name="Grace Hopper")).to_contain_text(
        "grace.hopper@acme.example"
    )
    expect(page.locator("[data-count=unchanged]")).to_have_text("1")
    expect(page.get_by_label("Import only the valid rows")).to_be_visible()
    screenshot(page, "roster-import-preview")

    # 2. The fixed file: no error; confirm; applied.
    upload(page, roster_csv(*ROWS, FIXED))
    expect(page.locator("#import-status")).to_have_text("Preview")
    expect(page.locator("#no-errors")).to_be_visible()
    expect(page.locator("#rows-to-add tbody tr")).to_have_count(6)
    expect(page.get_by_label("Import only the valid rows")).to_have_count(0)
    page.get_by_role("button", name="Confirm import").click()
    page.wait_for_load_state()
    expect(page.locator("#import-status")).to_have_text("Applied")
    expect(page.get_by_text("6 added, 0 updated, 0 unchanged")).to_be_visible()
    fixed = RosterImport.objects.order_by("-id").first()
    assert fixed is not None
    assert (fixed.status, fixed.to_add, fixed.error_count) == (RosterImportStatus.APPLIED, 6, 0)
    first = RosterImport.objects.order_by("id").first()
    assert first is not None
    assert first.status == RosterImportStatus.PREVIEW  # the bad file was never applied

    # 3. The new people are on the roster.
    page.get_by_role("link", name="See the roster").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Roster · Acme")
    expect(page.get_by_text("7 employees")).to_be_visible()
    expect(page.get_by_role("row", name="Margaret Hamilton")).to_contain_text(
        "margaret.hamilton@acme.example"
    )
    expect(page.get_by_role("row", name="Edsger Dijkstra")).to_contain_text("2026-12-31")
    screenshot(page, "employer-roster")
    page.get_by_label("Search").fill("liskov")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("table tbody tr")).to_have_count(1)
    expect(page.get_by_role("row", name="Barbara Liskov")).to_contain_text("E105")


def test_finance_staff_are_refused_the_employer_pages(login, live_server):
    acme = EmployerFactory.create(name="Acme")
    finance = user_with_role(Role.FINANCE_STAFF)

    page = login(finance, TEST_PASSWORD)
    for path in ("roster/", "roster/import/", "invoices/"):
        response = page.goto(f"{live_server.url}/employer/{acme.pk}/{path}")
        assert response is not None
        assert response.status == 403, path
        expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")
    expect(page.get_by_role("link", name="Import roster")).to_have_count(0)
