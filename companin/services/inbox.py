"""The console's inbox: an organization's sessions and conversations in one list, those
handed off on top, then by their latest activity, newest first.

One page costs three queries, whatever the organization's size: the page's chats (one
UNION ALL of both tables, filtered, sorted and cut in SQL), then the latest message of
each and which of them hold a reply rated down, each read for the page's ids at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from functools import reduce

from peewee import SQL, DateTimeField, Expression, ForeignKeyField, ModelSelect, Value, fn

from ..identity import Principal
from ..models import Assistant, Conversation, Message, Session
from .messages import CHAT_MODELS, owner_column

PAGE_SIZE = 25
# The latest message as the list shows it: clipped in SQL, so a long one costs nothing.
CLIP_CHARS = 160


@dataclass(frozen=True)
class InboxFilters:
    """What the inbox's form narrows the list to; the defaults list every chat."""

    assistant_id: uuid.UUID | None = None
    handed_off: bool = False
    thumbs_down: bool = False
    active_from: date | None = None  # the latest activity on or after this day (UTC)
    active_to: date | None = None  # ... and on or before this one
    search: str = ""  # text contained in any message of the chat


@dataclass(frozen=True)
class InboxRow:
    """One chat as the inbox lists it."""

    kind: str  # session | conversation
    id: uuid.UUID
    who: str | None  # the visitor's or the customer's id, if known
    title: str | None  # a conversation's title
    assistant_name: str
    handoff: bool
    taken_over_by: str | None
    active_at: datetime  # its latest message's time, or its creation's without one
    latest: str | None = None  # the latest message's text, clipped
    thumbs_down: bool = False


@dataclass(frozen=True)
class InboxPage:
    rows: list[InboxRow]
    number: int  # 1 is the newest
    has_older: bool

    @property
    def has_newer(self) -> bool:
        return self.number > 1


def inbox_page(principal: Principal, filters: InboxFilters, number: int = 1) -> InboxPage:
    """Page `number` (from 1) of the organization's chats matching `filters`, not counting
    the console's test chats."""
    parts = [_chats(kind, principal.org_id, filters) for kind in CHAT_MODELS]
    listing = (
        parts[0]
        .union_all(parts[1])
        .order_by(SQL('"handoff"').desc(), SQL('"active_at"').desc(), SQL('"id"'))
        .limit(PAGE_SIZE + 1)  # one more says whether an older page exists
        .offset((number - 1) * PAGE_SIZE)
    )
    found = [_row(values) for values in listing.tuples()]
    rows = _with_messages(found[:PAGE_SIZE])
    return InboxPage(rows=rows, number=number, has_older=len(found) > PAGE_SIZE)


def _chats(kind: str, org_id: uuid.UUID, filters: InboxFilters) -> ModelSelect:
    """One half of the UNION: the same columns, in the same order, for either table."""
    model = CHAT_MODELS[kind]
    is_session = model is Session
    who = model.visitor_id if is_session else model.customer_id
    title = SQL("NULL") if is_session else model.title
    query = (
        model.select(
            Value(kind).alias("kind"),
            model.id.alias("id"),
            who.alias("who"),
            title.alias("title"),
            Assistant.name.alias("assistant_name"),
            model.handoff.alias("handoff"),
            model.taken_over_by.alias("taken_over_by"),
            _activity(model).alias("active_at"),
        )
        .join(Assistant, on=(model.assistant == Assistant.id))
        .where(model.organization == org_id, model.is_test == False)  # noqa: E712
    )
    return query.where(*_conditions(model, org_id, filters))


def _activity(model: type[Session] | type[Conversation]) -> Expression:
    return fn.COALESCE(model.last_message_at, model.created_at)


def _conditions(
    model: type[Session] | type[Conversation], org_id: uuid.UUID, filters: InboxFilters
) -> Iterable[Expression]:
    if filters.assistant_id is not None:
        yield model.assistant == filters.assistant_id
    if filters.handed_off:
        yield model.handoff == True  # noqa: E712
    if filters.active_from is not None:
        yield _activity(model) >= _stored(datetime.combine(filters.active_from, time.min))
    if filters.active_to is not None:
        next_day = datetime.combine(filters.active_to + timedelta(days=1), time.min)
        yield _activity(model) < _stored(next_day)
    owner = owner_column(model)
    if filters.thumbs_down:
        rated_down = Message.select(owner).where(
            Message.organization == org_id, owner.is_null(False), Message.feedback_rating == "down"
        )
        yield model.id.in_(rated_down)
    if filters.search:
        # `contains` escapes % and _ (typed, they mean themselves) and matches any case.
        mentioning = Message.select(owner).where(
            Message.organization == org_id,
            owner.is_null(False),
            Message.content.contains(filters.search),
        )
        yield model.id.in_(mentioning)


def _owner(kind: str) -> ForeignKeyField:
    return owner_column(CHAT_MODELS[kind])


def _stored(moment: datetime) -> str:
    """A time as the database stores it, for comparing with the COALESCE of two columns
    (which carries no field to convert it)."""
    return DateTimeField().db_value(moment)


def _row(values: tuple) -> InboxRow:
    kind, chat_id, who, title, assistant_name, handoff, taken_over_by, active_at = values
    return InboxRow(
        kind=kind,
        id=_uuid(chat_id),
        who=who,
        title=title,
        assistant_name=assistant_name,
        handoff=bool(handoff),
        taken_over_by=taken_over_by,
        active_at=_datetime(active_at),
    )


def _with_messages(rows: list[InboxRow]) -> list[InboxRow]:
    """The rows, each with its latest message's text and whether a reply was rated down."""
    ids = {kind: [row.id for row in rows if row.kind == kind] for kind in CHAT_MODELS}
    ids = {kind: chat_ids for kind, chat_ids in ids.items() if chat_ids}
    if not ids:
        return rows
    latest = _latest_texts(ids)
    rated_down = _rated_down(ids)
    return [
        replace(row, latest=latest.get(row.id), thumbs_down=row.id in rated_down) for row in rows
    ]


# Each query below reads the messages of the page's chats as a UNION ALL of a half per
# kind, so that each half finds them by its own index (an OR of the two would scan them all).


def _latest_texts(ids: dict[str, list[uuid.UUID]]) -> dict[uuid.UUID, str]:
    """Each chat's latest message, clipped. Of two written in the same instant (a question
    and its reply), the one the history shows last."""

    def ranked(owner: ForeignKeyField, chat_ids: list[uuid.UUID]) -> ModelSelect:
        order = [Message.created_at.desc(), Message.role]
        return Message.select(
            owner.alias("chat_id"),
            fn.SUBSTR(Message.content, 1, CLIP_CHARS + 1).alias("text"),
            fn.ROW_NUMBER().over(partition_by=[owner], order_by=order).alias("rank"),
        ).where(owner.in_(chat_ids))

    each = _union(ranked(_owner(kind), chat_ids) for kind, chat_ids in ids.items())
    ranks = each.alias("ranks")
    latest = Message.select(ranks.c.chat_id, ranks.c.text).from_(ranks).where(ranks.c.rank == 1)
    return {_uuid(chat_id): _clip(text) for chat_id, text in latest.tuples()}


def _rated_down(ids: dict[str, list[uuid.UUID]]) -> set[uuid.UUID]:
    """The chats among `ids` with a reply rated down."""

    def rated(owner: ForeignKeyField, chat_ids: list[uuid.UUID]) -> ModelSelect:
        return Message.select(owner).where(owner.in_(chat_ids), Message.feedback_rating == "down")

    query = _union(rated(_owner(kind), chat_ids) for kind, chat_ids in ids.items())
    return {_uuid(chat_id) for (chat_id,) in query.tuples()}


def _union(parts: Iterable[ModelSelect]) -> ModelSelect:
    return reduce(lambda union, part: union.union_all(part), parts)


def _clip(text: str) -> str:
    return text if len(text) <= CLIP_CHARS else text[: CLIP_CHARS - 1].rstrip() + "…"


def _uuid(value: uuid.UUID | str) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(value)


def _datetime(value: datetime | str) -> datetime:
    return value if isinstance(value, datetime) else DateTimeField().python_value(value)
