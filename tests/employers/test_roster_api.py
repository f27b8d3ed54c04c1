"""The roster API: list (filters, search, ordering, a fixed number of queries), add, update,
terminate (with its signal), the history, and scoping of every route."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Role
from config import clock
from employers.models import RosterChange, RosterChangeKind, RosterEntry
from employers.signals import roster_entries_terminated
from tests.api_assertions import assert_error
from tests.employers.factories import EmployerFactory, RosterEntryFactory
from tests.factories import PartnerFactory, user_with_role

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 3, 15)

NEW_ENTRY = {
    "external_id": "A-100",
    "full_name": "Ada Lovelace",
    "work_email": "Ada@Acme.example",
    "date_of_birth": "1985-12-10",
    "eligible_from": "2026-03-01",
}


@pytest.fixture(autouse=True)
def _today() -> Iterator[None]:
    with clock.as_of(TODAY):
        yield


@pytest.fixture
def acme():
    return EmployerFactory(name="Acme")


@pytest.fixture
def globex():
    return EmployerFactory(name="Globex")


@pytest.fixture
def admin(acme):
    return user_with_role(Role.EMPLOYER_ADMIN, employer=acme)


@pytest.fixture
def client(client_for, admin):
    return client_for(admin)


@pytest.fixture
def terminations() -> Iterator[list[dict[str, Any]]]:
    """Every `roster_entries_terminated` sent while the test runs."""
    received: list[dict[str, Any]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        received.append({"sender": sender, **kwargs})

    roster_entries_terminated.connect(receiver, weak=False)
    yield received
    roster_entries_terminated.disconnect(receiver)


def roster_url(employer_id: int, suffix: str = "") -> str:
    return f"/api/v1/employers/{employer_id}/roster/{suffix}"


def history(entry: RosterEntry) -> list[RosterChange]:
    return list(RosterChange.objects.filter(entry=entry).order_by("id"))


# --- add ---------------------------------------------------------------------------------------


def test_admin_adds_an_entry_and_the_addition_is_in_the_history(client, admin, acme):
    response = client.post(roster_url(acme.id), NEW_ENTRY)

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["work_email"] == "ada@acme.example"
    assert body["status"] == "active"
    assert body["eligible_until"] is None
    entry = RosterEntry.objects.get(pk=body["id"])
    assert entry.employer_id == acme.id
    [change] = history(entry)
    assert (change.kind, change.actor_id, change.employer_id) == (
        RosterChangeKind.ADDED,
        admin.pk,
        acme.id,
    )
    assert change.changes["external_id"] == [None, "A-100"]
    assert change.changes["eligible_from"] == [None, "2026-03-01"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"external_id": "A-100"}, "external_id"),
        ({"work_email": "ADA@acme.EXAMPLE"}, "work_email"),
    ],
)
def test_a_duplicate_in_the_employer_is_a_409_naming_the_field(client, acme, change, field):
    RosterEntryFactory(employer=acme, external_id="A-100", work_email="ada@acme.example")
    other = {**NEW_ENTRY, "external_id": "B-200", "work_email": "bob@acme.example", **change}

    error = assert_error(client.post(roster_url(acme.id), other), 409, "conflict")

    assert error["details"]["field"] == field
    assert RosterEntry.objects.filter(employer=acme).count() == 1
    assert not RosterChange.objects.exists()


def test_the_same_employee_may_be_on_two_employers_rosters(client, acme, globex):
    RosterEntryFactory(employer=globex, external_id="A-100", work_email="ada@acme.example")

    assert client.post(roster_url(acme.id), NEW_ENTRY).status_code == 201


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"eligible_until": "2026-02-28"}, "eligible_until"),
        ({"date_of_birth": "2030-01-01"}, "date_of_birth"),
        ({"work_email": "nope"}, "work_email"),
        ({"external_id": ""}, "external_id"),
        ({"eligible_from": None}, "eligible_from"),
    ],
)
def test_add_validation_errors_name_the_field(client, acme, change, field):
    error = assert_error(client.post(roster_url(acme.id), {**NEW_ENTRY, **change}), 400, "invalid")

    assert field in error["details"], error
    assert not RosterEntry.objects.exists()


# --- list --------------------------------------------------------------------------------------


@pytest.fixture
def roster(acme, globex):
    return {
        "active": RosterEntryFactory(
            employer=acme, full_name="Alice Active", external_id="ACT-1", work_email="alice@a.ex"
        ),
        "ending": RosterEntryFactory(
            employer=acme,
            full_name="Erin Ending",
            external_id="END-1",
            eligible_until=dt.date(2026, 3, 31),
        ),
        "terminated": RosterEntryFactory(
            employer=acme, full_name="Tom Gone", eligible_until=dt.date(2026, 2, 28)
        ),
        "future": RosterEntryFactory(
            employer=acme, full_name="Fay Future", eligible_from=dt.date(2026, 4, 1)
        ),
        "other_employer": RosterEntryFactory(employer=globex, full_name="Alice Elsewhere"),
    }


def listed_ids(client: Any, url: str) -> list[int]:
    response = client.get(url)
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def test_list_is_the_employers_roster_by_name(client, acme, roster):
    response = client.get(roster_url(acme.id))

    body = response.json()
    assert body["count"] == 4
    assert [row["full_name"] for row in body["results"]] == [
        "Alice Active",
        "Erin Ending",
        "Fay Future",
        "Tom Gone",
    ]
    assert {row["full_name"]: row["status"] for row in body["results"]} == {
        "Alice Active": "active",
        "Erin Ending": "active",
        "Fay Future": "future",
        "Tom Gone": "terminated",
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=active", ["active", "ending"]),
        ("status=terminated", ["terminated"]),
        ("status=future", ["future"]),
        ("eligible_on=2026-04-15", ["active", "future"]),
        ("eligible_on=2026-03-31", ["active", "ending"]),
        ("eligible_on=2026-02-01", ["active", "ending", "terminated"]),
        ("q=alice", ["active"]),
        ("q=ALICE%40A.EX", ["active"]),
        ("q=end-", ["ending"]),
        ("q=gone&status=terminated", ["terminated"]),
        ("q=nobody", []),
    ],
)
def test_list_filters_and_search(client, acme, roster, query, expected):
    ids = listed_ids(client, roster_url(acme.id) + "?" + query)

    assert sorted(ids) == sorted(roster[name].id for name in expected)


def test_status_follows_the_clock(client, acme, roster):
    with clock.as_of(dt.date(2026, 4, 1)):
        ids = listed_ids(client, roster_url(acme.id) + "?status=active")

    assert sorted(ids) == sorted([roster["active"].id, roster["future"].id])


def test_list_ordering_and_pagination(client, acme, roster):
    by_start = listed_ids(client, roster_url(acme.id) + "?ordering=-eligible_from&limit=2")
    page_two = client.get(roster_url(acme.id) + "?ordering=-eligible_from&limit=2&offset=2").json()

    assert by_start[0] == roster["future"].id
    assert len(by_start) == 2
    assert page_two["count"] == 4
    assert len(page_two["results"]) == 2
    assert not set(by_start) & {row["id"] for row in page_two["results"]}


@pytest.mark.parametrize(
    "query", ["status=gone", "eligible_on=yesterday", "ordering=date_of_birth", "ordering=-pk"]
)
def test_bad_list_parameters_are_a_400(client, acme, query):
    assert_error(client.get(roster_url(acme.id) + "?" + query), 400, "invalid")


def test_list_runs_a_fixed_number_of_queries(client, acme, django_assert_num_queries):
    RosterEntryFactory(employer=acme)
    with CaptureQueriesContext(connection) as one_row:
        assert len(listed_ids(client, roster_url(acme.id))) == 1
    queries_for_one = len(one_row.captured_queries)  # read now: each request resets the log
    assert queries_for_one == 5  # token, access, employer, count, rows
    RosterEntryFactory.create_batch(19, employer=acme)

    with django_assert_num_queries(queries_for_one):
        assert len(listed_ids(client, roster_url(acme.id))) == 20


def test_history_runs_a_fixed_number_of_queries(client, acme, django_assert_num_queries):
    client.post(roster_url(acme.id), NEW_ENTRY)
    with CaptureQueriesContext(connection) as one_row:
        first = client.get(roster_url(acme.id, "history/"))
    assert first.status_code == 200, first.content
    assert len(first.json()["results"]) == 1
    queries_for_one = len(one_row.captured_queries)  # read now: each request resets the log
    assert queries_for_one == 5  # token, access, employer, count, rows
    for n in range(19):
        client.post(
            roster_url(acme.id),
            {**NEW_ENTRY, "external_id": f"X{n}", "work_email": f"x{n}@acme.example"},
        )

    with django_assert_num_queries(queries_for_one):
        assert len(client.get(roster_url(acme.id, "history/")).json()["results"]) == 20


# --- read and update ---------------------------------------------------------------------------


def test_admin_reads_an_entry(client, acme):
    entry = RosterEntryFactory(employer=acme)

    response = client.get(roster_url(acme.id, f"{entry.id}/"))

    assert response.status_code == 200
    assert response.json()["external_id"] == entry.external_id


def test_update_records_each_changed_field_before_and_after(client, admin, acme, terminations):
    entry = RosterEntryFactory(employer=acme, full_name="Ada L", work_email="ada@acme.example")

    response = client.patch(
        roster_url(acme.id, f"{entry.id}/"),
        {
            "full_name": "Ada Lovelace",
            "work_email": "ada@acme.example",  # unchanged: not recorded
            "date_of_birth": "1985-12-10",
        },
    )

    assert response.status_code == 200, response.content
    [change] = history(entry)
    assert change.kind == RosterChangeKind.UPDATED
    assert change.actor_id == admin.pk
    assert change.changes == {
        "full_name": ["Ada L", "Ada Lovelace"],
        "date_of_birth": ["1990-05-17", "1985-12-10"],
    }
    assert terminations == []


def test_an_update_that_changes_nothing_writes_nothing(client, acme):
    entry = RosterEntryFactory(employer=acme)

    response = client.patch(roster_url(acme.id, f"{entry.id}/"), {"full_name": entry.full_name})

    assert response.status_code == 200
    assert history(entry) == []


def test_setting_eligible_until_by_update_announces_the_termination(
    client, admin, acme, terminations
):
    entry = RosterEntryFactory(employer=acme)

    client.patch(roster_url(acme.id, f"{entry.id}/"), {"eligible_until": "2026-04-30"})

    assert [(t["entry_ids"], t["actor"]) for t in terminations] == [([entry.id], admin)]


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"external_id": "NEW"}, 400, "invalid", "external_id"),
        (
            {"eligible_from": "2026-05-01", "eligible_until": "2026-04-30"},
            400,
            "invalid",
            "eligible_until",
        ),
        ({"work_email": "taken@acme.example"}, 409, "conflict", None),
    ],
)
def test_update_refusals(client, acme, body, status, code, field):
    RosterEntryFactory(employer=acme, work_email="taken@acme.example")
    entry = RosterEntryFactory(employer=acme)

    error = assert_error(client.patch(roster_url(acme.id, f"{entry.id}/"), body), status, code)

    if field:
        assert field in error["details"]
    else:
        assert error["details"]["field"] == "work_email"
    assert history(entry) == []


# --- terminate ---------------------------------------------------------------------------------


def test_terminate_sets_the_last_eligible_day_records_it_and_signals_once(
    client, admin, acme, terminations
):
    entry = RosterEntryFactory(employer=acme)

    response = client.post(
        roster_url(acme.id, f"{entry.id}/terminate/"), {"effective_date": "2026-03-20"}
    )

    assert response.status_code == 200, response.content
    assert response.json()["eligible_until"] == "2026-03-20"
    assert response.json()["status"] == "active"  # the 20th is still covered
    entry.refresh_from_db()
    assert entry.eligible_until == dt.date(2026, 3, 20)
    [change] = history(entry)
    assert change.kind == RosterChangeKind.TERMINATED
    assert change.actor_id == admin.pk
    assert change.changes == {"eligible_until": [None, "2026-03-20"]}
    assert len(terminations) == 1
    assert terminations[0]["sender"] is RosterEntry
    assert terminations[0]["entry_ids"] == [entry.id]
    assert terminations[0]["actor"] == admin


def test_terminating_before_eligibility_starts_is_a_400(client, acme, terminations):
    entry = RosterEntryFactory(employer=acme, eligible_from=dt.date(2026, 3, 1))

    error = assert_error(
        client.post(
            roster_url(acme.id, f"{entry.id}/terminate/"), {"effective_date": "2026-02-28"}
        ),
        400,
        "invalid",
    )

    assert "effective_date" in error["details"]
    assert history(entry) == []
    assert terminations == []


def test_terminating_on_the_first_eligible_day_is_allowed(client, acme):
    entry = RosterEntryFactory(employer=acme, eligible_from=dt.date(2026, 3, 1))

    response = client.post(
        roster_url(acme.id, f"{entry.id}/terminate/"), {"effective_date": "2026-03-01"}
    )

    assert response.status_code == 200
    assert response.json()["status"] == "terminated"


def test_terminating_again_with_the_same_date_changes_nothing(client, acme, terminations):
    entry = RosterEntryFactory(employer=acme, eligible_until=dt.date(2026, 3, 31))

    response = client.post(
        roster_url(acme.id, f"{entry.id}/terminate/"), {"effective_date": "2026-03-31"}
    )

    assert response.status_code == 200
    assert history(entry) == []
    assert terminations == []


def test_a_termination_not_yet_reached_can_move_later_or_earlier(client, acme, terminations):
    entry = RosterEntryFactory(employer=acme, eligible_until=dt.date(2026, 3, 31))
    url = roster_url(acme.id, f"{entry.id}/terminate/")

    later = client.post(url, {"effective_date": "2026-04-30"})
    earlier = client.post(url, {"effective_date": "2026-03-10"})

    assert later.status_code == earlier.status_code == 200
    assert [c.changes["eligible_until"] for c in history(entry)] == [
        ["2026-03-31", "2026-04-30"],
        ["2026-04-30", "2026-03-10"],
    ]
    assert len(terminations) == 2


def test_an_entry_that_already_ended_cannot_be_terminated_later(client, acme, terminations):
    entry = RosterEntryFactory(employer=acme, eligible_until=dt.date(2026, 2, 28))
    url = roster_url(acme.id, f"{entry.id}/terminate/")

    error = assert_error(
        client.post(url, {"effective_date": "2026-04-30"}), 409, "already_terminated"
    )
    earlier = client.post(url, {"effective_date": "2026-02-10"})

    assert error["details"]["eligible_until"] == "2026-02-28"
    assert earlier.status_code == 200  # a correction to an earlier day is fine
    assert len(terminations) == 1


def test_terminate_needs_a_date(client, acme):
    entry = RosterEntryFactory(employer=acme)

    error = assert_error(
        client.post(roster_url(acme.id, f"{entry.id}/terminate/"), {}), 400, "invalid"
    )

    assert "effective_date" in error["details"]


def test_there_is_no_delete(client, acme):
    entry = RosterEntryFactory(employer=acme)

    assert_error(client.delete(roster_url(acme.id, f"{entry.id}/")), 405, "method_not_allowed")
    assert RosterEntry.objects.filter(pk=entry.pk).exists()


# --- history -----------------------------------------------------------------------------------


@pytest.fixture
def changed(client, acme):
    """Ada added on the 15th, renamed on the 16th, terminated on the 17th; Bob added on the
    16th; and a change on another employer's roster."""
    ada_id = client.post(roster_url(acme.id), NEW_ENTRY).json()["id"]
    with clock.as_of(dt.date(2026, 3, 16)):
        client.patch(roster_url(acme.id, f"{ada_id}/"), {"full_name": "Ada King"})
        bob_id = client.post(
            roster_url(acme.id),
            {**NEW_ENTRY, "external_id": "B-1", "work_email": "bob@acme.example"},
        ).json()["id"]
    with clock.as_of(dt.date(2026, 3, 17)):
        client.post(roster_url(acme.id, f"{ada_id}/terminate/"), {"effective_date": "2026-03-31"})
    RosterChange.objects.create(
        employer=(other := RosterEntryFactory()).employer, entry=other, kind=RosterChangeKind.ADDED
    )
    return {"ada": ada_id, "bob": bob_id}


def kinds_and_entries(response: Any) -> list[tuple[str, int]]:
    assert response.status_code == 200, response.content
    return [(row["kind"], row["entry"]) for row in response.json()["results"]]


def test_history_is_newest_first_with_who_and_what(client, admin, acme, changed):
    response = client.get(roster_url(acme.id, "history/"))

    ada, bob = changed["ada"], changed["bob"]
    assert kinds_and_entries(response) == [
        ("terminated", ada),
        ("added", bob),
        ("updated", ada),
        ("added", ada),
    ]
    newest = response.json()["results"][0]
    assert newest["actor"] == admin.pk
    assert newest["actor_email"] == admin.email
    assert newest["changes"] == {"eligible_until": [None, "2026-03-31"]}
    assert newest["roster_import"] is None


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("kind=added", [("added", "bob"), ("added", "ada")]),
        ("entry={ada}", [("terminated", "ada"), ("updated", "ada"), ("added", "ada")]),
        ("date_from=2026-03-16&date_to=2026-03-16", [("added", "bob"), ("updated", "ada")]),
        ("date_from=2026-03-17", [("terminated", "ada")]),
        ("date_to=2026-03-15", [("added", "ada")]),
        ("entry={bob}&kind=terminated", []),
    ],
)
def test_history_filters(client, acme, changed, query, expected):
    response = client.get(roster_url(acme.id, "history/") + "?" + query.format(**changed))

    assert kinds_and_entries(response) == [(kind, changed[name]) for kind, name in expected]


def test_bad_history_filters_are_a_400(client, acme):
    for query in ["kind=deleted", "date_from=2026-03-17&date_to=2026-03-16", "entry=x"]:
        assert_error(client.get(roster_url(acme.id, "history/") + "?" + query), 400, "invalid")


def test_one_entrys_history(client, acme, changed):
    response = client.get(roster_url(acme.id, f"{changed['bob']}/history/"))

    assert kinds_and_entries(response) == [("added", changed["bob"])]


# --- scoping: every roster route of employer A, as others ------------------------------------


def roster_routes(employer_id: int, entry_id: int) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        ("get", roster_url(employer_id), {}),
        ("post", roster_url(employer_id), {**NEW_ENTRY, "external_id": "EVIL"}),
        ("get", roster_url(employer_id, f"{entry_id}/"), {}),
        ("patch", roster_url(employer_id, f"{entry_id}/"), {"full_name": "Hijacked"}),
        (
            "post",
            roster_url(employer_id, f"{entry_id}/terminate/"),
            {"effective_date": "2026-03-20"},
        ),
        ("get", roster_url(employer_id, "history/"), {}),
        ("get", roster_url(employer_id, f"{entry_id}/history/"), {}),
    ]


def test_admin_of_another_employer_gets_404_on_every_roster_route(
    client_for, acme, globex, terminations
):
    entry = RosterEntryFactory(employer=acme, full_name="Kept")
    client = client_for(user_with_role(Role.EMPLOYER_ADMIN, employer=globex))

    for method, url, body in roster_routes(acme.id, entry.id):
        assert_error(getattr(client, method)(url, body), 404, "not_found")

    entry.refresh_from_db()
    assert (entry.full_name, entry.eligible_until) == ("Kept", None)
    assert not RosterEntry.objects.filter(external_id="EVIL").exists()
    assert not RosterChange.objects.exists()
    assert terminations == []


def test_an_entry_of_another_employer_is_a_404_under_ones_own_employer(client, acme, globex):
    foreign = RosterEntryFactory(employer=globex)

    for method, url, body in roster_routes(acme.id, foreign.id)[2:]:
        if url.endswith("/roster/history/"):
            continue
        assert_error(getattr(client, method)(url, body), 404, "not_found")


@pytest.mark.parametrize("role", [Role.MEMBER, Role.PARTNER_VIEWER])
def test_members_and_partner_viewers_are_refused_every_roster_route(client_for, acme, role):
    entry = RosterEntryFactory(employer=acme)
    partner = PartnerFactory() if role == Role.PARTNER_VIEWER else None
    client = client_for(user_with_role(role, partner=partner))

    for method, url, body in roster_routes(acme.id, entry.id):
        assert_error(getattr(client, method)(url, body), 403, "permission_denied")


def test_anonymous_callers_get_401_on_every_roster_route(api_client, acme):
    entry = RosterEntryFactory(employer=acme)

    for method, url, body in roster_routes(acme.id, entry.id):
        assert_error(getattr(api_client, method)(url, body), 401, "not_authenticated")


@pytest.mark.parametrize("role", [Role.OPERATOR_ADMIN, Role.FINANCE_STAFF])
def test_staff_manage_any_roster(client_for, acme, role, terminations):
    staff = user_with_role(role)
    client = client_for(staff)

    added = client.post(roster_url(acme.id), NEW_ENTRY)
    entry_id = added.json()["id"]
    terminated = client.post(
        roster_url(acme.id, f"{entry_id}/terminate/"), {"effective_date": "2026-03-31"}
    )

    assert added.status_code == 201
    assert terminated.status_code == 200
    assert {c.actor_id for c in RosterChange.objects.all()} == {staff.pk}
    assert len(terminations) == 1
