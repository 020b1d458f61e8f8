"""Web pages in the knowledge base, through the HTTP API, against a real local web site.

The site is an http.server on loopback that the test starts, changes and inspects (its
request log shows what Companin fetched). Ingesting it needs INGEST_ALLOW_PRIVATE_URLS,
which this module's `app_config` turns on; the SSRF tests build their own app with the
default settings, where loopback and friends must be refused before any request is made.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import Org, assert_envelope
from engines import instance_vectors, read_database
from test_parsers import docx_file, text_pdf

from companin import create_app
from companin.knowledge.minilm import MODEL_NAME as MINILM
from companin.services.organizations import create_organization

# --- a real local web site ---------------------------------------------------------------


@dataclass
class Page:
    body: str | bytes
    status: int = 200
    content_type: str = "text/html; charset=utf-8"


@dataclass
class Site:
    """What the site serves (change it between requests) and what it was asked for."""

    base: str
    pages: dict[str, Page]
    requests: list[str] = field(default_factory=list)
    # Requests for these paths wait until `gate` is set: keeps a source `processing`.
    held: set[str] = field(default_factory=set)
    gate: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str = "/") -> str:
        return self.base + path

    def page_requests(self) -> list[str]:
        return [path for path in self.requests if path != "/robots.txt"]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        site: Site = self.server.site
        site.requests.append(self.path)
        if self.path in site.held:
            site.gate.wait(timeout=15)
        page = site.pages.get(self.path, Page("<h1>Not found</h1>", status=404))
        body = page.body.encode() if isinstance(page.body, str) else page.body
        self.send_response(page.status)
        self.send_header("Content-Type", page.content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's name
        pass  # keep pytest's output clean


class _Server(ThreadingHTTPServer):
    daemon_threads = True


@contextmanager
def serve(pages: dict[str, Page], host: str = "127.0.0.1") -> Iterator[Site]:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    server_class = type("Server", (_Server,), {"address_family": family})
    server = server_class((host, 0), _Handler)
    netloc = f"[{host}]" if ":" in host else host
    site = Site(f"http://{netloc}:{server.server_address[1]}", pages)
    server.site = site
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield site
    finally:
        site.gate.set()  # never leave a fetch (and the app's worker) waiting
        server.shutdown()
        server.server_close()
        thread.join()


def html(title: str, *sections: tuple[str, str], links: tuple[str, ...] = ()) -> Page:
    """A page with navigation and a script around its sections, like a real help centre."""
    anchors = "".join(f'<a href="{link}">{link}</a> ' for link in links)
    content = "".join(f"<h2>{heading}</h2><p>{text}</p>" for heading, text in sections)
    return Page(
        f"<html><head><title>{title}</title><script>var trackingPixelId = 42;</script></head>"
        f"<body><nav>{anchors}</nav><main><h1>{title}</h1>{content}</main></body></html>"
    )


HELP_PAGE = html(
    "Help centre",
    (
        "Dispatch",
        "Every order placed before noon leaves our warehouse the same afternoon. Orders "
        "placed later go out on the next working day, and we email a tracking number.",
    ),
    (
        "Returns",
        "Unwanted items can be returned within thirty days for a full refund, as long as "
        "they are unused and in their original packaging.",
    ),
    (
        "Opening hours",
        "Our phone line is staffed Monday to Friday from nine to six, Central European Time.",
    ),
)


# --- the app and its API ------------------------------------------------------------------


@pytest.fixture
def app_config(tmp_path):
    # The site lives on loopback: only an intranet install (or a test) may ingest it.
    return {
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "TESTING": True,
        "INGEST_ALLOW_PRIVATE_URLS": True,
    }


@pytest.fixture
def site() -> Iterator[Site]:
    with serve({"/": HELP_PAGE}) as running:
        yield running


def app_with(tmp_path: Path, **settings) -> tuple:
    """A client and an organization of an app with `settings` over the defaults."""
    app = create_app({"INSTANCE_PATH": str(tmp_path / "own-instance"), "TESTING": True, **settings})
    with app.app_context():
        credentials = create_organization("Own")
    org = Org(credentials.organization_id, credentials.client_id, credentials.client_secret)
    return app, app.test_client(), org


def add_url(client, org: Org, url: str, **fields) -> dict:
    response = client.post(
        "/api/v1/knowledge/urls/", json={"url": url, **fields}, headers=org.headers
    )
    data = assert_envelope(response, 201)
    assert data["status"] == "processing"
    return data


def wait_until_done(client, org: Org, source_id: str, timeout: float = 20) -> dict:
    """Poll the source as a client would, until it is no longer `processing`."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(f"/api/v1/knowledge/sources/{source_id}", headers=org.headers)
        data = assert_envelope(response, 200)
        if data["status"] != "processing":
            return data
        assert time.monotonic() < deadline, f"still processing after {timeout}s: {data}"
        time.sleep(0.05)


def ingest(client, org: Org, url: str, **fields) -> dict:
    source = wait_until_done(client, org, add_url(client, org, url, **fields)["id"])
    assert source["status"] == "ready", source
    # Newer rows after it: SQLite would give re-created chunks their old ids back if this
    # source's were the last ones, and comparing ids would no longer show a re-index.
    pair = {"question": "Do you gift wrap?", "answer": "Yes, for two euros."}
    assert_envelope(client.post("/api/v1/knowledge/qa/", json=pair, headers=org.headers), 201)
    return source


def refresh(client, org: Org, source_id: str) -> dict:
    response = client.post(f"/api/v1/knowledge/urls/{source_id}/refresh", headers=org.headers)
    data = assert_envelope(response, 200)
    assert data["status"] == "processing"
    return wait_until_done(client, org, source_id)


def search(client, org: Org, query: str, **fields) -> list[dict]:
    response = client.post(
        "/api/v1/knowledge/search", json={"query": query, **fields}, headers=org.headers
    )
    return assert_envelope(response, 200)


def stored_chunks(app, source_id: str) -> list[tuple[int, str, str]]:
    """(id, url, text) of the source's rows in the instance's SQLite, the record."""
    return read_database(
        app.instance_path,
        "SELECT id, url, text FROM knowledge_chunk WHERE source_id = ? ORDER BY id",
        source_id.replace("-", ""),
    )


def vector_count(app, org: Org) -> int:
    """The organization's vectors in the app's Chroma (a Q&A pair has two: answer, question)."""
    return instance_vectors(app.instance_path).count(uuid.UUID(org.organization_id), MINILM)


def stored_hash(app, source_id: str) -> str | None:
    ((value,),) = read_database(
        app.instance_path,
        "SELECT content_hash FROM knowledge_source WHERE id = ?",
        source_id.replace("-", ""),
    )
    return value


# --- adding a page ------------------------------------------------------------------------


def test_add_web_content_as_the_reference_writes_it(client, org, site):
    # addWebContent(url, title): JSON.stringify({ url, title }) with the server key headers.
    response = client.post(
        "/api/v1/knowledge/urls/",
        data=json.dumps({"url": site.url("/"), "title": "New Features Announcement"}),
        headers={**org.headers, "Content-Type": "application/json"},
    )
    created = assert_envelope(response, 201)
    assert created["status"] == "processing"
    assert created["type"] == "url"
    assert created["url"] == site.url("/")
    assert created["title"] == "New Features Announcement"

    source = wait_until_done(client, org, created["id"])
    assert source["status"] == "ready", source
    assert source["error"] is None
    # One chunk per heading at least: the three sections never share a chunk.
    assert source["chunk_count"] >= 3
    assert source["page_count"] == 1
    assert source["fetched_at"].endswith("Z")
    assert site.page_requests() == ["/"]

    # A customer's words, not the page's: the dispatch section must come first.
    passages = search(client, org, "How fast do you send my purchase out?")
    best = passages[0]
    assert best["source_id"] == created["id"]
    assert best["type"] == "url"
    assert best["url"] == site.url("/")
    assert best["title"] == "New Features Announcement"
    assert "before noon leaves our warehouse" in best["text"]
    # The page's script and navigation are not knowledge.
    assert not any("trackingPixelId" in p["text"] for p in search(client, org, "tracking pixel"))


def test_a_crawl_indexes_max_pages_of_the_same_site_and_never_an_external_link(
    app, client, org, site
):
    with serve({"/": html("Elsewhere", ("Other", "Another company's page."))}) as external:
        # The external link comes first: breadth-first, it would be the first one fetched.
        links = (external.url("/"), "/a", "/b", "/c", "/d")
        site.pages["/"] = html("Home", ("Welcome", "Start here for help."), links=links)
        for name, topic in {
            "a": "Gift cards never expire and can be used for any product.",
            "b": "Student discounts of fifteen percent need a valid university email.",
            "c": "Bulk orders over five hundred units get a dedicated account manager.",
            "d": "Our loyalty programme gives one point for every euro spent.",
        }.items():
            site.pages[f"/{name}"] = html(f"Page {name}", (f"Topic {name}", topic), links=links)

        source = ingest(client, org, site.url("/"), crawl={"max_pages": 3, "same_domain": True})

        assert source["page_count"] == 3
        assert external.requests == []
    assert sorted(set(site.page_requests())) == ["/", "/a", "/b"]
    urls = {url for _, url, _ in stored_chunks(app, source["id"])}
    assert urls == {site.url("/"), site.url("/a"), site.url("/b")}
    assert source["chunk_count"] == len(stored_chunks(app, source["id"]))
    # The crawled pages are findable, each cited by its own address; the rest are not there.
    gift = search(client, org, "Do gift vouchers have an expiry date?")
    assert gift[0]["url"] == site.url("/a")
    assert "Gift cards never expire" in gift[0]["text"]
    bulk = search(client, org, "account manager for bulk orders of five hundred units", top_k=50)
    assert not any("dedicated account manager" in p["text"] for p in bulk)
    assert {p["url"] for p in bulk if p["type"] == "url"} <= urls


def test_a_crawl_reads_the_manuals_a_page_links_to_cited_by_address_and_page(
    app, client, org, site
):
    site.pages["/"] = html(
        "Downloads", ("Manuals", "Our manuals, to print."), links=("/manual.pdf", "/care.docx")
    )
    site.pages["/manual.pdf"] = Page(
        text_pdf(
            [
                ["Unpacking your kettle: remove the blue transport clip first."],
                ["Descaling: fill with one part vinegar to two parts water and boil twice."],
            ]
        ),
        content_type="application/pdf",
    )
    site.pages["/care.docx"] = Page(
        docx_file(lambda d: d.add_paragraph("Wipe the base with a dry cloth, never in water.")),
        content_type="application/octet-stream",  # servers often send no better type
    )

    source = ingest(client, org, site.url("/"), crawl={"max_pages": 5})

    assert source["status"] == "ready" and source["page_count"] == 3
    descale = search(client, org, "How do I descale the kettle with vinegar?")
    assert descale[0]["url"] == site.url("/manual.pdf") and descale[0]["page"] == 2
    assert "one part vinegar" in descale[0]["text"]
    care = search(client, org, "Can the kettle base go in water?")
    assert care[0]["url"] == site.url("/care.docx")
    assert "dry cloth" in care[0]["text"]


# --- refreshing ---------------------------------------------------------------------------


def test_refreshing_an_unchanged_page_keeps_its_chunks_and_notes_the_fetch(app, client, org, site):
    source = ingest(client, org, site.url("/"))
    chunks = stored_chunks(app, source["id"])
    content_hash = stored_hash(app, source["id"])
    vectors = vector_count(app, org)
    passages = search(client, org, "When can I call you?")

    refreshed = refresh(client, org, source["id"])

    assert refreshed["status"] == "ready"
    assert refreshed["error"] is None
    assert site.page_requests() == ["/", "/"]  # it did fetch the page again
    assert refreshed["fetched_at"] > source["fetched_at"]
    assert refreshed["chunk_count"] == source["chunk_count"]
    # Same content hash: nothing re-indexed, so the very same rows (ids) are still there.
    assert content_hash is not None and stored_hash(app, source["id"]) == content_hash
    assert stored_chunks(app, source["id"]) == chunks
    assert vector_count(app, org) == vectors
    assert search(client, org, "When can I call you?") == passages


def test_refreshing_a_changed_page_replaces_its_text(app, client, org, site):
    site.pages["/a"] = html("Shipping", ("Carriers", "Parcels travel with Parcelfox couriers."))
    site.pages["/"] = html("Home", ("Welcome", "Our store sells hand-made teapots."), links=("/a",))
    source = ingest(client, org, site.url("/"), crawl={"max_pages": 2})
    before = stored_chunks(app, source["id"])
    assert source["page_count"] == 2

    site.pages["/a"] = html("Shipping", ("Carriers", "Parcels now travel with Zephyrpost vans."))
    refreshed = refresh(client, org, source["id"])

    assert refreshed["status"] == "ready", refreshed
    assert refreshed["error"] is None
    after = stored_chunks(app, source["id"])
    assert refreshed["chunk_count"] == len(after)
    assert any("Zephyrpost" in text for _, _, text in after)
    assert not any("Parcelfox" in text for _, _, text in after)
    # Only the page that changed was indexed again: the home page keeps its rows.
    home_before = [row for row in before if row[1] == site.url("/")]
    assert home_before and [row for row in after if row[1] == site.url("/")] == home_before

    # One vector per chunk of the page, plus the two of the Q&A pair: none left behind.
    assert vector_count(app, org) == len(after) + 2

    found = search(client, org, "Which delivery company carries my parcel?", top_k=50)
    assert "Zephyrpost" in found[0]["text"]
    assert not any("Parcelfox" in p["text"] for p in found)
    assert not any("Parcelfox" in p["text"] for p in search(client, org, "Parcelfox", top_k=50))


def test_refreshing_after_a_page_is_gone_drops_its_chunks(app, client, org, site):
    site.pages["/a"] = html("Shipping", ("Carriers", "Parcels travel with Parcelfox couriers."))
    site.pages["/"] = html("Home", ("Welcome", "Our store sells hand-made teapots."), links=("/a",))
    source = ingest(client, org, site.url("/"), crawl={"max_pages": 2})

    del site.pages["/a"]  # now a 404, still linked from the home page
    refreshed = refresh(client, org, source["id"])

    assert refreshed["status"] == "ready", refreshed
    assert refreshed["page_count"] == 1
    after = stored_chunks(app, source["id"])
    assert refreshed["chunk_count"] == len(after) > 0
    assert {url for _, url, _ in after} == {site.url("/")}
    assert vector_count(app, org) == len(after) + 2
    assert not any("Parcelfox" in p["text"] for p in search(client, org, "Parcelfox", top_k=50))


def test_a_refresh_while_processing_is_a_conflict(client, org, site):
    site.held.add("/")  # the first fetch waits: the source stays `processing`
    created = add_url(client, org, site.url("/"))

    response = client.post(f"/api/v1/knowledge/urls/{created['id']}/refresh", headers=org.headers)
    assert_envelope(response, 409)

    site.gate.set()
    source = wait_until_done(client, org, created["id"])
    assert source["status"] == "ready"

    # And while a refresh itself is running.
    site.gate.clear()
    response = client.post(f"/api/v1/knowledge/urls/{created['id']}/refresh", headers=org.headers)
    assert assert_envelope(response, 200)["status"] == "processing"
    response = client.post(f"/api/v1/knowledge/urls/{created['id']}/refresh", headers=org.headers)
    assert_envelope(response, 409)
    site.gate.set()
    assert wait_until_done(client, org, created["id"])["status"] == "ready"


def test_a_page_that_is_not_found_fails_with_a_readable_error(app, client, org, site):
    created = add_url(client, org, site.url("/gone"))

    source = wait_until_done(client, org, created["id"])

    assert source["status"] == "failed"
    assert source["chunk_count"] == 0
    assert "404" in source["error"]
    assert "Traceback" not in source["error"] and len(source["error"]) < 300
    assert stored_chunks(app, created["id"]) == []

    # Once the page exists, a refresh indexes it.
    site.pages["/gone"] = HELP_PAGE
    refreshed = refresh(client, org, created["id"])
    assert refreshed["status"] == "ready", refreshed
    assert refreshed["error"] is None
    assert refreshed["chunk_count"] == len(stored_chunks(app, created["id"])) > 0


def test_a_failed_refresh_keeps_what_was_indexed(app, client, org, site):
    source = ingest(client, org, site.url("/"))
    chunks = stored_chunks(app, source["id"])

    site.pages["/"] = Page("<h1>Oops</h1>", status=500)
    refreshed = refresh(client, org, source["id"])

    assert refreshed["status"] == "ready"
    assert refreshed["error"].startswith("Refresh failed")
    assert "500" in refreshed["error"]
    assert refreshed["chunk_count"] == source["chunk_count"]
    assert stored_chunks(app, source["id"]) == chunks
    assert "before noon" in search(client, org, "How fast do you send my purchase out?")[0]["text"]


def test_a_page_larger_than_the_fetch_limit_fails_with_a_readable_error(tmp_path, site):
    app, client, org = app_with(tmp_path, INGEST_ALLOW_PRIVATE_URLS=True, FETCH_MAX_BYTES=4096)
    site.pages["/big"] = html(
        "Big", *[(f"Part {n}", "All about teapots. " * 40) for n in range(20)]
    )

    source = wait_until_done(client, org, add_url(client, org, site.url("/big"))["id"])

    assert source["status"] == "failed"
    assert "4096 bytes" in source["error"]
    assert stored_chunks(app, source["id"]) == []


# --- SSRF, with the default settings --------------------------------------------------------

# (URL, what the error must say: the SSRF check names the refusal; other schemes may
# already fail the URL's syntax check.)
REFUSED = [
    ("http://127.0.0.1:{port}/", "loopback"),
    ("http://[::1]:{port6}/", "loopback"),
    ("http://[::ffff:127.0.0.1]:{port}/", ""),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://0.0.0.0:{port}/", "refused"),
    ("http://2130706433:{port}/", "loopback"),
    ("http://localhost:{port}/", "loopback"),
    ("ftp://x", ""),
    ("file:///etc/passwd", ""),
]


@pytest.fixture
def site6() -> Iterator[Site | None]:
    """The same site on IPv6 loopback, when this machine has it."""
    try:
        with serve({"/": HELP_PAGE}, host="::1") as running:
            yield running
    except OSError:
        yield None


@pytest.mark.parametrize(("template", "reason"), REFUSED)
def test_internal_and_non_web_urls_are_refused_by_default(tmp_path, site, site6, template, reason):
    app, client, org = app_with(tmp_path)
    assert app.config["INGEST_ALLOW_PRIVATE_URLS"] is False
    port6 = site6.base.rsplit(":", 1)[1] if site6 else "1"
    url = template.format(port=site.base.rsplit(":", 1)[1], port6=port6)

    response = client.post(
        "/api/v1/knowledge/urls/", json={"url": url, "title": "Internal"}, headers=org.headers
    )

    data = assert_envelope(response, 422)
    assert list(data["json"]) == ["url"]
    assert reason in data["json"]["url"][0]
    listing = client.get("/api/v1/knowledge/sources/", headers=org.headers)
    assert assert_envelope(listing, 200) == []
    # Nothing was queued either: give a background fetch the time it would need.
    time.sleep(0.2)
    assert site.requests == []
    assert site6 is None or site6.requests == []


def test_a_host_that_does_not_resolve_is_a_clear_422(tmp_path):
    app, client, org = app_with(tmp_path)
    body = {"url": "https://no-such-host.invalid/help", "title": "Typo"}

    response = client.post("/api/v1/knowledge/urls/", json=body, headers=org.headers)

    data = assert_envelope(response, 422)
    assert "no-such-host.invalid" in data["json"]["url"][0]
    assert assert_envelope(client.get("/api/v1/knowledge/sources/", headers=org.headers), 200) == []
