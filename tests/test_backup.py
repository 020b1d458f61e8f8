"""`companin backup` and `companin restore` as an operator runs them, on the embedded default:
real SQLite, real embedded Chroma, the real MiniLM embedder, the command in its own process.

An instance in use is served by `companin serve` (another process), as it is in production;
the restored instance is then read through an app in this process, which never opened it
before (Chroma's embedded client keeps a folder open for the life of a process).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing
from pathlib import Path

import pytest
import requests
from conftest import Org, assert_envelope, companin_server, new_org
from engines import embedded_only

from companin import create_app
from companin.schema import CURRENT_VERSION

pytestmark = embedded_only(
    "backup and restore cover the embedded default (SQLite and the Chroma folder); "
    "PostgreSQL and a Chroma server have tools of their own"
)

API = "/api/v1"
RELEASE_4 = Path(__file__).parent / "fixtures" / "release-4"
SHIPPING = "Orders leave our warehouse within two working days; delivery takes three more."
POSTGRES_URL = "postgresql://companin_test:companin_test@127.0.0.1:5432/postgres"


def command(instance: Path, *args: str, **env: str) -> dict:
    """How to run the `companin` command on `instance`, with COMPANIN_* settings `env`."""
    environment = {**os.environ, "COMPANIN_INSTANCE_PATH": str(instance)}
    environment.update({f"COMPANIN_{name}": value for name, value in env.items()})
    return {"args": [sys.executable, "-m", "companin", *args], "env": environment, "text": True}


def companin(instance: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """The `companin` command, run to its end in a fresh process."""
    return subprocess.run(**command(instance, *args, **env), capture_output=True, timeout=180)


def succeeded(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


class Api:
    """An organization's calls to a served instance, checked against the envelope."""

    def __init__(self, url: str, org) -> None:
        self.url, self.headers = url + API, org.headers

    def __call__(self, method: str, path: str, status: int = 200, **request):
        response = requests.request(
            method, self.url + path, headers=self.headers, timeout=60, **request
        )
        assert response.status_code == status, response.text
        return response.json()["data"]


def read_state(call) -> dict:
    """What a client sees of the instance (for `call`, an Api or an in-process equivalent)."""
    return {
        "assistants": call("GET", "/assistants/"),
        "sources": sorted(call("GET", "/knowledge/sources/"), key=lambda s: s["id"]),
        "contexts": call("GET", "/contexts/"),
    }


def in_process(instance: Path, org):
    """Calls like Api's, to an app of this process on `instance`."""
    client = create_app({"INSTANCE_PATH": str(instance), "TESTING": True}).test_client()

    def call(method: str, path: str, status: int = 200, **request):
        response = client.open(API + path, method=method, headers=org.headers, **request)
        return assert_envelope(response, status)

    return call


def vector_search(call, query: str) -> list[dict]:
    """Search by the vectors alone: the keyword index lives in SQLite and would find text
    whose vectors are gone."""
    return call("POST", "/knowledge/search", json={"query": query, "mode": "vector"})


def upload(call, title: str, text: str) -> dict:
    files = {"file": (f"{title}.txt", text.encode())}
    source = call("POST", "/knowledge/files/", 201, data={"title": title}, files=files)
    deadline = time.monotonic() + 60
    while source["status"] == "processing" and time.monotonic() < deadline:
        time.sleep(0.1)
        source = call("GET", f"/knowledge/sources/{source['id']}")
    assert source["status"] == "ready", source
    return source


def rows(database: Path, sql: str) -> list[tuple]:
    with closing(sqlite3.connect(database)) as connection:
        return connection.execute(sql).fetchall()


# --- backup, change, restore ---------------------------------------------------------------


def test_restore_brings_back_the_instance_as_it_was_backed_up(tmp_path):
    instance, saved = tmp_path / "instance", tmp_path / "backup"
    org = new_org(create_app({"INSTANCE_PATH": str(instance), "TESTING": True}))
    with companin_server(instance, tmp_path) as server:
        call = Api(server.url, org)
        assistant = call("POST", "/assistants/", 201, json={"name": "Helper"})
        call("POST", "/contexts/", 201, json={"user_reference": "u1", "traits": {"plan": "pro"}})
        qa = {"question": "Do you refund?", "answer": "Yes, within 30 days."}
        call("POST", "/knowledge/qa/", 201, json=qa)
        shipping = upload(call, "Shipping", SHIPPING)
        chat = call("POST", "/sessions/", 201, json={"assistant_id": assistant["id"]})
        messages = f"/sessions/{chat['id']}/messages"
        call("POST", messages, 201, json={"content": "Do you refund?"})
        backed_up = {**read_state(call), "messages": call("GET", messages)}

        made = succeeded(companin(instance, "backup", str(saved)))  # while serving

        assert "2 chunk(s)" in made
        call("DELETE", f"/knowledge/sources/{shipping['id']}")
        added = call(
            "POST", "/knowledge/qa/", 201, json={"question": "Gift cards?", "answer": "No"}
        )
        call("POST", messages, 201, json={"content": "And gift cards?"})
    facts = json.loads((saved / "backup.json").read_text())
    assert facts["schema_version"] == CURRENT_VERSION
    assert facts["chunks"] == {org.organization_id: 2}

    restored = succeeded(companin(instance, "restore", str(saved)))

    assert "embedded again" not in restored and "Rebuilt" not in restored
    call = in_process(instance, org)
    assert {**read_state(call), "messages": call("GET", messages)} == backed_up
    assert vector_search(call, "How long does delivery take?")[0]["source_id"] == shipping["id"]
    assert added["id"] not in {p["source_id"] for p in vector_search(call, "Gift cards?")}
    # What the restore replaced is kept, with the change made after the backup.
    (kept,) = instance.glob("before-restore-*")
    assert rows(kept / "companin.db", "SELECT question FROM knowledge_source WHERE type='qa'") == [
        ("Do you refund?",),
        ("Gift cards?",),
    ]


def test_a_backup_taken_while_another_connection_writes_is_consistent(tmp_path):
    instance, saved = tmp_path / "instance", tmp_path / "backup"
    org = new_org(create_app({"INSTANCE_PATH": str(instance), "TESTING": True}))
    statuses: list[int] = []
    stop = threading.Event()
    with companin_server(instance, tmp_path) as server:

        def write() -> None:  # Q&A pairs, each one SQLite rows and Chroma vectors
            while not stop.is_set():
                pair = {"question": f"Question {len(statuses)}?", "answer": "An answer."}
                url = f"{server.url}{API}/knowledge/qa/"
                response = requests.post(url, json=pair, headers=org.headers, timeout=60)
                statuses.append(response.status_code)

        writer = threading.Thread(target=write)
        writer.start()
        try:
            while len(statuses) < 3:
                time.sleep(0.05)
            succeeded(companin(instance, "backup", str(saved)))
            written_at_backup = len(statuses)
            while len(statuses) < written_at_backup + 3:
                time.sleep(0.05)
        finally:
            stop.set()
            writer.join()

    assert set(statuses) == {201}  # no write failed while the backup held the lock
    database = saved / "companin.db"
    assert rows(database, "PRAGMA integrity_check") == [("ok",)]
    (in_backup,) = rows(database, "SELECT count(*) FROM knowledge_source")[0]
    assert 3 <= in_backup <= written_at_backup + 1 < len(statuses)
    facts = json.loads((saved / "backup.json").read_text())
    assert facts["chunks"] == {
        org.organization_id: rows(database, "SELECT count(*) FROM knowledge_chunk")[0][0]
    }
    # Every source the backup holds as ready has its vectors in the backup's Chroma.
    restored = succeeded(companin(tmp_path / "elsewhere", "restore", str(saved)))
    assert "embedded again" not in restored and "Rebuilt" not in restored


def test_a_backup_waits_for_a_write_in_progress_and_copies_it(tmp_path):
    instance, saved = tmp_path / "instance", tmp_path / "backup"
    shutil.copytree(RELEASE_4, instance)
    with closing(sqlite3.connect(instance / "companin.db", isolation_level=None)) as writer:
        writer.execute("PRAGMA journal_mode = wal")
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("UPDATE organization SET name = 'Renamed'")
        backup = subprocess.Popen(**command(instance, "backup", str(saved)))
        try:
            while not saved.exists():  # made just before the backup asks for the lock
                assert backup.poll() is None
                time.sleep(0.05)
            time.sleep(1)
            assert backup.poll() is None  # waiting for the write to end
        finally:
            writer.execute("COMMIT")
        assert backup.wait(timeout=60) == 0
    assert rows(saved / "companin.db", "SELECT DISTINCT name FROM organization") == [("Renamed",)]


# --- vectors lost or damaged -----------------------------------------------------------------


@pytest.fixture(scope="module")
def release_4_backup(tmp_path_factory) -> Path:
    """A backup of the previous release's instance (made by this code, which leaves the
    schema as it is: a backup never migrates)."""
    folder = tmp_path_factory.mktemp("release-4")
    shutil.copytree(RELEASE_4, folder / "instance", ignore=shutil.ignore_patterns("*.json"))
    succeeded(companin(folder / "instance", "backup", str(folder / "backup")))
    assert json.loads((folder / "backup" / "backup.json").read_text())["schema_version"] == 4
    return folder / "backup"


def lose_chroma(backup: Path) -> None:
    shutil.rmtree(backup / "chroma")


def damage_chroma(backup: Path) -> None:
    (backup / "chroma" / "chroma.sqlite3").write_bytes(b"not a database" * 1000)


@pytest.mark.parametrize("harm", [lose_chroma, damage_chroma])
def test_a_backup_whose_vectors_are_lost_is_repaired_on_restore(tmp_path, release_4_backup, harm):
    manifest = json.loads((RELEASE_4 / "manifest.json").read_text())
    saved = tmp_path / "backup"
    shutil.copytree(release_4_backup, saved)
    harm(saved)
    instance = tmp_path / "instance"

    restored = succeeded(companin(instance, "restore", str(saved)))

    assert f"schema version 4, now {CURRENT_VERSION}" in restored
    assert "Rebuilt every collection" in restored
    assert "embedded again: " in restored and "Returning a damaged parcel" in restored
    keys = manifest["org_a"]
    org = Org(keys["organization_id"], keys["client_id"], keys["client_secret"])
    call = in_process(instance, org)
    found = vector_search(call, manifest["search"]["query"])
    assert found[0]["title"] == manifest["search"]["title"]
    sources = call("GET", "/knowledge/sources/")
    assert {s["status"] for s in sources} == {"ready"} and len(sources) == 3


# --- what it refuses ---------------------------------------------------------------------------


def refused(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and result.stderr.startswith("Error: ")
    return result.stderr


def test_backup_refuses_a_folder_with_files_in_it(tmp_path):
    (tmp_path / "backup").mkdir()
    (tmp_path / "backup" / "keep.txt").write_text("mine")
    shutil.copytree(RELEASE_4, tmp_path / "instance")

    message = refused(companin(tmp_path / "instance", "backup", str(tmp_path / "backup")))

    assert "not an empty folder" in message
    assert [p.name for p in (tmp_path / "backup").iterdir()] == ["keep.txt"]


@pytest.mark.parametrize("command", ["backup", "restore"])
def test_postgresql_is_refused_with_its_own_tools_named(tmp_path, command):
    (tmp_path / "backup").mkdir()
    result = companin(tmp_path, command, str(tmp_path / "backup"), DATABASE_URL=POSTGRES_URL)
    message = refused(result)
    assert "pg_dump" in message and "pg_restore" in message


def test_a_chroma_server_is_refused_with_what_to_do_instead(tmp_path):
    result = companin(
        tmp_path, "backup", str(tmp_path / "backup"), CHROMA_URL="http://127.0.0.1:8010"
    )
    message = refused(result)
    assert "persist directory" in message and "companin reindex" in message


def test_restore_refuses_a_folder_that_is_not_a_backup(tmp_path):
    (tmp_path / "backup").mkdir()
    shutil.copy(RELEASE_4 / "companin.db", tmp_path / "backup")  # no backup.json: interrupted
    message = refused(companin(tmp_path / "instance", "restore", str(tmp_path / "backup")))
    assert "not a complete Companin backup" in message
    assert not (tmp_path / "instance").exists()
