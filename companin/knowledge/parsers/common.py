"""What every parser shares: the text budget and the builder of heading-bounded sections."""

from __future__ import annotations

from ..documents import Section

# A "heading" longer than this is a styling accident (a whole paragraph set in bold caps).
MAX_HEADING_CHARS = 300


class TextBudget:
    """How much more text a document may yield; past `max_chars` the rest is left out.

    Counted while reading, not after, so a huge file stops early instead of first filling
    memory with text that would be thrown away.
    """

    def __init__(self, max_chars: int) -> None:
        self.left = max_chars

    @property
    def exhausted(self) -> bool:
        return self.left <= 0

    def take(self, text: str) -> str:
        """`text`, cut (at a space if there is one) to what is left of the budget."""
        if len(text) > self.left:
            cut = text[: max(self.left, 0)]
            text = cut.rsplit(None, 1)[0] if " " in cut.strip() else cut
            self.left = 0
        else:
            self.left -= len(text)
        return text


class SectionBuilder:
    """Collects paragraphs under the current heading path ("Guide > Install").

    Parsers feed it text, paragraph ends and headings in reading order; each heading closes
    the section before it, and the heading is stored as the path of headings above it so a
    passage keeps its context ("Billing > Refunds") once it is cut from the document.
    """

    def __init__(self, budget: TextBudget) -> None:
        self.budget = budget
        self.sections: list[Section] = []
        self.path: list[tuple[int, str]] = []
        self.paragraphs: list[str] = []
        self.inline: list[str] = []
        self.inline_chars = 0

    @property
    def full(self) -> bool:
        """True once the text budget is spent: the parser can stop reading."""
        return self.budget.exhausted

    def add_text(self, text: str) -> None:
        """Append inline text to the current paragraph."""
        if self.inline_chars <= self.budget.left:  # beyond that it would be cut anyway
            self.inline.append(text)
            self.inline_chars += len(text)

    def separate(self, separator: str) -> None:
        """Append `separator` unless the paragraph is still empty (table cells: " | ")."""
        if any(part.strip() for part in self.inline):
            self.add_text(separator)

    def end_paragraph(self) -> None:
        """Close the current paragraph (whitespace collapsed); empty ones are dropped."""
        paragraph = self.budget.take(" ".join("".join(self.inline).split()))
        self.discard_paragraph()
        if paragraph:
            self.paragraphs.append(paragraph)

    def discard_paragraph(self) -> None:
        """Forget the open paragraph (it turned out to be a heading)."""
        self.inline.clear()
        self.inline_chars = 0

    def heading(self, level: int, text: str) -> None:
        """Start a section under a heading of `level` (1 = top)."""
        text = " ".join(text.split())[:MAX_HEADING_CHARS]
        if not text:
            return
        self._end_section()
        while self.path and self.path[-1][0] >= level:
            self.path.pop()
        self.path.append((level, text))

    def finish(self) -> list[Section]:
        """The sections collected, the last one closed."""
        self._end_section()
        return self.sections

    def _end_section(self) -> None:
        self.end_paragraph()
        if self.paragraphs:
            heading = " > ".join(text for _, text in self.path) or None
            self.sections.append(Section(text="\n\n".join(self.paragraphs), heading=heading))
            self.paragraphs = []
