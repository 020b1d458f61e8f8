"""The Inbox in chromium, with a customer on the other side: a visitor asks the widget on a
shop's page something nobody documented, the assistant hands off; an agent finds the
session at the top of the inbox, opens it and replies, and the visitor's open widget shows
the reply within 3 seconds; the visitor writes again and the agent's transcript shows it
without a reload. Screenshots of the inbox and a transcript at a desk's and a phone's width.

The server answers offline with no knowledge, so every question is handed off. The shop's
page is served by Playwright from a made-up origin (organization "a" allows any origin).
"""

from __future__ import annotations

import time

import pytest
from chromium import DESK, PHONE, PageWatch, save_screenshot, sync_api
from console_site import WAIT_MS, browser, console_page, console_site

# The fixtures this module uses, from console_site.
__all__ = ["browser", "console_page", "console_site"]
pytestmark = [pytest.mark.browser, pytest.mark.module_data]

expect = sync_api.expect
# A made-up origin that chromium lets reach the server on loopback: a *.localhost page is a
# secure context, which may ask for loopback addresses once granted "local-network-access"
# (from http://shop.test the widget's script would be blocked before any request).
SHOP = "http://shop.localhost/"
QUESTION = "Can you deliver my sofa to the moon?"


def shop_page(console_site, assistant_id: str) -> str:
    """The shop's page, with the widget's script tag as the embed snippet writes it."""
    tag = (
        f'<script src="{console_site.url}/widget.js" '
        f'data-client-id="{console_site.orgs["a"]["client_id"]}" '
        f'data-assistant-id="{assistant_id}"></script>'
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title>'
        f"</head><body><h1>Sofas</h1>{tag}</body></html>"
    )


@pytest.fixture(scope="module")
def assistant(console_site) -> dict:
    return console_site.api("POST", "/assistants/", json={"name": "Sofa helper"})


class Visitor:
    """A customer on the shop's page, in a browser context of their own."""

    def __init__(self, browser, console_site, assistant):
        self.context = browser.new_context(viewport=DESK, permissions=["local-network-access"])
        self.page = self.context.new_page()
        self.page.set_default_timeout(WAIT_MS)
        self.watch = PageWatch(self.page)
        body = shop_page(console_site, assistant["id"])
        self.page.route(SHOP, lambda route: route.fulfill(content_type="text/html", body=body))
        self.page.goto(SHOP)
        self.widget = self.page.locator('[data-companin-instance="default"]')

    def ask(self, text: str) -> None:
        box = self.widget.locator("textarea")
        box.fill(text)
        box.press("Enter")

    def session_id(self) -> str:
        return self.page.evaluate(
            "JSON.parse(localStorage.getItem(Object.keys(localStorage)[0])).sessionId"
        )

    def close(self) -> None:
        self.context.close()
        self.watch.assert_clean()


@pytest.fixture
def visitor(browser, console_site, assistant):
    visiting = Visitor(browser, console_site, assistant)
    yield visiting
    visiting.close()


def test_an_agent_answers_a_handed_off_visitor_live(console_site, console_page, visitor):
    visitor.widget.locator(".launcher").click()
    visitor.ask(QUESTION)
    expect(visitor.widget.get_by_role("note")).to_contain_text("person from our team")
    session_id = visitor.session_id()

    # The agent finds the session at the top of the inbox, handed off, and opens it.
    page = console_page("agent")
    page.reload()
    top = page.locator("#inbox tbody tr").first
    expect(top).to_have_attribute("data-id", session_id)
    expect(top.locator(".badge.handoff")).to_have_text("Handed off")
    save_screenshot(page, "console-inbox-desk")
    top.locator("a.who").click()
    expect(page.locator("#transcript .message.user .message-text")).to_have_text([QUESTION])
    expect(page.locator("#chat-status")).to_contain_text("Handed off")

    # Their reply reaches the visitor's open widget within 3 seconds.
    page.fill("#content", "Hi, Agnes here: we only deliver on Earth, sorry!")
    page.get_by_role("button", name="Send reply").click()
    expect(page.locator(".notice")).to_contain_text("Reply sent")
    sent = time.monotonic()
    bubble = visitor.widget.locator(".bubble.agent")
    expect(bubble).to_contain_text("we only deliver on Earth", timeout=3_000)
    assert time.monotonic() - sent < 3.0
    expect(bubble.locator(".author")).to_have_text("Agnes Agent")
    expect(page.locator("#chat-status")).to_contain_text("Taken over by Agnes Agent")

    # The visitor writes again: the assistant stays quiet, and the agent's open transcript
    # shows the message without being reloaded.
    page.evaluate("window.notReloaded = true")
    visitor.ask("Oh well. Can you store it until I move there?")
    expect(visitor.widget.locator("[role=status]")).to_have_text(
        "Sent. A member of our team will answer here."
    )
    customer = page.locator("#transcript .message.user .message-text")
    expect(customer).to_have_text([QUESTION, "Oh well. Can you store it until I move there?"])
    assert page.evaluate("window.notReloaded") is True
    expect(page.locator("#transcript .message")).to_have_count(4)  # no reply from the bot
    save_screenshot(page, "console-chat-desk", full_page=True)


@pytest.mark.parametrize(("viewport", "width"), [(DESK, "desk"), (PHONE, "phone")])
def test_the_inbox_and_a_transcript_fit_the_screen(
    console_site, console_page, assistant, viewport, width
):
    conversation = console_site.api(
        "POST",
        "/conversations/",
        json={
            "assistant_id": assistant["id"],
            "customer_id": "customer-with-a-rather-long-identifier-4711",
            "title": '<script>alert("title")</script>',
        },
    )
    path = f"/conversations/{conversation['id']}/messages"
    console_site.api("POST", path, json={"content": "My invoice shows the wrong address " * 8})

    page = console_page("agent", viewport=viewport)
    page.reload()
    row = page.locator(f'#inbox tr[data-id="{conversation["id"]}"]')
    expect(row).to_contain_text('<script>alert("title")</script>')
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    if width == "phone":
        save_screenshot(page, "console-inbox-phone")

    row.locator("a.who").click()
    expect(page.locator("h1")).to_have_text("customer-with-a-rather-long-identifier-4711")
    expect(page.get_by_role("button", name="Take over")).to_be_visible()
    expect(page.get_by_role("button", name="Mark handoff as dealt with")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    if width == "phone":
        save_screenshot(page, "console-chat-phone", full_page=True)

    page.get_by_role("button", name="Mark handoff as dealt with").click()
    expect(page.locator(".notice")).to_contain_text("dealt with")
    expect(page.get_by_role("button", name="Mark handoff as dealt with")).to_have_count(0)
