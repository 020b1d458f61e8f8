"""Insights in chromium: after a customer rates a reply down and asks what nothing answers
(both through the REST API), the page shows them, and "Add as Q&A" opens the Q&A editor
with the question filled in. Screenshots at a desk's and a phone's width.

The server answers offline (no model): a question its Q&A pair answers is answered, any
other is handed off.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from chromium import DESK, PHONE, save_screenshot, sync_api
from console_site import browser, console_page, console_site

# The fixtures this module uses, from console_site.
__all__ = ["browser", "console_page", "console_site"]
pytestmark = [pytest.mark.browser, pytest.mark.module_data]

expect = sync_api.expect
HOURS = ("What are your opening hours?", "Monday to Saturday, nine to six.")
UNANSWERED = ("Do you sell gift cards?", "Can I buy a gift card?")
COMPLAINT = "It does not say if you open on Sundays."


def fits(page, width: int) -> None:
    """Nothing sticks out sideways: the page reads without scrolling left and right."""
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def customer_asks(console_site, assistant: dict, question: str) -> dict:
    """A visitor's session with one question in it; the assistant's reply."""
    chat = console_site.api("POST", "/sessions/", json={"assistant_id": assistant["id"]})
    sent = console_site.api("POST", f"/sessions/{chat['id']}/messages", json={"content": question})
    return sent["assistant_message"]


@pytest.fixture(scope="module")
def seeded(console_site) -> dict:
    """Organization "a": a reply rated down with a comment, and a question asked in two
    ways that nothing answers."""
    assistant = console_site.api("POST", "/assistants/", json={"name": "Shop helper"})
    console_site.api("POST", "/knowledge/qa/", json={"question": HOURS[0], "answer": HOURS[1]})
    answered = customer_asks(console_site, assistant, HOURS[0])
    assert not answered["handoff"], answered
    console_site.api(
        "POST",
        f"/messages/{answered['id']}/feedback",
        json={"rating": "down", "comment": COMPLAINT},
    )
    for question in UNANSWERED:
        assert customer_asks(console_site, assistant, question)["handoff"]
    return {"assistant": assistant, "answered": answered}


def test_thumbs_down_and_an_unanswered_question_become_a_qa_pair(
    console_site, console_page, seeded
):
    page = console_page("admin")
    page.get_by_role("link", name="Insights").click()
    expect(page.locator("h1")).to_have_text("Insights")

    down = page.locator("#thumbs-down li").first
    expect(down.locator(".asked")).to_contain_text(HOURS[0])
    expect(down.locator(".reply")).to_contain_text(HOURS[1])
    expect(down.locator(".comment")).to_contain_text(COMPLAINT)
    expect(page.locator("#stat-thumbs")).to_contain_text("Down 1")
    # Both wordings of the gift card question are one group, shown in its latest wording.
    group = page.locator("#unanswered tbody tr").first
    expect(group.locator(".wording")).to_have_text(UNANSWERED[1])
    expect(group.locator(".variants")).to_contain_text(UNANSWERED[0])
    expect(group.locator("td.num")).to_have_text("2")
    save_screenshot(page, "console-insights-desk", full_page=True)

    group.get_by_role("link", name="Add as Q&A").click()
    expect(page.locator("h1")).to_have_text("New Q&A pair")
    address = urlsplit(page.url)
    assert address.path == "/console/knowledge/qa/new"
    assert parse_qs(address.query) == {"question": [UNANSWERED[1]]}
    expect(page.locator("#question")).to_have_value(UNANSWERED[1])

    # The transcript of the reply rated down is one click from Insights.
    page.go_back()
    page.locator("#thumbs-down li").first.get_by_role("link", name="Open the transcript").click()
    session_id = page.url.rsplit("/", 1)[1]
    assert page.url == console_site.console(f"/chats/session/{session_id}")


def test_insights_reads_on_a_phone(console_site, console_page, seeded):
    page = console_page("agent", viewport=PHONE)
    page.goto(console_site.console("/insights?days=7"))

    expect(page.locator("#unanswered .wording").first).to_have_text(UNANSWERED[1])
    expect(page.locator("a.add-qa")).to_have_count(0)  # an agent adds no Q&A pairs
    expect(page.locator("#per-day tbody tr")).to_have_count(7)
    fits(page, PHONE["width"])
    save_screenshot(page, "console-insights-phone", full_page=True)


def test_the_filters_change_the_period(console_site, console_page, seeded):
    page = console_page("admin", viewport=DESK)
    page.goto(console_site.console("/insights"))
    expect(page.locator("#per-day tbody tr")).to_have_count(30)

    page.select_option("#days", "90")
    page.select_option("#assistant", seeded["assistant"]["id"])
    page.get_by_role("button", name="Show").click()

    expect(page.locator("#per-day tbody tr")).to_have_count(90)
    expect(page.locator("#stat-questions")).to_contain_text("3")
    fits(page, DESK["width"])
