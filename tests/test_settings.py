"""Settings and the database they point to, as an operator configures and relies on them.

Settings come from defaults, then `config.py` in the instance folder, then `COMPANIN_*`
environment variables, then (tests only) the mapping given to `create_app`. The database
is one SQLite file in the instance folder, safe for concurrent use and versioned.
"""

from __future__ import annotations

import re
from pathlib import Path

import jwt
import pytest
from conftest import Org, assert_envelope, bearer, widget_token
from engines import embedded_only, read_database

from companin import create_app
from companin.config import SETTINGS
from companin.schema import CURRENT_VERSION
from companin.services.organizations import create_organization

pytestmark = embedded_only(
    "every test starts from a clean environment, whose engines are the defaults"
)
README = Path(__file__).resolve().parent.parent / "README.md"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """Whatever the shell running the tests sets must not leak into these tests."""
    for setting in SETTINGS:
        monkeypatch.delenv(setting.env_var, raising=False)


@pytest.fixture
def instance(tmp_path) -> Path:
    path = tmp_path / "instance"
    path.mkdir()
    return path


def write_instance_config(instance: Path, text: str) -> None:
    (instance / "config.py").write_text(text)


def org_of(app) -> Org:
    with app.app_context():
        credentials = create_organization("Acme")
    return Org(credentials.organization_id, credentials.client_id, credentials.client_secret)


def rate_limit_of(app) -> str:
    """The per-organization limit an authenticated client is told about."""
    response = app.test_client().get("/api/v1/assistants/", headers=org_of(app).headers)
    assert_envelope(response, 200)
    return response.headers["X-RateLimit-Limit"]


def token_lifetime(client, org: Org) -> int:
    claims = jwt.decode(widget_token(client, org), options={"verify_signature": False})
    return claims["exp"] - claims["iat"]


def db_query(instance: Path, sql: str) -> list[tuple]:
    """Ask the database directly, through a connection of our own."""
    return read_database(instance, sql)


# --- where settings come from ------------------------------------------------------------


def test_defaults_apply(instance):
    app = create_app({"INSTANCE_PATH": str(instance)})

    for setting in SETTINGS:
        if setting.name != "INSTANCE_PATH":
            assert app.config[setting.name] == setting.default, setting.name
    assert rate_limit_of(app) == "1000"
    client, org = app.test_client(), org_of(app)
    assert token_lifetime(client, org) == 3600
    assert (instance / "companin.db").is_file()


def test_instance_config_file_sets_a_value(instance):
    write_instance_config(instance, 'RATE_LIMIT = "7/minute"\n')
    app = create_app({"INSTANCE_PATH": str(instance)})
    client, org = app.test_client(), org_of(app)

    for _ in range(7):
        response = client.get("/api/v1/assistants/", headers=org.headers)
        assert_envelope(response, 200)
        assert response.headers["X-RateLimit-Limit"] == "7"
    assert_envelope(client.get("/api/v1/assistants/", headers=org.headers), 429)


def test_environment_overrides_instance_config(instance, monkeypatch):
    write_instance_config(instance, 'RATE_LIMIT = "7/minute"\nWIDGET_TOKEN_TTL = 100\n')
    monkeypatch.setenv("COMPANIN_RATE_LIMIT", "9/minute")
    monkeypatch.setenv("COMPANIN_WIDGET_TOKEN_TTL", "200")
    app = create_app({"INSTANCE_PATH": str(instance)})

    assert rate_limit_of(app) == "9"
    assert token_lifetime(app.test_client(), org_of(app)) == 200


def test_test_config_overrides_environment_and_instance_config(instance, monkeypatch):
    write_instance_config(instance, 'RATE_LIMIT = "7/minute"\n')
    monkeypatch.setenv("COMPANIN_RATE_LIMIT", "9/minute")
    app = create_app({"INSTANCE_PATH": str(instance), "RATE_LIMIT": "11/minute"})

    assert rate_limit_of(app) == "11"


def test_instance_path_from_environment_moves_everything(tmp_path, monkeypatch):
    moved = tmp_path / "elsewhere" / "data"
    moved.mkdir(parents=True)
    write_instance_config(moved, 'RATE_LIMIT = "5/minute"\n')
    monkeypatch.setenv("COMPANIN_INSTANCE_PATH", str(moved))

    app = create_app({"TESTING": True})

    assert Path(app.instance_path) == moved
    assert (moved / "companin.db").is_file()
    assert (moved / "widget_token.key").is_file()
    # The config file is read from the moved folder too.
    assert rate_limit_of(app) == "5"


def test_relative_instance_path_is_taken_from_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COMPANIN_INSTANCE_PATH", "run/instance")

    create_app()

    assert (tmp_path / "run" / "instance" / "companin.db").is_file()


@pytest.mark.parametrize(
    "setting", [s for s in SETTINGS if type(s.default) is int], ids=lambda s: s.name
)
def test_integer_settings_parse_from_environment(setting, instance, monkeypatch):
    monkeypatch.setenv(setting.env_var, "1234")
    app = create_app({"INSTANCE_PATH": str(instance)})
    assert app.config[setting.name] == 1234
    assert type(app.config[setting.name]) is int


def test_body_limit_from_environment_is_enforced(instance, monkeypatch):
    monkeypatch.setenv("COMPANIN_MAX_REQUEST_BYTES", "400")
    app = create_app({"INSTANCE_PATH": str(instance)})
    client, org = app.test_client(), org_of(app)

    small = {"name": "Bot", "description": "d" * 100}
    assert_envelope(client.post("/api/v1/assistants/", json=small, headers=org.headers), 201)
    big = {"name": "Bot", "description": "d" * 1000}
    response = client.post("/api/v1/assistants/", json=big, headers=org.headers)
    assert_envelope(response, 413)
    assert len(assert_envelope(client.get("/api/v1/assistants/", headers=org.headers), 200)) == 1


def test_token_lifetime_from_environment(instance, monkeypatch):
    monkeypatch.setenv("COMPANIN_WIDGET_TOKEN_TTL", "120")
    app = create_app({"INSTANCE_PATH": str(instance)})
    client, org = app.test_client(), org_of(app)

    response = client.post("/api/v1/auth/widget-token", json={"client_id": org.client_id})
    assert assert_envelope(response, 200)["expires_in"] == 120
    assert token_lifetime(client, org) == 120


# --- the database ------------------------------------------------------------------------


def test_database_is_sqlite_in_wal_mode(instance):
    create_app({"INSTANCE_PATH": str(instance)})
    # WAL is a property of the file: a fresh connection of our own sees it.
    assert db_query(instance, "PRAGMA journal_mode") == [("wal",)]


def test_foreign_keys_cascade_when_an_assistant_is_deleted(instance):
    app = create_app({"INSTANCE_PATH": str(instance)})
    client, org = app.test_client(), org_of(app)
    headers = org.headers
    assistant = assert_envelope(
        client.post("/api/v1/assistants/", json={"name": "Doomed"}, headers=headers), 201
    )
    keep = assert_envelope(
        client.post("/api/v1/assistants/", json={"name": "Kept"}, headers=headers), 201
    )
    children = {}
    for path, body in [
        ("/api/v1/widget-configs/", {}),
        ("/api/v1/sessions/", {"visitor_id": "v1"}),
        ("/api/v1/conversations/", {"customer_id": "c1"}),
    ]:
        for owner in (assistant, keep):
            created = client.post(path, json={"assistant_id": owner["id"], **body}, headers=headers)
            children[(path, owner["id"])] = assert_envelope(created, 201)["id"]

    assert_envelope(client.delete(f"/api/v1/assistants/{assistant['id']}", headers=headers), 200)

    for (path, owner_id), child_id in children.items():
        expected = 404 if owner_id == assistant["id"] else 200
        assert_envelope(client.get(f"{path}{child_id}", headers=headers), expected)
    for table in ("widget_config", "session", "conversation"):
        assert db_query(instance, f"SELECT count(*) FROM {table}") == [(1,)]


def test_schema_version_is_recorded_once(instance):
    create_app({"INSTANCE_PATH": str(instance)})
    assert db_query(instance, "SELECT version FROM schema_version") == [(CURRENT_VERSION,)]
    create_app({"INSTANCE_PATH": str(instance)})
    assert db_query(instance, "SELECT version FROM schema_version") == [(CURRENT_VERSION,)]


def test_restarting_on_an_existing_instance_keeps_data_and_tokens(instance):
    first = create_app({"INSTANCE_PATH": str(instance)})
    client, org = first.test_client(), org_of(first)
    assistant = assert_envelope(
        client.post("/api/v1/assistants/", json={"name": "Kept"}, headers=org.headers), 201
    )
    token = widget_token(client, org)

    restarted = create_app({"INSTANCE_PATH": str(instance)}).test_client()

    fetched = assert_envelope(
        restarted.get(f"/api/v1/assistants/{assistant['id']}", headers=org.headers), 200
    )
    assert fetched == assistant
    # Visitors' tokens outlive a restart: the signing key is kept too.
    session = restarted.post(
        "/api/v1/sessions/", json={"assistant_id": assistant["id"]}, headers=bearer(token)
    )
    assert_envelope(session, 201)


# --- the README --------------------------------------------------------------------------


def readme_default(value: object) -> re.Pattern[str]:
    """How a default is written in the README's row for its setting."""
    if value == "":
        return re.compile(r"\bempty\b|``|\"\"", re.IGNORECASE)
    text = str(value).lower() if isinstance(value, bool) else str(value)
    # A whole token: the default 0 must not be found inside 10000 or X-Forwarded-For.
    return re.compile(rf"(?<![\w/.-]){re.escape(text)}(?![\w/.-])")


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_readme_lists_every_setting_with_its_default(setting):
    rows = [line for line in README.read_text().splitlines() if f"`{setting.env_var}`" in line]
    assert rows, f"README.md does not list `{setting.env_var}`"
    # The default is on the line that names the variable, but is not the variable itself.
    rest = [row.replace(f"`{setting.env_var}`", "") for row in rows]
    assert any(readme_default(setting.default).search(row) for row in rest), (
        f"README.md does not give {setting.env_var}'s default {setting.default!r}: {rows}"
    )
