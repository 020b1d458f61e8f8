"""Keyword search: SQLite FTS5 with BM25, over the chunks' text and title.

The FTS table's rowid is the chunk's id. Porter stemming lets "refunds" find
"refund"; the query is reduced to its words, so no user input is FTS syntax.
"""

from __future__ import annotations

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


def match_expression(query: str) -> str | None:
    """`query` as an FTS5 expression: its distinct words, quoted, OR-ed; None if none."""
    words = [w for w in dict.fromkeys(_WORD.findall(query.lower())) if w not in STOPWORDS]
    if not words:
        return None
    return " OR ".join(f'"{word}"' for word in words[:64])


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
