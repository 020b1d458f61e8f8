"""The CRUD resources of API.md, as a client uses them over HTTP.

For assistants, widget configs, sessions, conversations and user contexts: create → get →
list (paginated, `X-Pagination`) → update → get → delete → 404, on both the slashed and
the unslashed path. Then what is particular to each: context upserts and trait merges,
conversations tied to a context by id or user_reference, references to rows that do not
exist (422 naming the field), list filters, empty message histories, and what deleting an
assistant or a context does to the rows that refer to it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from conftest import assert_envelope

API = "/api/v1"


@dataclass(frozen=True)
class Resource:
    """How to create and change one kind of resource, and what a change should give."""

    path: str
    create: Callable[[str, int], dict[str, Any]]  # (assistant id, n) -> body
    update: dict[str, Any]
    # The fields after `update`, when they are not simply `update` itself.
    updated: dict[str, Any] = field(default_factory=dict)

    def expected_after_update(self) -> dict[str, Any]:
        return self.updated or self.update


RESOURCES = {
    "assistants": Resource(
        path=f"{API}/assistants",
        create=lambda _assistant_id, n: {
            "name": f"Support Bot {n}",
            "description": "Answers questions about orders",
            "tone": "friendly",
            "language": "en",
            "default_tasks": ["answer_questions", "provide_support"],
            "is_active": True,
            "instructions": "Be brief.",
            "model": "openai/gpt-4o-mini",
            "temperature": 0.3,
            "fallback_message": "Let me find a human for you.",
        },
        update={
            "name": "Billing Bot",
            "description": "Answers billing questions",
            "tone": "formal",
            "language": "de",
            "default_tasks": ["explain_invoices"],
            "is_active": False,
            "instructions": "Quote the invoice number.",
            "model": None,
            "temperature": 1.1,
            "fallback_message": "Ein Mitarbeiter meldet sich.",
        },
    ),
    "widget-configs": Resource(
        path=f"{API}/widget-configs",
        create=lambda assistant_id, n: {
            "assistant_id": assistant_id,
            "name": f"Shop widget {n}",
            "greeting": "Hello! Ask me anything.",
            "suggested_questions": ["Where is my order?", "How do I return an item?"],
            "theme": {"primary_color": "#112233", "position": "bottom-left", "title": "Help"},
            "allowed_origins": [],
            "show_sources": False,
        },
        update={
            "name": "Checkout widget",
            "greeting": "Need help paying?",
            "suggested_questions": ["Which cards do you take?"],
            "theme": {"primary_color": "#AABBCC", "position": "bottom-right", "title": "Pay"},
            "show_sources": True,
        },
    ),
    "sessions": Resource(
        path=f"{API}/sessions",
        create=lambda assistant_id, n: {
            "assistant_id": assistant_id,
            "visitor_id": f"visitor-{n}",
            "locale": "en",
            "metadata": {"source": "website", "page": "/contact"},
        },
        update={"visitor_id": "visitor-renamed", "locale": "fr", "metadata": {"page": "/faq"}},
    ),
    "conversations": Resource(
        path=f"{API}/conversations",
        create=lambda assistant_id, n: {
            "assistant_id": assistant_id,
            "customer_id": f"user-{n}",
            "title": "Order Support",
            "locale": "en",
            "metadata": {"channel": "app"},
        },
        update={"title": "Refund", "locale": "nl", "metadata": {"channel": "email"}},
    ),
    "contexts": Resource(
        path=f"{API}/contexts",
        create=lambda _assistant_id, n: {
            "user_reference": f"user-{n}",
            "traits": {"name": "Ann", "plan": "free"},
        },
        update={"traits": {"plan": "pro"}},
        # PATCH merges traits rather than replacing them.
        updated={"traits": {"name": "Ann", "plan": "pro"}},
    ),
}


def pagination(response) -> dict[str, int]:
    return json.loads(response.headers["X-Pagination"])


def create(client, org, resource: str, assistant_id: str, n: int = 1) -> dict:
    spec = RESOURCES[resource]
    response = client.post(spec.path + "/", json=spec.create(assistant_id, n), headers=org.headers)
    return assert_envelope(response, 201)


def make_assistant(client, org, name: str = "Helper") -> str:
    response = client.post(f"{API}/assistants/", json={"name": name}, headers=org.headers)
    return assert_envelope(response, 201)["id"]


def assert_not_found(response) -> None:
    assert assert_envelope(response, 404) is None


def assert_invalid_field(response, name: str) -> None:
    """A 422 whose data names `name` as the bad field of the body."""
    data = assert_envelope(response, 422)
    assert set(data) == {"json"}, data
    assert set(data["json"]) == {name}, data
    assert data["json"][name] and all(isinstance(m, str) for m in data["json"][name])


# --- the life of each resource ------------------------------------------------------------


@pytest.mark.parametrize("slash", ["", "/"], ids=["no-slash", "slash"])
@pytest.mark.parametrize("resource", list(RESOURCES))
def test_create_get_list_update_delete(client, org, assistant, resource, slash):
    """The whole life of one row, on `/path` or `/path/` for collection and item alike."""
    spec = RESOURCES[resource]
    body = spec.create(assistant["id"], 1)

    created = assert_envelope(client.post(spec.path + slash, json=body, headers=org.headers), 201)
    for name, value in body.items():
        assert created[name] == value, name
    assert uuid.UUID(created["id"]).version == 4
    assert created["created_at"].endswith("Z") and created["updated_at"].endswith("Z")
    item = f"{spec.path}/{created['id']}{slash}"

    assert assert_envelope(client.get(item, headers=org.headers), 200) == created

    listed = client.get(spec.path + slash, headers=org.headers)
    rows = assert_envelope(listed, 200)
    assert created in rows
    assert pagination(listed) == {
        "total": len(rows),
        "total_pages": 1,
        "page": 1,
        "page_size": 20,
    }

    updated = assert_envelope(client.patch(item, json=spec.update, headers=org.headers), 200)
    for name, value in spec.expected_after_update().items():
        assert updated[name] == value, name
    unchanged = set(created) - set(spec.update) - {"updated_at"}
    assert {k: updated[k] for k in unchanged} == {k: created[k] for k in unchanged}
    assert updated["updated_at"] >= created["updated_at"]

    assert assert_envelope(client.get(item, headers=org.headers), 200) == updated

    deleted = client.delete(item, headers=org.headers)
    assert assert_envelope(deleted, 200) is None

    assert_not_found(client.get(item, headers=org.headers))
    assert_not_found(client.patch(item, json=spec.update, headers=org.headers))
    assert_not_found(client.delete(item, headers=org.headers))
    remaining = assert_envelope(client.get(spec.path + slash, headers=org.headers), 200)
    assert created["id"] not in {row["id"] for row in remaining}


@pytest.mark.parametrize("resource", list(RESOURCES))
def test_unknown_id_is_404(client, org, resource):
    item = f"{RESOURCES[resource].path}/{uuid.uuid4()}"
    assert_not_found(client.get(item, headers=org.headers))
    assert_not_found(client.delete(item, headers=org.headers))


@pytest.mark.parametrize("resource", list(RESOURCES))
def test_list_pages(client, org, resource):
    """`?page=&page_size=` walk the list without gaps or repeats; X-Pagination says where."""
    assistant_id = make_assistant(client, org)
    spec = RESOURCES[resource]
    # Five rows in all (for assistants, the one just made is one of them).
    ids = {assistant_id} if resource == "assistants" else set()
    ids |= {create(client, org, resource, assistant_id, n)["id"] for n in range(5 - len(ids))}
    expected_total = 5

    seen: list[str] = []
    for page, size in ((1, 2), (2, 2), (3, 1)):
        response = client.get(f"{spec.path}/?page={page}&page_size=2", headers=org.headers)
        rows = assert_envelope(response, 200)
        assert len(rows) == size
        assert pagination(response) == {
            "total": expected_total,
            "total_pages": 3,
            "page": page,
            "page_size": 2,
        }
        seen += [row["id"] for row in rows]
    assert sorted(seen) == sorted(ids)

    past_the_end = client.get(f"{spec.path}?page=4&page_size=2", headers=org.headers)
    assert assert_envelope(past_the_end, 200) == []
    assert pagination(past_the_end)["total"] == expected_total


@pytest.mark.parametrize("resource", list(RESOURCES))
def test_list_default_page_size_is_20_and_max_100(client, org, resource):
    assistant_id = make_assistant(client, org)
    spec = RESOURCES[resource]
    for n in range(21):
        create(client, org, resource, assistant_id, n)
    total = 22 if resource == "assistants" else 21

    first = client.get(spec.path, headers=org.headers)
    assert len(assert_envelope(first, 200)) == 20
    assert pagination(first) == {"total": total, "total_pages": 2, "page": 1, "page_size": 20}

    largest = client.get(f"{spec.path}?page_size=100", headers=org.headers)
    assert len(assert_envelope(largest, 200)) == total
    assert pagination(largest) == {"total": total, "total_pages": 1, "page": 1, "page_size": 100}

    for bad in ("page_size=101", "page_size=0", "page=0"):
        refused = client.get(f"{spec.path}?{bad}", headers=org.headers)
        data = assert_envelope(refused, 422)
        assert set(data["query"]) == {bad.split("=")[0]}, data


# --- assistants --------------------------------------------------------------------------


def test_assistant_with_only_a_name_has_every_field(client, org):
    created = assert_envelope(
        client.post(f"{API}/assistants/", json={"name": "Minimal"}, headers=org.headers), 201
    )
    assert set(RESOURCES["assistants"].update) <= set(created)
    assert created["name"] == "Minimal"
    # An assistant made with a name alone is usable at once by the widget.
    assert created["is_active"] is True
    assert isinstance(created["default_tasks"], list)
    assert isinstance(created["fallback_message"], str) and created["fallback_message"]


def test_assistant_without_name_is_the_documented_422(client, org):
    response = client.post(f"{API}/assistants/", json={"tone": "calm"}, headers=org.headers)
    assert assert_envelope(response, 422) == {
        "json": {"name": ["Missing data for required field."]}
    }
    assert assert_envelope(client.get(f"{API}/assistants/", headers=org.headers), 200) == []


def test_assistant_patch_validates_like_create(client, org, assistant):
    item = f"{API}/assistants/{assistant['id']}"
    assert_invalid_field(
        client.patch(item, json={"temperature": 5}, headers=org.headers), "temperature"
    )
    assert_invalid_field(client.patch(item, json={"name": ""}, headers=org.headers), "name")
    assert assert_envelope(client.get(item, headers=org.headers), 200) == assistant


# --- user contexts ---------------------------------------------------------------------------


@pytest.mark.parametrize("slash", ["", "/"], ids=["no-slash", "slash"])
def test_context_put_creates_then_replaces(client, org, slash):
    path = f"{API}/contexts/user-789{slash}"
    first_traits = {"name": "Bo", "preferences": {"language": "sv", "notifications": True}}
    created = client.put(path, json={"traits": first_traits}, headers=org.headers)
    assert created.status_code in (200, 201), created.get_json()
    context = assert_envelope(created, created.status_code)
    assert context["user_reference"] == "user-789"
    assert context["traits"] == first_traits
    assert uuid.UUID(context["id"]).version == 4

    replaced = assert_envelope(
        client.put(path, json={"traits": {"plan": "premium"}}, headers=org.headers), 200
    )
    assert replaced["id"] == context["id"]
    # PUT replaces the traits wholesale (PATCH is the one that merges).
    assert replaced["traits"] == {"plan": "premium"}
    assert replaced["created_at"] == context["created_at"]

    fetched = client.get(f"{API}/contexts/user-789", headers=org.headers)
    assert assert_envelope(fetched, 200) == replaced
    listed = assert_envelope(client.get(f"{API}/contexts/", headers=org.headers), 200)
    assert [row["id"] for row in listed] == [context["id"]]


def test_context_put_by_id_replaces_that_context(client, org):
    # The path names a context the same way for every method: by id or user_reference.
    created = client.put(f"{API}/contexts/user-5", json={"traits": {"a": 1}}, headers=org.headers)
    context = assert_envelope(created, 200)
    path = f"{API}/contexts/{context['id']}"
    replaced = assert_envelope(
        client.put(path, json={"traits": {"b": 2}}, headers=org.headers), 200
    )
    assert replaced["id"] == context["id"]
    assert replaced["user_reference"] == "user-5"
    assert replaced["traits"] == {"b": 2}
    listed = assert_envelope(client.get(f"{API}/contexts/", headers=org.headers), 200)
    assert len(listed) == 1


def test_context_put_requires_traits(client, org):
    response = client.put(f"{API}/contexts/user-1", json={}, headers=org.headers)
    assert_invalid_field(response, "traits")
    assert_not_found(client.get(f"{API}/contexts/user-1", headers=org.headers))


@pytest.mark.parametrize("by", ["id", "user_reference"])
def test_context_patch_merges_traits(client, org, by):
    """JSON merge patch: nested objects merge, null removes a key, other values replace."""
    context = assert_envelope(
        client.post(
            f"{API}/contexts/",
            json={
                "user_reference": "user-456",
                "traits": {
                    "name": "John Doe",
                    "email": "john@example.com",
                    "tags": ["new"],
                    "preferences": {"language": "en", "notifications": True, "theme": "dark"},
                },
            },
            headers=org.headers,
        ),
        201,
    )
    patched = assert_envelope(
        client.patch(
            f"{API}/contexts/{context[by]}",
            json={
                "traits": {
                    "email": None,
                    "tags": ["vip"],
                    "subscription_tier": "premium",
                    "preferences": {"notifications": None, "language": "de"},
                }
            },
            headers=org.headers,
        ),
        200,
    )
    expected = {
        "name": "John Doe",
        "tags": ["vip"],
        "subscription_tier": "premium",
        "preferences": {"language": "de", "theme": "dark"},
    }
    assert patched["traits"] == expected
    assert patched["id"] == context["id"]
    assert patched["user_reference"] == "user-456"
    fetched = client.get(f"{API}/contexts/{context['id']}", headers=org.headers)
    assert assert_envelope(fetched, 200)["traits"] == expected


def test_context_get_and_delete_by_id_or_user_reference(client, org):
    context = create(client, org, "contexts", "", 7)
    by_id = assert_envelope(client.get(f"{API}/contexts/{context['id']}", headers=org.headers), 200)
    by_reference = assert_envelope(client.get(f"{API}/contexts/user-7", headers=org.headers), 200)
    assert by_id == by_reference == context
    assert_not_found(client.get(f"{API}/contexts/user-8", headers=org.headers))

    assert (
        assert_envelope(client.delete(f"{API}/contexts/user-7", headers=org.headers), 200) is None
    )
    assert_not_found(client.get(f"{API}/contexts/{context['id']}", headers=org.headers))


def test_context_post_with_existing_user_reference_is_409(client, org):
    original = create(client, org, "contexts", "", 1)
    response = client.post(
        f"{API}/contexts/",
        json={"user_reference": "user-1", "traits": {"name": "Somebody else"}},
        headers=org.headers,
    )
    assert assert_envelope(response, 409) is None
    fetched = client.get(f"{API}/contexts/user-1", headers=org.headers)
    assert assert_envelope(fetched, 200) == original
    assert len(assert_envelope(client.get(f"{API}/contexts/", headers=org.headers), 200)) == 1


def test_context_needs_a_user_reference(client, org):
    response = client.post(f"{API}/contexts/", json={"traits": {}}, headers=org.headers)
    assert_invalid_field(response, "user_reference")


# --- conversations and contexts ----------------------------------------------------------


@pytest.mark.parametrize("by", ["id", "user_reference"])
def test_conversation_user_context_by_id_or_reference(client, org, assistant, by):
    context = create(client, org, "contexts", "", 1)
    conversation = assert_envelope(
        client.post(
            f"{API}/conversations/",
            json={
                "assistant_id": assistant["id"],
                "customer_id": "user-1",
                "user_context_id": context[by],
            },
            headers=org.headers,
        ),
        201,
    )
    # Whatever was sent, the conversation answers with the context's id.
    assert conversation["user_context_id"] == context["id"]
    item = f"{API}/conversations/{conversation['id']}"
    assert (
        assert_envelope(client.get(item, headers=org.headers), 200)["user_context_id"]
        == (context["id"])
    )

    detached = client.patch(item, json={"user_context_id": None}, headers=org.headers)
    assert assert_envelope(detached, 200)["user_context_id"] is None
    attached = client.patch(item, json={"user_context_id": context[by]}, headers=org.headers)
    assert assert_envelope(attached, 200)["user_context_id"] == context["id"]


def test_conversation_with_unknown_user_context_is_422(client, org, assistant):
    create(client, org, "contexts", "", 1)
    for unknown in ("user-404", str(uuid.uuid4())):
        response = client.post(
            f"{API}/conversations/",
            json={"assistant_id": assistant["id"], "customer_id": "c", "user_context_id": unknown},
            headers=org.headers,
        )
        assert_invalid_field(response, "user_context_id")
    assert assert_envelope(client.get(f"{API}/conversations/", headers=org.headers), 200) == []

    conversation = create(client, org, "conversations", assistant["id"])
    item = f"{API}/conversations/{conversation['id']}"
    patch = client.patch(item, json={"user_context_id": "user-404"}, headers=org.headers)
    assert_invalid_field(patch, "user_context_id")
    assert assert_envelope(client.get(item, headers=org.headers), 200) == conversation


@pytest.mark.parametrize("resource", ["widget-configs", "sessions", "conversations"])
def test_unknown_assistant_is_422(client, org, resource):
    spec = RESOURCES[resource]
    response = client.post(
        spec.path + "/", json=spec.create(str(uuid.uuid4()), 1), headers=org.headers
    )
    assert_invalid_field(response, "assistant_id")
    assert assert_envelope(client.get(spec.path + "/", headers=org.headers), 200) == []


def test_widget_config_moved_to_unknown_assistant_is_422(client, org, assistant):
    config = create(client, org, "widget-configs", assistant["id"])
    item = f"{API}/widget-configs/{config['id']}"
    response = client.patch(item, json={"assistant_id": str(uuid.uuid4())}, headers=org.headers)
    assert_invalid_field(response, "assistant_id")
    assert assert_envelope(client.get(item, headers=org.headers), 200) == config

    other = make_assistant(client, org, "Other")
    moved = client.patch(item, json={"assistant_id": other}, headers=org.headers)
    assert assert_envelope(moved, 200)["assistant_id"] == other


# --- messages, filters ------------------------------------------------------------------------


@pytest.mark.parametrize("resource", ["sessions", "conversations"])
def test_new_chat_has_an_empty_history(client, org, assistant, resource):
    chat = create(client, org, resource, assistant["id"])
    for slash in ("", "/"):
        response = client.get(
            f"{RESOURCES[resource].path}/{chat['id']}/messages{slash}", headers=org.headers
        )
        assert assert_envelope(response, 200) == []
        assert pagination(response)["total"] == 0
    missing = f"{RESOURCES[resource].path}/{uuid.uuid4()}/messages"
    assert_not_found(client.get(missing, headers=org.headers))


def ids_of(client, org, url: str) -> set[str]:
    response = client.get(url, headers=org.headers)
    rows = assert_envelope(response, 200)
    assert pagination(response)["total"] == len(rows)
    return {row["id"] for row in rows}


def test_session_list_filters(client, org):
    first, second = make_assistant(client, org, "One"), make_assistant(client, org, "Two")

    def session(assistant_id: str, visitor_id: str) -> str:
        body = {"assistant_id": assistant_id, "visitor_id": visitor_id}
        return assert_envelope(
            client.post(f"{API}/sessions/", json=body, headers=org.headers), 201
        )["id"]

    a = session(first, "visitor-1")
    b = session(first, "visitor-2")
    c = session(second, "visitor-1")
    url = f"{API}/sessions/"
    assert ids_of(client, org, url) == {a, b, c}
    assert ids_of(client, org, f"{url}?assistant_id={first}") == {a, b}
    assert ids_of(client, org, f"{url}?visitor_id=visitor-1") == {a, c}
    assert ids_of(client, org, f"{url}?assistant_id={first}&visitor_id=visitor-1") == {a}
    assert ids_of(client, org, f"{url}?visitor_id=nobody") == set()
    bad = client.get(f"{url}?assistant_id=not-a-uuid", headers=org.headers)
    assert set(assert_envelope(bad, 422)["query"]) == {"assistant_id"}


def test_conversation_list_filters(client, org):
    first, second = make_assistant(client, org, "One"), make_assistant(client, org, "Two")

    def conversation(assistant_id: str, customer_id: str) -> str:
        body = {"assistant_id": assistant_id, "customer_id": customer_id}
        return assert_envelope(
            client.post(f"{API}/conversations/", json=body, headers=org.headers), 201
        )["id"]

    a = conversation(first, "user-1")
    b = conversation(first, "user-2")
    c = conversation(second, "user-1")
    url = f"{API}/conversations"
    assert ids_of(client, org, url) == {a, b, c}
    assert ids_of(client, org, f"{url}?assistant_id={second}") == {c}
    assert ids_of(client, org, f"{url}?customer_id=user-1") == {a, c}
    assert ids_of(client, org, f"{url}?assistant_id={first}&customer_id=user-2") == {b}
    assert ids_of(client, org, f"{url}?customer_id=user-3") == set()


# --- deleting what others refer to -------------------------------------------------------------


def test_deleting_an_assistant_removes_its_configs_sessions_and_conversations(client, org):
    doomed, kept = make_assistant(client, org, "Doomed"), make_assistant(client, org, "Kept")
    rows = {
        resource: {owner: create(client, org, resource, owner)["id"] for owner in (doomed, kept)}
        for resource in ("widget-configs", "sessions", "conversations")
    }

    deleted = client.delete(f"{API}/assistants/{doomed}", headers=org.headers)
    assert assert_envelope(deleted, 200) is None

    for resource, by_owner in rows.items():
        path = RESOURCES[resource].path
        assert_not_found(client.get(f"{path}/{by_owner[doomed]}", headers=org.headers))
        kept_row = client.get(f"{path}/{by_owner[kept]}", headers=org.headers)
        assert assert_envelope(kept_row, 200)["assistant_id"] == kept
        assert ids_of(client, org, path) == {by_owner[kept]}
    assert_not_found(
        client.get(f"{API}/sessions/{rows['sessions'][doomed]}/messages", headers=org.headers)
    )


def test_deleting_a_context_keeps_its_conversation(client, org, assistant):
    context = create(client, org, "contexts", "", 1)
    conversation = assert_envelope(
        client.post(
            f"{API}/conversations/",
            json={
                "assistant_id": assistant["id"],
                "customer_id": "user-1",
                "user_context_id": "user-1",
            },
            headers=org.headers,
        ),
        201,
    )
    assert conversation["user_context_id"] == context["id"]

    deleted = client.delete(f"{API}/contexts/{context['id']}", headers=org.headers)
    assert assert_envelope(deleted, 200) is None

    after = assert_envelope(
        client.get(f"{API}/conversations/{conversation['id']}", headers=org.headers), 200
    )
    assert after["user_context_id"] is None
    assert {k: v for k, v in after.items() if k not in ("user_context_id", "updated_at")} == {
        k: v for k, v in conversation.items() if k not in ("user_context_id", "updated_at")
    }
