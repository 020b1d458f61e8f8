"""Creating the tables on first start and recording the schema version for migrations."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable

from peewee import CharField, DateTimeField, PostgresqlDatabase, SqliteDatabase
from playhouse.migrate import SchemaMigrator, migrate

from .db import db, write_transaction
from .knowledge import fulltext, pg_search
from .models import (
    TABLES,
    ConsoleSession,
    IngestionJob,
    Invitation,
    KnowledgeSource,
    KnowledgeUpload,
    Message,
    SchemaVersion,
    User,
)

log = logging.getLogger(__name__)


def _add_false_flag(tables: tuple[str, ...], column: str) -> None:
    """A NOT NULL boolean column, false in every existing row, added in place: peewee's
    migrator would rebuild the table, and on SQLite dropping the old one would cascade to
    its messages."""
    false = "0" if isinstance(db.obj, SqliteDatabase) else "false"
    for table in tables:
        db.execute_sql(
            f'ALTER TABLE "{table}" ADD COLUMN "{column}" BOOLEAN NOT NULL DEFAULT {false}'
        )


def _answers() -> None:
    """Version 2: chats record a handoff; messages an agent's name and when feedback came."""
    _add_false_flag(("session", "conversation"), "handoff")
    migrator = SchemaMigrator.from_database(db.obj)
    migrate(
        migrator.add_column("session", "handoff_at", DateTimeField(null=True)),
        migrator.add_column("conversation", "handoff_at", DateTimeField(null=True)),
        migrator.add_column("message", "author", CharField(max_length=200, null=True)),
        migrator.add_column("message", "feedback_at", DateTimeField(null=True)),
    )


def _people() -> None:
    """Version 3: the team's people and their console sessions, in new tables only.

    `ensure_schema` has already created them from the models (`safe` makes this a no-op
    then); the step says what the version brought, and no existing table is touched.
    """
    db.create_tables([User, ConsoleSession], safe=True)


def _console() -> None:
    """Version 4: chats say who of the team took them over, when their latest message
    came and whether they are the console's test chats; messages get the index the
    console's insights count from; invitations to join the team (a new
    table)."""
    _add_false_flag(("session", "conversation"), "is_test")
    migrator = SchemaMigrator.from_database(db.obj)
    migrate(
        migrator.add_column("session", "taken_over_by", CharField(max_length=200, null=True)),
        migrator.add_column("conversation", "taken_over_by", CharField(max_length=200, null=True)),
        migrator.add_column("session", "last_message_at", DateTimeField(null=True)),
        migrator.add_column("conversation", "last_message_at", DateTimeField(null=True)),
    )
    for table in ("session", "conversation"):
        db.execute_sql(
            f'CREATE INDEX IF NOT EXISTS "{table}_last_message_at" ON "{table}" ("last_message_at")'
        )
        db.execute_sql(
            f'UPDATE "{table}" SET "last_message_at" = (SELECT MAX(m."created_at") '
            f'FROM "message" m WHERE m."{table}_id" = "{table}"."id")'
        )
    Message._schema.create_indexes(safe=True)  # the new one; the others exist
    db.create_tables([Invitation], safe=True)


def _shared_queue(instance_path: str) -> None:
    """Version 5: several processes share ingestion. Uploaded files move from the instance
    folder into the database (new table), where any process can read them; every source
    still `processing` gets a job in the shared queue (new table), to be run again in full.
    On PostgreSQL, the two float columns become double precision, as SQLite's already are,
    and keyword search's table gets each chunk's token count, for BM25.
    The moved files are deleted once this has been committed (`remove_moved_uploads`)."""
    folder = os.path.join(instance_path, "uploads")
    files = KnowledgeSource.select(KnowledgeSource.id).where(KnowledgeSource.type == "file")
    for source in files:
        path = os.path.join(folder, source.id.hex)
        if os.path.isfile(path):
            with open(path, "rb") as handle:
                KnowledgeUpload.create(source=source.id, data=handle.read())
    processing = KnowledgeSource.select(KnowledgeSource.id).where(
        KnowledgeSource.status == "processing"
    )
    for source in processing:
        IngestionJob.create(source=source.id, full=True)
    if isinstance(db.obj, PostgresqlDatabase):  # REAL held a temperature only to 7 digits
        db.execute_sql('ALTER TABLE "assistant" ALTER COLUMN "temperature" TYPE double precision')
        db.execute_sql(
            'ALTER TABLE "knowledge_source" ALTER COLUMN "progress" TYPE double precision'
        )
        for statement in pg_search.ADD_TOKEN_COUNTS_SQL:  # keyword search ranks by BM25 now
            db.execute_sql(statement)


# Migration N takes a database at version N-1 to version N. Version 1 is the first release:
# its tables are created from the models, so it needs no step of its own. New tables are
# created from the models too, before the migrations run. Each step is given the instance
# folder, for what an earlier release kept there.
MIGRATIONS: dict[int, Callable[[str], None]] = {
    2: lambda _: _answers(),
    3: lambda _: _people(),
    4: lambda _: _console(),
    5: _shared_queue,
}
CURRENT_VERSION = 5


# Any constant both processes agree on: the key of PostgreSQL's advisory lock that one
# migrating process holds while another waits.
MIGRATION_LOCK_KEY = 0x636F6D70616E696E  # "companin"


def ensure_schema(instance_path: str) -> int:
    """Create missing tables and apply pending migrations; return the schema version.

    One process at a time, in one transaction: SQLite's write lock, taken up front, or on
    PostgreSQL (where DDL is transactional too) an advisory lock. A second process starting
    at the same moment waits, then finds the schema done."""
    version = _migrate(instance_path)
    remove_moved_uploads(instance_path)
    return version


def _migrate(instance_path: str) -> int:
    with db.connection_context(), write_transaction():
        if isinstance(db.obj, PostgresqlDatabase):
            db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
        # Only the tables that do not exist: an older table gets its new columns and their
        # indexes from its migration. (Creating an index on a column not there yet would
        # make SQLite index a constant string of that name instead, and break the table.)
        existing = set(db.get_tables())
        db.create_tables(
            [m for m in (SchemaVersion, *TABLES) if m._meta.table_name not in existing]
        )
        fulltext.create()
        row = SchemaVersion.select().first()
        if row is None:
            SchemaVersion.create(version=CURRENT_VERSION)
            return CURRENT_VERSION
        for version in range(row.version + 1, CURRENT_VERSION + 1):
            MIGRATIONS[version](instance_path)
            row.version = version
            row.save()
        return row.version


def remove_moved_uploads(instance_path: str) -> None:
    """Delete the upload files of before version 5 that are safely in the database now
    (or whose source is gone), then their folder once empty."""
    folder = os.path.join(instance_path, "uploads")
    if not os.path.isdir(folder):
        return
    with db.connection_context():
        for name in os.listdir(folder):
            try:
                source_id = uuid.UUID(hex=name)
            except ValueError:
                continue  # not one of ours
            moved = KnowledgeUpload.select().where(KnowledgeUpload.source == source_id).exists()
            gone = not KnowledgeSource.select().where(KnowledgeSource.id == source_id).exists()
            if moved or gone:
                os.remove(os.path.join(folder, name))
    if not os.listdir(folder):
        os.rmdir(folder)
    else:
        log.warning("%s holds files that are not Companin's uploads; left there", folder)
