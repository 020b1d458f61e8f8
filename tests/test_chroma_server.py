"""Vectors on a Chroma server (COMPANIN_CHROMA_URL=http://...): the knowledge is embedded
into the server's collections, one per organization as when embedded, and searched there.

These tests need a server named by COMPANIN_TEST_CHROMA_URL (.ci/run starts `chroma run`
with tools/start-chroma).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import chromadb
import pytest
import requests
from chromadb.config import Settings
from conftest import assert_envelope, new_org
from engines import CHROMA_URL, first_pass_only, needs_chroma

from companin import create_app

SERVER_URL = CHROMA_URL
pytestmark = [needs_chroma, first_pass_only]
API = "/api/v1"


@pytest.fixture
def app(tmp_path):
    return create_app(
        {"INSTANCE_PATH": str(tmp_path / "instance"), "TESTING": True, "CHROMA_URL": SERVER_URL}
    )


def server_collections() -> dict[str, int]:
    parts = urlsplit(SERVER_URL)
    client = chromadb.HttpClient(
        host=parts.hostname, port=parts.port, settings=Settings(anonymized_telemetry=False)
    )
    return {c.name: c.count() for c in client.list_collections()}


def test_knowledge_is_embedded_on_the_server_and_found_there(app, tmp_path):
    client = app.test_client()
    first, second = new_org(app, "First"), new_org(app, "Second")
    pair = {"question": "How do I pair the speaker?", "answer": "Hold the round button."}
    assert_envelope(client.post(f"{API}/knowledge/qa/", json=pair, headers=first.headers), 201)

    search = {"query": "connect my speaker over bluetooth", "mode": "vector"}
    found = client.post(f"{API}/knowledge/search", json=search, headers=first.headers)
    elsewhere = client.post(f"{API}/knowledge/search", json=search, headers=second.headers)

    assert [p["title"] for p in assert_envelope(found, 200)] == [pair["question"]]
    assert assert_envelope(elsewhere, 200) == []
    collections = server_collections()
    mine = [n for n in collections if n.startswith(f"org-{first.organization_id.replace('-', '')}")]
    assert len(mine) == 1 and collections[mine[0]] >= 1
    assert not (tmp_path / "instance" / "chroma").exists()  # nothing embedded locally
    assert assert_envelope(client.get("/healthz"), 200)["vector_store"] == "ok"


def test_a_chroma_server_that_is_down_shows_in_healthz(tmp_path):
    """Nothing listens on this port: the app starts, and says what is missing."""
    app = create_app(
        {
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "TESTING": True,
            "CHROMA_URL": "http://127.0.0.1:9",
        }
    )
    health = app.test_client().get("/healthz")
    assert assert_envelope(health, 503)["vector_store"] == "unavailable"


def start_chroma(data: Path, port: int) -> subprocess.Popen:
    """`chroma run` on loopback, answering."""
    chroma = Path(sys.executable).parent / "chroma"
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
    command = [str(chroma), "run", "--path", str(data), "--host", "127.0.0.1"]
    process = subprocess.Popen(
        [*command, "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1).ok:
                return process
        except requests.ConnectionError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("chroma run did not answer")


def test_a_lost_server_gives_503_and_is_reached_again_when_back(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data = tmp_path / "chroma-data"
    server = start_chroma(data, port)
    try:
        app = create_app(
            {
                "INSTANCE_PATH": str(tmp_path / "instance"),
                "TESTING": True,
                "CHROMA_URL": f"http://127.0.0.1:{port}",
            }
        )
        client = app.test_client()
        org = new_org(app, "Resilient")
        pair = {"question": "Where is the charger?", "answer": "In the side pocket."}
        assert_envelope(client.post(f"{API}/knowledge/qa/", json=pair, headers=org.headers), 201)
        search = {"query": "charger location", "mode": "vector"}
        path = f"{API}/knowledge/search"
        assert assert_envelope(client.post(path, json=search, headers=org.headers), 200)

        server.terminate()
        server.wait(timeout=10)
        down = client.post(path, json=search, headers=org.headers)
        assert_envelope(down, 503)
        assert "vector store" in down.get_json()["detail"]
        assert assert_envelope(client.get("/healthz"), 503)["vector_store"] == "unavailable"

        server = start_chroma(data, port)
        back = client.post(path, json=search, headers=org.headers)
        assert [p["title"] for p in assert_envelope(back, 200)] == [pair["question"]]
        assert assert_envelope(client.get("/healthz"), 200)["vector_store"] == "ok"
    finally:
        server.kill()
        server.wait()
