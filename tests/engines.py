"""The engines a team scales out onto, as the tests reach them: PostgreSQL, Redis and a
Chroma server, named by COMPANIN_TEST_POSTGRES_URL, COMPANIN_TEST_REDIS_URL and
COMPANIN_TEST_CHROMA_URL (.ci/run starts all three on loopback). A test that needs one is
skipped, saying which, when it is not set."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import pytest

POSTGRES_URL = os.environ.get("COMPANIN_TEST_POSTGRES_URL")
REDIS_URL = os.environ.get("COMPANIN_TEST_REDIS_URL")
CHROMA_URL = os.environ.get("COMPANIN_TEST_CHROMA_URL")

needs_postgres = pytest.mark.skipif(
    not POSTGRES_URL,
    reason="needs a PostgreSQL server: set COMPANIN_TEST_POSTGRES_URL (.ci/run starts one)",
)
needs_redis = pytest.mark.skipif(
    not REDIS_URL, reason="needs a Redis server: set COMPANIN_TEST_REDIS_URL (.ci/run starts one)"
)
needs_chroma = pytest.mark.skipif(
    not CHROMA_URL,
    reason="needs a Chroma server: set COMPANIN_TEST_CHROMA_URL (.ci/run starts `chroma run`)",
)


def create_postgres_database(prefix: str, server_url: str | None = None) -> tuple[str, str]:
    """A new, empty database on the server (the test server by default): its name, URL."""
    import psycopg

    server_url = server_url or POSTGRES_URL
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return name, urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))


def drop_postgres_database(name: str, server_url: str | None = None) -> None:
    """Drop the database, with whatever connections are still open to it."""
    import psycopg

    with psycopg.connect(server_url or POSTGRES_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def fresh_postgres_database(
    server_url: str | None = None, prefix: str = "companin_test"
) -> Iterator[str]:
    """The URL of a new, empty database for the block, dropped afterwards (the benchmarks
    use it too, on a server of their own)."""
    name, url = create_postgres_database(prefix, server_url)
    try:
        yield url
    finally:
        drop_postgres_database(name, server_url)


class Relay:
    """A TCP relay between the app and an engine that a test can cut and restore: the
    engine as the app sees it goes away and comes back, the server itself untouched."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.open: list[socket.socket] = []
        self._serve()

    def _serve(self) -> None:
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            upstream = socket.create_connection(self.target)
            self.open += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        with contextlib.suppress(OSError):  # wakes the accept() of the serving thread
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        for connection in self.open:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()
        self.open.clear()

    def restore(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", self.port))
        self._serve()


# --- the second pass: the whole suite on PostgreSQL, a Chroma server and Redis ------------

SCALED = os.environ.get("COMPANIN_TEST_ENGINES", "embedded") == "scaled"


def embedded_only(reason: str) -> pytest.MarkDecorator:
    """Skip on the scaled pass, saying why the test cannot apply to those engines."""
    return pytest.mark.skipif(SCALED, reason=f"embedded engines only: {reason}")


# For modules that reach no engine at all (parsers, chunking, the embedder...): the scaled
# pass would run them exactly as the first one did.
no_engine_used = embedded_only("reaches no database, vector store or rate limit")

first_pass_only = embedded_only(
    "starts engines of its own, and ran in the first pass (COMPANIN_TEST_*_URL)"
)


class ScaledEngines:
    """One xdist worker's share of the engines on the scaled pass: a database of its own,
    a Redis database number of its own (rate-limit counters), the shared Chroma server
    (every organization has its own collections there). Every app and every `companin`
    process the tests start reads them from the environment; each test starts from empty
    tables and counters, as it starts from an empty instance folder on the first pass."""

    def __init__(self, worker: str) -> None:
        missing = [
            name
            for name, url in (
                ("COMPANIN_TEST_POSTGRES_URL", POSTGRES_URL),
                ("COMPANIN_TEST_REDIS_URL", REDIS_URL),
                ("COMPANIN_TEST_CHROMA_URL", CHROMA_URL),
            )
            if not url
        ]
        if missing:
            raise pytest.UsageError(
                "COMPANIN_TEST_ENGINES=scaled needs the engines: set "
                + ", ".join(missing)
                + " (tools/start-postgres, start-redis and start-chroma print them)"
            )

        number = int(worker.removeprefix("gw") or 0) if worker.startswith("gw") else 0
        self.name, self.database_url = create_postgres_database(f"companin_test_pass_{number}")
        redis = urlsplit(REDIS_URL)
        self.redis_url = urlunsplit(redis._replace(path=f"/{1 + number % 15}"))
        os.environ.update(
            COMPANIN_DATABASE_URL=self.database_url,
            COMPANIN_CHROMA_URL=CHROMA_URL,
            COMPANIN_RATELIMIT_STORAGE_URI=self.redis_url,
        )

    def empty(self) -> None:
        """Empty every table but the schema's version, and the rate-limit counters."""
        import psycopg
        import redis

        with psycopg.connect(self.database_url, autocommit=True) as connection:
            tables = [
                row[0]
                for row in connection.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename <> 'schema_version'"
                )
            ]
            if tables:
                names = ", ".join(f'"{t}"' for t in tables)
                connection.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
        with redis.Redis.from_url(self.redis_url) as counters:
            counters.flushdb()

    def drop(self) -> None:
        drop_postgres_database(self.name)


# --- the record, read as an operator reads it, on either pass -----------------------------

# The full-text index's table and the column naming each chunk in it.
FULLTEXT_ROWS = (
    ("knowledge_chunk_search", "chunk_id") if SCALED else ("knowledge_chunk_fts", "rowid")
)


def read_database(instance_path, query: str, *params) -> list[tuple]:
    """Rows of the database the instance's app uses, read directly (`?` placeholders): its
    SQLite file on the first pass, PostgreSQL on the scaled one. Ids come back as the hex
    strings SQLite stores, on both."""
    return _run_sql(instance_path, query, params)


def write_database(instance_path, query: str, *params) -> None:
    """Change the instance's database directly, as an operator (or an older release) would."""
    _run_sql(instance_path, query, params)


def _run_sql(instance_path, query: str, params) -> list[tuple]:
    if not SCALED:
        import sqlite3

        connection = sqlite3.connect(os.path.join(str(instance_path), "companin.db"))
        try:
            with connection:  # commits
                return connection.execute(query, params).fetchall()
        finally:
            connection.close()
    import psycopg

    with psycopg.connect(os.environ["COMPANIN_DATABASE_URL"]) as connection:  # commits
        cursor = connection.execute(query.replace("?", "%s"), params)
        rows = cursor.fetchall() if cursor.description else []
    return [tuple(v.hex if isinstance(v, uuid.UUID) else v for v in row) for row in rows]


def instance_vectors(instance_path):
    """The vector store the instance's app uses: its Chroma folder, or the Chroma server."""
    from companin.knowledge.vectorstore import VectorStore

    if SCALED:
        return VectorStore(url=CHROMA_URL)
    return VectorStore(path=os.path.join(str(instance_path), "chroma"))
