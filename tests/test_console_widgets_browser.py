"""The Widget and Settings sections in chromium: the preview follows the form before it is
saved, the script tag is copied to the clipboard, and an invitation link signs a new
person in from a fresh browser. Screenshots of the pages at a desk's and a phone's width.
"""

from __future__ import annotations

import re

import pytest
from chromium import DESK, PHONE, PageWatch, save_screenshot, sync_api
from console_site import WAIT_MS, browser, console_page, console_site

pytestmark = [pytest.mark.browser, pytest.mark.module_data]
# The site's fixtures, which pytest finds by their names here.
__all__ = ["browser", "console_page", "console_site"]

SHOP = "https://shop.example.com"
expect = sync_api.expect


@pytest.fixture(scope="module")
def config(console_site) -> dict:
    """A config of organization "a" that allows only SHOP, not the console's own origin."""
    assistant = console_site.api("POST", "/assistants/", json={"name": "Shop helper"})
    return console_site.api(
        "POST",
        "/widget-configs/",
        json={
            "assistant_id": assistant["id"],
            "name": "Shop widget",
            "greeting": "Welcome to Acme!",
            "suggested_questions": ["Where is my order?"],
            "theme": {"title": "Acme help", "primary_color": "#0f766e"},
            "allowed_origins": [SHOP],
        },
    )


def fits(page, width: int) -> None:
    """Nothing sticks out sideways: the page reads without scrolling left and right."""
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_the_preview_follows_the_form_before_it_is_saved(console_site, console_page, config):
    page = console_page("admin")
    page.goto(console_site.console(f"/widgets/{config['id']}"))
    widget = page.frame_locator("iframe.widget-preview")

    # The real widget, on the console's origin, which the config does not list.
    launcher = widget.locator(".launcher")
    expect(launcher).to_have_text("Acme help")
    launcher.click()
    expect(widget.locator(".panel header h2")).to_have_text("Acme help")
    expect(widget.get_by_text("Welcome to Acme!")).to_be_visible()

    page.fill("#theme_title", "Ask Acme anything")
    page.fill("#greeting", "Hello from the draft")

    expect(widget.locator(".panel header h2")).to_have_text("Ask Acme anything")
    expect(widget.get_by_text("Hello from the draft")).to_be_visible()
    saved = console_site.api("GET", f"/widget-configs/{config['id']}")
    assert saved["theme"]["title"] == "Acme help"  # nothing saved yet
    save_screenshot(page, "console-widget-editor-desk")

    page.fill("#theme_launcher_text", "Questions?")
    page.click("button[type=submit]:text('Save')")

    expect(page.locator(".notice")).to_have_text("Widget config saved.")
    saved = console_site.api("GET", f"/widget-configs/{config['id']}")
    assert saved["theme"]["title"] == "Ask Acme anything"
    assert saved["theme"]["launcher_text"] == "Questions?"
    assert saved["greeting"] == "Hello from the draft"


def test_an_agent_copies_the_script_tag(console_site, console_page, config):
    page = console_page("agent")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=console_site.url)
    page.goto(console_site.console(f"/widgets/{config['id']}"))
    snippet = page.locator("#embed-snippet")
    copy = page.locator("button[data-copy=embed-snippet]")

    copy.click()

    expect(copy).to_have_text("Copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == snippet.text_content()
    assert copied == (
        f'<script src="{console_site.url}/widget.js"\n'
        f'        data-client-id="{console_site.orgs["a"]["client_id"]}"\n'
        f'        data-assistant-id="{config["assistant_id"]}"\n'
        f'        data-config-id="{config["id"]}"\n'
        '        data-instance-id="primary-widget"></script>'
    )
    expect(page.locator("#name")).to_be_disabled()  # an agent reads, does not edit
    expect(copy).to_have_text("Copy", timeout=WAIT_MS)  # back, for the next copy


def test_an_invitation_signs_a_new_person_in_from_a_fresh_browser(
    console_site, console_page, browser
):
    page = console_page("owner")
    page.goto(console_site.console("/settings"))
    page.fill("#invite-email", "nia@acme.example")
    page.select_option("#invite-role", "agent")
    page.click("text=Create an invitation link")
    link = page.locator("#invitation-link").text_content()
    assert re.fullmatch(rf"{console_site.url}/console/invitations/[\w-]{{43}}", link)

    context = browser.new_context(viewport=PHONE)  # nobody signed in here
    try:
        newcomer = context.new_page()
        newcomer.set_default_timeout(WAIT_MS)
        watch = PageWatch(newcomer)
        newcomer.goto(link)
        expect(newcomer.locator("h1")).to_have_text("Join Acme shop")
        newcomer.fill("#display_name", "Nia Newcomer")
        newcomer.fill("#password", "nia's own long password")
        newcomer.fill("#password_again", "nia's own long password")
        newcomer.click("button[type=submit]")

        expect(newcomer.locator(".who .name")).to_have_text("Nia Newcomer")
        expect(newcomer.locator(".who .role")).to_have_text("agent")
        assert newcomer.url == console_site.console("/")
        newcomer.goto(link)  # used now
        expect(newcomer.locator("h1")).to_have_text("Gone")
        watch.assert_clean(allow_refused=True)
    finally:
        context.close()


@pytest.mark.parametrize(("width", "viewport"), [("desk", DESK), ("phone", PHONE)])
def test_screenshots(console_site, console_page, config, width, viewport):
    page = console_page("owner", viewport=viewport)
    pages = {
        "widgets": "/widgets",
        "widget-editor": f"/widgets/{config['id']}",
        "settings": "/settings",
    }
    for name, path in pages.items():
        page.goto(console_site.console(path))
        expect(page.locator("h1")).to_be_visible()
        if name == "widget-editor":
            expect(page.frame_locator("iframe.widget-preview").locator(".launcher")).to_be_visible()
        fits(page, viewport["width"])
        if name != "widget-editor" or width == "phone":  # the desk's is taken while editing
            save_screenshot(page, f"console-{name}-{width}", full_page=True)
