"""A database of the previous release (schema version 1) is upgraded in place at start-up:
every row is kept and the new features work on it."""

from __future__ import annotations

import sqlite3

from conftest import assert_envelope, new_org

from companin import create_app
from companin.schema import CURRENT_VERSION

API = "/api/v1"
# What version 2 added to the tables of version 1.
ADDED_COLUMNS = {
    "session": ("handoff", "handoff_at"),
    "conversation": ("handoff", "handoff_at"),
    "message": ("author", "feedback_at"),
}


def as_version_1(database) -> None:
    """Take a database back to the schema of the first release (tables and columns as
    they were), keeping its rows."""
    with sqlite3.connect(database) as connection:
        connection.execute("DROP TABLE idempotency_record")
        for table, columns in ADDED_COLUMNS.items():
            for column in columns:
                connection.execute(f'ALTER TABLE "{table}" DROP COLUMN "{column}"')
        connection.execute("UPDATE schema_version SET version = 1")


def columns(database, table: str) -> set[str]:
    with sqlite3.connect(database) as connection:
        return {row[1] for row in connection.execute(f'PRAGMA table_info("{table}")')}


def test_a_version_1_database_is_upgraded_with_every_row_kept(tmp_path):
    config = {"INSTANCE_PATH": str(tmp_path / "instance"), "TESTING": True}
    app = create_app(config)
    client = app.test_client()
    org = new_org(app)
    assistant = assert_envelope(
        client.post(f"{API}/assistants/", json={"name": "Old"}, headers=org.headers), 201
    )
    session = assert_envelope(
        client.post(
            f"{API}/sessions/", json={"assistant_id": assistant["id"]}, headers=org.headers
        ),
        201,
    )
    pair = {"question": "When are you open?", "answer": "Nine to five on weekdays."}
    assert_envelope(client.post(f"{API}/knowledge/qa/", json=pair, headers=org.headers), 201)
    path = f"{API}/sessions/{session['id']}/messages"
    before = assert_envelope(
        client.post(path, json={"content": "opening hours?"}, headers=org.headers), 201
    )
    database = tmp_path / "instance" / "companin.db"
    as_version_1(database)
    assert "handoff" not in columns(database, "session")

    upgraded = create_app(config).test_client()

    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT version FROM schema_version").fetchall() == [
            (CURRENT_VERSION,)
        ]
    for table, added in ADDED_COLUMNS.items():
        assert set(added) <= columns(database, table)
    history = assert_envelope(upgraded.get(path, headers=org.headers), 200)
    assert [m["id"] for m in history] == [
        before["user_message"]["id"],
        before["assistant_message"]["id"],
    ]
    kept = assert_envelope(
        upgraded.get(f"{API}/sessions/{session['id']}", headers=org.headers), 200
    )
    assert kept["handoff"] is False and kept["handoff_at"] is None
    # What version 2 brought works on the upgraded rows.
    headers = {**org.headers, "Idempotency-Key": "after-upgrade"}
    again = assert_envelope(upgraded.post(path, json={"content": "hours?"}, headers=headers), 201)
    assert again["assistant_message"]["content"] == pair["answer"]
    rated = upgraded.post(
        f"{API}/messages/{again['assistant_message']['id']}/feedback",
        json={"rating": "up"},
        headers=org.headers,
    )
    assert assert_envelope(rated, 200)["feedback"]["rating"] == "up"
