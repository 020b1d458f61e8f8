"""Keyword search on PostgreSQL: a `tsvector` per chunk in a table of its own, a GIN
index, and BM25 computed over it as FTS5's bm25() computes it on SQLite.

PostgreSQL's own ts_rank has no IDF and no length normalisation: a common word found often
in a long passage outranked the one rare word that named the answer (nDCG@10 of keyword
search 0.14 below SQLite's on the FAQ of bench/retrieval_quality.py). So each query word
is scored as FTS5 scores it (k1 = 1.2, b = 0.75): its IDF over the whole table, floored as
FTS5 floors it; its count in the chunk, read from the tsvector's positions, the title's
counting half (weight B, as FTS5's column weights here); and the chunk's length in tokens
(`token_count`, counted at insert as FTS5 counts them) against the average.

The English configuration stems as FTS5's porter tokenizer does. The query is reduced to
its words (`words.query_words`) and those to lexemes by to_tsvector, so no user input is
tsquery syntax. Deleting a chunk deletes its row (a foreign key that cascades).
"""

from __future__ import annotations

import re
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
    " document tsvector NOT NULL,"
    " token_count integer NOT NULL DEFAULT 0)",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_document ON {TABLE} USING GIN (document)",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_organization ON {TABLE} (organization_id)",
)
# Schema version 5 on a table made before BM25: the column, and each row's count (its
# last position, stopwords counted, as the tokenizer counts them at insert).
ADD_TOKEN_COUNTS_SQL = (
    f"ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS token_count integer NOT NULL DEFAULT 0",
    f"UPDATE {TABLE} SET token_count = (SELECT coalesce(max(p), 0) FROM unnest(document) AS u,"
    " unnest(u.positions) AS p) WHERE token_count = 0",
)
# FTS5's unicode61 tokenizer: runs of letters and digits.
_TOKEN = re.compile(r"\w+", re.UNICODE)

# The query's lexemes, each with its IDF over the whole table (as FTS5's is), and the
# table's average length: what both a search and the full-match score start from.
WEIGHTED_TERMS = (
    "WITH total AS ("
    f" SELECT count(*)::float8 AS n, greatest(avg(token_count), 1)::float8 AS avgdl"
    f" FROM {TABLE}),"
    " term AS ("
    f" SELECT DISTINCT lexeme, quote_literal(lexeme)::tsquery AS q"
    f" FROM unnest(to_tsvector('{CONFIG}', %(words)s))),"
    " weighted AS ("
    " SELECT term.lexeme, term.q,"
    " greatest(1e-6, ln((total.n - hits.n + 0.5) / (hits.n + 0.5))) AS idf"
    " FROM term CROSS JOIN total"
    f" CROSS JOIN LATERAL (SELECT count(*) AS n FROM {TABLE} WHERE document @@ term.q) AS hits)"
)
# Each matching chunk's BM25: per word, its count in the text plus half its count in the
# title, saturated by k1 and normalised by the chunk's length.
SEARCH_SQL = (
    f"{WEIGHTED_TERMS}, matched AS ("
    " SELECT s.chunk_id, s.token_count, w.idf,"
    " (SELECT count(*) FILTER (WHERE label = 'A') + 0.5 * count(*) FILTER (WHERE label = 'B')"
    " FROM unnest(d.weights) AS label) AS tf"
    f" FROM {TABLE} AS s JOIN weighted AS w ON s.document @@ w.q"
    " CROSS JOIN LATERAL unnest(s.document) AS d"
    " WHERE s.organization_id = %(org)s AND d.lexeme = w.lexeme)"
    " SELECT chunk_id,"
    " sum(idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * token_count / total.avgdl))) AS rank"
    " FROM matched CROSS JOIN total"
    " GROUP BY chunk_id ORDER BY rank DESC, chunk_id LIMIT %(limit)s"
)


class PostgresSearch:
    name = "PostgreSQL full-text search (tsvector, GIN, BM25)"

    def create(self) -> None:
        for statement in CREATE_SQL:
            db.execute_sql(statement)

    def add(self, org_id: uuid.UUID, rows: Iterable[tuple[int, str, str | None]]) -> None:
        values = [
            (chunk_id, org_id, text, title or "", _token_count(text, title))
            for chunk_id, text, title in rows
        ]
        if not values:
            return
        db.execute_sql("SELECT 1")  # opens the connection if needed
        with db.connection().cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {TABLE} (chunk_id, organization_id, document, token_count) "
                f"VALUES (%s, %s, {DOCUMENT}, %s)",
                values,
            )

    def remove(self, chunk_ids: Sequence[int]) -> None:
        if chunk_ids:
            db.execute_sql(f"DELETE FROM {TABLE} WHERE chunk_id = ANY(%s)", (list(chunk_ids),))

    def search(self, org_id: uuid.UUID, query: str, limit: int) -> list[tuple[int, float]]:
        words = query_words(query)
        if not words:
            return []
        cursor = db.execute_sql(
            SEARCH_SQL, {"words": " ".join(words), "org": org_id, "limit": limit}
        )
        return [(chunk_id, float(rank)) for chunk_id, rank in cursor.fetchall()]

    def full_match_score(self, query: str) -> float:
        """The sum of the query words' IDFs: what BM25 gives a passage of average length
        holding each word once, the scale a chunk's rank is read against (as on SQLite)."""
        words = query_words(query)
        if not words:
            return 0.0
        (score,) = db.execute_sql(
            f"{WEIGHTED_TERMS} SELECT coalesce(sum(idf), 0) FROM weighted",
            {"words": " ".join(words)},
        ).fetchone()
        return float(score)


def _token_count(text: str, title: str | None) -> int:
    """The chunk's length as FTS5 counts it: the tokens of its text and title."""
    return len(_TOKEN.findall(text)) + len(_TOKEN.findall(title or ""))
