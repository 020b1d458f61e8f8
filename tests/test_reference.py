"""The original API reference's requests, sent exactly as written (host aside).

Each curl command and JavaScript `fetch` of the reference that the product covers so far
is replayed with the same path (trailing slash or not), headers and body text; only the
placeholders (client id, secret, assistant id, token) are swapped for real values. The
responses are checked against API.md: status, envelope, data fields, UUID4 ids and
ISO 8601 UTC timestamps ending in `Z`.

Message POSTs and the knowledge routes of the reference are later issues and are not
replayed here yet.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from conftest import assert_envelope

# What curl adds on its own; sent too, so the request is the one a user's shell sends.
CURL_DEFAULT_HEADERS = {"Accept": "*/*", "User-Agent": "curl/8.5.0"}
# What fetch adds on its own.
FETCH_DEFAULT_HEADERS = {"Accept": "*/*"}
# The customer's web site the browser examples run on.
SHOP_ORIGIN = "https://shop.example.com"

ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")

SESSION_FIELDS = {"assistant_id", "visitor_id", "locale", "metadata"}
CONVERSATION_FIELDS = {
    "assistant_id",
    "customer_id",
    "title",
    "locale",
    "user_context_id",
    "metadata",
}
ASSISTANT_FIELDS = {
    "name",
    "description",
    "tone",
    "language",
    "default_tasks",
    "is_active",
    "instructions",
    "model",
    "temperature",
    "fallback_message",
}
CONTEXT_FIELDS = {"user_reference", "traits"}


# --- how the reference's clients send requests --------------------------------------------


def curl(client, method: str, path: str, headers: dict[str, str], data: str | None = None):
    """`curl -X METHOD path -H ... -d 'data'`: the body goes as the exact text given."""
    return client.open(path, method=method, headers={**CURL_DEFAULT_HEADERS, **headers}, data=data)


def js_stringify(value) -> str:
    """`JSON.stringify(value)`: compact, keys in the order written."""
    return json.dumps(value, separators=(",", ":"))


def fetch(client, path: str, method: str, headers: dict[str, str], body=None):
    """A server-side `fetch` (Node): no Origin, no preflight."""
    data = None if body is None else js_stringify(body)
    return client.open(path, method=method, headers={**FETCH_DEFAULT_HEADERS, **headers}, data=data)


def browser_fetch(client, path: str, method: str, headers: dict[str, str], body=None):
    """A `fetch` from a page on the customer's site, preflight first, as a browser does.

    JSON and Authorization are not "simple" headers, so the browser asks first and only
    sends the request when the preflight allows the method and headers; then it only
    hands the answer to the page when it carries Access-Control-Allow-Origin.
    """
    preflight = client.options(
        path,
        headers={
            "Origin": SHOP_ORIGIN,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": ",".join(sorted(h.lower() for h in headers)),
        },
    )
    assert 200 <= preflight.status_code < 300, preflight.get_data(as_text=True)
    assert preflight.headers.get("Access-Control-Allow-Origin") in {SHOP_ORIGIN, "*"}
    allowed_methods = preflight.headers.get("Access-Control-Allow-Methods", "").upper()
    assert method in allowed_methods
    allowed_headers = preflight.headers.get("Access-Control-Allow-Headers", "").lower()
    for name in headers:
        assert name.lower() in allowed_headers, (name, allowed_headers)

    response = fetch(client, path, method, {**headers, "Origin": SHOP_ORIGIN}, body)
    assert response.headers.get("Access-Control-Allow-Origin") in {SHOP_ORIGIN, "*"}
    return response


def server_headers(org) -> dict[str, str]:
    """The reference's `-H "X-API-Key: YOUR_CLIENT_ID" -H "X-API-Secret: YOUR_CLIENT_SECRET"`."""
    return {"X-API-Key": org.client_id, "X-API-Secret": org.client_secret}


# --- what API.md promises of every resource -------------------------------------------------


def assert_uuid4(value) -> None:
    parsed = uuid.UUID(value)
    assert parsed.version == 4, value
    assert str(parsed) == value, "ids are lower-case hyphenated UUID strings"


def assert_utc_timestamp(value: str) -> None:
    assert isinstance(value, str) and ISO_UTC.match(value), value
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    # Written just now: a local time labelled `Z` would be off by the zone's offset.
    assert abs(datetime.now(UTC) - moment) < timedelta(minutes=2), value


def assert_resource(data: dict, fields: set[str]) -> None:
    """A stored resource: its documented fields, a UUID4 id and UTC timestamps."""
    assert isinstance(data, dict), data
    missing = (fields | {"id", "created_at", "updated_at"}) - set(data)
    assert not missing, f"missing fields {missing} in {data}"
    assert_uuid4(data["id"])
    assert_utc_timestamp(data["created_at"])
    assert_utc_timestamp(data["updated_at"])


def create_assistant(client, org) -> str:
    response = client.post("/api/v1/assistants/", json={"name": "Support"}, headers=org.headers)
    return assert_envelope(response, 201)["id"]


# --- Authentication and errors --------------------------------------------------------------


def test_curl_widget_token(client, org):
    """`curl -X POST .../api/v1/auth/widget-token -H "Content-Type: ..." -d '{"client_id":...}'`"""
    response = curl(
        client,
        "POST",
        "/api/v1/auth/widget-token",
        {"Content-Type": "application/json"},
        '{"client_id":"' + org.client_id + '"}',
    )
    body = response.get_json()
    assert response.status_code == 200, body
    assert response.headers.get("X-Request-ID")
    # The reference shows the bare object; API.md adds the envelope around the same fields.
    assert body["status"] == "success" and body["status_code"] == 200 and body["detail"]
    for where in (body, body["data"]):
        assert where["expires_in"] == 3600
        assert where["token_type"] == "Bearer"
        assert where["token"].startswith("eyJ")  # a JWT, as in the reference's "eyJ..."
    assert body["token"] == body["data"]["token"]

    # The token is what the widget then authenticates with.
    assistant_id = create_assistant(client, org)
    session = client.post(
        "/api/v1/sessions/",
        json={"assistant_id": assistant_id},
        headers={"Authorization": f"Bearer {body['token']}"},
    )
    assert_envelope(session, 201)


def test_error_example_without_credentials(client):
    """The reference's error shape: 401, `Authentication required - ...`, data null."""
    response = curl(client, "GET", "/api/v1/assistants/", {})
    assert assert_envelope(response, 401) is None
    assert response.get_json()["detail"].startswith("Authentication required - ")


# --- Assistants --------------------------------------------------------------------------------


def test_curl_create_then_list_assistants(client, org):
    """The two assistant commands: POST with the reference body, then GET the list."""
    created = curl(
        client,
        "POST",
        "/api/v1/assistants/",
        {**server_headers(org), "Content-Type": "application/json"},
        '{ "name": "Customer Support Bot", "description": "Helpful assistant for customer '
        'inquiries", "tone": "professional", "language": "en", "default_tasks": '
        '["answer_questions", "provide_support"], "is_active": true }',
    )
    assistant = assert_envelope(created, 201)
    assert_resource(assistant, ASSISTANT_FIELDS)
    assert assistant["name"] == "Customer Support Bot"
    assert assistant["description"] == "Helpful assistant for customer inquiries"
    assert assistant["tone"] == "professional"
    assert assistant["language"] == "en"
    assert assistant["default_tasks"] == ["answer_questions", "provide_support"]
    assert assistant["is_active"] is True

    listed = curl(client, "GET", "/api/v1/assistants/", server_headers(org))
    assert assert_envelope(listed, 200) == [assistant]
    pagination = json.loads(listed.headers["X-Pagination"])
    assert pagination == {"total": 1, "total_pages": 1, "page": 1, "page_size": 20}
    # "Rate limit information is included in response headers."
    assert listed.headers["X-RateLimit-Limit"] == "1000"
    assert int(listed.headers["X-RateLimit-Remaining"]) < 1000
    assert listed.headers.get("X-RateLimit-Reset")


# --- Sessions, conversations, contexts ----------------------------------------------------------


def test_curl_create_session(client, org):
    assistant_id = create_assistant(client, org)
    response = curl(
        client,
        "POST",
        "/api/v1/sessions/",
        {**server_headers(org), "Content-Type": "application/json"},
        '{ "assistant_id": "' + assistant_id + '", "visitor_id": "visitor-123", "locale": '
        '"en", "metadata": { "source": "website", "page": "/contact" } }',
    )
    session = assert_envelope(response, 201)
    assert_resource(session, SESSION_FIELDS)
    assert session["assistant_id"] == assistant_id
    assert session["visitor_id"] == "visitor-123"
    assert session["locale"] == "en"
    assert session["metadata"] == {"source": "website", "page": "/contact"}

    fetched = client.get(f"/api/v1/sessions/{session['id']}", headers=org.headers)
    assert assert_envelope(fetched, 200) == session


def test_curl_create_conversation(client, org):
    assistant_id = create_assistant(client, org)
    response = curl(
        client,
        "POST",
        "/api/v1/conversations/",
        {**server_headers(org), "Content-Type": "application/json"},
        '{ "assistant_id": "' + assistant_id + '", "customer_id": "user-456", "title": '
        '"Order Support", "locale": "en" }',
    )
    conversation = assert_envelope(response, 201)
    assert_resource(conversation, CONVERSATION_FIELDS)
    assert conversation["assistant_id"] == assistant_id
    assert conversation["customer_id"] == "user-456"
    assert conversation["title"] == "Order Support"
    assert conversation["locale"] == "en"
    assert conversation["user_context_id"] is None
    assert conversation["metadata"] == {}

    fetched = client.get(f"/api/v1/conversations/{conversation['id']}", headers=org.headers)
    assert assert_envelope(fetched, 200) == conversation


def test_curl_create_context(client, org):
    response = curl(
        client,
        "POST",
        "/api/v1/contexts/",
        {**server_headers(org), "Content-Type": "application/json"},
        '{ "user_reference": "user-456", "traits": { "name": "John Doe", "email": '
        '"john@example.com", "subscription_tier": "premium", "preferences": { "language": '
        '"en", "notifications": true } } }',
    )
    context = assert_envelope(response, 201)
    assert_resource(context, CONTEXT_FIELDS)
    assert context["user_reference"] == "user-456"
    assert context["traits"] == {
        "name": "John Doe",
        "email": "john@example.com",
        "subscription_tier": "premium",
        "preferences": {"language": "en", "notifications": True},
    }
    fetched = client.get("/api/v1/contexts/user-456", headers=org.headers)
    assert assert_envelope(fetched, 200) == context


# --- The JavaScript examples ------------------------------------------------------------------


def get_widget_token(client, org) -> str:
    """`getWidgetToken()`: returns `(await response.json()).token`."""
    response = browser_fetch(
        client,
        "/api/v1/auth/widget-token",
        "POST",
        {"Content-Type": "application/json"},
        {"client_id": org.client_id},
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()["token"]


def test_js_anonymous_support_session(client, org):
    """getWidgetToken() → startSupportSession(token, assistantId) → session.data.id."""
    assistant_id = create_assistant(client, org)
    token = get_widget_token(client, org)
    visitor_id = "visitor-" + str(int(datetime.now(UTC).timestamp() * 1000))  # Date.now()

    session = browser_fetch(
        client,
        "/api/v1/sessions/",
        "POST",
        {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        {
            "assistant_id": assistant_id,
            "visitor_id": visitor_id,
            "metadata": {"source": "support_widget"},
        },
    ).get_json()
    assert session["status_code"] == 201, session
    assert session["status"] == "success" and session["detail"]
    assert_resource(session["data"], SESSION_FIELDS)
    assert session["data"]["assistant_id"] == assistant_id
    assert session["data"]["visitor_id"] == visitor_id
    assert session["data"]["metadata"] == {"source": "support_widget"}
    assert session["data"]["locale"] is None

    # `session.data.id` is what sendMessage() goes on with: the same token reaches it.
    session_id = session["data"]["id"]
    widget = {"Authorization": f"Bearer {token}"}
    fetched = client.get(f"/api/v1/sessions/{session_id}", headers=widget)
    assert assert_envelope(fetched, 200) == session["data"]
    history = client.get(f"/api/v1/sessions/{session_id}/messages", headers=widget)
    assert assert_envelope(history, 200) == []


def test_js_personalized_chat(client, org):
    """createUserContext('user-123', …) → startPersonalizedChat(…, 'user-123') → data.id."""
    assistant_id = create_assistant(client, org)
    secret_headers = {
        "X-API-Key": org.client_id,
        "X-API-Secret": org.client_secret,
        "Content-Type": "application/json",
    }
    user_id = "user-123"
    user_data = {
        "name": "Alice",
        "purchases": ["laptop-1", "mouse-2"],
        "preferences": {"category": "electronics"},
    }
    context = fetch(
        client,
        "/api/v1/contexts/",
        "POST",
        secret_headers,
        {
            "user_reference": user_id,
            "traits": {
                "name": user_data["name"],
                "purchase_history": user_data["purchases"],
                "preferences": user_data["preferences"],
            },
        },
    )
    context_data = assert_envelope(context, 201)
    assert_resource(context_data, CONTEXT_FIELDS)
    assert context_data["user_reference"] == user_id
    assert context_data["traits"] == {
        "name": "Alice",
        "purchase_history": ["laptop-1", "mouse-2"],
        "preferences": {"category": "electronics"},
    }

    # The reference passes the user's own id as user_context_id, not the context's id.
    response = fetch(
        client,
        "/api/v1/conversations/",
        "POST",
        secret_headers,
        {
            "assistant_id": assistant_id,
            "customer_id": user_id,
            "user_context_id": user_id,
            "title": "Product Recommendations",
            "metadata": {"source": "product_page"},
        },
    )
    conversation = assert_envelope(response, 201)
    assert_resource(conversation, CONVERSATION_FIELDS)
    assert conversation["assistant_id"] == assistant_id
    assert conversation["customer_id"] == user_id
    assert conversation["user_context_id"] == context_data["id"]
    assert conversation["title"] == "Product Recommendations"
    assert conversation["metadata"] == {"source": "product_page"}

    # `conversation.data.id` is what askAboutProduct() goes on with.
    conversation_id = conversation["id"]
    fetched = client.get(f"/api/v1/conversations/{conversation_id}", headers=org.headers)
    assert assert_envelope(fetched, 200) == conversation
    history = client.get(f"/api/v1/conversations/{conversation_id}/messages", headers=org.headers)
    assert assert_envelope(history, 200) == []


def test_js_last_fetch_without_trailing_slash(client, org):
    """`fetch('…/api/v1/sessions', {POST, Bearer, body: {assistant_id}})`: no slash, one field."""
    assistant_id = create_assistant(client, org)
    token = get_widget_token(client, org)
    response = browser_fetch(
        client,
        "/api/v1/sessions",
        "POST",
        {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        {"assistant_id": assistant_id},
    )
    # No redirect to the slashed path: a redirected POST would lose its body in some clients.
    session = assert_envelope(response, 201)
    assert_resource(session, SESSION_FIELDS)
    assert session["assistant_id"] == assistant_id
    assert session["visitor_id"] is None
    assert session["metadata"] == {}


@pytest.mark.parametrize("path", ["/api/v1/sessions/", "/api/v1/sessions"])
def test_js_session_is_refused_without_a_token(client, org, path):
    """The widget's calls need the token: the same fetch without it is a 401 envelope."""
    assistant_id = create_assistant(client, org)
    response = fetch(
        client, path, "POST", {"Content-Type": "application/json"}, {"assistant_id": assistant_id}
    )
    assert assert_envelope(response, 401) is None
    listed = client.get("/api/v1/sessions/", headers=org.headers)
    assert assert_envelope(listed, 200) == []
