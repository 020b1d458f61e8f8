"""CORS: browsers may call the widget routes from the allowed origins, never a server-key route.

A browser first sends a preflight (OPTIONS with Origin and Access-Control-Request-Method);
it only makes the real request, and only lets the page read the answer, when the response
names the page's origin in Access-Control-Allow-Origin.
"""

from __future__ import annotations

import pytest
from conftest import assert_envelope, bearer, widget_token

SHOP = "https://shop.example.com"
EVIL = "https://evil.example"

WIDGET_ROUTES = [
    ("POST", "/api/v1/auth/widget-token"),
    ("POST", "/api/v1/sessions/"),
    ("POST", "/api/v1/sessions"),
    ("GET", "/api/v1/sessions/{session}"),
    ("PATCH", "/api/v1/sessions/{session}"),
    ("GET", "/api/v1/sessions/{session}/messages"),
    ("GET", "/api/v1/widget-configs/{config}"),
]

SERVER_ROUTES = [
    ("GET", "/api/v1/assistants/"),
    ("POST", "/api/v1/assistants/"),
    ("GET", "/api/v1/conversations/"),
    ("POST", "/api/v1/conversations/"),
    ("GET", "/api/v1/sessions/"),
    ("DELETE", "/api/v1/sessions/{session}"),
    ("GET", "/api/v1/widget-configs/"),
    ("PATCH", "/api/v1/widget-configs/{config}"),
    ("GET", "/api/v1/contexts/"),
]


def preflight(client, path: str, method: str, origin: str):
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )


def cors_headers(response) -> dict[str, str]:
    return {k: v for k, v in response.headers if k.lower().startswith("access-control-")}


def listed(value: str | None) -> set[str]:
    return {part.strip().lower() for part in (value or "").split(",") if part.strip()}


def assert_preflight_allowed(response, method: str, origin: str) -> None:
    assert 200 <= response.status_code < 300, response.get_data(as_text=True)
    assert response.headers.get("Access-Control-Allow-Origin") == origin
    assert method.lower() in listed(response.headers.get("Access-Control-Allow-Methods"))
    # The widget sends an Idempotency-Key with each message, so that a retry is answered once.
    assert {"authorization", "content-type", "idempotency-key"} <= listed(
        response.headers.get("Access-Control-Allow-Headers")
    )
    # Caches must not hand one origin's answer to another.
    assert "origin" in listed(response.headers.get("Vary"))


def assert_no_cors(response) -> None:
    assert cors_headers(response) == {}, cors_headers(response)


@pytest.fixture
def ids(client, org, assistant) -> dict[str, str]:
    """Real ids for the routes' placeholders, made with the server key."""
    session = assert_envelope(
        client.post(
            "/api/v1/sessions/", json={"assistant_id": assistant["id"]}, headers=org.headers
        ),
        201,
    )
    config = assert_envelope(
        client.post(
            "/api/v1/widget-configs/", json={"assistant_id": assistant["id"]}, headers=org.headers
        ),
        201,
    )
    return {"session": session["id"], "config": config["id"], "assistant": assistant["id"]}


@pytest.fixture
def restricted(client, org, ids) -> dict[str, str]:
    """The only organization lists SHOP as its widgets' origin."""
    response = client.patch(
        f"/api/v1/widget-configs/{ids['config']}",
        json={"allowed_origins": [SHOP]},
        headers=org.headers,
    )
    assert assert_envelope(response, 200)["allowed_origins"] == [SHOP]
    return ids


@pytest.mark.parametrize(("method", "template"), WIDGET_ROUTES)
def test_preflight_to_a_widget_route_from_an_allowed_origin(client, restricted, method, template):
    response = preflight(client, template.format(**restricted), method, SHOP)
    assert_preflight_allowed(response, method, SHOP)


@pytest.mark.parametrize(("method", "template"), WIDGET_ROUTES)
def test_preflight_to_a_widget_route_from_another_origin_fails(
    client, restricted, method, template
):
    response = preflight(client, template.format(**restricted), method, EVIL)
    assert response.status_code >= 400
    assert_no_cors(response)


@pytest.mark.parametrize("origin", [SHOP, EVIL, "http://localhost:3000"])
@pytest.mark.parametrize(("method", "template"), SERVER_ROUTES)
def test_preflight_to_a_server_key_route_fails(client, ids, method, template, origin):
    # No organization restricts origins here: the route alone must refuse browsers.
    response = preflight(client, template.format(**ids), method, origin)
    assert response.status_code >= 400
    assert_no_cors(response)


@pytest.mark.parametrize("origin", [SHOP, EVIL, "http://localhost:3000"])
@pytest.mark.parametrize(("method", "template"), WIDGET_ROUTES)
def test_without_allowed_origins_any_origin_may_preflight(client, ids, method, template, origin):
    # `ids` made a widget config without allowed_origins: every origin is welcome.
    response = preflight(client, template.format(**ids), method, origin)
    assert_preflight_allowed(response, method, origin)


def test_an_organization_without_widget_configs_accepts_any_origin(client, org):
    response = preflight(client, "/api/v1/auth/widget-token", "POST", EVIL)
    assert_preflight_allowed(response, "POST", EVIL)


def assert_readable_by(response, origin: str) -> None:
    assert response.headers.get("Access-Control-Allow-Origin") == origin
    assert "origin" in listed(response.headers.get("Vary"))
    exposed = listed(response.headers.get("Access-Control-Expose-Headers"))
    assert {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"} <= exposed


def test_widget_responses_are_readable_from_the_allowed_origin(client, org, restricted):
    issued = client.post(
        "/api/v1/auth/widget-token", json={"client_id": org.client_id}, headers={"Origin": SHOP}
    )
    token = assert_envelope(issued, 200)["token"]
    assert_readable_by(issued, SHOP)
    assert issued.headers.get("X-RateLimit-Limit")

    headers = bearer(token, Origin=SHOP)
    opened = client.post(
        "/api/v1/sessions", json={"assistant_id": restricted["assistant"]}, headers=headers
    )
    session = assert_envelope(opened, 201)
    for response in (
        opened,
        client.get(f"/api/v1/sessions/{session['id']}", headers=headers),
        client.get(f"/api/v1/sessions/{session['id']}/messages", headers=headers),
        client.get(f"/api/v1/widget-configs/{restricted['config']}", headers=headers),
    ):
        assert response.status_code < 300
        assert_readable_by(response, SHOP)
        # The headers the browser is told it may read are really there.
        for name in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"):
            assert response.headers.get(name), name


def test_widget_errors_are_readable_too(client, org, ids):
    # The widget must be able to show "session expired" rather than a CORS failure.
    token = widget_token(client, org)
    missing = client.get(f"/api/v1/sessions/{ids['session']}", headers=bearer(token, Origin=SHOP))
    assert_envelope(missing, 404)
    assert_readable_by(missing, SHOP)
    unauthenticated = client.post(
        "/api/v1/sessions/", json={"assistant_id": ids["assistant"]}, headers={"Origin": SHOP}
    )
    assert_envelope(unauthenticated, 401)
    assert unauthenticated.headers.get("Access-Control-Allow-Origin") == SHOP


@pytest.mark.parametrize(
    ("method", "template", "status"),
    [
        ("GET", "/api/v1/assistants/", 200),
        ("POST", "/api/v1/conversations/", 201),
        ("GET", "/api/v1/sessions/", 200),
        ("DELETE", "/api/v1/sessions/{session}", 200),
        ("GET", "/api/v1/widget-configs/", 200),
    ],
)
@pytest.mark.parametrize("origin", [SHOP, EVIL])
def test_server_key_responses_carry_no_cors_headers(
    client, org, ids, method, template, status, origin
):
    body = {"locale": "en"}
    if method == "POST":
        body = {"assistant_id": ids["assistant"], "customer_id": "user-456"}
    response = client.open(
        template.format(**ids),
        method=method,
        json=None if method in {"GET", "DELETE"} else body,
        headers={**org.headers, "Origin": origin},
    )
    assert_envelope(response, status)
    assert_no_cors(response)
