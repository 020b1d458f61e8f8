"""Which kind of file is this? Decided from the bytes, with the claimed type as a cross-check.

A client's `file_type` and file name are hints, never trusted: a "pdf" that is really a
text file, or a PNG renamed `.txt`, is refused with a message the user can act on.
"""

from __future__ import annotations

import io
import re
import zipfile

from ...enums import FILE_EXTENSIONS, FILE_TYPES
from ..documents import UnsupportedFile

# Spellings a client may use for FILE_TYPES (claimed types and file extensions): the
# extensions `companin ingest` picks up, and two it leaves alone in a folder.
_ALIASES = {**FILE_EXTENSIONS, "xhtml": "html", "text": "txt"}

_LABELS = {
    "pdf": "a PDF",
    "docx": "a Word (.docx) document",
    "html": "an HTML page",
    "md": "a Markdown file",
    "txt": "a text file",
}

# Formats people commonly upload by mistake, named so the error says what the file is.
_KNOWN_BINARIES = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Office document (.doc/.xls/.ppt)"),
    (b"{\\rtf", "an RTF document"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
    (b"\x7fELF", "a program"),
    (b"%!PS", "a PostScript file"),
    (b"ID3", "an audio file"),
    (b"OggS", "an audio file"),
    (b"fLaC", "an audio file"),
)

_HTML_START = re.compile(r"<!doctype\s+html|<html[\s>]", re.IGNORECASE)
_HTML_COMMON_TAG = re.compile(
    r"<(head|body|meta|title|link|div|p|h[1-6]|table|ul|ol|section|article|main|span|a|br)"
    r"[\s/>]",
    re.IGNORECASE,
)
# Comments and an XML declaration may come before the first tag of an (X)HTML file.
_HTML_PREAMBLE = re.compile(r"\A(?:\s+|<!--.*?-->|<\?xml[^>]*\?>)*", re.DOTALL)
_MARKDOWN_MARKERS = re.compile(
    r"^(#{1,6}\s+\S|```|~~~|\s*[-*+]\s+\[[ xX]\]|.*\[[^\]\n]+\]\([^)\s]+\))",
    re.MULTILINE,
)
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def detect_type(data: bytes, claimed: str | None, filename: str | None) -> str:
    """Return one of FILE_TYPES for `data`, or raise UnsupportedFile saying why not.

    `claimed` is the client's `file_type` (pdf, txt, md, html, docx; a few spellings such
    as "markdown" or "htm" are accepted). When it is missing, the file name's extension
    stands in for it. Text types are compatible with each other: a text file claimed as
    Markdown is read as Markdown, an HTML page sent as ".txt" is read as HTML.
    """
    claim = _claimed_type(claimed, filename)
    actual, text = _content_kind(data)
    if actual in ("pdf", "docx"):
        if claim is not None and claim != actual:
            raise UnsupportedFile(
                f"The file was sent as {_LABELS[claim]} but it is {_LABELS[actual]}."
            )
        return actual
    if claim in ("pdf", "docx"):
        raise UnsupportedFile(f"The file was sent as {_LABELS[claim]} but it is plain text.")
    # A whole page (<!doctype html>, <html>) is HTML whatever the claim: indexing its
    # markup as text would be useless. A fragment only counts when nothing was claimed,
    # since Markdown files often start with a <p> or <div> of their own.
    if claim == "html" or html_start(text) == "page":
        return "html"
    if claim is not None:
        return claim
    if html_start(text) == "fragment":
        return "html"
    return "md" if looks_like_markdown(text) else "txt"


def _claimed_type(claimed: str | None, filename: str | None) -> str | None:
    if claimed is not None and claimed.strip():
        name = claimed.strip().lower().lstrip(".")
        if name not in _ALIASES:
            raise UnsupportedFile(
                f"Unsupported file type {claimed.strip()!r}: use one of {', '.join(FILE_TYPES)}."
            )
        return _ALIASES[name]
    if filename and "." in filename:
        # An unknown extension (".csv", ".log") says nothing; the content decides.
        return _ALIASES.get(filename.rsplit(".", 1)[1].strip().lower())
    return None


def _content_kind(data: bytes) -> tuple[str, str]:
    """The kind of content ("pdf", "docx" or "text") and, for text, the text itself.

    Raises UnsupportedFile for anything else.
    """
    if not data.strip():
        raise UnsupportedFile("The file is empty.")
    if data.lstrip().startswith(b"%PDF-"):
        return "pdf", ""
    if data.startswith(b"PK\x03\x04"):
        return _zip_kind(data), ""
    for magic, label in _KNOWN_BINARIES:
        if data.startswith(magic):
            raise UnsupportedFile(f"This file is {label}, which cannot be read as text.")
    try:
        text = decode_text(data)
    except UnicodeDecodeError:
        # Readers accept a PDF header after a little binary junk, within the first 1 KB.
        if b"%PDF-" in data[:1024]:
            return "pdf", ""
        raise UnsupportedFile(
            "This file is not a PDF, Word document, HTML page or text file."
        ) from None
    return "text", text


def _zip_kind(data: bytes) -> str:
    try:
        # Reads only the central directory: cheap even for a zip bomb.
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise UnsupportedFile("This file looks like a damaged ZIP or Word document.") from None
    if "word/document.xml" in names:
        return "docx"
    if "xl/workbook.xml" in names or "ppt/presentation.xml" in names:
        raise UnsupportedFile("Spreadsheets and presentations are not supported; use PDF.")
    raise UnsupportedFile("This file is a ZIP archive, not a Word document.")


def decode_text(data: bytes) -> str:
    """Decode a text file: UTF-8 (BOM optional), UTF-16/32 with a BOM, or Windows-1252.

    Raises UnicodeDecodeError when the bytes are not text (a NUL byte, control characters,
    invalid sequences in every encoding tried).
    """
    for bom, codec in (
        (b"\xff\xfe\x00\x00", "utf-32"),
        (b"\x00\x00\xfe\xff", "utf-32"),
        (b"\xff\xfe", "utf-16"),
        (b"\xfe\xff", "utf-16"),
        (b"\xef\xbb\xbf", "utf-8-sig"),
    ):
        if data.startswith(bom):
            text = data.decode(codec)
            break
    else:
        if b"\x00" in data:
            raise UnicodeDecodeError("utf-8", data, 0, 1, "NUL byte: binary data")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            # Legacy Windows text files are still common; cp1252 leaves five bytes undefined
            # and binary data is caught by the control-character check below.
            text = data.decode("cp1252")
    bad = len(_CONTROL_CHARS.findall(text[:65536]))
    if bad > max(2, len(text[:65536]) // 1000):
        raise UnicodeDecodeError("utf-8", data, 0, 1, "control characters: binary data")
    return text


def html_start(text: str) -> str | None:
    """How the text starts: "page" (<!doctype html>, <html>), "fragment" (a common tag
    such as <div> or <p>) or None. Comments and an XML prolog may come first."""
    head = text[:4096]
    start = _HTML_PREAMBLE.match(head)
    rest = head[start.end() if start else 0 :]
    if _HTML_START.match(rest):
        return "page"
    return "fragment" if _HTML_COMMON_TAG.match(rest) else None


def looks_like_markdown(text: str) -> bool:
    """True if Markdown syntax (headings, fences, links, setext rules) appears in the text."""
    return _MARKDOWN_MARKERS.search(text[:65536]) is not None
