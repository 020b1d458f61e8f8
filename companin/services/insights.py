"""The numbers behind the console's Insights: what customers asked, day by day, how the
assistant did, and the questions it could not answer, grouped by similarity.

The console's test chats never count. The counts are one aggregate query over the
period's messages; the unanswered questions are embedded once per process (vectors are
cached by message id), so opening the page again costs a few queries, not a model run.
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections import Counter, OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np
from peewee import JOIN, SQL, Field, ModelSelect, fn

from ..identity import Principal
from ..knowledge.index import KnowledgeIndex
from ..llm.errors import ProviderError
from ..models import Conversation, Message, Session, utcnow

log = logging.getLogger(__name__)

PERIODS = (7, 30, 90)  # days, today included
DEFAULT_DAYS = 30
# The unanswered questions one view groups: the most recent ones, so that a busy
# organization's page costs the same as a quiet one's.
QUESTIONS_LIMIT = 500
# Mean cosine similarity to a group's members for a question to join it. Tried on
# all-MiniLM-L6-v2 with real rephrasings: "how long does shipping take" / "shipping
# time?" (0.80) and the ways of asking about PayPal (0.79-0.89) join; "can I pay with
# bitcoin" stays apart from PayPal (0.71), "what do you charge for delivery" from
# "how much does shipping cost" (0.65). Very short questions sharing a word may still
# join ("shipping time?" / "shipping price?", 0.80): the mean over the whole group
# holds them apart once it has a longer wording.
SIMILAR = 0.75
# New questions one view embeds itself (~40 ms); any more are embedded in the
# background, in batches, and meanwhile grouped by their text alone.
EMBED_NOW = 16
EMBED_BATCH = 32
EMBED_CHARS = 1000  # the embedder reads 256 tokens at most anyway
CACHED_VECTORS = 10_000  # ~15 MB of 384-dimensional vectors
GROUPS_SHOWN = 50  # a page a person reads, not every question once
LATEST_THUMBS_DOWN = 10
VARIANTS_SHOWN = 3


@dataclass(frozen=True)
class Period:
    """The last `days` days (today included, in UTC), of one assistant or of all."""

    days: int = DEFAULT_DAYS
    assistant_id: uuid.UUID | None = None
    today: date = field(default_factory=lambda: utcnow().date())

    def __post_init__(self) -> None:
        if self.days not in PERIODS:
            raise ValueError(f"a period is one of {PERIODS} days, not {self.days}")

    @property
    def first_day(self) -> date:
        return self.today - timedelta(days=self.days - 1)

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first_day, datetime.min.time())

    def dates(self) -> list[date]:
        return [self.first_day + timedelta(days=n) for n in range(self.days)]


@dataclass(frozen=True)
class DayCount:
    day: date
    questions: int  # customers' messages
    handed_off: int  # replies that handed the chat to a person


@dataclass(frozen=True)
class ThumbsDown:
    """A reply a customer rated down, with the question it answered."""

    reply_id: uuid.UUID
    question: str | None  # None if no customer message came before it in its chat
    reply: str
    comment: str | None
    rated_at: datetime | None
    chat_kind: str  # session | conversation
    chat_id: uuid.UUID


@dataclass(frozen=True)
class Question:
    """A customer's message that the assistant's next reply handed off."""

    id: uuid.UUID
    text: str
    asked_at: datetime


@dataclass(frozen=True)
class QuestionGroup:
    """One question as customers asked it, in all its wordings."""

    wording: str  # the most recent
    count: int
    last_asked: datetime
    variants: list[str]  # other wordings, most recent first (a few)


@dataclass(frozen=True)
class Grouping:
    groups: list[QuestionGroup]  # the biggest
    considered: int  # questions grouped (at most QUESTIONS_LIMIT)
    by_similarity: bool  # False: identical texts only
    problem: str | None = None  # why not by similarity
    pending: int = 0  # questions still being embedded, grouped by text meanwhile
    hidden: int = 0  # smaller groups not in `groups`

    @property
    def capped(self) -> bool:
        """Were there more questions than one view groups (only the most recent are)?"""
        return self.considered >= QUESTIONS_LIMIT


@dataclass(frozen=True)
class Insights:
    period: Period
    days: list[DayCount]
    questions: int
    replies: int
    handed_off: int
    thumbs_up: int
    thumbs_down: int
    latest_down: list[ThumbsDown]
    unanswered: Grouping

    @property
    def answered(self) -> int:
        return self.replies - self.handed_off

    @property
    def busiest_day(self) -> int:
        return max((d.questions for d in self.days), default=0)


def insights(principal: Principal, period: Period, index: KnowledgeIndex) -> Insights:
    """The organization's numbers for `period`; `index` embeds the unanswered questions."""
    per_day = {day: [0, 0] for day in period.dates()}  # customers' messages, handoffs
    totals: Counter[str | None] = Counter()
    for day, role, handoff, rating, count in _counts(principal.org_id, period):
        tally = per_day.get(day, [0, 0])  # a day past today (a clock ahead): not drawn
        if role == "user":
            totals["questions"] += count
            tally[0] += count
        else:
            totals["replies"] += count
            totals[rating] += count
            if handoff:
                totals["handed_off"] += count
                tally[1] += count
    return Insights(
        period=period,
        days=[DayCount(day, *tally) for day, tally in per_day.items()],
        questions=totals["questions"],
        replies=totals["replies"],
        handed_off=totals["handed_off"],
        thumbs_up=totals["up"],
        thumbs_down=totals["down"],
        latest_down=_latest_thumbs_down(principal.org_id, period),
        unanswered=_group_unanswered(_unanswered(principal.org_id, period), index),
    )


# --- the queries ---------------------------------------------------------------------------


def _customers_messages(org_id: uuid.UUID, period: Period, *columns) -> ModelSelect:
    """The period's messages of customers' chats (not the console's test chats).

    Read through the index on (organization, time, role, handoff, rating, chat) alone.
    Test chats are few, and often none: they are left out by their ids when there are
    any (a join, or a subquery per row, would cost more than the counting)."""
    query = Message.select(*columns).where(
        Message.organization == org_id, Message.created_at >= period.start
    )
    for owner, chat in ((Message.session, Session), (Message.conversation, Conversation)):
        tests = [row_id for (row_id,) in _test_chats(chat, org_id).tuples()]
        if tests:
            query = query.where(owner.is_null() | owner.not_in(tests))
    if period.assistant_id is not None:
        query = query.where(
            Message.session.in_(_chats_of(Session, period.assistant_id))
            | Message.conversation.in_(_chats_of(Conversation, period.assistant_id))
        )
    return query


def _test_chats(chat: type[Session] | type[Conversation], org_id: uuid.UUID):
    return chat.select(chat.id).where(chat.organization == org_id, chat.is_test == True)  # noqa: E712


def _chats_of(chat: type[Session] | type[Conversation], assistant_id: uuid.UUID):
    return chat.select(chat.id).where(chat.assistant == assistant_id)


def _counts(org_id: uuid.UUID, period: Period) -> Iterable[tuple[date, str, bool, str, int]]:
    """(day, role, handoff, rating, count) of customers' messages and replies."""
    day = fn.DATE(Message.created_at)  # SQLite gives "YYYY-MM-DD", PostgreSQL a date
    query = (
        _customers_messages(
            org_id, period, day, Message.role, Message.handoff, Message.feedback_rating
        )
        .select_extend(fn.COUNT(SQL("*")))  # not a column: the index alone answers
        .where(Message.role.in_(("user", "assistant")))
        .group_by(day, Message.role, Message.handoff, Message.feedback_rating)
        .tuples()
    )
    for when, role, handoff, rating, count in query:
        yield date.fromisoformat(str(when)[:10]), role, bool(handoff), rating, count


def _latest_thumbs_down(org_id: uuid.UUID, period: Period) -> list[ThumbsDown]:
    replies = (
        _customers_messages(org_id, period, *_REPLY_FIELDS, *_RATED_FIELDS)
        .where(Message.role == "assistant", Message.feedback_rating == "down")
        .order_by(Message.feedback_at.desc(), Message.created_at.desc())
        .limit(LATEST_THUMBS_DOWN)
    )
    found = [
        ThumbsDown(
            reply_id=reply_id,
            question=question.text if question else None,
            reply=content,
            comment=comment,
            rated_at=rated_at,
            chat_kind="session" if session_id else "conversation",
            chat_id=session_id or conversation_id,
        )
        for (reply_id, session_id, conversation_id, _, content, comment, rated_at), question in (
            _with_questions(replies, _RATED_FIELDS)
        )
    ]
    return sorted(found, key=lambda down: down.rated_at or datetime.min, reverse=True)


def _unanswered(org_id: uuid.UUID, period: Period) -> list[Question]:
    """The customers' messages whose reply handed off, the most recent first."""
    replies = (
        _customers_messages(org_id, period, *_REPLY_FIELDS)
        .where(Message.role == "assistant", Message.handoff == True)  # noqa: E712
        .order_by(Message.created_at.desc())
        .limit(QUESTIONS_LIMIT)
    )
    unique = {q.id: q for _, q in _with_questions(replies) if q is not None}
    return sorted(unique.values(), key=lambda q: q.asked_at, reverse=True)


# What `_with_questions` reads of each reply, and what thumbs down add to it.
_REPLY_FIELDS = (Message.id, Message.session, Message.conversation, Message.created_at)
_RATED_FIELDS = (Message.content, Message.feedback_comment, Message.feedback_at)


def _with_questions(
    replies: ModelSelect, fields: Sequence[Field] = ()
) -> Iterator[tuple[tuple, Question | None]]:
    """Each reply of `replies` (which selects `_REPLY_FIELDS` then `fields`) with the
    question it answered: its chat's last customer message before it, or None.

    One query: the question of each reply is looked up by its chat (an index), after
    the replies are chosen, so the cost follows the replies shown, not the period's."""
    reply = replies.alias("reply")
    earlier, asked = Message.alias("earlier"), Message.alias("asked")
    question_id = (
        earlier.select(earlier.id)
        .where(
            (earlier.session == reply.c.session_id)
            | (earlier.conversation == reply.c.conversation_id),
            earlier.role == "user",
            earlier.created_at <= reply.c.created_at,
        )
        .order_by(earlier.created_at.desc())
        .limit(1)
    )
    # Read through a subquery, the reply's columns need their fields' conversions.
    columns = [
        getattr(reply.c, f.column_name).converter(f.python_value) for f in (*_REPLY_FIELDS, *fields)
    ]
    query = (
        asked.select(*columns, asked.id, asked.content, asked.created_at)
        .from_(reply)
        .join(asked, JOIN.LEFT_OUTER, on=(asked.id == question_id))
        .tuples()
    )
    for *values, asked_id, text, asked_at in query:
        question = Question(asked_id, text, asked_at) if asked_id else None
        yield tuple(values), question


# --- grouping ------------------------------------------------------------------------------


def normalised(text: str) -> str:
    """A question's text as compared without an embedder: case, spacing and the final
    punctuation do not make another question."""
    return re.sub(r"\s+", " ", text).strip().rstrip("?!.").strip().casefold()


def _group_unanswered(questions: list[Question], index: KnowledgeIndex) -> Grouping:
    problem = index.embedder_problem()
    vectors: dict[uuid.UUID, np.ndarray] = {}
    pending = 0
    if problem is None:
        try:
            vectors, pending = _vectors(index, questions)
        except ProviderError as error:  # a remote embedding model failed: group by text
            problem = str(error)
    groups = group_questions(questions, vectors)
    return Grouping(
        groups=groups[:GROUPS_SHOWN],
        considered=len(questions),
        by_similarity=problem is None,
        problem=problem,
        pending=pending,
        hidden=max(0, len(groups) - GROUPS_SHOWN),
    )


def group_questions(
    questions: Sequence[Question],
    vectors: dict[uuid.UUID, np.ndarray],
    threshold: float = SIMILAR,
) -> list[QuestionGroup]:
    """Group `questions` (the most recent first), biggest groups first.

    A wording already seen joins its group; a new one with a vector joins the group whose
    wordings it resembles most on average, if enough (greedy, in one pass); a new one
    without a vector starts a group."""
    texts = {q.id: normalised(q.text) for q in questions}
    members: list[list[Question]] = []
    group_of_text: dict[str, int] = {}
    dimension = next((len(v) for v in vectors.values()), 0)
    sums = np.zeros((len(questions), dimension), dtype=np.float32)  # of each group's wordings
    sizes = np.zeros(len(questions), dtype=np.float32)  # wordings with a vector, per group
    for question in questions:
        text, vector = texts[question.id], vectors.get(question.id)
        group = group_of_text.get(text)
        if group is None and vector is not None:
            group = _most_similar(sums[: len(members)], sizes[: len(members)], vector, threshold)
        if group is None:
            group = len(members)
            members.append([])
        members[group].append(question)
        if text not in group_of_text:
            group_of_text[text] = group
            if vector is not None:
                sums[group] += vector
                sizes[group] += 1
    groups = [_summary(group, texts) for group in members]
    return sorted(groups, key=lambda g: (g.count, g.last_asked), reverse=True)


def _most_similar(
    sums: np.ndarray, sizes: np.ndarray, vector: np.ndarray, threshold: float
) -> int | None:
    """The group with the highest mean cosine similarity to `vector`, if at `threshold`."""
    if not len(sizes):
        return None
    scores = np.where(sizes > 0, (sums @ vector) / np.maximum(sizes, 1), -np.inf)
    best = int(np.argmax(scores))
    return best if scores[best] >= threshold else None


def _summary(group: list[Question], texts: dict[uuid.UUID, str]) -> QuestionGroup:
    newest_first = sorted(group, key=lambda q: q.asked_at, reverse=True)
    newest = newest_first[0]
    seen = {texts[newest.id]}
    variants = []
    for question in newest_first[1:]:
        if len(variants) == VARIANTS_SHOWN:
            break
        if texts[question.id] not in seen:
            seen.add(texts[question.id])
            variants.append(question.text)
    return QuestionGroup(newest.text, len(group), newest.asked_at, variants)


# --- vectors, once per message and process ---------------------------------------------------


class _VectorCache:
    """The most recently used vectors, by (model, message id): a message never changes,
    and vectors of two models never mix."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._vectors: OrderedDict[tuple[str, uuid.UUID], np.ndarray] = OrderedDict()
        self._pending: set[tuple[str, uuid.UUID]] = set()
        self._lock = threading.Lock()

    def get(self, model: str, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, np.ndarray]:
        found = {}
        with self._lock:
            for message_id in ids:
                vector = self._vectors.get((model, message_id))
                if vector is not None:
                    self._vectors.move_to_end((model, message_id))
                    found[message_id] = vector
        return found

    def put(self, model: str, ids: Sequence[uuid.UUID], vectors: np.ndarray) -> None:
        with self._lock:
            for message_id, vector in zip(ids, vectors, strict=True):
                self._vectors[(model, message_id)] = vector
                self._vectors.move_to_end((model, message_id))
                self._pending.discard((model, message_id))
            while len(self._vectors) > self._size:
                self._vectors.popitem(last=False)

    def claim(self, model: str, ids: Iterable[uuid.UUID]) -> list[uuid.UUID]:
        """The ids nobody is embedding yet, now marked as being embedded."""
        with self._lock:
            claimed = [i for i in ids if (model, i) not in self._pending]
            self._pending.update((model, i) for i in claimed)
        return claimed

    def release(self, model: str, ids: Iterable[uuid.UUID]) -> None:
        with self._lock:
            self._pending.difference_update((model, i) for i in ids)


_CACHE = _VectorCache(CACHED_VECTORS)
_BACKGROUND = ThreadPoolExecutor(max_workers=1, thread_name_prefix="insights-embed")


def _vectors(
    index: KnowledgeIndex, questions: Sequence[Question]
) -> tuple[dict[uuid.UUID, np.ndarray], int]:
    """The questions' vectors known or embedded now, and how many are left for later."""
    model = index.model
    vectors = _CACHE.get(model, (q.id for q in questions))
    missing = [q for q in questions if q.id not in vectors]
    mine = set(_CACHE.claim(model, (q.id for q in missing)))  # not being embedded already
    unclaimed = [q for q in missing if q.id in mine]
    now, later = unclaimed[:EMBED_NOW], unclaimed[EMBED_NOW:]
    if now:
        try:
            embedded = index.embed([q.text[:EMBED_CHARS] for q in now])
        except BaseException:
            _CACHE.release(model, mine)
            raise
        _CACHE.put(model, [q.id for q in now], embedded)
        vectors.update(zip((q.id for q in now), embedded, strict=True))
    if later:
        texts = {q.id: q.text[:EMBED_CHARS] for q in later}
        _BACKGROUND.submit(_embed_later, index, model, texts)
    return vectors, len(missing) - len(now)


def _embed_later(index: KnowledgeIndex, model: str, texts: dict[uuid.UUID, str]) -> None:
    ids = list(texts)
    try:
        for start in range(0, len(ids), EMBED_BATCH):
            batch = ids[start : start + EMBED_BATCH]
            _CACHE.put(model, batch, index.embed([texts[i] for i in batch]))
    except ProviderError as error:
        log.warning("could not embed unanswered questions: %s", error)
    except Exception:  # a thread's failure would otherwise vanish with its future
        log.exception("embedding unanswered questions failed")
    finally:
        _CACHE.release(model, ids)
