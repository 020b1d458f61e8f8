"""Cut a parsed document into passages that follow its structure.

- A chunk never spans two sections: never two pages of a PDF, never two headings.
- Inside a section, whole paragraphs are packed together up to `max_words`.
- A paragraph too long for one chunk is cut between sentences; a sentence too long for
  one chunk (a table flattened to one line, a run-on list) is cut between words.
- Consecutive chunks of the same section share up to `overlap_words` words: the last
  sentences of one start the next, so an answer that straddles a cut is still found whole.
- The section's heading (the path of headings above it, "Billing > Refunds") starts the
  chunk's text as its first line, and is kept in `Chunk.heading` too. In the text because
  a passage read alone often only makes sense under its heading ("You have 30 days" says
  nothing about refunds), and both the vector index and BM25 see the text, not the
  metadata; in `Chunk.heading` so a citation can show it. Its words count towards
  `max_words`, which keeps every chunk inside the embedder's window.

"Words" are weighted to track the embedder's tokens: a long word (a URL, a part number)
counts once per 15 characters, and each CJK character counts as a word, since those
scripts are written without spaces. 160 such words stay under MiniLM's 256 tokens for
ordinary prose. The result is deterministic: the same document always gives the same
chunks, which lets a re-index compare them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from .documents import Chunk, ParsedDocument

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_TOKEN = re.compile(rf"[{_CJK}]|[^\s{_CJK}]+")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t\r\f\v]*\n")
# Where a sentence may end: terminal punctuation, closing quotes or brackets, then space
# (no space is needed after the full-width CJK marks).
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’»)\]]*\s+|[。！？]+[\"'”’」』)]*\s*")
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof st vs etc e.g i.e eg ie no fig approx incl dept inc ltd co jr sr".split()
)
_LONG_WORD_CHARS = 15


@dataclass
class _Piece:
    """A sentence, or a run of words cut from a sentence too long for a chunk."""

    start: int
    end: int
    words: int
    is_run: bool = False


@dataclass
class _Paragraph:
    text: str
    pieces: list[_Piece]

    @property
    def words(self) -> int:
        return sum(piece.words for piece in self.pieces)


def chunk_document(
    doc: ParsedDocument, *, max_words: int = 160, overlap_words: int = 30
) -> list[Chunk]:
    """Split `doc` into chunks numbered 0..n-1, each carrying its section's page and heading.

    No chunk is empty; a section with no text gives no chunk.
    """
    if max_words < 20 or not 0 <= overlap_words <= max_words // 2:
        raise ValueError("need max_words >= 20 and 0 <= overlap_words <= max_words / 2")
    chunks: list[Chunk] = []
    for section in doc.sections:
        heading = " ".join(section.heading.split()) if section.heading else None
        prefix = _heading_prefix(heading, max_words)
        budget = max_words - count_words(prefix)
        for body in _section_bodies(section.text, budget, min(overlap_words, budget // 2)):
            text = f"{prefix}\n{body}" if prefix else body
            chunks.append(Chunk(text=text, ordinal=len(chunks), page=section.page, heading=heading))
    return chunks


def count_words(text: str) -> int:
    """The weighted word count used for `max_words` (see the module's docstring)."""
    return sum(_token_weight(match.group()) for match in _TOKEN.finditer(text))


def _token_weight(token: str) -> int:
    return 1 + (len(token) - 1) // _LONG_WORD_CHARS


def _heading_prefix(heading: str | None, max_words: int) -> str:
    """The heading line, shortened from the left to a quarter of the budget if need be."""
    if not heading:
        return ""
    limit = max_words // 4
    if count_words(heading) <= limit:
        return heading
    # Keep the end: the nearest heading says most about the text below it.
    tokens = list(_TOKEN.finditer(heading))
    kept, total = len(tokens), 0
    while kept > 0 and total + _token_weight(tokens[kept - 1].group()) <= limit - 1:
        kept -= 1
        total += _token_weight(tokens[kept].group())
    return "… " + heading[tokens[kept].start() :] if kept < len(tokens) else ""


def _section_bodies(text: str, budget: int, overlap: int) -> list[str]:
    packer = _Packer(budget, overlap)
    for raw in _PARAGRAPH_BREAK.split(text):
        paragraph = " ".join(raw.split())
        if paragraph:
            packer.add(_Paragraph(paragraph, _pieces(paragraph, budget - overlap)))
    return packer.finish()


class _Packer:
    """Fills chunks with paragraphs (whole when they fit), carrying the overlap along."""

    def __init__(self, budget: int, overlap: int) -> None:
        self.budget = budget
        self.overlap = overlap
        self.done: list[str] = []
        self.parts: list[tuple[_Paragraph, list[_Piece]]] = []  # the open chunk
        self.size = 0  # words in the open chunk
        self.fresh = 0  # of which not carried over from the previous chunk

    def add(self, paragraph: _Paragraph) -> None:
        if self.size + paragraph.words <= self.budget:
            self._append(paragraph, paragraph.pieces)
            return
        self._close()
        if paragraph.words <= self.budget:
            if self.size + paragraph.words > self.budget:
                self._drop_carry()  # a whole paragraph matters more than the overlap
            self._append(paragraph, paragraph.pieces)
            return
        # Too long for any chunk: cut it between its pieces.
        for piece in paragraph.pieces:
            if self.size + piece.words > self.budget:
                self._close()
                if self.size + piece.words > self.budget:
                    self._drop_carry()
            self._append(paragraph, [piece])

    def finish(self) -> list[str]:
        self._close()
        return self.done

    def _append(self, paragraph: _Paragraph, pieces: list[_Piece]) -> None:
        # Pieces of the paragraph already open (the carried tail) continue it: one slice.
        if not self.parts or self.parts[-1][0] is not paragraph:
            self.parts.append((paragraph, []))
        self.parts[-1][1].extend(pieces)
        words = sum(piece.words for piece in pieces)
        self.size += words
        self.fresh += words

    def _close(self) -> None:
        """End the open chunk (if it holds anything new) and carry its tail into the next."""
        if not self.fresh:
            return
        self.done.append("\n\n".join(_render(para, pieces) for para, pieces in self.parts))
        paragraph, pieces = self.parts[-1]
        tail = _tail(paragraph, pieces, self.overlap)
        self.parts = [(paragraph, tail)] if tail else []
        self.size = sum(piece.words for piece in tail)
        self.fresh = 0

    def _drop_carry(self) -> None:
        self.parts, self.size, self.fresh = [], 0, 0


def _render(paragraph: _Paragraph, pieces: list[_Piece]) -> str:
    return paragraph.text[pieces[0].start : pieces[-1].end].strip()


def _tail(paragraph: _Paragraph, pieces: list[_Piece], overlap: int) -> list[_Piece]:
    """The last whole sentences of a chunk, up to `overlap` words."""
    tail: list[_Piece] = []
    total = 0
    for piece in reversed(pieces):
        if total + piece.words > overlap:
            break
        tail.insert(0, piece)
        total += piece.words
    if not tail and pieces and pieces[-1].is_run and overlap:
        # Cut between words already: repeat the last words, mid-sentence as it is.
        return [_last_words(paragraph.text, pieces[-1], overlap)]
    return tail


def _last_words(text: str, piece: _Piece, count: int) -> _Piece:
    atoms = list(_atoms(text, piece.start, piece.end, count))
    start, total = len(atoms), 0
    while start > 0 and total + _token_weight(text[slice(*atoms[start - 1])]) <= count:
        start -= 1
        total += _token_weight(text[slice(*atoms[start])])
    return _Piece(atoms[start][0], piece.end, total, is_run=True)


def _pieces(paragraph: str, max_piece: int) -> list[_Piece]:
    """The sentences of a paragraph; a sentence over `max_piece` words becomes word runs."""
    pieces: list[_Piece] = []
    for start, end in _sentence_spans(paragraph):
        words = count_words(paragraph[start:end])
        if words <= max_piece:
            pieces.append(_Piece(start, end, words))
        else:
            pieces.extend(_word_runs(paragraph, start, end, max_piece))
    return pieces


def _sentence_spans(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        end = match.end()
        if end >= len(text) or not _is_sentence_break(text, match):
            continue
        spans.append((start, match.start() + len(match.group().rstrip())))
        start = end
    spans.append((start, len(text)))
    return [(s, e) for s, e in spans if text[s:e].strip()]


def _is_sentence_break(text: str, match: re.Match[str]) -> bool:
    if match.group()[0] in "。！？":
        return True
    following = text[match.end()]
    if following.islower():  # "e.g. the", "approx. five": not the end of a sentence
        return False
    word_start = max(text.rfind(" ", 0, match.start()), 0)
    before = text[word_start : match.start() + 1].strip().lower().rstrip(".")
    return before not in _ABBREVIATIONS and not (len(before) == 1 and before.isalpha())


def _word_runs(text: str, start: int, end: int, max_piece: int) -> list[_Piece]:
    """Cut text[start:end] between words into runs of at most `max_piece` words."""
    runs: list[_Piece] = []
    run_start, run_end, words = None, start, 0
    for token_start, token_end in _atoms(text, start, end, max_piece):
        weight = _token_weight(text[token_start:token_end])
        if run_start is not None and words + weight > max_piece:
            runs.append(_Piece(run_start, run_end, words, is_run=True))
            run_start, words = None, 0
        if run_start is None:
            run_start = token_start
        run_end, words = token_end, words + weight
    if run_start is not None:
        runs.append(_Piece(run_start, run_end, words, is_run=True))
    return runs


def _atoms(text: str, start: int, end: int, max_piece: int) -> Iterator[tuple[int, int]]:
    """The words of text[start:end]; a word longer than a whole chunk (base64, a hash
    list without spaces) is cut into slices that fit."""
    longest = max_piece * _LONG_WORD_CHARS
    for match in _TOKEN.finditer(text, start, end):
        for offset in range(match.start(), match.end(), longest):
            yield offset, min(offset + longest, match.end())
