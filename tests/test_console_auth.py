"""The team's console, its people and their sign-in, as a browser and an operator use them.

People are created on the command line (or by the service it calls), sign in with the
form at /console/sign-in, see who they are on /console/, and sign out. The tests read
the HTML a browser would get and the cookies it would keep.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import timedelta

import pytest
from conftest import console_sign_in, new_org, run_cli
from engines import read_database, write_database

from companin import create_app
from companin.console import console_requires
from companin.errors import ValidationFailed
from companin.models import ConsoleSession, User, utcnow
from companin.passwords import generate_password, hash_password, verify_password
from companin.services.people import create_user

HOME = "/console/"
SIGN_IN = "/console/sign-in"
SIGN_OUT = "/console/sign-out"
ADMIN_ONLY = "/console/admin-only"
SESSION_COOKIE = "companin_console"
CSRF_COOKIE = "companin_csrf"
PASSWORD = "correct horse battery staple"
REFUSED = "Wrong email address or password"


def admin_only_page() -> str:
    return "the admins' page"


@pytest.fixture
def app(app_config):
    """The app, with one test-only console page that only admins and owners may open."""
    app = create_app(app_config)
    app.add_url_rule(
        ADMIN_ONLY,
        endpoint="console.admin_only",
        view_func=console_requires("admin")(admin_only_page),
    )
    return app


def add_user(app, org, email: str, role: str = "agent", name: str | None = None) -> str:
    """A person of `org` with the password PASSWORD; returns their address."""
    with app.app_context():
        user, _ = create_user(org.organization_id, email, role, name, PASSWORD)
    return user.email


def form_token(response) -> str:
    """The CSRF token in a page's form, as a browser would send it back."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', response.get_data(as_text=True))
    assert found, response.get_data(as_text=True)
    return found.group(1)


def sign_in(client, email: str, password: str = PASSWORD, **request):
    return console_sign_in(client, email, password, **request)


def signed_in_client(app, email: str):
    client = app.test_client()
    assert sign_in(client, email).status_code == 303
    return client


def sign_out(client, token: str | None):
    data = {"csrf_token": token} if token is not None else {}
    return client.post(SIGN_OUT, data=data)


def text(response) -> str:
    return response.get_data(as_text=True)


def alert(response) -> str:
    found = re.search(r'role="alert">([^<]*)<', text(response))
    return found.group(1) if found else ""


def set_cookies(response) -> dict[str, str]:
    """Each Set-Cookie header by the cookie's name."""
    headers = response.headers.getlist("Set-Cookie")
    return {header.partition("=")[0]: header for header in headers}


def session_count(app) -> int:
    with app.app_context():
        return ConsoleSession.select().count()


def assert_page(response, status: int) -> str:
    """A console page: HTML with the console's protective headers, never the API's JSON."""
    assert response.status_code == status, text(response)
    assert response.mimetype == "text/html"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"
    assert response.get_json(silent=True) is None
    return text(response)


def assert_sent_to_sign_in(response) -> None:
    assert response.status_code in (302, 303)
    assert response.headers["Location"].endswith(SIGN_IN)


# --- people, from the command line -----------------------------------------------------


def labelled(stdout: str) -> dict[str, str]:
    lines = [line.partition(":") for line in stdout.splitlines()]
    return {key.strip(): value.strip() for key, sep, value in lines if sep}


def cli_create_user(instance, email: str, client_id: str, role: str, *more: str):
    return run_cli(instance, "create-user", email, "--org", client_id, "--role", role, *more)


def test_create_user_prints_a_password_once_that_signs_in(tmp_path):
    instance = tmp_path / "instance"
    org = labelled(run_cli(instance, "create-org", "Acme").stdout)

    result = cli_create_user(instance, "Ana@Example.com", org["client_id"], "admin")
    printed = labelled(result.stdout)
    as_json = cli_create_user(
        instance, "bo@example.com", org["client_id"], "agent", "--name", "Bo Agent", "--json"
    )

    password = printed["password"]
    assert len(password) >= 12 and result.stdout.count(password) == 1
    assert printed["email"] == "ana@example.com"  # one person, whatever the case typed
    assert "cannot be shown again" in result.stdout
    bo = json.loads(as_json.stdout)
    assert set(bo) == {"email", "password"} and bo["email"] == "bo@example.com"
    # Only a scrypt hash is stored, never the password.
    stored = dict(read_database(instance, 'SELECT email, password_hash FROM "user"'))
    assert stored["ana@example.com"].startswith("scrypt$16384$8$1$")
    assert password not in stored["ana@example.com"]

    app = create_app({"INSTANCE_PATH": str(instance), "TESTING": True})
    client = app.test_client()
    signed_in = sign_in(client, "ANA@example.com", password)
    assert signed_in.status_code == 303 and signed_in.headers["Location"].endswith(HOME)
    home = assert_page(client.get(HOME), 200)
    assert "<h1>Inbox</h1>" in home and "Acme" in home and "admin" in home
    bo_browser = app.test_client()
    assert sign_in(bo_browser, "bo@example.com", bo["password"]).status_code == 303
    assert "Bo Agent" in assert_page(bo_browser.get(HOME), 200)


def test_create_user_refuses_clearly(tmp_path):
    instance = tmp_path / "instance"
    org = labelled(run_cli(instance, "create-org", "Acme").stdout)
    cli_create_user(instance, "ana@example.com", org["client_id"], "agent")

    refusals = {
        "cmp_nosuchclient": ("ana2@example.com", "--org", "cmp_nosuchclient", "--role", "agent"),
        "'boss' is not one of": ("ana3@example.com", "--org", org["client_id"], "--role", "boss"),
        "already used": ("ANA@Example.com", "--org", org["client_id"], "--role", "owner"),
        "not an email address": ("ana", "--org", org["client_id"], "--role", "owner"),
    }
    for expected, args in refusals.items():
        result = run_cli(instance, "create-user", *args, check=False)
        assert result.returncode != 0, args
        assert expected in result.stderr, result.stderr
        assert "Traceback" not in result.stderr and result.stdout == ""
    assert read_database(instance, 'SELECT count(*) FROM "user"') == [(1,)]


def test_init_demo_prints_a_console_sign_in_that_works(tmp_path):
    instance = tmp_path / "instance"
    first = labelled(run_cli(instance, "init", "--demo").stdout)
    again = labelled(run_cli(instance, "init", "--demo").stdout)

    assert first["console_email"] == "demo@example.com"
    assert again["console_password"] == first["console_password"]
    app = create_app({"INSTANCE_PATH": str(instance), "TESTING": True})
    client = app.test_client()
    assert sign_in(client, first["console_email"], first["console_password"]).status_code == 303
    home = assert_page(client.get(HOME), 200)
    assert "Demo organization" in home and "owner" in home
    # The demo page is public: it shows the widget's ids, never the owner's password.
    assert first["console_password"] not in text(client.get("/demo"))


def test_init_demo_adds_an_owner_to_a_demo_made_before_the_console(tmp_path):
    instance = tmp_path / "instance"
    run_cli(instance, "init", "--demo")
    credentials = instance / "demo-credentials.json"
    older = {k: v for k, v in json.loads(credentials.read_text()).items() if "console" not in k}
    credentials.write_text(json.dumps(older))
    write_database(instance, 'DELETE FROM "user"')

    printed = labelled(run_cli(instance, "init", "--demo").stdout)

    assert printed["client_secret"] == older["client_secret"]
    kept = json.loads(credentials.read_text())
    assert kept["console_password"] == printed["console_password"]
    app = create_app({"INSTANCE_PATH": str(instance), "TESTING": True})
    response = sign_in(app.test_client(), printed["console_email"], printed["console_password"])
    assert response.status_code == 303


# --- passwords -------------------------------------------------------------------------


def test_passwords_are_salted_scrypt_hashes():
    first, second = hash_password(PASSWORD), hash_password(PASSWORD)

    assert first != second  # a salt of its own each
    scheme, n, r, p, salt, key = first.split("$")
    assert (scheme, n, r, p) == ("scrypt", "16384", "8", "1")
    assert len(base64.b64decode(salt)) == 16
    assert verify_password(PASSWORD, first) and verify_password(PASSWORD, second)
    assert not verify_password(PASSWORD + " ", first)
    for broken in ("", "scrypt$1$2", first.replace("scrypt", "md5"), first[:-8]):
        assert not verify_password(PASSWORD, broken)


def test_generated_passwords_are_long_and_typed_ones_must_be(app, org):
    generated = {generate_password() for _ in range(20)}
    assert len(generated) == 20 and all(len(p) >= 24 for p in generated)
    with app.app_context():
        with pytest.raises(ValidationFailed):
            create_user(org.organization_id, "ana@example.com", "agent", password="short pass")
        _, password = create_user(org.organization_id, "ana@example.com", "agent")
    assert len(password) >= 24
    assert sign_in(app.test_client(), "ana@example.com", password).status_code == 303


# --- signing in and out ----------------------------------------------------------------


def test_signed_out_home_redirects_to_the_sign_in_form(client):
    assert_sent_to_sign_in(client.get(HOME))
    assert_sent_to_sign_in(client.get("/console"))
    form = assert_page(client.get(SIGN_IN), 200)
    assert 'type="password"' in form and 'name="csrf_token"' in form


def test_wrong_password_and_unknown_email_get_the_same_answer(app, client, org):
    email = add_user(app, org, "ana@example.com")

    wrong_password = sign_in(client, email, "not the password at all")
    unknown = sign_in(client, "nobody@example.com", PASSWORD)
    inactive_email = add_user(app, org, "gone@example.com")
    with app.app_context():
        User.update(is_active=False).where(User.email == inactive_email).execute()
    inactive = sign_in(client, inactive_email, PASSWORD)

    for response in (wrong_password, unknown, inactive):
        assert_page(response, 401)
        assert alert(response) == REFUSED
        assert SESSION_COOKIE not in set_cookies(response)
    assert session_count(app) == 0


def test_cookies_are_httponly_strict_and_limited_to_the_console(app, org):
    email = add_user(app, org, "ana@example.com")
    client = app.test_client()

    form = client.get(SIGN_IN, base_url="https://localhost")
    signed_in = sign_in(client, email, base_url="https://localhost")
    plain = app.test_client().get(SIGN_IN)

    for cookie in (set_cookies(form)[CSRF_COOKIE], set_cookies(signed_in)[SESSION_COOKIE]):
        attributes = [part.strip() for part in cookie.split(";")]
        assert {"HttpOnly", "SameSite=Strict", "Path=/console", "Secure"} <= set(attributes)
    session_cookie = set_cookies(signed_in)[SESSION_COOKIE]
    assert "Max-Age=43200" in session_cookie  # CONSOLE_SESSION_HOURS, 12 by default
    # Over plain HTTP (a laptop's loopback) the cookie could not be sent back if Secure.
    assert "Secure" not in set_cookies(plain)[CSRF_COOKIE]
    assert "HttpOnly" in set_cookies(plain)[CSRF_COOKIE]


def test_the_session_id_is_stored_only_as_a_hash(app, org):
    client = signed_in_client(app, add_user(app, org, "ana@example.com"))
    raw = client.get_cookie(SESSION_COOKIE, path="/console").value

    with app.app_context():
        stored = [s.session_hash for s in ConsoleSession.select()]
    assert len(stored) == 1 and raw not in stored[0] and len(stored[0]) == 64


def test_sign_out_ends_the_session_on_the_server(app, org):
    client = signed_in_client(app, add_user(app, org, "ana@example.com"))
    raw = client.get_cookie(SESSION_COOKIE, path="/console").value
    token = form_token(client.get(HOME))

    signed_out = sign_out(client, token)

    assert_sent_to_sign_in(signed_out)
    assert "Max-Age=0" in set_cookies(signed_out)[SESSION_COOKIE]
    assert session_count(app) == 0
    # A copy of the old cookie, kept by someone else, opens nothing now.
    thief = app.test_client()
    thief.set_cookie(SESSION_COOKIE, raw, path="/console")
    assert_sent_to_sign_in(thief.get(HOME))


def test_a_post_without_the_right_csrf_token_is_refused_and_changes_nothing(app, org):
    email = add_user(app, org, "ana@example.com")
    client = signed_in_client(app, email)

    for token in (None, "", "x" * 43, form_token(client.get(HOME)) + "x"):
        page = assert_page(sign_out(client, token), 403)
        assert "reload the page" in page
    assert session_count(app) == 1
    assert assert_page(client.get(HOME), 200)

    # Signing in: the form's token must match the cookie set with the form.
    stranger = app.test_client()
    form = {"email": email, "password": PASSWORD, "csrf_token": "y" * 43}
    assert_page(stranger.post(SIGN_IN, data=form), 403)  # no cookie at all
    stranger.get(SIGN_IN)
    assert_page(stranger.post(SIGN_IN, data=form), 403)  # a cookie, but another token
    del form["csrf_token"]
    assert_page(stranger.post(SIGN_IN, data=form), 403)
    assert session_count(app) == 1


def test_an_expired_session_goes_back_to_the_sign_in_form(app, org):
    client = signed_in_client(app, add_user(app, org, "ana@example.com"))
    with app.app_context():
        session = ConsoleSession.get()
        assert timedelta(hours=11) < session.expires_at - utcnow() <= timedelta(hours=12)
        ConsoleSession.update(expires_at=utcnow() - timedelta(seconds=1)).execute()

    response = client.get(HOME)

    assert_sent_to_sign_in(response)
    assert "Max-Age=0" in set_cookies(response)[SESSION_COOKIE]


def test_a_deactivated_person_is_signed_out(app, org):
    email = add_user(app, org, "ana@example.com")
    client = signed_in_client(app, email)
    with app.app_context():
        User.update(is_active=False).where(User.email == email).execute()

    assert_sent_to_sign_in(client.get(HOME))


def test_session_length_is_a_setting(tmp_path):
    config = {"INSTANCE_PATH": str(tmp_path / "i"), "TESTING": True, "CONSOLE_SESSION_HOURS": 1}
    app = create_app(config)
    org = new_org(app)
    response = sign_in(app.test_client(), add_user(app, org, "ana@example.com"))

    assert "Max-Age=3600" in set_cookies(response)[SESSION_COOKIE]
    with app.app_context():
        left = ConsoleSession.get().expires_at - utcnow()
    assert timedelta(minutes=59) < left <= timedelta(hours=1)


# --- rate limits -----------------------------------------------------------------------

LIMIT = 3


@pytest.fixture
def limited_app(tmp_path):
    return create_app(
        {
            "INSTANCE_PATH": str(tmp_path / "limited"),
            "TESTING": True,
            "CONSOLE_SIGN_IN_RATE_LIMIT": f"{LIMIT}/minute",
        }
    )


def assert_too_many(response) -> None:
    page = assert_page(response, 429)
    assert "Too many sign-in attempts" in page
    assert 0 < int(response.headers["Retry-After"]) <= 60


def test_a_sign_in_storm_from_one_ip_gets_429(limited_app):
    org = new_org(limited_app)
    email = add_user(limited_app, org, "ana@example.com")
    client = limited_app.test_client()
    storm = {"environ_base": {"REMOTE_ADDR": "203.0.113.7"}}

    for attempt in range(LIMIT):
        assert sign_in(client, f"guess{attempt}@example.com", **storm).status_code == 401

    assert_too_many(sign_in(client, email, **storm))  # even the right password, from there
    assert session_count(limited_app) == 0
    elsewhere = sign_in(client, email, environ_base={"REMOTE_ADDR": "198.51.100.1"})
    assert elsewhere.status_code == 303


def test_a_storm_against_one_address_gets_429_from_every_ip(limited_app):
    org = new_org(limited_app)
    email = add_user(limited_app, org, "ana@example.com")
    other = add_user(limited_app, org, "bo@example.com")
    client = limited_app.test_client()

    for attempt in range(LIMIT):
        ip = {"environ_base": {"REMOTE_ADDR": f"203.0.113.{attempt + 1}"}}
        assert sign_in(client, email.upper(), "wrong password " * 2, **ip).status_code == 401

    assert_too_many(sign_in(client, email, environ_base={"REMOTE_ADDR": "198.51.100.9"}))
    # Another person, from one of those addresses, is not held up.
    assert sign_in(client, other, environ_base={"REMOTE_ADDR": "203.0.113.1"}).status_code == 303


def test_console_pages_do_not_count_against_the_limit(limited_app):
    client = limited_app.test_client()
    for _ in range(LIMIT + 2):
        assert_page(client.get(SIGN_IN), 200)


# --- what a signed-in person sees ------------------------------------------------------


def test_a_person_sees_their_own_organization_only(app, make_org):
    org_a, org_b = make_org("Alpha Widgets"), make_org("Beta Gadgets")
    add_user(app, org_a, "ana@alpha.example", "owner")
    email_b = add_user(app, org_b, "bo@beta.example", "agent", name="Bo Beta")

    home = assert_page(signed_in_client(app, email_b).get(HOME), 200)

    assert "Beta Gadgets" in home and "Bo Beta" in home
    assert "Alpha Widgets" not in home and "ana@alpha.example" not in home


def test_a_display_name_is_shown_escaped(app, org):
    name = '<script>alert("hi")</script> & Co'
    email = add_user(app, org, "ana@example.com", name=name)

    home = assert_page(signed_in_client(app, email).get(HOME), 200)

    assert "<script>" not in home
    assert "&lt;script&gt;alert(&#34;hi&#34;)&lt;/script&gt; &amp; Co" in home


def test_an_address_typed_back_into_the_form_is_escaped(client):
    response = sign_in(client, '"><script>x()</script>@example.com', "whatever password")
    assert "<script>x()" not in assert_page(response, 401)


@pytest.mark.parametrize("role", ["agent", "admin", "owner"])
def test_home_shows_each_role(app, org, role):
    email = add_user(app, org, f"{role}@example.com", role, name=f"The {role}")

    home = assert_page(signed_in_client(app, email).get(HOME), 200)

    assert f"The {role}" in home and f'class="role">{role}<' in home and "Org A" in home


@pytest.mark.parametrize(("role", "status"), [("agent", 403), ("admin", 200), ("owner", 200)])
def test_console_requires_ranks_roles(app, org, role, status):
    client = signed_in_client(app, add_user(app, org, f"{role}@example.com", role))

    response = client.get(ADMIN_ONLY)

    page = assert_page(response, status)
    assert ("the admins' page" in page) is (status == 200)
    if status == 403:
        assert "Your role (agent)" in page


def test_console_requires_sends_the_signed_out_to_sign_in(client):
    assert_sent_to_sign_in(client.get(ADMIN_ONLY))


def test_a_signed_in_person_opening_the_form_goes_home(app, org):
    client = signed_in_client(app, add_user(app, org, "ana@example.com"))
    response = client.get(SIGN_IN)
    assert response.status_code == 302 and response.headers["Location"].endswith(HOME)


# --- the console is not the API --------------------------------------------------------


def test_api_credentials_and_cors_do_not_apply_to_the_console(app, org, client):
    email = add_user(app, org, "ana@example.com")
    api_headers = {"Authorization": "Basic dXNlcjpwYXNz", "X-API-Key": "cmp_nothing"}

    form = client.get(SIGN_IN, headers={**api_headers, "Origin": "https://evil.example"})
    assert_page(form, 200)
    assert "Access-Control-Allow-Origin" not in form.headers
    # An API key signs nobody in to the console; only the cookie does.
    assert_sent_to_sign_in(client.get(HOME, headers=org.headers))
    signed_in = signed_in_client(app, email)
    assert_page(signed_in.get(HOME, headers=api_headers), 200)


def test_console_errors_are_pages_and_api_errors_stay_json(client):
    missing = assert_page(client.get("/console/no-such-page"), 404)
    assert "Not Found" in missing
    assert_page(client.put(SIGN_IN), 405)

    api = client.get("/api/v1/no-such-route")
    assert api.status_code == 404 and api.get_json()["status"] == "error"
    api = client.get("/api/v1/assistants/")
    assert api.status_code == 401 and api.get_json()["status_code"] == 401
