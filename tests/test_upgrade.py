"""The instance of the current release (tests/fixtures/release-4, made by that release's own code
with tools/make-release-fixture) is upgraded by this code at start-up: every row is kept, and
its keys, chats, knowledge and uploaded files (moved into the database) go on working.

One app serves the module: the database binding is process-wide, so a second `create_app`
would move it onto another database.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import uuid
from contextlib import closing
from pathlib import Path

import pytest
from conftest import assert_envelope
from engines import embedded_only

from companin import create_app
from companin.db import db
from companin.models import KnowledgeSource
from companin.schema import CURRENT_VERSION
from companin.state import state_of

pytestmark = embedded_only(
    "the release-4 fixture is an embedded instance (SQLite and the Chroma folder), "
    "as that release's installs are"
)

API = "/api/v1"
FIXTURE = Path(__file__).parent / "fixtures" / "release-4"
MANIFEST = json.loads((FIXTURE / "manifest.json").read_text())
ORG_A = MANIFEST["org_a"]
HEADERS = {"X-API-Key": ORG_A["client_id"], "X-API-Secret": ORG_A["client_secret"]}


@pytest.fixture(scope="module")
def instance(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("upgrade") / "instance"
    shutil.copytree(FIXTURE, path, ignore=shutil.ignore_patterns("manifest.json"))
    return path


@pytest.fixture(scope="module")
def client(instance):
    return create_app({"INSTANCE_PATH": str(instance), "TESTING": True}).test_client()


def query(instance: Path, sql: str) -> list[tuple]:
    with closing(sqlite3.connect(instance / "companin.db")) as connection:
        return connection.execute(sql).fetchall()


def test_the_fixture_was_made_by_the_code_of_release_4():
    assert MANIFEST["made_by"]["schema_version"] == 4


def test_the_database_is_at_the_current_schema_version(client, instance):
    assert query(instance, "SELECT version FROM schema_version") == [(CURRENT_VERSION,)]


@pytest.mark.parametrize("table", sorted(MANIFEST["tables"]))
def test_every_row_of_every_table_is_kept(client, instance, table):
    expected = MANIFEST["tables"][table]
    column = "rowid" if expected["primary_key"] == "rowid" else f'"{expected["primary_key"]}"'
    kept = {row[0] for row in query(instance, f'SELECT {column} FROM "{table}"')}
    assert len(expected["keys"]) == expected["count"]
    assert set(expected["keys"]) <= kept


def test_the_server_key_still_works(client):
    assistants = assert_envelope(client.get(f"{API}/assistants/", headers=HEADERS), 200)
    assert [a["name"] for a in assistants] == ["Org A helper"]


@pytest.mark.parametrize("chat", ["session", "conversation"])
def test_a_chats_messages_are_read_back(client, chat):
    kept = ORG_A[chat]
    path = f"{API}/{chat}s/{kept['id']}/messages"
    messages = assert_envelope(client.get(path, headers=HEADERS), 200)
    assert [m["id"] for m in messages] == kept["message_ids"]
    assert messages[1]["feedback"]["rating"] == "up"
    assert messages[-1]["handoff"] is True
    details = assert_envelope(client.get(f"{API}/{chat}s/{kept['id']}", headers=HEADERS), 200)
    assert details["handoff"] is True


def test_search_finds_the_knowledge_of_the_release(client):
    found = assert_envelope(
        client.post(
            f"{API}/knowledge/search", json={"query": MANIFEST["search"]["query"]}, headers=HEADERS
        ),
        200,
    )
    assert found[0]["title"] == MANIFEST["search"]["title"]


def test_a_new_message_is_answered_from_the_kept_knowledge(client):
    path = f"{API}/sessions/{ORG_A['session']['id']}/messages"
    reply = assert_envelope(
        client.post(path, json={"content": "What are your opening hours?"}, headers=HEADERS), 201
    )["assistant_message"]
    assert reply["content"] == "Nine to five, Monday to Friday."
    history = assert_envelope(client.get(path, headers=HEADERS), 200)
    assert [m["id"] for m in history][-1] == reply["id"]


def test_uploaded_files_move_into_the_database_and_can_be_processed_again(client, instance):
    """Version 5 keeps uploads in the database: each file of the release's uploads folder
    is there now, byte for byte, the folder is gone, and the source can be processed again
    from those bytes (as another process would claim it: through the shared job queue)."""
    originals = {
        path.name: path.read_bytes() for path in (FIXTURE / "uploads").iterdir() if path.is_file()
    }
    moved = {row[0]: bytes(row[1]) for row in query(instance, "SELECT * FROM knowledge_upload")}
    assert moved == originals and len(originals) == len(ORG_A["file_sources"])
    assert not (instance / "uploads").exists()
    for kept in ORG_A["file_sources"]:
        source = assert_envelope(
            client.get(f"{API}/knowledge/sources/{kept['id']}", headers=HEADERS), 200
        )
        assert (source["status"], source["chunk_count"]) == ("ready", kept["chunk_count"])
        assert source["title"] == kept["title"]

    app = client.application
    ingestion = state_of(app).ingestion
    first = ORG_A["file_sources"][0]
    with app.app_context(), db.connection_context():
        source = KnowledgeSource.get_by_id(uuid.UUID(first["id"]))
        ingestion.run(source.id, full=True)  # reads the bytes from the database
        again = KnowledgeSource.get_by_id(source.id)
    assert (again.status, again.error, again.chunk_count) == ("ready", None, first["chunk_count"])
