"""The console's Insights page, as a team reads it: customers' messages per day, the share
of replies answered and handed off, thumbs, the latest thumbs-down replies, and the
questions the assistant could not answer grouped by similarity, each ready to become a
Q&A pair.

Chats are seeded through the REST API and answered by the offline responder: a question
its Q&A pair answers is answered, any other is handed off. Only what the API cannot do
(a console test chat, a message of last month) is written through the models.
"""

from __future__ import annotations

import socket
import time
import uuid
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from bs4 import BeautifulSoup
from conftest import assert_envelope, console_sign_in

from companin import create_app
from companin.models import Assistant, Message, Session, utcnow
from companin.services.insights import EMBED_NOW, GROUPS_SHOWN
from companin.services.organizations import create_organization
from companin.services.people import create_user

API = "/api/v1"
PAGE = "/console/insights"
PASSWORD = "correct horse battery staple"
HOURS = ("What are your business hours?", "We are open Monday to Friday, 9 AM to 6 PM.")
# Two questions, each asked in two ways, that nothing in the knowledge answers.
SHIPPING = ("how long does shipping take", "How long until my order ships?")
PAYPAL = ("can I pay with paypal", "Do you accept PayPal?")


def add_person(app, org_id: str, email: str, role: str) -> None:
    with app.app_context():
        create_user(org_id, email, role, None, PASSWORD)


def signed_in(app, org_id: str, role: str = "agent"):
    """A client of the console signed in as a new person of `role` in the organization."""
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.com"
    add_person(app, org_id, email, role)
    client = app.test_client()
    assert console_sign_in(client, email, PASSWORD).status_code == 303
    return client


def new_session(client, org, assistant) -> str:
    body = {"assistant_id": assistant["id"], "visitor_id": "visitor-1"}
    created = client.post(f"{API}/sessions/", json=body, headers=org.headers)
    return assert_envelope(created, 201)["id"]


def ask(client, org, session_id: str, text: str) -> dict:
    """Send a customer's message; the reply as the API gives it."""
    response = client.post(
        f"{API}/sessions/{session_id}/messages", json={"content": text}, headers=org.headers
    )
    return assert_envelope(response, 201)["assistant_message"]


def rate(client, org, reply: dict, rating: str, comment: str | None = None) -> None:
    body = {"rating": rating, "comment": comment}
    response = client.post(f"{API}/messages/{reply['id']}/feedback", json=body, headers=org.headers)
    assert_envelope(response, 200)


def move_back(app, reply_id: str, days: int) -> None:
    """Date a reply and the question before it `days` days back (the API writes now)."""
    with app.app_context():
        reply = Message.get_by_id(uuid.UUID(reply_id))
        question = (
            Message.select()
            .where(
                Message.session == reply.session_id,
                Message.role == "user",
                Message.created_at <= reply.created_at,
            )
            .order_by(Message.created_at.desc())
            .first()
        )
        for message in (question, reply):
            Message.update(created_at=message.created_at - timedelta(days=days)).where(
                Message.id == message.id
            ).execute()


def page(client, path: str = PAGE, status: int = 200) -> BeautifulSoup:
    response = client.get(path)
    assert response.status_code == status, response.get_data(as_text=True)[:2000]
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def per_day(soup) -> dict[str, tuple[int, int]]:
    """{day: (customer messages, handed off)} from the page's table."""
    return {
        row["data-day"]: (int(row["data-questions"]), int(row["data-handed-off"]))
        for row in soup.select("#per-day tbody tr")
    }


def groups(soup) -> list[tuple[str, int, list[str], str | None]]:
    """(wording, count, other wordings, the Add as Q&A link's question if there is the
    link) of each group."""
    found = []
    for row in soup.select("#unanswered tbody tr"):
        link = row.select_one("a.add-qa")
        found.append(
            (
                row.select_one(".wording").get_text(strip=True),
                int(row["data-count"]),
                [q.get_text() for q in row.select(".variants q")],
                parse_qs(urlsplit(link["href"]).query)["question"][0] if link else None,
            )
        )
    return found


def stat(soup, name: str) -> str:
    return soup.select_one(f"#stat-{name}")


@pytest.fixture
def faq(client, org):
    pair = {"question": HOURS[0], "answer": HOURS[1]}
    assert_envelope(client.post(f"{API}/knowledge/qa/", json=pair, headers=org.headers), 201)


@pytest.fixture
def seeded(app, client, org, assistant, faq):
    """Three answered questions (one rated up, one down with a comment) in two chats, and
    four unanswered ones (two questions, each asked two ways); of these, one answered and
    one handed off three days ago. And a question handed off 40 days ago."""
    first, second = new_session(client, org, assistant), new_session(client, org, assistant)
    answered = [ask(client, org, first, HOURS[0]) for _ in range(2)]
    answered.append(ask(client, org, second, "When are you open? business hours"))
    for reply in answered:
        assert not reply["handoff"], reply
    rate(client, org, answered[0], "up")
    rate(client, org, answered[2], "down", "Saturday hours are missing")
    # Each in a chat of its own: a short question is read as a follow-up of the one before.
    handed = [
        ask(client, org, new_session(client, org, assistant), text)
        for text in (SHIPPING[0], PAYPAL[0], PAYPAL[1], SHIPPING[1])  # the last most recent
    ]
    for reply in handed:
        assert reply["handoff"], reply
    long_ago = ask(client, org, new_session(client, org, assistant), "Do you sell gift cards?")
    move_back(app, answered[1]["id"], 3)
    move_back(app, handed[0]["id"], 3)
    move_back(app, long_ago["id"], 40)
    return {"sessions": (first, second), "answered": answered, "handed": handed}


@pytest.fixture
def agent(app, org):
    return signed_in(app, org.organization_id, "agent")


@pytest.fixture
def admin(app, org):
    return signed_in(app, org.organization_id, "admin")


def test_counts_messages_per_day_shares_and_thumbs(seeded, agent):
    soup = page(agent)

    today = utcnow().date()
    days = per_day(soup)
    assert len(days) == 30 and min(days) == (today - timedelta(days=29)).isoformat()
    assert days[today.isoformat()] == (5, 3)
    assert days[(today - timedelta(days=3)).isoformat()] == (2, 1)
    assert sum(q for q, _ in days.values()) == 7  # not the question of 40 days ago
    assert stat(soup, "questions")["data-count"] == "7"
    assert stat(soup, "answered")["data-count"] == "3"
    assert stat(soup, "handed-off")["data-count"] == "4"
    assert "43%" in stat(soup, "answered").get_text()  # 3 of 7 replies
    assert "57%" in stat(soup, "handed-off").get_text()
    thumbs = stat(soup, "thumbs")
    assert (thumbs["data-up"], thumbs["data-down"]) == ("1", "1")
    # The busiest day's bar is the full width, the other in proportion.
    bars = [bar["style"] for bar in soup.select("#per-day .insights-bar")]
    assert bars == ["width: 100.0%", "width: 40.0%"]


def test_the_period_and_assistant_filters(app, client, org, seeded, agent):
    soup = page(agent, f"{PAGE}?days=90")
    assert len(per_day(soup)) == 90
    assert stat(soup, "questions")["data-count"] == "8"  # with the one of 40 days ago
    assert any(g[0] == "Do you sell gift cards?" for g in groups(soup))

    soup = page(agent, f"{PAGE}?days=7")
    assert len(per_day(soup)) == 7
    assert stat(soup, "questions")["data-count"] == "7"
    assert soup.select_one("#days option[selected]")["value"] == "7"

    other = assert_envelope(
        client.post(f"{API}/assistants/", json={"name": "Other"}, headers=org.headers), 201
    )
    ask(client, org, new_session(client, org, other), "Is the SoundBar waterproof?")
    everything = page(agent)
    assert stat(everything, "questions")["data-count"] == "8"
    mine = page(agent, f"{PAGE}?assistant={other['id']}")
    assert stat(mine, "questions")["data-count"] == "1"
    assert [g[0] for g in groups(mine)] == ["Is the SoundBar waterproof?"]
    assert mine.select_one("#assistant option[selected]")["value"] == other["id"]


def test_the_consoles_test_chats_are_not_counted(app, org, assistant, seeded, agent):
    before = page(agent)
    with app.app_context():
        chat = Session.create(
            organization=org.organization_id, assistant=uuid.UUID(assistant["id"]), is_test=True
        )
        Message.create(
            organization=org.organization_id, session=chat, role="user", content="Test question"
        )
        Message.create(
            organization=org.organization_id,
            session=chat,
            role="assistant",
            content="I'm not sure.",
            handoff=True,
            feedback_rating="down",
        )

    after = page(agent)
    for name in ("questions", "answered", "handed-off"):
        assert stat(after, name)["data-count"] == stat(before, name)["data-count"]
    assert stat(after, "thumbs")["data-down"] == "1"
    assert per_day(after) == per_day(before)
    assert "Test question" not in after.get_text()


def test_rephrasings_form_one_group_and_different_questions_stay_apart(seeded, admin):
    soup = page(admin)

    found = groups(soup)
    assert len(found) == 2, found
    by_wording = {wording: (count, variants, link) for wording, count, variants, link in found}
    # Shipping was asked last, in its short wording; PayPal both ways too.
    assert by_wording[SHIPPING[1]] == (2, [SHIPPING[0]], SHIPPING[1])
    assert by_wording[PAYPAL[1]] == (2, [PAYPAL[0]], PAYPAL[1])
    # A question the assistant answered is no unanswered question.
    assert HOURS[0] not in {g[0] for g in found}
    assert "Grouped by identical text only" not in soup.get_text()


def test_biggest_groups_come_first(client, org, assistant, seeded, agent):
    chat = new_session(client, org, assistant)
    assert ask(client, org, chat, "Can I pay using PayPal?")["handoff"]

    found = groups(page(agent))
    assert [(g[0], g[1]) for g in found] == [("Can I pay using PayPal?", 3), (SHIPPING[1], 2)]


def test_add_as_qa_opens_the_editor_with_the_question(seeded, admin, agent):
    soup = page(admin)

    link = soup.select_one("#unanswered tbody tr a.add-qa")["href"]
    assert urlsplit(link).path == "/console/knowledge/qa/new"
    assert parse_qs(urlsplit(link).query) == {"question": [SHIPPING[1]]}
    editor = page(admin, link)
    assert editor.select_one("#question").get_text() == SHIPPING[1]
    # An agent may not add Q&A pairs: no such link on their page.
    assert page(agent).select("a.add-qa") == []
    assert [g[3] for g in groups(page(agent))] == [None, None]


def test_the_latest_thumbs_down_shows_question_reply_comment_and_transcript(seeded, agent):
    soup = page(agent)

    items = soup.select("#thumbs-down li")
    assert len(items) == 1
    item = items[0]
    assert item["data-reply"] == seeded["answered"][2]["id"]
    assert "When are you open? business hours" in item.select_one(".asked").get_text()
    assert HOURS[1] in item.select_one(".reply").get_text()
    assert "Saturday hours are missing" in item.select_one(".comment").get_text()
    link = item.find("a", string="Open the transcript")["href"]
    assert link == f"/console/chats/session/{seeded['sessions'][1]}"
    assert agent.get(link).status_code == 200


def test_another_organization_sees_none_of_it(app, assistant, seeded, other_org):
    other = signed_in(app, other_org.organization_id, "owner")

    soup = page(other)
    assert stat(soup, "questions")["data-count"] == "0"
    assert groups(soup) == []
    assert soup.select("#thumbs-down li") == []
    text = soup.get_text()
    assert SHIPPING[1] not in text and "Saturday hours" not in text and "Helper" not in text
    # Organization A's assistant, by id, is as missing as any other.
    missing = page(other, f"{PAGE}?assistant={assistant['id']}", status=404)
    assert "Assistant not found" in missing.get_text()
    assert SHIPPING[1] not in missing.get_text()


def test_customer_text_shows_as_text(client, org, assistant, faq, admin):
    chat = new_session(client, org, assistant)
    attack = "<script>alert('x')</script> is this safe?"
    reply = ask(client, org, chat, attack)
    assert reply["handoff"]

    response = admin.get(PAGE)
    body = response.get_data(as_text=True)
    assert "<script>alert" not in body
    assert "&lt;script&gt;alert(" in body
    assert groups(BeautifulSoup(body, "html.parser"))[0][3] == attack  # the link's question


@pytest.mark.parametrize(
    ("query", "status", "says"),
    [
        ("days=14", 400, "A period is the last 7, 30 or 90 days."),
        ("days=abc", 400, "A period is the last 7, 30 or 90 days."),
        ("days=-30", 400, "A period is the last 7, 30 or 90 days."),
        ("assistant=not-an-id", 404, "Assistant not found"),
        ("assistant=00000000-0000-4000-8000-000000000000", 404, "Assistant not found"),
    ],
)
def test_a_filter_the_form_does_not_offer_is_a_readable_4xx_page(agent, query, status, says):
    soup = page(agent, f"{PAGE}?{query}", status=status)
    assert says in soup.get_text()
    assert soup.select_one("nav.nav") is not None  # the console's page, not the API's JSON


def test_empty_filters_are_the_defaults(seeded, agent):
    soup = page(agent, f"{PAGE}?days=&assistant=")
    assert len(per_day(soup)) == 30
    assert stat(soup, "questions")["data-count"] == "7"


def test_every_role_reads_it_and_a_stranger_is_sent_to_sign_in(app, client, org):
    for role in ("agent", "admin", "owner"):
        soup = page(signed_in(app, org.organization_id, role))
        assert soup.select_one('nav a[aria-current="page"]').get_text() == "Insights"
        assert "Every customer question in this period was answered." in soup.get_text()
    response = client.get(PAGE)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/console/sign-in")


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def embedder_down(tmp_path):
    """An app whose (remote) embedding model's server is down, and an organization's
    chat there: questions are written through the models (the API could not answer)."""
    app = create_app(
        {
            "INSTANCE_PATH": str(tmp_path / "down"),
            "TESTING": True,
            "EMBEDDING_MODEL": "openai/text-embedding-3-small",
            "EMBEDDING_API_BASE": f"http://127.0.0.1:{closed_port()}/v1",
        }
    )
    with app.app_context():
        org_id = create_organization("Down").organization_id
        helper = Assistant.create(organization=org_id, name="Helper")
        chat = Session.create(organization=org_id, assistant=helper)
    return app, org_id, chat


def handed_off(app, org_id, chat, *questions: str) -> None:
    with app.app_context():
        for text in questions:
            Message.create(organization=org_id, session=chat, role="user", content=text)
            Message.create(
                organization=org_id, session=chat, role="assistant", content="?", handoff=True
            )


def test_without_an_embedder_identical_questions_are_grouped_and_the_page_says_so(
    embedder_down,
):
    app, org_id, chat = embedder_down
    handed_off(app, org_id, chat, "Shipping time?", "shipping   time", "can I pay with paypal")

    soup = page(signed_in(app, org_id))
    assert "Grouped by identical text only" in soup.get_text()
    assert "text-embedding-3-small" in soup.get_text()
    assert [(g[0], g[1]) for g in groups(soup)] == [
        ("shipping   time", 2),
        ("can I pay with paypal", 1),
    ]


def test_the_biggest_groups_are_shown_and_the_others_counted(embedder_down):
    app, org_id, chat = embedder_down
    handed_off(app, org_id, chat, *(f"Question {n}" for n in range(GROUPS_SHOWN + 2)))
    handed_off(app, org_id, chat, "Question 0", "Question 0")

    soup = page(signed_in(app, org_id))
    shown = groups(soup)
    assert len(shown) == GROUPS_SHOWN
    assert shown[0][:2] == ("Question 0", 3)
    assert soup.select_one("#hidden-groups").get_text(strip=True) == (
        "And 2 smaller groups of questions."
    )


def test_a_burst_of_new_questions_is_compared_in_the_background(app, org, assistant, agent):
    # More new questions than one page view embeds: the rest are grouped by their text
    # until the background has embedded them, and the page says so.
    extra = 5
    topics = ["gift cards", "student discounts", "Sunday opening", "repairs", "bulk orders"]
    with app.app_context():
        chat = Session.create(
            organization=org.organization_id, assistant=uuid.UUID(assistant["id"])
        )
        for n in range(EMBED_NOW + extra):
            question = f"Question {n}: what about {topics[n % len(topics)]}?"
            Message.create(
                organization=org.organization_id, session=chat, role="user", content=question
            )
            Message.create(
                organization=org.organization_id,
                session=chat,
                role="assistant",
                content="Let me find a person.",
                handoff=True,
            )

    first = page(agent)
    assert f"{extra} of these questions are still being compared" in first.get_text()
    assert sum(count for _, count, _, _ in groups(first)) == EMBED_NOW + extra
    deadline = time.monotonic() + 60
    while "still being compared" in page(agent).get_text():
        assert time.monotonic() < deadline, "the background never finished"
        time.sleep(0.2)
    assert sum(count for _, count, _, _ in groups(page(agent))) == EMBED_NOW + extra
