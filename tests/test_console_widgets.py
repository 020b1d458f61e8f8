"""The console's Widget section over HTTP: configs listed, created, edited and deleted by
the roles that may, the preview page the editor frames, and the script tag to paste.

Also the rule the preview needs from the API: a page served by this server (its own
origin) may always get and use widget tokens, whatever origins a config allows.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass

import pytest
from conftest import Org, assert_envelope, bearer, console_sign_in

from companin.models import WidgetConfig
from companin.services.people import create_user

PASSWORD = "a long enough password"
WIDGETS = "/console/widgets"
SHOP = "https://shop.example.com"
EVIL = "https://evil.example"


# --- people of two organizations, signed in ----------------------------------------------


@dataclass
class Person:
    """A signed-in browser of the console: its client and its session's CSRF token."""

    client: object
    token: str
    email: str

    def get(self, path: str, **kwargs):
        return self.client.get(path, **kwargs)

    def post(self, path: str, token: str | None = "session", **fields):
        """POST a form as the page would, with the session's token (or `token`)."""
        data = dict(fields)
        if token is not None:
            data["csrf_token"] = self.token if token == "session" else token
        return self.client.post(path, data=data)


def sign_in_as(app, org: Org, role: str, email: str | None = None) -> Person:
    """A person of `org` with `role`, signed in through the form."""
    email = email or f"{role}@{org.client_id}.example"
    with app.app_context():
        create_user(org.organization_id, email, role, f"{role.title()} Person", PASSWORD)
    client = app.test_client()
    assert console_sign_in(client, email, PASSWORD).status_code == 303
    return Person(client, form_token(client.get("/console/")), email)


def form_token(response) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', text(response)).group(1)


def text(response) -> str:
    return response.get_data(as_text=True)


def alert(response) -> str:
    """The words of the page's alert, tags and spaces squeezed out."""
    found = re.search(r'<(p|div) class="alert" role="alert">(.*?)</\1>', text(response), re.S)
    words = re.sub(r"<[^>]+>", " ", found.group(2)) if found else ""
    return re.sub(r"\s+", " ", words).strip()


def notice(response) -> str:
    found = re.search(r'class="notice" role="status">([^<]*)<', text(response))
    return found.group(1) if found else ""


class Team(dict):
    """Organization A's "owner", "admin" and "agent", and B's owner ("other"), each signed
    in when a test first asks for them (hashing passwords takes a while)."""

    def __init__(self, app, org: Org, other_org: Org):
        super().__init__()
        self.app, self.orgs = app, {"a": org, "b": other_org}

    def __missing__(self, name: str) -> Person:
        org, role = ("b", "owner") if name == "other" else ("a", name)
        self[name] = sign_in_as(self.app, self.orgs[org], role)
        return self[name]


@pytest.fixture
def team(app, org, other_org) -> Team:
    return Team(app, org, other_org)


# --- widget configs ----------------------------------------------------------------------


def config_form(assistant: str, **changes: str) -> dict[str, str]:
    """What the editor's form sends."""
    form = {
        "name": "Shop widget",
        "assistant_id": assistant,
        "theme_title": "Ask Acme",
        "theme_launcher_text": "Questions?",
        "theme_primary_color": "#0f766e",
        "theme_position": "bottom-left",
        "greeting": "Hello from Acme!",
        "suggested_questions": "Where is my order?\n\n  When are you open?  \n",
        "allowed_origins": "HTTPS://Shop.Example.com\nhttp://localhost:3000/",
        "show_sources": "on",
    }
    form.update(changes)
    return form


def stored(app) -> list[WidgetConfig]:
    with app.app_context():
        return list(WidgetConfig.select().order_by(WidgetConfig.created_at))


def create(person: Person, assistant: str, **changes: str):
    return person.post(f"{WIDGETS}/new", **config_form(assistant, **changes))


@pytest.fixture
def config(client, org, assistant) -> dict:
    """A config of organization A, made through the API."""
    body = {"assistant_id": assistant["id"], "name": "Saved", "theme": {"title": "Saved title"}}
    response = client.post("/api/v1/widget-configs/", json=body, headers=org.headers)
    return assert_envelope(response, 201)


def test_an_admin_creates_a_config_from_the_form_as_the_api_would_store_it(
    app, team, assistant, org
):
    form = text(team["admin"].get(f"{WIDGETS}/new"))
    assert 'action="/console/widgets/new"' in form and "data-render-now" in form

    created = create(team["admin"], assistant["id"])

    assert created.status_code == 303
    [config] = stored(app)
    assert created.headers["Location"].endswith(f"{WIDGETS}/{config.id}?notice=widget_created")
    assert config.name == "Shop widget" and str(config.assistant_id) == assistant["id"]
    assert config.theme == {
        "title": "Ask Acme",
        "launcher_text": "Questions?",
        "primary_color": "#0f766e",
        "position": "bottom-left",
    }
    assert config.suggested_questions == ["Where is my order?", "When are you open?"]
    assert config.allowed_origins == [SHOP, "http://localhost:3000"]  # normalized, as the API
    assert config.show_sources is True
    page = team["admin"].get(created.headers["Location"])
    assert notice(page) == "Widget config created."
    # The list names it and its assistant, for every role.
    listed = text(team["agent"].get(WIDGETS))
    assert "Shop widget" in listed and "Helper" in listed and SHOP in listed


def test_saving_the_form_changes_the_config_and_unchecked_sources_are_off(app, team, config):
    path = f"{WIDGETS}/{config['id']}"
    form = config_form(config["assistant_id"], theme_title="", greeting="Hi there")
    del form["show_sources"]

    saved = team["admin"].post(path, **form)

    assert saved.status_code == 303
    assert saved.headers["Location"].endswith(f"{path}?notice=widget_saved")
    [row] = stored(app)
    assert row.greeting == "Hi there" and row.show_sources is False
    assert "title" not in row.theme  # blank: the widget's own default
    page = text(team["owner"].get(path))
    assert 'value="Hi there"' not in page and ">Hi there</textarea>" in page


def test_the_editor_shows_the_script_tag_to_paste(team, config, org):
    page = text(team["agent"].get(f"{WIDGETS}/{config['id']}"))

    snippet = html.unescape(re.search(r'id="embed-snippet">([^<]*)<', page).group(1))
    assert snippet == (
        '<script src="http://localhost/widget.js"\n'
        f'        data-client-id="{org.client_id}"\n'
        f'        data-assistant-id="{config["assistant_id"]}"\n'
        f'        data-config-id="{config["id"]}"\n'
        '        data-instance-id="primary-widget"></script>'
    )
    assert 'data-copy="embed-snippet"' in page
    assert "widget_editor.js" in page
    preview = f'src="{WIDGETS}/{config["id"]}/preview"'
    assert preview in page


def test_an_agent_reads_but_cannot_change_even_by_forging_the_form(app, team, config, assistant):
    path = f"{WIDGETS}/{config['id']}"
    agent = team["agent"]

    page = text(agent.get(path))
    assert "<fieldset disabled" in page and 'type="submit">Save' not in page
    assert "New widget config" not in text(agent.get(WIDGETS))
    refused = [
        agent.get(f"{WIDGETS}/new"),
        agent.post(f"{WIDGETS}/new", **config_form(assistant["id"])),
        agent.post(path, **config_form(assistant["id"], name="Agent's")),
        agent.get(f"{path}/delete"),
        agent.post(f"{path}/delete"),
    ]

    assert [response.status_code for response in refused] == [403] * 5
    assert "does not open this page" in text(refused[1])
    [row] = stored(app)
    assert row.name == "Saved"


def test_a_change_without_the_csrf_token_is_refused(app, team, config, assistant):
    admin = team["admin"]
    path = f"{WIDGETS}/{config['id']}"

    form = config_form(assistant["id"])
    for token in (None, "", "x" * 43):
        assert admin.post(f"{WIDGETS}/new", token, **form).status_code == 403
        assert admin.post(path, token, **form).status_code == 403
        assert admin.post(f"{path}/delete", token).status_code == 403
    assert [row.name for row in stored(app)] == ["Saved"]


def test_another_organization_finds_no_config_of_ours(app, team, config, assistant):
    path = f"{WIDGETS}/{config['id']}"
    other = team["other"]

    responses = [
        other.get(path),
        other.get(f"{path}/preview"),
        other.get(f"{path}/delete"),
        other.post(path, **config_form(assistant["id"], name="Taken")),
        other.post(path, **config_form("not even an id")),
        other.post(f"{path}/delete"),
    ]

    assert [response.status_code for response in responses] == [404] * 6
    assert "Saved" not in text(other.get(WIDGETS))
    # Nor may B's config point at A's assistant.
    made = create(other, assistant["id"])
    assert made.status_code == 422 and "Assistant not found" in alert(made)
    [row] = stored(app)
    assert row.name == "Saved"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"theme_primary_color": "red"}, "Colour: Use a #RRGGBB colour."),
        (
            {"allowed_origins": f"{SHOP}\nhttps://shop.example.com/checkout"},
            "Allowed origins, line 2: Not an origin",
        ),
        ({"theme_position": "top-left"}, "Position: Must be one of"),
        ({"assistant_id": "not-a-uuid"}, "Assistant: Not a valid UUID."),
        ({"suggested_questions": "\n".join(f"Q{n}?" for n in range(11))}, "Suggested questions"),
        ({"greeting": "x" * 1001}, "Greeting: Longer than maximum length 1000."),
    ],
)
def test_bad_input_is_a_422_form_saying_why_and_nothing_is_stored(
    app, team, config, assistant, changes, message
):
    path = f"{WIDGETS}/{config['id']}"

    for response in (
        create(team["admin"], assistant["id"], **changes),
        team["admin"].post(path, **config_form(assistant["id"], **changes)),
    ):
        assert response.status_code == 422
        assert message in alert(response), alert(response)
        # The form comes back as it was sent, to correct rather than retype.
        assert 'value="Ask Acme"' in text(response)
    [row] = stored(app)
    assert row.name == "Saved" and row.theme == {"title": "Saved title"}


def test_stored_markup_is_shown_as_text(team, assistant):
    script = "<script>alert(1)</script>"
    created = create(
        team["admin"], assistant["id"], name=script, greeting=script, theme_title=script
    )
    page = text(team["agent"].get(created.headers["Location"]))
    listed = text(team["agent"].get(WIDGETS))

    for body in (page, listed):
        assert script not in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in body


def test_deleting_asks_first(app, team, config):
    path = f"{WIDGETS}/{config['id']}"

    confirm = team["admin"].get(f"{path}/delete")
    assert confirm.status_code == 200 and "cannot be undone" in text(confirm)
    assert len(stored(app)) == 1

    deleted = team["admin"].post(f"{path}/delete")

    assert deleted.status_code == 303 and deleted.headers["Location"].endswith("widget_deleted")
    assert stored(app) == []
    assert team["admin"].get(path).status_code == 404


def test_without_an_assistant_the_list_says_to_create_one_first(team):
    page = text(team["admin"].get(WIDGETS))
    assert "create an assistant" in page and "New widget config" not in page


# --- the preview -------------------------------------------------------------------------


def preview_tag(response) -> dict[str, str] | None:
    """The widget's script tag on the preview page, attribute by attribute."""
    found = re.search(r"<script ([^>]*)></script>", text(response))
    if found is None:
        return None
    pairs = re.findall(r'([\w-]+)="([^"]*)"', found.group(1))
    return {name: html.unescape(value) for name, value in pairs}


def test_the_preview_loads_the_real_widget_with_the_saved_config(team, config, org):
    response = team["agent"].get(f"{WIDGETS}/{config['id']}/preview")

    assert response.status_code == 200
    tag = preview_tag(response)
    assert tag["src"] == "/widget.js"
    assert tag["data-client-id"] == org.client_id
    assert tag["data-assistant-id"] == config["assistant_id"]
    assert tag["data-config-id"] == config["id"]
    assert json.loads(tag["data-config"])["theme"] == {"title": "Saved title"}
    # The console may frame it; nothing else may.
    policy = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'self'" in policy and "frame-ancestors 'none'" not in policy
    assert "script-src 'self'" in policy
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    # Every other console page stays unframable.
    editor = team["agent"].get(f"{WIDGETS}/{config['id']}")
    assert editor.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in editor.headers["Content-Security-Policy"]


def test_the_preview_shows_a_draft_validated_as_a_save_would_be(app, team, config, assistant):
    preview = f"{WIDGETS}/{config['id']}/preview"
    draft = config_form(assistant["id"], theme_launcher_text="Draft <b>words</b>", draft="1")

    response = team["admin"].get(preview, query_string=draft)

    shown = json.loads(preview_tag(response)["data-config"])
    assert shown["theme"]["launcher_text"] == "Draft <b>words</b>"
    assert shown["suggested_questions"] == ["Where is my order?", "When are you open?"]
    assert "<b>words</b>" not in text(response)  # an attribute's text, escaped
    assert stored(app)[0].theme == {"title": "Saved title"}  # a preview saves nothing

    bad = team["admin"].get(preview, query_string={**draft, "theme_primary_color": "red"})
    assert bad.status_code == 422 and "Use a #RRGGBB colour" in alert(bad)
    assert preview_tag(bad) is None


def test_a_draft_for_another_assistant_is_previewed_unbound_to_the_config(
    client, org, team, config
):
    other = client.post("/api/v1/assistants/", json={"name": "Other"}, headers=org.headers)
    other_id = assert_envelope(other, 201)["id"]

    response = team["admin"].get(
        f"{WIDGETS}/{config['id']}/preview", query_string=config_form(other_id, draft="1")
    )

    tag = preview_tag(response)
    assert tag["data-assistant-id"] == other_id and "data-config-id" not in tag
    # A new config's preview has no config id either.
    new = preview_tag(
        team["admin"].get(f"{WIDGETS}/new/preview", query_string=config_form(other_id, draft="1"))
    )
    assert new["data-assistant-id"] == other_id and "data-config-id" not in new


# --- the server's own origin -------------------------------------------------------------


@pytest.fixture
def restricted(client, org, config) -> dict:
    """Organization A allows only SHOP."""
    response = client.patch(
        f"/api/v1/widget-configs/{config['id']}",
        json={"allowed_origins": [SHOP]},
        headers=org.headers,
    )
    return assert_envelope(response, 200)


def token_request(client, org: Org, origin: str | None, base_url: str = "http://localhost"):
    headers = {"Origin": origin} if origin else {}
    return client.post(
        "/api/v1/auth/widget-token",
        json={"client_id": org.client_id, "visitor_key": "v" * 32},
        headers=headers,
        base_url=base_url,
    )


def test_the_servers_own_origin_may_always_use_the_widgets(client, org, restricted):
    own = token_request(client, org, "http://localhost")
    assert own.status_code == 200, own.get_json()
    token = own.get_json()["token"]
    config_path = f"/api/v1/widget-configs/{restricted['id']}"

    read = client.get(config_path, headers=bearer(token, Origin="http://localhost"))
    assert_envelope(read, 200)
    # Behind another name and port, that one is the server's own.
    proxied = token_request(
        client, org, "https://console.acme.example:8443", "https://console.acme.example:8443"
    )
    assert proxied.status_code == 200


@pytest.mark.parametrize("origin", [EVIL, "http://localhost:3000", "https://localhost", None])
def test_a_foreign_origin_is_still_refused_when_origins_are_configured(
    client, org, restricted, origin
):
    refused = token_request(client, org, origin)
    assert_envelope(refused, 403)
    # A token got elsewhere does not open the API to that origin either.
    token = token_request(client, org, SHOP).get_json()["token"]
    headers = bearer(token, **({"Origin": origin} if origin else {}))
    assert_envelope(client.get(f"/api/v1/widget-configs/{restricted['id']}", headers=headers), 403)
    # Another server's name is not ours because the page says so.
    assert_envelope(token_request(client, org, "http://localhost", "http://other.example"), 403)
