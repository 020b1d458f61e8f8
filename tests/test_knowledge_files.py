"""Knowledge files through the HTTP API: upload, index in the background, find, refuse, delete.

Everything goes through the Flask test client against the real app: SQLite, the FTS5 table,
embedded Chroma and the real MiniLM embedder. Every file is real and made here (PDFs written
object by object, Word documents with python-docx), with the builders of test_parsers.py.

One app serves the whole module, and no test makes another: the database binding is
process-wide, so a second `create_app` would move this app onto the other one's database.
The library of the five file types is uploaded once and only read; every test
that changes something works in an organization of its own. The app's settings are small on
purpose: a 4 MiB upload cap, a 2 s parse deadline, and a page cap high enough that a
10,000-page PDF really is read until the deadline kills it.
"""

from __future__ import annotations

import io
import json
import re
import time
import uuid

import pytest
from conftest import Org, assert_envelope, new_org
from engines import FULLTEXT_ROWS, read_database
from pypdf import PdfReader, PdfWriter
from test_parsers import (
    PNG,
    deflate_bomb,
    docx_file,
    one_page_pdf,
    pdf_bytes,
    stream,
    text_pdf,
)
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from companin import create_app

pytestmark = pytest.mark.module_data  # its fixtures hold data all its tests share

API = "/api/v1"
MAX_UPLOAD = 4 * 1024 * 1024
PARSE_TIMEOUT_S = 2
# How long a background job may take here before the test calls it stuck.
SETTLE_S = 30.0

# What curl and fetch add on their own, sent too so the request is the one users send.
CURL_DEFAULT_HEADERS = {"Accept": "*/*", "User-Agent": "curl/8.5.0"}
FETCH_DEFAULT_HEADERS = {"Accept": "*/*"}

SOURCE_FIELDS = {
    "id",
    "created_at",
    "updated_at",
    "type",
    "title",
    "status",
    "chunk_count",
    "error",
    "assistant_ids",
    "file_type",
    "filename",
    "size_bytes",
}
PASSAGE_FIELDS = {"source_id", "type", "title", "url", "page", "text", "score"}


# --- one app for the module -------------------------------------------------------------


@pytest.fixture(scope="module")
def kb_app(tmp_path_factory):
    return create_app(
        {
            "INSTANCE_PATH": str(tmp_path_factory.mktemp("knowledge-files") / "instance"),
            "TESTING": True,
            "MAX_UPLOAD_BYTES": MAX_UPLOAD,
            "INGEST_PARSE_TIMEOUT_S": PARSE_TIMEOUT_S,
            "INGEST_MAX_PAGES": 10_000,
        }
    )


@pytest.fixture
def app(kb_app):
    """conftest's `client`, `org` and `make_org` use this module's app."""
    return kb_app


# --- how a client talks to the API --------------------------------------------------------


def upload(client, org: Org, data: bytes, filename: str, headers=None, **form):
    """POST /knowledge/files/ as multipart, the file part last (as curl -F and FormData do)."""
    content_type = {
        "pdf": "application/pdf",
        "txt": "text/plain",
        "md": "text/markdown",
        "html": "text/html",
        "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    }.get(filename.rsplit(".", 1)[-1], "application/octet-stream")
    # Encoded here, in memory: werkzeug's test client would spool a large body to a temporary
    # file that it never closes when the server refuses the body unread (a 413).
    boundary, body = encode_multipart(
        {**form, "file": FileStorage(io.BytesIO(data), filename, content_type=content_type)}
    )
    return client.post(
        f"{API}/knowledge/files/",
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
        headers={**org.headers, **(headers or {})},
    )


def source(client, org: Org, source_id: str) -> dict:
    return assert_envelope(
        client.get(f"{API}/knowledge/sources/{source_id}", headers=org.headers), 200
    )


def settle(client, org: Org, source_id: str, within: float = SETTLE_S) -> dict:
    """Poll the source, as a client would, until its background job is over."""
    deadline = time.monotonic() + within
    while True:
        data = source(client, org, source_id)
        if data["status"] != "processing":
            return data
        assert time.monotonic() < deadline, f"still processing after {within}s: {data}"
        time.sleep(0.02)


def search(client, org: Org, query: str, **fields) -> list[dict]:
    response = client.post(
        f"{API}/knowledge/search", json={"query": query, **fields}, headers=org.headers
    )
    passages = assert_envelope(response, 200)
    for passage in passages:
        assert PASSAGE_FIELDS <= set(passage), passage
    return passages


def sources(client, org: Org) -> list[dict]:
    return assert_envelope(client.get(f"{API}/knowledge/sources/", headers=org.headers), 200)


def assert_uuid4(value: str) -> None:
    assert uuid.UUID(value).version == 4 and str(uuid.UUID(value)) == value, value


def assert_names_field(data, field: str) -> None:
    """A 422's data names `field`, under whichever location it was read from."""
    assert isinstance(data, dict) and data, data
    assert any(field in fields for fields in data.values()), data


def assert_readable_error(app, message) -> None:
    """A message for a person: no traceback, no file path, no exception class name."""
    assert isinstance(message, str) and 10 < len(message) < 300, message
    assert "Traceback" not in message and 'File "' not in message, message
    assert app.instance_path not in message and "/tmp" not in message, message
    assert not re.search(r"\b\w+(Error|Exception)\b", message), message


def uploads(app) -> set[str]:
    """The sources whose file's bytes the database keeps."""
    return {row[0] for row in sql(app, "SELECT source_id FROM knowledge_upload")}


def sql(app, query: str, *params) -> list[tuple]:
    """Read the app's database directly, as an operator would."""
    return read_database(app.instance_path, query, *params)


def chunk_ids(app, source_id: str) -> list[int]:
    rows = sql(app, "SELECT id FROM knowledge_chunk WHERE source_id = ?", uuid.UUID(source_id).hex)
    return [row[0] for row in rows]


def fts_rows(app, ids: list[int]) -> int:
    if not ids:
        return 0
    marks = ",".join("?" * len(ids))
    table, column = FULLTEXT_ROWS
    return sql(app, f"SELECT count(*) FROM {table} WHERE {column} IN ({marks})", *ids)[0][0]


def vector_count(app, org: Org) -> int:
    """The organization's vectors in Chroma, read through the app's own vector store."""
    index = app.extensions["companin"].ingestion.index
    return index._vectors.count(uuid.UUID(org.organization_id), index.model)


# --- files with content worth finding ---------------------------------------------------

ESPRESSO_PDF_PAGES = [
    [
        "Welcome to the Aurora X7 espresso machine manual.",
        "Unpack the machine and place it on a flat, dry surface.",
    ],
    [
        "Descaling: every three months, dissolve one sachet of citric",
        "acid descaler in a litre of water, pour it into the tank",
        "and run the rinse cycle twice.",
    ],
    [
        "Warranty: the Aurora X7 is covered for two years against",
        "manufacturing defects. Keep your proof of purchase and",
        "contact the retailer for repairs.",
    ],
]

SHIPPING_TXT = (
    b"Shipping policy\n\n"
    b"Orders above 40 euros ship free within mainland Portugal.\n"
    b"Parcels to the Azores and Madeira islands arrive in five to seven working days.\n\n"
    b"Gift wrapping costs 3 euros per item and comes with a handwritten card.\n"
)

KAYAK_MD = b"""# Kayak rental guide

Rent a sea kayak from the **harbour office** on the [pier](https://kayak.test/pier).

## Booking a kayak

Reserve at least 24 hours in advance; the *first hour* is half price on weekdays.

## Safety rules

Every paddler must wear a life jacket. Children under twelve paddle with an adult.
"""

# The page chrome carries made-up words found nowhere else, so a search can prove their absence.
GREENHOUSE_HTML = b"""<!DOCTYPE html>
<html><head><title>Greenhouse | Garden Shop</title>
<style>.promo { color: green } /* stylequokka */</style>
<script>window.analytics = "scriptwombat";</script></head>
<body>
<header>headerlemur Garden Shop</header>
<nav><a href="/">Home</a> <a href="/seeds">Seeds</a> navzylophone</nav>
<main>
  <h1>Tomato seedlings</h1>
  <p>Our greenhouse sells heirloom tomato seedlings every spring.</p>
  <p>Water the seedlings every morning and keep them in full sun until June.</p>
</main>
<aside>asidenarwhal related products</aside>
<footer>footerpangolin &copy; Garden Shop</footer>
</body></html>
"""
HTML_JUNK = ["stylequokka", "scriptwombat", "headerlemur", "navzylophone", "footerpangolin"]


def handbook_docx() -> bytes:
    def build(document):
        document.add_heading("Staff handbook", 0)
        document.add_paragraph("Welcome to Lumen Logistics.")
        document.add_heading("Parental leave", 1)
        document.add_paragraph(
            "New parents receive sixteen weeks of paid leave, shared between both partners."
        )
        table = document.add_table(rows=2, cols=2)
        for (row, col), text in {
            (0, 0): "Benefit",
            (0, 1): "Amount",
            (1, 0): "Bicycle allowance",
            (1, 1): "25 euros a month",
        }.items():
            table.cell(row, col).text = text

    return docx_file(build)


# Each type: the file, what it is detected as (uploaded without file_type, under a name without
# extension) and a paraphrase that shares few words with the text, with what the hit must say.
LIBRARY = {
    "pdf": (
        lambda: text_pdf(ESPRESSO_PDF_PAGES),
        "how do I get rid of limescale in my coffee maker",
        "citric",
    ),
    "txt": (lambda: SHIPPING_TXT, "how long does delivery to the Atlantic islands take", "Azores"),
    "md": (lambda: KAYAK_MD, "do kids need a grown-up with them in the boat", "life jacket"),
    "html": (
        lambda: GREENHOUSE_HTML,
        "how often should I irrigate young tomato plants",
        "every morning",
    ),
    "docx": (handbook_docx, "how much time off do I get after having a baby", "sixteen weeks"),
}


@pytest.fixture(scope="module")
def library(kb_app):
    """One organization holding one file of each type, all indexed: each other's distractors."""
    client = kb_app.test_client()
    org = new_org(kb_app, "Library")
    created = {}
    for file_type, (build, _, _) in LIBRARY.items():
        response = upload(client, org, build(), "document", title=f"The {file_type} file")
        created[file_type] = assert_envelope(response, 201)
    ready = {t: settle(client, org, data["id"]) for t, data in created.items()}
    return org, created, ready


# --- the reference's requests, as written ------------------------------------------------


def test_curl_upload_product_manual(client, org):
    """`curl -X POST .../knowledge/files/ -F "title=Product Manual" -F "file_type=pdf"
    -F "file=@product_manual.pdf"`: 201 processing, then ready and searchable."""
    pdf = text_pdf(
        [
            ["Product Manual of the Nimbus robot vacuum."],
            ["Empty the dust bin after every cleaning run."],
        ]
    )
    response = upload(
        client,
        org,
        pdf,
        "product_manual.pdf",
        headers=CURL_DEFAULT_HEADERS,
        title="Product Manual",
        file_type="pdf",
    )
    created = assert_envelope(response, 201)
    assert SOURCE_FIELDS <= set(created), created
    assert_uuid4(created["id"])
    assert created["type"] == "file"
    assert created["title"] == "Product Manual"
    assert created["file_type"] == "pdf"
    assert created["filename"] == "product_manual.pdf"
    assert created["size_bytes"] == len(pdf)
    assert created["status"] == "processing" and created["chunk_count"] == 0
    assert created["error"] is None and created["assistant_ids"] == []

    done = settle(client, org, created["id"])
    assert done["status"] == "ready", done
    assert done["chunk_count"] == 2 and done["error"] is None
    [hit, *_] = search(client, org, "how often should the dirt container be emptied")
    assert hit["source_id"] == created["id"] and hit["type"] == "file"
    assert hit["title"] == "Product Manual" and hit["page"] == 2
    assert "dust bin" in hit["text"]


def test_js_upload_documentation(client, org):
    """`uploadDocumentation(pdfFile, 'User Manual v2.0')`: FormData title, file_type pdf, file."""
    pdf = text_pdf([["User Manual v2.0: hold the pairing button for five seconds."]])
    response = upload(
        client,
        org,
        pdf,
        "user-manual.pdf",
        headers=FETCH_DEFAULT_HEADERS,
        title="User Manual v2.0",
        file_type="pdf",
    )
    body = response.get_json()  # `return await response.json()`
    assert response.status_code == 201, body
    assert body["status"] == "success" and body["status_code"] == 201
    assert body["data"]["title"] == "User Manual v2.0" and body["data"]["file_type"] == "pdf"
    assert settle(client, org, body["data"]["id"])["status"] == "ready"
    [hit, *_] = search(client, org, "how do I connect the device over bluetooth")
    assert hit["source_id"] == body["data"]["id"]


def test_curl_add_qa_pair(client, org):
    """The reference's Q&A curl, byte for byte: 201, indexed at once."""
    response = client.post(
        f"{API}/knowledge/qa/",
        headers={**CURL_DEFAULT_HEADERS, **org.headers, "Content-Type": "application/json"},
        data='{ "question": "What are your business hours?", "answer": "We are open Monday to '
        'Friday, 9 AM to 6 PM EST.", "tags": ["hours", "support"] }',
    )
    pair = assert_envelope(response, 201)
    assert_uuid4(pair["id"])
    assert pair["type"] == "qa" and pair["status"] == "ready" and pair["chunk_count"] == 1
    assert pair["question"] == "What are your business hours?"
    assert pair["answer"] == "We are open Monday to Friday, 9 AM to 6 PM EST."
    assert pair["tags"] == ["hours", "support"]
    assert pair["source"] is None
    # Searchable the moment the 201 is out, by a customer's own words.
    [hit, *_] = search(client, org, "when is your shop open?")
    assert hit["source_id"] == pair["id"] and hit["type"] == "qa"
    assert "Monday to Friday" in hit["text"]


def test_js_add_faq_keeps_its_source_label(client, org):
    """`addFAQ('How do I reset my password?', 'Go to settings…', ['password', 'security'])`
    sends `source: 'manual'`; the stored pair says so."""
    response = client.post(
        f"{API}/knowledge/qa/",
        headers={**FETCH_DEFAULT_HEADERS, **org.headers, "Content-Type": "application/json"},
        data='{"question":"How do I reset my password?","answer":"Go to settings and click '
        '\\"Reset Password\\"...","tags":["password","security"],"source":"manual"}',
    )
    pair = assert_envelope(response, 201)
    assert pair["source"] == "manual"
    assert pair["answer"] == 'Go to settings and click "Reset Password"...'
    assert pair["tags"] == ["password", "security"]
    stored = assert_envelope(
        client.get(f"{API}/knowledge/qa/{pair['id']}", headers=org.headers), 200
    )
    assert (stored["source"], stored["tags"], stored["status"]) == (
        "manual",
        ["password", "security"],
        "ready",
    )
    [hit, *_] = search(client, org, "I forgot my login credentials")
    assert hit["source_id"] == pair["id"]


# --- every file type, to ready and findable ---------------------------------------------


@pytest.mark.parametrize("file_type", LIBRARY)
def test_each_file_type_is_detected_indexed_and_found_by_paraphrase(client, library, file_type):
    org, created, ready = library
    _, paraphrase, expected = LIBRARY[file_type]
    # No file_type was sent and the name has no extension: the content decided.
    assert created[file_type]["file_type"] == file_type
    done = ready[file_type]
    assert done["status"] == "ready", done
    assert done["chunk_count"] > 0 and done["error"] is None
    passages = search(client, org, paraphrase, top_k=3)
    # The other four files are in the same organization: the right one must still come first.
    assert passages[0]["source_id"] == created[file_type]["id"], passages
    assert expected in passages[0]["text"]
    assert passages[0]["type"] == "file" and passages[0]["title"] == f"The {file_type} file"


def test_files_are_listed_with_their_status(client, library):
    org, created, _ = library
    response = client.get(f"{API}/knowledge/files/", headers=org.headers)
    listed = {item["id"]: item for item in assert_envelope(response, 200)}
    assert set(listed) == {data["id"] for data in created.values()}
    for file_type, data in created.items():
        item = listed[data["id"]]
        assert (item["type"], item["file_type"], item["status"]) == ("file", file_type, "ready")
        assert item["chunk_count"] > 0
    assert json.loads(response.headers["X-Pagination"])["total"] == 5


def test_pdf_passages_carry_their_page_number(client, library):
    org, created, ready = library
    pdf_id = created["pdf"]["id"]
    assert ready["pdf"]["chunk_count"] == 3  # one per page: a chunk never spans two pages
    for query, page, words in [
        ("what should I do with the appliance right after opening the box", 1, "flat, dry"),
        ("how do I get rid of limescale in my coffee maker", 2, "citric"),
        ("is the device guaranteed if it breaks", 3, "two years"),
    ]:
        hits = [p for p in search(client, org, query, top_k=5) if p["source_id"] == pdf_id]
        assert hits and hits[0]["page"] == page and words in hits[0]["text"], (query, hits)


def test_markdown_is_split_at_headings_without_its_syntax(client, library):
    org, created, _ = library
    md_id = created["md"]["id"]
    hits = [
        p for p in search(client, org, "kayak", mode="keyword", top_k=10) if p["source_id"] == md_id
    ]
    texts = {p["text"].splitlines()[0]: p["text"] for p in hits}
    # Each section is its own passage, led by its heading path.
    assert "Kayak rental guide > Safety rules" in texts, texts
    assert "life jacket" in texts["Kayak rental guide > Safety rules"]
    assert "24 hours" not in texts["Kayak rental guide > Safety rules"]
    assert "Kayak rental guide > Booking a kayak" in texts
    for text in texts.values():
        assert "#" not in text and "**" not in text and "](" not in text, text
    assert any("harbour office on the pier" in text for text in texts.values()), texts


def test_html_page_chrome_is_not_indexed(client, library):
    org, created, _ = library
    html_id = created["html"]["id"]
    for junk in HTML_JUNK + ["asidenarwhal"]:
        assert search(client, org, junk, mode="keyword") == [], junk
    everything = search(client, org, "garden shop tomato seedlings greenhouse", top_k=50)
    html_text = " ".join(p["text"] for p in everything if p["source_id"] == html_id)
    assert "heirloom tomato seedlings" in html_text
    for junk in HTML_JUNK:
        assert junk not in html_text


def test_docx_tables_are_searchable(client, library):
    org, created, _ = library
    hits = search(client, org, "bicycle allowance", mode="keyword")
    assert hits and hits[0]["source_id"] == created["docx"]["id"]
    assert "25 euros a month" in hits[0]["text"]


# --- bad files: refused at once, or failed with a readable error --------------------------


def assert_nothing_stored(client, app, org: Org, uploads_before: set[str]) -> None:
    assert sources(client, org) == []
    assert uploads(app) == uploads_before


@pytest.mark.parametrize(
    ("data", "filename", "form", "says"),
    [
        (b"Just some notes, not a PDF at all.\n", "manual.pdf", {"file_type": "pdf"}, "PDF"),
        (b"Just some notes.\n", "notes.txt", {"file_type": "docx"}, "Word"),
        (PNG, "scan.pdf", {"file_type": "pdf"}, "PNG"),
        (PNG, "photo.png", {}, "PNG"),
        (text_pdf([["Hello"]]), "notes.txt", {"file_type": "txt"}, "PDF"),
        (bytes(range(256)) * 8, "blob.dat", {}, "not"),
    ],
    ids=["text-as-pdf", "text-as-docx", "png-as-pdf", "png", "pdf-as-txt", "binary"],
)
def test_wrong_content_is_422_naming_file(client, app, org, data, filename, form, says):
    before = uploads(app)
    response = upload(client, org, data, filename, **form)
    body = assert_envelope(response, 422)
    assert_names_field(body, "file")
    assert says in response.get_json()["detail"] + str(body)
    assert_readable_error(app, response.get_json()["detail"])
    assert_nothing_stored(client, app, org, before)


@pytest.mark.parametrize("data", [b"", b"  \n\t\n"], ids=["empty", "blank"])
def test_empty_file_is_refused_or_fails(client, app, org, data):
    response = upload(client, org, data, "empty.txt", file_type="txt")
    if response.status_code == 422:
        assert_names_field(assert_envelope(response, 422), "file")
        assert sources(client, org) == []
    else:
        done = settle(client, org, assert_envelope(response, 201)["id"])
        assert done["status"] == "failed" and done["chunk_count"] == 0
        assert_readable_error(app, done["error"])


def test_missing_file_part_is_422(client, app, org):
    before = uploads(app)
    for form in [
        {"title": "Product Manual", "file_type": "pdf"},
        # `-F "file=product_manual.pdf"` (no @): a text field, not a file.
        {"title": "Product Manual", "file_type": "pdf", "file": "product_manual.pdf"},
    ]:
        response = client.post(f"{API}/knowledge/files/", data=form, headers=org.headers)
        assert_names_field(assert_envelope(response, 422), "file")
    # A JSON body is no upload either.
    response = client.post(
        f"{API}/knowledge/files/", json={"title": "Product Manual"}, headers=org.headers
    )
    assert_names_field(assert_envelope(response, 422), "file")
    assert_nothing_stored(client, app, org, before)


def test_unknown_file_type_is_422(client, app, org):
    before = uploads(app)
    response = upload(client, org, b"MZ\x90\x00", "setup.exe", file_type="exe")
    assert_names_field(assert_envelope(response, 422), "file_type")
    assert_nothing_stored(client, app, org, before)


@pytest.mark.parametrize("size", [MAX_UPLOAD + 1, 2 * MAX_UPLOAD], ids=["just-over", "far-over"])
def test_upload_over_the_limit_is_413_and_not_stored(client, app, org, size):
    before = uploads(app)
    response = upload(client, org, b"a" * size, "big.txt", title="Too big", file_type="txt")
    assert assert_envelope(response, 413) is None
    assert_nothing_stored(client, app, org, before)


def encrypted_pdf() -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(text_pdf([["Internal price list."]]))))
    writer.encrypt("secret", "owner-secret")
    return pdf_bytes(writer)


def image_only_pdf() -> bytes:
    image = stream(
        b"\x80" * 16,
        b"/Type /XObject /Subtype /Image /Width 4 /Height 4 /ColorSpace /DeviceGray "
        b"/BitsPerComponent 8",
    )
    return one_page_pdf(stream(b"q 200 0 0 200 100 400 cm /X1 Do Q"), image)


def corrupt_pdf() -> bytes:
    data = text_pdf([["First page text."], ["Second page text."]])
    return data[: int(len(data) * 0.6)]


@pytest.mark.parametrize(
    ("build", "says"),
    [
        (encrypted_pdf, "encrypted"),
        (corrupt_pdf, "damaged"),
        (image_only_pdf, "no text"),
    ],
    ids=["encrypted", "corrupt", "image-only"],
)
def test_unreadable_pdf_ends_failed_with_a_readable_error(client, app, org, build, says):
    response = upload(client, org, build(), "manual.pdf", title="Manual", file_type="pdf")
    created = assert_envelope(response, 201)
    done = settle(client, org, created["id"])
    assert done["status"] == "failed", done
    assert done["chunk_count"] == 0
    assert says in done["error"].lower(), done["error"]
    assert_readable_error(app, done["error"])
    assert chunk_ids(app, created["id"]) == []
    assert search(client, org, "page text price list") == []


def test_decompression_bomb_fails_within_bounds(client, app, org):
    # 1 GiB of zeros in about 1 MB: the page's content stream.
    bomb = one_page_pdf(stream(deflate_bomb(bytes(1 << 20), 1024), b"/Filter /FlateDecode"))
    assert len(bomb) < MAX_UPLOAD
    started = time.monotonic()
    created = assert_envelope(upload(client, org, bomb, "bomb.pdf", file_type="pdf"), 201)
    done = settle(client, org, created["id"], within=PARSE_TIMEOUT_S + 15)
    assert time.monotonic() - started < PARSE_TIMEOUT_S + 15
    assert done["status"] == "failed" and done["chunk_count"] == 0
    assert re.search(r"too large|too long", done["error"]), done["error"]
    assert_readable_error(app, done["error"])


def test_slow_file_is_cut_off_while_the_api_keeps_answering(client, app, org):
    # 10,000 pages, all read (INGEST_MAX_PAGES is 10,000 here): seconds of work past the
    # 2 s deadline, which must kill it while every other request is served as usual.
    slow = text_pdf([[f"Page {n} of the endless catalogue."] for n in range(1, 10_001)])
    assert len(slow) < MAX_UPLOAD
    pair = assert_envelope(
        client.post(
            f"{API}/knowledge/qa/",
            json={"question": "Do you sell gift cards?", "answer": "Yes, from 10 euros."},
            headers=org.headers,
        ),
        201,
    )
    started = time.monotonic()
    created = assert_envelope(upload(client, org, slow, "catalogue.pdf", file_type="pdf"), 201)
    # The 201 does not wait for the parse: the file is read off the request thread.
    assert time.monotonic() - started < 1.0 and created["status"] == "processing"
    answered_meanwhile, slowest = 0, 0.0
    while True:
        asked = time.monotonic()
        state = source(client, org, created["id"])
        hits = search(client, org, "can I buy a voucher")
        health = client.get("/healthz")
        slowest = max(slowest, time.monotonic() - asked)
        assert hits[0]["source_id"] == pair["id"] and health.status_code == 200
        if state["status"] != "processing":
            break
        answered_meanwhile += 1
        assert time.monotonic() - started < PARSE_TIMEOUT_S + 15, state
        time.sleep(0.05)
    assert answered_meanwhile >= 5, "the job ended before the API could be seen answering"
    assert slowest < 1.0, f"a request took {slowest:.2f}s while the file was being read"
    assert state["status"] == "failed" and state["chunk_count"] == 0
    assert "too long" in state["error"], state["error"]
    assert_readable_error(app, state["error"])

    # The worker survived its job: the next upload is indexed as usual.
    after = assert_envelope(upload(client, org, SHIPPING_TXT, "shipping.txt"), 201)
    assert settle(client, org, after["id"])["status"] == "ready"


# --- deleting removes everything ----------------------------------------------------------


def test_delete_removes_a_file_and_a_pair_from_everywhere(client, app, org):
    pdf = text_pdf(
        [
            ["Quasar headphones: charge them with the USB-C cable for two hours."],
            ["Quasar headphones: press both buttons to reset the noise cancelling."],
        ]
    )
    file_id = assert_envelope(upload(client, org, pdf, "quasar.pdf", file_type="pdf"), 201)["id"]
    assert settle(client, org, file_id)["chunk_count"] == 2
    post = lambda body: assert_envelope(  # noqa: E731
        client.post(f"{API}/knowledge/qa/", json=body, headers=org.headers), 201
    )["id"]
    qa_id = post({"question": "Do Quasar headphones float?", "answer": "No, keep them dry."})
    keeper_id = post({"question": "Where is the Quasar shop?", "answer": "In Lisbon."})

    file_chunks, qa_chunks = chunk_ids(app, file_id), chunk_ids(app, qa_id)
    assert len(file_chunks) == 2 and len(qa_chunks) == 1
    assert fts_rows(app, file_chunks) == 2 and fts_rows(app, qa_chunks) == 1
    # A file chunk has one vector; a pair has two (its text, and its question alone).
    assert vector_count(app, org) == 2 + 2 + 2
    assert uuid.UUID(file_id).hex in uploads(app)

    for source_id, chunks, vectors_left in [(file_id, file_chunks, 4), (qa_id, qa_chunks, 2)]:
        response = client.delete(f"{API}/knowledge/sources/{source_id}", headers=org.headers)
        assert_envelope(response, 200)
        assert_envelope(
            client.get(f"{API}/knowledge/sources/{source_id}", headers=org.headers), 404
        )
        assert source_id not in {s["id"] for s in sources(client, org)}
        for mode in ("hybrid", "vector", "keyword"):
            for query in ("Quasar headphones charge reset noise", "Do Quasar headphones float?"):
                found = search(client, org, query, mode=mode, top_k=50)
                assert source_id not in {p["source_id"] for p in found}, (mode, query)
        assert chunk_ids(app, source_id) == []
        assert fts_rows(app, chunks) == 0
        assert vector_count(app, org) == vectors_left
    assert uuid.UUID(file_id).hex not in uploads(app)
    assert_envelope(client.get(f"{API}/knowledge/qa/{qa_id}", headers=org.headers), 404)
    assert assert_envelope(client.get(f"{API}/knowledge/files/", headers=org.headers), 200) == []

    # What was not deleted is all still there.
    assert [s["id"] for s in sources(client, org)] == [keeper_id]
    assert len(chunk_ids(app, keeper_id)) == 1
    [hit, *_] = search(client, org, "where can I find the store")
    assert hit["source_id"] == keeper_id
