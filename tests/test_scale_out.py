"""Two `companin serve` processes on one PostgreSQL, one Chroma server and one Redis, as a
team that outgrew one process runs them: a client alternating between the two sees one
world and one rate limit, each upload is ingested exactly once, and when the process
holding a job is killed (`kill -9`) the other one finishes it.

Embeddings come from a real OpenAI-compatible server on loopback (tests/fake_llm.py), which
counts every text it is sent and can hold a request, so that a job is caught mid-way.
"""

from __future__ import annotations

import io
import signal
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
import requests
from conftest import Org, Server, companin_server, new_org
from engines import (
    CHROMA_URL,
    REDIS_URL,
    first_pass_only,
    fresh_postgres_database,
    needs_chroma,
    needs_postgres,
    needs_redis,
)

from companin import create_app
from companin.knowledge.vectorstore import VectorStore

psycopg = pytest.importorskip("psycopg", reason="pip install 'psycopg[binary]'")

pytestmark = [needs_postgres, needs_redis, needs_chroma, first_pass_only]
API = "/api/v1"
MODEL = "openai/fake-embed"
LIMIT = 30


@dataclass
class Cluster:
    servers: tuple[Server, Server]
    database_url: str

    def call(self, number: int, method: str, path: str, org: Org, **kwargs) -> requests.Response:
        """Request `path` of the first server on even numbers, of the second on odd ones."""
        server = self.servers[number % 2]
        return requests.request(
            method, server.url + API + path, headers=org.headers, timeout=30, **kwargs
        )

    def sql(self, query: str, *params) -> list[tuple]:
        with psycopg.connect(self.database_url) as connection:
            return connection.execute(query, params).fetchall()


@contextmanager
def cluster(tmp_path, fake, rate_limit: str = "1000/hour") -> Iterator[tuple[Cluster, Org]]:
    """Two servers on fresh engines, and an organization of theirs."""
    with fresh_postgres_database() as database_url:
        settings = {"DATABASE_URL": database_url, "CHROMA_URL": CHROMA_URL}
        setup = create_app({"INSTANCE_PATH": str(tmp_path / "setup"), **settings})
        org = new_org(setup, "Two Processes Ltd")
        env = {
            "COMPANIN_DATABASE_URL": database_url,
            "COMPANIN_CHROMA_URL": CHROMA_URL,
            "COMPANIN_RATELIMIT_STORAGE_URI": REDIS_URL,
            "COMPANIN_RATE_LIMIT": rate_limit,
            "COMPANIN_EMBEDDING_MODEL": MODEL,
            "COMPANIN_EMBEDDING_API_BASE": fake.base_url,
            "OPENAI_API_KEY": "sk-test-not-real",
            "COMPANIN_INGEST_POLL_S": "0.2",
        }
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
        with (
            companin_server(tmp_path / "a" / "instance", tmp_path / "a", env=env) as first,
            companin_server(tmp_path / "b" / "instance", tmp_path / "b", env=env) as second,
        ):
            yield Cluster((first, second), database_url), org


def data(response: requests.Response, expected: int):
    body = response.json()
    assert response.status_code == expected, body
    return body["data"]


def wait_until_settled(group: Cluster, org: Org, source_ids, timeout: float = 60) -> list[dict]:
    """Poll both servers in turn until no source is processing."""
    deadline = time.monotonic() + timeout
    for number in range(10**6):
        sources = [
            data(group.call(number, "GET", f"/knowledge/sources/{i}", org), 200) for i in source_ids
        ]
        if all(s["status"] != "processing" for s in sources):
            return sources
        assert time.monotonic() < deadline, sources
        time.sleep(0.2)
    raise AssertionError("unreachable")


def paragraphs(topic: str, count: int) -> str:
    return "\n\n".join(
        f"Section {n} of the {topic} guide. Step {n} tells the {topic} team what to check "
        f"before shift {n}, and whom to call when item {n} is missing."
        for n in range(count)
    )


def test_a_client_alternating_between_two_processes_sees_one_world_and_one_limit(tmp_path, fake):
    with cluster(tmp_path, fake, rate_limit=f"{LIMIT}/hour") as (group, org):
        created = data(group.call(0, "POST", "/assistants/", org, json={"name": "Ada"}), 201)
        read = data(group.call(1, "GET", f"/assistants/{created['id']}", org), 200)
        pair = {"question": "Where is the depot?", "answer": "The depot is in Ghent."}
        qa = data(group.call(0, "POST", "/knowledge/qa/", org, json=pair), 201)
        query = {"query": "depot Ghent", "mode": "keyword"}
        found = data(group.call(1, "POST", "/knowledge/search", org, json=query), 200)
        vector = {"query": pair["question"], "mode": "vector"}
        found_by_vector = data(group.call(1, "POST", "/knowledge/search", org, json=vector), 200)
        session = data(
            group.call(1, "POST", "/sessions/", org, json={"assistant_id": created["id"]}), 201
        )
        path = f"/sessions/{session['id']}/messages"
        sent = data(group.call(0, "POST", path, org, json={"content": "Where is the depot?"}), 201)
        history = data(group.call(1, "GET", path, org), 200)
        used = 8
        # The rest of the hour's limit, spent on both processes alike, then refused by both.
        answers = [group.call(n, "GET", "/assistants/", org) for n in range(LIMIT - used + 2)]

    assert read["name"] == "Ada"
    assert found[0]["source_id"] == qa["id"] and found_by_vector[0]["source_id"] == qa["id"]
    assert [m["id"] for m in history] == [
        sent["user_message"]["id"],
        sent["assistant_message"]["id"],
    ]
    assert sent["assistant_message"]["content"] == pair["answer"]
    allowed, refused = answers[: LIMIT - used], answers[LIMIT - used :]
    assert [int(r.headers["X-RateLimit-Remaining"]) for r in allowed] == list(
        range(LIMIT - used - 1, -1, -1)
    )
    assert [r.status_code for r in refused] == [429, 429]


def test_each_upload_is_ingested_exactly_once_whichever_process_takes_it(tmp_path, fake):
    topics = ["forklift", "invoice", "returns", "courier", "warehouse", "payroll"]
    with cluster(tmp_path, fake) as (group, org):
        ids = []
        for number, topic in enumerate(topics):
            upload = {"file": (f"{topic}.txt", io.BytesIO(paragraphs(topic, 12).encode()))}
            ids.append(
                data(group.call(number, "POST", "/knowledge/files/", org, files=upload), 201)
            )
        settled = wait_until_settled(group, org, [s["id"] for s in ids])
        stored = group.sql(
            "SELECT text FROM knowledge_chunk WHERE source_id = ANY(%s)",
            [uuid.UUID(s["id"]) for s in ids],
        )

    assert [s["status"] for s in settled] == ["ready"] * len(topics)
    assert sum(s["chunk_count"] for s in settled) == len(stored) >= len(topics)
    # Every chunk was embedded once, by one process: none twice, none left out.
    assert Counter(fake.embedded) == Counter(text for (text,) in stored)


def test_when_the_process_holding_a_job_is_killed_the_other_finishes_it(tmp_path, fake):
    marker = "lantern room code azure walrus"
    release = fake.hold_embeddings(marker)
    document = paragraphs("lighthouse", 30) + f"\n\nThe keeper opens the {marker}."
    with cluster(tmp_path, fake) as (group, org):
        upload = {"file": ("lighthouse.txt", io.BytesIO(document.encode()))}
        source = data(group.call(0, "POST", "/knowledge/files/", org, files=upload), 201)
        assert fake.held.wait(timeout=30), "the job never reached the embedder"
        ((owner,),) = group.sql(
            "SELECT owner FROM ingestion_job WHERE source_id = %s", uuid.UUID(source["id"])
        )
        holder = next(s for s in group.servers if f"#{s.process.pid}#" in owner)
        survivor = 1 - group.servers.index(holder)
        holder.process.send_signal(signal.SIGKILL)
        holder.process.wait(timeout=10)
        release.set()

        deadline = time.monotonic() + 60
        while (
            finished := data(
                group.call(survivor, "GET", f"/knowledge/sources/{source['id']}", org), 200
            )
        )["status"] == "processing":
            assert time.monotonic() < deadline, finished
            time.sleep(0.2)
        texts = [
            text
            for (text,) in group.sql(
                "SELECT text FROM knowledge_chunk WHERE source_id = %s", uuid.UUID(source["id"])
            )
        ]
        query = {"query": "which code opens the lantern room", "mode": "keyword"}
        found = data(group.call(survivor, "POST", "/knowledge/search", org, json=query), 200)
        jobs_left = group.sql("SELECT count(*) FROM ingestion_job")

    assert finished["status"] == "ready" and finished["error"] is None, finished
    assert finished["chunk_count"] == len(texts) == len(set(texts)) > 1
    assert found[0]["source_id"] == source["id"] and marker in found[0]["text"]
    # One vector per chunk on the Chroma server: nothing left over from the killed run.
    vectors = VectorStore(url=CHROMA_URL)
    assert vectors.count(uuid.UUID(org.organization_id), MODEL) == len(texts)
    assert jobs_left == [(0,)]
