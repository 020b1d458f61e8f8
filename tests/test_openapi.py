"""The OpenAPI document and the interactive docs describe the API as it really is.

First the document itself (every route, summaries, security, the envelope), then the
Swagger UI served without internet, then a property-based sweep with schemathesis: every
operation is called with generated valid and invalid input, and every answer must be
documented (status code, content type, schema) and never a server error.
"""

from __future__ import annotations

import re
import tempfile
import uuid
from typing import Any

import pytest
import schemathesis
from conftest import bearer, widget_token
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from companin import create_app

SPEC_URL = "/api/v1/openapi.json"
HTTP_METHODS = {"get", "put", "post", "patch", "delete"}
# Routes that serve the documentation itself rather than the API.
DOC_ROUTES = {"/api/v1/openapi.json", "/api/v1/docs", "/api/v1/docs/assets/<path:filename>"}
SERVER_KEY = {"ServerKey": [], "ServerSecret": []}
WIDGET = {"WidgetToken": []}


def fetch_spec(client) -> dict[str, Any]:
    response = client.get(SPEC_URL)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()


def operations(spec: dict[str, Any]):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield path, method, operation


def resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """Follow local `$ref`s to the object they name."""
    while "$ref" in node:
        target: Any = spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def openapi_path(rule: str) -> str:
    """`/sessions/<uuid:session_id>` -> `/sessions/{session_id}`."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def concrete(path: str) -> str:
    """A path template with every parameter filled (with ids that exist nowhere)."""
    return re.sub(r"{[^}]+}", str(uuid.uuid4()), path)


# --- the document --------------------------------------------------------------------------


def test_spec_is_public_json_openapi_3(client):
    spec = fetch_spec(client)  # no credentials sent
    assert spec["openapi"].startswith("3.")
    assert spec["info"]["title"] and spec["info"]["version"]
    assert spec["paths"]


def test_every_api_route_is_documented_and_nothing_else(app, client):
    spec = fetch_spec(client)
    registered = {
        (openapi_path(rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/") and rule.rule not in DOC_ROUTES
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    documented = {(path, method) for path, method, _ in operations(spec)}
    assert registered, "no API routes found"
    assert registered == documented


def test_every_operation_has_a_summary_and_documented_path_parameters(client):
    spec = fetch_spec(client)
    for path, method, operation in operations(spec):
        summary = operation.get("summary", "")
        assert summary.strip() and len(summary) <= 120, (method, path, summary)
        names = {
            resolve(spec, p)["name"]
            for p in spec["paths"][path].get("parameters", []) + operation.get("parameters", [])
            if resolve(spec, p)["in"] == "path"
        }
        assert names == set(re.findall(r"{([^}]+)}", path)), (method, path)


def test_security_schemes_are_declared(client):
    schemes = fetch_spec(client)["components"]["securitySchemes"]
    assert schemes["ServerKey"] == {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    assert schemes["ServerSecret"] == {"type": "apiKey", "in": "header", "name": "X-API-Secret"}
    assert schemes["WidgetToken"]["type"] == "http"
    assert schemes["WidgetToken"]["scheme"].lower() == "bearer"
    assert schemes["WidgetToken"]["bearerFormat"] == "JWT"


def test_each_operation_lists_its_security(client):
    spec = fetch_spec(client)
    for path, method, operation in operations(spec):
        security = operation.get("security", spec.get("security", []))
        if path == "/api/v1/auth/widget-token":
            # Issued to browsers on a client id alone.
            assert security == [], security
        else:
            # A server key is accepted everywhere (both headers together); some routes
            # also take a widget token.
            assert security in ([SERVER_KEY], [SERVER_KEY, WIDGET]), (method, path, security)


def test_documented_security_is_what_the_api_enforces(client, org, assistant):
    """Without credentials every secured route is 401; a widget token is refused with 403
    exactly where the document does not list it."""
    spec = fetch_spec(client)
    token = widget_token(client, org)
    for path, method, operation in operations(spec):
        url = concrete(path)
        security = operation.get("security", spec.get("security", []))
        anonymous = client.open(url, method=method.upper(), json={})
        if security:
            assert anonymous.status_code == 401, (method, path)
        else:
            assert anonymous.status_code != 401, (method, path)
        if not security:
            continue
        as_widget = client.open(url, method=method.upper(), json={}, headers=bearer(token))
        if WIDGET in security:
            assert as_widget.status_code not in (401, 403), (method, path, as_widget.get_json())
        else:
            assert as_widget.status_code == 403, (method, path, as_widget.status_code)


def test_responses_document_the_envelope(client):
    spec = fetch_spec(client)
    for path, method, operation in operations(spec):
        responses = operation["responses"]
        assert any(code.startswith("2") for code in responses), (method, path)
        assert "default" in responses, (method, path)  # every error is documented
        for code, response in responses.items():
            response = resolve(spec, response)
            schema = resolve(spec, response["content"]["application/json"]["schema"])
            assert {"status", "status_code", "detail", "data"} <= set(schema["properties"]), (
                method,
                path,
                code,
            )
            assert {"status", "status_code", "detail", "data"} <= set(schema["required"])
            assert schema["properties"]["status_code"]["type"] == "integer"
            assert set(schema["properties"]["status"]["enum"]) == {"success", "error"}


def test_list_operations_document_pagination(client):
    spec = fetch_spec(client)
    lists = 0
    for path, method, operation in operations(spec):
        success = resolve(spec, operation["responses"].get("200", {}))
        schema = resolve(spec, success.get("content", {}).get("application/json", {}))
        data = resolve(spec, schema.get("schema", {})).get("properties", {}).get("data", {})
        # Collections are read with GET; a POST answering a list (search) is a ranking.
        if method != "get" or data.get("type") != "array":
            continue
        params = {resolve(spec, p)["name"]: resolve(spec, p) for p in operation["parameters"]}
        assert params["page_size"]["schema"]["maximum"] == 100, (method, path)
        assert params["page"]["schema"]["minimum"] == 1, (method, path)
        assert "X-Pagination" in success["headers"], (method, path)
        lists += 1
    assert lists >= 5  # assistants, widget configs, sessions, conversations, contexts, ...


# --- interactive docs ----------------------------------------------------------------------


def test_docs_page_is_swagger_ui_with_local_assets(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "SwaggerUIBundle" in page and SPEC_URL in page
    # Works on an air-gapped machine: nothing is loaded from another host.
    assert not re.search(r"(?:src|href)\s*=\s*[\"'](?:https?:)?//", page), page
    assert "cdn" not in page.lower() and "unpkg" not in page.lower()

    assets = re.findall(r"(?:src|href)\s*=\s*[\"']([^\"']+)[\"']", page)
    for asset in {"/api/v1/docs/assets/swagger-ui-bundle.js", "/api/v1/docs/assets/swagger-ui.css"}:
        assert asset in assets, assets
    for asset in assets:
        with client.get(asset) as served:  # closes the file the asset is streamed from
            assert served.status_code == 200, asset
            assert len(served.get_data()) > 1000, asset
            expected = "text/css" if asset.endswith(".css") else "javascript"
            assert expected in served.mimetype, (asset, served.mimetype)


def test_docs_assets_do_not_serve_other_files(client):
    for path in ("/api/v1/docs/assets/../../../etc/passwd", "/api/v1/docs/assets/nope.js"):
        assert client.get(path).status_code == 404


# --- property-based sweep ------------------------------------------------------------------


def _load_spec() -> dict[str, Any]:
    """The document, from a throwaway app: parametrizing needs it when tests are collected.

    (`schemathesis.pytest.from_fixture` would load it from the `app` fixture instead, but
    its lazy loader reads `request.node._nodeid`, which pytest 9 no longer has.) The
    document does not depend on the instance, so each test still calls its own app.
    """
    with tempfile.TemporaryDirectory() as instance:
        app = create_app({"INSTANCE_PATH": instance, "TESTING": True})
        return app.test_client().get(SPEC_URL).get_json()


# A fixed seed and derandomized Hypothesis: CI sees the same cases on every run.
schema = schemathesis.openapi.from_dict(
    _load_spec(),
    config=schemathesis.Config.from_dict(
        {"seed": 20240601, "generation": {"with-security-parameters": False}}
    ),
)

# Real ids (and a real client id) the sweep mixes into its generated values, so that it
# reaches past "not found" into the code that reads and writes existing rows.
KNOWN: dict[str, str] = {}
BODY_REFERENCES = {"assistant_id", "client_id", "user_context_id"}


@schema.hook
def flatmap_path_parameters(context, path_parameters):
    keys = [name for name in path_parameters or {} if name in KNOWN]
    if not keys:
        return st.just(path_parameters)
    return st.fixed_dictionaries(
        {name: st.sampled_from([path_parameters[name], KNOWN[name]]) for name in keys}
    ).map(lambda chosen: {**path_parameters, **chosen})


@schema.hook
def flatmap_body(context, body):
    if not isinstance(body, dict):
        return st.just(body)
    keys = [name for name in body if name in BODY_REFERENCES and name in KNOWN]
    if not keys:
        return st.just(body)
    return st.fixed_dictionaries(
        {name: st.sampled_from([body[name], KNOWN[name]]) for name in keys}
    ).map(lambda chosen: {**body, **chosen})


@pytest.fixture
def app_config(tmp_path):
    # The sweep sends thousands of requests: the limits are tested elsewhere.
    return {
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "TESTING": True,
        "RATE_LIMIT": "1000000/hour",
        "WIDGET_TOKEN_RATE_LIMIT": "1000000/minute",
    }


@pytest.fixture
def known_rows(client, org, assistant):
    """One row of each kind for the sweep to find, update and delete."""

    def create(path: str, body: dict) -> dict:
        response = client.post(path, json=body, headers=org.headers)
        assert response.status_code == 201, response.get_json()
        return response.get_json()["data"]

    config = create("/api/v1/widget-configs/", {"assistant_id": assistant["id"]})
    session = create("/api/v1/sessions/", {"assistant_id": assistant["id"]})
    context = create("/api/v1/contexts/", {"user_reference": "user-456", "traits": {"a": 1}})
    conversation = create(
        "/api/v1/conversations/", {"assistant_id": assistant["id"], "customer_id": "user-456"}
    )
    KNOWN.clear()
    KNOWN.update(
        assistant_id=assistant["id"],
        config_id=config["id"],
        session_id=session["id"],
        conversation_id=conversation["id"],
        key=context["user_reference"],
        user_context_id=context["id"],
        client_id=org.client_id,
    )
    yield
    KNOWN.clear()


@schema.parametrize()
@settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_sweep_every_operation(case, app, org, known_rows):
    case.call_and_validate(
        app=app,
        headers=org.headers,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
