"""The console's Inbox and transcripts, as a team member uses them: the chats listed with
those handed off on top, filtered, searched and paged; a transcript with each reply's
sources and feedback; replying, taking over, handing back and marking a handoff as dealt
with, and what the customer's side (the REST API) sees of it.

Chats are seeded through the REST API, answered by the offline responder: a question its
Q&A pair answers is answered, any other is handed off. Only what the API cannot do (an
old chat, a reply with a web source, a console test chat, many chats at once) is written
through the models.
"""

from __future__ import annotations

import logging
import re
import uuid
from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from conftest import assert_envelope, console_sign_in

from companin.models import Assistant, Conversation, Message, Session, utcnow
from companin.services.people import create_user

API = "/api/v1"
INBOX = "/console/"
PASSWORD = "correct horse battery staple"
HOURS = ("What are your business hours?", "We are open Monday to Friday, 9 AM to 6 PM.")
UNKNOWN = "Can I pay with seashells?"


class Person:
    """A signed-in browser of the console, and the CSRF token its pages carry."""

    def __init__(self, client, token: str):
        self.client, self.token = client, token

    def get(self, path: str, status: int = 200, **kwargs) -> BeautifulSoup:
        response = self.client.get(path, **kwargs)
        assert response.status_code == status, response.get_data(as_text=True)[:3000]
        assert response.mimetype == "text/html"
        return BeautifulSoup(response.get_data(as_text=True), "html.parser")

    def post(self, path: str, csrf: bool = True, **fields):
        data = {"csrf_token": self.token, **fields} if csrf else fields
        return self.client.post(path, data=data)


def person(app, org, role: str = "agent", name: str = "Agnes Agent") -> Person:
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.com"
    with app.app_context():
        create_user(org.organization_id, email, role, name, PASSWORD)
    client = app.test_client()
    assert console_sign_in(client, email, PASSWORD).status_code == 303
    page = client.get(INBOX).get_data(as_text=True)
    return Person(client, re.search(r'name="csrf_token" value="([^"]+)"', page).group(1))


def api(client, org, method: str, path: str, status: int, **body):
    response = client.open(f"{API}{path}", method=method, json=body or None, headers=org.headers)
    return assert_envelope(response, status)


def open_chat(client, org, assistant, kind: str = "session", **fields) -> str:
    body = {"assistant_id": assistant["id"], **fields}
    if kind == "conversation":
        body.setdefault("customer_id", "cust-1")
    return api(client, org, "POST", f"/{kind}s/", 201, **body)["id"]


def ask(client, org, chat_id: str, text: str, kind: str = "session") -> dict:
    return api(client, org, "POST", f"/{kind}s/{chat_id}/messages", 201, content=text)


def chat_path(kind: str, chat_id: str, action: str = "") -> str:
    return f"/console/chats/{kind}/{chat_id}" + (f"/{action}" if action else "")


def listed(soup) -> list[str]:
    """The inbox's rows, as their chats' ids, top first."""
    return [row["data-id"] for row in soup.select("#inbox tbody tr")]


def row(soup, chat_id: str):
    return soup.select_one(f'#inbox tr[data-id="{chat_id}"]')


def badges(tag) -> list[str]:
    return [badge.get_text(strip=True) for badge in tag.select(".badge")]


def move_back(app, model, chat_id: str, days: int) -> None:
    """Date a chat's latest activity `days` days back (the API writes now)."""
    with app.app_context():
        chat = model.get_by_id(uuid.UUID(chat_id))
        then = (chat.last_message_at or chat.created_at) - timedelta(days=days)
        model.update(last_message_at=then, created_at=then).where(model.id == chat.id).execute()


@pytest.fixture
def faq(client, org):
    pair = {"question": HOURS[0], "answer": HOURS[1]}
    return api(client, org, "POST", "/knowledge/qa/", 201, **pair)


@pytest.fixture
def agent(app, org) -> Person:
    return person(app, org)


@pytest.fixture
def handed_off(client, org, assistant) -> str:
    """A visitor's session whose question nobody documented: the assistant handed off."""
    session = open_chat(client, org, assistant, visitor_id="visitor-7")
    assert ask(client, org, session, UNKNOWN)["assistant_message"]["handoff"] is True
    return session


# --- the list -------------------------------------------------------------------------


def test_handed_off_chats_come_first_then_the_newest(app, client, org, assistant, faq, agent):
    early_handoff = open_chat(client, org, assistant, visitor_id="visitor-early")
    ask(client, org, early_handoff, UNKNOWN)
    answered = open_chat(client, org, assistant, visitor_id="visitor-answered")
    assert ask(client, org, answered, HOURS[0])["assistant_message"]["handoff"] is False
    conversation = open_chat(client, org, assistant, "conversation", title="Order 1234")
    ask(client, org, conversation, HOURS[0], kind="conversation")
    silent = open_chat(client, org, assistant)  # no message yet: listed by its creation
    with app.app_context():
        Session.create(organization=org.organization_id, assistant=assistant["id"], is_test=True)

    soup = agent.get(INBOX)

    assert listed(soup) == [early_handoff, silent, conversation, answered]
    top = row(soup, early_handoff)
    assert top.select_one("a.who").get_text() == "visitor-early"
    assert top.select_one("a.who")["href"] == chat_path("session", early_handoff)
    assert "Visitor session" in top.get_text() and "Helper" in top.get_text()
    assert "member of our team" in top.select_one(".latest").get_text()  # the fallback
    assert badges(top) == ["Handed off"]
    conv = row(soup, conversation)
    assert conv["data-kind"] == "conversation"
    assert conv.select_one("a.who").get_text() == "cust-1"
    assert "Customer conversation: Order 1234" in conv.get_text()
    assert conv.select_one(".latest").get_text(strip=True) == HOURS[1]
    assert row(soup, silent).select_one("a.who").get_text() == "Visitor"
    assert "No message yet" in row(soup, silent).get_text()


def test_filters_by_assistant_handoff_thumbs_down_and_day(
    app, client, org, assistant, faq, handed_off, agent
):
    other = api(client, org, "POST", "/assistants/", 201, name="Returns desk")
    theirs = open_chat(client, org, other)
    ask(client, org, theirs, HOURS[0])
    rated = open_chat(client, org, assistant, "conversation")
    reply = ask(client, org, rated, HOURS[0], kind="conversation")["assistant_message"]
    api(client, org, "POST", f"/messages/{reply['id']}/feedback", 200, rating="down")
    old = open_chat(client, org, assistant)
    ask(client, org, old, HOURS[0])
    move_back(app, Session, old, 10)
    today = utcnow().date()

    assert set(listed(agent.get(INBOX))) == {handed_off, theirs, rated, old}
    assert listed(agent.get(INBOX, query_string={"assistant": other["id"]})) == [theirs]
    assert listed(agent.get(INBOX, query_string={"handoff": "1"})) == [handed_off]
    down = agent.get(INBOX, query_string={"down": "1"})
    assert listed(down) == [rated]
    assert badges(row(down, rated)) == ["Thumbs down"]
    recent = {"from": (today - timedelta(days=1)).isoformat(), "to": today.isoformat()}
    assert old not in listed(agent.get(INBOX, query_string=recent))
    assert len(listed(agent.get(INBOX, query_string=recent))) == 3
    long_ago = (today - timedelta(days=10)).isoformat()
    assert listed(agent.get(INBOX, query_string={"from": long_ago, "to": long_ago})) == [old]
    # The form shows what it filters by.
    soup = agent.get(INBOX, query_string={"assistant": other["id"], "handoff": "1"})
    assert soup.select_one("#assistant option[selected]")["value"] == other["id"]
    assert soup.select_one("input[name=handoff]").has_attr("checked")
    assert "No chat matches these filters" in soup.get_text()


def test_search_finds_text_in_any_message_with_percent_and_underscore_literal(
    client, org, assistant, agent
):
    percent = open_chat(client, org, assistant, visitor_id="percent")
    ask(client, org, percent, "Is there 50% off on the BLUE_SHIRT?")
    ask(client, org, percent, "And on the blue shirt in XL?")
    plain = open_chat(client, org, assistant, visitor_id="plain")
    ask(client, org, plain, "Is there 50 off on the blue shirts?")

    def found(text: str) -> list[str]:
        return listed(agent.get(INBOX, query_string={"q": text}))

    assert found("blue_shirt") == [percent]  # case aside, "_" is itself, not any character
    assert found("50%") == [percent]
    assert found("0% off") == [percent]
    assert found("%") == [percent]
    assert sorted(found("BLUE")) == sorted([percent, plain])  # one row a chat, many matches
    assert found("seashells") == []
    assert found("OUR TEAM")  # the assistant's replies are searched too
    soup = agent.get(INBOX, query_string={"q": "50%"})
    assert soup.select_one("#q")["value"] == "50%"


def test_stored_script_shows_as_text_in_the_list_and_the_transcript(client, org, assistant, agent):
    script = '<script>alert("owned")</script>'
    session = open_chat(client, org, assistant, visitor_id="<b>visitor</b>")
    agent.post(chat_path("session", session, "take-over"))  # no reply: it is the latest
    ask(client, org, session, script)

    for path in (INBOX, chat_path("session", session)):
        response = agent.client.get(path)
        html = response.get_data(as_text=True)
        assert "<script>alert" not in html and "<b>visitor" not in html
        assert "&lt;script&gt;alert(&#34;owned&#34;)&lt;/script&gt;" in html
        assert "&lt;b&gt;visitor&lt;/b&gt;" in html


def test_pages_of_25_keep_the_filters(app, org, assistant, agent):
    with app.app_context():
        start = utcnow() - timedelta(hours=1)
        for n in range(30):
            Session.create(
                organization=org.organization_id,
                assistant=assistant["id"],
                visitor_id=f"visitor-{n:02d}",
                last_message_at=start + timedelta(minutes=n),
            )
    filters = {"assistant": assistant["id"]}

    first = agent.get(INBOX, query_string=filters)
    names = [a.get_text() for a in first.select("#inbox a.who")]
    assert names == [f"visitor-{n:02d}" for n in range(29, 4, -1)]
    assert first.select_one(".pager a[rel=prev]") is None
    older = first.select_one(".pager a[rel=next]")["href"]
    assert f"assistant={assistant['id']}" in older and "page=2" in older

    second = agent.get(older)
    assert [a.get_text() for a in second.select("#inbox a.who")] == [
        f"visitor-{n:02d}" for n in range(4, -1, -1)
    ]
    assert second.select_one(".pager a[rel=next]") is None
    newer = second.select_one(".pager a[rel=prev]")["href"]
    assert f"assistant={assistant['id']}" in newer and "page=" not in newer
    assert listed(agent.get(INBOX, query_string={"page": "3"})) == []


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("from", "31/01/2025", "YYYY-MM-DD"),
        ("to", "2025-02-30", "YYYY-MM-DD"),
        ("assistant", "not-a-uuid", "not an id"),
        ("page", "0", "no page"),
        ("page", "99999999999999999999999", "no page"),
        ("page", "-1", "no page"),
        ("page", "²", "no page"),
        ("q", "x" * 201, "at most 200"),
    ],
)
def test_a_bad_filter_is_a_readable_400_page(agent, field, value, says):
    soup = agent.get(INBOX, status=400, query_string={field: value})
    assert says in soup.get_text()


def test_a_backwards_day_range_is_refused(agent):
    soup = agent.get(INBOX, status=400, query_string={"from": "2025-02-01", "to": "2025-01-01"})
    assert "comes after" in soup.get_text()


def test_the_page_costs_the_same_few_queries_for_3_or_25_chats(app, client, org, assistant):
    """No query per row: the latest texts and thumbs are read for the whole page at once."""
    agent = person(app, org)

    def queries_for_inbox() -> int:
        seen: list[str] = []
        handler = logging.Handler()
        handler.emit = lambda record: seen.append(record.getMessage())
        logger = logging.getLogger("peewee")
        level = logger.level
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
        try:
            agent.get(INBOX)
        finally:
            logger.removeHandler(handler)
            logger.setLevel(level)
        return len(seen)

    def add_chats(count: int) -> None:
        with app.app_context():
            for _ in range(count):
                chat = Session.create(organization=org.organization_id, assistant=assistant["id"])
                Message.create(
                    organization=org.organization_id, session=chat, role="user", content="hi"
                )

    add_chats(3)
    few = queries_for_inbox()
    add_chats(40)
    assert queries_for_inbox() == few <= 10


# --- a transcript ---------------------------------------------------------------------


def test_the_transcript_shows_each_reply_with_its_sources_and_feedback(
    app, client, org, assistant, faq, agent
):
    session = open_chat(client, org, assistant, visitor_id="visitor-3")
    reply = ask(client, org, session, HOURS[0])["assistant_message"]
    api(
        client,
        org,
        "POST",
        f"/messages/{reply['id']}/feedback",
        200,
        rating="down",
        comment="<i>Saturday</i> is missing",
    )
    with app.app_context():  # a reply from web pages (the API cannot write one)
        Message.create(
            organization=org.organization_id,
            session=uuid.UUID(session),
            role="assistant",
            content="See our pages.",
            sources=[
                {
                    "source_id": "s1",
                    "type": "url",
                    "title": "Shipping",
                    "page": None,
                    "url": "https://shop.example/shipping",
                    "snippet": "Ships in 2 days",
                    "score": 0.8123,
                },
                {
                    "source_id": "s2",
                    "type": "file",
                    "title": "Bad link",
                    "page": 4,
                    "url": "javascript:alert(1)",
                    "snippet": "x",
                    "score": 0.5,
                },
            ],
        )

    soup = agent.get(chat_path("session", session))

    assert soup.select_one("h1").get_text() == "visitor-3"
    facts = soup.select_one(".chat-facts").get_text(" ", strip=True)
    assert "Visitor session" in facts and "Helper" in facts and "The assistant answers" in facts
    items = soup.select("#transcript li.message")
    assert [item["class"][1] for item in items] == ["user", "assistant", "assistant"]
    assert items[0].select_one(".message-text").get_text() == HOURS[0]
    answered = items[1]
    assert answered.select_one(".author").get_text() == "Helper"
    [source] = answered.select(".sources li")
    assert HOURS[0] in source.get_text() and re.search(r"score \d\.\d{3}", source.get_text())
    assert "Thumbs down" in answered.select_one(".feedback").get_text()
    assert answered.select_one(".feedback q").get_text() == "<i>Saturday</i> is missing"
    web, bad = items[2].select(".sources li")
    assert web.select_one("a")["href"] == "https://shop.example/shipping"
    assert "score 0.812" in web.get_text() and "Ships in 2 days" in web.get_text()
    assert bad.select_one("a") is None and "page 4" in bad.get_text()
    assert soup.select_one("#transcript")["data-poll-url"] == chat_path(
        "session", session, "messages"
    )
    assert soup.select_one("script[src$='inbox.js']") is not None


def test_an_unknown_kind_or_chat_is_a_404_page(agent, handed_off):
    for path in (
        f"/console/chats/ticket/{handed_off}",
        chat_path("conversation", handed_off),  # a session's id as a conversation's
        chat_path("session", str(uuid.uuid4())),
        "/console/chats/session/not-a-uuid",
    ):
        assert agent.get(path, status=404).select_one("h1") is not None


def test_the_script_polls_for_what_came_after_a_message(client, org, handed_off, agent):
    shown = agent.client.get(chat_path("session", handed_off, "messages")).get_json()["messages"]
    assert [m["role"] for m in shown] == ["user", "assistant"]
    path = chat_path("session", handed_off, "messages")
    assert agent.client.get(path, query_string={"after": shown[-1]["id"]}).get_json() == {
        "messages": []
    }

    ask(client, org, handed_off, "Hello? Anyone?")

    newer = agent.client.get(path, query_string={"after": shown[-1]["id"]}).get_json()["messages"]
    assert [(m["role"], m["content"]) for m in newer][0] == ("user", "Hello? Anyone?")
    assert agent.client.get(path, query_string={"after": "nope"}).status_code == 400


# --- take-over ------------------------------------------------------------------------


def test_an_agents_reply_takes_over_and_reaches_the_rest_history(client, org, handed_off, agent):
    sent = agent.post(chat_path("session", handed_off, "reply"), content="  Hi, Agnes here!  ")

    assert sent.status_code == 303
    assert sent.headers["Location"].endswith(
        chat_path("session", handed_off) + "?notice=chat_replied"
    )
    history = api(client, org, "GET", f"/sessions/{handed_off}/messages", 200)
    assert (history[-1]["role"], history[-1]["author"]) == ("agent", "Agnes Agent")
    assert history[-1]["content"] == "Hi, Agnes here!"
    soup = agent.get(sent.headers["Location"])
    assert "Reply sent" in soup.select_one(".notice").get_text()
    assert "Taken over by Agnes Agent" in soup.select_one("#chat-status").get_text()
    last = soup.select("#transcript li.message")[-1]
    assert "agent" in last["class"] and last.select_one(".author").get_text() == "Agnes Agent"

    quiet = ask(client, org, handed_off, "Thanks Agnes!")
    assert quiet["assistant_message"] is None

    back = agent.post(chat_path("session", handed_off, "hand-back"))
    assert back.status_code == 303
    assert api(client, org, "GET", f"/sessions/{handed_off}", 200)["taken_over_by"] is None
    answered = ask(client, org, handed_off, "One more question please")
    assert answered["assistant_message"] is not None


def test_take_over_without_writing_and_mark_the_handoff_dealt_with(
    client, org, assistant, faq, handed_off, agent
):
    conversation = open_chat(client, org, assistant, "conversation")
    ask(client, org, conversation, HOURS[0], kind="conversation")  # newer, answered
    assert listed(agent.get(INBOX))[0] == handed_off

    taken = agent.post(chat_path("session", handed_off, "take-over"))
    assert taken.status_code == 303
    assert "Taken over by Agnes Agent" in badges(row(agent.get(INBOX), handed_off))
    assert ask(client, org, handed_off, "Still there?")["assistant_message"] is None

    soup = agent.get(chat_path("session", handed_off))
    assert soup.select_one("form[action$='/hand-back'] button").get_text() == (
        "Hand back to the assistant"
    )
    dealt = agent.post(chat_path("session", handed_off, "dealt-with"))
    assert dealt.status_code == 303 and dealt.headers["Location"].endswith("notice=chat_dealt_with")
    session = api(client, org, "GET", f"/sessions/{handed_off}", 200)
    assert session["handoff"] is False and session["taken_over_by"] == "Agnes Agent"
    assert (
        agent.get(chat_path("session", handed_off)).select_one("form[action$='/dealt-with']")
        is None
    )
    assert listed(agent.get(INBOX, query_string={"handoff": "1"})) == []
    ask(client, org, conversation, HOURS[0], kind="conversation")
    assert listed(agent.get(INBOX)) == [conversation, handed_off]  # the newest first again

    # A conversation takes the same actions.
    path = chat_path("conversation", conversation)
    assert agent.post(f"{path}/reply", content="Hello from the team").status_code == 303
    history = api(client, org, "GET", f"/conversations/{conversation}/messages", 200)
    assert history[-1]["role"] == "agent" and history[-1]["author"] == "Agnes Agent"


@pytest.mark.parametrize(("content", "says"), [("   ", "Write something."), ("x" * 4001, "4000")])
def test_an_empty_or_too_long_reply_is_refused_and_nothing_stored(
    client, org, handed_off, agent, content, says
):
    before = api(client, org, "GET", f"/sessions/{handed_off}/messages", 200)

    refused = agent.post(chat_path("session", handed_off, "reply"), content=content)

    assert refused.status_code == 422
    soup = BeautifulSoup(refused.get_data(as_text=True), "html.parser")
    assert says in soup.select_one("#reply [role=alert]").get_text()
    assert soup.select_one("#content").get_text() == content
    assert api(client, org, "GET", f"/sessions/{handed_off}/messages", 200) == before
    assert api(client, org, "GET", f"/sessions/{handed_off}", 200)["taken_over_by"] is None


def test_a_change_without_the_csrf_token_changes_nothing(client, org, handed_off, agent):
    before = api(client, org, "GET", f"/sessions/{handed_off}/messages", 200)
    for action, fields in (
        ("reply", {"content": "forged"}),
        ("take-over", {}),
        ("dealt-with", {}),
        ("hand-back", {}),
    ):
        refused = agent.post(chat_path("session", handed_off, action), csrf=False, **fields)
        assert refused.status_code == 403, action
        assert "did not come from this console" in refused.get_data(as_text=True)

    session = api(client, org, "GET", f"/sessions/{handed_off}", 200)
    assert session["handoff"] is True and session["taken_over_by"] is None
    assert api(client, org, "GET", f"/sessions/{handed_off}/messages", 200) == before


def test_another_organization_sees_none_of_the_chats(
    app, client, org, other_org, assistant, handed_off, agent
):
    conversation = open_chat(client, org, assistant, "conversation")
    owner_b = person(app, other_org, "owner", "Bob Other")

    assert listed(owner_b.get(INBOX)) == []
    assert listed(owner_b.get(INBOX, query_string={"assistant": assistant["id"]})) == []
    for kind, chat_id in (("session", handed_off), ("conversation", conversation)):
        owner_b.get(chat_path(kind, chat_id), status=404)
        assert owner_b.client.get(chat_path(kind, chat_id, "messages")).status_code == 404
        for action in ("reply", "take-over", "hand-back", "dealt-with"):
            response = owner_b.post(chat_path(kind, chat_id, action), content="Hi from B")
            assert response.status_code == 404, (kind, action)

    session = api(client, org, "GET", f"/sessions/{handed_off}", 200)
    assert session["handoff"] is True and session["taken_over_by"] is None
    history = api(client, org, "GET", f"/sessions/{handed_off}/messages", 200)
    assert all(m["role"] != "agent" for m in history)
    assert listed(agent.get(INBOX))  # A's own agent still sees them
    with app.app_context():
        assert Conversation.get_by_id(uuid.UUID(conversation)).taken_over_by is None
        assert Assistant.select().count() == 1
