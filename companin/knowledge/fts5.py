"""Keyword search on SQLite: an FTS5 table with BM25, over the chunks' text and title.

The FTS table's rowid is the chunk's id. Porter stemming lets "refunds" find "refund";
the query is reduced to its words (`fulltext.query_words`), so no user input is FTS syntax.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Sequence

from ..db import db
from .words import query_words

TABLE = "knowledge_chunk_fts"

# `org` holds one token per row, the organization's: the MATCH itself keeps a search inside
# its organization, instead of a join checking every matching row afterwards.
CREATE_SQL = (
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {TABLE} USING fts5("
    "text, title, org, tokenize = 'porter unicode61 remove_diacritics 2')"
)


def _org_token(org_id: uuid.UUID) -> str:
    return "o" + org_id.hex


def _match_expression(query: str) -> str | None:
    """`query` as an FTS5 expression: its distinct words, quoted, OR-ed; None if none."""
    return " OR ".join(f'"{word}"' for word in query_words(query)) or None


class Fts5Search:
    name = "SQLite FTS5 (BM25)"

    def create(self) -> None:
        db.execute_sql(CREATE_SQL)

    def add(self, org_id: uuid.UUID, rows: Iterable[tuple[int, str, str | None]]) -> None:
        token = _org_token(org_id)
        db.execute_sql("SELECT 1")  # opens the connection if needed
        db.connection().executemany(
            f"INSERT INTO {TABLE}(rowid, text, title, org) VALUES (?, ?, ?, ?)",
            [(chunk_id, text, title or "", token) for chunk_id, text, title in rows],
        )

    def remove(self, chunk_ids: Sequence[int]) -> None:
        for start in range(0, len(chunk_ids), 500):
            part = chunk_ids[start : start + 500]
            marks = ",".join("?" * len(part))
            db.execute_sql(f"DELETE FROM {TABLE} WHERE rowid IN ({marks})", part)

    def search(self, org_id: uuid.UUID, query: str, limit: int) -> list[tuple[int, float]]:
        expression = _match_expression(query)
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

    def full_match_score(self, query: str) -> float:
        """The sum of the query words' IDFs, counted the way bm25() counts them (over the
        whole table, in the text and title columns). A word no passage holds (a typo, a
        foreign name) counts at full weight: nothing can match it, so keyword matching
        explains less of the query. One SQL statement: a count per word."""
        words = query_words(query)
        if not words:
            return 0.0
        counts = ", ".join(f"(SELECT count(*) FROM {TABLE} WHERE {TABLE} MATCH ?)" for _ in words)
        rows, *hits = db.execute_sql(
            f"SELECT (SELECT count(*) FROM {TABLE}_docsize), {counts}",
            [f'{{text title}} : "{word}"' for word in words],
        ).fetchone()
        # FTS5's IDF, floored as bm25() floors it.
        return sum(max(1e-6, math.log((rows - n + 0.5) / (n + 0.5))) for n in hits)
