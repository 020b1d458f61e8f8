"""The engines a team scales out onto, as the tests reach them: PostgreSQL, Redis and a
Chroma server, named by COMPANIN_TEST_POSTGRES_URL, COMPANIN_TEST_REDIS_URL and
COMPANIN_TEST_CHROMA_URL (.ci/run starts all three on loopback). A test that needs one is
skipped, saying which, when it is not set."""

from __future__ import annotations

import os
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
