"""The ingestion queue, kept in the database so that every process shares it.

A job row exists while its source is being processed. A process claims one by writing its
name and a lease: on PostgreSQL with `FOR UPDATE SKIP LOCKED`, so two processes claiming
at once take different rows and never wait on each other; on SQLite inside the one write
lock. The holder renews the lease while it works and deletes the row in the transaction
that records the result. A process that dies stops renewing: once the lease has expired
any process claims the job again, as a full run that trusts nothing the dead one left.
On one machine, a job whose process is gone is free at once, without waiting out the lease.
"""

from __future__ import annotations

import functools
import logging
import os
import secrets
import socket
import uuid
from dataclasses import dataclass
from datetime import timedelta

from peewee import PostgresqlDatabase

from ..db import db, write_transaction
from ..models import IngestionJob, utcnow

log = logging.getLogger(__name__)

# A source that took its process down this many times is failed rather than tried again.
MAX_ATTEMPTS = 3


@functools.cache
def _machine() -> str:
    """This machine and process namespace: the part of a process's name under which its
    pid means something. Containers on one host share the boot id, not the namespace."""
    parts = [socket.gethostname()]
    try:
        with open("/proc/sys/kernel/random/boot_id") as boot:
            parts.append(boot.read().strip())
        parts.append(os.readlink("/proc/self/ns/pid"))
    except OSError:  # not Linux: the host name alone
        pass
    return "/".join(parts)


def process_name() -> str:
    """A name for this process, unique among all that share the database: its machine,
    its pid and a random part (a pid is reused once its process is gone)."""
    return f"{_machine()}#{os.getpid()}#{secrets.token_hex(4)}"


@dataclass(frozen=True)
class Job:
    source_id: uuid.UUID
    full: bool
    attempts: int


def enqueue(
    source_id: uuid.UUID, full: bool = False, owner: str | None = None, lease_s: float = 0.0
) -> None:
    """Queue a source's indexing, in the caller's transaction (with the source's own write,
    so that a source is never `processing` without a job). With `owner`, the job is that
    process's already: it indexes the source itself, now, and another process takes it up
    only if it dies."""
    IngestionJob.create(
        source=source_id,
        full=full,
        owner=owner,
        lease_until=utcnow() + timedelta(seconds=lease_s) if owner else None,
        attempts=1 if owner else 0,
    )


def _free(now):
    return IngestionJob.lease_until.is_null() | (IngestionJob.lease_until < now)


def any_waiting() -> bool:
    """A cheap read, without the write lock: is there a job to claim?"""
    return IngestionJob.select().where(_free(utcnow())).exists()


def claim(owner: str, lease_s: float) -> Job | None:
    """Take the oldest free job for `owner`, or None. A job someone else had started comes
    back `full`: whatever that run left is not to be trusted."""
    now = utcnow()
    with write_transaction():
        query = IngestionJob.select().where(_free(now)).order_by(IngestionJob.created_at).limit(1)
        if isinstance(db.obj, PostgresqlDatabase):
            query = query.for_update(skip_locked=True)
        job = query.first()
        if job is None:
            return None
        full = job.full or job.owner is not None
        IngestionJob.update(
            owner=owner,
            lease_until=now + timedelta(seconds=lease_s),
            attempts=IngestionJob.attempts + 1,
            full=full,
        ).where(IngestionJob.source == job.source_id).execute()
    return Job(job.source_id, full, job.attempts + 1)


def renew(source_id: uuid.UUID, owner: str, lease_s: float) -> bool:
    """Extend `owner`'s lease; False if the job is no longer theirs (or gone)."""
    with write_transaction():
        return bool(
            IngestionJob.update(lease_until=utcnow() + timedelta(seconds=lease_s))
            .where(IngestionJob.source == source_id, IngestionJob.owner == owner)
            .execute()
        )


def release(source_id: uuid.UUID, owner: str) -> bool:
    """Delete `owner`'s job, inside the transaction that records its result. False when
    another process holds it now (this one's lease ran out): the result is theirs to
    record. True also when there is no job at all (a reindex, a Q&A edit)."""
    deleted = (
        IngestionJob.delete()
        .where(IngestionJob.source == source_id, IngestionJob.owner == owner)
        .execute()
    )
    return (
        bool(deleted) or not IngestionJob.select().where(IngestionJob.source == source_id).exists()
    )


def free_jobs_of_dead_processes(own_name: str) -> int:
    """Free at once the jobs held by processes of this machine that are gone (a crash, a
    `kill -9`), instead of waiting out their lease. Other machines' jobs wait for theirs:
    their pids mean nothing here."""
    machine, own_pid, _ = own_name.rsplit("#", 2)
    held = IngestionJob.select(IngestionJob.source, IngestionJob.owner).where(
        IngestionJob.owner.startswith(machine + "#"), IngestionJob.lease_until >= utcnow()
    )
    freed = 0
    for job in list(held):  # read first: writes follow on the same connection
        owner_machine, pid, _ = job.owner.rsplit("#", 2)
        if owner_machine != machine or job.owner == own_name:
            continue
        if pid == own_pid or not _alive(int(pid)):  # this pid's earlier process, or gone
            with write_transaction():
                freed += (
                    IngestionJob.update(lease_until=None)
                    .where(IngestionJob.source == job.source_id, IngestionJob.owner == job.owner)
                    .execute()
                )
    if freed:
        log.info("took up %d ingestion job(s) of a process that stopped", freed)
    return freed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process, alive
        return True
    return True
