"""The database connection: opened per request, configured for safe concurrent SQLite use."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask
from peewee import Database, DatabaseProxy, SqliteDatabase
from playhouse.db_url import connect
from playhouse.pool import PooledDatabase

db = DatabaseProxy()


def database_url(app: Flask) -> str:
    """The configured URL, or the SQLite file in the instance folder."""
    return app.config["DATABASE_URL"] or "sqlite:///" + os.path.join(
        app.instance_path, "companin.db"
    )


def open_database(url: str, busy_timeout_ms: int = 10000) -> Database:
    """Connect lazily to `url`; SQLite gets WAL, a busy timeout and foreign keys."""
    if url.startswith("sqlite"):
        return connect(
            url,
            pragmas={
                # WAL lets readers go on while one writer writes.
                "journal_mode": "wal",
                "busy_timeout": busy_timeout_ms,
                "foreign_keys": 1,
                "synchronous": "normal",
            },
            timeout=busy_timeout_ms / 1000,
        )
    if url.startswith(("postgres://", "postgresql://")):
        # Pooled: a new PostgreSQL connection per request costs a TCP and SCRAM handshake.
        # Each thread holds at most one, so the pool needs no cap; one left idle a minute
        # is closed, and one that a lost server broke is dropped when it is handed back.
        pooled = "postgresql+pool://" + url.split("://", 1)[1]
        return connect(pooled, max_connections=None, stale_timeout=60)
    return connect(url)


def init_app(app: Flask) -> None:
    """Bind the models to this app's database: one connection per request.

    Peewee opens it on the request's first query (so a broken database fails that
    query, where it can be handled, not every request up front) and it is closed
    when the request ends.
    """
    previous = db.obj
    db.initialize(open_database(database_url(app), app.config["DATABASE_BUSY_TIMEOUT_MS"]))
    if isinstance(previous, PooledDatabase):
        # An app made before in this process (tests make many) has no use for its pool now:
        # the models speak to the new database.
        previous.close_all()

    @app.teardown_request
    def _close(_exc: BaseException | None) -> None:
        if not db.is_closed():
            db.close()


@contextmanager
def write_transaction() -> Iterator[None]:
    """A transaction that takes SQLite's write lock up front.

    A deferred transaction that reads first and writes later cannot wait for the lock
    (SQLite answers "database is locked" at once), so writers ask for it at BEGIN.
    """
    if isinstance(db.obj, SqliteDatabase):
        with db.atomic("IMMEDIATE"):
            yield
    else:
        with db.atomic():
            yield
