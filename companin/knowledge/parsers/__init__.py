"""Turn an uploaded or fetched file into a ParsedDocument: text with its pages and headings.

`detect_type` decides what the bytes are; `parse` reads them in this process;
`parse_isolated` reads them in a child process with a deadline and a memory cap, which is
how the server reads anything a user sent: a hostile file (a decompression bomb, a page
tree that loops, 10,000 pages, XML nested 100,000 deep) then costs at most one killed
child, never a hung or exhausted server.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import warnings
from multiprocessing.connection import Connection

from ..documents import DocumentError, ParsedDocument, UnsupportedFile
from .sniff import FILE_TYPES, decode_text, detect_type

__all__ = [
    "FILE_TYPES",
    "detect_type",
    "parse",
    "parse_isolated",
]

TOO_SLOW = "This file took too long to read."
TOO_BIG = "This file is too large to read."
UNREADABLE = "This file could not be read."
NO_TEXT = "No text found in this file."

log = logging.getLogger(__name__)

_START_METHOD = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
if _START_METHOD == "forkserver":
    # Import the parsers (pypdf, lxml, bs4, python-docx) once, in the fork server.
    multiprocessing.get_context("forkserver").set_forkserver_preload(
        [__name__] + [f"{__name__}.{name}" for name in ("docx", "html", "pdf", "text")]
    )


def parse(data: bytes, file_type: str, *, max_pages: int, max_chars: int) -> ParsedDocument:
    """Parse `data` as `file_type` (one of FILE_TYPES, as returned by detect_type).

    Only the first `max_pages` pages (PDF) and `max_chars` characters are kept. Raises
    DocumentError with a message for the user: damaged, encrypted, image-only, no text.
    """
    if file_type == "pdf":
        from .pdf import parse_pdf

        document = parse_pdf(data, max_pages=max_pages, max_chars=max_chars)
    elif file_type == "docx":
        from .docx import parse_docx

        document = parse_docx(data, max_chars=max_chars)
    elif file_type == "html":
        from .html import parse_html

        document = parse_html(data, max_chars=max_chars)
    elif file_type in ("md", "txt"):
        from .text import parse_markdown, parse_text

        try:
            text = decode_text(data)
        except UnicodeDecodeError:
            raise UnsupportedFile("This file is not a text file.") from None
        reader = parse_markdown if file_type == "md" else parse_text
        document = reader(text, max_chars=max_chars)
    else:
        raise UnsupportedFile(f"Unsupported file type {file_type!r}.")
    document = _without_nul(document)
    if not any(section.text.strip() for section in document.sections):
        raise DocumentError(NO_TEXT)
    return document


def _without_nul(document: ParsedDocument) -> ParsedDocument:
    """NUL characters out: a PDF's text layer may carry them, they mean nothing to a
    reader, and PostgreSQL refuses text that holds one."""

    def clean(text: str | None) -> str | None:
        return text.replace("\x00", "") if text else text

    for section in document.sections:
        section.text, section.heading = clean(section.text), clean(section.heading)
    document.title = clean(document.title)
    return document


def parse_isolated(
    data: bytes,
    file_type: str,
    *,
    timeout_s: float,
    memory_limit_bytes: int,
    max_pages: int,
    max_chars: int,
) -> ParsedDocument:
    """Like `parse`, in a child process that is killed after `timeout_s` seconds.

    The child may grow its address space by `memory_limit_bytes` beyond what it uses at
    start (RLIMIT_AS; a baseline is added because the interpreter and libraries already
    take some hundreds of MB of address space). A timeout raises DocumentError(TOO_SLOW),
    running out of memory DocumentError(TOO_BIG), any other failure in the child a
    generic DocumentError(UNREADABLE): never a traceback.
    """
    # Not fork: the server is multi-threaded, and a forked child can inherit a lock held
    # by another thread. The forkserver starts children from a clean, single-threaded
    # process that has already imported the parsers, so each start costs milliseconds.
    context = multiprocessing.get_context(_START_METHOD)
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(
        target=_child_main,
        args=(sender, data, file_type, max_pages, max_chars, memory_limit_bytes, timeout_s),
        name="companin-parse",
        daemon=True,
    )
    try:
        child.start()
        sender.close()  # the child holds its own end; EOF then means the child is gone
        if not receiver.poll(timeout_s):
            raise DocumentError(TOO_SLOW)
        status, detail = receiver.recv()
    except EOFError:
        # The child died without a word: killed by the kernel or crashed in C code.
        status, detail = "failed", "crashed"
    finally:
        receiver.close()
        if child.is_alive():
            child.kill()
        child.join(5)
        if child.exitcode is not None:
            child.close()
    if status == "ok":
        return detail
    if status == "refused":
        raise detail  # the parser's own DocumentError, with its message for the user
    log.warning("parsing a %s file failed in the child process: %s", file_type, detail)
    raise DocumentError(TOO_BIG if detail == "memory" else UNREADABLE)


def _child_main(
    sender: Connection,
    data: bytes,
    file_type: str,
    max_pages: int,
    max_chars: int,
    memory_limit_bytes: int,
    timeout_s: float,
) -> None:
    """Runs in the child: limit resources, parse, send back the outcome."""
    _limit_resources(memory_limit_bytes, timeout_s)
    # Library warnings would only reach the server's stderr; the outcome says what matters.
    logging.disable(logging.CRITICAL)
    warnings.simplefilter("ignore")
    outcome: tuple[str, object]
    try:
        outcome = ("ok", parse(data, file_type, max_pages=max_pages, max_chars=max_chars))
    except DocumentError as error:
        outcome = ("refused", error)
    except MemoryError:
        outcome = ("failed", "memory")
    except Exception as error:  # noqa: BLE001 - any failure of a parser on a hostile file
        outcome = ("failed", type(error).__name__)
    del data
    try:
        sender.send(outcome)
    except MemoryError:
        sender.send(("failed", "memory"))
    finally:
        sender.close()


def _limit_resources(memory_limit_bytes: int, timeout_s: float) -> None:
    try:
        import resource
    except ImportError:  # not a Unix: the deadline still applies
        return
    memory = _address_space_bytes() + memory_limit_bytes
    # A second deadline, in CPU seconds, in case the parent is gone and cannot kill us.
    cpu_seconds = int(timeout_s) + 5
    for which, soft in ((resource.RLIMIT_AS, memory), (resource.RLIMIT_CPU, cpu_seconds)):
        _, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            soft = min(soft, hard)
        try:
            resource.setrlimit(which, (soft, hard))
        except (ValueError, OSError):
            log.warning("could not limit the parser's resources (%s)", which)


def _address_space_bytes() -> int:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0
