"""Keyword search on PostgreSQL: a `tsvector` per chunk in a table of its own, a GIN
index, and `ts_rank`.

The chunk's text weighs more than its title (weights A and B), as in FTS5's BM25 here;
the English configuration stems as FTS5's porter tokenizer does. The query is reduced to
its words (`words.query_words`) and OR-ed by `websearch_to_tsquery`, so no user input is
tsquery syntax. Deleting a chunk deletes its row (a foreign key that cascades).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

from ..db import db
from .words import query_words

TABLE = "knowledge_chunk_search"
CONFIG = "english"
DOCUMENT = (
    f"setweight(to_tsvector('{CONFIG}', %s), 'A') || setweight(to_tsvector('{CONFIG}', %s), 'B')"
)
CREATE_SQL = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} ("
    " chunk_id integer PRIMARY KEY REFERENCES knowledge_chunk (id) ON DELETE CASCADE,"
    " organization_id uuid NOT NULL,"
    " document tsvector NOT NULL)",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_document ON {TABLE} USING GIN (document)",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_organization ON {TABLE} (organization_id)",
)


def _tsquery_text(query: str) -> str | None:
    """The words of `query`, OR-ed in websearch_to_tsquery's syntax; None if none."""
    return " or ".join(query_words(query)) or None


class PostgresSearch:
    name = "PostgreSQL full-text search (tsvector, GIN, ts_rank)"

    def create(self) -> None:
        for statement in CREATE_SQL:
            db.execute_sql(statement)

    def add(self, org_id: uuid.UUID, rows: Iterable[tuple[int, str, str | None]]) -> None:
        values = [(chunk_id, org_id, text, title or "") for chunk_id, text, title in rows]
        if not values:
            return
        db.execute_sql("SELECT 1")  # opens the connection if needed
        with db.connection().cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {TABLE} (chunk_id, organization_id, document) "
                f"VALUES (%s, %s, {DOCUMENT})",
                values,
            )

    def remove(self, chunk_ids: Sequence[int]) -> None:
        if chunk_ids:
            db.execute_sql(f"DELETE FROM {TABLE} WHERE chunk_id = ANY(%s)", (list(chunk_ids),))

    def search(self, org_id: uuid.UUID, query: str, limit: int) -> list[tuple[int, float]]:
        text = _tsquery_text(query)
        if text is None:
            return []
        cursor = db.execute_sql(
            f"SELECT chunk_id, ts_rank(document, q) AS rank "
            f"FROM {TABLE}, websearch_to_tsquery('{CONFIG}', %s) AS q "
            f"WHERE organization_id = %s AND document @@ q "
            f"ORDER BY rank DESC, chunk_id LIMIT %s",
            (text, org_id, limit),
        )
        return [(chunk_id, float(rank)) for chunk_id, rank in cursor.fetchall()]

    def full_match_score(self, query: str) -> float:
        """The rank of a passage holding each word of `query` once, in its text: the scale
        a chunk's rank is read against (ts_rank has no IDF, so this is what "matches the
        whole question" scores)."""
        text = _tsquery_text(query)
        if text is None:
            return 0.0
        (score,) = db.execute_sql(
            f"SELECT ts_rank(setweight(to_tsvector('{CONFIG}', %s), 'A'), "
            f"websearch_to_tsquery('{CONFIG}', %s))",
            (" ".join(query_words(query)), text),
        ).fetchone()
        return float(score)
