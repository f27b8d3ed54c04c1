"""Browser tests: Playwright (Python) driving Debian's Chromium (`/usr/bin/chromium`, or
`CHROMIUM_PATH`) against the live test server. Screenshots go to `build/screenshots/` (git
ignores `build/`)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connections
from playwright.sync_api import Browser, Page, sync_playwright

from accounts.models import User

SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"


def chromium_path() -> str:
    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.fail(
            "Chromium is needed for the browser tests: `apt-get install chromium` "
            "(bin/check installs it when it can), or set CHROMIUM_PATH."
        )
    return path


@pytest.fixture
def browser() -> Iterator[Browser]:
    # Per test, so after the test's database set-up (an autouse fixture): while Playwright's
    # sync API runs (an event loop and greenlets in this thread), Django's restore of the
    # seeded data for a committing test does not happen (seen: an empty catalog after a
    # flushed test). The test's own ORM calls are synchronous, made between browser steps.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(), headless=True, args=["--no-sandbox"]
        )
        yield browser
        browser.close()
        # The test's ORM calls inside Playwright's context used a connection of that context:
        # close it, or it outlives the test (and the test database cannot be dropped).
        connections.close_all()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1366, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def login(page: Page, live_server: Any) -> Callable[[User, str], Page]:
    """Log `user` in through the login page with `password`; returns the page."""

    def log_in(user: User, password: str) -> Page:
        page.goto(f"{live_server.url}/login/")
        page.get_by_label("Email").fill(user.email)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_load_state()
        return page

    return log_in


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
