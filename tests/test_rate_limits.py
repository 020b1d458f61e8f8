"""Rate limits: one budget per organization across both auth methods, tokens per client IP.

The limits are lowered here (5 requests per organization, 3 widget tokens per IP, per
minute) so that running out takes a handful of requests.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import assert_envelope, bearer, widget_token
from engines import embedded_only

from companin import create_app

ORG_LIMIT = 5
TOKEN_LIMIT = 3
WINDOW_SECONDS = 60


@pytest.fixture
def app_config(tmp_path):
    return {
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "TESTING": True,
        "RATE_LIMIT": f"{ORG_LIMIT}/minute",
        "WIDGET_TOKEN_RATE_LIMIT": f"{TOKEN_LIMIT}/minute",
    }


def remaining(response) -> int:
    return int(response.headers["X-RateLimit-Remaining"])


def assert_counted(response, status_code: int, limit: int, left: int) -> None:
    """A response under a limit: its headers tell the limit and what is left of it."""
    assert_envelope(response, status_code)
    assert int(response.headers["X-RateLimit-Limit"]) == limit
    assert remaining(response) == left
    assert int(response.headers["X-RateLimit-Reset"]) > 0
    # Retry-After means "come back later": nonsense on a request that went through.
    assert "Retry-After" not in response.headers


def assert_limited(response, limit: int) -> None:
    """The 429 a client backs off on: envelope, Retry-After and the limit headers."""
    assert assert_envelope(response, 429) is None
    retry_after = response.headers["Retry-After"]
    assert retry_after.isdigit() and 0 < int(retry_after) <= WINDOW_SECONDS
    assert int(response.headers["X-RateLimit-Limit"]) == limit
    assert remaining(response) == 0
    assert int(response.headers["X-RateLimit-Reset"]) > 0


def list_assistants(client, org):
    return client.get("/api/v1/assistants/", headers=org.headers)


def issue(client, org, ip: str):
    return client.post(
        "/api/v1/auth/widget-token",
        json={"client_id": org.client_id},
        environ_base={"REMOTE_ADDR": ip},
    )


def test_the_request_after_the_limit_gets_429(client, org):
    for left in range(ORG_LIMIT - 1, -1, -1):
        assert_counted(list_assistants(client, org), 200, ORG_LIMIT, left)
    assert_limited(list_assistants(client, org), ORG_LIMIT)
    # Every route of the organization shares the budget, writes included.
    limited = client.post("/api/v1/assistants/", json={"name": "Late"}, headers=org.headers)
    assert_limited(limited, ORG_LIMIT)


def test_server_key_and_widget_token_share_one_budget(client, org):
    # The token is issued first: whether issuance itself costs the organization a request is
    # not what this test is about, so every count below is relative to the first request.
    token = widget_token(client, org)
    created = client.post("/api/v1/assistants/", json={"name": "Helper"}, headers=org.headers)
    left = remaining(created)
    assert_counted(created, 201, ORG_LIMIT, left)
    assert left >= 3
    assistant_id = created.get_json()["data"]["id"]
    opened = client.post(
        "/api/v1/sessions/", json={"assistant_id": assistant_id}, headers=bearer(token)
    )
    left -= 1
    assert_counted(opened, 201, ORG_LIMIT, left)
    session = f"/api/v1/sessions/{opened.get_json()['data']['id']}"

    # Alternate the two methods: each request of either takes one from the same budget.
    calls = [
        lambda: list_assistants(client, org),
        lambda: client.get(session, headers=bearer(token)),
    ]
    step = 0
    while left > 0:
        left -= 1
        assert_counted(calls[step % 2](), 200, ORG_LIMIT, left)
        step += 1

    # Out of budget: the widget is refused as well as the server, whichever spent it.
    assert_limited(client.get(f"{session}/messages", headers=bearer(token)), ORG_LIMIT)
    assert_limited(list_assistants(client, org), ORG_LIMIT)


def test_another_organization_keeps_its_own_budget(client, org, other_org):
    token = widget_token(client, other_org)
    for _ in range(ORG_LIMIT):
        assert list_assistants(client, org).status_code == 200
    assert_limited(list_assistants(client, org), ORG_LIMIT)

    listed = list_assistants(client, other_org)
    assert_envelope(listed, 200)
    assert remaining(listed) >= ORG_LIMIT - 2
    # A widget call of the other organization is counted against its own budget only.
    missing = "/api/v1/sessions/00000000-0000-4000-8000-000000000000/messages"
    widget_call = client.get(missing, headers=bearer(token))
    assert_envelope(widget_call, 404)
    assert remaining(widget_call) == remaining(listed) - 1
    assert_limited(list_assistants(client, org), ORG_LIMIT)


def test_widget_tokens_are_limited_per_client_ip(client, org, other_org):
    for left in range(TOKEN_LIMIT - 1, -1, -1):
        assert_counted(issue(client, org, "203.0.113.1"), 200, TOKEN_LIMIT, left)
    limited = issue(client, org, "203.0.113.1")
    assert_limited(limited, TOKEN_LIMIT)
    assert "token" not in limited.get_json()

    # The budget is the IP's, whichever organization it asks for...
    assert_limited(issue(client, other_org, "203.0.113.1"), TOKEN_LIMIT)
    # ...and another IP has its own.
    assert_counted(issue(client, org, "203.0.113.2"), 200, TOKEN_LIMIT, TOKEN_LIMIT - 1)


def test_failed_logins_do_not_spend_the_organizations_budget(client, org):
    # The client id is public (it is in every page with the widget): knowing it alone must
    # not let anyone lock the organization out by sending wrong secrets.
    wrong = {"X-API-Key": org.client_id, "X-API-Secret": "cms_wrong"}
    for _ in range(ORG_LIMIT * 2):
        assert_envelope(client.get("/api/v1/assistants/", headers=wrong), 401)
    assert_counted(list_assistants(client, org), 200, ORG_LIMIT, ORG_LIMIT - 1)


def test_healthz_is_not_limited(client, org):
    for headers in ({}, org.headers):
        for _ in range(ORG_LIMIT * 2):
            response = client.get("/healthz", headers=headers)
            assert response.status_code == 200
            assert "Retry-After" not in response.headers
    # Health checks sent with a key (a load balancer's, say) cost the organization nothing.
    assert_counted(list_assistants(client, org), 200, ORG_LIMIT, ORG_LIMIT - 1)


@embedded_only("the default it checks is what the scaled pass replaces with its Redis")
def test_storage_defaults_to_memory(tmp_path):
    app = create_app({"INSTANCE_PATH": str(tmp_path / "instance"), "TESTING": True})
    assert app.config["RATELIMIT_STORAGE_URI"] == "memory://"


def test_an_invalid_storage_uri_fails_create_app(app_config):
    # Silently falling back to per-process memory would multiply the limit by the workers.
    with pytest.raises(Exception, match="bogus"):
        create_app({**app_config, "RATELIMIT_STORAGE_URI": "bogus://nowhere"})


def test_an_invalid_storage_uri_in_the_environment_stops_the_command(tmp_path):
    env = {
        **os.environ,
        "COMPANIN_INSTANCE_PATH": str(tmp_path / "instance"),
        "COMPANIN_RATELIMIT_STORAGE_URI": "bogus://nowhere",
    }
    result = subprocess.run(
        [sys.executable, "-m", "companin", "init"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "bogus" in result.stderr
    assert "Instance ready" not in result.stdout


def test_a_browser_can_read_a_429(client, org):
    # The widget must see Retry-After to back off, so a 429 needs CORS headers like any answer.
    origin = "https://shop.example.com"

    def request_token():
        return client.post(
            "/api/v1/auth/widget-token",
            json={"client_id": org.client_id},
            headers={"Origin": origin},
        )

    for _ in range(TOKEN_LIMIT):
        assert request_token().status_code == 200
    limited = request_token()
    assert_limited(limited, TOKEN_LIMIT)
    assert limited.headers.get("Access-Control-Allow-Origin") == origin
    exposed = {
        name.strip().lower()
        for name in limited.headers.get("Access-Control-Expose-Headers", "").split(",")
    }
    assert {"retry-after", "x-ratelimit-limit", "x-ratelimit-remaining"} <= exposed
