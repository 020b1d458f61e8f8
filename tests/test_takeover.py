"""A person of the team taking a chat over: their messages in the REST history, the
assistant quiet (no model call) until they hand it back, and the widget's way of finding
their messages (`?after=`, polled without spending the organization's budget)."""

from __future__ import annotations

import json

import pytest
from conftest import assert_envelope, bearer, widget_token
from fake_llm import Reply

from companin.models import Session, User
from companin.services import takeover
from companin.services.people import create_user

API = "/api/v1"
QUESTION = "Where is my parcel?"
ANSWER = "Parcels arrive within three days."


@pytest.fixture
def app_config(tmp_path, fake):
    return {
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "TESTING": True,
        "LLM_MODEL": "openai/gpt-4o-mini",
        "LLM_API_BASE": fake.base_url,
        "LLM_API_KEY": "sk-test",
        "CHAT_POLLS_PER_MINUTE": 5,
    }


@pytest.fixture
def chat(client, org, assistant, fake) -> dict:
    """A visitor's session with a question answered by the model."""
    pair = {"question": QUESTION, "answer": ANSWER}
    assert_envelope(client.post(f"{API}/knowledge/qa/", json=pair, headers=org.headers), 201)
    body = {"assistant_id": assistant["id"]}
    session = assert_envelope(client.post(f"{API}/sessions/", json=body, headers=org.headers), 201)
    fake.script(Reply(ANSWER))
    first = ask(client, org, session["id"], QUESTION)
    assert first["assistant_message"]["content"] == ANSWER
    return session


@pytest.fixture
def agnes(app, org) -> User:
    with app.app_context():
        person, _ = create_user(org.organization_id, "agnes@example.com", "agent", "Agnes")
    return person


def ask(client, org, session_id: str, content: str, **headers) -> dict:
    path = f"{API}/sessions/{session_id}/messages"
    response = client.post(path, json={"content": content}, headers={**org.headers, **headers})
    return assert_envelope(response, 201)


def history(client, org, session_id: str, **params) -> list[dict]:
    path = f"{API}/sessions/{session_id}/messages"
    return assert_envelope(client.get(path, headers=org.headers, query_string=params), 200)


def write(app, org, session_id: str, person: User, text: str) -> str:
    with app.app_context():
        from companin.identity import SERVER, Principal

        principal = Principal(kind=SERVER, org_id=org.organization_id)
        chat = takeover.get_chat(principal, "session", session_id)
        return str(takeover.write_as_agent(chat, person, text).id)


def test_an_agent_message_shows_in_the_history_and_takes_the_chat_over(
    app, client, org, chat, agnes
):
    write(app, org, chat["id"], agnes, "Hi, I'm Agnes: let me look into it.")

    last = history(client, org, chat["id"])[-1]
    assert (last["role"], last["author"]) == ("agent", "Agnes")
    assert last["content"] == "Hi, I'm Agnes: let me look into it."
    session = assert_envelope(client.get(f"{API}/sessions/{chat['id']}", headers=org.headers), 200)
    assert session["taken_over_by"] == "Agnes"
    assert session["last_message_at"] == last["created_at"]


def test_the_assistant_stays_quiet_until_the_chat_is_handed_back(
    app, client, org, chat, agnes, fake
):
    write(app, org, chat["id"], agnes, "I'm on it.")
    calls = len(fake.requests)

    quiet = ask(client, org, chat["id"], "Thanks, any news?")

    assert quiet["assistant_message"] is None
    assert quiet["user_message"]["content"] == "Thanks, any news?"
    assert len(fake.requests) == calls  # no model call
    streamed = client.post(
        f"{API}/sessions/{chat['id']}/messages?stream=true",
        json={"content": "Hello?"},
        headers=org.headers,
    ).get_data(as_text=True)
    assert "event: delta" not in streamed
    done = json.loads(streamed.split("event: done\ndata: ")[1].split("\n")[0])
    assert done["data"]["assistant_message"] is None
    assert len(fake.requests) == calls
    assert [m["role"] for m in history(client, org, chat["id"])][-3:] == ["agent", "user", "user"]

    with app.app_context():
        takeover.hand_back(Session.get_by_id(chat["id"]))
    fake.script(Reply(ANSWER))
    again = ask(client, org, chat["id"], QUESTION)
    assert again["assistant_message"]["content"] == ANSWER
    assert len(fake.requests) == calls + 1


def test_a_retried_message_to_a_taken_over_chat_is_stored_once(app, client, org, chat, agnes):
    write(app, org, chat["id"], agnes, "I'm on it.")
    before = len(history(client, org, chat["id"]))
    key = {"Idempotency-Key": "retry-1"}

    first = ask(client, org, chat["id"], "Are you there?", **key)
    second = ask(client, org, chat["id"], "Are you there?", **key)

    assert first == second and first["assistant_message"] is None
    assert len(history(client, org, chat["id"])) == before + 1


def test_after_lists_only_newer_messages(app, client, org, chat, agnes):
    seen = history(client, org, chat["id"])
    assert history(client, org, chat["id"], after=seen[-1]["id"]) == []

    write(app, org, chat["id"], agnes, "First news.")
    write(app, org, chat["id"], agnes, "Second news.")

    newer = history(client, org, chat["id"], after=seen[-1]["id"])
    assert [m["content"] for m in newer] == ["First news.", "Second news."]
    assert history(client, org, chat["id"], after=seen[0]["id"])[0]["id"] == seen[1]["id"]


def test_after_must_name_a_message_of_the_chat(client, org, assistant, chat):
    body = {"assistant_id": assistant["id"]}
    other = assert_envelope(client.post(f"{API}/sessions/", json=body, headers=org.headers), 201)
    foreign = history(client, org, chat["id"])[0]["id"]
    path = f"{API}/sessions/{other['id']}/messages"
    for after in (foreign, "not-a-uuid"):
        refused = client.get(path, headers=org.headers, query_string={"after": after})
        assert_envelope(refused, 422)


def test_polls_spend_no_organization_budget_but_are_limited_per_chat(client, org, chat):
    seen = history(client, org, chat["id"])
    path = f"{API}/sessions/{chat['id']}/messages"
    budget = client.get(f"{API}/assistants/", headers=org.headers)
    left = int(budget.headers["X-RateLimit-Remaining"])
    for _ in range(5):  # CHAT_POLLS_PER_MINUTE
        poll = client.get(path, headers=org.headers, query_string={"after": seen[-1]["id"]})
        assert_envelope(poll, 200)
    again = client.get(f"{API}/assistants/", headers=org.headers)
    assert int(again.headers["X-RateLimit-Remaining"]) == left - 1  # only this call

    refused = client.get(path, headers=org.headers, query_string={"after": seen[-1]["id"]})
    assert_envelope(refused, 429)
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    # A plain read of the history is not a poll: the budget pays, and it is allowed.
    assert_envelope(client.get(path, headers=org.headers), 200)


def test_marking_a_handoff_dealt_with_clears_it(app, client, org, assistant, fake):
    body = {"assistant_id": assistant["id"]}
    session = assert_envelope(client.post(f"{API}/sessions/", json=body, headers=org.headers), 201)
    handed = ask(client, org, session["id"], "Something nobody documented")
    assert handed["assistant_message"]["handoff"] is True
    listed = client.get(f"{API}/sessions/", headers=org.headers, query_string={"handoff": "true"})
    assert [s["id"] for s in assert_envelope(listed, 200)] == [session["id"]]

    with app.app_context():
        takeover.mark_dealt_with(Session.get_by_id(session["id"]))

    listed = client.get(f"{API}/sessions/", headers=org.headers, query_string={"handoff": "true"})
    assert assert_envelope(listed, 200) == []


def test_test_chats_are_not_listed_with_customers(app, client, org, assistant):
    with app.app_context():
        Session.create(organization=org.organization_id, assistant=assistant["id"], is_test=True)
    assert assert_envelope(client.get(f"{API}/sessions/", headers=org.headers), 200) == []


def test_a_widget_polls_its_own_session(client, org, assistant):
    token = widget_token(client, org, visitor_key="visitor-two-0123456789")
    body = {"assistant_id": assistant["id"]}
    mine = assert_envelope(client.post(f"{API}/sessions/", json=body, headers=bearer(token)), 201)
    path = f"{API}/sessions/{mine['id']}/messages"
    sent = client.post(path, json={"content": "hello"}, headers=bearer(token))
    last = assert_envelope(sent, 201)["assistant_message"]["id"]
    poll = client.get(path, headers=bearer(token), query_string={"after": last})
    assert assert_envelope(poll, 200) == []
