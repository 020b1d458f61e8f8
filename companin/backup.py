"""`companin backup` and `companin restore`, for the embedded default: the SQLite file and the
Chroma folder of the instance, copied consistently with each other.

A backup holds SQLite's write lock from its first copy to its last, so no Companin write
commits in between: the database and the vectors are of one moment. (Readers go on; writers
wait, up to the busy timeout, for as long as the copy takes.) Both SQLite files are copied
with SQLite's online backup API, which reads a consistent state of a database in use.

A restore puts the copy in place of what is there (moved aside, never deleted), upgrades an
older schema as any start does, then checks the vectors against the chunks SQLite records:
a source whose vectors are missing is embedded again from its stored chunks (nothing is
fetched or parsed), and if Chroma cannot open the copy at all, every collection is rebuilt.

This module reads the settings without creating the app: creating it migrates, and a backup
must not upgrade the database under a `companin serve` of the previous release.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Flask
from playhouse.db_url import parse as parse_database_url

from . import config as settings
from . import load_settings
from .db import database_url
from .errors import CompaninError
from .knowledge.vectorstore import VectorStore
from .llm.errors import ProviderError
from .models import KnowledgeChunk, KnowledgeSource, Organization, SchemaVersion
from .schema import CURRENT_VERSION
from .services.ingestion import Ingestion, qa_chunks
from .state import state_of

BACKUP_FILE = "backup.json"
DATABASE = "companin.db"
CHROMA = "chroma"
CHROMA_DATABASE = "chroma.sqlite3"
UPLOADS = "uploads"  # uploaded files of schema version 4 and earlier; later ones are in SQLite
FORMAT = 1
VECTOR_BATCH = 500
POSTGRES_ADVICE = (
    "its database is not SQLite: use PostgreSQL's own tools (pg_dump -Fc to back up, "
    "pg_restore to restore)"
)
CHROMA_SERVER_ADVICE = (
    "its vectors are on a Chroma server: copy the server's persist directory while the server "
    "is stopped, or restore the database alone and rebuild the vectors with `companin reindex`"
)


class Refused(Exception):
    """The command cannot run on this instance or PATH; the message says what to do instead."""


@dataclass(frozen=True)
class Place:
    """Where the embedded default keeps an instance's data."""

    instance: Path
    database: Path
    busy_timeout_s: float

    @property
    def chroma(self) -> Path:
        return self.instance / CHROMA

    @property
    def uploads(self) -> Path:
        return self.instance / UPLOADS


def place_of(config: dict[str, Any] | None = None) -> Place:
    """The configured instance's data (the settings as `create_app(config)` reads them), or
    Refused when it is not the embedded default."""
    app = _settings(config)
    problems = []
    url = database_url(app)
    if not url.startswith("sqlite"):
        problems.append(POSTGRES_ADVICE)
    if app.config["CHROMA_URL"]:
        problems.append(CHROMA_SERVER_ADVICE)
    if problems:
        raise Refused(
            "Backup and restore cover the embedded default only (SQLite and Chroma in the "
            "instance folder), and " + "; and ".join(problems) + "."
        )
    database = parse_database_url(url)["database"]
    if not database or database == ":memory:":
        raise Refused(f"The database ({url}) is not a file.")
    return Place(
        instance=Path(app.instance_path),
        database=Path(database),
        busy_timeout_s=app.config["DATABASE_BUSY_TIMEOUT_MS"] / 1000,
    )


def _settings(config: dict[str, Any] | None) -> Flask:
    """The settings as create_app reads them, without opening the database."""
    try:
        return load_settings(config)
    except settings.SettingsError as error:
        raise Refused(str(error)) from None


# --- backup ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Backup:
    """What `back_up` wrote: the contents of backup.json, and how long writes were held."""

    path: Path
    facts: dict[str, Any]
    seconds: float

    def lines(self) -> list[str]:
        chunks = self.facts["chunks"]
        return [
            f"Backed up schema version {self.facts['schema_version']} to {self.path} "
            f"in {self.seconds:.2f}s (Companin's writes waited meanwhile)",
            f"  {len(chunks)} organization(s) with knowledge, {sum(chunks.values())} chunk(s)",
        ]


def back_up(path: str | Path, config: dict[str, Any] | None = None) -> Backup:
    """Copy the instance's database, vectors (and uploads folder, if any) into `path`."""
    path, place = Path(path), place_of(config)
    _check_target(path)
    if not place.database.exists():
        raise Refused(f"There is no database at {place.database}: nothing to back up.")
    path.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with _writes_held(place) as connection:
        facts = _facts(connection)
        _copy_database(connection, path / DATABASE)
        if place.chroma.exists():
            _copy_chroma(place.chroma, path / CHROMA)
        if place.uploads.exists():
            shutil.copytree(place.uploads, path / UPLOADS)
    seconds = time.monotonic() - started
    # Written last: a folder without it is an interrupted backup, which restore refuses.
    (path / BACKUP_FILE).write_text(json.dumps(facts, indent=1) + "\n")
    return Backup(path, facts, seconds)


def _check_target(path: Path) -> None:
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise Refused(f"{path} exists and is not an empty folder: name a new one.")


@contextmanager
def _writes_held(place: Place) -> Iterator[sqlite3.Connection]:
    """A connection reading the database while another holds its write lock (readers go on,
    writers wait) until the end. The lock is on another connection: SQLite's backup API will
    not read through a connection in a write transaction."""
    timeout = place.busy_timeout_s
    with (
        closing(sqlite3.connect(place.database, timeout=timeout, isolation_level=None)) as lock,
        closing(sqlite3.connect(place.database, timeout=timeout)) as reader,
    ):
        try:
            lock.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            raise Refused(f"The database stayed busy ({error}): try again.") from None
        try:
            yield reader
        finally:
            lock.execute("ROLLBACK")  # nothing was written


def _facts(connection: sqlite3.Connection) -> dict[str, Any]:
    """What backup.json says of the copy: format, time, schema version, chunks per org."""
    chunk = KnowledgeChunk._meta
    (version,) = connection.execute(
        f'SELECT version FROM "{SchemaVersion._meta.table_name}"'
    ).fetchone()
    org_column = chunk.fields["organization"].column_name
    counts = connection.execute(
        f'SELECT "{org_column}", count(*) FROM "{chunk.table_name}" GROUP BY 1 ORDER BY 1'
    ).fetchall()
    return {
        "format": FORMAT,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "schema_version": version,
        "chunks": {str(uuid.UUID(org)): count for org, count in counts},
    }


def _copy_database(source: sqlite3.Connection, target: Path) -> None:
    """A consistent copy of a database in use, as one file (no WAL beside it)."""
    with closing(sqlite3.connect(target)) as copy:
        source.backup(copy)
        copy.execute("PRAGMA journal_mode = DELETE")


def _copy_chroma(folder: Path, target: Path) -> None:
    """Chroma's SQLite file through the backup API; its segment folders as files (Chroma
    rebuilds them from its SQLite log when they fall behind it)."""
    shutil.copytree(folder, target, ignore=shutil.ignore_patterns(CHROMA_DATABASE + "*"))
    if (folder / CHROMA_DATABASE).exists():
        with closing(sqlite3.connect(folder / CHROMA_DATABASE)) as source:
            _copy_database(source, target / CHROMA_DATABASE)


# --- restore -----------------------------------------------------------------------------


@dataclass
class Vectors:
    """One organization's vectors against its chunks, after a restore."""

    organization: str
    chunks: int
    vectors: int
    embedded_again: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Restored:
    """What `restore` did: the backup's facts, the schema now, and the vectors checked."""

    backup: dict[str, Any]
    schema_version: int
    moved_aside: Path | None
    rebuilt: str | None  # why every collection was built again, if it was
    vectors: list[Vectors]

    @property
    def complete(self) -> bool:
        return not any(org.failed for org in self.vectors)

    def lines(self) -> list[str]:
        lines = [
            f"Restored the backup of {self.backup['created_at']} "
            f"(schema version {self.backup['schema_version']}, now {self.schema_version})"
        ]
        if self.moved_aside:
            lines.append(f"What was there is kept in {self.moved_aside}")
        if self.rebuilt:
            lines.append(f"Rebuilt every collection from the stored chunks: {self.rebuilt}")
        for org in self.vectors:
            line = f"  {org.organization}: {org.chunks} chunk(s), {org.vectors} vector(s) found"
            if org.embedded_again:
                line += ", embedded again: " + ", ".join(org.embedded_again)
            if org.failed:
                line += ", NOT repaired: " + "; ".join(org.failed)
            if not (org.embedded_again or org.failed):
                line += ": complete"
            lines.append(line)
        if not self.complete:
            lines.append(
                "Some knowledge is not searchable: fix the embedder, then run `companin reindex`."
            )
        return lines


def read_backup(path: Path) -> dict[str, Any]:
    """The backup.json of a complete backup at `path`, or Refused."""
    try:
        facts = json.loads((path / BACKUP_FILE).read_text())
    except (OSError, ValueError):
        raise Refused(
            f"{path} is not a complete Companin backup (no readable {BACKUP_FILE})."
        ) from None
    if facts.get("format") != FORMAT or not (path / DATABASE).is_file():
        raise Refused(f"{path} is not a Companin backup this version can restore.")
    if facts["schema_version"] > CURRENT_VERSION:
        raise Refused(
            f"{path} was made by a later release (schema version {facts['schema_version']}, "
            f"this one knows {CURRENT_VERSION}): restore it with that release."
        )
    return facts


def restore(
    path: str | Path, make_app: Callable[[], Flask], config: dict[str, Any] | None = None
) -> Restored:
    """Put the backup at `path` in place of the instance's data (`companin serve` stopped),
    upgrade it, and check and repair its vectors; `make_app` creates the app on it."""
    path, place = Path(path), place_of(config)
    facts = read_backup(path)
    aside = _move_aside(place)
    _copy_in(path, place)
    rebuilt = None
    if (path / CHROMA).exists() and not _chroma_opens(place.chroma):
        rebuilt = "Chroma could not open the backup's copy"
        aside = aside or _aside_folder(place)
        shutil.move(place.chroma, aside / "chroma-unreadable-from-backup")
    elif not (path / CHROMA).exists():
        rebuilt = "the backup has no Chroma folder"
    app = make_app()  # migrates an older schema, as every start does
    with app.app_context():
        vectors = check_vectors(app)
        version = SchemaVersion.select().first().version
    return Restored(facts, version, aside, rebuilt, vectors)


def _aside_folder(place: Place) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = place.instance / f"before-restore-{stamp}"
    suffix = 1
    while folder.exists():
        suffix += 1
        folder = place.instance / f"before-restore-{stamp}-{suffix}"
    folder.mkdir(parents=True)
    return folder


def _move_aside(place: Place) -> Path | None:
    """Move the instance's database (with its WAL and journal: they hold committed data),
    vectors and uploads into a new folder; None if there was nothing."""
    database = place.database
    present = [
        p
        for p in (
            database,
            *(database.with_name(database.name + end) for end in ("-wal", "-shm", "-journal")),
            place.chroma,
            place.uploads,
        )
        if p.exists()
    ]
    if not present:
        return None
    folder = _aside_folder(place)
    for item in present:
        shutil.move(item, folder / item.name)
    return folder


def _copy_in(path: Path, place: Place) -> None:
    place.database.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path / DATABASE)) as source:
        _copy_database(source, place.database)
    for folder, target in ((CHROMA, place.chroma), (UPLOADS, place.uploads)):
        if (path / folder).exists():
            shutil.copytree(path / folder, target)


def _chroma_opens(folder: Path) -> bool:
    """Whether Chroma opens the folder, asked of another process: a client that failed to
    open a folder cannot open it again in the same process, even once it is repaired."""
    probe = "import sys; from companin.knowledge.vectorstore import VectorStore; "
    probe += "sys.exit(0 if VectorStore(path=sys.argv[1]).heartbeat() else 1)"
    here = str(Path(__file__).resolve().parent.parent)
    path = os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH")) if p)
    result = subprocess.run(
        [sys.executable, "-c", probe, str(folder)],
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        timeout=300,
    )
    return result.returncode == 0


# --- checking the vectors against the chunks ----------------------------------------------


def check_vectors(app: Flask) -> list[Vectors]:
    """For each organization, its vectors against its ready sources' chunks; each source
    with vectors missing is embedded again from its stored chunks."""
    return [
        _check_organization(app, org) for org in Organization.select().order_by(Organization.name)
    ]


def _check_organization(app: Flask, org: Organization) -> Vectors:
    ingestion = state_of(app).ingestion
    index = ingestion.index
    store = _vector_store(app)
    sources = list(
        KnowledgeSource.select().where(
            KnowledgeSource.organization == org.id, KnowledgeSource.status == "ready"
        )
    )
    chunk_ids = _chunk_ids(org.id)
    by_model: dict[str, list[KnowledgeSource]] = {}
    for source in sources:
        by_model.setdefault(source.embedding_model or index.model, []).append(source)
    result = Vectors(f"{org.name} ({org.id})", sum(map(len, chunk_ids.values())), 0)
    for model, owned in by_model.items():
        found = store.count(org.id, model)
        result.vectors += found
        if found == sum(_vector_count(s, chunk_ids) for s in owned):
            continue
        for source in owned:
            if _misses_vectors(store, org.id, model, chunk_ids.get(source.id, [])):
                _embed_again(ingestion, source, result)
    return result


def _vector_store(app: Flask) -> VectorStore:
    return VectorStore(path=os.path.join(app.instance_path, CHROMA))


def _chunk_ids(org_id: uuid.UUID) -> dict[uuid.UUID, list[int]]:
    ids: dict[uuid.UUID, list[int]] = {}
    query = KnowledgeChunk.select(KnowledgeChunk.id, KnowledgeChunk.source).where(
        KnowledgeChunk.organization == org_id
    )
    for row in query.tuples():
        ids.setdefault(row[1], []).append(row[0])
    return ids


def _vector_count(source: KnowledgeSource, chunk_ids: dict[uuid.UUID, list[int]]) -> int:
    """The vectors a source has when complete: one per chunk, and one per probe of a Q&A."""
    probes = sum(len(chunk.probes) for chunk in qa_chunks(source)) if source.type == "qa" else 0
    return len(chunk_ids.get(source.id, [])) + probes


def _misses_vectors(
    store: VectorStore, org_id: uuid.UUID, model: str, chunk_ids: list[int]
) -> bool:
    for start in range(0, len(chunk_ids), VECTOR_BATCH):
        wanted = [str(i) for i in chunk_ids[start : start + VECTOR_BATCH]]
        if len(store.get(org_id, model, wanted)) < len(wanted):
            return True
    return False


def _embed_again(ingestion: Ingestion, source: KnowledgeSource, result: Vectors) -> None:
    """The source's vectors made again from its stored chunks, as `companin reindex` does."""
    try:
        ingestion.reembed(source)
    except (ProviderError, CompaninError) as error:
        result.failed.append(f"{source.title} ({error})")
        return
    result.embedded_again.append(str(source.title))
