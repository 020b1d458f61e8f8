"""Keyword search: one interface, an implementation per database engine.

SQLite uses FTS5 with BM25 (`fts5.py`); PostgreSQL its own full-text search, a tsvector
with a GIN index, ranked by BM25 computed the same way (`pg_search.py`). The one for the
database the app is bound to is used; both are scoped to an organization and score
higher-is-better, and `full_match_score` gives the score of a passage matching the whole
question, against which retrieval reads a chunk's score (see retrieval.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Protocol

from peewee import PostgresqlDatabase

from ..db import db
from .fts5 import Fts5Search
from .pg_search import PostgresSearch


class KeywordSearch(Protocol):
    name: str

    def create(self) -> None:
        """Create what it needs in the database (safe to repeat)."""

    def add(self, org_id: uuid.UUID, rows: Iterable[tuple[int, str, str | None]]) -> None:
        """Index the organization's (chunk id, text, title) rows."""

    def remove(self, chunk_ids: Sequence[int]) -> None: ...

    def search(self, org_id: uuid.UUID, query: str, limit: int) -> list[tuple[int, float]]:
        """The organization's best chunks for `query`: (chunk id, score), best first."""

    def full_match_score(self, query: str) -> float:
        """The score of a passage holding every word of `query`; 0.0 if it has none."""


_FTS5 = Fts5Search()
_POSTGRES = PostgresSearch()


def engine() -> KeywordSearch:
    """The keyword search of the database the app is bound to."""
    return _POSTGRES if isinstance(db.obj, PostgresqlDatabase) else _FTS5


def create() -> None:
    engine().create()


def add(org_id: uuid.UUID, rows: Iterable[tuple[int, str, str | None]]) -> None:
    engine().add(org_id, rows)


def remove(chunk_ids: Sequence[int]) -> None:
    engine().remove(chunk_ids)


def search(org_id: uuid.UUID, query: str, limit: int) -> list[tuple[int, float]]:
    return engine().search(org_id, query, limit)


def full_match_score(query: str) -> float:
    return engine().full_match_score(query)
