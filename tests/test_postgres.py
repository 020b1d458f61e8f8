"""The same product on PostgreSQL (COMPANIN_DATABASE_URL=postgresql://...): its schema,
the API's main paths, keyword search through PostgreSQL's own full-text search, and a
unique-key race answered 409.

These tests need a PostgreSQL server whose role may create databases, named by
COMPANIN_TEST_POSTGRES_URL (.ci/run installs Debian's postgresql and sets it); each module
run gets a database of its own, dropped afterwards.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from subprocess import PIPE
from urllib.parse import urlsplit, urlunsplit

import pytest
from conftest import assert_envelope, console_sign_in
from engines import Relay, first_pass_only, fresh_postgres_database, needs_postgres

from companin import create_app
from companin.schema import CURRENT_VERSION
from companin.services.organizations import create_organization
from companin.services.people import create_user

psycopg = pytest.importorskip("psycopg", reason="pip install 'psycopg[binary]'")

pytestmark = [needs_postgres, first_pass_only]
API = "/api/v1"


@pytest.fixture(scope="module")
def database_url():
    """A fresh database on the test server for this module, dropped at the end."""
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture
def app(database_url, tmp_path):
    return create_app(
        {"INSTANCE_PATH": str(tmp_path / "instance"), "TESTING": True, "DATABASE_URL": database_url}
    )


@pytest.fixture
def headers(app):
    with app.app_context():
        credentials = create_organization(f"Org {uuid.uuid4().hex[:6]}")
    return {"X-API-Key": credentials.client_id, "X-API-Secret": credentials.client_secret}


def test_the_schema_is_created_at_its_version_and_a_restart_keeps_it(app, database_url, tmp_path):
    with psycopg.connect(database_url) as connection:
        (version,) = connection.execute("SELECT version FROM schema_version").fetchone()
        tables = {row[0] for row in connection.execute("SELECT tablename FROM pg_tables")}
    assert version == CURRENT_VERSION
    assert {"message", "knowledge_chunk", "knowledge_chunk_search", "invitation"} <= tables
    create_app({"INSTANCE_PATH": str(tmp_path / "again"), "DATABASE_URL": database_url})


def test_a_customer_is_answered_from_the_knowledge(app, headers):
    client = app.test_client()
    pair = {"question": "How do I get a refund?", "answer": "Refunds go back to your card."}
    assert_envelope(client.post(f"{API}/knowledge/qa/", json=pair, headers=headers), 201)
    assistant = assert_envelope(
        client.post(f"{API}/assistants/", json={"name": "Ada"}, headers=headers), 201
    )
    body = {"assistant_id": assistant["id"]}
    session = assert_envelope(client.post(f"{API}/sessions/", json=body, headers=headers), 201)
    path = f"{API}/sessions/{session['id']}/messages"

    answered = client.post(path, json={"content": "can I get my money refunded?"}, headers=headers)
    handed = client.post(path, json={"content": "Do you sell garden gnomes?"}, headers=headers)

    assert assert_envelope(answered, 201)["assistant_message"]["content"] == pair["answer"]
    assert assert_envelope(handed, 201)["assistant_message"]["handoff"] is True
    history = assert_envelope(client.get(path, headers=headers), 200)
    assert [m["role"] for m in history] == ["user", "assistant", "user", "assistant"]
    listed = client.get(f"{API}/sessions/?handoff=true", headers=headers)
    assert [s["id"] for s in assert_envelope(listed, 200)] == [session["id"]]


def test_keyword_search_stems_and_stays_in_its_organization(app, headers):
    client = app.test_client()
    with app.app_context():
        credentials = create_organization("Other")
        other = {"X-API-Key": credentials.client_id, "X-API-Secret": credentials.client_secret}
    for owner, answer in ((headers, "Refunds take five days."), (other, "Other refund rules.")):
        pair = {"question": "What about refunds?", "answer": answer}
        assert_envelope(client.post(f"{API}/knowledge/qa/", json=pair, headers=owner), 201)

    search = {"query": "refund", "mode": "keyword"}
    response = client.post(f"{API}/knowledge/search", json=search, headers=headers)
    found = assert_envelope(response, 200)

    assert [p["text"].splitlines()[1] for p in found] == ["Refunds take five days."]
    assert found[0]["score"] > 0
    source = found[0]["source_id"]
    deleted = client.delete(f"{API}/knowledge/sources/{source}", headers=headers)
    assert deleted.status_code in (200, 204)
    again = client.post(f"{API}/knowledge/search", json=search, headers=headers)
    assert assert_envelope(again, 200) == []


def test_a_unique_key_taken_by_a_concurrent_request_is_a_409(app, headers, database_url):
    """Another transaction inserts the same user_reference and commits only after the
    request has checked that it is free: PostgreSQL refuses the request's insert."""
    client = app.test_client()
    with app.app_context():
        from companin.services.organizations import principal_for

        org_id = principal_for(headers["X-API-Key"]).org_id
    holder = psycopg.connect(database_url)
    holder.execute(
        "INSERT INTO user_context (id, created_at, updated_at, organization_id, "
        "user_reference, traits) VALUES (%s, now(), now(), %s, 'cust-1', '{}')",
        (uuid.uuid4(), org_id),
    )
    threading.Timer(0.5, holder.commit).start()  # while the request waits on the row's lock
    started = time.monotonic()
    try:
        body = {"user_reference": "cust-1", "traits": {"plan": "pro"}}
        response = client.post(f"{API}/contexts/", json=body, headers=headers)
    finally:
        time.sleep(max(0.0, 0.6 - (time.monotonic() - started)))
        holder.close()

    assert "Traceback" not in response.get_data(as_text=True)
    assert_envelope(response, 409)


def test_the_console_reads_the_same_data(app, headers):
    client = app.test_client()
    with app.app_context():
        from companin.services.organizations import principal_for

        org_id = principal_for(headers["X-API-Key"]).org_id
        create_user(org_id, "pg-owner@example.com", "owner", "Pat", "a long enough password")
    assistant = assert_envelope(
        client.post(f"{API}/assistants/", json={"name": "Ada"}, headers=headers), 201
    )
    body = {"assistant_id": assistant["id"]}
    session = assert_envelope(client.post(f"{API}/sessions/", json=body, headers=headers), 201)
    path = f"{API}/sessions/{session['id']}/messages"
    client.post(path, json={"content": "Anyone there about gnomes?"}, headers=headers)
    browser = app.test_client()
    signed_in = console_sign_in(browser, "pg-owner@example.com", "a long enough password")
    assert signed_in.status_code == 303

    for page in ("/console/", f"/console/chats/session/{session['id']}", "/console/insights"):
        response = browser.get(page, query_string={"q": "gnomes"} if page == "/console/" else {})
        assert response.status_code == 200, (page, response.get_data(as_text=True)[:500])
    assert "gnomes" in browser.get("/console/", query_string={"q": "gnomes"}).get_data(as_text=True)


def test_a_lost_database_gives_503_and_is_reached_again_when_back(database_url, tmp_path):
    parts = urlsplit(database_url)
    relay = Relay((parts.hostname, parts.port or 5432))
    through = urlunsplit(
        parts._replace(netloc=f"{parts.username}:{parts.password}@127.0.0.1:{relay.port}")
    )
    app = create_app(
        {"INSTANCE_PATH": str(tmp_path / "i"), "TESTING": True, "DATABASE_URL": through}
    )
    client = app.test_client()
    with app.app_context():
        credentials = create_organization("Relayed")
    headers = {"X-API-Key": credentials.client_id, "X-API-Secret": credentials.client_secret}
    try:
        assert_envelope(client.get(f"{API}/assistants/", headers=headers), 200)
        relay.cut()
        down = client.get(f"{API}/assistants/", headers=headers)
        assert_envelope(down, 503)
        assert "database" in down.get_json()["detail"]
        assert assert_envelope(client.get("/healthz"), 503)["database"] == "unavailable"

        relay.restore()
        assert_envelope(client.get(f"{API}/assistants/", headers=headers), 200)
        assert assert_envelope(client.get("/healthz"), 200)["database"] == "ok"
    finally:
        relay.cut()


def test_two_processes_migrating_at_once_take_turns(tmp_path):
    """`companin migrate` twice at the same moment on an empty database: one creates the
    schema under the lock, the other waits and finds it done."""
    with fresh_postgres_database() as url:
        runs = []
        for number in range(2):
            env = {
                **os.environ,
                "COMPANIN_INSTANCE_PATH": str(tmp_path / f"instance-{number}"),
                "COMPANIN_DATABASE_URL": url,
            }
            command = [sys.executable, "-m", "companin", "migrate"]
            runs.append(subprocess.Popen(command, env=env, stdout=PIPE, stderr=PIPE, text=True))
        results = [(run.wait(timeout=60), *run.communicate()) for run in runs]

        for code, out, err in results:
            assert code == 0, err
            assert f"Database schema at version {CURRENT_VERSION}" in out
        with psycopg.connect(url) as connection:
            rows = connection.execute("SELECT version FROM schema_version").fetchall()
        assert rows == [(CURRENT_VERSION,)]


def test_a_version_4_database_gets_bm25_counts_and_double_precision(tmp_path):
    """Release 4 ran on PostgreSQL with ts_rank and REAL columns: version 5 adds each
    chunk's token count (for BM25), widens the floats, and its keyword search works."""
    with fresh_postgres_database() as url:
        config = {"INSTANCE_PATH": str(tmp_path / "i"), "TESTING": True, "DATABASE_URL": url}
        app = create_app(config)
        with app.app_context():
            credentials = create_organization("Upgraded")
        headers = {"X-API-Key": credentials.client_id, "X-API-Secret": credentials.client_secret}
        pair = {"question": "Where is the depot?", "answer": "The depot is in Ghent by the canal."}
        assert_envelope(
            app.test_client().post(f"{API}/knowledge/qa/", json=pair, headers=headers), 201
        )
        with psycopg.connect(url, autocommit=True) as connection:  # as release 4 left it
            connection.execute("ALTER TABLE knowledge_chunk_search DROP COLUMN token_count")
            connection.execute('ALTER TABLE "assistant" ALTER COLUMN "temperature" TYPE real')
            connection.execute("UPDATE schema_version SET version = 4")

        upgraded = create_app({**config, "INSTANCE_PATH": str(tmp_path / "j")}).test_client()

        with psycopg.connect(url) as connection:
            counts = connection.execute("SELECT token_count FROM knowledge_chunk_search").fetchall()
            (kind,) = connection.execute(
                "SELECT data_type FROM information_schema.columns "
                "WHERE table_name = 'assistant' AND column_name = 'temperature'"
            ).fetchone()
        query = {"query": "depot by the canal", "mode": "keyword"}
        found = upgraded.post(f"{API}/knowledge/search", json=query, headers=headers)
        assert [p["title"] for p in assert_envelope(found, 200)] == [pair["question"]]
        assert counts and all(count > 0 for (count,) in counts)
        assert kind == "double precision"
