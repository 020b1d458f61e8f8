"""Bad input of every kind gets a clear 4xx envelope, and nothing is stored.

Each scenario sends what a careless or hostile client might send, then checks the
answer is the documented error envelope (with X-Request-ID, without internals) and,
for writes, lists the collection again to prove that no row was created or changed.
"""

from __future__ import annotations

import io
import json
import re
import uuid

import pytest
from conftest import assert_envelope

# Small enough that a test can cross it cheaply, big enough for every other body here.
MAX_BYTES = 4096

# What must never reach a client: tracebacks, source locations, SQL and driver names.
LEAKS = re.compile(
    r'Traceback|File "|\.py\b|site-packages|sqlite|peewee|OperationalError|IntegrityError'
    r"|DatabaseError|(?-i:\bSELECT\b|\bINSERT INTO\b|\bUPDATE \S+ SET\b|\bWHERE\b)",
    re.IGNORECASE,
)
GENERATED_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

COLLECTIONS = {
    "assistants": "/api/v1/assistants/",
    "widget-configs": "/api/v1/widget-configs/",
    "sessions": "/api/v1/sessions/",
    "conversations": "/api/v1/conversations/",
    "contexts": "/api/v1/contexts/",
}


@pytest.fixture
def app_config(tmp_path):
    return {
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "TESTING": True,
        "MAX_REQUEST_BYTES": MAX_BYTES,
    }


def refused(response, status_code: int | tuple[int, ...]):
    """Check a clean error envelope with one of the given statuses; return its `data`."""
    codes = status_code if isinstance(status_code, tuple) else (status_code,)
    assert response.status_code in codes, response.get_data(as_text=True)
    data = assert_envelope(response, response.status_code)
    assert set(response.get_json()) == {"status", "status_code", "detail", "data"}
    assert not LEAKS.search(response.get_data(as_text=True)), response.get_data(as_text=True)
    return data


def count(client, org, collection: str) -> int:
    """How many rows the organization has in `collection`, as the list endpoint says."""
    response = client.get(COLLECTIONS[collection], headers=org.headers)
    assert_envelope(response, 200)
    return json.loads(response.headers["X-Pagination"])["total"]


def counts(client, org) -> dict[str, int]:
    return {name: count(client, org, name) for name in COLLECTIONS}


def assert_field_error(data, field: str) -> None:
    """Validation errors name the bad field under `json`, with readable messages."""
    assert set(data) == {"json"}, data
    assert field in data["json"], data
    messages = data["json"][field]
    # A scalar field has a list of messages; a nested one ({"0": [...]}, {"primary_color":
    # [...]}) a mapping down to them.
    while isinstance(messages, dict):
        assert messages
        messages = next(iter(messages.values()))
    assert messages and all(isinstance(m, str) and m for m in messages), data


# --- validation of bodies ------------------------------------------------------------------

A = "ASSISTANT"  # replaced by the id of a real assistant of the organization
NOWHERE = "6f1c2a9e-3b7d-4e8a-9c0f-1d2e3f4a5b6c"  # a well-formed id no row has

INVALID_BODIES = [
    # missing required fields
    ("assistants", {}, "name"),
    ("assistants", {"description": "no name"}, "name"),
    ("widget-configs", {"name": "no assistant"}, "assistant_id"),
    ("sessions", {"visitor_id": "v1"}, "assistant_id"),
    ("conversations", {"assistant_id": A}, "customer_id"),
    ("conversations", {"customer_id": "c1"}, "assistant_id"),
    ("contexts", {"traits": {"plan": "pro"}}, "user_reference"),
    # wrong types
    ("assistants", {"name": 42}, "name"),
    ("assistants", {"name": ["Bot"]}, "name"),
    ("assistants", {"name": "Bot", "is_active": "maybe"}, "is_active"),
    ("assistants", {"name": "Bot", "is_active": [True]}, "is_active"),
    ("assistants", {"name": "Bot", "default_tasks": "answer_questions"}, "default_tasks"),
    ("assistants", {"name": "Bot", "default_tasks": [1, 2]}, "default_tasks"),
    ("assistants", {"name": "Bot", "temperature": 2.5}, "temperature"),
    ("assistants", {"name": "Bot", "temperature": -0.1}, "temperature"),
    ("assistants", {"name": "Bot", "temperature": "hot"}, "temperature"),
    ("sessions", {"assistant_id": "not-a-uuid"}, "assistant_id"),
    ("sessions", {"assistant_id": 12345}, "assistant_id"),
    ("sessions", {"assistant_id": A, "metadata": ["source", "website"]}, "metadata"),
    ("sessions", {"assistant_id": A, "metadata": "source=website"}, "metadata"),
    ("conversations", {"assistant_id": A, "customer_id": "c", "metadata": [1]}, "metadata"),
    ("conversations", {"assistant_id": A, "customer_id": 456}, "customer_id"),
    ("contexts", {"user_reference": "u1", "traits": ["vip"]}, "traits"),
    ("widget-configs", {"assistant_id": A, "theme": {"primary_color": "red"}}, "theme"),
    ("widget-configs", {"assistant_id": A, "theme": {"primary_color": "#12345"}}, "theme"),
    ("widget-configs", {"assistant_id": A, "theme": {"position": "top-middle"}}, "theme"),
    ("widget-configs", {"assistant_id": A, "theme": "dark"}, "theme"),
    ("widget-configs", {"assistant_id": A, "allowed_origins": ["not a url"]}, "allowed_origins"),
    (
        "widget-configs",
        {"assistant_id": A, "allowed_origins": ["https://x.com/path"]},
        "allowed_origins",
    ),
    ("widget-configs", {"assistant_id": A, "allowed_origins": ["ftp://x.com"]}, "allowed_origins"),
    (
        "widget-configs",
        {"assistant_id": A, "allowed_origins": ["https://x.com?a=1"]},
        "allowed_origins",
    ),
    ("widget-configs", {"assistant_id": A, "allowed_origins": "https://x.com"}, "allowed_origins"),
    (
        "widget-configs",
        {"assistant_id": A, "suggested_questions": [f"q{i}" for i in range(11)]},
        "suggested_questions",
    ),
    ("widget-configs", {"assistant_id": A, "show_sources": "sometimes"}, "show_sources"),
    # references to things that do not exist (in this organization)
    ("sessions", {"assistant_id": NOWHERE}, "assistant_id"),
    ("widget-configs", {"assistant_id": NOWHERE}, "assistant_id"),
    ("conversations", {"assistant_id": NOWHERE, "customer_id": "c"}, "assistant_id"),
    # unknown fields, including server-set ones a client may not choose
    ("assistants", {"name": "Bot", "colour": "blue"}, "colour"),
    ("assistants", {"name": "Bot", "id": NOWHERE}, "id"),
    ("assistants", {"name": "Bot", "created_at": "2020-01-01T00:00:00Z"}, "created_at"),
    ("sessions", {"assistant_id": A, "organization_id": NOWHERE}, "organization_id"),
    ("contexts", {"user_reference": "u1", "extra": 1}, "extra"),
    # overlong strings
    ("assistants", {"name": "x" * 201}, "name"),
    ("assistants", {"name": ""}, "name"),
    ("assistants", {"name": "Bot", "tone": "t" * 101}, "tone"),
    ("assistants", {"name": "Bot", "language": "l" * 36}, "language"),
    ("sessions", {"assistant_id": A, "visitor_id": "v" * 201}, "visitor_id"),
    ("sessions", {"assistant_id": A, "locale": "l" * 36}, "locale"),
    ("conversations", {"assistant_id": A, "customer_id": "c" * 201}, "customer_id"),
    ("conversations", {"assistant_id": A, "customer_id": ""}, "customer_id"),
    ("conversations", {"assistant_id": A, "customer_id": "c", "title": "t" * 501}, "title"),
    ("contexts", {"user_reference": "u" * 201}, "user_reference"),
    ("widget-configs", {"assistant_id": A, "greeting": "g" * 1001}, "greeting"),
    ("widget-configs", {"assistant_id": A, "theme": {"title": "t" * 101}}, "theme"),
]


UNKNOWN_FIELDS = {"colour", "id", "created_at", "organization_id", "extra"}


def _fill(body: dict, assistant_id: str) -> dict:
    return {key: assistant_id if value == A else value for key, value in body.items()}


@pytest.mark.parametrize(
    ("collection", "body", "field"),
    INVALID_BODIES,
    ids=[f"{c}-{f}-{i}" for i, (c, _, f) in enumerate(INVALID_BODIES)],
)
def test_invalid_body_is_422_naming_the_field_and_stores_nothing(
    client, org, assistant, collection, body, field
):
    before = counts(client, org)
    response = client.post(
        COLLECTIONS[collection], json=_fill(body, assistant["id"]), headers=org.headers
    )
    data = refused(response, 422)
    assert_field_error(data, field)
    if field in UNKNOWN_FIELDS:
        assert data["json"][field] == ["Unknown field."]
    assert counts(client, org) == before


@pytest.mark.parametrize("value", ["false", "yes", "true", 1, 0])
@pytest.mark.parametrize(
    ("collection", "field"), [("assistants", "is_active"), ("widget-configs", "show_sources")]
)
def test_booleans_take_only_json_booleans(client, org, assistant, collection, field, value):
    """ "false" must not be read as true, nor anything else guessed: only true/false pass."""
    before = counts(client, org)
    body = {"name": "Bot", field: value}
    if collection == "widget-configs":
        body["assistant_id"] = assistant["id"]
    data = refused(client.post(COLLECTIONS[collection], json=body, headers=org.headers), 422)
    assert_field_error(data, field)
    assert counts(client, org) == before


def test_limits_are_inclusive_at_the_boundary(client, org, assistant):
    """The longest allowed value is accepted: the 422s above are about length, not luck."""
    created = assert_envelope(
        client.post(
            "/api/v1/assistants/",
            json={"name": "x" * 200, "temperature": 2, "tone": "t" * 100},
            headers=org.headers,
        ),
        201,
    )
    assert created["name"] == "x" * 200
    conversation = assert_envelope(
        client.post(
            "/api/v1/conversations/",
            json={"assistant_id": assistant["id"], "customer_id": "c" * 200},
            headers=org.headers,
        ),
        201,
    )
    assert conversation["customer_id"] == "c" * 200


def test_widget_token_request_is_validated_too(client, org):
    """The one route without credentials validates like the others."""
    assert_field_error(refused(client.post("/api/v1/auth/widget-token", json={}), 422), "client_id")
    assert_field_error(
        refused(client.post("/api/v1/auth/widget-token", json={"client_id": 5}), 422), "client_id"
    )
    data = refused(
        client.post("/api/v1/auth/widget-token", json={"client_id": org.client_id, "secret": "x"}),
        422,
    )
    assert data["json"]["secret"] == ["Unknown field."]


def test_invalid_update_changes_nothing(client, org, assistant):
    url = f"/api/v1/assistants/{assistant['id']}"
    for body, field in [
        ({"temperature": 5}, "temperature"),
        ({"name": None}, "name"),
        ({"name": ""}, "name"),
        ({"is_active": "maybe"}, "is_active"),
        ({"name": "New", "unknown": 1}, "unknown"),
    ]:
        assert_field_error(refused(client.patch(url, json=body, headers=org.headers), 422), field)
    # A bad body refuses the whole update: the valid "name" above was not applied either.
    assert assert_envelope(client.get(url, headers=org.headers), 200) == assistant


def test_invalid_widget_config_update_keeps_the_origins(client, org, assistant):
    created = assert_envelope(
        client.post(
            "/api/v1/widget-configs/",
            json={"assistant_id": assistant["id"], "allowed_origins": ["https://shop.example"]},
            headers=org.headers,
        ),
        201,
    )
    url = f"/api/v1/widget-configs/{created['id']}"
    for origins in (["not a url"], ["https://x.com/path"], ["javascript:alert(1)"]):
        data = refused(
            client.patch(url, json={"allowed_origins": origins}, headers=org.headers), 422
        )
        assert_field_error(data, "allowed_origins")
    assert assert_envelope(client.get(url, headers=org.headers), 200) == created


# --- bodies that are not JSON objects ------------------------------------------------------

NOT_JSON = [
    b"{bad",
    b'{"name": "Bot",}',
    b"{'name': 'Bot'}",
    b'{"name": "Bot"',
    b'{"name": "Bot"} trailing',
    b"\xff\xfe{\x00}\x00",  # not UTF-8
    '{"name": "caf\xe9"}'.encode("latin-1"),
]


@pytest.mark.parametrize("raw", NOT_JSON, ids=range(len(NOT_JSON)))
def test_invalid_json_is_400(client, org, raw):
    before = count(client, org, "assistants")
    response = client.post(
        "/api/v1/assistants/", data=raw, content_type="application/json", headers=org.headers
    )
    data = refused(response, 400)
    assert set(data) == {"json"}, data
    assert count(client, org, "assistants") == before


@pytest.mark.parametrize(
    "raw", ['["Bot"]', '"Bot"', "42", "true", "null", "[]", '[{"name": "Bot"}]']
)
def test_json_that_is_not_an_object_is_refused(client, org, raw):
    before = count(client, org, "assistants")
    response = client.post(
        "/api/v1/assistants/", data=raw, content_type="application/json", headers=org.headers
    )
    data = refused(response, (400, 422))
    assert set(data) == {"json"}, data
    assert count(client, org, "assistants") == before


def test_deeply_nested_json_is_400_not_500(client, org):
    """2,000 brackets fit in 2 KB and exhaust the decoder's recursion: still a client error."""
    before = count(client, org, "assistants")
    response = client.post(
        "/api/v1/assistants/",
        data="[" * 2000,
        content_type="application/json",
        headers=org.headers,
    )
    refused(response, 400)
    assert count(client, org, "assistants") == before


def test_empty_body_is_refused(client, org, assistant):
    before = counts(client, org)
    for content_type in ("application/json", None):
        response = client.post(
            "/api/v1/assistants/", data=b"", content_type=content_type, headers=org.headers
        )
        data = refused(response, (400, 422))
        assert "json" in data
        response = client.post(
            "/api/v1/sessions/", data=b"", content_type=content_type, headers=org.headers
        )
        refused(response, (400, 422))
    assert counts(client, org) == before


@pytest.mark.parametrize(
    ("content_type", "raw"),
    [
        ("text/plain", json.dumps({"name": "Bot"})),
        ("application/x-www-form-urlencoded", "name=Bot"),
        ("application/xml", "<assistant><name>Bot</name></assistant>"),
    ],
)
def test_wrong_content_type_is_refused(client, org, content_type, raw):
    before = count(client, org, "assistants")
    response = client.post(
        "/api/v1/assistants/", data=raw, content_type=content_type, headers=org.headers
    )
    refused(response, (400, 415, 422))
    assert count(client, org, "assistants") == before


# --- size limit ----------------------------------------------------------------------------


def test_body_over_the_size_limit_is_413(client, org):
    before = count(client, org, "assistants")
    # Valid JSON that would create an assistant, were it not too large.
    big = json.dumps({"name": "Bot", "description": "d" * MAX_BYTES})
    response = client.post(
        "/api/v1/assistants/", data=big, content_type="application/json", headers=org.headers
    )
    assert refused(response, 413) is None
    assert count(client, org, "assistants") == before
    # The limit is the setting, not a refusal of everything: a body just under it passes.
    fits = json.dumps({"name": "Bot", "description": "d" * (MAX_BYTES - 100)})
    assert len(fits) <= MAX_BYTES
    assert_envelope(
        client.post(
            "/api/v1/assistants/", data=fits, content_type="application/json", headers=org.headers
        ),
        201,
    )


def test_size_limit_applies_without_credentials_too(client, org):
    big = json.dumps({"client_id": org.client_id, "pad": "p" * MAX_BYTES})
    response = client.post("/api/v1/auth/widget-token", data=big, content_type="application/json")
    refused(response, 413)


# --- ids in paths --------------------------------------------------------------------------

BAD_IDS = ["not-a-uuid", "123", "00000000000000000000000000000000", "%20", "null", "..%2F.."]


@pytest.mark.parametrize("bad_id", BAD_IDS)
def test_non_uuid_ids_in_paths_are_404(client, org, assistant, bad_id):
    before = counts(client, org)
    for method, path in [
        ("GET", f"/api/v1/assistants/{bad_id}"),
        ("PATCH", f"/api/v1/assistants/{bad_id}"),
        ("DELETE", f"/api/v1/assistants/{bad_id}"),
        ("GET", f"/api/v1/widget-configs/{bad_id}"),
        ("DELETE", f"/api/v1/sessions/{bad_id}"),
        ("GET", f"/api/v1/sessions/{bad_id}/messages"),
        ("PATCH", f"/api/v1/conversations/{bad_id}"),
        ("GET", f"/api/v1/conversations/{bad_id}/messages"),
    ]:
        response = client.open(path, method=method, json={"name": "x"}, headers=org.headers)
        assert refused(response, 404) is None, (method, path)
    assert counts(client, org) == before


def test_unknown_uuid_is_404_with_a_plain_message(client, org):
    missing = uuid.uuid4()
    for path in (f"/api/v1/assistants/{missing}", f"/api/v1/sessions/{missing}"):
        response = client.get(path, headers=org.headers)
        assert refused(response, 404) is None
        assert "not found" in response.get_json()["detail"].lower()


# --- pagination ----------------------------------------------------------------------------


@pytest.mark.parametrize("collection", ["assistants", "sessions"])
@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("page_size", "0"),
        ("page_size", "-1"),
        ("page_size", "101"),
        ("page_size", str(10**9)),
        ("page_size", "abc"),
        ("page_size", "1.5"),
        ("page_size", ""),
        ("page", "0"),
        ("page", "-1"),
        ("page", "abc"),
        ("page", "1e3"),
    ],
)
def test_bad_pagination_is_422(client, org, assistant, collection, param, value):
    response = client.get(f"{COLLECTIONS[collection]}?{param}={value}", headers=org.headers)
    data = refused(response, 422)
    assert set(data) == {"query"} and param in data["query"], data


def test_pagination_bounds_are_accepted(client, org, assistant):
    for query in ("page_size=1", "page_size=100", "page=2&page_size=100"):
        response = client.get(f"/api/v1/assistants/?{query}", headers=org.headers)
        assert_envelope(response, 200)


@pytest.mark.parametrize("page", [10**18, 2**63, 10**30])
def test_huge_page_number_is_not_a_server_error(client, org, assistant, page):
    """page * page_size past SQLite's 64-bit OFFSET is an empty page or a 422, never a 500."""
    response = client.get(f"/api/v1/assistants/?page={page}", headers=org.headers)
    assert response.status_code in (200, 422), response.get_data(as_text=True)
    if response.status_code == 200:
        assert assert_envelope(response, 200) == []
    else:
        assert "page" in refused(response, 422)["query"]


# --- unusual characters --------------------------------------------------------------------

ODD_STRINGS = [
    "nul \x00 inside",
    "\x00",
    "emoji 🎉👍🏽👩‍👩‍👧",
    "right-to-left \u202eevil\u202c",
    "zero\u200bwidth\u200d",
    "\ufeffbyte order mark",
    "e\u0301 combining",
    "中文 العربية עברית",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \U0010ffff",
    "line\u2028para\u2029next\u0085",
    "control \x01\x1b[31m\x7f",
    "nul \x00 inside",  # refused: PostgreSQL cannot store it, so no backend takes it
    "quotes ' \" ` ; -- /* */",
]


@pytest.mark.parametrize("value", ODD_STRINGS, ids=range(len(ODD_STRINGS)))
def test_odd_strings_are_stored_exactly_or_refused(client, org, assistant, value):
    before = counts(client, org)
    response = client.post(
        "/api/v1/assistants/", json={"name": value, "description": value}, headers=org.headers
    )
    if response.status_code >= 400:
        refused(response, (400, 422))
        assert counts(client, org) == before
        return
    created = assert_envelope(response, 201)
    fetched = assert_envelope(
        client.get(f"/api/v1/assistants/{created['id']}", headers=org.headers), 200
    )
    assert (fetched["name"], fetched["description"]) == (value, value)

    # In free-form JSON (keys and values) and as a path key.
    session = client.post(
        "/api/v1/sessions/",
        json={"assistant_id": assistant["id"], "visitor_id": value, "metadata": {value: value}},
        headers=org.headers,
    )
    if session.status_code < 400:
        session_id = assert_envelope(session, 201)["id"]
        fetched = assert_envelope(
            client.get(f"/api/v1/sessions/{session_id}", headers=org.headers), 200
        )
        assert (fetched["visitor_id"], fetched["metadata"]) == (value, {value: value})
    else:
        refused(session, (400, 422))


@pytest.mark.parametrize("collection", ["assistants", "contexts"])
def test_lone_surrogate_is_refused_not_a_server_error(client, org, collection):
    """'\\ud800' is valid JSON text but no storable string: refused, never a 500."""
    before = count(client, org, collection)
    field = {"assistants": "name", "contexts": "user_reference"}[collection]
    raw = '{"' + field + '": "broken \\ud800 text"}'
    response = client.post(
        COLLECTIONS[collection], data=raw, content_type="application/json", headers=org.headers
    )
    refused(response, (400, 422))
    assert count(client, org, collection) == before


def test_odd_characters_in_query_and_path_keys(client, org, assistant):
    for query in ("visitor_id=%00", "visitor_id=%F0%9F%8E%89", "visitor_id=%ff%fe"):
        response = client.get(f"/api/v1/sessions/?{query}", headers=org.headers)
        assert response.status_code < 500, (query, response.get_data(as_text=True))
        if response.status_code >= 400:
            refused(response, (400, 422))
    # A user_reference is a path key: odd ones are stored and found again, or refused.
    for key, sent in (("a%00b", "a\x00b"), ("%F0%9F%8E%89", "🎉")):
        response = client.put(f"/api/v1/contexts/{key}", json={"traits": {}}, headers=org.headers)
        if response.status_code >= 400:
            refused(response, (400, 404, 422))
            continue
        assert assert_envelope(response, 200)["user_reference"] == sent
        fetched = assert_envelope(client.get(f"/api/v1/contexts/{key}", headers=org.headers), 200)
        assert fetched["user_reference"] == sent


# --- X-Request-ID --------------------------------------------------------------------------


@pytest.mark.parametrize("sent", ["client-req-42", "a.b_c:d-e", "0" * 128, NOWHERE])
def test_sane_request_id_is_echoed(client, org, sent):
    ok = client.get("/api/v1/assistants/", headers={**org.headers, "X-Request-ID": sent})
    assert ok.status_code == 200 and ok.headers["X-Request-ID"] == sent
    # Errors echo it too: that is when a client needs it most.
    bad = client.post("/api/v1/assistants/", json={}, headers={**org.headers, "X-Request-ID": sent})
    refused(bad, 422)
    assert bad.headers["X-Request-ID"] == sent


@pytest.mark.parametrize(
    "sent", ["x" * 129, "has space", "semi;colon", "new\tline", "<script>", "ünïcödé", ""]
)
def test_insane_request_id_is_replaced(client, org, sent):
    response = client.get("/api/v1/assistants/", headers={**org.headers, "X-Request-ID": sent})
    assert response.status_code == 200
    replaced = response.headers["X-Request-ID"]
    assert replaced and replaced != sent
    assert GENERATED_ID.match(replaced), replaced


def test_generated_request_ids_differ_per_request(client, org):
    ids = {client.get("/api/v1/assistants/", headers=org.headers).headers["X-Request-ID"]}
    ids |= {client.get("/api/v1/nope").headers["X-Request-ID"] for _ in range(3)}
    assert len(ids) == 4 and all(GENERATED_ID.match(i) for i in ids)


def test_knowledge_at_the_length_limits_is_stored_on_every_backend(client, org):
    """A question as long as allowed, and a file whose name is longer than a title may be:
    the titles derived from them are cut to fit (PostgreSQL refuses a longer value)."""
    question = "Where is the depot? " * 100  # 2,000 characters, the limit
    pair = client.post(
        "/api/v1/knowledge/qa/",
        json={"question": question, "answer": "Ghent."},
        headers=org.headers,
    )
    assert assert_envelope(pair, 201)["title"].endswith("…")
    name = "manual-" + "x" * 600 + ".txt"
    upload = client.post(
        "/api/v1/knowledge/files/",
        data={"file": (io.BytesIO(b"The depot is in Ghent."), name)},
        headers=org.headers,
    )
    stored = assert_envelope(upload, 201)
    assert len(stored["filename"]) == 500 and stored["filename"].endswith("…")
