"""PDF text, one section per page so answers can cite the page."""

from __future__ import annotations

import io

from pypdf import PdfReader
from pypdf.errors import DependencyError, FileNotDecryptedError, LimitReachedError, PyPdfError

from ..documents import DocumentError, ParsedDocument, Section
from .common import TextBudget

# What pypdf may raise on a malformed file (it raises plain Python errors on some).
_BROKEN = (
    PyPdfError,
    ValueError,
    KeyError,
    TypeError,
    AttributeError,
    IndexError,
    AssertionError,
    RecursionError,
)
# pypdf's own guards (a stream that inflates past 75 MB, a runaway page tree) say this.
_TOO_BIG = "This PDF is too large to read: part of it unpacks past the safety limits."
_DAMAGED = "This PDF is damaged and could not be read."
_ENCRYPTED = "This PDF is encrypted (password-protected); upload a copy saved without a password."


def parse_pdf(data: bytes, *, max_pages: int, max_chars: int) -> ParsedDocument:
    """Extract each page's text as a Section with its 1-based page number.

    Only the first `max_pages` pages and `max_chars` characters are read. Raises
    DocumentError for an encrypted, damaged or image-only PDF.
    """
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        _unlock(reader)
        page_count = len(reader.pages)
    except DocumentError:
        raise
    except LimitReachedError:
        raise DocumentError(_TOO_BIG) from None
    except _BROKEN:
        raise DocumentError(_DAMAGED) from None
    if page_count == 0:
        raise DocumentError("This PDF has no pages.")

    budget = TextBudget(max_chars)
    sections = []
    # Past max_pages or max_chars the rest is left out, as the settings say.
    for number in range(1, min(page_count, max_pages) + 1):
        text = budget.take(_page_text(reader, number))
        if text.strip():
            sections.append(Section(text=text, page=number))
        if budget.exhausted:
            break
    if not sections:
        raise DocumentError(
            "No text found in this PDF: its pages seem to be images (a scan?). "
            "Upload a PDF with selectable text."
        )
    return ParsedDocument(title=_title(reader), sections=sections)


def _unlock(reader: PdfReader) -> None:
    if not reader.is_encrypted:
        return
    # Many PDFs are encrypted only to restrict printing or copying, with an empty user
    # password: those open like any other.
    try:
        if reader.decrypt(""):
            return
    except (FileNotDecryptedError, DependencyError, NotImplementedError):
        pass
    raise DocumentError(_ENCRYPTED)


def _page_text(reader: PdfReader, number: int) -> str:
    try:
        return reader.pages[number - 1].extract_text() or ""
    except LimitReachedError:
        raise DocumentError(_TOO_BIG) from None
    except _BROKEN:
        message = f"Page {number} of this PDF is damaged and could not be read."
        raise DocumentError(message) from None


def _title(reader: PdfReader) -> str | None:
    try:
        title = reader.metadata.title if reader.metadata else None
    except _BROKEN:
        return None
    if not isinstance(title, str):
        return None
    return title.strip() or None
