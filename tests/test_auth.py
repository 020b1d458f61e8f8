"""Authentication: server keys, widget tokens and what each may reach, failure by failure.

Every refusal must come back as the error envelope with a `detail` that tells the caller
what is wrong, and never echo a secret or token back.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import stat
import time
import uuid

import jwt
import pytest
from conftest import assert_envelope, bearer, run_cli, widget_token
from engines import read_database

from companin import create_app

KEY_FILE = "widget_token.key"
SHOP = "https://shop.example.com"
EVIL = "https://evil.example"


# --- helpers -----------------------------------------------------------------------------


def assert_refused(response, status_code: int, *words: str, hidden: tuple[str, ...] = ()) -> str:
    """The error envelope with data null, a detail naming the problem, and no secret in it."""
    assert assert_envelope(response, status_code) is None
    detail = response.get_json()["detail"]
    for word in words:
        assert word.lower() in detail.lower(), detail
    body = response.get_data(as_text=True)
    for secret in hidden:
        assert secret not in body
        assert all(secret not in value for _, value in response.headers)
    return detail


def signing_key(app) -> bytes:
    with open(os.path.join(app.instance_path, KEY_FILE)) as handle:
        return bytes.fromhex(handle.read().strip())


def unverified_claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def craft(key: bytes | str, claims: dict, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


def open_session(client, token: str, assistant_id: str, **headers: str):
    """The first thing a widget does with its token."""
    return client.post(
        "/api/v1/sessions/", json={"assistant_id": assistant_id}, headers=bearer(token, **headers)
    )


def create(client, org, path: str, **fields) -> dict:
    return assert_envelope(client.post(path, json=fields, headers=org.headers), 201)


@pytest.fixture
def config(client, org, assistant) -> dict:
    return create(client, org, "/api/v1/widget-configs/", assistant_id=assistant["id"])


@pytest.fixture
def real_claims(client, org) -> dict:
    """The claims of a token the server issued, to build forged variants from."""
    return unverified_claims(widget_token(client, org))


# --- server keys -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/assistants/"),
        ("POST", "/api/v1/sessions/"),
        ("GET", "/api/v1/widget-configs/00000000-0000-4000-8000-000000000000"),
        ("GET", "/api/v1/sessions/00000000-0000-4000-8000-000000000000/messages"),
    ],
)
def test_no_credentials_is_401(client, method, path):
    response = client.open(path, method=method, json={} if method == "POST" else None)
    assert_refused(response, 401, "authentication required")


@pytest.mark.parametrize("sent", ["X-API-Key", "X-API-Secret"])
def test_only_one_server_header_is_401(client, org, sent):
    response = client.get("/api/v1/assistants/", headers={sent: org.headers[sent]})
    # The detail must tell which pair is expected, without echoing the half that was sent.
    assert_refused(response, 401, "X-API-Key", "X-API-Secret", hidden=(org.client_secret,))


@pytest.mark.parametrize("wrong", ["cms_" + "x" * 43, "", " "])
def test_wrong_secret_is_401(client, org, wrong):
    headers = {"X-API-Key": org.client_id, "X-API-Secret": wrong}
    response = client.get("/api/v1/assistants/", headers=headers)
    hidden = (org.client_secret, wrong) if wrong.strip() else (org.client_secret,)
    assert_refused(response, 401, hidden=hidden)


def test_wrong_secret_detail_says_key_or_secret_is_invalid(client, org):
    headers = {"X-API-Key": org.client_id, "X-API-Secret": org.client_secret + "x"}
    response = client.get("/api/v1/assistants/", headers=headers)
    assert_refused(response, 401, "invalid", hidden=(org.client_secret,))


def test_unknown_client_id_is_401(client, org):
    headers = {"X-API-Key": "cmp_" + "0" * 24, "X-API-Secret": org.client_secret}
    response = client.get("/api/v1/assistants/", headers=headers)
    assert_refused(response, 401, "invalid", hidden=(org.client_secret,))


def test_another_orgs_secret_does_not_open_this_orgs_key(client, org, other_org):
    headers = {"X-API-Key": org.client_id, "X-API-Secret": other_org.client_secret}
    response = client.get("/api/v1/assistants/", headers=headers)
    assert_refused(response, 401, hidden=(org.client_secret, other_org.client_secret))


def test_rotated_secret_replaces_the_old_one(app, client, org, assistant):
    result = run_cli(app.instance_path, "rotate-secret", org.client_id, "--json")
    rotated = json.loads(result.stdout)
    assert rotated["client_id"] == org.client_id
    assert rotated["organization_id"] == org.organization_id
    assert rotated["client_secret"] != org.client_secret

    old = client.get("/api/v1/assistants/", headers=org.headers)
    assert_refused(old, 401, hidden=(org.client_secret, rotated["client_secret"]))

    new_headers = {"X-API-Key": org.client_id, "X-API-Secret": rotated["client_secret"]}
    listed = assert_envelope(client.get("/api/v1/assistants/", headers=new_headers), 200)
    assert [row["id"] for row in listed] == [assistant["id"]]


def test_rotating_an_unknown_client_id_fails(app):
    result = run_cli(app.instance_path, "rotate-secret", "cmp_does_not_exist", check=False)
    assert result.returncode != 0
    assert "cmp_does_not_exist" in result.stderr


def test_client_secret_is_never_stored_in_clear_text(app, client, org, assistant):
    # Read every file of the database, the WAL included, as an attacker with the disk would
    # (on PostgreSQL, whose files are not ours to read, every row of the keys table).
    stored = repr(read_database(app.instance_path, "SELECT * FROM api_key")).encode()
    for name in os.listdir(app.instance_path):
        if name.startswith("companin.db"):
            with open(os.path.join(app.instance_path, name), "rb") as handle:
                stored += handle.read()
    # The client id is stored in clear, so finding it shows these bytes hold the keys table.
    assert org.client_id.encode() in stored
    assert org.client_secret.encode() not in stored
    assert org.client_secret.removeprefix("cms_").encode() not in stored


# --- widget tokens: forged, expired, malformed -------------------------------------------


def test_a_token_signed_with_the_instance_key_is_accepted(app, client, org, assistant, real_claims):
    # The control for the forgeries below: the same recipe with valid claims works.
    token = craft(signing_key(app), {**real_claims, "jti": uuid.uuid4().hex})
    assert_envelope(open_session(client, token, assistant["id"]), 201)


def test_expired_token_is_401(app, client, org, assistant, real_claims):
    now = int(time.time())
    claims = {**real_claims, "iat": now - 7200, "exp": now - 3600}
    token = craft(signing_key(app), claims)
    response = open_session(client, token, assistant["id"])
    assert_refused(response, 401, "expired", hidden=(token,))


def _unsigned(claims: dict) -> str:
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


FORGERIES = {
    "another key": lambda key, claims: craft(secrets.token_bytes(64), claims),
    "alg none": lambda key, claims: _unsigned(claims),
    "alg none, signature kept": lambda key, claims: (
        _unsigned(claims) + craft(key, claims).split(".")[2]
    ),
    "HS512 with the instance key": lambda key, claims: craft(key, claims, "HS512"),
    "wrong audience": lambda key, claims: craft(key, {**claims, "aud": "someone-else"}),
    "wrong issuer": lambda key, claims: craft(key, {**claims, "iss": "https://evil.example"}),
    "no audience": lambda key, claims: craft(key, {k: v for k, v in claims.items() if k != "aud"}),
    "no expiry": lambda key, claims: craft(key, {k: v for k, v in claims.items() if k != "exp"}),
    "no organization": lambda key, claims: craft(
        key, {k: v for k, v in claims.items() if k != "org"}
    ),
    "organization not a uuid": lambda key, claims: craft(key, {**claims, "org": "acme"}),
    "garbage": lambda key, claims: "not-a-jwt",
    "three garbage parts": lambda key, claims: "aaa.bbb.ccc",
}


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_forged_or_malformed_token_is_401(app, client, org, assistant, real_claims, forgery):
    token = FORGERIES[forgery](signing_key(app), {**real_claims, "jti": uuid.uuid4().hex})
    response = open_session(client, token, assistant["id"])
    assert_refused(response, 401, "token", hidden=(token,))


def test_token_with_its_organization_swapped_is_401(client, org, other_org, assistant):
    # Keep org B's signature, claim org A in the payload: the signature no longer matches.
    header, _, signature = widget_token(client, other_org).split(".")
    claims = unverified_claims(widget_token(client, org))
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    response = open_session(client, f"{header}.{payload}.{signature}", assistant["id"])
    assert_refused(response, 401, "token")


@pytest.mark.parametrize(
    "authorization",
    ["Bearer", "Bearer ", "Bearer    ", "Basic dXNlcjpwYXNzd29yZA==", "Token {token}", "{token}"],
)
def test_malformed_authorization_header_is_401(client, org, assistant, authorization):
    token = widget_token(client, org)
    headers = {"Authorization": authorization.format(token=token)}
    response = client.post(
        "/api/v1/sessions/", json={"assistant_id": assistant["id"]}, headers=headers
    )
    assert_refused(response, 401, hidden=(token,))


# --- widget tokens: what they may reach --------------------------------------------------


def test_another_organizations_token_gets_404_on_this_orgs_rows(client, org, other_org, config):
    mine = widget_token(client, org, visitor_key="visitor-key-of-org-a-0001")
    session = assert_envelope(open_session(client, mine, config["assistant_id"]), 201)

    # Org B's token, even with the same visitor key, must not learn that these ids exist.
    theirs = widget_token(client, other_org, visitor_key="visitor-key-of-org-a-0001")
    for path in (
        f"/api/v1/sessions/{session['id']}",
        f"/api/v1/sessions/{session['id']}/messages",
        f"/api/v1/widget-configs/{config['id']}",
    ):
        assert_refused(client.get(path, headers=bearer(theirs)), 404)
        assert_envelope(client.get(path, headers=bearer(mine)), 200)


NAMED = {"name": "Taken over"}
HIJACK = {"visitor_id": "hijacker", "metadata": {"hijacked": True}}
SERVER_ONLY = [
    ("GET", "/api/v1/assistants/", None),
    ("POST", "/api/v1/assistants/", NAMED),
    ("GET", "/api/v1/assistants/{assistant}", None),
    ("PATCH", "/api/v1/assistants/{assistant}", NAMED),
    ("DELETE", "/api/v1/assistants/{assistant}", None),
    ("GET", "/api/v1/sessions/", None),
    ("PATCH", "/api/v1/sessions/{session}", HIJACK),
    ("DELETE", "/api/v1/sessions/{session}", None),
    ("GET", "/api/v1/conversations/", None),
    ("POST", "/api/v1/conversations/", {"assistant_id": "{assistant}", "customer_id": "u-1"}),
    ("GET", "/api/v1/widget-configs/", None),
    ("POST", "/api/v1/widget-configs/", {"assistant_id": "{assistant}"}),
    ("PATCH", "/api/v1/widget-configs/{config}", {"allowed_origins": ["https://evil.example"]}),
    ("DELETE", "/api/v1/widget-configs/{config}", None),
    ("GET", "/api/v1/contexts/", None),
    ("POST", "/api/v1/contexts/", {"user_reference": "u-1", "traits": {"tier": "gold"}}),
    ("PUT", "/api/v1/contexts/u-1", {"traits": {"tier": "gold"}}),
]


@pytest.mark.parametrize(("method", "template", "body"), SERVER_ONLY)
def test_widget_token_on_a_server_only_route_is_403(client, org, config, method, template, body):
    token = widget_token(client, org)
    session = assert_envelope(open_session(client, token, config["assistant_id"]), 201)
    ids = {"assistant": config["assistant_id"], "session": session["id"], "config": config["id"]}
    # Bodies a server key would have succeeded with, so that only the credential is refused.
    if body is not None:
        body = {k: v.format(**ids) if isinstance(v, str) else v for k, v in body.items()}
    response = client.open(template.format(**ids), method=method, json=body, headers=bearer(token))
    assert_refused(response, 403, "server key", hidden=(token,))

    # Nothing was changed, created or removed behind the refusal.
    kept = assert_envelope(
        client.get(f"/api/v1/sessions/{session['id']}", headers=org.headers), 200
    )
    assert kept["metadata"] != {"hijacked": True}
    configs = assert_envelope(client.get("/api/v1/widget-configs/", headers=org.headers), 200)
    assert [(row["id"], row.get("allowed_origins") or []) for row in configs] == [
        (config["id"], [])
    ]
    listed = assert_envelope(client.get("/api/v1/assistants/", headers=org.headers), 200)
    assert [row["name"] for row in listed] == ["Helper"]
    for path in ("/api/v1/conversations/", "/api/v1/contexts/"):
        assert assert_envelope(client.get(path, headers=org.headers), 200) == []


def test_widget_token_sets_its_own_sessions_metadata_and_locale_only(client, org, config):
    token = widget_token(client, org, visitor_key="visitor-key-of-org-a-0001")
    session = assert_envelope(open_session(client, token, config["assistant_id"]), 201)
    identity = {"identity": {"user_reference": "cust-42", "traits": {"plan": "premium"}}}
    changed = assert_envelope(
        client.patch(
            f"/api/v1/sessions/{session['id']}",
            json={"metadata": identity, "locale": "fr-BE"},
            headers=bearer(token),
        ),
        200,
    )
    assert (changed["metadata"], changed["locale"]) == (identity, "fr-BE")

    # Not the handoff (the team's to clear), and not another visitor's session.
    assert_refused(
        client.patch(
            f"/api/v1/sessions/{session['id']}", json={"handoff": False}, headers=bearer(token)
        ),
        403,
        "metadata and locale",
    )
    stranger = widget_token(client, org, visitor_key="visitor-key-of-someone-else")
    assert_refused(
        client.patch(
            f"/api/v1/sessions/{session['id']}", json={"metadata": {}}, headers=bearer(stranger)
        ),
        404,
    )
    kept = client.get(f"/api/v1/sessions/{session['id']}", headers=org.headers)
    assert assert_envelope(kept, 200)["metadata"] == identity


def test_widget_token_opens_sessions_for_active_assistants_only(client, org, assistant):
    inactive = create(client, org, "/api/v1/assistants/", name="Retired", is_active=False)
    token = widget_token(client, org)

    opened = assert_envelope(open_session(client, token, assistant["id"]), 201)
    assert opened["assistant_id"] == assistant["id"]
    assert_refused(open_session(client, token, inactive["id"]), 403, "not active")
    # The server key may still open one: the refusal is the widget's scope, not the assistant.
    assert_envelope(
        client.post(
            "/api/v1/sessions/", json={"assistant_id": inactive["id"]}, headers=org.headers
        ),
        201,
    )


def test_token_bound_to_an_assistant_opens_sessions_for_it_only(client, org, assistant):
    other = create(client, org, "/api/v1/assistants/", name="Sales")
    token = widget_token(client, org, assistant_id=assistant["id"])

    assert_refused(open_session(client, token, other["id"]), 403, "assistant")
    assert_envelope(open_session(client, token, assistant["id"]), 201)


def test_token_bound_to_a_config_opens_sessions_for_its_assistant_only(client, org, config):
    other = create(client, org, "/api/v1/assistants/", name="Sales")
    token = widget_token(client, org, config_id=config["id"])

    assert_refused(open_session(client, token, other["id"]), 403, "assistant")
    assert_envelope(open_session(client, token, config["assistant_id"]), 201)


def test_widget_reads_only_the_sessions_its_visitor_created(client, org, assistant):
    visitor_key = "k7Jx2-visitor-key-0123456789"
    first = widget_token(client, org, visitor_key=visitor_key)
    session = assert_envelope(open_session(client, first, assistant["id"]), 201)
    paths = (f"/api/v1/sessions/{session['id']}", f"/api/v1/sessions/{session['id']}/messages")

    for path in paths:
        assert_envelope(client.get(path, headers=bearer(first)), 200)

    # Another visitor of the same organization: as if the session did not exist.
    for stranger in (
        widget_token(client, org),
        widget_token(client, org, visitor_key="another-visitor-key-98765"),
    ):
        for path in paths:
            assert_refused(client.get(path, headers=bearer(stranger)), 404)

    # The same visitor, back with a later token: still theirs.
    later = widget_token(client, org, visitor_key=visitor_key)
    assert later != first
    fetched = assert_envelope(client.get(paths[0], headers=bearer(later)), 200)
    assert fetched["id"] == session["id"]
    assert assert_envelope(client.get(paths[1], headers=bearer(later)), 200) == []


def test_widget_cannot_read_a_session_the_server_opened(client, org, assistant):
    session = create(client, org, "/api/v1/sessions/", assistant_id=assistant["id"])
    token = widget_token(client, org)
    assert_refused(client.get(f"/api/v1/sessions/{session['id']}", headers=bearer(token)), 404)


def test_widget_token_reads_a_widget_config(client, org, config):
    token = widget_token(client, org)
    response = client.get(f"/api/v1/widget-configs/{config['id']}", headers=bearer(token))
    fetched = assert_envelope(response, 200)
    assert fetched["id"] == config["id"]
    assert fetched["assistant_id"] == config["assistant_id"]


# --- widget token issuance ---------------------------------------------------------------


def test_issuance_with_an_unknown_client_id_is_401(client, org):
    response = client.post("/api/v1/auth/widget-token", json={"client_id": "cmp_nobody"})
    assert_refused(response, 401, "client_id")


def test_issuance_without_client_id_is_422(client):
    response = client.post("/api/v1/auth/widget-token", json={})
    data = assert_envelope(response, 422)
    assert "client_id" in data["json"]


def test_issuance_refuses_another_organizations_config_and_assistant(
    client, org, other_org, config
):
    for field, value in (("config_id", config["id"]), ("assistant_id", config["assistant_id"])):
        response = client.post(
            "/api/v1/auth/widget-token", json={"client_id": other_org.client_id, field: value}
        )
        data = assert_envelope(response, 422)
        assert field in data["json"], data
        assert "token" not in response.get_json()


def test_issued_token_claims(client, org, assistant):
    response = client.post(
        "/api/v1/auth/widget-token",
        json={"client_id": org.client_id, "assistant_id": assistant["id"]},
    )
    body = response.get_json()
    data = assert_envelope(response, 200)
    # The reference reads `(await response.json()).token`; API.md also puts it in data.
    assert body["token"] == data["token"]
    assert data["expires_in"] == body["expires_in"] == 3600
    assert data["token_type"] == body["token_type"] == "Bearer"

    token = data["token"]
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = unverified_claims(token)
    assert {"exp", "iat", "iss", "aud", "jti", "org", "sub"} <= set(claims)
    assert claims["exp"] - claims["iat"] == 3600
    assert abs(claims["iat"] - time.time()) < 60
    assert claims["org"] == org.organization_id
    assert assistant["id"] in claims.values()
    assert org.client_secret not in json.dumps(claims)
    assert unverified_claims(widget_token(client, org))["jti"] != claims["jti"]


# --- allowed origins ---------------------------------------------------------------------


def test_allowed_origins_gate_issuance_and_widget_calls(client, org, assistant):
    issued_before = widget_token(client, org)
    create(
        client,
        org,
        "/api/v1/widget-configs/",
        assistant_id=assistant["id"],
        allowed_origins=[SHOP],
    )

    def issue(**headers):
        return client.post(
            "/api/v1/auth/widget-token", json={"client_id": org.client_id}, headers=headers
        )

    assert_refused(issue(Origin=EVIL), 403, "origin")
    assert_refused(issue(), 403, "origin")
    token = assert_envelope(issue(Origin=SHOP), 200)["token"]

    # Widget calls follow the same policy, also for a token issued before it was set.
    for used in (token, issued_before):
        assert_refused(open_session(client, used, assistant["id"], Origin=EVIL), 403, "origin")
        assert_refused(open_session(client, used, assistant["id"]), 403, "origin")
        assert_envelope(open_session(client, used, assistant["id"], Origin=SHOP), 201)


# --- the signing key ---------------------------------------------------------------------


def test_signing_key_file_is_private(app):
    path = os.path.join(app.instance_path, KEY_FILE)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert len(signing_key(app)) >= 32


def test_tokens_survive_an_app_restart(app, app_config, client, org, assistant):
    token = widget_token(client, org)
    key_before = signing_key(app)

    restarted = create_app(app_config)
    assert signing_key(restarted) == key_before
    assert_envelope(open_session(restarted.test_client(), token, assistant["id"]), 201)
