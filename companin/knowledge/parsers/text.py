"""Plain text and Markdown.

Markdown is split at its headings and its syntax stripped lightly: links keep their text,
emphasis and code marks go, code and lists stay readable. The patterns are bounded so a
hostile file cannot make them backtrack for minutes.
"""

from __future__ import annotations

import re

from ..documents import ParsedDocument
from .common import SectionBuilder, TextBudget

_ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT_RULE = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_THEMATIC_BREAK = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_TABLE_RULE = re.compile(r"^[ \t]*\|?[ \t]*:?-{3,}:?[ \t]*(?:\|[ \t]*:?-{3,}:?[ \t]*)*\|?[ \t]*$")
_LINK_DEFINITION = re.compile(r"^ {0,3}\[[^\]\n]{1,500}\]:[ \t]*\S")
_LIST_ITEM = re.compile(r"^[ \t]*(?:[-*+]|\d{1,9}[.)])[ \t]+")
_BULLET = re.compile(r"^([ \t]*)[*+]([ \t]+)")
_BLOCKQUOTE = re.compile(r"^(?: {0,3}>[ \t]?)+")
_FRONT_MATTER_TITLE = re.compile(r"^title:[ \t]*['\"]?(.*?)['\"]?[ \t]*$", re.MULTILINE)

# (pattern, replacement) applied in order to all the prose of a file at once (never to
# code blocks); no pattern crosses a line end and every repeat is bounded.
_INLINE = [
    (re.compile(r"<!--.*?-->"), ""),
    (re.compile(r"!\[([^\]\n]{0,500})\]\([^)\n]{0,2000}\)"), r"\1"),
    (re.compile(r"\[([^\]\n]{1,500})\]\([^)\n]{0,2000}\)"), r"\1"),
    (re.compile(r"\[([^\]\n]{1,500})\]\[[^\]\n]{0,500}\]"), r"\1"),
    (re.compile(r"<(https?://[^>\s]{1,2000})>"), r"\1"),
    (re.compile(r"</?[a-zA-Z][^>\n]{0,500}>"), ""),
    (re.compile(r"`{1,3}([^`\n]{1,2000})`{1,3}"), r"\1"),
    (re.compile(r"(?<![\w*\\])\*(?![\s*])([^*\n]{1,300}?)(?<![\s\\])\*(?![\w*])"), r"\1"),
    (re.compile(r"(?<![\w\\])_(?![\s_])([^_\n]{1,300}?)(?<![\s\\])_(?!\w)"), r"\1"),
    (re.compile(r"\*\*([^*\n]{1,300}?)\*\*"), r"\1"),
    (re.compile(r"__([^_\n]{1,300}?)__"), r"\1"),
    (re.compile(r"~~([^~\n]{1,300}?)~~"), r"\1"),
    (re.compile(r"\\([\\`*_{}\[\]()!~])"), r"\1"),
]
# Escapes that stop a line from being a heading, list or quote: undone once the line's
# role is known.
_BLOCK_ESCAPE = re.compile(r"\\([#+\-.|>])")


def parse_text(text: str, *, max_chars: int) -> ParsedDocument:
    """Plain text: one section whose paragraphs are separated by blank lines."""
    builder = SectionBuilder(TextBudget(max_chars))
    for line in text.splitlines():
        if builder.full:
            break
        if line.strip():
            builder.add_text(line + "\n")
        else:
            builder.end_paragraph()
    return ParsedDocument(title=None, sections=builder.finish())


def parse_markdown(text: str, *, max_chars: int) -> ParsedDocument:
    """Markdown: a section per heading (ATX "#" and setext underlines), syntax stripped."""
    title, lines = _front_matter(text.splitlines())
    lines = _strip_inline_outside_code(lines)
    reader = _MarkdownReader(SectionBuilder(TextBudget(max_chars)))
    for line in lines:
        if reader.builder.full:
            break
        reader.read(line)
    reader.end_paragraph()
    return ParsedDocument(title=title or reader.first_heading, sections=reader.builder.finish())


class _MarkdownReader:
    """Reads Markdown line by line into a SectionBuilder."""

    def __init__(self, builder: SectionBuilder) -> None:
        self.builder = builder
        self.paragraph: list[str] = []  # raw lines of the open paragraph
        self.fence: str | None = None
        self.first_heading: str | None = None

    def read(self, line: str) -> None:
        if self.fence is not None:  # inside a code block: the code, kept as one paragraph
            if line.strip().startswith(self.fence):
                self.fence = None
                self.builder.end_paragraph()
            else:
                self.builder.add_text(line + "\n")
        elif opening := _FENCE.match(line):
            self.end_paragraph()
            self.fence = opening.group(1)
        elif heading := _ATX_HEADING.match(line):
            self.end_paragraph()
            self.heading(len(heading.group(1)), heading.group(2) or "")
        elif self.paragraph and (rule := _SETEXT_RULE.match(line)):
            # The paragraph just read was a heading, underlined with === or ---.
            text = " ".join(self.paragraph)
            self.paragraph.clear()
            self.heading(1 if rule.group(1)[0] == "=" else 2, text)
        elif not line.strip() or _THEMATIC_BREAK.match(line) or _TABLE_RULE.match(line):
            self.end_paragraph()
        elif not _LINK_DEFINITION.match(line):
            self.add_line(line)

    def add_line(self, line: str) -> None:
        line = _BLOCKQUOTE.sub("", line)
        if _LIST_ITEM.match(line):
            # Each list item is its own paragraph, so chunking never cuts one in half.
            self.end_paragraph()
            line = _BULLET.sub(r"\1-\2", line)
        if line.lstrip().startswith("|"):
            line = line.strip().strip("|")
        self.paragraph.append(line)

    def end_paragraph(self) -> None:
        if self.paragraph:
            self.builder.add_text(_unescape("\n".join(self.paragraph)))
            self.paragraph.clear()
        self.builder.end_paragraph()

    def heading(self, level: int, text: str) -> None:
        text = _unescape(text)
        self.builder.heading(level, text)
        if level == 1 and self.first_heading is None:
            self.first_heading = " ".join(text.split())[:300] or None


def _strip_inline_outside_code(lines: list[str]) -> list[str]:
    """The lines with inline syntax stripped, except inside fenced code blocks.

    The prose between code blocks is stripped in one go: applying the patterns line by
    line made a file of a million one-character lines take minutes.
    """
    out: list[str] = []
    prose: list[str] = []
    fence: str | None = None
    for line in lines:
        if fence is None and (opening := _FENCE.match(line)):
            out.extend(_strip_inline("\n".join(prose)).split("\n") if prose else [])
            prose.clear()
            fence = opening.group(1)
            out.append(line)
        elif fence is None:
            prose.append(line)
        else:
            out.append(line)
            if line.strip().startswith(fence):
                fence = None
    if prose:
        out.extend(_strip_inline("\n".join(prose)).split("\n"))
    return out


def _strip_inline(text: str) -> str:
    for pattern, replacement in _INLINE:
        text = pattern.sub(replacement, text)
    return text


def _unescape(text: str) -> str:
    return _BLOCK_ESCAPE.sub(r"\1", text) if "\\" in text else text


def _front_matter(lines: list[str]) -> tuple[str | None, list[str]]:
    """Drop a leading YAML front-matter block, keeping its `title:` if it has one."""
    if not lines or lines[0].strip() != "---":
        return None, lines
    for index, line in enumerate(lines[1:200], start=1):
        if line.strip() in ("---", "..."):
            match = _FRONT_MATTER_TITLE.search("\n".join(lines[1:index]))
            title = match.group(1).strip() if match else None
            return title or None, lines[index + 1 :]
    return None, lines
