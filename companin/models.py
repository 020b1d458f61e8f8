"""Peewee models. Every row belongs to one organization; ids are UUID4, times naive UTC."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from peewee import (
    AutoField,
    BlobField,
    BooleanField,
    CharField,
    DateTimeField,
    DoubleField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
    UUIDField,
)

from .db import db


def utcnow() -> datetime:
    """Now, in naive UTC (what the database stores)."""
    return datetime.now(UTC).replace(tzinfo=None)


def fit(field: CharField, text: str | None) -> str | None:
    """`text` cut to the column's length, with an ellipsis where it was cut: for text we
    derive (a title from a question, a heading, a file's name), never for what a client
    sets and is told the limit of. (PostgreSQL refuses a longer value; SQLite would keep it.)"""
    limit = field.max_length
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"


class JSONField(TextField):
    """JSON stored as text, so the same model works on SQLite and PostgreSQL."""

    def db_value(self, value: Any) -> str | None:
        return None if value is None else json.dumps(value, separators=(",", ":"))

    def python_value(self, value: str | None) -> Any:
        return None if value is None else json.loads(value)


class BaseModel(Model):
    id = UUIDField(primary_key=True, default=uuid.uuid4)
    created_at = DateTimeField(default=utcnow, index=True)
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        database = db
        legacy_table_names = False

    def save(self, *args: Any, **kwargs: Any) -> int:
        self.updated_at = utcnow()
        return super().save(*args, **kwargs)


class Organization(BaseModel):
    name = CharField(max_length=200)


class ApiKey(BaseModel):
    """A server key: the public client id and a hash of the secret shown once."""

    organization = ForeignKeyField(Organization, backref="api_keys", on_delete="CASCADE")
    client_id = CharField(max_length=64, unique=True)
    secret_hash = CharField(max_length=128)


class OwnedModel(BaseModel):
    """A row that belongs to an organization."""

    organization = ForeignKeyField(Organization, on_delete="CASCADE", index=True)


class Assistant(OwnedModel):
    name = CharField(max_length=200)
    description = TextField(default="")
    tone = CharField(max_length=100, default="professional")
    language = CharField(max_length=35, default="en")
    default_tasks = JSONField(default=list)
    is_active = BooleanField(default=True)
    instructions = TextField(default="")
    model = CharField(max_length=200, null=True)
    temperature = DoubleField(default=0.2)  # (FloatField is a 4-byte REAL on PostgreSQL)
    fallback_message = TextField(
        default="I'm not sure about that. Let me connect you with a member of our team."
    )


class WidgetConfig(OwnedModel):
    assistant = ForeignKeyField(Assistant, on_delete="CASCADE")
    name = CharField(max_length=200, default="Default")
    greeting = TextField(default="Hi! How can I help you today?")
    suggested_questions = JSONField(default=list)
    theme = JSONField(default=dict)
    allowed_origins = JSONField(default=list)
    show_sources = BooleanField(default=True)


class UserContext(OwnedModel):
    user_reference = CharField(max_length=200)
    traits = JSONField(default=dict)

    class Meta:
        indexes = ((("organization", "user_reference"), True),)


class Chat(OwnedModel):
    """What sessions and conversations share: an assistant, and whether it handed off."""

    assistant = ForeignKeyField(Assistant, on_delete="CASCADE")
    # Set when the assistant handed the chat to a person (it did not know); the team clears it.
    handoff = BooleanField(default=False)
    handoff_at = DateTimeField(null=True)
    # Set while a person of the team answers in the chat (their display name): the
    # assistant stays quiet until they hand it back.
    taken_over_by = CharField(max_length=200, null=True)
    # When its latest message was written: the inbox lists the chats by it.
    last_message_at = DateTimeField(null=True, index=True)
    # A chat opened by the console's test chat: answered like a customer's, never listed or
    # counted with theirs.
    is_test = BooleanField(default=False)


class Session(Chat):
    """An anonymous visitor's chat."""

    visitor_id = CharField(max_length=200, null=True)
    locale = CharField(max_length=35, null=True)
    metadata = JSONField(default=dict)
    # The widget visitor that opened it (a hash), so only that visitor's tokens reach it.
    visitor_subject = CharField(max_length=64, null=True, index=True)


class Conversation(Chat):
    """A known customer's chat."""

    customer_id = CharField(max_length=200, index=True)
    title = CharField(max_length=500, null=True)
    locale = CharField(max_length=35, null=True)
    user_context = ForeignKeyField(UserContext, null=True, on_delete="SET NULL")
    metadata = JSONField(default=dict)


class Message(OwnedModel):
    """One turn of a session or a conversation."""

    session = ForeignKeyField(Session, null=True, backref="messages", on_delete="CASCADE")
    conversation = ForeignKeyField(Conversation, null=True, backref="messages", on_delete="CASCADE")
    role = CharField(max_length=16)  # user | assistant | agent
    author = CharField(max_length=200, null=True)  # an agent's display name
    content = TextField()
    metadata = JSONField(default=dict)
    sources = JSONField(null=True)
    handoff = BooleanField(default=False)
    model = CharField(max_length=200, null=True)
    usage = JSONField(null=True)
    latency_ms = IntegerField(null=True)
    feedback_rating = CharField(max_length=8, null=True)
    feedback_comment = TextField(null=True)
    feedback_at = DateTimeField(null=True)


# The console's insights count an organization's messages of a period from this index
# alone (it covers every column they read), without reading the messages themselves.
INSIGHTS_INDEX = "message_insights"
Message.add_index(
    Message.index(
        Message.organization,
        Message.created_at,
        Message.role,
        Message.handoff,
        Message.feedback_rating,
        Message.session,
        Message.conversation,
        name=INSIGHTS_INDEX,
    )
)


class IdempotencyRecord(OwnedModel):
    """A message POST sent with an Idempotency-Key: its user message and, once answered,
    the reply to give again to a retry of the same request."""

    key = CharField(max_length=255)
    request_hash = CharField(max_length=64)  # of the chat and the body: a reused key differs
    user_message = ForeignKeyField(Message, on_delete="CASCADE")
    reply = ForeignKeyField(Message, null=True, on_delete="CASCADE")  # once answered
    state = CharField(max_length=8, default="running")  # running | failed | done

    class Meta:
        indexes = ((("organization", "key"), True),)


class KnowledgeSource(OwnedModel):
    """One piece of knowledge: an uploaded file, a Q&A pair or a web page (with its crawl).

    SQLite is the record: `status` goes processing -> ready | failed, and the chunks
    (here and in the vector store) exist only for a source being or having been indexed.
    """

    type = CharField(max_length=8)  # file | qa | url
    title = CharField(max_length=500, null=True)
    status = CharField(max_length=16, default="processing", index=True)
    error = TextField(null=True)
    progress = DoubleField(default=0.0)
    chunk_count = IntegerField(default=0)
    assistant_ids = JSONField(default=list)  # empty: every assistant may use it
    content_hash = CharField(max_length=64, null=True)
    embedding_model = CharField(max_length=200, null=True)
    # file
    file_type = CharField(max_length=8, null=True)
    filename = CharField(max_length=500, null=True)
    size_bytes = IntegerField(null=True)
    # qa
    question = TextField(null=True)
    answer = TextField(null=True)
    tags = JSONField(default=list)
    origin = CharField(max_length=200, null=True)  # the Q&A's `source` label, e.g. "manual"
    # url
    url = TextField(null=True)
    crawl = JSONField(null=True)
    page_count = IntegerField(null=True)
    fetched_at = DateTimeField(null=True)


class KnowledgeChunk(Model):
    """A passage of a source. Integer ids, so the full-text index can use them as rowids."""

    id = AutoField()
    organization = ForeignKeyField(Organization, on_delete="CASCADE", index=True)
    source = ForeignKeyField(KnowledgeSource, on_delete="CASCADE", index=True)
    ordinal = IntegerField()
    text = TextField()
    title = CharField(max_length=500, null=True)
    page = IntegerField(null=True)
    url = TextField(null=True)
    page_hash = CharField(max_length=64, null=True)  # of the web page it came from

    class Meta:
        database = db
        legacy_table_names = False


class KnowledgeUpload(Model):
    """An uploaded file's bytes, kept in the database so that whichever process claims its
    ingestion job can read them, on this machine or another, and a backup of the database
    holds them too. Kept after indexing, to process the file again (a new parser or
    chunking) without asking the team for it."""

    source = ForeignKeyField(KnowledgeSource, primary_key=True, on_delete="CASCADE")
    data = BlobField()

    class Meta:
        database = db
        legacy_table_names = False


class IngestionJob(Model):
    """A source waiting to be indexed, or being indexed by `owner` until `lease_until`.

    The row lives exactly as long as the work: it is written with the source (or with the
    refresh that sets it back to `processing`) and deleted in the transaction that records
    the result. See services/jobs.py for how processes share the queue.
    """

    source = ForeignKeyField(KnowledgeSource, primary_key=True, on_delete="CASCADE")
    full = BooleanField(default=False)  # index everything again, trusting nothing kept
    owner = CharField(max_length=300, null=True)
    lease_until = DateTimeField(null=True, index=True)
    attempts = IntegerField(default=0)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        database = db
        legacy_table_names = False


class User(OwnedModel):
    """A person of the team, who signs in to the console."""

    # Lower case, so that one address is one person whatever case it is typed in.
    email = CharField(max_length=254, unique=True)
    display_name = CharField(max_length=200)
    role = CharField(max_length=16)  # enums.USER_ROLES
    password_hash = CharField(max_length=255)
    is_active = BooleanField(default=True)


class ConsoleSession(BaseModel):
    """A signed-in browser. Its id is kept only as a hash: a copy of the database signs
    nobody in."""

    session_hash = CharField(max_length=64, unique=True)  # SHA-256 of the cookie's value
    user = ForeignKeyField(User, backref="console_sessions", on_delete="CASCADE", index=True)
    csrf_token = CharField(max_length=64)
    expires_at = DateTimeField(index=True)
    last_seen_at = DateTimeField(default=utcnow)


class Invitation(OwnedModel):
    """An invitation to join the team: a link whose token the server keeps only as a hash."""

    email = CharField(max_length=254)
    role = CharField(max_length=16)  # enums.USER_ROLES
    token_hash = CharField(max_length=64, unique=True)  # SHA-256 of the link's token
    invited_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
    expires_at = DateTimeField()
    accepted_at = DateTimeField(null=True)


class SchemaVersion(Model):
    """The schema version this database is at, so later releases know what to migrate."""

    version = IntegerField()

    class Meta:
        database = db
        table_name = "schema_version"


TABLES = (
    Organization,
    ApiKey,
    Assistant,
    WidgetConfig,
    UserContext,
    Session,
    Conversation,
    Message,
    IdempotencyRecord,
    KnowledgeSource,
    KnowledgeChunk,
    KnowledgeUpload,
    IngestionJob,
    User,
    ConsoleSession,
    Invitation,
)
