"""What parsers produce and chunking consumes."""

from __future__ import annotations

from dataclasses import dataclass, field


class DocumentError(Exception):
    """A document that cannot be used. The message is shown to the user as the source's error."""


class UnsupportedFile(DocumentError):
    """The bytes are not a type we read (or not the type the user claimed)."""


@dataclass
class Section:
    """A run of text with its place: the page of a PDF, the heading it sits under."""

    text: str
    page: int | None = None
    heading: str | None = None


@dataclass
class ParsedDocument:
    title: str | None
    sections: list[Section] = field(default_factory=list)


@dataclass
class Chunk:
    """A passage to index: small enough for the embedder (256 tokens), with its place."""

    text: str
    ordinal: int
    page: int | None = None
    heading: str | None = None
