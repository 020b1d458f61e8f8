"""Many clients at once against a real `companin serve`: SQLite must never say "locked".

A customer's backend and many widgets write at the same time. Every write must succeed
(no 500, no "database is locked"), and every row a client was told exists must exist.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from conftest import companin_server, run_cli

THREADS = 16
DURATION_S = 5.0
MAX_ROUNDS_PER_THREAD = 40


@pytest.fixture
def server_and_headers(tmp_path):
    instance = tmp_path / "instance"
    credentials = json.loads(run_cli(instance, "create-org", "Busy Org", "--json").stdout)
    headers = {"X-API-Key": credentials["client_id"], "X-API-Secret": credentials["client_secret"]}
    # The budget is per organization and every thread shares one: lift it out of the way.
    env = {"COMPANIN_RATE_LIMIT": "1000000/hour"}
    with companin_server(instance, tmp_path, threads=8, env=env) as server:
        yield server, headers


class Client:
    """One simulated client: its own HTTP session, and what went wrong for it.

    Failures are collected, not raised: an assertion inside a worker thread would stop that
    worker only, and hide how many other requests failed the same way.
    """

    def __init__(self, base: str, headers: dict[str, str]) -> None:
        self.base = base
        self.http = requests.Session()
        self.http.headers.update(headers)
        self.problems: list[str] = []

    def call(self, method: str, path: str, expected: int, **kwargs) -> Any:
        """The response's `data`, or None (and a problem noted) when it is not as expected."""
        response = self.http.request(method, self.base + path, timeout=30, **kwargs)
        if response.status_code != expected or "database is locked" in response.text:
            self.problems.append(
                f"{method} {path} -> {response.status_code}: {response.text[:300]}"
            )
            return None
        return response.json()["data"]

    def expect(self, condition: bool, message: str) -> None:
        if not condition:
            self.problems.append(message)


def worker(base: str, headers: dict, assistant_id: str, number: int, deadline: float):
    """Create sessions and conversations and read them back until time or rounds run out."""
    client = Client(base, headers)
    sessions, conversations = [], []
    with client.http:
        for round_ in range(MAX_ROUNDS_PER_THREAD):
            if time.monotonic() > deadline:
                break
            visitor = f"visitor-{number}-{round_}"
            body = {"assistant_id": assistant_id, "visitor_id": visitor, "locale": "en"}
            session = client.call("POST", "/api/v1/sessions/", 201, json=body)
            body = {"assistant_id": assistant_id, "customer_id": f"customer-{number}"}
            conversation = client.call("POST", "/api/v1/conversations", 201, json=body)
            if session is None or conversation is None:
                continue
            sessions.append(session["id"])
            conversations.append(conversation["id"])

            read = client.call("GET", f"/api/v1/sessions/{session['id']}", 200)
            client.expect(read == session, f"session read back as {read}, created {session}")
            read = client.call("GET", f"/api/v1/conversations/{conversation['id']}", 200)
            client.expect(read == conversation, f"conversation read back as {read}")
            params = {"visitor_id": visitor}
            listed = client.call("GET", "/api/v1/sessions/", 200, params=params) or []
            client.expect(listed == [session], f"visitor {visitor}'s sessions: {listed}")
            client.call("GET", "/api/v1/conversations/", 200, params={"page_size": 5})
    return sessions, conversations, client.problems


def all_ids(http: requests.Session, url: str) -> tuple[int, set[str]]:
    """The X-Pagination total of a list, and the ids on all its pages."""
    ids: set[str] = set()
    page, total_pages, total = 1, 1, 0
    while page <= total_pages:
        response = http.get(url, params={"page": page, "page_size": 100}, timeout=30)
        assert response.status_code == 200, response.text
        pagination = json.loads(response.headers["X-Pagination"])
        total, total_pages = pagination["total"], pagination["total_pages"]
        ids |= {row["id"] for row in response.json()["data"]}
        page += 1
    return total, ids


def test_parallel_writes_and_reads_never_fail_or_lose_rows(server_and_headers):
    server, headers = server_and_headers
    base = server.url
    created = requests.post(
        f"{base}/api/v1/assistants/", json={"name": "Busy"}, headers=headers, timeout=10
    )
    assert created.status_code == 201, created.text
    assistant_id = created.json()["data"]["id"]

    deadline = time.monotonic() + DURATION_S
    with ThreadPoolExecutor(THREADS) as pool:
        futures = [
            pool.submit(worker, base, headers, assistant_id, n, deadline) for n in range(THREADS)
        ]
        results = [future.result() for future in futures]

    problems = [item for _, _, items in results for item in items]
    assert problems == [], "\n".join(problems[:20])
    sessions = [i for ids, _, _ in results for i in ids]
    conversations = [i for _, ids, _ in results for i in ids]
    # Every thread got work done, so the writes really did overlap.
    assert all(ids for ids, _, _ in results)

    with requests.Session() as http:
        http.headers.update(headers)
        assert all_ids(http, f"{base}/api/v1/sessions/") == (len(sessions), set(sessions))
        assert all_ids(http, f"{base}/api/v1/conversations/") == (
            len(conversations),
            set(conversations),
        )

    def fetch(path: str) -> int:
        with requests.Session() as http:
            return http.get(f"{base}{path}", headers=headers, timeout=30).status_code

    paths = [f"/api/v1/sessions/{i}" for i in sessions]
    paths += [f"/api/v1/conversations/{i}" for i in conversations]
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(fetch, paths))
    assert statuses == [200] * len(paths)

    log = server.stderr()
    assert "locked" not in log.lower()
    assert "Traceback" not in log
