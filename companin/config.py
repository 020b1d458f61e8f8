"""Every setting Companin reads, declared once with its default and help.

Settings come, in increasing priority, from these defaults, `instance/config.py`,
`COMPANIN_*` environment variables and, in tests, the mapping given to `create_app`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

ENV_PREFIX = "COMPANIN_"


class SettingsError(Exception):
    """A setting whose value cannot work; the message names the variable."""


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str

    @property
    def env_var(self) -> str:
        return ENV_PREFIX + self.name

    def parse(self, raw: str) -> Any:
        """Convert an environment string to the type of the default."""
        if isinstance(self.default, bool):
            return raw.strip().lower() in {"1", "true", "yes", "on"}
        for kind, expected in ((int, "a whole number"), (float, "a number")):
            if isinstance(self.default, kind):
                try:
                    return kind(raw)
                except ValueError:
                    raise SettingsError(
                        f"{self.env_var}: expected {expected}, got {raw!r}"
                    ) from None
        return raw


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "INSTANCE_PATH",
        "",
        "Folder for runtime data (database, keys). Empty means `instance/` in the project folder.",
    ),
    Setting(
        "DATABASE_URL",
        "",
        "Database URL (peewee `db_url` syntax). Empty means `sqlite:///<instance>/companin.db`; "
        "`postgresql://user:pass@host/db` moves to PostgreSQL.",
    ),
    Setting("DATABASE_BUSY_TIMEOUT_MS", 10000, "How long SQLite waits for a lock before failing."),
    Setting(
        "RATE_LIMIT",
        "1000/hour",
        "Requests allowed per organization, both auth methods together (flask-limiter syntax).",
    ),
    Setting(
        "WIDGET_TOKEN_RATE_LIMIT",
        "60/minute",
        "Widget tokens one client IP may request (flask-limiter syntax).",
    ),
    Setting(
        "RATELIMIT_STORAGE_URI",
        "memory://",
        "Where rate-limit counters live; `redis://host:6379` shares them between processes.",
    ),
    Setting("WIDGET_TOKEN_TTL", 3600, "Lifetime of a widget token, in seconds."),
    Setting(
        "MAX_REQUEST_BYTES",
        16 * 1024 * 1024,
        "Largest request body accepted; larger ones get 413.",
    ),
    Setting(
        "PROXY_COUNT",
        0,
        "Reverse proxies in front whose X-Forwarded-For and X-Forwarded-Proto are trusted "
        "(for per-IP limits, and https behind a proxy that ends TLS).",
    ),
    Setting("LOG_LEVEL", "INFO", "Logging level: DEBUG, INFO, WARNING or ERROR."),
    Setting(
        "EMBEDDING_MODEL",
        "",
        "Embedding model. Empty: the built-in all-MiniLM-L6-v2, offline. Otherwise a litellm "
        "model such as `openai/text-embedding-3-small`; changing it needs `companin reindex`.",
    ),
    Setting("EMBEDDING_API_BASE", "", "Base URL of the embedding provider, for local servers."),
    Setting(
        "CHROMA_URL",
        "",
        "A Chroma server such as `http://chroma:8000` or `https://vectors.example.com`. "
        "Empty: embedded Chroma in the instance.",
    ),
    Setting(
        "CHROMA_TOKEN",
        "",
        "Sent to the Chroma server as a bearer token (`Authorization: Bearer ...`) when set.",
    ),
    Setting("MAX_UPLOAD_BYTES", 10 * 1024 * 1024, "Largest knowledge file accepted; 413 beyond."),
    Setting(
        "INGEST_ALLOW_PRIVATE_URLS",
        False,
        "Allow knowledge URLs on private, loopback and link-local addresses (intranet installs).",
    ),
    Setting("INGEST_PARSE_TIMEOUT_S", 60, "Longest time one file may take to parse."),
    Setting("INGEST_PARSE_MEMORY_MB", 1024, "Memory one file's parser may use."),
    Setting("INGEST_MAX_PAGES", 2000, "Pages read from one PDF; the rest are left out."),
    Setting("INGEST_MAX_CHARS", 5_000_000, "Characters of text kept from one file or page."),
    Setting(
        "INGEST_LEASE_S",
        60.0,
        "How long a process holds an ingestion job without renewing it (it renews every "
        "quarter of this); a job whose process died is taken up by another after this.",
    ),
    Setting(
        "INGEST_POLL_S",
        2.0,
        "How often `companin serve` looks for ingestion jobs other processes queued.",
    ),
    Setting("FETCH_TIMEOUT_S", 20, "Longest time one web page may take to download."),
    Setting("FETCH_MAX_BYTES", 5 * 1024 * 1024, "Largest web page downloaded."),
    Setting(
        "LLM_MODEL",
        "",
        "The chat model that answers customers: any litellm model such as `openai/gpt-4o-mini`, "
        "`anthropic/claude-3-5-haiku-latest` or `ollama/llama3.1` (an assistant's `model` "
        "overrides it). Empty: the built-in offline responder, which answers from the "
        "knowledge alone.",
    ),
    Setting(
        "LLM_API_BASE",
        "",
        "Base URL of the chat model's server, for Ollama, vLLM or any OpenAI-compatible one.",
    ),
    Setting(
        "LLM_API_KEY",
        "",
        "API key of the chat model's provider. Empty: the provider's usual variable "
        "(`OPENAI_API_KEY`, `ANTHROPIC_API_KEY`, ...).",
    ),
    Setting(
        "LLM_TIMEOUT_S",
        30,
        "Longest wait for the model's first word and, when streaming, for each next one; "
        "then the customer gets a 504.",
    ),
    Setting("LLM_MAX_OUTPUT_TOKENS", 512, "Most tokens one reply may have."),
    Setting(
        "ANSWER_CONTEXT_TOKENS",
        2000,
        "Tokens of knowledge passages given to the model for one reply, best passages first.",
    ),
    Setting(
        "ANSWER_HISTORY_TOKENS",
        1000,
        "Tokens of the chat's earlier messages given to the model, the most recent first.",
    ),
    Setting(
        "ANSWER_MIN_SIMILARITY",
        0.40,
        "Cosine similarity a passage of a document or web page must reach for the assistant "
        "to answer from it; when none does, the reply is the assistant's fallback_message and "
        "a handoff (calibrated for the built-in embedder: see `make bench`).",
    ),
    Setting(
        "ANSWER_MIN_SIMILARITY_QA",
        0.32,
        "The same for a Q&A pair, compared by its question: a short question matches a "
        "paraphrase less closely than a long passage matches anything.",
    ),
    Setting("MAX_MESSAGE_CHARS", 4000, "Longest customer message accepted; 422 beyond."),
    Setting(
        "CHAT_MESSAGES_PER_DAY",
        200,
        "Messages one session or conversation may post in a day; 429 beyond.",
    ),
    Setting(
        "CHAT_POLLS_PER_MINUTE",
        60,
        "Reads of a chat's newest messages (`?after=`, the open widget's polling for a team "
        "member's replies) allowed per chat and minute; they spend no organization budget.",
    ),
    Setting(
        "CONSOLE_SIGN_IN_RATE_LIMIT",
        "10/minute",
        "Sign-in attempts to the team's console allowed from one client IP, and the same "
        "again for one email address (flask-limiter syntax).",
    ),
    Setting(
        "CONSOLE_SESSION_HOURS",
        12,
        "How long a sign-in to the team's console lasts, in hours; then the person signs in again.",
    ),
)


def defaults() -> dict[str, Any]:
    """The default value of every setting, keyed by name."""
    return {setting.name: setting.default for setting in SETTINGS}


def from_environment(environ: os._Environ[str] | dict[str, str] = os.environ) -> dict[str, Any]:
    """The settings given as `COMPANIN_*` environment variables, parsed."""
    return {s.name: s.parse(environ[s.env_var]) for s in SETTINGS if s.env_var in environ}


def upload_body_limit(settings: Any) -> int:
    """The request size allowed on the file upload route: the file plus its form fields."""
    return settings["MAX_UPLOAD_BYTES"] + 64 * 1024
