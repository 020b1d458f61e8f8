"""Reading knowledge files: the type checked against the bytes, the text with its place.

Every file here is real and made by the test: PDFs written object by object (a content
stream with BT/Tf/Tj, the way a PDF producer writes them), re-encrypted with pypdf, Word
documents made with python-docx, HTML and Markdown as a help centre would have them.

Hostile files (a decompression bomb, a page tree that loops, 10,000 pages, XML nested
100,000 deep, a Word file that unpacks to 300 MB) go through `parse_isolated`, the way
the server reads uploads: each must end in a readable DocumentError within a bounded
time, and the test process itself must not have done the damage.
"""

from __future__ import annotations

import io
import multiprocessing
import re
import time
import zipfile
import zlib

import docx
import pytest
from engines import no_engine_used
from pypdf import PdfReader, PdfWriter

from companin.knowledge.chunking import chunk_document
from companin.knowledge.documents import DocumentError, UnsupportedFile
from companin.knowledge.parsers import detect_type, parse, parse_isolated
from companin.knowledge.parsers.html import extract_links

pytestmark = no_engine_used

LIMITS = {"max_pages": 2000, "max_chars": 5_000_000}
# The child gets 5 s and 256 MB; the test allows 20 s for the whole round trip.
ISOLATED = {"timeout_s": 5.0, "memory_limit_bytes": 256 * 1024 * 1024, **LIMITS}
DEADLINE_S = 20.0


# --- files -------------------------------------------------------------------------


def pdf_file(objects: list[bytes]) -> bytes:
    """A PDF from its object bodies (object 1 is the catalog), with a correct xref table."""
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def stream(content: bytes, extra: bytes = b"") -> bytes:
    return b"<< %s /Length %d >>\nstream\n%s\nendstream" % (extra, len(content), content)


FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"


def text_pdf(pages: list[list[str]], info: bytes | None = None) -> bytes:
    """A PDF whose page i shows the lines pages[i] (an empty list: a blank page)."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"", FONT]
    kids = []
    for lines in pages:
        kids.append(b"%d 0 R" % (len(objects) + 1))
        shown = b"".join(b"(%s) Tj T* " % line.encode("latin-1") for line in lines)
        content = b"BT /F1 11 Tf 14 TL 72 720 Td %sET" % shown if lines else b""
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % (len(objects) + 2)
        )
        objects.append(stream(content))
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(kids), len(pages))
    data = pdf_file(objects)
    if info is None:
        return data
    # The title lives in the document information dictionary, which pypdf writes for us.
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.add_metadata({"/Title": info.decode()})
    return pdf_bytes(writer)


def one_page_pdf(content: bytes, xobject: bytes | None = None) -> bytes:
    """A one-page PDF: `content` is object 5, an optional `xobject` object 6, named /X1."""
    resources = b"/Font << /F1 4 0 R >>" + (b" /XObject << /X1 6 0 R >>" if xobject else b"")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << %s >> /Contents 5 0 R >>" % resources,
        FONT,
        content,
    ]
    return pdf_file(objects + ([xobject] if xobject else []))


def pdf_bytes(writer: PdfWriter) -> bytes:
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def deflate_bomb(block: bytes, repeats: int) -> bytes:
    """zlib data that inflates to block * repeats, built in a fraction of a second.

    After a full flush the compressor forgets its history, so every further copy of the
    block compresses to the same bytes: compress it twice and repeat the second result.
    """
    compressor = zlib.compressobj(9)
    first = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    again = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    checksum = 1
    for _ in range(repeats):
        checksum = zlib.adler32(block, checksum)
    # An empty final block, then the Adler-32 of everything: a valid, complete stream.
    return first + again * (repeats - 1) + b"\x03\x00" + checksum.to_bytes(4, "big")


def docx_file(build) -> bytes:
    document = docx.Document()
    build(document)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def docx_with_body(write_body) -> bytes:
    """A .docx whose word/document.xml body is written by `write_body(file)`, streamed."""
    template = zipfile.ZipFile(io.BytesIO(docx_file(lambda d: d.add_paragraph("x"))))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for info in template.infolist():
            content = template.read(info.filename)
            if info.filename != "word/document.xml":
                archive.writestr(info, content)
                continue
            head, tail = content.split(b"<w:body>")
            with archive.open(info.filename, "w", force_zip64=True) as member:
                member.write(head + b"<w:body>")
                write_body(member)
                member.write(b"</w:body>" + tail.split(b"</w:body>")[1])
    return out.getvalue()


PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
    b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)

HELP_PAGE = b"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Returns | Acme Help</title>
<style>.banner { color: red } /* STYLE-JUNK */</style>
<script>window.tracker = "SCRIPT-JUNK";</script></head>
<body>
<header><a href="/">Acme</a> HEADER-JUNK</header>
<nav><a href="/pricing#plans">Pricing</a> <a href="https://status.acme.test/">Status</a>
  NAV-JUNK</nav>
<main>
  <h1>Returns</h1>
  <p>You can return any item within <b>30 days</b> of delivery.</p>
  <p>Keep the receipt: we need the order number.</p>
  <form><label>Search SEARCH-JUNK</label><input name="q"></form>
  <h2>Exceptions</h2>
  <ul><li>Gift cards</li><li>Opened software</li></ul>
  <table><tr><th>Item</th><th>Window</th></tr><tr><td>Laptops</td><td>14 days</td></tr></table>
  <!-- COMMENT-JUNK -->
</main>
<aside>ASIDE-JUNK related articles</aside>
<footer>FOOTER-JUNK &copy; Acme <a href="mailto:help@acme.test">Mail</a></footer>
<noscript>NOSCRIPT-JUNK enable JavaScript</noscript>
</body></html>
"""

GUIDE_MD = """---
title: Acme Router Guide
---
Read this first. See the [support site](https://acme.test/help) for **more**.

# Setup

Plug the router in and wait for the `power` light.

```
admin / change-me
```

## Wi-Fi

- Open *Settings*
- Choose **Wireless**

Troubleshooting
---------------

> If nothing works, hold reset for 10 seconds.
"""


def all_text(document) -> str:
    return "\n".join(section.text for section in document.sections)


def reset_peak_memory() -> None:
    """Start this process's peak RSS (VmHWM) over from its current RSS (Linux)."""
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def memory_kb(field: str) -> int:
    """A memory figure of this process from /proc/self/status, in KB."""
    with open("/proc/self/status") as handle:
        return int(re.search(rf"^{field}:\s+(\d+)", handle.read(), re.M).group(1))


def assert_refused_in_time(data: bytes, file_type: str, match: str, **limits) -> DocumentError:
    """The file ends in a DocumentError matching `match`, fast, leaving no child behind."""
    reset_peak_memory()
    before = memory_kb("VmRSS")
    started = time.monotonic()
    with pytest.raises(DocumentError, match=match) as caught:
        parse_isolated(data, file_type, **{**ISOLATED, **limits})
    assert time.monotonic() - started < DEADLINE_S
    assert not [p for p in multiprocessing.active_children() if p.name == "companin-parse"]
    # Whatever the file asked for was spent in the child, not here: this process's peak
    # during the parse stays near where it was (the test worker's lifetime peak says
    # nothing, as other tests in the same worker load models).
    assert memory_kb("VmHWM") - before < 128 * 1024
    return caught.value


# --- what is this file? -----------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "claimed", "filename", "expected"),
    [
        (text_pdf([["Hello"]]), "pdf", "manual.pdf", "pdf"),
        (text_pdf([["Hello"]]), None, "upload.bin", "pdf"),
        (docx_file(lambda d: d.add_paragraph("Hi")), "docx", "a.docx", "docx"),
        (docx_file(lambda d: d.add_paragraph("Hi")), None, None, "docx"),
        (HELP_PAGE, "html", "returns.html", "html"),
        (HELP_PAGE, None, None, "html"),
        # An HTML page saved as .txt is still read as a page, claimed or not.
        (HELP_PAGE, "html", "returns.txt", "html"),
        (HELP_PAGE, "txt", "returns.txt", "html"),
        (GUIDE_MD.encode(), "md", "guide.md", "md"),
        (GUIDE_MD.encode(), None, "guide.markdown", "md"),
        (GUIDE_MD.encode(), None, None, "md"),
        # Text types are compatible claims: Markdown claimed as text is read as text.
        (GUIDE_MD.encode(), "txt", "guide.txt", "txt"),
        # A README that opens with an HTML block is still Markdown when claimed so; a
        # bare fragment with no claim at all is taken for HTML.
        (b'<p align="center">Logo</p>\n\n# Router\n', "md", "README.md", "md"),
        (b"<div><p>Opening hours</p></div>", None, None, "html"),
        (b"Opening hours: 9 to 5.\n", None, "hours.txt", "txt"),
        (b"Opening hours: 9 to 5.\n", "md", None, "md"),
        (b"Opening hours: 9 to 5.\n", None, "hours.csv", "txt"),
    ],
)
def test_detect_type_from_the_content(data, claimed, filename, expected):
    assert detect_type(data, claimed, filename) == expected


@pytest.mark.parametrize(
    ("data", "claimed", "filename", "message"),
    [
        (PNG, "pdf", "scan.pdf", "PNG image"),
        (PNG, None, "photo.png", "PNG image"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(64), "txt", None, "JPEG image"),
        (b"Just some text, not a PDF.\n", "pdf", "manual.pdf", "sent as a PDF but it is"),
        (b"Just some text.\n", None, "manual.pdf", "sent as a PDF but it is"),
        (b"Just some text.\n", "docx", None, "Word"),
        (text_pdf([["Hello"]]), "txt", "notes.txt", "sent as a text file but it is a PDF"),
        (text_pdf([["Hello"]]), "docx", None, "but it is a PDF"),
        (b"", "txt", "empty.txt", "empty"),
        (b" \n\t\n", None, None, "empty"),
        (bytes(range(256)) * 8, None, "blob.dat", "not a PDF, Word document, HTML"),
        (b"Opening hours", "exe", None, "Unsupported file type 'exe'"),
    ],
)
def test_detect_type_refuses_what_it_cannot_read(data, claimed, filename, message):
    with pytest.raises(UnsupportedFile, match=message):
        detect_type(data, claimed, filename)


def test_a_zip_that_is_not_a_word_document_is_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.txt", "hello")
    with pytest.raises(UnsupportedFile, match="ZIP archive, not a Word document"):
        detect_type(buffer.getvalue(), "docx", "notes.docx")


def test_utf16_and_windows_1252_text_are_read():
    utf16 = "Café opening hours\n\nWe open at 9 – every day.".encode("utf-16")  # with a BOM
    assert detect_type(utf16, None, "hours.txt") == "txt"
    document = parse(utf16, "txt", **LIMITS)
    assert [s.text for s in document.sections] == [
        "Café opening hours\n\nWe open at 9 – every day."
    ]
    legacy = "Crème brûlée costs 5 €.".encode("cp1252")
    assert detect_type(legacy, "txt", None) == "txt"
    assert all_text(parse(legacy, "txt", **LIMITS)) == "Crème brûlée costs 5 €."


# --- reading each type ---------------------------------------------------------------


def test_pdf_text_keeps_its_page_numbers_into_the_chunks():
    data = text_pdf(
        [["Welcome to the Acme X1 manual."], [], ["Charge the battery for two hours.", "Then"]],
        info=b"Acme X1 Manual",
    )
    document = parse_isolated(data, detect_type(data, "pdf", "x1.pdf"), **ISOLATED)
    assert document.title == "Acme X1 Manual"
    # Page 2 is blank: no section for it, and page 3 is still called 3.
    assert [(s.page, " ".join(s.text.split())) for s in document.sections] == [
        (1, "Welcome to the Acme X1 manual."),
        (3, "Charge the battery for two hours. Then"),
    ]
    chunks = chunk_document(document)
    assert [(c.page, c.ordinal) for c in chunks] == [(1, 0), (3, 1)]
    assert "two hours" in chunks[1].text


def test_pdf_encrypted_with_a_password_is_refused_but_an_open_one_is_read():
    plain = text_pdf([["Internal price list."]])
    locked = PdfWriter(clone_from=PdfReader(io.BytesIO(plain)))
    locked.encrypt("secret", "owner-secret")
    with pytest.raises(DocumentError, match="encrypted"):
        parse(pdf_bytes(locked), "pdf", **LIMITS)
    # Encrypted only against editing (empty user password): opens like any PDF.
    restricted = PdfWriter(clone_from=PdfReader(io.BytesIO(plain)))
    restricted.encrypt("", "owner-secret")
    assert "Internal price list." in all_text(parse(pdf_bytes(restricted), "pdf", **LIMITS))


def test_pdf_of_images_only_says_there_is_no_text():
    image = stream(
        b"\x80" * 16,
        b"/Type /XObject /Subtype /Image /Width 4 /Height 4 /ColorSpace /DeviceGray "
        b"/BitsPerComponent 8",
    )
    data = one_page_pdf(stream(b"q 200 0 0 200 100 400 cm /X1 Do Q"), image)
    with pytest.raises(DocumentError, match="No text found.*images"):
        parse(data, "pdf", **LIMITS)


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.9])
def test_pdf_truncated_is_damaged(keep):
    data = text_pdf([["First page text."], ["Second page text."]])
    with pytest.raises(DocumentError, match="damaged"):
        parse(data[: int(len(data) * keep)], "pdf", **LIMITS)


def test_html_keeps_the_main_text_and_splits_at_headings():
    document = parse(HELP_PAGE, "html", **LIMITS)
    assert document.title == "Returns | Acme Help"
    assert [(s.heading, s.text) for s in document.sections] == [
        (
            "Returns",
            "You can return any item within 30 days of delivery.\n\n"
            "Keep the receipt: we need the order number.",
        ),
        (
            "Returns > Exceptions",
            "Gift cards\n\nOpened software\n\nItem | Window\n\nLaptops | 14 days",
        ),
    ]
    assert "JUNK" not in all_text(document)


def test_html_without_main_drops_the_page_chrome():
    page = HELP_PAGE.replace(b"<main>", b"<div class='content'>").replace(b"</main>", b"</div>")
    text = all_text(parse(page, "html", **LIMITS))
    assert "within 30 days of delivery" in text and "Laptops | 14 days" in text
    assert "JUNK" not in text


def test_extract_links_for_the_crawler():
    links = extract_links(HELP_PAGE, "https://help.acme.test/en/returns.html")
    # Absolute, without fragments, only http(s), nav links included (they lead on).
    assert links == [
        "https://help.acme.test/",
        "https://help.acme.test/pricing",
        "https://status.acme.test/",
    ]
    page = b"""<html><head><base href="https://docs.acme.test/v2/"></head><body>
        <a href="setup">Setup</a><a href="setup#wifi">Wi-Fi</a><a href="javascript:void(0)">x</a>
        <a href="ftp://files.acme.test/a">ftp</a><a href="//cdn.acme.test/guide">Guide</a>
        </body></html>"""
    assert extract_links(page, "https://acme.test/index.html") == [
        "https://docs.acme.test/v2/setup",
        "https://cdn.acme.test/guide",
    ]
    # UTF-8 without a <meta charset> is the common case, not Latin-1.
    assert extract_links('<a href="/café">Café</a>'.encode(), "https://acme.test/") == [
        "https://acme.test/café"
    ]


def test_extract_links_runs_in_the_server_so_a_deep_page_is_cheap():
    # The crawler calls it in-process: 250,000 nested elements must not cost seconds.
    page = b"<html><body>" + b'<div><a href="/deep">' * 250_000 + b"x" + b"</a></div>" * 250_000
    started = time.monotonic()
    assert extract_links(page, "https://acme.test/") == ["https://acme.test/deep"]
    assert time.monotonic() - started < 2.0


def test_markdown_splits_at_headings_and_strips_the_syntax():
    document = parse(GUIDE_MD.encode(), "md", **LIMITS)
    assert document.title == "Acme Router Guide"
    assert [(s.heading, s.text) for s in document.sections] == [
        (None, "Read this first. See the support site for more."),
        ("Setup", "Plug the router in and wait for the power light.\n\nadmin / change-me"),
        ("Setup > Wi-Fi", "- Open Settings\n\n- Choose Wireless"),
        ("Setup > Troubleshooting", "If nothing works, hold reset for 10 seconds."),
    ]


def test_plain_text_keeps_its_paragraphs():
    text = b"Shipping\nis free over 50 EUR.\n\n\nReturns take\n14 days.\n"
    [section] = parse(text, "txt", **LIMITS).sections
    assert section.text == "Shipping is free over 50 EUR.\n\nReturns take 14 days."
    assert section.heading is None


def test_docx_headings_paragraphs_and_tables():
    def build(document):
        document.core_properties.title = "Employee handbook"
        document.add_heading("Handbook", 0)
        document.add_paragraph("Welcome to Acme.")
        document.add_heading("Leave", 1)
        document.add_paragraph("You get 25 days of paid leave.")
        table = document.add_table(rows=2, cols=2)
        for (row, col), text in {(0, 0): "Type", (0, 1): "Days", (1, 0): "Parental"}.items():
            table.cell(row, col).text = text
        table.cell(1, 1).text = "90"
        document.add_heading("Sick leave", 2)
        document.add_paragraph("Call your manager before 10:00.")

    data = docx_file(build)
    document = parse_isolated(data, detect_type(data, "docx", "handbook.docx"), **ISOLATED)
    assert document.title == "Employee handbook"
    assert [(s.heading, s.text) for s in document.sections] == [
        ("Handbook", "Welcome to Acme."),
        ("Handbook > Leave", "You get 25 days of paid leave.\n\nType | Days\n\nParental | 90"),
        ("Handbook > Leave > Sick leave", "Call your manager before 10:00."),
    ]


def test_a_file_without_text_is_refused():
    with pytest.raises(DocumentError, match="No text found"):
        parse(b"<html><body><script>app()</script><nav>Menu</nav></body></html>", "html", **LIMITS)
    with pytest.raises(DocumentError, match="No text found"):
        parse(docx_file(lambda d: d.add_paragraph("   ")), "docx", **LIMITS)


def test_text_past_max_chars_is_left_out():
    text = " ".join(f"word{i}" for i in range(10_000)).encode()
    document = parse(text, "txt", max_pages=10, max_chars=1_000)
    kept = all_text(document)
    assert 900 < len(kept) <= 1_000
    assert text.decode().startswith(kept)


# --- hostile files, read in a child process --------------------------------------------


def test_decompression_bomb_pdf():
    # 1 GiB of zeros in about 1 MB: the page's content stream.
    bomb = deflate_bomb(bytes(1 << 20), 1024)
    assert len(bomb) < 2 * 1024 * 1024
    data = one_page_pdf(stream(bomb, b"/Filter /FlateDecode"))
    assert_refused_in_time(data, "pdf", "too large")


def test_page_tree_that_loops_back_on_itself():
    data = pdf_file(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            # The page tree lists itself among its kids.
            b"<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
            stream(b"BT /F1 11 Tf (Loop) Tj ET"),
        ]
    )
    assert_refused_in_time(data, "pdf", "damaged")


def test_form_that_draws_itself_is_read_without_looping():
    # A form XObject whose content invokes itself: a reader that follows it never ends.
    form = stream(
        b"/X1 Do",
        b"/Type /XObject /Subtype /Form /BBox [0 0 10 10] "
        b"/Resources << /XObject << /X1 6 0 R >> >>",
    )
    data = one_page_pdf(stream(b"/X1 Do BT /F1 11 Tf 72 720 Td (Outside the loop) Tj ET"), form)
    started = time.monotonic()
    document = parse_isolated(data, "pdf", **ISOLATED)
    assert time.monotonic() - started < DEADLINE_S
    assert " ".join(all_text(document).split()) == "Outside the loop"


def test_content_stream_nested_200000_deep():
    data = one_page_pdf(stream(b"[" * 200_000 + b"]" * 200_000 + b" BT (Deep) Tj ET"))
    assert_refused_in_time(data, "pdf", "damaged")


def test_ten_thousand_pages_are_capped():
    data = text_pdf([[f"Page {n} text."] for n in range(1, 10_001)])
    started = time.monotonic()
    document = parse_isolated(data, "pdf", **{**ISOLATED, "max_pages": 50})
    assert time.monotonic() - started < DEADLINE_S
    assert [s.page for s in document.sections] == list(range(1, 51))
    assert "Page 50 text." in document.sections[-1].text
    # The same file with a deadline too short for it: killed, not waited for.
    assert_refused_in_time(
        data, "pdf", "took too long", timeout_s=0.3, max_pages=10_000, max_chars=10**8
    )


def test_word_file_that_unpacks_to_300_mb_exhausts_only_its_child():
    paragraph = b"<w:p><w:r><w:t>x</w:t></w:r></w:p>" * 30_000  # 1 MB

    def write_body(member):
        for _ in range(300):
            member.write(paragraph)

    data = docx_with_body(write_body)
    assert len(data) < 5 * 1024 * 1024
    assert detect_type(data, "docx", "bomb.docx") == "docx"
    assert_refused_in_time(data, "docx", "too large", memory_limit_bytes=128 * 1024 * 1024)


def test_word_file_with_xml_nested_100000_deep():
    def write_body(member):
        member.write(b"<w:p>" + b"<w:r>" * 100_000 + b"</w:r>" * 100_000 + b"</w:p>")

    assert_refused_in_time(docx_with_body(write_body), "docx", "damaged")


def test_html_nested_100000_deep_is_read():
    # A recursive walk of this tree would blow Python's stack; the page is still fine.
    page = b"<html><body>" + b"<div>" * 100_000 + b"Deep answer." + b"</div>" * 100_000
    document = parse_isolated(page, "html", **ISOLATED)
    assert all_text(document) == "Deep answer."


def test_errors_cross_the_process_boundary_intact():
    # The child's refusal reaches the caller as the same class with the same message.
    with pytest.raises(UnsupportedFile, match="Unsupported file type 'exe'"):
        parse_isolated(b"MZ\x90\x00", "exe", **ISOLATED)
    with pytest.raises(DocumentError, match="encrypted") as caught:
        locked = PdfWriter(clone_from=PdfReader(io.BytesIO(text_pdf([["Secret."]]))))
        locked.encrypt("secret")
        parse_isolated(pdf_bytes(locked), "pdf", **ISOLATED)
    assert not isinstance(caught.value, UnsupportedFile)
