"""The console's Knowledge section, as a browser uses it (Flask's test client): the list of
sources, the upload and its status route, the Q&A editor, web pages and their crawl, the
search tester; who may change what, CSRF, other organizations' ids, bad input, escaping.

One app serves the module (a second `create_app` would move the process's database
binding, and each loads the embedder again); every test works in organizations of its own.
"""

from __future__ import annotations

import html
import io
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import console_sign_in, new_org
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from companin import create_app
from companin.db import db
from companin.models import KnowledgeUpload
from companin.services.people import create_user

pytestmark = pytest.mark.module_data  # its fixtures hold data all its tests share

PASSWORD = "a long enough password"
KNOWLEDGE = "/console/knowledge"
MAX_UPLOAD = 64 * 1024
SETTLE_S = 30.0
SLOW_PAGE_S = 1.0
RETURNS = b"Returns\n\nUnused items can be returned within 30 days of delivery for a full refund.\n"
HELP_PAGE = (
    b"<!doctype html><html><head><title>Opening hours</title></head><body><main>"
    b"<h1>Opening hours</h1><p>The Acme shop on Main Street is open from nine to six, "
    b"Monday to Saturday, and closed on Sundays and public holidays.</p></main></body></html>"
)


# --- one app, organizations and their people --------------------------------------------


@pytest.fixture(scope="module")
def console_app(tmp_path_factory):
    return create_app(
        {
            "INSTANCE_PATH": str(tmp_path_factory.mktemp("console-knowledge") / "instance"),
            "TESTING": True,
            "MAX_UPLOAD_BYTES": MAX_UPLOAD,
            # The web pages of these tests are served on loopback, by the test.
            "INGEST_ALLOW_PRIVATE_URLS": True,
            # Each test signs its people in: many sign-ins from one address.
            "CONSOLE_SIGN_IN_RATE_LIMIT": "10000/minute",
        }
    )


@dataclass
class Team:
    """An organization, its API headers, and its people: one of each role, each signed in
    (on first use) in a browser of their own."""

    app: object
    org: object
    emails: dict[str, str]
    browsers: dict = field(default_factory=dict)

    def as_(self, role: str):
        if role not in self.browsers:
            browser = self.app.test_client()
            assert console_sign_in(browser, self.emails[role], PASSWORD).status_code == 303
            self.browsers[role] = browser
        return self.browsers[role]

    @property
    def api_headers(self) -> dict[str, str]:
        return self.org.headers


def make_team(app, name: str = "Acme") -> Team:
    org = new_org(app, name)
    emails = {}
    for role in ("owner", "admin", "agent"):
        emails[role] = f"{role}-{uuid.uuid4().hex[:10]}@example.com"
        with app.app_context():
            create_user(org.organization_id, emails[role], role, f"{role.title()} {name}", PASSWORD)
    return Team(app, org, emails)


@pytest.fixture
def team(console_app) -> Team:
    return make_team(console_app, "Acme")


@pytest.fixture
def other_team(console_app) -> Team:
    return make_team(console_app, "Other")


# --- what a browser does ----------------------------------------------------------------


def text(response) -> str:
    return response.get_data(as_text=True)


def token_of(browser) -> str:
    """The CSRF token the console's pages carry, as a browser would send it back."""
    page = text(browser.get("/console/"))
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def post(browser, path: str, csrf: bool = True, **fields):
    data = {"csrf_token": token_of(browser), **fields} if csrf else fields
    return browser.post(path, data=data)


def upload(
    browser, data: bytes, filename: str, csrf: bool = True, accept: str | None = None, **form
):
    """The upload form's POST, multipart, the file last (as browsers send it)."""
    fields = {**({"csrf_token": token_of(browser)} if csrf else {}), **form}
    boundary, body = encode_multipart(
        {**fields, "file": FileStorage(io.BytesIO(data), filename, content_type="text/plain")}
    )
    headers = {"Accept": accept} if accept else {}
    return browser.post(
        f"{KNOWLEDGE}/files",
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
        headers=headers,
    )


def alert(response) -> str:
    found = re.search(r'role="alert"[^>]*>([^<]*)<', text(response))
    return html.unescape(found.group(1)) if found else ""


def source_ids(response) -> list[str]:
    return re.findall(r'data-source-id="([^"]+)"', text(response))


def api_sources(team: Team) -> list[dict]:
    client = team.app.test_client()
    response = client.get("/api/v1/knowledge/sources/?page_size=100", headers=team.api_headers)
    assert response.status_code == 200
    return response.get_json()["data"]


def add_qa(team: Team, question: str, answer: str, tags: str = "") -> dict:
    before = {s["id"] for s in api_sources(team)}
    response = post(
        team.as_("admin"), f"{KNOWLEDGE}/qa", question=question, answer=answer, tags=tags
    )
    assert response.status_code == 303, alert(response)
    (created,) = [s for s in api_sources(team) if s["id"] not in before]
    return created


def statuses(browser, *ids: str) -> dict[str, dict]:
    query = "&".join(f"id={i}" for i in ids)
    response = browser.get(f"{KNOWLEDGE}/status?{query}")
    assert response.status_code == 200 and response.is_json
    return {row["id"]: row for row in response.get_json()["sources"]}


def settle(browser, source_id: str) -> dict:
    """Follow a source through the status route, as the list's script does, until done."""
    deadline = time.monotonic() + SETTLE_S
    while True:
        row = statuses(browser, source_id)[source_id]
        if row["status"] != "processing":
            return row
        assert time.monotonic() < deadline, f"still processing: {row}"
        time.sleep(0.05)


def uploads_kept(app) -> set[str]:
    """The sources whose file's bytes the database keeps."""
    with db.connection_context():
        return {str(row.source_id) for row in KnowledgeUpload.select(KnowledgeUpload.source)}


@pytest.fixture
def web_site() -> Iterator[str]:
    """A real web site on loopback: a help page that links to a second one, and a slow page
    (a second to answer)."""
    pages = {
        "/help": HELP_PAGE.replace(b"</main>", b'<a href="/returns">Returns</a></main>'),
        "/returns": b"<!doctype html><html><body><main><h1>Returns</h1><p>"
        + RETURNS
        + b"</p></main></body></html>",
        "/slow": HELP_PAGE,
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the base class's name
            body = pages.get(self.path)
            if self.path == "/slow":
                time.sleep(SLOW_PAGE_S)
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, format, *args):  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


# --- files: upload, status, list --------------------------------------------------------


def test_a_plain_upload_form_stores_the_file_and_its_row_follows_it_to_ready(team):
    admin = team.as_("admin")

    response = upload(admin, RETURNS, "returns.txt", title="Returns policy")

    assert response.status_code == 303
    assert "notice=file_uploaded" in response.headers["Location"]
    listed = admin.get(response.headers["Location"])
    assert "It is being indexed" in text(listed)
    (source_id,) = source_ids(listed)
    assert "Returns policy" in text(listed) and "returns.txt" in text(listed)
    row = settle(admin, source_id)
    assert row["status"] == "ready" and row["chunk_count"] >= 1 and row["error"] is None
    # Everyone reads the list, and the status route answers an agent too.
    agent_view = team.as_("agent").get(KNOWLEDGE)
    assert source_ids(agent_view) == [source_id]
    assert 'class="badge ready"' in text(agent_view)
    assert statuses(team.as_("agent"), source_id)[source_id]["status"] == "ready"


def test_the_page_script_gets_json_for_its_upload_and_its_refusals(team):
    admin = team.as_("admin")

    accepted = upload(admin, RETURNS, "returns.md", accept="application/json")
    refused = upload(
        admin, b"\x89PNG\r\n\x1a\n" + bytes(64), "photo.png", accept="application/json"
    )

    assert accepted.status_code == 201
    assert accepted.get_json()["location"].startswith(KNOWLEDGE)
    assert refused.status_code == 422
    assert "PNG image" in refused.get_json()["error"]
    assert [s["filename"] for s in api_sources(team)] == ["returns.md"]


def test_a_failed_file_shows_failed_with_its_error(team):
    admin = team.as_("admin")
    # Text, so it is accepted, but with nothing to read once its markup is gone.
    upload(admin, b"<!doctype html><html><body><script>x()</script></body></html>", "empty.html")
    (source,) = api_sources(team)

    row = settle(admin, source["id"])
    page = text(admin.get(KNOWLEDGE))

    assert row["status"] == "failed" and row["error"]
    assert 'class="badge failed"' in page
    assert html.escape(row["error"], quote=False) in page


@pytest.mark.parametrize(
    ("data", "filename", "status", "says"),
    [
        (b"\x89PNG\r\n\x1a\n" + bytes(64), "photo.png", 422, "PNG image"),
        (b"", "empty.txt", 422, "empty"),
        (b"a" * (MAX_UPLOAD + 1), "big.txt", 413, "larger than 64.0 KB"),
    ],
    ids=["png", "empty", "too-large"],
)
def test_a_refused_file_is_said_clearly_and_nothing_is_kept(team, data, filename, status, says):
    before = uploads_kept(team.app)

    response = upload(team.as_("admin"), data, filename)

    assert response.status_code == status
    assert says in alert(response) or says in text(response)
    assert api_sources(team) == []
    assert uploads_kept(team.app) == before


def test_an_upload_without_a_file_asks_for_one(team):
    response = post(team.as_("admin"), f"{KNOWLEDGE}/files", title="Nothing")

    assert response.status_code == 422
    assert "Choose a file" in alert(response)
    assert api_sources(team) == []


def test_a_body_larger_than_any_upload_is_refused_before_it_is_read(team):
    admin = team.as_("admin")
    body = b"x" * (MAX_UPLOAD + 128 * 1024)

    response = admin.post(
        f"{KNOWLEDGE}/files", data=body, content_type="multipart/form-data; boundary=x"
    )

    assert response.status_code == 413
    assert "larger than 64.0 KB" in text(response)


def test_the_list_is_newest_first_by_type_and_by_page(team):
    pairs = [add_qa(team, f"Question number {n}?", f"Answer {n}.") for n in range(27)]
    upload(team.as_("admin"), RETURNS, "returns.txt")
    agent = team.as_("agent")

    first = agent.get(KNOWLEDGE)
    second = agent.get(f"{KNOWLEDGE}?page=2")
    qa_only = agent.get(f"{KNOWLEDGE}?type=qa&page=2")
    files_only = agent.get(f"{KNOWLEDGE}?type=file")
    far = agent.get(f"{KNOWLEDGE}?page=999999")

    newest_pairs = [p["id"] for p in reversed(pairs)]
    assert len(source_ids(first)) == 25
    assert source_ids(first)[1:] == newest_pairs[:24]  # the file came last, so first
    assert source_ids(second) == newest_pairs[24:]
    assert "Page 2 of 2" in text(second)
    assert source_ids(qa_only) == newest_pairs[25:]
    assert len(source_ids(files_only)) == 1
    assert source_ids(far) == source_ids(second)  # past the end: the last page
    assert "type=qa" in text(qa_only)  # its pager keeps the filter
    bad = agent.get(f"{KNOWLEDGE}?type=spreadsheet")
    assert bad.status_code == 422 and "Type: Must be one of" in text(bad)


# --- the Q&A editor ---------------------------------------------------------------------


def test_a_qa_pair_is_added_with_tags_edited_and_deleted(team):
    admin = team.as_("admin")

    created = add_qa(team, "When are you open?", "Nine to six.", tags=" hours, opening ,hours,")
    edit_path = f"{KNOWLEDGE}/qa/{created['id']}"
    form = text(admin.get(edit_path))
    saved = post(
        admin,
        edit_path,
        question="When is the shop open?",
        answer="From nine to six.",
        tags="hours",
    )
    after = [s for s in api_sources(team) if s["id"] == created["id"]][0]
    found = admin.get(f"{KNOWLEDGE}/search?query=when+is+the+shop+open")

    assert created["tags"] == ["hours", "opening"] and created["status"] == "ready"
    assert 'value="hours, opening"' in form
    assert saved.status_code == 303 and saved.headers["Location"].endswith("notice=qa_saved")
    assert after["question"] == "When is the shop open?" and after["answer"] == "From nine to six."
    assert after["tags"] == ["hours"]
    assert "From nine to six." in text(found)

    deleted = post(admin, f"{KNOWLEDGE}/sources/{created['id']}/delete")

    assert deleted.status_code == 303 and "notice=source_deleted" in deleted.headers["Location"]
    assert api_sources(team) == []
    assert admin.get(edit_path).status_code == 404
    assert "From nine to six." not in text(admin.get(f"{KNOWLEDGE}/search?query=shop+open"))


def test_deleting_asks_for_confirmation_first(team):
    created = add_qa(team, "Do you ship abroad?", "Yes, to 30 countries.")

    page = text(team.as_("admin").get(f"{KNOWLEDGE}/qa/{created['id']}"))

    confirm = re.search(r'<details class="confirm">(.*?)</details>', page, re.S)
    assert confirm, page
    assert "<summary" in confirm.group(1) and "Yes, delete it" in confirm.group(1)
    assert f"/sources/{created['id']}/delete" in confirm.group(1)


def test_the_new_pair_form_is_prefilled_from_the_question_parameter(team):
    asked = 'Can I pay with "vouchers" <script>alert(1)</script>?'

    response = team.as_("admin").get(KNOWLEDGE + "/qa/new", query_string={"question": asked})
    page = text(response)

    assert response.status_code == 200
    field = re.search(r'<textarea id="question"[^>]*>([^<]*)</textarea>', page)
    assert html.unescape(field.group(1)) == asked
    assert "<script>alert(1)" not in page
    assert re.search(r'<textarea id="answer"[^>]*></textarea>', page)


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"question": "   ", "answer": "Something."}, "Question: Length must be between 1"),
        ({"question": "A question?", "answer": ""}, "Answer: Length must be between 1"),
        ({"question": "q" * 2001, "answer": "A."}, "Question: Length must be between 1 and 2000"),
    ],
)
def test_a_refused_pair_shows_why_on_its_form_and_stores_nothing(team, fields, says):
    response = post(team.as_("admin"), f"{KNOWLEDGE}/qa", tags="kept", **fields)

    assert response.status_code == 422
    assert says in alert(response)
    assert 'value="kept"' in text(response)  # what was typed is still there
    assert api_sources(team) == []


def test_an_emptied_answer_leaves_the_pair_as_it_was(team):
    created = add_qa(team, "Is there parking?", "Yes, behind the shop.")

    response = post(
        team.as_("admin"), f"{KNOWLEDGE}/qa/{created['id']}", question="Parking?", answer=" "
    )

    assert response.status_code == 422 and "Answer:" in alert(response)
    (kept,) = api_sources(team)
    assert (kept["question"], kept["answer"]) == ("Is there parking?", "Yes, behind the shop.")


def test_stored_markup_in_titles_and_pairs_shows_as_text(team):
    attack = "<script>alert('x')</script><img src=x onerror=alert(1)>"
    admin = team.as_("admin")
    add_qa(team, f"Question {attack}", f"Answer {attack}", tags=attack)
    upload(admin, RETURNS, "returns.txt", title=f"Policy {attack}")
    pair_id = [s for s in api_sources(team) if s["type"] == "qa"][0]["id"]

    pages = [
        admin.get(KNOWLEDGE),
        admin.get(f"{KNOWLEDGE}/qa/{pair_id}"),
        admin.get(f"{KNOWLEDGE}/search?query=question+answer"),
    ]

    for response in pages:
        page = text(response)
        assert response.status_code == 200
        assert "<script>alert" not in page and "<img src=x" not in page
        assert "&lt;script&gt;alert(" in page
    status = team.as_("agent").get(f"{KNOWLEDGE}/status?id={pair_id}")
    assert status.mimetype == "application/json"  # data for textContent, never a page


# --- web pages --------------------------------------------------------------------------


def test_a_web_page_is_added_with_its_crawl_then_refreshed_and_deleted(team, web_site):
    admin = team.as_("admin")

    response = post(
        admin, f"{KNOWLEDGE}/urls", url=f"{web_site}/help", title="", max_pages="5"
    )  # the "same site" box left unticked

    assert response.status_code == 303 and "notice=url_added" in response.headers["Location"]
    (source,) = api_sources(team)
    assert source["url"] == f"{web_site}/help" and source["title"] == f"{web_site}/help"
    assert source["crawl"] == {"max_pages": 5, "same_domain": False}
    assert settle(admin, source["id"])["status"] == "ready"
    page = text(team.as_("agent").get(f"{KNOWLEDGE}/sources/{source['id']}"))
    assert re.search(r"<dt>Pages read</dt><dd>2</dd>", page)
    assert re.search(r"<dt>Fetched</dt><dd>\d{4}-\d\d-\d\d \d\d:\d\d UTC</dd>", page)
    assert "up to 5 page(s), any site" in page
    assert "2 page(s) · fetched" in text(admin.get(KNOWLEDGE))
    fetched_before = api_sources(team)[0]["fetched_at"]

    refreshed = post(admin, f"{KNOWLEDGE}/urls/{source['id']}/refresh")

    assert refreshed.status_code == 303 and "notice=url_refreshing" in refreshed.headers["Location"]
    assert settle(admin, source["id"])["status"] == "ready"
    assert api_sources(team)[0]["fetched_at"] > fetched_before

    assert post(admin, f"{KNOWLEDGE}/sources/{source['id']}/delete").status_code == 303
    assert api_sources(team) == []


def test_a_refresh_while_processing_is_refused_on_the_page(team, web_site):
    admin = team.as_("admin")
    post(admin, f"{KNOWLEDGE}/urls", url=f"{web_site}/slow", max_pages="1", same_domain="on")
    (source,) = api_sources(team)
    settle(admin, source["id"])
    assert post(admin, f"{KNOWLEDGE}/urls/{source['id']}/refresh").status_code == 303

    again = post(admin, f"{KNOWLEDGE}/urls/{source['id']}/refresh")  # the page takes a second

    assert again.status_code == 409
    assert "being processed already" in alert(again)
    assert "Refresh" in text(again)  # the source's page, with its buttons
    assert settle(admin, source["id"])["status"] == "ready"


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"url": "ftp://example.com/file"}, "URL: Not a valid URL."),
        ({"url": "not a url"}, "URL: Not a valid URL."),
        ({"url": ""}, "URL: Missing data"),
        ({"url": "https://example.com", "max_pages": "0"}, "Pages to crawl: Must be greater"),
        ({"url": "https://example.com", "max_pages": "many"}, "Pages to crawl: Not a valid"),
    ],
)
def test_a_refused_web_page_shows_why_and_stores_nothing(team, fields, says):
    response = post(team.as_("admin"), f"{KNOWLEDGE}/urls", **fields)

    assert response.status_code == 422
    assert says in alert(response)
    assert api_sources(team) == []


# --- the search tester ------------------------------------------------------------------


def test_the_search_tester_shows_passages_with_scores_for_any_or_one_assistant(team, other_team):
    add_qa(team, "How long does shipping take?", "Three to five business days.")
    client = team.app.test_client()
    helper = client.post(
        "/api/v1/assistants/", json={"name": "Helper"}, headers=team.api_headers
    ).get_json()["data"]
    stranger = client.post(
        "/api/v1/assistants/", json={"name": "Theirs"}, headers=other_team.api_headers
    ).get_json()["data"]
    agent = team.as_("agent")

    found = agent.get(f"{KNOWLEDGE}/search?query=shipping+time&mode=hybrid&top_k=5")
    for_helper = agent.get(f"{KNOWLEDGE}/search?query=shipping&assistant_id={helper['id']}")
    for_stranger = agent.get(f"{KNOWLEDGE}/search?query=shipping&assistant_id={stranger['id']}")
    empty = agent.get(f"{KNOWLEDGE}/search?query=+")

    assert found.status_code == 200
    assert "Three to five business days." in text(found)
    score = float(re.search(r"score (\d\.\d{3})", text(found)).group(1))
    assert 0 < score <= 1
    assert "Three to five business days." in text(for_helper)
    assert f'value="{helper["id"]}" selected' in text(for_helper)
    assert for_stranger.status_code == 422 and "Assistant not found" in alert(for_stranger)
    assert empty.status_code == 422 and "Query:" in alert(empty)
    assert "passage(s)" not in text(agent.get(f"{KNOWLEDGE}/search"))  # no search yet


# --- roles, CSRF, other organizations ---------------------------------------------------


def creations() -> list[tuple[str, dict]]:
    """The section's routes that add a source, each with a valid body."""
    return [
        (f"{KNOWLEDGE}/qa", {"question": "Forged?", "answer": "Yes."}),
        (f"{KNOWLEDGE}/urls", {"url": "http://127.0.0.1:9/", "max_pages": "1"}),
    ]


def changes_of(pair: dict, url_source: dict) -> list[tuple[str, dict]]:
    """The section's routes that change or delete a source, each with a valid body."""
    return [
        (f"{KNOWLEDGE}/qa/{pair['id']}", {"question": "Changed?", "answer": "Changed."}),
        (f"{KNOWLEDGE}/urls/{url_source['id']}/refresh", {}),
        (f"{KNOWLEDGE}/sources/{pair['id']}/delete", {}),
        (f"{KNOWLEDGE}/sources/{url_source['id']}/delete", {}),
    ]


@pytest.fixture
def stocked(team, web_site) -> tuple[dict, dict]:
    """A Q&A pair and a (ready) web page of `team`."""
    pair = add_qa(team, "Where is the shop?", "On Main Street.")
    post(team.as_("admin"), f"{KNOWLEDGE}/urls", url=f"{web_site}/help", max_pages="1")
    url_source = [s for s in api_sources(team) if s["type"] == "url"][0]
    settle(team.as_("admin"), url_source["id"])
    return pair, url_source


def test_an_agent_reads_everything_and_changes_nothing(team, stocked):
    pair, url_source = stocked
    agent = team.as_("agent")
    before = api_sources(team)

    pages = {
        path: agent.get(path)
        for path in (
            KNOWLEDGE,
            f"{KNOWLEDGE}/qa/{pair['id']}",
            f"{KNOWLEDGE}/sources/{url_source['id']}",
        )
    }
    forged = [
        post(agent, path, **fields) for path, fields in creations() + changes_of(pair, url_source)
    ]
    forged.append(upload(agent, RETURNS, "returns.txt"))
    forms = [agent.get(f"{KNOWLEDGE}/qa/new?question=Hi"), agent.get(f"{KNOWLEDGE}/urls/new")]

    for path, response in pages.items():
        page = text(response)
        assert response.status_code == 200, path
        assert "Upload" not in page and "Delete" not in page and "Refresh" not in page
        assert "Add Q&amp;A" not in page and "Add web page" not in page
        assert "Save" not in page
    assert '<fieldset class="plain" disabled>' in text(pages[f"{KNOWLEDGE}/qa/{pair['id']}"])
    assert [r.status_code for r in forged + forms] == [403] * (len(forged) + len(forms))
    assert api_sources(team) == before


def test_an_admin_sees_the_change_buttons(team, stocked):
    pair, url_source = stocked
    admin = team.as_("admin")

    listed = text(admin.get(KNOWLEDGE))
    url_page = text(admin.get(f"{KNOWLEDGE}/sources/{url_source['id']}"))

    assert 'id="upload"' in listed and "Add Q&amp;A" in listed and "Add web page" in listed
    assert "Refresh" in url_page and "Delete" in url_page


def test_a_change_without_the_csrf_token_is_refused(team, stocked):
    pair, url_source = stocked
    before = api_sources(team)
    admin = team.as_("admin")

    refused = [
        post(admin, path, csrf=False, **fields)
        for path, fields in creations() + changes_of(pair, url_source)
    ]
    refused.append(upload(admin, RETURNS, "returns.txt", csrf=False))
    wrong = post(
        admin, f"{KNOWLEDGE}/qa", csrf=False, csrf_token="x" * 43, question="Q?", answer="A."
    )

    assert [r.status_code for r in refused + [wrong]] == [403] * (len(refused) + 1)
    assert "reload the page" in text(wrong)
    assert api_sources(team) == before


def test_another_organization_finds_none_of_the_sources(team, other_team, stocked):
    pair, url_source = stocked
    before = api_sources(team)
    owner = other_team.as_("owner")

    reads = [
        owner.get(f"{KNOWLEDGE}/qa/{pair['id']}"),
        owner.get(f"{KNOWLEDGE}/sources/{pair['id']}"),
        owner.get(f"{KNOWLEDGE}/sources/{url_source['id']}"),
    ]
    changes = [post(owner, path, **fields) for path, fields in changes_of(pair, url_source)]
    listed = owner.get(KNOWLEDGE)

    assert [r.status_code for r in reads + changes] == [404] * (len(reads) + len(changes))
    assert statuses(owner, pair["id"], url_source["id"]) == {}
    assert source_ids(listed) == []
    assert "Where is the shop?" not in text(
        owner.get(f"{KNOWLEDGE}/search?query=where+is+the+shop")
    )
    assert api_sources(team) == before
    # A Q&A pair's id is not a web page's: asking for the wrong kind is as missing.
    assert post(team.as_("admin"), f"{KNOWLEDGE}/urls/{pair['id']}/refresh").status_code == 404


def test_signed_out_the_section_sends_to_the_sign_in_form(console_app):
    browser = console_app.test_client()

    for path in (KNOWLEDGE, f"{KNOWLEDGE}/status?id={uuid.uuid4()}", f"{KNOWLEDGE}/qa/new"):
        response = browser.get(path)
        assert response.status_code == 302 and response.headers["Location"].endswith("/sign-in")
