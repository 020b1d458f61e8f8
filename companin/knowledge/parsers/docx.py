"""Word (.docx) documents: paragraphs and tables in reading order, split at Heading styles."""

from __future__ import annotations

import io
import re
import zipfile

import docx
from docx.opc.exceptions import OpcError
from docx.table import Table
from docx.text.paragraph import Paragraph
from lxml import etree

from ..documents import DocumentError, ParsedDocument
from .common import SectionBuilder, TextBudget

# python-docx holds every part of the package in memory, so the archive's declared size
# is checked first: zipfile never inflates a member past its declared size, which makes
# the check hold against a zip bomb too.
MAX_UNPACKED_BYTES = 512 * 1024 * 1024
MAX_MEMBERS = 10_000

_HEADING_STYLE = re.compile(r"^heading\s*([1-9])$", re.IGNORECASE)
_BROKEN = (
    OpcError,
    zipfile.BadZipFile,
    etree.LxmlError,
    KeyError,
    ValueError,
    TypeError,
    AttributeError,
    IndexError,
    EOFError,
    OSError,
    RecursionError,
)
_DAMAGED = "This Word document is damaged and could not be read."


def parse_docx(data: bytes, *, max_chars: int) -> ParsedDocument:
    """Read a .docx: "Title" and "Heading N" paragraphs start sections; tables give a
    paragraph per row, cells separated by " | ".

    Text past `max_chars` is left out. Raises DocumentError for a damaged document or one
    too large once unpacked.
    """
    _check_archive(data)
    try:
        document = docx.Document(io.BytesIO(data))
        builder = SectionBuilder(TextBudget(max_chars))
        for block in document.iter_inner_content():
            if builder.full:
                break
            if isinstance(block, Paragraph):
                _add_paragraph(block, builder)
            elif isinstance(block, Table):
                _add_table(block, builder)
        title = (document.core_properties.title or "").strip() or None
        return ParsedDocument(title=title, sections=builder.finish())
    except DocumentError:
        raise
    except _BROKEN:
        raise DocumentError(_DAMAGED) from None


def _check_archive(data: bytes) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise DocumentError(_DAMAGED) from None
    if len(members) > MAX_MEMBERS or sum(m.file_size for m in members) > MAX_UNPACKED_BYTES:
        raise DocumentError("This Word document is too large to read once unpacked.")


def _add_paragraph(paragraph: Paragraph, builder: SectionBuilder) -> None:
    text = paragraph.text
    level = _heading_level(paragraph)
    if level is not None:
        builder.heading(level, text)
    elif text.strip():
        builder.add_text(text)
        builder.end_paragraph()


def _heading_level(paragraph: Paragraph) -> int | None:
    style = paragraph.style
    name = (style.name or "") if style is not None else ""
    if name.lower() == "title":
        return 0  # above "Heading 1": the sections then read "Handbook > Leave"
    match = _HEADING_STYLE.match(name.strip())
    return int(match.group(1)) if match else None


def _add_table(table: Table, builder: SectionBuilder) -> None:
    builder.end_paragraph()
    for row in table.rows:
        cells: list[str] = []
        for cell in row.cells:
            text = " ".join(cell.text.split())
            # A merged cell is returned once per grid column it spans: keep it once.
            if text and (not cells or cells[-1] != text):
                cells.append(text)
        if cells:
            builder.add_text(" | ".join(cells))
            builder.end_paragraph()
