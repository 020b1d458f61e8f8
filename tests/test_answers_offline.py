"""Messages answered by the built-in offline responder (no model configured, `make run`'s
default): the reference's requests, answers from Q&A pairs and documents, handoffs,
feedback, caps and idempotent retries, all through HTTP."""

from __future__ import annotations

import pytest
from conftest import assert_envelope, bearer, widget_token
from test_knowledge_files import settle, upload

API = "/api/v1"
FALLBACK = "Let me find a person who knows."
FAQ = [
    ("What are your business hours?", "We are open Monday to Friday, 9 AM to 6 PM EST."),
    ("How long does shipping take?", "Standard shipping takes 3 to 5 business days."),
    ("What is your return policy?", "Unused items can be returned within 30 days for a refund."),
]
MANUAL = """Pairing the SoundBar 300 remote

The remote must be paired before first use. Hold the Home and Volume Down buttons together
for five seconds until the status light blinks blue. Release both buttons and wait for the
light to turn solid white. If the light blinks red, replace the two AAA batteries and try
again.

Cleaning

Wipe the grille with a dry cloth. Never use solvents on the fabric.
"""


@pytest.fixture
def app_config(tmp_path):
    return {
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "TESTING": True,
        "CHAT_MESSAGES_PER_DAY": 5,
        "MAX_MESSAGE_CHARS": 300,
    }


@pytest.fixture
def helper(client, org):
    """An assistant with a fallback message, and the organization's FAQ."""
    created = client.post(
        f"{API}/assistants/",
        json={"name": "Helper", "fallback_message": FALLBACK},
        headers=org.headers,
    )
    for question, answer in FAQ:
        pair = {"question": question, "answer": answer}
        assert_envelope(client.post(f"{API}/knowledge/qa/", json=pair, headers=org.headers), 201)
    return assert_envelope(created, 201)


def new_session(client, org, assistant, headers=None) -> str:
    body = {"assistant_id": assistant["id"], "visitor_id": "visitor-123", "locale": "en"}
    response = client.post(f"{API}/sessions/", json=body, headers=headers or org.headers)
    return assert_envelope(response, 201)["id"]


def ask(client, headers, path, content, status=201, **extra):
    body = {"content": content, "metadata": {"user_type": "customer"}}
    response = client.post(path, json=body, headers={**headers, **extra})
    return assert_envelope(response, status)


def messages_of(client, org, session_id) -> list[dict]:
    response = client.get(f"{API}/sessions/{session_id}/messages", headers=org.headers)
    return assert_envelope(response, 200)


# --- the reference's requests -------------------------------------------------------------


def test_session_message_as_the_reference_sends_it(client, org, helper):
    session_id = new_session(client, org, helper)

    data = ask(
        client,
        org.headers,
        f"{API}/sessions/{session_id}/messages",
        "Hello, when are you open during the week?",
    )

    assert data["session_id"] == session_id
    user, reply = data["user_message"], data["assistant_message"]
    assert user["role"] == "user" and user["metadata"] == {"user_type": "customer"}
    assert user["content"] == "Hello, when are you open during the week?"
    assert reply["role"] == "assistant" and reply["handoff"] is False
    assert reply["content"] == FAQ[0][1]
    assert reply["model"] == "offline" and isinstance(reply["latency_ms"], int)
    (source,) = reply["sources"]
    assert source["type"] == "qa" and source["title"] == FAQ[0][0]
    assert FAQ[0][1] in source["snippet"] and 0 < source["score"] <= 1
    assert [m["id"] for m in messages_of(client, org, session_id)] == [user["id"], reply["id"]]


def test_conversation_message_as_the_reference_sends_it(client, org, helper):
    body = {"assistant_id": helper["id"], "customer_id": "user-456", "title": "Order Support"}
    conversation = assert_envelope(
        client.post(f"{API}/conversations/", json=body, headers=org.headers), 201
    )
    path = f"{API}/conversations/{conversation['id']}/messages"

    data = ask(client, org.headers, path, "how many days until my parcel arrives?")

    assert data["conversation_id"] == conversation["id"] and "session_id" not in data
    assert data["assistant_message"]["content"] == FAQ[1][1]
    history = assert_envelope(client.get(path, headers=org.headers), 200)
    assert [m["role"] for m in history] == ["user", "assistant"]


def test_widget_token_sends_messages_in_its_own_session(client, org, helper):
    token = widget_token(client, org)
    session_id = new_session(client, org, helper, headers=bearer(token))

    data = ask(
        client,
        bearer(token),
        f"{API}/sessions/{session_id}/messages",
        "Can I send something back if I don't like it?",
    )

    assert data["assistant_message"]["content"] == FAQ[2][1]
    # Another visitor's token does not reach it.
    stranger = widget_token(client, org)
    ask(client, bearer(stranger), f"{API}/sessions/{session_id}/messages", "hi", status=404)


def test_browser_preflight_for_a_message_is_answered(client, org, helper):
    session_id = new_session(client, org, helper)
    response = client.options(
        f"{API}/sessions/{session_id}/messages",
        headers={
            "Origin": "https://shop.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "https://shop.example.com"
    assert "Authorization" in response.headers["Access-Control-Allow-Headers"]


# --- what the offline responder says -----------------------------------------------------


def test_offline_answer_from_a_document_quotes_its_sentences_under_its_title(client, org, helper):
    created = assert_envelope(
        upload(client, org, MANUAL.encode(), "manual.txt", title="SoundBar 300 manual"), 201
    )
    manual = settle(client, org, created["id"])
    assert manual["status"] == "ready", manual
    session_id = new_session(client, org, helper)

    reply = ask(
        client,
        org.headers,
        f"{API}/sessions/{session_id}/messages",
        "How do I pair the remote control with my soundbar?",
    )["assistant_message"]

    assert reply["handoff"] is False
    assert reply["content"].startswith("From SoundBar 300 manual: ")
    assert "Hold the Home and Volume Down buttons" in reply["content"]
    assert "solvents" not in reply["content"]  # a few sentences, not the whole chunk
    assert [s["source_id"] for s in reply["sources"]] == [manual["id"]]


def test_off_topic_question_hands_off_with_the_fallback(client, org, helper):
    session_id = new_session(client, org, helper)

    reply = ask(
        client,
        org.headers,
        f"{API}/sessions/{session_id}/messages",
        "Who won the football world cup in 1998?",
    )["assistant_message"]

    assert reply["handoff"] is True and reply["content"] == FALLBACK
    assert reply["sources"] == [] and reply["model"] is None
    session = assert_envelope(client.get(f"{API}/sessions/{session_id}", headers=org.headers), 200)
    assert session["handoff"] is True and session["handoff_at"].endswith("Z")
    # The team finds it, and marks it dealt with.
    listed = client.get(f"{API}/sessions/?handoff=true", headers=org.headers)
    assert [s["id"] for s in assert_envelope(listed, 200)] == [session_id]
    cleared = client.patch(
        f"{API}/sessions/{session_id}", json={"handoff": False}, headers=org.headers
    )
    assert assert_envelope(cleared, 200)["handoff"] is False
    listed = client.get(f"{API}/sessions/?handoff=true", headers=org.headers)
    assert assert_envelope(listed, 200) == []


def test_a_short_follow_up_is_read_with_the_previous_question(client, org, helper):
    for product, price in (("X200 router", "99 EUR"), ("Z9 speaker", "49 EUR")):
        pair = {
            "question": f"How much does the {product} cost?",
            "answer": f"The {product} costs {price}.",
        }
        assert_envelope(client.post(f"{API}/knowledge/qa/", json=pair, headers=org.headers), 201)
    session_id = new_session(client, org, helper)
    path = f"{API}/sessions/{session_id}/messages"

    ask(client, org.headers, path, "Do you sell the Z9 speaker?")
    reply = ask(client, org.headers, path, "and how much is it?")["assistant_message"]

    assert reply["content"] == "The Z9 speaker costs 49 EUR."
    assert reply["sources"][0]["title"] == "How much does the Z9 speaker cost?"
    # A short question that does not refer back stands alone, not answered from the last topic.
    ask(client, org.headers, path, "How much does the X200 router cost?")
    unrelated = ask(client, org.headers, path, "what is the meaning of life?")
    assert unrelated["assistant_message"]["handoff"] is True


def test_assistant_only_uses_the_sources_it_may(client, org, helper):
    other = assert_envelope(
        client.post(f"{API}/assistants/", json={"name": "Other"}, headers=org.headers), 201
    )
    secret = {
        "question": "What is the staff discount code?",
        "answer": "The staff code is TEAM-7781.",
        "assistant_ids": [other["id"]],
    }
    assert_envelope(client.post(f"{API}/knowledge/qa/", json=secret, headers=org.headers), 201)
    session_id = new_session(client, org, helper)

    reply = ask(
        client,
        org.headers,
        f"{API}/sessions/{session_id}/messages",
        "what's the staff discount code?",
    )["assistant_message"]

    assert "TEAM-7781" not in reply["content"]


# --- feedback --------------------------------------------------------------------------------


def test_feedback_on_a_reply_by_its_visitor_and_a_change_of_mind(client, org, helper):
    token = widget_token(client, org)
    session_id = new_session(client, org, helper, headers=bearer(token))
    data = ask(client, bearer(token), f"{API}/sessions/{session_id}/messages", "opening hours?")
    reply_id = data["assistant_message"]["id"]
    path = f"{API}/messages/{reply_id}/feedback"

    up = client.post(path, json={"rating": "up"}, headers=bearer(token))
    assert assert_envelope(up, 200)["feedback"]["rating"] == "up"
    down = client.post(path, json={"rating": "down", "comment": "Wrong"}, headers=bearer(token))
    assert assert_envelope(down, 200)["feedback"]["comment"] == "Wrong"

    stored = messages_of(client, org, session_id)[1]["feedback"]
    assert (stored["rating"], stored["comment"]) == ("down", "Wrong")
    # Another visitor, a user message, a bad rating.
    stranger = bearer(widget_token(client, org))
    assert_envelope(client.post(path, json={"rating": "up"}, headers=stranger), 404)
    user_path = f"{API}/messages/{data['user_message']['id']}/feedback"
    assert_envelope(client.post(user_path, json={"rating": "up"}, headers=bearer(token)), 422)
    assert_envelope(client.post(path, json={"rating": "meh"}, headers=bearer(token)), 422)


def test_another_organization_cannot_rate_or_read_a_reply(client, org, other_org, helper):
    session_id = new_session(client, org, helper)
    data = ask(client, org.headers, f"{API}/sessions/{session_id}/messages", "opening hours?")
    path = f"{API}/messages/{data['assistant_message']['id']}/feedback"

    assert_envelope(client.post(path, json={"rating": "down"}, headers=other_org.headers), 404)
    post = f"{API}/sessions/{session_id}/messages"
    ask(client, other_org.headers, post, "hello", status=404)


# --- caps and bad input ---------------------------------------------------------------------


def test_message_over_the_length_cap_is_422_and_stores_nothing(client, org, helper):
    session_id = new_session(client, org, helper)
    path = f"{API}/sessions/{session_id}/messages"

    refused = ask(client, org.headers, path, "x" * 301, status=422)

    assert "content" in refused["json"]
    assert messages_of(client, org, session_id) == []
    for bad in ({}, {"content": ""}, {"content": 5}, {"content": "hi", "metadata": []}):
        response = client.post(path, json=bad, headers=org.headers)
        assert_envelope(response, 422)
    assert_envelope(
        client.post(path, data="{", headers={**org.headers, "Content-Type": "application/json"}),
        400,
    )
    assert messages_of(client, org, session_id) == []


def test_messages_per_chat_and_day_are_capped_with_the_usual_headers(client, org, helper):
    session_id = new_session(client, org, helper)
    path = f"{API}/sessions/{session_id}/messages"
    for _ in range(5):
        ask(client, org.headers, path, "opening hours?")

    response = client.post(path, json={"content": "again?"}, headers=org.headers)

    assert_envelope(response, 429)
    assert int(response.headers["Retry-After"]) > 0
    assert response.headers["X-RateLimit-Limit"] == "5"
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert len(messages_of(client, org, session_id)) == 10
    # Another chat is not affected.
    ask(client, org.headers, f"{API}/sessions/{new_session(client, org, helper)}/messages", "hi?")


# --- idempotent retries ----------------------------------------------------------------------


def test_a_retry_with_the_same_idempotency_key_gets_the_first_result(client, org, helper):
    session_id = new_session(client, org, helper)
    path = f"{API}/sessions/{session_id}/messages"
    key = {"Idempotency-Key": "retry-7f3a"}

    first = ask(client, org.headers, path, "opening hours?", **key)
    again = ask(client, org.headers, path, "opening hours?", **key)

    assert again == first
    assert len(messages_of(client, org, session_id)) == 2
    # The same key for another request is refused; a new key is a new message.
    refused = ask(client, org.headers, path, "shipping time?", status=422, **key)
    assert "Idempotency-Key" in refused["json"]
    ask(client, org.headers, path, "opening hours?", **{"Idempotency-Key": "retry-7f3b"})
    assert len(messages_of(client, org, session_id)) == 4
