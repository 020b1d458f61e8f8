"""The built-in responder: answers from the knowledge alone, with no model to call.

What `make run` uses until a model is configured, and what a team without a provider
keeps. It does not write: it picks.

- A Q&A pair that ranks first and is close enough to answer from gives its answer, whole,
  as the team wrote it.
- Otherwise the sentences of the best passages that answer the question: each sentence is
  scored against the question with the embedder, the best few are kept, in the order the
  document has them, under the title of the source they come from.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

# How many passages the sentences come from, and how many sentences at most.
MAX_PASSAGES = 3
MAX_SENTENCES = 3
# A sentence is kept when it is nearly as close to the question as the best one.
SENTENCE_MARGIN = 0.12
_MIN_SENTENCE_CHARS = 12
_HEADING_WORDS = 8

# Sentence ends, and line breaks (list items and steps are sentences of their own).
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])|\n+")


@dataclass(frozen=True)
class Candidate:
    """A retrieved passage as the responder sees it."""

    type: str  # qa | file | url
    title: str | None
    text: str
    relevant: bool  # close enough to the question to answer from


@dataclass(frozen=True)
class OfflineReply:
    text: str
    used: list[int]  # indexes of the candidates the reply quotes


def qa_answer(candidate: Candidate) -> str:
    """A Q&A chunk is its question, a line break, then its answer."""
    return candidate.text.partition("\n")[2].strip() or candidate.text


def reply(
    question: str,
    candidates: Sequence[Candidate],
    embed: Callable[[Sequence[str]], np.ndarray],
) -> OfflineReply | None:
    """The reply to `question` from `candidates` (best first), or None if none helps."""
    if not candidates:
        return None
    best = candidates[0]
    if best.type == "qa" and best.relevant:
        return OfflineReply(qa_answer(best), [0])
    pool = [(i, c) for i, c in enumerate(candidates[:MAX_PASSAGES]) if c.relevant]
    sentences = [
        (index, position, sentence)
        for index, candidate in pool
        for position, sentence in enumerate(split_sentences(_body(candidate)))
    ]
    if not sentences:  # no relevant passage says anything in full sentences
        return None
    vectors = embed([question, *(sentence for _, _, sentence in sentences)])
    scores = vectors[1:] @ vectors[0]
    order = np.argsort(-scores, kind="stable")
    floor = scores[order[0]] - SENTENCE_MARGIN
    chosen = sorted(
        (sentences[i][0], sentences[i][1], sentences[i][2])
        for i in order[:MAX_SENTENCES]
        if scores[i] >= floor
    )
    by_passage: dict[int, list[str]] = {}
    for index, _, sentence in chosen:
        by_passage.setdefault(index, []).append(sentence)
    # Passages in their rank order, each introduced by its title (a Q&A pair's title is its
    # question: its answer speaks for itself).
    parts = []
    for index in sorted(by_passage):
        candidate = candidates[index]
        body = " ".join(by_passage[index])
        introduce = candidate.title and candidate.type != "qa"
        parts.append(f"From {candidate.title}: {body}" if introduce else body)
    return OfflineReply("\n\n".join(parts), sorted(by_passage))


def _body(candidate: Candidate) -> str:
    return qa_answer(candidate) if candidate.type == "qa" else candidate.text


def split_sentences(text: str) -> list[str]:
    """The sentences and list lines of `text`, each stripped. Headings (a short line without
    a full stop) and fragments too short to say anything are left out: they name a topic,
    they do not answer."""
    pieces = (piece.strip(" \t-*•") for piece in _SENTENCE_END.split(text))
    return [piece for piece in pieces if len(piece) >= _MIN_SENTENCE_CHARS and not _heading(piece)]


def _heading(line: str) -> bool:
    return len(line.split()) <= _HEADING_WORDS and not line.endswith((".", "!", "?", ":", ";"))
