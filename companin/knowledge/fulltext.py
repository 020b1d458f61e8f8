"""Keyword search: SQLite FTS5 with BM25, over the chunks' text and title.

The FTS table's rowid is the chunk's id. Porter stemming lets "refunds" find
"refund"; the query is reduced to its words, so no user input is FTS syntax.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Iterable, Sequence

from ..db import db

TABLE = "knowledge_chunk_fts"

# `org` holds one token per row, the organization's: the MATCH itself keeps a search inside
# its organization, instead of a join checking every matching row afterwards.
CREATE_SQL = (
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {TABLE} USING fts5("
    "text, title, org, tokenize = 'porter unicode61 remove_diacritics 2')"
)

# Words so common that matching them says nothing (BM25 would weigh them low anyway,
# but leaving them out keeps long chatty questions fast).
STOPWORDS = frozenset(
    """a about above after again all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into
    is it its itself just me more most my myself no nor not now of off on once only or
    other our ours ourselves out over own same she should so some such than that the their
    theirs them themselves then there these they this those through to too under until up
    very was we were what when where which while who whom why will with would you your
    yours yourself yourselves hi hello please thanks thank""".split()
)

_WORD = re.compile(r"\w+", re.UNICODE)


def query_words(query: str) -> list[str]:
    """The distinct words of `query` that a search looks for (at most 64), quoted."""
    words = [w for w in dict.fromkeys(_WORD.findall(query.lower())) if w not in STOPWORDS]
    return [f'"{word}"' for word in words[:64]]


def match_expression(query: str) -> str | None:
    """`query` as an FTS5 expression: its distinct words, quoted, OR-ed; None if none."""
    return " OR ".join(query_words(query)) or None


def _org_token(org_id: uuid.UUID) -> str:
    return "o" + org_id.hex


def add(org_id: uuid.UUID, rows: Iterable[tuple[int, str, str | None]]) -> None:
    """Index the organization's (chunk id, text, title) rows."""
    token = _org_token(org_id)
    db.execute_sql("SELECT 1")  # opens the connection if needed
    db.connection().executemany(
        f"INSERT INTO {TABLE}(rowid, text, title, org) VALUES (?, ?, ?, ?)",
        [(chunk_id, text, title or "", token) for chunk_id, text, title in rows],
    )


def remove(chunk_ids: Sequence[int]) -> None:
    for start in range(0, len(chunk_ids), 500):
        part = chunk_ids[start : start + 500]
        marks = ",".join("?" * len(part))
        db.execute_sql(f"DELETE FROM {TABLE} WHERE rowid IN ({marks})", part)


def search(org_id: uuid.UUID, query: str, limit: int) -> list[tuple[int, float]]:
    """The organization's best chunks for `query`: (chunk id, BM25 score, higher is better)."""
    expression = match_expression(query)
    if expression is None:
        return []
    scoped = f'org : "{_org_token(org_id)}" AND {{text title}} : ({expression})'
    cursor = db.execute_sql(
        f"SELECT rowid, bm25({TABLE}, 1.0, 0.5, 0.0) AS rank FROM {TABLE} "
        f"WHERE {TABLE} MATCH ? ORDER BY rank LIMIT ?",
        (scoped, limit),
    )
    # FTS5's bm25() is negative, lower is better.
    return [(chunk_id, -rank) for chunk_id, rank in cursor.fetchall()]


def full_match_score(query: str) -> float:
    """The BM25 score of a passage of average length holding each word of `query` once:
    the sum of the words' IDFs, counted the way bm25() counts them (over the whole table,
    in the text and title columns). A word no passage holds (a typo, a foreign name) counts
    at full weight: nothing can match it, so keyword matching explains less of the query.

    0.0 if the query has no words to look for. One SQL statement: a count per word."""
    words = query_words(query)
    if not words:
        return 0.0
    counts = ", ".join(f"(SELECT count(*) FROM {TABLE} WHERE {TABLE} MATCH ?)" for _ in words)
    rows, *hits = db.execute_sql(
        f"SELECT (SELECT count(*) FROM {TABLE}_docsize), {counts}",
        [f"{{text title}} : {word}" for word in words],
    ).fetchone()
    # FTS5's IDF, floored as bm25() floors it.
    return sum(max(1e-6, math.log((rows - n + 0.5) / (n + 0.5))) for n in hits)
