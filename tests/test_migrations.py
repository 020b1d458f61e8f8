"""A database of an earlier release (schema version 1 to 4) is upgraded in place at
start-up: every row is kept and the new features work on it. (tests/test_upgrade.py does
the same from a whole instance made by the release of version 4.)"""

from __future__ import annotations

import io
import sqlite3
import time
import uuid

from conftest import assert_envelope, console_sign_in, new_org
from engines import embedded_only

from companin import create_app
from companin.schema import CURRENT_VERSION
from companin.services.people import create_user
from companin.state import state_of

pytestmark = embedded_only("the earlier releases these databases are taken back to ran on SQLite")

API = "/api/v1"
# What version 2 added to the tables of version 1.
ADDED_COLUMNS = {
    "session": ("handoff", "handoff_at"),
    "conversation": ("handoff", "handoff_at"),
    "message": ("author", "feedback_at"),
}


# What version 3 added: new tables only (in an order they can be dropped in).
VERSION_3_TABLES = ("console_session", "user")
# What version 4 added: who took a chat over, the console's test chats, invitations.
VERSION_4_COLUMNS = ("taken_over_by", "last_message_at", "is_test")


def as_version_4(database) -> None:
    """Take a database back to the schema of the fourth release, keeping its rows: the
    uploaded files go back to the instance folder, and the ingestion queue goes."""
    uploads = database.parent / "uploads"
    with sqlite3.connect(database) as connection:
        for source_id, data in connection.execute("SELECT source_id, data FROM knowledge_upload"):
            uploads.mkdir(exist_ok=True)
            (uploads / uuid.UUID(source_id).hex).write_bytes(data)
        connection.execute("DROP TABLE knowledge_upload")
        connection.execute("DROP TABLE ingestion_job")
        connection.execute("UPDATE schema_version SET version = 4")


def as_version_3(database) -> None:
    """Take a database back to the schema of the third release, keeping its rows."""
    as_version_4(database)
    with sqlite3.connect(database) as connection:
        connection.execute("DROP TABLE invitation")
        connection.execute('DROP INDEX "message_insights"')
        for table in ("session", "conversation"):
            connection.execute(f'DROP INDEX "{table}_last_message_at"')
            for column in VERSION_4_COLUMNS:
                connection.execute(f'ALTER TABLE "{table}" DROP COLUMN "{column}"')
        connection.execute("UPDATE schema_version SET version = 3")


def as_version_2(database) -> None:
    """Take a database back to the schema of the second release, keeping its rows."""
    as_version_3(database)
    with sqlite3.connect(database) as connection:
        for table in VERSION_3_TABLES:
            connection.execute(f'DROP TABLE "{table}"')
        connection.execute("UPDATE schema_version SET version = 2")


def as_version_1(database) -> None:
    """Take a database back to the schema of the first release (tables and columns as
    they were), keeping its rows."""
    as_version_2(database)
    with sqlite3.connect(database) as connection:
        connection.execute("DROP TABLE idempotency_record")
        for table, columns in ADDED_COLUMNS.items():
            for column in columns:
                connection.execute(f'ALTER TABLE "{table}" DROP COLUMN "{column}"')
        connection.execute("UPDATE schema_version SET version = 1")


def tables(database) -> set[str]:
    with sqlite3.connect(database) as connection:
        return {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}


def rows(database, table: str) -> list[tuple]:
    with sqlite3.connect(database) as connection:
        return connection.execute(f'SELECT * FROM "{table}" ORDER BY rowid').fetchall()


def columns(database, table: str) -> set[str]:
    with sqlite3.connect(database) as connection:
        return {row[1] for row in connection.execute(f'PRAGMA table_info("{table}")')}


def org_with_a_session(app, name: str):
    """An organization of `app` with an assistant and a visitor session: (org, session)."""
    client = app.test_client()
    org = new_org(app, name)
    assistant = assert_envelope(
        client.post(f"{API}/assistants/", json={"name": "Old"}, headers=org.headers), 201
    )
    session = assert_envelope(
        client.post(
            f"{API}/sessions/", json={"assistant_id": assistant["id"]}, headers=org.headers
        ),
        201,
    )
    return org, session


def test_a_version_1_database_is_upgraded_with_every_row_kept(tmp_path):
    config = {"INSTANCE_PATH": str(tmp_path / "instance"), "TESTING": True}
    app = create_app(config)
    client = app.test_client()
    org, session = org_with_a_session(app, "Acme")
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


def test_a_version_2_database_gets_the_console_tables_and_keeps_every_row(tmp_path):
    config = {"INSTANCE_PATH": str(tmp_path / "instance"), "TESTING": True}
    app = create_app(config)
    client = app.test_client()
    org, session = org_with_a_session(app, "Kept Inc")
    path = f"{API}/sessions/{session['id']}/messages"
    assert_envelope(client.post(path, json={"content": "hello?"}, headers=org.headers), 201)
    database = tmp_path / "instance" / "companin.db"
    as_version_2(database)
    assert not set(VERSION_3_TABLES) & tables(database)
    kept = ("organization", "api_key", "assistant", "session", "message", "knowledge_source")
    before = {table: rows(database, table) for table in kept}

    upgraded = create_app(config)

    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT version FROM schema_version").fetchall() == [
            (CURRENT_VERSION,)
        ]
    assert set(VERSION_3_TABLES) <= tables(database)
    # Later versions add columns at the end: the old ones keep their values.
    assert {
        table: [row[: len(before[table][0])] for row in rows(database, table)] for table in kept
    } == before
    assert len(before["message"]) == 2
    # The old organization gets people who sign in, and its API goes on as before.
    with upgraded.app_context():
        create_user(org.organization_id, "ana@example.com", "owner", "Ana", "a long password 1")
    browser = upgraded.test_client()
    assert console_sign_in(browser, "ana@example.com", "a long password 1").status_code == 303
    assert "Kept Inc" in browser.get("/console/").get_data(as_text=True)
    assert len(assert_envelope(browser.get(path, headers=org.headers), 200)) == 2


def test_a_version_3_database_gets_take_over_and_invitations_and_keeps_every_row(tmp_path):
    config = {"INSTANCE_PATH": str(tmp_path / "instance"), "TESTING": True}
    app = create_app(config)
    org, session = org_with_a_session(app, "Kept Inc")
    path = f"{API}/sessions/{session['id']}/messages"
    reply = assert_envelope(
        app.test_client().post(path, json={"content": "hello?"}, headers=org.headers), 201
    )["assistant_message"]
    database = tmp_path / "instance" / "companin.db"
    as_version_3(database)
    assert "taken_over_by" not in columns(database, "session")
    before = rows(database, "session")

    create_app(config)

    for table in ("session", "conversation"):
        assert set(VERSION_4_COLUMNS) <= columns(database, table)
    assert {"invitation", "message_insights"} <= tables(database)
    after = rows(database, "session")
    assert [row[: len(before[0])] for row in after] == before
    # Not a test chat, not taken over, and its latest message is found for the inbox.
    (added,) = [row[len(before[0]) :] for row in after]
    assert added[:2] == (0, None)
    assert added[2].replace(" ", "T").startswith(reply["created_at"][:19])


def test_a_version_4_database_moves_its_uploads_into_the_database_and_queues_what_was_unfinished(
    tmp_path,
):
    config = {"INSTANCE_PATH": str(tmp_path / "instance"), "TESTING": True}
    app = create_app(config)
    client = app.test_client()
    org = new_org(app, "Files Ltd")
    texts = {
        "done.txt": b"Our warehouse in Ghent ships parcels every weekday before noon.",
        "interrupted.txt": b"The lighthouse keeper opens the lantern room with the code azure.",
    }
    ids = {}
    for name, data in texts.items():
        response = client.post(
            f"{API}/knowledge/files/", data={"file": (io.BytesIO(data), name)}, headers=org.headers
        )
        ids[name] = assert_envelope(response, 201)["id"]
    for source_id in ids.values():
        wait_until_settled(client, org, source_id)
    database = tmp_path / "instance" / "companin.db"
    as_version_4(database)
    with sqlite3.connect(database) as connection:  # the release-4 server died mid-ingest
        connection.execute(
            "UPDATE knowledge_source SET status = 'processing', chunk_count = 0 WHERE id = ?",
            (uuid.UUID(ids["interrupted.txt"]).hex,),
        )
    assert len(list((tmp_path / "instance" / "uploads").iterdir())) == 2

    upgraded = create_app(config)

    assert not (tmp_path / "instance" / "uploads").exists()
    with sqlite3.connect(database) as connection:
        kept = dict(connection.execute("SELECT source_id, data FROM knowledge_upload"))
        queued = connection.execute("SELECT source_id, full FROM ingestion_job").fetchall()
    assert {uuid.UUID(k): bytes(v) for k, v in kept.items()} == {
        uuid.UUID(ids[name]): data for name, data in texts.items()
    }
    assert queued == [(uuid.UUID(ids["interrupted.txt"]).hex, 1)]
    # A server on the upgraded instance finishes it from the bytes now in the database.
    state_of(upgraded).ingestion.start()
    finished = wait_until_settled(upgraded.test_client(), org, ids["interrupted.txt"])
    assert finished["status"] == "ready" and finished["chunk_count"] == 1


def wait_until_settled(client, org, source_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        source = assert_envelope(
            client.get(f"{API}/knowledge/sources/{source_id}", headers=org.headers), 200
        )
        if source["status"] != "processing":
            return source
        assert time.monotonic() < deadline, source
        time.sleep(0.05)
