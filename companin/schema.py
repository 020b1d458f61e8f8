"""Creating the tables on first start and recording the schema version for migrations."""

from __future__ import annotations

from collections.abc import Callable

from peewee import SqliteDatabase

from .db import db, write_transaction
from .knowledge import fulltext
from .models import TABLES, SchemaVersion

# Migration N takes a database at version N-1 to version N. Version 1 is the first release:
# its tables are created from the models, so it needs no step of its own.
MIGRATIONS: dict[int, Callable[[], None]] = {}
CURRENT_VERSION = 1


def ensure_schema() -> int:
    """Create missing tables and apply pending migrations; return the schema version."""
    with db.connection_context():
        db.create_tables([SchemaVersion, *TABLES], safe=True)
        if isinstance(db.obj, SqliteDatabase):
            db.execute_sql(fulltext.CREATE_SQL)
        with write_transaction():
            row = SchemaVersion.select().first()
            if row is None:
                SchemaVersion.create(version=CURRENT_VERSION)
                return CURRENT_VERSION
            for version in range(row.version + 1, CURRENT_VERSION + 1):
                MIGRATIONS[version]()
                row.version = version
                row.save()
            return row.version
