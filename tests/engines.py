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


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A new, empty database on the test server for the block, dropped afterwards (with
    whatever connections are still open to it)."""
    import psycopg

    name = f"companin_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(POSTGRES_URL)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


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
