"""A real `companin serve` for the console's browser tests, with two organizations and
their people, and chromium pages signed in as any of them.

Use it from a test module with `from console_site import console_site, console_page, browser`
(pytest fixtures). The server answers offline (no model configured): the console calls the
same pipeline either way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from chromium import DESK, PageWatch, launched_chromium, sync_api
from conftest import companin_server

from companin import create_app
from companin.services.organizations import create_organization
from companin.services.people import create_user

API = "/api/v1"
PASSWORD = "a long enough password"
WAIT_MS = 15_000
# Organization "a" has one person of each role; "b" an owner, to try to see a's data.
PEOPLE = {
    ("a", "owner"): ("olive@acme.example", "Olive Owner"),
    ("a", "admin"): ("adam@acme.example", "Adam Admin"),
    ("a", "agent"): ("agnes@acme.example", "Agnes Agent"),
    ("b", "owner"): ("bob@other.example", "Bob Other"),
}


@dataclass
class ConsoleSite:
    url: str
    instance: Path
    orgs: dict[str, dict] = field(default_factory=dict)  # name -> ids and API headers
    _signed_in: dict[tuple[str, str], dict] = field(default_factory=dict)  # storage states

    def api(self, method: str, path: str, org: str = "a", **kwargs) -> dict | list:
        """Call the REST API as organization `org`; the envelope's data."""
        response = requests.request(
            method,
            f"{self.url}{API}{path}",
            headers=self.orgs[org]["headers"],
            timeout=30,
            **kwargs,
        )
        assert response.status_code < 300, response.text
        return response.json()["data"]

    def email(self, role: str, org: str = "a") -> str:
        return PEOPLE[(org, role)][0]

    def console(self, path: str = "/") -> str:
        return f"{self.url}/console{path}"


@pytest.fixture(scope="module")
def console_site(tmp_path_factory) -> Iterator[ConsoleSite]:
    root = tmp_path_factory.mktemp("console")
    instance = root / "instance"
    app = create_app({"INSTANCE_PATH": str(instance)})
    orgs = {}
    with app.app_context():
        for name, title in (("a", "Acme shop"), ("b", "Other shop")):
            credentials = create_organization(title)
            orgs[name] = {
                "organization_id": credentials.organization_id,
                "client_id": credentials.client_id,
                "headers": {
                    "X-API-Key": credentials.client_id,
                    "X-API-Secret": credentials.client_secret,
                },
            }
        for (org, role), (email, name) in PEOPLE.items():
            create_user(orgs[org]["organization_id"], email, role, name, PASSWORD)
    del app
    env = {
        "COMPANIN_RATE_LIMIT": "100000/hour",
        "COMPANIN_WIDGET_TOKEN_RATE_LIMIT": "100000/hour",
        "COMPANIN_CONSOLE_SIGN_IN_RATE_LIMIT": "1000/minute",
    }
    with companin_server(instance, root, threads=16, env=env) as server:
        yield ConsoleSite(server.url, instance, orgs)


@pytest.fixture(scope="module")
def browser():
    yield from launched_chromium()


@pytest.fixture
def console_page(console_site, browser) -> Iterator[Callable[..., object]]:
    """`console_page(role="admin", org="a", viewport=DESK)`: a chromium page signed in to
    the console as that person, at the inbox. Every page opened is checked at the end for
    uncaught exceptions and console errors."""
    opened: list[tuple[object, PageWatch]] = []

    def open_page(role: str = "admin", org: str = "a", viewport: dict = DESK):
        key = (org, role)
        state = console_site._signed_in.get(key)
        context = browser.new_context(viewport=viewport, storage_state=state)
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        watch = PageWatch(page)
        opened.append((context, watch))
        page.goto(console_site.console("/"))
        if state is None:  # sign in through the form, once per person and module
            page.fill("#email", console_site.email(role, org))
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            sync_api.expect(page.locator("nav.nav")).to_be_visible()
            console_site._signed_in[key] = context.storage_state()
        return page

    yield open_page
    for context, watch in opened:
        context.close()
        watch.assert_clean()
