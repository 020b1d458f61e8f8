"""Idempotency-Key on a message POST: a retried request gets the first result.

A phone on a flaky network sends a message, loses the answer and sends it again. With
the same key (within a day) the retry gets the first answer (the same messages, 201),
without a second model call or a second copy of the customer's message. A key whose first attempt
failed (the provider was down) is answered anew, reusing the message already stored; a
key whose first attempt is still running is a 409.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import timedelta
from typing import Any

from peewee import IntegrityError

from ..db import write_transaction
from ..errors import Conflict, ValidationFailed
from ..models import IdempotencyRecord, Message, utcnow

KEPT_FOR = timedelta(days=1)
MAX_KEY_LENGTH = IdempotencyRecord.key.max_length
# A first attempt that has not finished after this long is taken to have died with its
# process (the model's own deadline is far shorter).
RUNNING_FOR_AT_MOST = timedelta(minutes=10)


def request_hash(chat_id: uuid.UUID, content: str, metadata: dict[str, Any]) -> str:
    payload = json.dumps([str(chat_id), content, metadata], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def check_key(key: str) -> str:
    """The key as sent, or a 422 naming the header."""
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isprintable():
        raise ValidationFailed(
            "Idempotency-Key", f"Use 1 to {MAX_KEY_LENGTH} printable characters."
        )
    return key


def find(org_id: uuid.UUID, key: str, digest: str) -> IdempotencyRecord | None:
    """The live record of `key`, if any; a 422 if it was used for another request, a 409 if
    that request is still being answered."""
    record = (
        IdempotencyRecord.select()
        .where(
            IdempotencyRecord.organization == org_id,
            IdempotencyRecord.key == key,
            IdempotencyRecord.created_at > utcnow() - KEPT_FOR,
        )
        .first()
    )
    if record is None:
        return None
    if record.request_hash != digest:
        raise ValidationFailed(
            "Idempotency-Key", "Already used for a different request: use a new key."
        )
    running_since = utcnow() - record.updated_at
    if record.state == "running" and running_since < RUNNING_FOR_AT_MOST:
        raise Conflict("A request with this Idempotency-Key is being answered - retry shortly")
    return record


def claim(org_id: uuid.UUID, key: str, digest: str, message: Message) -> IdempotencyRecord:
    """Record a first attempt (inside the transaction that stores the user's message)."""
    IdempotencyRecord.delete().where(
        IdempotencyRecord.organization == org_id,
        IdempotencyRecord.key == key,
        IdempotencyRecord.created_at <= utcnow() - KEPT_FOR,
    ).execute()
    try:
        return IdempotencyRecord.create(
            organization=org_id, key=key, request_hash=digest, user_message=message
        )
    except IntegrityError:  # the same key, sent twice at once: the other one got it
        raise Conflict(
            "A request with this Idempotency-Key is being answered - retry shortly"
        ) from None


def retry(record: IdempotencyRecord) -> None:
    """Take a failed (or dead) first attempt up again."""
    with write_transaction():
        record.state = "running"
        record.save()


def finish(record: IdempotencyRecord | None, reply: Message | None, answered: bool = False) -> None:
    """Keep the reply to an answered request, or mark a failed one to be tried again.
    `answered` with no reply: the request is done and has none (a person of the team
    answers that chat), which a retry gets again."""
    if record is None:
        return
    with write_transaction():
        record.state = "done" if reply is not None or answered else "failed"
        record.reply = reply
        record.save()
