"""The console's Assistants section through Flask's test client: the list, the persona's
form (admins change it, agents read it), and the test chat beside it, which answers
through the customers' pipeline in sessions marked as tests.

One app serves the module (see test_console_knowledge.py). It answers offline, except for
an assistant whose own model is served by a real OpenAI-compatible server on loopback
(tests/fake_llm.py), which fails on request.
"""

from __future__ import annotations

import re

import pytest
from fake_llm import FakeLLM, Reply
from test_console_knowledge import add_qa, alert, make_team, post, text

from companin import create_app
from companin.models import Message, Session

pytestmark = pytest.mark.module_data  # its fixtures hold data all its tests share

ASSISTANTS = "/console/assistants"
API = "/api/v1"
FALLBACK = "Let me find a person who knows."
PERSONA = {
    "name": "Ada",
    "description": "Answers the shop's questions.",
    "tone": "friendly",
    "language": "en",
    "instructions": "Be brief.",
    "default_tasks": "Track an order\n\n  Explain returns  \n",
    "model": "",
    "temperature": "0.4",
    "fallback_message": FALLBACK,
    "is_active": "on",
}


@pytest.fixture(scope="module")
def model_server():
    with FakeLLM() as server:
        yield server


@pytest.fixture(scope="module")
def console_app(tmp_path_factory, model_server):
    return create_app(
        {
            "INSTANCE_PATH": str(tmp_path_factory.mktemp("console-assistants") / "instance"),
            "TESTING": True,
            "CONSOLE_SIGN_IN_RATE_LIMIT": "10000/minute",
            "MAX_MESSAGE_CHARS": 300,
            # No default model (offline), but an assistant may name one on this server.
            "LLM_API_BASE": model_server.base_url,
            "LLM_API_KEY": "sk-test-not-real",
            "LLM_TIMEOUT_S": 2,
        }
    )


@pytest.fixture
def team(console_app):
    return make_team(console_app, "Acme")


@pytest.fixture
def other_team(console_app):
    return make_team(console_app, "Other")


def api_assistants(team) -> list[dict]:
    response = team.app.test_client().get(f"{API}/assistants/", headers=team.api_headers)
    assert response.status_code == 200
    return response.get_json()["data"]


def create(team, **changes) -> dict:
    """Create an assistant through the console's form; the API's view of it."""
    response = post(team.as_("admin"), ASSISTANTS, **{**PERSONA, **changes})
    assert response.status_code == 303, alert(response)
    assert "notice=assistant_created" in response.headers["Location"]
    return [a for a in api_assistants(team) if a["name"] == changes.get("name", PERSONA["name"])][0]


def ask(browser, assistant: dict, content: str, session_id: str = "", status: int = 200) -> dict:
    """The test chat's POST, as the page's script sends it (FormData with the token)."""
    response = post(
        browser,
        f"{ASSISTANTS}/{assistant['id']}/test-chat",
        content=content,
        session_id=session_id,
    )
    assert response.status_code == status, text(response)
    assert response.is_json
    return response.get_json()


def field(page: str, name: str) -> str:
    """The value an input or textarea of the form shows."""
    found = re.search(rf'<input[^>]* name="{name}" value="([^"]*)"', page) or re.search(
        rf'<textarea id="{name}" name="{name}"[^>]*>([^<]*)</textarea>', page
    )
    assert found, name
    return found.group(1)


# --- the list and the form --------------------------------------------------------------


def test_an_admin_creates_an_assistant_and_edits_its_persona(team):
    admin = team.as_("admin")
    form = text(admin.get(f"{ASSISTANTS}/new"))

    created = create(team)
    edit_path = f"{ASSISTANTS}/{created['id']}"
    unticked = {k: v for k, v in PERSONA.items() if k != "is_active"}  # a box sends nothing
    saved = post(admin, edit_path, **{**unticked, "name": "Ada Lovelace", "temperature": ""})
    after = api_assistants(team)[0]
    page = text(admin.get(edit_path))
    listed = text(team.as_("agent").get(ASSISTANTS))

    # A new form shows what a new assistant gets.
    assert field(form, "tone") == "professional" and field(form, "temperature") == "0.2"
    assert "connect you with a member of our team" in form
    assert created["default_tasks"] == ["Track an order", "Explain returns"]
    assert created["temperature"] == 0.4 and created["model"] is None
    assert created["is_active"] is True and created["fallback_message"] == FALLBACK
    assert saved.status_code == 303 and saved.headers["Location"].endswith("notice=assistant_saved")
    assert after["name"] == "Ada Lovelace" and after["is_active"] is False
    assert after["temperature"] == 0.4  # left empty: unchanged
    assert field(page, "name") == "Ada Lovelace"
    assert "Explain returns" in field(page, "default_tasks")
    assert "Ada Lovelace" in listed and "inactive" in listed


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"name": "  "}, "Name: Length must be between 1 and 200."),
        ({"temperature": "3"}, "Temperature: Must be greater than or equal to 0"),
        ({"temperature": "warm"}, "Temperature: Not a valid number."),
        ({"tone": "t" * 101}, "Tone: Longer than maximum length 100."),
    ],
    ids=["no-name", "too-hot", "not-a-number", "long-tone"],
)
def test_a_refused_persona_says_why_and_changes_nothing(team, changes, says):
    admin = team.as_("admin")
    existing = create(team)

    refused_create = post(admin, ASSISTANTS, **{**PERSONA, "name": "Second", **changes})
    refused_update = post(admin, f"{ASSISTANTS}/{existing['id']}", **{**PERSONA, **changes})

    for response in (refused_create, refused_update):
        assert response.status_code == 422
        assert says in alert(response)
        assert "Be brief." in text(response)  # what was typed is still in the form
    assert api_assistants(team) == [existing]


def test_stored_markup_in_a_persona_shows_as_text(team):
    attack = "<script>alert(1)</script>"
    created = create(team, name=f"Ada {attack}", description=attack, fallback_message=attack)

    for path in (ASSISTANTS, f"{ASSISTANTS}/{created['id']}"):
        page = text(team.as_("agent").get(path))
        assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page


# --- the test chat ----------------------------------------------------------------------


def test_the_test_chat_answers_from_the_knowledge_with_its_passages(team, console_app):
    add_qa(team, "When are you open?", "From nine to six, Monday to Saturday.")
    assistant = create(team)
    admin = team.as_("admin")

    first = ask(admin, assistant, "When are you open?")
    second = ask(admin, assistant, "What is the meaning of life?", first["session_id"])

    assert first["reply"] == "From nine to six, Monday to Saturday."
    assert first["handoff"] is False
    (passage,) = first["sources"]
    assert passage["title"] == "When are you open?"
    assert "From nine to six" in passage["snippet"] and 0 < passage["score"] <= 1
    # Nothing relevant: the fallback, and a handoff, as a customer would get.
    assert (second["reply"], second["handoff"], second["sources"]) == (FALLBACK, True, [])
    assert second["session_id"] == first["session_id"]  # one chat
    with console_app.app_context():
        chat = Session.get_by_id(first["session_id"])
        roles = [m.role for m in Message.select().where(Message.session == chat.id)]
    assert chat.is_test and str(chat.assistant_id) == assistant["id"]
    assert roles.count("user") == 2 and roles.count("assistant") == 2


def test_a_test_chat_never_writes_into_a_customers_session(team, console_app):
    assistant = create(team)
    other = create(team, name="Bob")
    client = team.app.test_client()
    customers = client.post(
        f"{API}/sessions/", json={"assistant_id": assistant["id"]}, headers=team.api_headers
    ).get_json()["data"]
    admin = team.as_("admin")
    test_of_other = ask(admin, other, "Hello?")["session_id"]

    answers = [
        ask(admin, assistant, "Hello?", customers["id"]),  # a customer's session
        ask(admin, assistant, "Hello?", test_of_other),  # another assistant's test
        ask(admin, assistant, "Hello?", "not-an-id"),
    ]

    opened = {a["session_id"] for a in answers}
    assert len(opened) == 3 and not opened & {customers["id"], test_of_other}
    history = client.get(f"{API}/sessions/{customers['id']}/messages", headers=team.api_headers)
    assert history.get_json()["data"] == []


@pytest.mark.parametrize(
    ("content", "says"),
    [("   ", "Write something."), ("x" * 301, "Longer than 300 characters.")],
    ids=["empty", "too-long"],
)
def test_a_refused_question_is_a_readable_error(team, content, says):
    assistant = create(team)

    answer = ask(team.as_("admin"), assistant, content, status=422)

    assert says in answer["error"]


def test_a_failing_model_comes_back_as_a_readable_message(team, model_server):
    add_qa(team, "Do you ship abroad?", "Yes, to thirty countries.")
    assistant = create(team, model="openai/test-model")
    model_server.script(Reply(status=500), Reply(status=500), Reply(status=500))

    answer = ask(team.as_("admin"), assistant, "Do you ship abroad?", status=502)

    assert answer["error"].startswith("Model provider failed")
    assert "sk-test-not-real" not in answer["error"] and "Traceback" not in answer["error"]


def test_the_test_chat_uses_the_assistants_own_model(team, model_server):
    add_qa(team, "Do you ship abroad?", "Yes, to thirty countries.")
    assistant = create(team, model="openai/test-model")
    model_server.script(Reply("We ship to thirty countries [1]."))

    answer = ask(team.as_("agent"), assistant, "Do you ship abroad?")

    assert answer["reply"] == "We ship to thirty countries [1]."
    assert answer["model"] == "openai/test-model" and answer["handoff"] is False
    assert [s["title"] for s in answer["sources"]] == ["Do you ship abroad?"]
    assert model_server.requests[-1]["messages"][-1]["content"].endswith("Do you ship abroad?")


# --- roles, CSRF, other organizations ---------------------------------------------------


def test_an_agent_reads_the_persona_and_may_use_the_test_chat_but_changes_nothing(team):
    add_qa(team, "When are you open?", "From nine to six.")
    assistant = create(team)
    agent = team.as_("agent")

    listed = text(agent.get(ASSISTANTS))
    page = text(agent.get(f"{ASSISTANTS}/{assistant['id']}"))
    forged = [
        agent.get(f"{ASSISTANTS}/new"),
        post(agent, ASSISTANTS, **{**PERSONA, "name": "Forged"}),
        post(agent, f"{ASSISTANTS}/{assistant['id']}", **{**PERSONA, "name": "Forged"}),
    ]
    answer = ask(agent, assistant, "When are you open?")

    assert "New assistant" not in listed
    assert '<fieldset class="plain" disabled>' in page and ">Save<" not in page
    assert 'id="test-chat"' in page
    assert [r.status_code for r in forged] == [403, 403, 403]
    assert api_assistants(team) == [assistant]
    assert answer["reply"] == "From nine to six."


def test_a_change_without_the_csrf_token_is_refused(team):
    assistant = create(team)
    admin = team.as_("admin")

    refused = [
        post(admin, ASSISTANTS, csrf=False, **{**PERSONA, "name": "No token"}),
        post(admin, f"{ASSISTANTS}/{assistant['id']}", csrf=False, **PERSONA, csrf_token="x" * 43),
        post(admin, f"{ASSISTANTS}/{assistant['id']}/test-chat", csrf=False, content="Hi?"),
    ]

    assert [r.status_code for r in refused] == [403, 403, 403]
    assert api_assistants(team) == [assistant]


def test_another_organization_finds_none_of_the_assistants(team, other_team):
    assistant = create(team)
    owner = other_team.as_("owner")

    responses = [
        owner.get(f"{ASSISTANTS}/{assistant['id']}"),
        post(owner, f"{ASSISTANTS}/{assistant['id']}", **{**PERSONA, "name": "Taken"}),
        post(owner, f"{ASSISTANTS}/{assistant['id']}/test-chat", content="Hello?"),
    ]

    assert [r.status_code for r in responses] == [404, 404, 404]
    assert assistant["name"] not in text(owner.get(ASSISTANTS))
    assert api_assistants(team) == [assistant]
