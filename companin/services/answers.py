"""Answering a customer's message: store it, retrieve, prompt, generate, store the reply.

The customer's message is stored first, in its own transaction, so it is never lost,
whatever happens next. Then the organization's knowledge that the chat's assistant may
use is searched; when nothing relevant is found, the reply is the assistant's
fallback_message and a handoff, and no model is called. Otherwise one model call (or the
offline responder) writes the reply from the passages, which is stored with the passages
it used, its model, token usage, cost and latency.

`Answer.events()` yields the reply as it is written (`delta`), then the stored result
(`done`). A ProviderError leaves it: the customer's message stays, no reply is stored.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..db import write_transaction
from ..errors import ValidationFailed
from ..identity import Principal
from ..knowledge.index import KnowledgeIndex, Passage
from ..llm import offline, prompt
from ..llm.chat import ChatCall, ModelSettings
from ..models import Assistant, Conversation, IdempotencyRecord, Message, Session, utcnow
from . import idempotency
from .knowledge import usable_by
from .messages import add_message, chat_kind, history

OFFLINE_MODEL = "offline"
# Candidates read from the index before the token budget picks among them.
CANDIDATES = 12
# A short question that refers back ("and how much is it?", "what about the blue one?") is
# a follow-up: it is searched together with the customer's previous message. A short
# question that does not ("what is the meaning of life?") stands alone: joined with the
# previous one, it would be answered from the previous topic.
FOLLOW_UP_WORDS = 6
_REFERRING = frozenset(
    "it its that this these those they them their there one ones he she him her".split()
)
_CONTINUING = ("and ", "also ", "but ", "or ", "what about ", "how about ", "then ")
# Earlier messages read for the history, before its token budget picks among them.
EARLIER_TURNS = 40
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class AnswerSettings:
    """What the answer pipeline reads from the settings."""

    model: str
    api_base: str | None
    api_key: str | None
    timeout_s: float
    max_output_tokens: int
    context_tokens: int
    history_tokens: int
    min_similarity: float  # for a passage of a document or a web page
    min_similarity_qa: float  # for a Q&A pair
    max_message_chars: int

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> AnswerSettings:
        return cls(
            model=settings["LLM_MODEL"].strip(),
            api_base=settings["LLM_API_BASE"] or None,
            api_key=settings["LLM_API_KEY"] or None,
            timeout_s=settings["LLM_TIMEOUT_S"],
            max_output_tokens=settings["LLM_MAX_OUTPUT_TOKENS"],
            context_tokens=settings["ANSWER_CONTEXT_TOKENS"],
            history_tokens=settings["ANSWER_HISTORY_TOKENS"],
            min_similarity=settings["ANSWER_MIN_SIMILARITY"],
            min_similarity_qa=settings["ANSWER_MIN_SIMILARITY_QA"],
            max_message_chars=settings["MAX_MESSAGE_CHARS"],
        )

    def relevant(self, passage: Passage) -> bool:
        """Is the passage close enough to the question to answer from?"""
        floor = self.min_similarity_qa if passage.type == "qa" else self.min_similarity
        return (passage.similarity or 0.0) >= floor

    def model_for(self, assistant: Assistant) -> ModelSettings | None:
        """The assistant's model, else the configured one; None: the offline responder."""
        model = (assistant.model or "").strip() or self.model
        if not model:
            return None
        return ModelSettings(
            model=model,
            api_base=self.api_base,
            api_key=self.api_key,
            timeout_s=self.timeout_s,
            max_tokens=self.max_output_tokens,
            temperature=assistant.temperature,
        )


@dataclass(frozen=True)
class Processed:
    """A customer's message and the reply to it: what the API answers with."""

    chat: Session | Conversation
    user_message: Message
    assistant_message: Message | None  # None: a person of the team answers this chat

    def events(self, stream: bool = True) -> Iterator[tuple[str, Any]]:
        """Answered already: only `("done", self)`, as Answer.events ends."""
        yield "done", self

    def complete(self) -> Processed:
        return self

    def data(self) -> dict[str, Any]:
        """The fields of the response's `data`, rows as rows (the schema dumps them)."""
        return {
            chat_key(self.chat): self.chat.id,
            "user_message": self.user_message,
            "assistant_message": self.assistant_message,
        }


def start(
    principal: Principal,
    chat: Session | Conversation,
    fields: dict[str, Any],
    *,
    settings: AnswerSettings,
    index: KnowledgeIndex,
    idempotency_key: str | None = None,
) -> Answer | Processed:
    """Store the customer's message (or find the request it repeats) and get ready to answer."""
    content = fields["content"]
    if not content.strip():
        raise ValidationFailed("content", "Write something.")
    if len(content) > settings.max_message_chars:
        raise ValidationFailed("content", f"Longer than {settings.max_message_chars} characters.")
    metadata = fields.get("metadata") or {}
    record = None
    if idempotency_key is not None:
        key = idempotency.check_key(idempotency_key)
        digest = idempotency.request_hash(chat.id, content, metadata)
        record = idempotency.find(principal.org_id, key, digest)
        if record is not None and record.state == "done":
            return Processed(chat, record.user_message, record.reply)  # the first answer
        if record is not None:
            idempotency.retry(record)
            return Answer(chat, record.user_message, settings, index, record)
    with write_transaction():
        message = add_message(chat, role="user", content=content, metadata=metadata)
        if idempotency_key is not None:
            record = idempotency.claim(principal.org_id, key, digest, message)
    return Answer(chat, message, settings, index, record)


def chat_key(chat: Session | Conversation) -> str:
    """`session_id` or `conversation_id`, as the response names the chat."""
    return f"{chat_kind(chat)}_id"


class Answer:
    """One customer message being answered."""

    def __init__(
        self,
        chat: Session | Conversation,
        user_message: Message,
        settings: AnswerSettings,
        index: KnowledgeIndex,
        record: IdempotencyRecord | None,
    ) -> None:
        self.chat = chat
        self.user_message = user_message
        self.settings = settings
        self.index = index
        self._record = record
        self._started = time.monotonic()

    def events(self, stream: bool = True) -> Iterator[tuple[str, Any]]:
        """`("delta", {"text"})` as the reply is written, then `("done", Processed)`.

        `stream` asks the model for its reply in pieces (else in one). In a chat a person
        of the team has taken over, the assistant stays quiet: done, with no reply.
        """
        if self.chat.taken_over_by:
            idempotency.finish(self._record, None, answered=True)
            yield "done", Processed(self.chat, self.user_message, None)
            return
        try:
            reply = yield from self._reply(stream)
        except BaseException:
            idempotency.finish(self._record, None)
            raise
        stored = self._store(reply)
        idempotency.finish(self._record, stored)
        yield "done", Processed(self.chat, self.user_message, stored)

    def complete(self) -> Processed:
        """Answer without streaming: the result, once the reply is stored."""
        for kind, value in self.events(stream=False):
            if kind == "done":
                return value
        raise AssertionError("events() always ends with done")  # pragma: no cover

    def _reply(self, stream: bool) -> Iterator[tuple[str, dict[str, Any]]]:
        assistant = self.chat.assistant
        earlier = _earlier_turns(self.chat, self.user_message)
        passages = self._retrieve(assistant, earlier)
        traits = _traits(self.chat)
        if not any(self.settings.relevant(p) for p in passages):
            return (yield from _fallback(assistant))
        given = _within_budget(passages, self.settings.context_tokens)
        model = self.settings.model_for(assistant)
        if model is None:
            return (yield from self._offline(assistant, given))
        data = prompt.PromptInput(
            persona=_persona(assistant),
            question=self.user_message.content,
            passages=[prompt.Passage(p.title, p.text, p.page, p.url) for p in given],
            history=prompt.fit_history(earlier, self.settings.history_tokens),
            locale=self.chat.locale,
            traits=traits,
        )
        call = ChatCall(model, prompt.build_messages(data), stream=stream)
        return (yield from self._generated(call, assistant, given))

    def _offline(
        self, assistant: Assistant, given: Sequence[Passage]
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        candidates = [
            offline.Candidate(p.type, p.title, p.text, self.settings.relevant(p)) for p in given
        ]
        written = offline.reply(self.user_message.content, candidates, self.index.embed)
        if written is None:
            return (yield from _fallback(assistant))
        yield "delta", {"text": written.text}
        return _Reply(written.text, [given[i] for i in written.used], model=OFFLINE_MODEL)

    def _generated(
        self, call: ChatCall, assistant: Assistant, given: Sequence[Passage]
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        marker = prompt.HandoffFilter()
        parts: list[str] = []
        pieces = iter(call)
        try:
            for piece in pieces:
                shown = marker.feed(piece)
                if shown:
                    parts.append(shown)
                    yield "delta", {"text": shown}
        finally:  # also when the customer went away: the model call ends with the stream
            pieces.close()
            call.close()
        rest = marker.flush()
        if rest:
            parts.append(rest)
            yield "delta", {"text": rest}
        text = "".join(parts).strip()
        if marker.leading and not text:
            text = assistant.fallback_message
            yield "delta", {"text": text}
        cited = prompt.cited_numbers(text, len(given))
        used = [] if marker.leading else [given[n - 1] for n in cited] or list(given)
        usage = dict(call.usage)
        if call.cost is not None:
            usage["cost_usd"] = call.cost
        return _Reply(
            text, used, handoff=marker.handoff, model=call.settings.model, usage=usage or None
        )

    def _retrieve(self, assistant: Assistant, earlier: Sequence[prompt.Turn]) -> list[Passage]:
        """The best passages for the question; a short follow-up ("and how much is it?") is
        searched together with the customer's previous message, which says what "it" is.

        One search either way: the joined query holds the question's words too, and a
        second search would cost as much as the first on about a third of a chat's
        messages (bench/answer_speed.py)."""
        query = self.user_message.content
        previous = next((t.content for t in reversed(earlier) if t.role == "user"), None)
        if previous and is_follow_up(query):
            query = f"{previous}\n{query}"
        return self.index.search(
            self.chat.organization_id,
            query,
            top_k=CANDIDATES,
            allowed=usable_by(str(assistant.id)),
        )

    def _store(self, reply: _Reply) -> Message:
        now = utcnow()
        with write_transaction():
            message = add_message(
                self.chat,
                role="assistant",
                content=reply.text,
                sources=[_source(p) for p in reply.used],
                handoff=reply.handoff,
                model=reply.model,
                usage=reply.usage,
                latency_ms=round((time.monotonic() - self._started) * 1000),
            )
            if reply.handoff:
                type(self.chat).update(handoff=True, handoff_at=now).where(
                    type(self.chat).id == self.chat.id,
                    type(self.chat).handoff == False,  # noqa: E712
                ).execute()
        return message


def _fallback(assistant: Assistant) -> Iterator[tuple[str, dict[str, Any]]]:
    """The assistant's fallback message: the reply that hands the chat to a person."""
    yield "delta", {"text": assistant.fallback_message}
    return _Reply(assistant.fallback_message, [], handoff=True)


@dataclass
class _Reply:
    text: str
    used: list[Passage]
    handoff: bool = False
    model: str | None = None
    usage: dict[str, Any] | None = None


def _source(passage: Passage) -> dict[str, Any]:
    snippet = " ".join(passage.text.split())
    return {
        "source_id": str(passage.source_id),
        "type": passage.type,
        "title": passage.title,
        "url": passage.url,
        "page": passage.page,
        "snippet": snippet[:300] + ("…" if len(snippet) > 300 else ""),
        "score": passage.score,
    }


def is_follow_up(question: str) -> bool:
    """Is this a short question that refers to what was asked before?"""
    words = _WORD.findall(question.lower())
    if not words or len(words) > FOLLOW_UP_WORDS:
        return False
    return question.lower().lstrip().startswith(_CONTINUING) or bool(_REFERRING & set(words))


def _within_budget(passages: Sequence[Passage], budget_tokens: int) -> list[Passage]:
    """Passages in score order while they fit in the budget (the best one always goes in)."""
    given, used = [], 0
    for passage in passages:
        cost = prompt.estimate_tokens(passage.text) + 12  # its number and title
        if given and used + cost > budget_tokens:
            continue  # a shorter one further down may still fit
        given.append(passage)
        used += cost
    return given


def _earlier_turns(chat: Session | Conversation, before: Message) -> list[prompt.Turn]:
    """The chat's last messages before `before`, oldest first, as model turns.

    Only the two columns a turn needs, as tuples: rows as models would decode every
    message's JSON fields (sources, usage) on each answer."""
    query = (
        history(chat)
        .select(Message.role, Message.content)
        .where(Message.created_at <= before.created_at, Message.id != before.id)
        .order_by(Message.created_at.desc())
        .limit(EARLIER_TURNS)
        .tuples()
    )
    return [
        prompt.Turn("user" if role == "user" else "assistant", content)
        for role, content in reversed(list(query))
    ]


def _traits(chat: Session | Conversation) -> dict[str, Any]:
    if isinstance(chat, Conversation) and chat.user_context_id is not None:
        return dict(chat.user_context.traits or {})
    return {}


def _persona(assistant: Assistant) -> prompt.Persona:
    return prompt.Persona(
        name=assistant.name,
        description=assistant.description,
        tone=assistant.tone,
        language=assistant.language,
        default_tasks=tuple(assistant.default_tasks or ()),
        instructions=assistant.instructions,
    )
