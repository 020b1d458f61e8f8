"""The web widget in a real browser: Debian's chromium driven by Playwright, against a real
`companin serve`, embedded in pages served from another loopback origin.

The model is the loopback FakeLLM (streamed replies, scripted text) reached by the server
through litellm. Nothing in companin or the widget is patched; where a test needs an answer
the server cannot give (a source with a `javascript:` link), Playwright answers that one
request in the browser.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests
from chromium import PageWatch, launched_chromium, save_screenshot, sync_api
from conftest import companin_server, run_cli
from fake_llm import FakeLLM, Reply

from companin import create_app
from companin.models import Session
from companin.services import takeover
from companin.services.organizations import create_organization
from companin.services.people import create_user

pytestmark = [pytest.mark.browser, pytest.mark.module_data]

API = "/api/v1"
TOKEN_TTL_S = 5  # short, so that a test can outlive a token
MESSAGES_PER_CHAT = 6
QUESTION = "How long does shipping take?"
ANSWER = "Standard shipping takes 3 to 5 business days; express arrives in 1 to 2."
REPLY = "Standard shipping takes 3 to 5 business days, and express 1 to 2 [1]."
WAIT_MS = 15_000


# ---------------------------------------------------------------------------- the world


class Site:
    """A `companin serve` with two organizations, and the pages that embed their widgets."""

    def __init__(
        self, server_url: str, pages_url: str, pages: dict[str, str], orgs: dict, instance: Path
    ):
        self.instance = instance
        self.server_url = server_url
        self.pages_url = pages_url
        self.pages = pages
        self.orgs = orgs

    def headers(self, org: str = "open") -> dict[str, str]:
        return self.orgs[org]["headers"]

    def api(self, method: str, path: str, org: str = "open", **kwargs):
        response = requests.request(
            method, f"{self.server_url}{API}{path}", headers=self.headers(org), timeout=30, **kwargs
        )
        assert response.status_code < 400, response.text
        return response.json()["data"]

    def tag(self, org: str = "open", instance: str = "primary-widget", config: str = "") -> str:
        """The script tag, as the reference writes it; `config="left"`: the second config."""
        details = self.orgs[org]
        return (
            f'<script src="{self.server_url}/widget.js" data-client-id="{details["client_id"]}" '
            f'data-assistant-id="{details["assistant_id"]}" '
            f'data-config-id="{details[config + "config_id"]}" '
            f'data-instance-id="{instance}"></script>'
        )

    def page_url(self, name: str, body: str, head: str = "") -> str:
        """Serve a host page at /<name> on the pages origin and return its address."""
        self.pages[f"/{name}"] = (
            f"<!doctype html><html lang=en><head><meta charset=utf-8>"
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{name}</title>{head}</head><body><h1>Shop</h1>{body}</body></html>"
        )
        return f"{self.pages_url}/{name}"


class _Pages(BaseHTTPRequestHandler):
    pages: dict[str, str] = {}

    def do_GET(self):  # noqa: N802 - the base class's name
        if self.path == "/favicon.ico":  # asked for by the browser, logged as an error if 404
            self.send_response(204)
            self.end_headers()
            return
        page = self.pages.get(urlparse(self.path).path)
        body = (page or "not found").encode()
        self.send_response(200 if page else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


@pytest.fixture(scope="module")
def model() -> Iterator[FakeLLM]:
    with FakeLLM() as fake:
        yield fake


@pytest.fixture(scope="module")
def site(tmp_path_factory, model) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("widget")
    instance = root / "instance"
    app = create_app({"INSTANCE_PATH": str(instance)})
    orgs = {}
    with app.app_context():
        for name in ("open", "walled"):
            credentials = create_organization(f"{name} shop")
            orgs[name] = {
                "client_id": credentials.client_id,
                "headers": {
                    "X-API-Key": credentials.client_id,
                    "X-API-Secret": credentials.client_secret,
                },
            }
    del app
    env = {
        "COMPANIN_LLM_MODEL": "openai/gpt-4o-mini",
        "COMPANIN_LLM_API_BASE": model.base_url,
        "COMPANIN_LLM_API_KEY": "sk-test",
        "COMPANIN_WIDGET_TOKEN_TTL": str(TOKEN_TTL_S),
        "COMPANIN_CHAT_MESSAGES_PER_DAY": str(MESSAGES_PER_CHAT),
        "COMPANIN_RATE_LIMIT": "100000/hour",
        "COMPANIN_WIDGET_TOKEN_RATE_LIMIT": "100000/hour",
    }
    pages: dict[str, str] = {}
    handler = type("Pages", (_Pages,), {"pages": pages})
    page_server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=page_server.serve_forever, daemon=True).start()
    try:
        with companin_server(instance, root, threads=16, env=env) as server:
            pages_url = f"http://127.0.0.1:{page_server.server_address[1]}"
            world = Site(server.url, pages_url, pages, orgs, instance)
            _furnish(world)
            yield world
    finally:
        page_server.shutdown()
        page_server.server_close()


def _furnish(site: Site) -> None:
    """Each organization: an assistant, a widget config and what it knows; the open one a
    second config, on the left, for a second widget on the same page."""
    for name, origins in (("open", []), ("walled", ["https://shop.example"])):
        assistant = site.api("POST", "/assistants/", name, json={"name": "Ada"})
        config = {
            "assistant_id": assistant["id"],
            "greeting": "Hello! Ask me about your order.",
            "suggested_questions": [QUESTION],
            "theme": {"title": "Acme help", "primary_color": "#0f766e"},
            "allowed_origins": origins,
            "show_sources": True,
        }
        right = site.api("POST", "/widget-configs/", name, json=config)
        config["theme"] = {
            "title": "Returns desk",
            "launcher_text": "Returns? Ask here",
            "position": "bottom-left",
        }
        left = site.api("POST", "/widget-configs/", name, json=config)
        site.api("POST", "/knowledge/qa/", name, json={"question": QUESTION, "answer": ANSWER})
        site.orgs[name].update(
            assistant_id=assistant["id"], config_id=right["id"], leftconfig_id=left["id"]
        )


@pytest.fixture(scope="module")
def browser():
    yield from launched_chromium()


class Browsing(PageWatch):
    """A page in a fresh browser context, with what went wrong on it."""

    def __init__(self, page):
        super().__init__(page)
        self.finished = 0  # replies finished before the last `ask`

    def widget(self, instance: str = "primary-widget"):
        """The widget's host element (Playwright's CSS selectors pierce its shadow root)."""
        return self.page.locator(f'[data-companin-instance="{instance}"]')

    def launcher(self, instance: str = "primary-widget"):
        return self.widget(instance).locator(".launcher")

    def open(self, instance: str = "primary-widget"):
        self.launcher(instance).click()
        panel = self.widget(instance).locator(".panel")
        sync_api.expect(panel).to_be_visible()
        return panel

    def ask(self, text: str, instance: str = "primary-widget") -> None:
        self.finished = self.widget(instance).locator(".actions").count()
        box = self.widget(instance).locator("textarea")
        box.fill(text)
        box.press("Enter")

    def first_exchange(self, url: str) -> None:
        """Load the page, open the widget, ask QUESTION and wait for the whole reply."""
        self.page.goto(url)
        self.open()
        self.ask(QUESTION)
        self.last_reply_done()

    def replies(self, instance: str = "primary-widget"):
        return self.widget(instance).locator(".bubble.assistant")

    def last_reply_done(self, instance: str = "primary-widget"):
        """The reply to the last `ask`, once finished (its rating buttons come with `done`)."""
        finished = self.widget(instance).locator(".actions")
        sync_api.expect(finished).to_have_count(self.finished + 1, timeout=WAIT_MS)
        return self.replies(instance).last


@pytest.fixture
def browsing(browser, request) -> Iterator[Browsing]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    session = Browsing(page)
    yield session
    context.close()
    session.assert_clean(allow_refused="allow_errors" in request.keywords)


@pytest.fixture(autouse=True)
def _plain_replies(model):
    model.default = Reply(REPLY, chunk_size=8, chunk_delay=0.0)


# ---------------------------------------------------------------------------- tests


def test_an_answer_streams_into_the_panel_with_its_source(site, browsing, model):
    model.default = Reply(REPLY, chunk_size=6, chunk_delay=0.12)
    page = browsing.page
    page.goto(site.page_url("stream", site.tag()))
    launcher = browsing.launcher()
    sync_api.expect(launcher).to_have_text("Acme help")
    panel = browsing.open()
    sync_api.expect(panel.get_by_role("heading")).to_have_text("Acme help")
    sync_api.expect(browsing.replies().first).to_have_text("Hello! Ask me about your order.")

    panel.get_by_role("button", name=QUESTION).click()  # a suggested question
    sync_api.expect(panel.locator(".bubble.user")).to_have_text(QUESTION)
    seen = set()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        texts = browsing.replies().all_text_contents()
        if len(texts) == 2:
            seen.add(texts[1])
            if texts[1].startswith(REPLY):
                break
        time.sleep(0.03)
    partial = [text for text in seen if text and not text.startswith(REPLY)]
    assert partial, f"the reply never showed part-way: {seen}"
    assert all(REPLY.startswith(text) for text in partial)

    reply = browsing.last_reply_done()
    sources = reply.locator(".sources li")
    sync_api.expect(sources).to_have_text([QUESTION])  # the Q&A pair it cited, by title
    sync_api.expect(panel.get_by_role("status")).to_have_text(re.compile("Standard shipping"))


def test_the_history_survives_a_reload_and_a_second_instance_has_its_own(site, browsing):
    page = browsing.page
    both = site.tag(instance="left", config="left") + site.tag(instance="right")
    page.goto(site.page_url("two", both))
    sync_api.expect(browsing.launcher("left")).to_have_text("Returns? Ask here")
    browsing.open("left")
    browsing.ask("Do you ship to Belgium?", "left")
    browsing.last_reply_done("left")
    browsing.widget("left").locator(".close").click()

    browsing.open("right")
    browsing.ask(QUESTION, "right")
    browsing.last_reply_done("right")

    page.reload()
    browsing.open("left")
    left = browsing.widget("left")
    sync_api.expect(left.locator(".bubble.user")).to_have_text(["Do you ship to Belgium?"])
    sync_api.expect(left.locator(".bubble.assistant")).to_have_count(2)  # greeting, reply
    right = browsing.widget("right")
    # The right panel was left open: it opens again by itself, with its own history.
    sync_api.expect(right.locator(".panel")).to_be_visible()
    sync_api.expect(right.locator(".bubble.user")).to_have_text([QUESTION])

    # One session per instance, each kept across the reload with its own messages.
    sessions = page.evaluate(
        "Object.fromEntries(Object.keys(localStorage).map(k => "
        "[k.split(':').pop(), JSON.parse(localStorage.getItem(k)).sessionId]))"
    )
    assert sessions["left"] != sessions["right"]
    for instance, question in (("left", "Do you ship to Belgium?"), ("right", QUESTION)):
        stored = site.api("GET", f"/sessions/{sessions[instance]}/messages")
        assert [m["content"] for m in stored if m["role"] == "user"] == [question]


def test_thumbs_down_records_feedback(site, browsing):
    browsing.page.goto(site.page_url("feedback", site.tag()))
    browsing.open()
    browsing.ask(QUESTION)
    reply = browsing.last_reply_done()
    down = reply.get_by_role("button", name="Not helpful")
    down.click()
    sync_api.expect(down).to_have_attribute("aria-pressed", "true")
    session_id = browsing.page.evaluate(
        "JSON.parse(localStorage.getItem(Object.keys(localStorage)[0])).sessionId"
    )
    stored = site.api("GET", f"/sessions/{session_id}/messages")
    assert stored[-1]["role"] == "assistant"
    assert stored[-1]["feedback"]["rating"] == "down"


def test_markup_in_an_answer_is_shown_as_text_and_runs_nothing(site, browsing, model):
    attack = 'Here you go <img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
    model.default = Reply(attack, chunk_size=7)
    page = browsing.page
    page.goto(site.page_url("markup", site.tag()))
    browsing.open()
    browsing.ask(QUESTION)
    reply = browsing.last_reply_done()
    assert reply.evaluate("node => node.firstChild.textContent") == attack
    assert browsing.widget().locator("img, .log script").count() == 0
    page.wait_for_timeout(300)
    assert page.evaluate("window.__pwned") is None


def test_the_host_page_css_cannot_break_it(site, browsing):
    page = browsing.page
    page.goto(site.page_url("plain", site.tag()))
    plain = browsing.launcher().bounding_box()

    hostile = (
        "<style>html { font-size: 40px !important } body * { display: none !important }</style>"
    )
    page.goto(site.page_url("hostile", site.tag(), head=hostile))
    launcher = browsing.launcher()
    sync_api.expect(launcher).to_be_visible()
    assert launcher.bounding_box() == plain
    panel = browsing.open()
    sync_api.expect(panel.locator("textarea")).to_be_visible()
    assert panel.locator("textarea").evaluate("n => getComputedStyle(n).fontSize") == "14px"

    # The literal `* { display: none !important }` hides the page itself (html too); the
    # widget's own element still keeps its display, and nothing inside changes.
    everything = "<style>* { display: none !important }</style>"
    page.goto(site.page_url("everything", site.tag(), head=everything))
    host = browsing.widget()
    host.wait_for(state="attached")
    assert host.evaluate("n => getComputedStyle(n).display") == "block"
    launcher_display = browsing.launcher().evaluate("n => getComputedStyle(n).display")
    assert launcher_display == "flex"


@pytest.mark.allow_errors  # the browser logs the refused request itself
def test_a_disallowed_origin_is_refused_quietly(site, browsing):
    page = browsing.page
    page.goto(site.page_url("walled", site.tag("walled")))
    page.wait_for_function("window.Companin && Companin.instance().state !== 'starting'")
    assert page.evaluate("Companin.instance().state") == "not-allowed"
    assert browsing.widget().count() == 0  # nothing drawn on a site it may not serve
    assert any("not among the origins allowed" in w for w in browsing.warnings)


@pytest.mark.allow_errors  # the browser logs the refused request itself
def test_too_many_messages_say_how_long_to_wait(site, browsing):
    browsing.page.goto(site.page_url("limit", site.tag()))
    browsing.open()
    for number in range(MESSAGES_PER_CHAT):
        browsing.ask(f"{QUESTION} ({number})")
        finished = browsing.widget().locator(".actions")
        sync_api.expect(finished).to_have_count(number + 1, timeout=WAIT_MS)
    browsing.ask(QUESTION)
    alert = browsing.widget().get_by_role("alert")
    sync_api.expect(alert).to_contain_text(re.compile(r"wait \d+ seconds"))
    sync_api.expect(alert.get_by_role("button", name="Retry")).to_be_visible()
    sync_api.expect(browsing.widget().locator(".bubble.user.unsent")).to_have_count(1)


@pytest.mark.allow_errors  # the browser logs the refused request itself
def test_an_expired_token_is_renewed_without_the_visitor_noticing(site, browsing):
    page = browsing.page
    browsing.first_exchange(site.page_url("renew", site.tag()))
    page.wait_for_timeout((TOKEN_TTL_S + 1) * 1000)  # the first token is dead now
    browsing.ask("And express?")
    browsing.last_reply_done()
    assert page.evaluate("Companin.instance().tokensFetched") >= 2
    assert browsing.widget().get_by_role("alert").count() == 0

    # A token the server refuses anyway (a rotated signing key): one new token, one retry.
    body = {"status": "error", "status_code": 401, "detail": "Expired", "data": None}
    refused = fail_first_post(page, r".*/messages\?stream=true$", 401, json.dumps(body))
    before = page.evaluate("Companin.instance().tokensFetched")
    browsing.ask("What about returns?")
    browsing.last_reply_done()
    assert refused == [1]
    assert page.evaluate("Companin.instance().tokensFetched") == before + 1
    sync_api.expect(browsing.replies()).to_have_count(4)
    assert browsing.widget().get_by_role("alert").count() == 0


def test_keyboard_alone_opens_sends_and_closes(site, browsing):
    page = browsing.page
    page.goto(site.page_url("keyboard", site.tag()))
    browsing.launcher().wait_for()
    page.keyboard.press("Tab")
    assert _focused_class(page) == "launcher"
    page.keyboard.press("Enter")
    sync_api.expect(browsing.widget().locator(".panel")).to_be_visible()
    assert _focused_class(page) == ""  # the message box (a textarea has no class)
    assert page.evaluate("document.activeElement.shadowRoot.activeElement.tagName") == "TEXTAREA"
    page.keyboard.type(QUESTION)
    page.keyboard.press("Enter")
    browsing.last_reply_done()
    page.keyboard.press("Escape")
    sync_api.expect(browsing.widget().locator(".panel")).to_be_hidden()
    assert _focused_class(page) == "launcher"
    launcher = browsing.launcher()
    assert launcher.get_attribute("aria-expanded") == "false"


def fail_first_post(page, url_pattern: str, status: int, body: str) -> list[int]:
    """Answer the first POST to a matching URL with `status` in the browser (readable across
    origins), let everything else through; the list holds 1 once that happened."""
    failed: list[int] = []

    def handle(route):
        if route.request.method == "POST" and not failed:
            failed.append(1)
            route.fulfill(status=status, headers={"Access-Control-Allow-Origin": "*"}, body=body)
        else:
            route.continue_()

    page.route(re.compile(url_pattern), handle)
    return failed


def _focused_class(page) -> str | None:
    return page.evaluate(
        "(() => { const a = document.activeElement; const inner = a && a.shadowRoot && "
        "a.shadowRoot.activeElement; return inner ? inner.className : null; })()"
    )


def test_source_links_are_http_only(site, browsing):
    page = browsing.page

    def source(kind: str, title: str, url: str | None, page: int | None = None) -> dict:
        return {"source_id": title, "type": kind, "title": title, "url": url, "page": page}

    sources = [
        source("url", "Shipping page", "https://shop.example/shipping"),
        source("url", "Sneaky", "javascript:alert(1)"),
        source("file", "Manual.pdf", None, 4),
    ]
    done = {
        "status": "success",
        "status_code": 201,
        "detail": "Message processed",
        "data": {
            "session_id": "x",
            "user_message": {"id": "u", "role": "user", "content": QUESTION},
            "assistant_message": {
                "id": "a",
                "role": "assistant",
                "content": "See these.",
                "sources": sources,
                "handoff": False,
                "model": "offline",
            },
        },
    }
    delta = json.dumps({"text": "See these."})
    body = f"event: delta\ndata: {delta}\n\nevent: done\ndata: {json.dumps(done)}\n\n"
    page.route(
        re.compile(r".*/messages\?stream=true$"),
        lambda route: route.fulfill(
            status=200,
            headers={"Access-Control-Allow-Origin": "*", "Content-Type": "text/event-stream"},
            body=body,
        ),
    )
    page.goto(site.page_url("links", site.tag()))
    browsing.open()
    browsing.ask(QUESTION)
    reply = browsing.last_reply_done()
    links = reply.locator(".sources a")
    sync_api.expect(links).to_have_count(1)
    assert links.get_attribute("href") == "https://shop.example/shipping"
    assert links.get_attribute("rel") == "noopener noreferrer"
    sync_api.expect(reply.locator(".sources li")).to_have_text(
        ["Shipping page", "Sneaky", "Manual.pdf, page 4"]
    )


def test_a_team_members_reply_reaches_the_open_widget_and_the_assistant_stays_quiet(
    site, browsing, model
):
    page = browsing.page
    browsing.first_exchange(site.page_url("agent", site.tag()))
    session_id = page.evaluate(
        "JSON.parse(localStorage.getItem(Object.keys(localStorage)[0])).sessionId"
    )
    app = create_app({"INSTANCE_PATH": str(site.instance)})
    with app.app_context():
        session = Session.get_by_id(uuid.UUID(session_id))
        ana, _ = create_user(
            session.organization_id,
            f"ana-{uuid.uuid4().hex[:6]}@example.com",
            "agent",
            "Ana <b>from support</b>",
        )
        # What the console does when Ana answers in the transcript.
        takeover.write_as_agent(session, ana, "Hi, Ana here: your parcel left today.")
    written = time.monotonic()

    agent = browsing.widget().locator(".bubble.agent")
    sync_api.expect(agent).to_contain_text("your parcel left today", timeout=3_000)
    assert time.monotonic() - written < 3.0
    sync_api.expect(agent.locator(".author")).to_have_text("Ana <b>from support</b>")
    assert agent.locator(".actions, b").count() == 0  # no rating, no markup

    calls, replies = len(model.requests), browsing.replies().count()
    browsing.widget().locator("textarea").fill("Great, thank you!")
    browsing.widget().locator("textarea").press("Enter")
    status = browsing.widget().locator("[role=status]")
    sync_api.expect(status).to_have_text("Sent. A member of our team will answer here.")
    assert len(model.requests) == calls  # the assistant did not answer over Ana
    assert browsing.replies().count() == replies
    page.reload()  # and the history shows it all, Ana's message as hers
    browsing.open()
    sync_api.expect(browsing.widget().locator(".bubble.agent .author")).to_have_count(1)
    sync_api.expect(browsing.widget().locator(".bubble.user")).to_have_count(2)


def test_a_handoff_is_announced(site, browsing, model):
    model.default = Reply("[[HANDOFF]] Let me find a colleague for you.")
    browsing.first_exchange(site.page_url("handoff", site.tag()))
    sync_api.expect(browsing.widget().get_by_role("note")).to_contain_text("person from our team")


@pytest.mark.allow_errors  # the browser logs the refused request itself
def test_a_server_error_says_so_and_retry_sends_it_once(site, browsing, model):
    page = browsing.page
    body = {"status": "error", "status_code": 502, "detail": "The model failed", "data": None}
    fail_first_post(page, r".*/messages\?stream=true$", 502, json.dumps(body))
    page.goto(site.page_url("server-error", site.tag()))
    browsing.open()
    browsing.ask(QUESTION)
    alert = browsing.widget().get_by_role("alert")
    sync_api.expect(alert).to_contain_text("something went wrong on our side")
    asked = len(model.requests)
    alert.get_by_role("button", name="Retry").click()
    browsing.last_reply_done()
    assert len(model.requests) == asked + 1
    sync_api.expect(browsing.widget().locator(".bubble.user")).to_have_count(1)


@pytest.mark.allow_errors  # the browser logs the failed fetch itself
def test_offline_says_so_and_retry_sends_it(site, browsing):
    page = browsing.page
    browsing.first_exchange(site.page_url("offline", site.tag()))
    page.context.set_offline(True)
    browsing.ask("Are you there?")
    alert = browsing.widget().get_by_role("alert")
    sync_api.expect(alert).to_contain_text("offline")
    page.context.set_offline(False)
    alert.get_by_role("button", name="Retry").click()
    sync_api.expect(browsing.replies()).to_have_count(3)
    browsing.last_reply_done()
    sync_api.expect(browsing.widget().locator(".bubble.user.unsent")).to_have_count(0)


def test_identify_keeps_the_customer_with_the_session(site, browsing):
    page = browsing.page
    browsing.first_exchange(site.page_url("identify", site.tag()))
    page.evaluate("Companin.identify({user_reference: 'cust-42', traits: {plan: 'premium'}})")
    session_id = page.evaluate(
        "JSON.parse(localStorage.getItem(Object.keys(localStorage)[0])).sessionId"
    )
    session = site.api("GET", f"/sessions/{session_id}")
    assert session["metadata"]["identity"] == {
        "user_reference": "cust-42",
        "traits": {"plan": "premium"},
    }


@pytest.mark.allow_errors  # the browser logs the refused request itself
def test_a_server_down_at_page_load_is_tried_again_on_send(site, browsing):
    page = browsing.page
    fail_first_post(page, r".*/auth/widget-token$", 503, "Service Unavailable")
    page.goto(site.page_url("down", site.tag()))
    page.wait_for_function("window.Companin && Companin.instance().state === 'unavailable'")
    assert any("unavailable for now" in w for w in browsing.warnings)
    browsing.open()
    browsing.ask(QUESTION)
    browsing.last_reply_done()
    assert page.evaluate("Companin.instance().state") == "ready"


def test_the_javascript_api_opens_sends_and_closes(site, browsing):
    page = browsing.page
    page.goto(site.page_url("api", site.tag()))
    page.wait_for_function("window.Companin && Companin.instance()")
    page.evaluate("Companin.open()")
    sync_api.expect(browsing.widget().locator(".panel")).to_be_visible()
    page.evaluate(f"Companin.send({json.dumps(QUESTION)})")
    browsing.last_reply_done()
    page.evaluate("Companin.close()")
    sync_api.expect(browsing.widget().locator(".panel")).to_be_hidden()
    assert page.evaluate("Object.keys(window).filter(k => /companin/i.test(k))") == ["Companin"]


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory) -> Iterator[str]:
    """`make run`'s server: a new instance with the demo organization, no model."""
    root = tmp_path_factory.mktemp("demo")
    instance = root / "instance"
    run_cli(instance, "init", "--demo")
    with companin_server(instance, root, threads=8, env={"COMPANIN_LLM_MODEL": ""}) as server:
        yield server.url


def test_the_demo_page_answers_offline_out_of_the_box(demo_url, browsing):
    page = browsing.page
    page.goto(f"{demo_url}/demo")
    sync_api.expect(page.locator("#snippet")).to_contain_text('data-instance-id="primary-widget"')
    browsing.open()
    browsing.ask("When are you open?")
    reply = browsing.last_reply_done()
    sync_api.expect(reply).to_contain_text("Monday to Friday")


def test_motion_stops_when_the_visitor_asks_for_less(site, browser):
    for motion, animation in (("reduce", "none"), ("no-preference", "rise")):
        context = browser.new_context(reduced_motion=motion)
        try:
            page = context.new_page()
            page.goto(site.page_url(f"motion-{motion}", site.tag()))
            panel = Browsing(page).open()
            assert panel.evaluate("n => getComputedStyle(n).animationName") == animation
        finally:
            context.close()


@pytest.mark.parametrize(("name", "viewport"), [("desktop", (1280, 800)), ("phone", (360, 740))])
def test_screenshots_of_the_open_widget(site, browser, name, viewport):
    width, height = viewport
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    browsing = Browsing(page)
    try:
        page.goto(site.page_url(f"shot-{name}", site.tag()))
        panel = browsing.open()
        browsing.ask(QUESTION)
        browsing.last_reply_done()
        box = panel.bounding_box()
        if name == "phone":  # the whole screen on a phone
            assert (box["x"], box["y"], box["width"], box["height"]) == (0, 0, width, height)
        else:
            assert box["width"] < width / 2
        save_screenshot(page, f"widget-{name}")
    finally:
        context.close()
    browsing.assert_clean()
