"""Rate limits counted in Redis (COMPANIN_RATELIMIT_STORAGE_URI=redis://...): two
`companin serve` processes on one database count one organization's requests against one
limit, whichever process answers; a Redis that goes away gives a 503 that says so, and
the count goes on once it is back.

These tests need a Redis server named by COMPANIN_TEST_REDIS_URL (.ci/run starts Debian's
redis-server with tools/start-redis).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import requests
from conftest import assert_envelope, companin_server, new_org
from engines import REDIS_URL, Relay, first_pass_only, needs_redis

from companin import create_app
from companin.services.organizations import create_organization

SERVER_URL = REDIS_URL
pytestmark = [needs_redis, first_pass_only]
LIMIT = 6


def test_two_processes_count_one_limit(tmp_path):
    database = f"sqlite:///{tmp_path / 'shared.db'}"
    app = create_app({"INSTANCE_PATH": str(tmp_path / "setup"), "DATABASE_URL": database})
    with app.app_context():
        credentials = create_organization("Shared")
    headers = {"X-API-Key": credentials.client_id, "X-API-Secret": credentials.client_secret}
    env = {
        "COMPANIN_DATABASE_URL": database,
        "COMPANIN_RATELIMIT_STORAGE_URI": SERVER_URL,
        "COMPANIN_RATE_LIMIT": f"{LIMIT}/hour",
    }
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with (
        companin_server(tmp_path / "a" / "instance", tmp_path / "a", env=env) as first,
        companin_server(tmp_path / "b" / "instance", tmp_path / "b", env=env) as second,
    ):
        answers = []
        for number in range(LIMIT + 2):
            server = (first, second)[number % 2]
            answers.append(requests.get(f"{server.url}/api/v1/assistants/", headers=headers))

    allowed = answers[:LIMIT]
    assert [r.status_code for r in allowed] == [200] * LIMIT
    assert [int(r.headers["X-RateLimit-Remaining"]) for r in allowed] == list(
        range(LIMIT - 1, -1, -1)
    )
    assert [r.status_code for r in answers[LIMIT:]] == [429, 429]  # on either process
    assert 0 < int(answers[-1].headers["Retry-After"]) <= 3600


def test_a_lost_redis_gives_503_that_says_so_and_counting_resumes_when_it_is_back(tmp_path):
    parts = urlsplit(SERVER_URL)
    relay = Relay((parts.hostname, parts.port or 6379))
    app = create_app(
        {
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "TESTING": True,
            "RATELIMIT_STORAGE_URI": f"redis://127.0.0.1:{relay.port}{parts.path or '/0'}",
            "RATE_LIMIT": "100/hour",
        }
    )
    client = app.test_client()
    org = new_org(app, "Relayed")
    try:
        before = client.get("/api/v1/assistants/", headers=org.headers)
        assert_envelope(before, 200)
        assert assert_envelope(client.get("/healthz"), 200)["rate_limits"] == "ok"

        relay.cut()
        down = client.get("/api/v1/assistants/", headers=org.headers)
        assert_envelope(down, 503)
        assert "rate-limit store (Redis) cannot be reached" in down.get_json()["detail"]
        assert assert_envelope(client.get("/healthz"), 503)["rate_limits"] == "unavailable"
        sign_in = client.post("/console/sign-in", data={"email": "a@example.com"})
        assert sign_in.status_code == 503 and b"Redis" in sign_in.data

        relay.restore()
        after = client.get("/api/v1/assistants/", headers=org.headers)
        assert_envelope(after, 200)
        assert assert_envelope(client.get("/healthz"), 200)["rate_limits"] == "ok"
    finally:
        relay.cut()
    # The same count as before the outage: nothing was reset or counted twice.
    assert (
        int(after.headers["X-RateLimit-Remaining"])
        == int(before.headers["X-RateLimit-Remaining"]) - 1
    )
