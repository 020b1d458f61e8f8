"""The door to litellm: imported once, lazily, and its failures turned into ProviderErrors.

litellm takes about 4 s and 200 MB to import, so it is imported on first use (or in the
background at start-up, `import_in_background`), and never before
LITELLM_LOCAL_MODEL_COST_MAP is set: otherwise it downloads its price list.
"""

from __future__ import annotations

import os
import re
import threading
from types import ModuleType

from .errors import (
    ProviderError,
    ProviderMalformed,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
)

# Things that look like credentials, to keep them out of error messages: keys as most
# providers shape them, bearer tokens, and user:password@ in URLs.
_SECRET_PATTERNS = (
    re.compile(r"\b(?:sk|pk|rk|key)-[A-Za-z0-9_\-*.]{3,}"),
    re.compile(r"(?i)\bbearer\s+\S+"),
    re.compile(r"(?<=//)[^/\s:@]+:[^/\s@]+(?=@)"),
)
_SECRET_ENV_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD")
_MAX_DETAIL = 300

_import_lock = threading.Lock()


def litellm() -> ModuleType:
    """litellm, imported on first use."""
    with _import_lock:
        os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
        import litellm as module

        module.suppress_debug_info = True  # no "Give Feedback" banners printed on errors
        module.telemetry = False
        # Its per-piece logging feeds litellm's own callbacks, which we do not use: it costs
        # CPU on every piece of every stream (usage comes in the stream's last chunk).
        module.disable_streaming_logging = True
        # Token counts come from tiktoken files litellm ships: never a tokenizer download.
        module.disable_hf_tokenizer_download = True
        return module


def import_in_background() -> threading.Thread:
    """Start importing litellm on a thread, so that the first customer does not wait."""
    thread = threading.Thread(target=litellm, name="import-litellm", daemon=True)
    thread.start()
    return thread


def redact(text: str, api_key: str | None = None) -> str:
    """`text` with every credential we know of, or that looks like one, blanked; shortened."""
    secrets = {api_key} | {
        value
        for name, value in os.environ.items()
        if any(word in name.upper() for word in _SECRET_ENV_WORDS) and len(value) >= 6
    }
    for secret in filter(None, secrets):
        text = text.replace(secret, "***")
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub("***", text)
    text = " ".join(text.split())
    return text[:_MAX_DETAIL] + "…" if len(text) > _MAX_DETAIL else text


def provider_error(exc: BaseException, what: str, api_key: str | None = None) -> ProviderError:
    """The ProviderError a litellm (or HTTP client) exception stands for.

    `what` names the call for the message, e.g. "Embedding with openai/text-embedding-3".
    """
    if isinstance(exc, ProviderError):
        return exc
    status = getattr(exc, "status_code", None)
    detail = redact(str(getattr(exc, "message", None) or exc), api_key)
    message = f"{what} failed: {type(exc).__name__}"
    if isinstance(status, int):
        message += f" (HTTP {status})"
    message = f"{message}: {detail}" if detail else message
    name = type(exc).__name__
    if status == 408 or any(_timed_out(e) for e in _chain(exc)):
        return ProviderTimeout(message)
    if name == "RateLimitError" or status == 429:
        return ProviderRateLimited(message, retry_after=_retry_after(exc))
    if name in {"APIResponseValidationError", "JSONDecodeError"}:
        return ProviderMalformed(message)
    return ProviderUnavailable(message)


_TIMEOUTS = {"Timeout", "APITimeoutError", "ReadTimeout", "TimeoutException", "TimeoutError"}


def _timed_out(exc: BaseException) -> bool:
    # Some wrappers keep only the message of the read timeout they caught.
    return type(exc).__name__ in _TIMEOUTS or "timed out" in str(exc).lower()


def _chain(exc: BaseException) -> list[BaseException]:
    """`exc` and what it wraps: litellm keeps a stream's real failure in
    `original_exception` (a MidStreamFallbackError around a read timeout, say)."""
    chain: list[BaseException] = []
    while exc is not None and exc not in chain and len(chain) < 10:
        chain.append(exc)
        exc = getattr(exc, "original_exception", None) or exc.__cause__ or exc.__context__
    return chain


def _retry_after(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    try:
        return max(1, int(float(headers.get("retry-after"))))
    except (TypeError, ValueError):
        return None
