"""Rate limits counted in Redis (COMPANIN_RATELIMIT_STORAGE_URI=redis://...): two
`companin serve` processes on one database count one organization's requests against one
limit, whichever process answers.

These tests need a Redis server named by COMPANIN_TEST_REDIS_URL (.ci/run starts Debian's
redis-server with tools/start-redis).
"""

from __future__ import annotations

import os

import pytest
import requests
from conftest import companin_server

from companin import create_app
from companin.services.organizations import create_organization

SERVER_URL = os.environ.get("COMPANIN_TEST_REDIS_URL")
pytestmark = pytest.mark.skipif(
    not SERVER_URL, reason="needs a Redis server: set COMPANIN_TEST_REDIS_URL (.ci/run starts one)"
)
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
