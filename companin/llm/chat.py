"""One chat completion through litellm, streamed or not, with its usage and cost.

The only module that calls a chat model. The call has an explicit timeout (the wait for
the first byte and, when streaming, for each next piece: a stream that stalls fails
like a server that does not answer) and at most `max_retries` retries on transient
errors, done by the provider's client before the first byte. Every failure leaves as a
ProviderError whose message names no key.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import ProviderError, ProviderMalformed
from .provider import litellm, provider_error


@dataclass(frozen=True)
class ModelSettings:
    """Which model, where, and how long to wait for it."""

    model: str
    api_base: str | None = None
    api_key: str | None = None
    timeout_s: float = 30.0
    max_retries: int = 2
    max_tokens: int = 512
    temperature: float = 0.2


@dataclass
class ChatCall:
    """A completion in progress: iterate for the text as it comes, then read the totals.

    `close()` ends the HTTP request (the customer went away): a provider that streams
    stops being paid for.
    """

    settings: ModelSettings
    messages: Sequence[dict[str, str]]
    stream: bool
    usage: dict[str, int] = field(default_factory=dict)
    cost: float | None = None
    _response: Any = None

    def __iter__(self) -> Iterator[str]:
        what = f"The model {self.settings.model}"
        try:
            self._response = litellm().completion(
                model=self.settings.model,
                messages=list(self.messages),
                api_base=self.settings.api_base,
                api_key=self.settings.api_key,
                timeout=self.settings.timeout_s,
                max_retries=self.settings.max_retries,
                max_tokens=self.settings.max_tokens,
                temperature=self.settings.temperature,
                stream=self.stream,
                **({"stream_options": {"include_usage": True}} if self.stream else {}),
            )
            if self.stream:
                yield from self._pieces()
            else:
                yield self._whole()
        except ProviderError:  # ours already (no text, malformed): as it is
            raise
        except Exception as exc:  # litellm maps every provider's failure to its own types
            raise provider_error(exc, what, self.settings.api_key) from None
        finally:
            self.close()
        self.cost = _cost(self.settings.model, self.usage)

    def _whole(self) -> str:
        try:
            text = self._response.choices[0].message.content
        except (AttributeError, IndexError, TypeError):
            text = None
        if not isinstance(text, str) or not text.strip():
            raise ProviderMalformed(f"The model {self.settings.model} returned no text")
        self.usage = _usage(getattr(self._response, "usage", None))
        return text

    def _pieces(self) -> Iterator[str]:
        wrote = False
        for chunk in self._response:
            usage = getattr(chunk, "usage", None)
            if usage:
                self.usage = _usage(usage)
            for choice in getattr(chunk, "choices", None) or []:
                text = getattr(getattr(choice, "delta", None), "content", None)
                if text:
                    wrote = True
                    yield text
        if not wrote:
            raise ProviderMalformed(f"The model {self.settings.model} returned no text")

    def close(self) -> None:
        response, self._response = self._response, None
        close = getattr(response, "close", None)
        if self.stream and callable(close):
            try:
                close()
            except Exception:  # noqa: BLE001 - closing a dead connection may fail; it is gone
                pass


def _usage(usage: Any) -> dict[str, int]:
    def tokens(name: str) -> int:
        value = usage.get(name) if isinstance(usage, dict) else getattr(usage, name, None)
        return int(value) if isinstance(value, int | float) else 0

    if not usage:
        return {}
    return {
        "prompt_tokens": tokens("prompt_tokens"),
        "completion_tokens": tokens("completion_tokens"),
    }


# Models litellm's price list does not know: looking one up again costs as much as the first
# time, on every reply.
_unpriced: set[str] = set()


def _cost(model: str, usage: dict[str, int]) -> float | None:
    """The call's price in US dollars when litellm's (local) price list knows the model."""
    if not usage or model in _unpriced:
        return None
    try:
        prompt, completion = litellm().cost_per_token(
            model=model,
            prompt_tokens=usage.get("prompt_tokens", 0),
            completion_tokens=usage.get("completion_tokens", 0),
        )
    except Exception:  # noqa: BLE001 - an unknown model has no price: that is all it means
        _unpriced.add(model)
        return None
    return round(prompt + completion, 8)
