"""Streaming through a real `companin serve` (waitress): the first words reach the client
while the model is still writing, a stalled model ends in an error event, and a client
that goes away ends the model call."""

from __future__ import annotations

import json
import time

import pytest
import requests
from conftest import companin_server, run_cli
from fake_llm import Reply

API = "/api/v1"


@pytest.fixture
def served(tmp_path, fake):
    """A server answering with the fake model, an organization, and a session to talk in."""
    instance = tmp_path / "instance"
    org = json.loads(run_cli(instance, "create-org", "Acme", "--json").stdout)
    env = {
        "COMPANIN_LLM_MODEL": "openai/test-model",
        "COMPANIN_LLM_API_BASE": fake.base_url,
        "COMPANIN_LLM_API_KEY": "sk-test-not-real",
        "COMPANIN_LLM_TIMEOUT_S": "2",
    }
    headers = {"X-API-Key": org["client_id"], "X-API-Secret": org["client_secret"]}
    with companin_server(instance, tmp_path, env=env) as server:
        pair = {"question": "How do I reset the router?", "answer": "Hold the pin for 10 s."}
        requests.post(f"{server.url}{API}/knowledge/qa/", json=pair, headers=headers, timeout=30)
        assistant = requests.post(
            f"{server.url}{API}/assistants/", json={"name": "Ada"}, headers=headers, timeout=5
        ).json()["data"]
        session = requests.post(
            f"{server.url}{API}/sessions/",
            json={"assistant_id": assistant["id"]},
            headers=headers,
            timeout=5,
        ).json()["data"]
        yield server, headers, f"{server.url}{API}/sessions/{session['id']}/messages"


def stream(url: str, headers: dict, content: str):
    return requests.post(
        url,
        json={"content": content},
        headers={**headers, "Accept": "text/event-stream"},
        stream=True,
        timeout=30,
    )


def read_events(response, started: float):
    """(seconds since `started`, event name, data) for each event, as they arrive."""
    kind = None
    for line in response.iter_lines(decode_unicode=True):
        if line.startswith("event: "):
            kind = line[len("event: ") :]
        elif line.startswith("data: "):
            yield time.monotonic() - started, kind, json.loads(line[len("data: ") :])


def test_first_delta_arrives_long_before_the_model_finishes(served, fake):
    _, headers, url = served
    text = "Hold the reset pin for ten seconds, then wait for the light to blink [1]. " * 2
    fake.script(Reply("Warm-up."), Reply(text, chunk_size=5, chunk_delay=0.1))
    with stream(url, headers, "how do I reset the router?") as response:
        list(read_events(response, time.monotonic()))  # the first call imports litellm

    started = time.monotonic()
    with stream(url, headers, "how do I reset the router?") as response:
        got = list(read_events(response, started))

    assert response.headers["Content-Type"].startswith("text/event-stream")
    deltas = [at for at, kind, _ in got if kind == "delta"]
    finished = got[-1][0]
    assert got[-1][1] == "done" and len(deltas) >= 10
    # The model takes 3 s to write; the first words are on screen long before it is done.
    assert finished > 2.5 and finished - deltas[0] > 2.0, (deltas[0], finished)


def test_a_stalled_model_ends_the_stream_with_an_error_event(served, fake):
    _, headers, url = served
    fake.script(Reply("Hold the reset pin for ten seconds.", stall_after=2))

    with stream(url, headers, "how do I reset the router?") as response:
        got = list(read_events(response, time.monotonic()))

    kinds = [kind for _, kind, _ in got]
    assert kinds[:2] == ["delta", "delta"] and kinds[-1] == "error"
    assert got[-1][2]["status_code"] == 504, got[-1]
    assert got[-1][0] < 10  # within the deadline (2 s without a word), not hanging


def test_a_client_that_goes_away_ends_the_model_call(served, fake):
    _, headers, url = served
    fake.script(Reply("word " * 200, chunk_size=5, chunk_delay=0.1))

    with stream(url, headers, "how do I reset the router?") as response:
        for _, kind, _ in read_events(response, time.monotonic()):
            if kind == "delta":
                break  # the visitor closes the tab
    deadline = time.monotonic() + 10
    while fake.disconnects == 0 and time.monotonic() < deadline:
        time.sleep(0.1)

    assert fake.disconnects == 1
