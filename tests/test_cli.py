"""The `companin` command as a user runs it: init, demo, organizations' keys, and serve.

Every command runs in a fresh process on its own instance folder; what it prints is then
used against the API, the way a user would paste it into their backend.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import requests
from conftest import assert_envelope, bearer, companin_server, run_cli
from engines import embedded_only, read_database

from companin import create_app
from companin.schema import CURRENT_VERSION

CREDENTIAL_KEYS = {"organization_id", "client_id", "client_secret"}
DEMO_KEYS = CREDENTIAL_KEYS | {"assistant_id", "widget_config_id"}


@pytest.fixture
def instance(tmp_path) -> Path:
    return tmp_path / "instance"


def server_headers(credentials: dict[str, str]) -> dict[str, str]:
    return {"X-API-Key": credentials["client_id"], "X-API-Secret": credentials["client_secret"]}


def labelled_values(stdout: str, keys: set[str]) -> dict[str, str]:
    """The `key: value` lines of a human-readable output, for the keys asked for."""
    found = {}
    for line in stdout.splitlines():
        key, sep, value = line.strip().partition(":")
        if sep and key.strip() in keys:
            found[key.strip()] = value.strip()
    return found


def count_rows(instance: Path, table: str) -> int:
    return read_database(instance, f"SELECT count(*) FROM {table}")[0][0]


def create_org(instance: Path, name: str = "Acme") -> dict[str, str]:
    return json.loads(run_cli(instance, "create-org", name, "--json").stdout)


# --- the installed command ---------------------------------------------------------------


def test_console_script_is_installed_next_to_python():
    # `make run` and the README call `.venv/bin/companin`, not `python -m companin`.
    script = shutil.which("companin", path=str(Path(sys.executable).parent))
    assert script is not None
    result = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    for command in ("init", "create-org", "rotate-secret", "serve"):
        assert command in result.stdout


# --- init --------------------------------------------------------------------------------


def test_init_creates_instance_with_private_signing_key(instance):
    result = run_cli(instance, "init")
    assert result.returncode == 0
    assert str(instance) in result.stdout
    assert read_database(instance, "SELECT version FROM schema_version") == [(CURRENT_VERSION,)]
    key_file = instance / "widget_token.key"
    # The key signs every widget token: nobody but its owner may read it.
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_text().strip()


def test_init_again_keeps_key_and_data(instance):
    run_cli(instance, "init")
    key = (instance / "widget_token.key").read_bytes()
    credentials = create_org(instance)

    result = run_cli(instance, "init")

    assert result.returncode == 0
    # A new key would log every visitor out; a new database would lose every organization.
    assert (instance / "widget_token.key").read_bytes() == key
    assert count_rows(instance, "organization") == 1
    client = create_app({"INSTANCE_PATH": str(instance)}).test_client()
    assert_envelope(client.get("/api/v1/assistants/", headers=server_headers(credentials)), 200)


# --- init --demo -------------------------------------------------------------------------


def test_init_demo_prints_the_same_credentials_every_time(instance):
    first = run_cli(instance, "init", "--demo")
    demo = labelled_values(first.stdout, DEMO_KEYS)
    assert set(demo) == DEMO_KEYS, first.stdout
    assert demo["client_id"] and demo["client_secret"]
    for key in ("organization_id", "assistant_id", "widget_config_id"):
        assert uuid.UUID(demo[key]).version == 4

    second = run_cli(instance, "init", "--demo")

    assert labelled_values(second.stdout, DEMO_KEYS) == demo
    assert count_rows(instance, "organization") == 1
    assert count_rows(instance, "assistant") == 1
    # The file that keeps the demo secret between runs is as private as the signing key.
    kept = [p for p in instance.iterdir() if p.suffix == ".json"]
    assert kept and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in kept)


def test_init_demo_credentials_work_against_the_api(instance):
    demo = labelled_values(run_cli(instance, "init", "--demo").stdout, DEMO_KEYS)
    client = create_app({"INSTANCE_PATH": str(instance)}).test_client()

    assistants = assert_envelope(
        client.get("/api/v1/assistants/", headers=server_headers(demo)), 200
    )
    assert demo["assistant_id"] in [a["id"] for a in assistants]

    # What the demo page's widget does: a token from the client id alone, then its config.
    response = client.post("/api/v1/auth/widget-token", json={"client_id": demo["client_id"]})
    token = assert_envelope(response, 200)["token"]
    config = assert_envelope(
        client.get(f"/api/v1/widget-configs/{demo['widget_config_id']}", headers=bearer(token)),
        200,
    )
    assert config["id"] == demo["widget_config_id"]
    assert config["assistant_id"] == demo["assistant_id"]


# --- create-org --------------------------------------------------------------------------


def test_create_org_json_prints_one_object_that_works(instance):
    result = run_cli(instance, "create-org", "Acme Inc", "--json")

    # Scripts pipe this into jq or json.loads: stdout must hold the object and nothing else.
    assert len(result.stdout.strip().splitlines()) == 1
    credentials = json.loads(result.stdout)
    assert set(credentials) == CREDENTIAL_KEYS
    assert uuid.UUID(credentials["organization_id"]).version == 4

    client = create_app({"INSTANCE_PATH": str(instance)}).test_client()
    created = assert_envelope(
        client.post(
            "/api/v1/assistants/", json={"name": "Bot"}, headers=server_headers(credentials)
        ),
        201,
    )
    listed = assert_envelope(
        client.get("/api/v1/assistants/", headers=server_headers(credentials)), 200
    )
    assert [a["id"] for a in listed] == [created["id"]]


def test_create_org_prints_readable_credentials_that_work(instance):
    result = run_cli(instance, "create-org", "Acme Inc")

    with pytest.raises(json.JSONDecodeError):
        json.loads(result.stdout)
    credentials = labelled_values(result.stdout, CREDENTIAL_KEYS)
    assert set(credentials) == CREDENTIAL_KEYS, result.stdout
    client = create_app({"INSTANCE_PATH": str(instance)}).test_client()
    assert_envelope(client.get("/api/v1/assistants/", headers=server_headers(credentials)), 200)


def test_each_create_org_is_a_separate_organization(instance):
    first, second = create_org(instance, "One"), create_org(instance, "Two")
    assert first["organization_id"] != second["organization_id"]
    assert first["client_id"] != second["client_id"]
    client = create_app({"INSTANCE_PATH": str(instance)}).test_client()
    created = assert_envelope(
        client.post("/api/v1/assistants/", json={"name": "Bot"}, headers=server_headers(first)),
        201,
    )
    response = client.get(f"/api/v1/assistants/{created['id']}", headers=server_headers(second))
    assert_envelope(response, 404)


# --- rotate-secret -----------------------------------------------------------------------


def test_rotate_secret_replaces_the_old_secret(instance):
    old = create_org(instance)

    result = run_cli(instance, "rotate-secret", old["client_id"], "--json")

    new = json.loads(result.stdout)
    assert set(new) == CREDENTIAL_KEYS
    assert new["client_id"] == old["client_id"]
    assert new["organization_id"] == old["organization_id"]
    assert new["client_secret"] != old["client_secret"]
    client = create_app({"INSTANCE_PATH": str(instance)}).test_client()
    assert_envelope(client.get("/api/v1/assistants/", headers=server_headers(old)), 401)
    assert_envelope(client.get("/api/v1/assistants/", headers=server_headers(new)), 200)


def test_rotate_secret_of_unknown_client_fails_cleanly(instance):
    create_org(instance)

    result = run_cli(instance, "rotate-secret", "cmp_doesnotexist", "--json", check=False)

    assert result.returncode != 0
    assert result.stdout == ""
    assert "cmp_doesnotexist" in result.stderr
    assert "Traceback" not in result.stderr


# --- serve -------------------------------------------------------------------------------

MAX_REQUEST_BYTES = 2000


@pytest.fixture
def served(instance, tmp_path):
    """An organization and a `companin serve` process on its instance, with a small body cap."""
    credentials = create_org(instance)
    env = {"COMPANIN_MAX_REQUEST_BYTES": str(MAX_REQUEST_BYTES)}
    with companin_server(instance, tmp_path, threads=4, env=env) as server:
        yield server, credentials


def test_serve_answers_real_http_requests(served):
    server, credentials = served
    headers = server_headers(credentials)
    with requests.Session() as http:
        created = http.post(
            server.url + "/api/v1/assistants/",
            json={"name": "Bot", "description": "d" * (MAX_REQUEST_BYTES // 2)},
            headers={**headers, "X-Request-ID": "cli-test-1"},
            timeout=10,
        )
        assert created.status_code == 201, created.text
        assert created.headers["X-Request-ID"] == "cli-test-1"
        assistant_id = created.json()["data"]["id"]

        fetched = http.get(f"{server.url}/api/v1/assistants/{assistant_id}", headers=headers)
        assert fetched.status_code == 200
        assert fetched.json()["data"]["name"] == "Bot"

        denied = http.get(server.url + "/api/v1/assistants/", timeout=10)
        assert denied.status_code == 401
        assert denied.json()["status"] == "error"
    assert "Traceback" not in server.stderr()


def test_serve_refuses_a_body_over_the_limit_and_keeps_serving(served):
    server, credentials = served
    with requests.Session() as http:
        response = http.post(
            server.url + "/api/v1/assistants/",
            json={"name": "Bot", "description": "d" * (MAX_REQUEST_BYTES * 2)},
            headers=server_headers(credentials),
            timeout=10,
        )
        assert response.status_code == 413
        assert "Traceback" not in response.text

        after = http.get(server.url + "/api/v1/assistants/", headers=server_headers(credentials))
        assert after.status_code == 200
        assert after.json()["data"] == []  # the refused body created nothing
    assert "Traceback" not in server.stderr()


def test_serve_refuses_a_body_over_the_limit_with_the_envelope(served):
    server, credentials = served
    response = requests.post(
        server.url + "/api/v1/assistants/",
        json={"name": "Bot", "description": "d" * (MAX_REQUEST_BYTES * 2)},
        headers=server_headers(credentials),
        timeout=10,
    )
    assert response.status_code == 413
    assert response.headers.get("X-Request-ID")
    body = response.json()
    assert body["status"] == "error" and body["status_code"] == 413 and body["data"] is None


def test_serve_stops_when_terminated(instance, tmp_path):
    with companin_server(instance, tmp_path, threads=4) as server:
        assert requests.get(server.url + "/healthz", timeout=5).json()["data"]["database"] == "ok"
    # The context manager terminated it; it must be gone, not left listening.
    assert server.process.returncode is not None
    with pytest.raises(requests.ConnectionError):
        requests.get(server.url + "/healthz", timeout=2)


@embedded_only(
    "takes an SQLite file back to version 3 by hand (PostgreSQL's migrations: test_postgres)"
)
def test_migrate_brings_an_older_database_to_this_release(instance):
    run_cli(instance, "init")
    database = instance / "companin.db"
    with sqlite3.connect(database) as connection:
        connection.execute("DROP TABLE invitation")  # as version 3 had it
        connection.execute("UPDATE schema_version SET version = 3")
        for table in ("session", "conversation"):
            connection.execute(f'DROP INDEX "{table}_last_message_at"')
            for column in ("taken_over_by", "last_message_at", "is_test"):
                connection.execute(f'ALTER TABLE "{table}" DROP COLUMN "{column}"')
        connection.execute('DROP INDEX "message_insights"')

    result = run_cli(instance, "migrate")

    assert f"Database schema at version {CURRENT_VERSION}" in result.stdout
    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT version FROM schema_version").fetchall() == [
            (CURRENT_VERSION,)
        ]
        assert connection.execute("SELECT count(*) FROM invitation").fetchone() == (0,)
