"""The knowledge base across processes: a crash mid-ingest, bulk loading, a new embedder.

Everything runs as a user runs it: `companin serve` as a real process (killed with SIGKILL
to simulate a crash), `companin ingest` and `companin reindex` as commands. The instance's
database (the record) and its vectors (through Companin's own VectorStore) are read only
once the processes that write them have stopped.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
import signal
import struct
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests
from conftest import Org, assert_envelope, companin_server, run_cli
from engines import embedded_only, instance_vectors, read_database

from companin import create_app
from companin.knowledge.minilm import MODEL_NAME as MINILM

# --- helpers ------------------------------------------------------------------------------


def create_org(instance: Path, name: str) -> Org:
    credentials = json.loads(run_cli(instance, "create-org", name, "--json").stdout)
    return Org(
        credentials["organization_id"], credentials["client_id"], credentials["client_secret"]
    )


def api(server, method: str, path: str, org: Org, expected: int, **kwargs):
    """Call the real server and check the envelope, as for the Flask test client."""
    response = requests.request(
        method, server.url + "/api/v1" + path, headers=org.headers, timeout=30, **kwargs
    )
    body = response.json()
    assert response.status_code == expected, body
    assert body["status_code"] == expected and response.headers.get("X-Request-ID")
    return body["data"]


def upload(server, org: Org, name: str, data: bytes) -> dict:
    files = {"file": (name, data, "text/markdown")}
    return api(server, "POST", "/knowledge/files/", org, 201, files=files, data={"title": name})


def wait_until_done(server, org: Org, source_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        source = api(server, "GET", f"/knowledge/sources/{source_id}", org, 200)
        if source["status"] != "processing":
            return source
        assert time.monotonic() < deadline, f"still processing after {timeout}s: {source}"
        time.sleep(0.1)


def source_row(instance: Path, source_id: str) -> tuple:
    (row,) = read_database(
        instance,
        "SELECT status, chunk_count, embedding_model FROM knowledge_source WHERE id = ?",
        uuid.UUID(source_id).hex,
    )
    return row


def chunk_texts(instance: Path, source_id: str) -> list[str]:
    rows = read_database(
        instance,
        "SELECT text FROM knowledge_chunk WHERE source_id = ? ORDER BY ordinal",
        uuid.UUID(source_id).hex,
    )
    return [text for (text,) in rows]


def vector_count(instance: Path, org: Org, model: str) -> int:
    return instance_vectors(instance).count(uuid.UUID(org.organization_id), model)


WORDS = {
    "subject": "the courier|our warehouse|the billing team|a customer|the mobile app|the invoice"
    "|the subscription|a refund|the support desk|the loyalty scheme|the returns portal",
    "verb": "confirms|delays|updates|records|reviews|cancels|schedules|approves|reports|checks",
    "object": "the parcel|each payment|the delivery address|a replacement|the account|the order"
    "|the voucher|a damaged item|the tracking number|the monthly plan|the bank transfer",
    "when": "within two days|before noon|every Monday|after the weekend|at the end of the month"
    "|as soon as possible|during the holidays|overnight|on request|the same afternoon",
}


def manual(paragraphs: int, seed: int = 3) -> bytes:
    """A long Markdown manual of varied sentences: many distinct chunks, a few seconds' work."""
    rng = random.Random(seed)
    choices = {key: value.split("|") for key, value in WORDS.items()}
    lines = ["# Operations manual", ""]
    for number in range(paragraphs):
        if number % 4 == 0:
            lines += [f"## Chapter {number // 4 + 1}", ""]
        sentences = [
            " ".join(rng.choice(choices[key]) for key in WORDS).capitalize() + "."
            for _ in range(rng.randint(8, 12))
        ]
        lines += [" ".join(sentences), ""]
    lines += [
        "## Lighthouse",
        "",
        "The lighthouse keeper unlocks the lantern room with the code azure walrus.",
    ]
    return "\n".join(lines).encode()


# --- (a) a crash while a file is processing -------------------------------------------------


@embedded_only(
    "on the engines, tests/test_scale_out.py kills the process holding a job and another "
    "finishes it"
)
def test_a_source_left_processing_by_a_crash_is_finished_cleanly_after_restart(tmp_path):
    instance = tmp_path / "instance"
    crashed, clean = create_org(instance, "Crashed"), create_org(instance, "Clean")
    document = manual(paragraphs=80)

    with companin_server(instance, tmp_path) as server:
        source = upload(server, crashed, "manual.md", document)
        # Wait until embedding has begun (progress moves), then pull the plug.
        deadline = time.monotonic() + 30
        while True:
            seen = api(server, "GET", f"/knowledge/sources/{source['id']}", crashed, 200)
            assert seen["status"] == "processing", f"finished before the crash: {seen}"
            if seen["progress"] > 0:
                break
            assert time.monotonic() < deadline, "indexing never made progress"
            time.sleep(0.02)
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(timeout=10)

    assert source_row(instance, source["id"])[0] == "processing"

    with companin_server(instance, tmp_path) as server:
        # The restarted server takes the source up again by itself.
        recovered = wait_until_done(server, crashed, source["id"])
        reference = wait_until_done(
            server, clean, upload(server, clean, "manual.md", document)["id"]
        )
        found = api(
            server,
            "POST",
            "/knowledge/search",
            crashed,
            200,
            json={"query": "Which code opens the lantern room of the lighthouse?"},
        )

    assert recovered["status"] == "ready", recovered
    assert recovered["error"] is None and recovered["progress"] == 1.0
    assert reference["status"] == "ready", reference
    assert found[0]["source_id"] == source["id"] and "azure walrus" in found[0]["text"]
    # The record: as many rows as the source says, the same as a clean ingest, none twice.
    texts = chunk_texts(instance, source["id"])
    assert recovered["chunk_count"] == len(texts) == reference["chunk_count"] > 30
    assert texts == chunk_texts(instance, reference["id"])
    # The vectors: one per chunk, like the clean ingest: no orphan of the first run.
    assert vector_count(instance, crashed, MINILM) == len(texts)
    assert vector_count(instance, clean, MINILM) == len(texts)


# --- (b) `companin ingest` ------------------------------------------------------------------


def test_ingest_command_loads_a_folder_and_names_the_file_it_could_not_use(tmp_path):
    instance = tmp_path / "instance"
    org = create_org(instance, "Bulk")
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "returns.md").write_text(
        "# Returns\n\nYou may send back unused items within thirty days for a full refund.\n"
    )
    (folder / "hours.txt").write_text("Our phone line is open weekdays from nine to six.\n")
    (folder / "shipping.html").write_text(
        "<html><body><nav>Home</nav><main><h1>Shipping</h1><p>Orders placed before noon "
        "leave our warehouse the same afternoon.</p></main></body></html>"
    )
    # A PDF by its name and magic bytes, but not a readable one.
    (folder / "broken.pdf").write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 8)

    # And, named on the command line, a file of a type the knowledge base cannot read.
    photo = tmp_path / "photo.png"
    photo.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64))

    result = run_cli(
        instance, "ingest", str(folder), str(photo), "--org", org.client_id, check=False
    )

    assert result.returncode != 0, result
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert "Ingesting" in output  # the progress bar (a plain label when not on a terminal)
    assert "3 of 5 file(s) ready" in result.stdout
    assert "broken.pdf" in result.stderr and "photo.png" in result.stderr

    client = create_app({"INSTANCE_PATH": str(instance), "TESTING": True}).test_client()
    sources = assert_envelope(client.get("/api/v1/knowledge/sources/", headers=org.headers), 200)
    status = {source["title"]: source["status"] for source in sources}
    assert {status.get(name) for name in ("returns.md", "hours.txt", "shipping.html")} == {"ready"}
    assert status.get("broken.pdf", "failed") == "failed"
    for question, title in [
        ("Can I get my money back if I change my mind?", "returns.md"),
        ("When can I call you?", "hours.txt"),
        ("How quickly do orders get dispatched?", "shipping.html"),
    ]:
        response = client.post(
            "/api/v1/knowledge/search", json={"query": question}, headers=org.headers
        )
        assert assert_envelope(response, 200)[0]["title"] == title, question


def test_ingest_command_refuses_an_unknown_organization(tmp_path):
    instance = tmp_path / "instance"
    create_org(instance, "Someone")
    document = tmp_path / "hours.txt"
    document.write_text("Open weekdays from nine to six.\n")

    result = run_cli(instance, "ingest", str(document), "--org", "cmp_nobody", check=False)

    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr
    assert "Error" in result.stderr
    assert read_database(instance, "SELECT count(*) FROM knowledge_source") == [(0,)]


# --- (c) `companin reindex` with another embedding model -------------------------------------

DIMENSION = 64


def bag_of_words(text: str) -> list[float]:
    """A deterministic vector that still ranks texts sharing words close together."""
    vector = [0.0] * DIMENSION
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        vector[int(hashlib.md5(word.encode()).hexdigest(), 16) % DIMENSION] += 1.0
    vector[0] += 0.01  # never all zeros
    return vector


class _Embeddings(BaseHTTPRequestHandler):
    """POST /v1/embeddings as OpenAI answers it (floats, or base64 when asked)."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        texts = request["input"] if isinstance(request["input"], list) else [request["input"]]
        self.server.received.extend(texts)
        data = []
        for index, text in enumerate(texts):
            vector = bag_of_words(text)
            if request.get("encoding_format") == "base64":
                vector = base64.b64encode(struct.pack(f"<{DIMENSION}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": vector})
        tokens = sum(len(text.split()) for text in texts)
        body = json.dumps(
            {
                "object": "list",
                "data": data,
                "model": request["model"],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's name
        pass


@contextmanager
def embeddings_server() -> Iterator[tuple[str, list[str]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Embeddings)
    server.daemon_threads = True
    server.received = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", server.received
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


PAIRS = [
    ("What are your business hours?", "We are open Monday to Friday, 9 AM to 6 PM EST."),
    ("How do I reset my password?", "Go to settings and click Reset Password."),
    ("Can I return a gift?", "Gifts can be exchanged within sixty days with the receipt."),
]


def test_reindex_moves_every_source_to_the_new_embedding_model(tmp_path, monkeypatch):
    instance = tmp_path / "instance"
    org = create_org(instance, "Reindexed")
    with companin_server(instance, tmp_path) as server:
        ids = [
            api(server, "POST", "/knowledge/qa/", org, 201, json={"question": q, "answer": a})["id"]
            for q, a in PAIRS
        ]
        query = {"query": "When are you open?", "mode": "vector"}
        before = api(server, "POST", "/knowledge/search", org, 200, json=query)
    # MiniLM vectors exist (found by meaning alone). Chroma is read in this process only at
    # the very end: a client opened here now would not see what the processes change later.
    assert before[0]["title"] == PAIRS[0][0]
    assert {source_row(instance, i)[2] for i in ids} == {MINILM}

    with embeddings_server() as (api_base, received):
        # As a user switching providers would: set the variables, then run the command.
        monkeypatch.setenv("COMPANIN_EMBEDDING_MODEL", "openai/test-embed")
        monkeypatch.setenv("COMPANIN_EMBEDDING_API_BASE", api_base)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")

        result = run_cli(instance, "reindex", check=False)

        assert result.returncode == 0, result.stderr
        assert "Re-indexed 3 source(s) with openai/test-embed" in result.stdout
        for question, answer in PAIRS:
            assert f"{question}\n{answer}" in received and question in received

        with companin_server(instance, tmp_path) as server:
            listed = api(server, "GET", "/knowledge/qa/", org, 200)
            searches = {
                question: api(
                    server,
                    "POST",
                    "/knowledge/search",
                    org,
                    200,
                    json={"query": query, "mode": "vector"},
                )
                for question, query in [
                    ("What are your business hours?", "your business hours please"),
                    ("How do I reset my password?", "reset password"),
                    ("Can I return a gift?", "return a gift"),
                ]
            }
        assert "your business hours please" in received  # the query went to the new model

    assert {source["embedding_model"] for source in listed} == {"openai/test-embed"}
    for question, passages in searches.items():
        assert passages[0]["title"] == question
        assert passages[0]["similarity"] > 0.5
    # The new model's vectors are all there; the old model's are gone, not left to mix.
    assert vector_count(instance, org, "openai/test-embed") == 2 * len(PAIRS)
    assert vector_count(instance, org, MINILM) == 0
