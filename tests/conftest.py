"""Fixtures: an app on its own instance folder, its client, and organizations to call it as."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from engines import SCALED, ScaledEngines
from fake_llm import FakeLLM

from companin import create_app
from companin.db import db
from companin.services.organizations import create_organization

# The scaled pass (COMPANIN_TEST_ENGINES=scaled, .ci/run's second run): set before any app
# or process is made, so that all of them use the engines.
SCALED_ENGINES = ScaledEngines(os.environ.get("PYTEST_XDIST_WORKER", "")) if SCALED else None


def pytest_collection_modifyitems(items):
    """The scaled pass leaves chromium out: the browser tests drive the console's and the
    widget's pages, whose views and services the HTTP tests run on these engines too, and
    CI's time allows one browser run, the first pass's."""
    if SCALED_ENGINES is None:
        return
    skip = pytest.mark.skip(
        reason="embedded engines only: chromium runs in the first pass; the HTTP tests cover "
        "the same views and services on these engines"
    )
    for item in items:
        if item.get_closest_marker("browser"):
            item.add_marker(skip)


def pytest_sessionfinish(session):
    if SCALED_ENGINES is not None:
        SCALED_ENGINES.drop()


@pytest.fixture(autouse=True)
def _empty_engines_after_the_test(request):
    """On the scaled pass, each test starts from empty tables and counters, as it starts
    from an empty instance folder on the first pass; a module marked `module_data` keeps
    them for all its tests (its fixtures hold data they share)."""
    yield
    if SCALED_ENGINES is not None and not request.node.get_closest_marker("module_data"):
        SCALED_ENGINES.empty()


@pytest.fixture(autouse=True, scope="module")
def _empty_engines_after_the_module():
    yield
    if SCALED_ENGINES is not None:
        SCALED_ENGINES.empty()


@dataclass
class Org:
    """An organization and the headers its server key sends."""

    organization_id: str
    client_id: str
    client_secret: str

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.client_id, "X-API-Secret": self.client_secret}


@pytest.fixture
def fake():
    """A real OpenAI-compatible model server on loopback (tests/fake_llm.py)."""
    with FakeLLM() as server:
        yield server


@pytest.fixture
def app_config(tmp_path):
    """Settings for the `app` fixture; override in a module to change them."""
    return {"INSTANCE_PATH": str(tmp_path / "instance"), "TESTING": True}


@pytest.fixture
def app(app_config):
    return create_app(app_config)


@pytest.fixture
def client(app):
    return app.test_client()


def new_org(app, name: str = "Acme") -> Org:
    """An organization of `app`, created through the same service the CLI uses (on a
    connection closed afterwards, as a request's is)."""
    with app.app_context(), db.connection_context():
        credentials = create_organization(name)
    return Org(credentials.organization_id, credentials.client_id, credentials.client_secret)


@pytest.fixture
def make_org(app):
    """Create organizations of the test's app."""
    return lambda name="Acme": new_org(app, name)


@pytest.fixture
def org(make_org) -> Org:
    return make_org("Org A")


@pytest.fixture
def other_org(make_org) -> Org:
    return make_org("Org B")


@pytest.fixture
def assistant(client, org) -> dict:
    response = client.post("/api/v1/assistants/", json={"name": "Helper"}, headers=org.headers)
    assert response.status_code == 201
    return response.get_json()["data"]


def widget_token(client, org: Org, **fields) -> str:
    """A widget token for `org`, as the widget would request it."""
    headers = fields.pop("headers", {})
    response = client.post(
        "/api/v1/auth/widget-token", json={"client_id": org.client_id, **fields}, headers=headers
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()["token"]


def bearer(token: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}


def assert_envelope(response, status_code: int) -> object:
    """Check the documented envelope and return its `data`."""
    body = response.get_json()
    assert response.status_code == status_code, body
    assert set(body) == {"status", "status_code", "detail", "data"} or "token" in body
    assert body["status"] == ("success" if status_code < 400 else "error")
    assert body["status_code"] == status_code
    assert isinstance(body["detail"], str) and body["detail"]
    assert response.headers.get("X-Request-ID")
    return body["data"]


def console_sign_in(client, email: str, password: str, **request):
    """Sign in to the console as a browser does: open the form, send it back with its token."""
    form = client.get("/console/sign-in", **request).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    fields = {"email": email, "password": password, "csrf_token": token}
    return client.post("/console/sign-in", data=fields, **request)


def run_cli(instance_path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run the `companin` command as a user would, in a fresh process."""
    env = {**os.environ, "COMPANIN_INSTANCE_PATH": str(instance_path)}
    return subprocess.run(
        [sys.executable, "-m", "companin", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=check,
    )


@dataclass
class Server:
    """A running `companin serve` process, its base URL and the file its stderr goes to."""

    url: str
    process: subprocess.Popen[bytes]
    stderr_path: Path

    def stderr(self) -> str:
        return self.stderr_path.read_text()


@contextmanager
def companin_server(
    instance_path,
    log_dir,
    *,
    threads: int = 4,
    env: dict[str, str] | None = None,
    healthy: bool = True,
) -> Iterator[Server]:
    """Run `companin serve` on a free loopback port for the block, stopping it whatever happens.

    It is ready when /healthz answers 200 or, with `healthy=False`, answers at all.

    Output goes to files in `log_dir` (a pipe nobody reads would fill up and stall the server).
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    environment = {**os.environ, "COMPANIN_INSTANCE_PATH": str(instance_path), **(env or {})}
    command = [sys.executable, "-m", "companin", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--threads", str(threads)]
    stderr_path = Path(log_dir) / "serve.stderr"
    with open(Path(log_dir) / "serve.stdout", "wb") as out, open(stderr_path, "wb") as err:
        process = subprocess.Popen(command, env=environment, stdout=out, stderr=err)
    server = Server(f"http://127.0.0.1:{port}", process, stderr_path)
    try:
        _wait_until_answering(server, timeout=15, healthy=healthy)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_answering(server: Server, timeout: float, healthy: bool) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"companin serve exited early:\n{server.stderr()}")
        try:
            status = requests.get(server.url + "/healthz", timeout=1).status_code
            if status == 200 or not healthy:
                return
        except (requests.ConnectionError, requests.Timeout):
            pass  # not listening yet
        time.sleep(0.1)
    raise AssertionError(f"companin serve not healthy after {timeout}s:\n{server.stderr()}")
