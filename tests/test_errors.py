"""Errors the client did not cause, and routes that do not exist, are envelopes too.

The 500 is real: the SQLite file is overwritten with garbage under a running app, so the
next query fails ("file is not a database") exactly as a corrupted disk would make it.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3

import pytest
from conftest import assert_envelope, console_sign_in, new_org
from engines import SCALED

from companin import create_app
from companin.services.people import create_user

# What must never reach a client (or a log line): tracebacks, source, SQL, driver messages.
INTERNALS = re.compile(
    r'Traceback|File "|\.py\b|site-packages|/work/|sqlite|peewee|DatabaseError'
    r"|file is not a database|(?-i:\bSELECT\b|\bINSERT INTO\b|\bFROM \"|\bWHERE\b)",
    re.IGNORECASE,
)


def corrupt_database(app) -> None:
    """Replace the SQLite file (and its WAL companions) with bytes that are not a database."""
    path = os.path.join(app.instance_path, "companin.db")
    assert os.path.exists(path)
    for suffix in ("-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    with open(path, "wb") as handle:
        handle.write(b"this is not an SQLite database, just garbage\n" * 200)


@pytest.fixture
def broken(app, client, org, assistant):
    """An app that served requests, then lost its database."""
    if SCALED:
        pytest.skip(
            "embedded engines only: the database is broken by overwriting its SQLite file "
            "(a lost PostgreSQL is tests/test_postgres.py's outage test)"
        )
    assert_envelope(client.get("/api/v1/assistants/", headers=org.headers), 200)
    corrupt_database(app)
    return client


def error_records(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_500_is_an_envelope_naming_the_request_id(broken, org, caplog):
    caplog.set_level(logging.INFO)
    response = broken.get("/api/v1/assistants/", headers=org.headers)

    assert_envelope(response, 500)
    body = response.get_json()
    assert set(body) == {"status", "status_code", "detail", "data"}
    assert body["data"] is None
    request_id = response.headers["X-Request-ID"]
    assert request_id in body["detail"]
    assert not INTERNALS.search(response.get_data(as_text=True)), response.get_data(as_text=True)
    assert response.mimetype == "application/json"

    # The operator finds the failure in the log by that same id, without a traceback or SQL.
    records = error_records(caplog)
    assert records, "a 500 must be logged"
    logged = [r for r in records if request_id in r.getMessage()]
    assert logged, [r.getMessage() for r in records]
    for record in logged:
        assert record.exc_info is None and not record.exc_text and not record.stack_info
        message = record.getMessage()
        assert "Traceback" not in message and "file is not a database" not in message
        assert not re.search(r"\bSELECT\b|\bINSERT\b|\bFROM \"", message), message


def test_500_uses_the_request_id_the_client_sent(broken, org, caplog):
    caplog.set_level(logging.INFO)
    response = broken.post(
        "/api/v1/assistants/",
        json={"name": "Bot"},
        headers={**org.headers, "X-Request-ID": "support-ticket-7781"},
    )
    assert_envelope(response, 500)
    assert response.headers["X-Request-ID"] == "support-ticket-7781"
    assert "support-ticket-7781" in response.get_json()["detail"]
    assert not INTERNALS.search(response.get_data(as_text=True))
    assert any("support-ticket-7781" in r.getMessage() for r in error_records(caplog))


def test_500_without_credentials_is_an_envelope_too(broken, org):
    """Even the widget-token route, which reads the database before anything else."""
    response = broken.post("/api/v1/auth/widget-token", json={"client_id": org.client_id})
    assert_envelope(response, 500)
    assert response.headers["X-Request-ID"] in response.get_json()["detail"]
    assert not INTERNALS.search(response.get_data(as_text=True))


def test_each_500_gets_its_own_request_id(broken, org):
    first = broken.get("/api/v1/assistants/", headers=org.headers)
    second = broken.get("/api/v1/sessions/", headers=org.headers)
    assert first.status_code == second.status_code == 500
    ids = {first.headers["X-Request-ID"], second.headers["X-Request-ID"]}
    assert len(ids) == 2
    assert first.get_json()["detail"] != second.get_json()["detail"]


@pytest.mark.parametrize(
    "path", ["/api/v1/nope", "/api/v1/assistants/x/y/z", "/does-not-exist", "/api/v2/assistants/"]
)
def test_unknown_path_is_a_404_envelope(client, org, path):
    for headers in ({}, org.headers):
        response = client.get(path, headers=headers)
        assert assert_envelope(response, 404) is None
        assert response.mimetype == "application/json"
        assert "<html" not in response.get_data(as_text=True).lower()


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/api/v1/assistants/", {"GET", "POST"}),
        ("DELETE", "/api/v1/assistants/", {"GET", "POST"}),
        ("POST", "/api/v1/assistants/{id}", {"GET", "PATCH", "DELETE"}),
        ("GET", "/api/v1/auth/widget-token", {"POST"}),
        ("PATCH", "/api/v1/sessions/", {"GET", "POST"}),
    ],
)
def test_wrong_method_is_a_405_envelope_with_allow(client, org, assistant, method, path, allowed):
    path = path.format(id=assistant["id"])
    response = client.open(path, method=method, json={"name": "x"}, headers=org.headers)
    assert assert_envelope(response, 405) is None
    assert response.mimetype == "application/json"
    allow = {m.strip() for m in response.headers["Allow"].split(",")}
    assert allowed <= allow and method not in allow, allow
    # Nothing happened: the assistant is still there, unchanged.
    after = client.get(f"/api/v1/assistants/{assistant['id']}", headers=org.headers)
    assert assert_envelope(after, 200) == assistant


def test_healthz_reports_a_broken_database_as_503(broken):
    # A load balancer reads this: the process is up, the database is not.
    response = broken.get("/healthz")
    assert assert_envelope(response, 503)["database"] == "unavailable"
    assert not INTERNALS.search(response.get_data(as_text=True))


def test_healthz_reports_a_working_database(client):
    assert assert_envelope(client.get("/healthz"), 200) == {
        "database": "ok",
        "vector_store": "ok",
        "rate_limits": "ok",
        "embedder": "all-MiniLM-L6-v2",
    }


@pytest.fixture
def impatient_app(tmp_path):
    """SQLite that waits only 0.1 s for a lock."""
    if SCALED:
        pytest.skip("embedded engines only: SQLite's write lock, held by another connection")
    return create_app(
        {
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "TESTING": True,
            "DATABASE_BUSY_TIMEOUT_MS": 100,
        }
    )


def test_a_database_locked_too_long_is_a_503_that_says_so(impatient_app, tmp_path):
    client = impatient_app.test_client()
    org = new_org(impatient_app)
    holder = sqlite3.connect(tmp_path / "instance" / "companin.db")
    holder.execute("BEGIN EXCLUSIVE")  # another process writing, and writing, and writing
    try:
        refused = client.post("/api/v1/assistants/", json={"name": "Ada"}, headers=org.headers)
    finally:
        holder.rollback()
        holder.close()

    assert_envelope(refused, 503)
    assert "database" in refused.get_json()["detail"]
    listed = client.get("/api/v1/assistants/", headers=org.headers)
    assert assert_envelope(listed, 200) == []  # nothing half-stored, and it answers again


def test_the_console_says_the_database_is_busy_on_a_page(impatient_app, tmp_path):
    org = new_org(impatient_app)
    with impatient_app.app_context():
        create_user(org.organization_id, "busy@example.com", "agent", "Bo", "a long password 1")
    browser = impatient_app.test_client()
    holder = sqlite3.connect(tmp_path / "instance" / "companin.db")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        refused = console_sign_in(browser, "busy@example.com", "a long password 1")
    finally:
        holder.rollback()
        holder.close()

    assert refused.status_code == 503
    page = refused.get_data(as_text=True)
    assert "database cannot be reached or is busy" in page and "Traceback" not in page
    assert console_sign_in(browser, "busy@example.com", "a long password 1").status_code == 303
