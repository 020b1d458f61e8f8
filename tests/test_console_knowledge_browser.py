"""The Assistants and Knowledge sections in chromium: an admin creates an assistant, uploads
a file and watches its row become ready, adds a Q&A pair and asks it in the test chat; the
Q&A editor opened prefilled from a question; what an agent is not offered. Screenshots of
the pages at a desk's and a phone's width.

The server answers offline (no model): the test chat's reply is the Q&A pair's answer.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from chromium import DESK, PHONE, save_screenshot, sync_api
from console_site import browser, console_page, console_site

# The fixtures this module uses, from console_site.
__all__ = ["browser", "console_page", "console_site"]
pytestmark = [pytest.mark.browser, pytest.mark.module_data]

expect = sync_api.expect
INDEXED_MS = 60_000
MAX_UPLOAD = 10 * 1024 * 1024  # the server's default
QUESTION = "When is the shop open?"
ANSWER = "From nine to six, Monday to Saturday."
# What the tests that only look find (the walk-through adds its own).
WHERE = "Where is the shop?"
WHERE_ANSWER = "On Main Street, next to the bakery."
MANUAL = (
    b"Returns\n\nUnused items can be returned within 30 days of delivery for a full refund. "
    b"Keep the receipt: the refund goes to the card that paid.\n"
)


def text_file(name: str, data: bytes, mime: str = "text/plain") -> dict:
    return {"name": name, "mimeType": mime, "buffer": data}


def fits(page, width: int) -> None:
    """Nothing sticks out sideways: the page reads without scrolling left and right."""
    assert page.evaluate("document.documentElement.scrollWidth") <= width


@pytest.fixture(scope="module")
def stocked(console_site) -> dict:
    """Organization "a"'s knowledge and assistant, for the tests that only look."""
    assistant = console_site.api("POST", "/assistants/", json={"name": "Front desk"})
    pair = console_site.api(
        "POST",
        "/knowledge/qa/",
        json={"question": WHERE, "answer": WHERE_ANSWER, "tags": ["address", "shop"]},
    )
    return {"assistant": assistant, "pair": pair}


def test_an_admin_builds_an_assistant_and_asks_it_in_the_test_chat(console_site, console_page):
    page = console_page("admin")

    # A new assistant, from the list.
    page.goto(console_site.console("/assistants"))
    page.get_by_role("link", name="New assistant").click()
    page.fill("#name", "Shop helper")
    page.fill("#fallback_message", "Let me find a person who knows.")
    page.get_by_role("button", name="Create assistant").click()
    expect(page.locator("h1")).to_have_text("Shop helper")
    expect(page.locator(".notice")).to_contain_text("Assistant created")
    assistant_url = page.url.split("?")[0]

    # A file: one too large is refused before it is sent; an accepted one is uploaded by
    # the script (a 201 in JSON, never the plain form's 303) and its row follows it to ready.
    page.goto(console_site.console("/knowledge"))
    page.set_input_files("#file", text_file("huge.txt", b"a" * (MAX_UPLOAD + 1)))
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#upload-error")).to_have_text(
        "“huge.txt” is larger than 10 MB, the largest this server accepts."
    )
    page.set_input_files("#file", text_file("returns.txt", MANUAL))
    with page.expect_response(lambda r: r.url.endswith("/console/knowledge/files")) as sent:
        page.get_by_role("button", name="Upload").click()
    assert sent.value.status == 201
    expect(page.locator(".notice")).to_contain_text("File received")
    row = page.locator("tr", has_text="returns.txt")
    # The first file also loads the embedder: a few seconds.
    expect(row.locator("[data-role=status]")).to_have_text("ready", timeout=INDEXED_MS)
    expect(row.locator("[data-role=chunks]")).not_to_have_text("0")
    expect(page.locator("#upload-error")).to_be_hidden()

    # A Q&A pair.
    page.get_by_role("link", name="Add Q&A").click()
    page.fill("#question", QUESTION)
    page.fill("#answer", ANSWER)
    page.fill("#tags", "hours, shop")
    page.get_by_role("button", name="Add Q&A pair").click()
    expect(page.locator(".notice")).to_contain_text("Q&A pair added")
    pair_row = page.locator("tr", has_text=QUESTION)
    expect(pair_row.locator("[data-role=status]")).to_have_text("ready")
    expect(pair_row.locator(".tags")).to_have_text("hoursshop")

    # The test chat answers from it and shows the passage it used.
    page.goto(assistant_url)
    page.fill("#test-question", QUESTION)
    page.get_by_role("button", name="Ask").click()
    reply = page.locator(".turn.assistant").last
    expect(reply.locator(".text")).to_have_text(ANSWER)
    passage = reply.locator(".passages li")
    expect(passage).to_have_count(1)
    expect(passage.locator("strong")).to_have_text(QUESTION)
    expect(passage.locator(".score")).to_have_text("score 1.000")
    expect(passage.locator(".snippet")).to_contain_text(ANSWER)

    # A second question goes on in the same chat; with nothing to answer from, it hands off.
    page.fill("#test-question", "Can I bring my dog?")
    page.keyboard.press("Enter")
    expect(page.locator(".turn.assistant")).to_have_count(2)
    last = page.locator(".turn.assistant").last
    expect(last.locator(".text")).to_have_text("Let me find a person who knows.")
    expect(last).to_contain_text("Handed off to a person")


def test_the_qa_editor_opens_prefilled_from_a_question(console_site, console_page):
    page = console_page("admin")
    asked = 'Do you sell "gift cards" <b>online</b>?'

    page.goto(console_site.console("/knowledge/qa/new?question=") + quote(asked))

    expect(page.locator("#question")).to_have_value(asked)
    expect(page.locator("#answer")).to_have_value("")
    page.fill("#answer", "Yes, from 10 to 200 euros.")
    page.get_by_role("button", name="Add Q&A pair").click()
    expect(page.locator("tr", has_text=asked)).to_be_visible()


def test_an_agent_is_offered_no_change(console_site, console_page, stocked):
    page = console_page("agent")

    page.goto(console_site.console("/knowledge"))
    expect(page.locator("tr", has_text=WHERE)).to_be_visible()
    for absent in ("#upload", "text=Add Q&A", "text=Add web page"):
        expect(page.locator(absent)).to_have_count(0)
    page.locator("tr", has_text=WHERE).get_by_role("link").click()
    expect(page.locator("#question")).to_be_disabled()
    expect(page.get_by_role("button", name="Save")).to_have_count(0)
    expect(page.locator("details.confirm")).to_have_count(0)

    page.goto(console_site.console("/assistants"))
    expect(page.get_by_role("link", name="New assistant")).to_have_count(0)
    page.get_by_role("link", name="Front desk").click()
    expect(page.locator("#name")).to_be_disabled()
    expect(page.get_by_role("button", name="Save")).to_have_count(0)
    # The test chat is theirs too: it changes nothing.
    page.fill("#test-question", WHERE)
    page.get_by_role("button", name="Ask").click()
    expect(page.locator(".turn.assistant .text")).to_have_text(WHERE_ANSWER)


@pytest.mark.parametrize(("width", "viewport"), [("desk", DESK), ("phone", PHONE)])
def test_screenshots(console_site, console_page, stocked, width, viewport):
    page = console_page("admin", viewport=viewport)
    assistant, pair = stocked["assistant"], stocked["pair"]
    pages = {
        "knowledge": "/knowledge",
        "knowledge-qa": f"/knowledge/qa/{pair['id']}",
        "knowledge-search": "/knowledge/search?query=" + quote(WHERE),
        "assistants": "/assistants",
        "assistant": f"/assistants/{assistant['id']}",
    }
    for name, path in pages.items():
        page.goto(console_site.console(path))
        if name == "assistant":
            page.fill("#test-question", WHERE)
            page.get_by_role("button", name="Ask").click()
            expect(page.locator(".passages li")).to_have_count(1)
        fits(page, viewport["width"])
        save_screenshot(page, f"console-{name}-{width}", full_page=True)
