"""One organization never reaches, sees or changes another's rows.

The routes are read from the app's url_map: every rule under /api/v1 that takes an id (or a
context's user_reference) is called with organization A's keys while authenticated as
organization B, with B's server key and with a widget token of B. New routes are then
probed without editing this file; a route of a resource this file cannot yet build a row
for fails loudly instead of being skipped.

What is expected, per API.md:
- B's server key gets 404 on every GET, PATCH, DELETE (and POST) of an id of A: the same
  answer as for an id that never existed, so nothing about A leaks. `PUT /contexts/<ref>`
  upserts, so there it must do exactly what it does for a key that does not exist.
- B's widget token gets the same answer as for a non-existent id too: 404 where a widget
  token may act on its own organization's rows, and the route's 403 ("a widget token may
  only ...; anything else is 403") elsewhere, whatever the id.
- Afterwards, A's rows read back (with A's key) exactly as before.
- Lists and list filters never show another organization's rows, and a body naming A's
  assistant or context from B is refused (422) without storing anything.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from conftest import assert_envelope, bearer, widget_token


@pytest.fixture
def app_config(app_config):
    # The worlds hold a web page source on loopback (refused by default, as it should be).
    return {**app_config, "INGEST_ALLOW_PRIVATE_URLS": True}


API = "/api/v1"
ARGUMENT = re.compile(r"<(?:(?P<converter>\w+)(?:\([^)]*\))?:)?(?P<name>\w+)>")
# Converters that carry a row's key (uuid ids; strings for contexts' user_reference).
KEY_CONVERTERS = {"uuid", "string", "default"}
PROBED_METHODS = ("GET", "POST", "PATCH", "DELETE", "PUT")
# PUT upserts: probed last, once every other request has seen the state it had before.
METHOD_ORDER = {method: rank for rank, method in enumerate(PROBED_METHODS)}
NOT_COLLECTIONS = {f"{API}/openapi.json", f"{API}/docs"}

# The body each write sends, by the route's last literal segment: valid, so that a refusal
# comes from the lookup and not from validation.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("assistants", "PATCH"): {"name": "Taken over", "is_active": False},
    ("widget-configs", "PATCH"): {"greeting": "Taken over", "allowed_origins": []},
    ("sessions", "PATCH"): {"visitor_id": "taken-over", "metadata": {"x": 1}},
    ("conversations", "PATCH"): {"title": "Taken over", "user_context_id": None},
    ("contexts", "PATCH"): {"traits": {"email": None, "taken_over": True}},
    ("contexts", "PUT"): {"traits": {"taken_over": True}},
    ("messages", "POST"): {"content": "Whose session is this?", "metadata": {}},
    ("qa", "PATCH"): {"answer": "Taken over", "tags": ["x"]},
    ("sources", "PATCH"): {"title": "Taken over", "assistant_ids": []},
    ("refresh", "POST"): {},
    ("feedback", "POST"): {"rating": "down", "comment": "Taken over"},
}

# The id routes this release has; the derived list must hold at least these.
EXPECTED_ID_ROUTES = {
    ("/assistants/<>", "GET"),
    ("/assistants/<>", "PATCH"),
    ("/assistants/<>", "DELETE"),
    ("/widget-configs/<>", "GET"),
    ("/widget-configs/<>", "PATCH"),
    ("/widget-configs/<>", "DELETE"),
    ("/sessions/<>", "GET"),
    ("/sessions/<>", "PATCH"),
    ("/sessions/<>", "DELETE"),
    ("/sessions/<>/messages", "GET"),
    ("/sessions/<>/messages", "POST"),
    ("/conversations/<>", "GET"),
    ("/conversations/<>", "PATCH"),
    ("/conversations/<>", "DELETE"),
    ("/conversations/<>/messages", "GET"),
    ("/conversations/<>/messages", "POST"),
    ("/messages/<>/feedback", "POST"),
    ("/contexts/<>", "GET"),
    ("/contexts/<>", "PATCH"),
    ("/contexts/<>", "PUT"),
    ("/contexts/<>", "DELETE"),
    ("/knowledge/qa/<>", "GET"),
    ("/knowledge/qa/<>", "PATCH"),
    ("/knowledge/qa/<>", "DELETE"),
    ("/knowledge/urls/<>/refresh", "POST"),
    ("/knowledge/sources/<>", "GET"),
    ("/knowledge/sources/<>", "PATCH"),
    ("/knowledge/sources/<>", "DELETE"),
}
EXPECTED_COLLECTIONS = {
    "/assistants/",
    "/widget-configs/",
    "/sessions/",
    "/conversations/",
    "/contexts/",
    "/knowledge/files/",
    "/knowledge/qa/",
    "/knowledge/urls/",
    "/knowledge/sources/",
}
# Where API.md lets a widget token act on its own organization's rows.
WIDGET_ID_ROUTES = {
    ("/sessions/<>", "GET"),
    ("/sessions/<>/messages", "GET"),
    ("/sessions/<>/messages", "POST"),
    ("/messages/<>/feedback", "POST"),
    ("/widget-configs/<>", "GET"),
}


# --- the routes, from the url_map -------------------------------------------------------------


@dataclass(frozen=True)
class IdRoute:
    rule: str
    method: str

    @property
    def shape(self) -> str:
        """The rule without /api/v1 and with its arguments blanked: `/sessions/<>/messages`."""
        return ARGUMENT.sub("<>", self.rule.removeprefix(API))

    @property
    def resources(self) -> list[str]:
        """For each argument, the collection it is a key of (the literal segment before it)."""
        segments = self.rule.strip("/").split("/")
        return [segments[i - 1] for i, part in enumerate(segments) if ARGUMENT.fullmatch(part)]

    @property
    def body(self) -> dict[str, Any] | None:
        if self.method in ("GET", "DELETE"):
            return None
        last = [s for s in self.rule.split("/") if s and not ARGUMENT.fullmatch(s)][-1]
        if (last, self.method) not in BODIES:
            pytest.fail(f"{self.method} {self.rule}: add a valid body for it to BODIES")
        return BODIES[(last, self.method)]

    def url(self, keys: list[str]) -> str:
        values = iter(keys)
        return ARGUMENT.sub(lambda _match: next(values), self.rule)


def id_routes(app) -> list[IdRoute]:
    """Every (rule, method) under /api/v1 that takes the key of a row, PUT last."""
    routes = []
    for rule in app.url_map.iter_rules():
        arguments = list(ARGUMENT.finditer(rule.rule))
        if not rule.rule.startswith(API + "/") or not arguments:
            continue
        if any((m["converter"] or "default") not in KEY_CONVERTERS for m in arguments):
            continue  # e.g. the docs' <path:filename>: a file, not a row
        routes += [IdRoute(rule.rule, m) for m in PROBED_METHODS if m in rule.methods]
    return sorted(routes, key=lambda route: (METHOD_ORDER[route.method], route.rule))


def collection_routes(app) -> list[str]:
    """Every list under /api/v1: GET rules without arguments, the docs aside."""
    return sorted(
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(API + "/")
        and not rule.arguments
        and "GET" in rule.methods
        and rule.rule not in NOT_COLLECTIONS
    )


# --- the rows of an organization ---------------------------------------------------------------


@dataclass
class World:
    """One organization's rows, and the keys each kind of route can name them by."""

    headers: dict[str, str]
    token: str
    rows: dict[str, dict[str, Any]]

    def keys(self, resource: str) -> list[tuple[str, str]]:
        """(label, key) pairs: the id, and for contexts the user_reference as well."""
        if resource not in self.rows:
            pytest.fail(f"no row of {resource!r} to probe with: build one in build_world()")
        row = self.rows[resource]
        keys = [("id", row["id"])]
        if resource == "contexts":
            keys.append(("user_reference", row["user_reference"]))
        return keys


def build_world(client, org, name: str, token: str | None = None) -> World:
    """An assistant with a widget config, a widget session, a context and a conversation."""
    headers = org.headers
    token = token or widget_token(client, org)

    def post(path: str, body: dict[str, Any], auth: dict[str, str] = headers) -> dict:
        return assert_envelope(client.post(f"{API}{path}", json=body, headers=auth), 201)

    assistant = post("/assistants/", {"name": f"{name} assistant", "instructions": name})
    config = post("/widget-configs/", {"assistant_id": assistant["id"], "greeting": name})
    # Opened with the widget token, so that the token's own visitor may read it back.
    session = post(
        "/sessions/",
        {"assistant_id": assistant["id"], "visitor_id": f"{name}-visitor", "metadata": {}},
        bearer(token),
    )
    context = post(
        "/contexts/",
        {"user_reference": f"{name}-user", "traits": {"email": f"{name}@example.com"}},
    )
    conversation = post(
        "/conversations/",
        {
            "assistant_id": assistant["id"],
            "customer_id": f"{name}-user",
            "user_context_id": context["id"],
            "title": name,
        },
    )
    qa = post("/knowledge/qa/", {"question": f"Who is {name}?", "answer": f"{name} is us."})
    reply = post(f"/sessions/{session['id']}/messages", {"content": f"Who is {name}?"})[
        "assistant_message"
    ]
    # Nothing listens on port 9: the page fails to fetch, quickly, and the source is settled
    # before the probes run (a refresh of a source still processing would be a 409).
    url = post("/knowledge/urls/", {"url": "http://127.0.0.1:9/", "title": name})
    settle(client, headers, url["id"])
    rows = {
        "qa": qa,
        "urls": url,
        "sources": qa,
        "assistants": assistant,
        "widget-configs": config,
        "sessions": session,
        "contexts": context,
        "conversations": conversation,
        "messages": reply,
    }
    return World(headers=headers, token=token, rows=rows)


def settle(client, headers: dict[str, str], source_id: str) -> None:
    """Wait until a source has left `processing`."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        source = assert_envelope(
            client.get(f"{API}/knowledge/sources/{source_id}", headers=headers), 200
        )
        if source["status"] != "processing":
            return
        time.sleep(0.05)
    pytest.fail(f"source {source_id} still processing")


def fresh_name() -> str:
    """A name no other world of the organization uses (user_reference is unique)."""
    return "own-" + uuid.uuid4().hex[:8]


def variants(route: IdRoute, world: World) -> list[tuple[str, str]]:
    """The route's URLs naming the world's rows: (label, url), one per kind of key."""
    per_argument = [world.keys(resource) for resource in route.resources]
    if len(per_argument) == 1:
        return [(label, route.url([key])) for label, key in per_argument[0]]
    # Several arguments (a row inside a row): name each by its id.
    return [("id", route.url([keys[0][1] for keys in per_argument]))]


def random_url(route: IdRoute, label: str) -> str:
    """The same route naming a row that never existed, by the same kind of key."""
    key = str(uuid.uuid4()) if label == "id" else f"nobody-{uuid.uuid4().hex[:8]}"
    return route.url([key] * len(route.resources))


def call(client, route: IdRoute, url: str, headers: dict[str, str]):
    return client.open(url, method=route.method, json=route.body, headers=headers)


def snapshot(client, app, world: World) -> dict[str, Any]:
    """Everything the organization can read of its own rows, by URL."""
    seen: dict[str, Any] = {}
    for route in id_routes(app):
        if route.method == "GET":
            for _label, url in variants(route, world):
                seen[url] = assert_envelope(client.get(url, headers=world.headers), 200)
    for path in collection_routes(app):
        seen[path] = assert_envelope(client.get(path, headers=world.headers), 200)
    return seen


# --- the probes ----------------------------------------------------------------------------------


def test_the_derived_route_lists_hold_every_resource(app):
    derived = {(route.shape, route.method) for route in id_routes(app)}
    assert derived, "no id route found in the url_map"
    assert EXPECTED_ID_ROUTES <= derived, EXPECTED_ID_ROUTES - derived
    collections = {path.removeprefix(API) for path in collection_routes(app)}
    assert EXPECTED_COLLECTIONS <= collections, EXPECTED_COLLECTIONS - collections


def test_every_probe_works_for_the_owner(client, org):
    """The requests the probes send are valid: with A's own key each one succeeds.

    So B's 404s below come from the isolation, not from a malformed request. Each request
    gets a fresh set of rows, because some of them delete or replace what they name.
    """
    app = client.application
    token = widget_token(client, org)
    for route in id_routes(app):
        world = build_world(client, org, fresh_name(), token)
        for index, (label, url) in enumerate(variants(route, world)):
            if index:
                world = build_world(client, org, fresh_name(), token)
                url = variants(route, world)[index][1]
            response = call(client, route, url, org.headers)
            assert 200 <= response.status_code < 300, (route, label, response.get_json())


def probe_as(client, app, world_a: World, headers: dict[str, str]) -> list[tuple]:
    """Call every id route with A's keys and with unknown keys, as the caller of `headers`."""
    results = []
    for route in id_routes(app):
        for label, url in variants(route, world_a):
            foreign = call(client, route, url, headers)
            unknown = call(client, route, random_url(route, label), headers)
            results.append((route, label, url, foreign, unknown))
    return results


def test_other_organization_server_key_gets_404(client, org, other_org):
    app = client.application
    world_a = build_world(client, org, "a")
    build_world(client, other_org, "b")
    before = snapshot(client, app, world_a)

    failures = []
    for route, label, url, foreign, unknown in probe_as(client, app, world_a, other_org.headers):
        where = f"{route.method} {url} ({label} of A)"
        body = foreign.get_json()
        assert set(body) == {"status", "status_code", "detail", "data"}, where
        # The answer must not tell A's row from a row that never existed.
        if (foreign.status_code, body["detail"]) != (
            unknown.status_code,
            unknown.get_json()["detail"],
        ):
            failures.append(f"{where}: {foreign.status_code} {body} vs unknown {unknown.json}")
        elif route.method == "PUT":
            # An upsert by user_reference: B gets a context of its own, never A's.
            if not 200 <= foreign.status_code < 300:
                failures.append(f"{where}: {foreign.status_code} {body}")
            elif body["data"]["id"] == world_a.rows["contexts"]["id"]:
                failures.append(f"{where}: answered with A's context {body}")
        elif foreign.status_code != 404 or body["data"] is not None:
            failures.append(f"{where}: expected 404, got {foreign.status_code} {body}")
    assert not failures, "\n".join(failures)

    assert snapshot(client, app, world_a) == before


def test_other_organization_widget_token_gets_what_an_unknown_id_gets(client, org, other_org):
    app = client.application
    world_a = build_world(client, org, "a")
    world_b = build_world(client, other_org, "b")
    before = snapshot(client, app, world_a)

    failures = []
    refused_with_404 = set()
    for route, label, url, foreign, unknown in probe_as(
        client, app, world_a, bearer(world_b.token)
    ):
        where = f"{route.method} {url} ({label} of A)"
        body = foreign.get_json()
        assert set(body) == {"status", "status_code", "detail", "data"}, where
        if (foreign.status_code, body["detail"]) != (
            unknown.status_code,
            unknown.get_json()["detail"],
        ):
            failures.append(f"{where}: {foreign.status_code} {body} vs unknown {unknown.json}")
        elif foreign.status_code not in (403, 404) or body["data"] is not None:
            failures.append(f"{where}: expected 403 or 404, got {foreign.status_code} {body}")
        elif foreign.status_code == 404:
            refused_with_404.add((route.shape, route.method))
    assert not failures, "\n".join(failures)
    assert snapshot(client, app, world_a) == before

    # 404 exactly where a widget token reaches its own organization's rows: there the 404
    # is the isolation; elsewhere the 403 is the route's rule for every id alike.
    reachable = set()
    for route in id_routes(app):
        world = build_world(client, org, fresh_name(), world_a.token)
        for _label, url in variants(route, world):
            if 200 <= call(client, route, url, bearer(world.token)).status_code < 300:
                reachable.add((route.shape, route.method))
    assert WIDGET_ID_ROUTES <= reachable
    assert refused_with_404 == reachable


def ids_listed(client, path: str, headers: dict[str, str]) -> set[str]:
    response = client.get(path, headers=headers)
    rows = assert_envelope(response, 200)
    return {row["id"] for row in rows}


def test_lists_show_only_the_callers_rows(client, org, other_org):
    app = client.application
    world_a = build_world(client, org, "a")
    world_b = build_world(client, other_org, "b")
    ids_a = {row["id"] for row in world_a.rows.values()}
    ids_b = {row["id"] for row in world_b.rows.values()}

    for path in collection_routes(app):
        listed_a = ids_listed(client, path, org.headers)
        listed_b = ids_listed(client, path, other_org.headers)
        assert not listed_a & ids_b, path
        assert not listed_b & ids_a, path
        resource = path.removeprefix(API).strip("/")
        if resource in world_a.rows:
            assert listed_a == {world_a.rows[resource]["id"]}, path
            assert listed_b == {world_b.rows[resource]["id"]}, path

    # Filters naming A's assistant, visitor or customer find nothing for B.
    assistant_a = world_a.rows["assistants"]["id"]
    for query in (
        f"/sessions/?assistant_id={assistant_a}",
        "/sessions/?visitor_id=a-visitor",
        f"/conversations/?assistant_id={assistant_a}",
        "/conversations/?customer_id=a-user",
    ):
        response = client.get(API + query, headers=other_org.headers)
        assert assert_envelope(response, 200) == [], query
        assert json.loads(response.headers["X-Pagination"])["total"] == 0, query
        assert assert_envelope(client.get(API + query, headers=org.headers), 200), query


def test_bodies_naming_the_other_organizations_rows_are_refused(client, org, other_org):
    app = client.application
    world_a = build_world(client, org, "a")
    world_b = build_world(client, other_org, "b")
    assistant_a = world_a.rows["assistants"]["id"]
    context_a = world_a.rows["contexts"]
    assistant_b = world_b.rows["assistants"]["id"]
    before_a = snapshot(client, app, world_a)
    before_b = snapshot(client, app, world_b)
    server_b, widget_b = other_org.headers, bearer(world_b.token)

    refusals = [
        ("POST", "/widget-configs/", server_b, {"assistant_id": assistant_a}, "assistant_id"),
        ("POST", "/sessions/", server_b, {"assistant_id": assistant_a}, "assistant_id"),
        ("POST", "/sessions", widget_b, {"assistant_id": assistant_a}, "assistant_id"),
        (
            "POST",
            "/conversations/",
            server_b,
            {"assistant_id": assistant_a, "customer_id": "a-user"},
            "assistant_id",
        ),
        (
            "PATCH",
            f"/widget-configs/{world_b.rows['widget-configs']['id']}",
            server_b,
            {"assistant_id": assistant_a},
            "assistant_id",
        ),
        (
            "POST",
            "/auth/widget-token",
            {},
            {"client_id": other_org.client_id, "assistant_id": assistant_a},
            "assistant_id",
        ),
        (
            "POST",
            "/auth/widget-token",
            {},
            {"client_id": other_org.client_id, "config_id": world_a.rows["widget-configs"]["id"]},
            "config_id",
        ),
    ]
    for key in (context_a["id"], context_a["user_reference"]):
        body = {"assistant_id": assistant_b, "customer_id": "b-user", "user_context_id": key}
        refusals.append(("POST", "/conversations/", server_b, body, "user_context_id"))
        patch = {"user_context_id": key}
        conversation_b = f"/conversations/{world_b.rows['conversations']['id']}"
        refusals.append(("PATCH", conversation_b, server_b, patch, "user_context_id"))

    for method, path, headers, body, field in refusals:
        response = client.open(API + path, method=method, json=body, headers=headers)
        data = assert_envelope(response, 422)
        assert set(data["json"]) == {field}, (method, path, data)

    assert snapshot(client, app, world_a) == before_a
    assert snapshot(client, app, world_b) == before_b


def test_the_same_user_reference_in_two_organizations_stays_apart(client, org, other_org):
    """Both organizations know a `user-456`: each one's calls reach its own context only."""
    contexts = {}
    for owner, email in ((org, "a@example.com"), (other_org, "b@example.com")):
        contexts[owner.client_id] = assert_envelope(
            client.post(
                f"{API}/contexts/",
                json={"user_reference": "user-456", "traits": {"email": email}},
                headers=owner.headers,
            ),
            201,
        )
    mine, theirs = contexts[other_org.client_id], contexts[org.client_id]
    assistant_b = assert_envelope(
        client.post(f"{API}/assistants/", json={"name": "B"}, headers=other_org.headers), 201
    )

    conversation = client.post(
        f"{API}/conversations/",
        json={"assistant_id": assistant_b["id"], "customer_id": "x", "user_context_id": "user-456"},
        headers=other_org.headers,
    )
    assert assert_envelope(conversation, 201)["user_context_id"] == mine["id"]

    url = f"{API}/contexts/user-456"
    assert assert_envelope(client.get(url, headers=other_org.headers), 200) == mine
    patch = {"traits": {"plan": "pro"}}
    patched = assert_envelope(client.patch(url, json=patch, headers=other_org.headers), 200)
    assert patched["id"] == mine["id"]
    assert patched["traits"] == {"email": "b@example.com", "plan": "pro"}
    put = assert_envelope(client.put(url, json=patch, headers=other_org.headers), 200)
    assert put["id"] == mine["id"]
    assert assert_envelope(client.delete(url, headers=other_org.headers), 200) is None

    assert assert_envelope(client.get(url, headers=org.headers), 200) == theirs
