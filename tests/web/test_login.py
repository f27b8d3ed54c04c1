"""The login page, in a real browser, and the home page's routing by role."""

from __future__ import annotations

import pytest

from accounts.models import Role
from tests.factories import TEST_PASSWORD, user_with_role
from tests.web.conftest import screenshot

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_wrong_password_is_refused_and_the_right_one_logs_in_and_out(login, live_server):
    user = user_with_role(Role.FINANCE_STAFF)

    page = login(user, "not the password")
    assert page.get_by_role("alert").is_visible()
    assert "/login/" in page.url

    page = login(user, TEST_PASSWORD)
    assert "/login/" not in page.url
    assert page.get_by_text(user.email).is_visible()
    screenshot(page, "after-login-finance")

    page.get_by_role("button", name="Log out").click()
    page.goto(f"{live_server.url}/")
    assert "/login/" in page.url


def test_the_login_page_is_usable_by_keyboard_alone(page, live_server):
    user = user_with_role(Role.FINANCE_STAFF)
    page.goto(f"{live_server.url}/login/")
    page.wait_for_function("document.activeElement && document.activeElement.id === 'id_username'")
    page.keyboard.type(user.email)  # the email field has the focus
    page.keyboard.press("Tab")
    page.keyboard.type(TEST_PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "/login/" not in page.url


def test_anonymous_visitors_are_sent_to_the_login_page(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/login/"


def test_static_assets_are_served_by_the_app(client):
    page = client.get("/login/")
    assert b"/static/web/app.css" in page.content
    assert b"http" not in page.content.split(b"<body>")[0].replace(b"http-equiv", b"")
