"""Console forms, checked as the API checks a JSON body, and what a refused one says.

A form's fields are loaded by the API's own marshmallow schema (`load_form`), so that a
rule is written once; a refusal is shown on the form again, worded as the API words it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import marshmallow as ma

from ..errors import CompaninError, Conflict, PayloadTooLarge, ValidationFailed, error_body
from ..llm.errors import ProviderError

# Field names whose plain spelling reads oddly in a message.
LABELS = {
    "url": "URL",
    "crawl max_pages": "Pages to crawl",
    "assistant_id": "Assistant",
    "primary_color": "Colour",
}


class FormRefused(CompaninError):
    """A console form that the API's schema refused; `lines` says what is wrong with each
    field ("Allowed origins, line 2: Not a valid origin.")."""

    code = 422
    description = "Some fields need another value"

    def __init__(self, messages: Any) -> None:
        self.lines = list(_described(messages))
        super().__init__(" ".join(self.lines))


def load_form(schema: ma.Schema, data: dict[str, Any]) -> dict[str, Any]:
    """`data` as the API's schema loads it: a form obeys the same rules as a JSON body."""
    try:
        return schema.load(data)
    except ma.ValidationError as error:
        raise FormRefused(error.messages) from None


# What a form shows on itself, with its status: the input, or the moment, is wrong (a
# refused field, a refresh already running, a model that failed). A missing or forbidden
# id is not among them: it is a page of its own (404, 403).
REFUSALS = (FormRefused, ValidationFailed, Conflict, PayloadTooLarge, ProviderError)


def refusal(error: Exception) -> tuple[str, int]:
    """The readable message and the status of a refusal, as the API would word them
    (and log them: a model's failure is worth a line in the log)."""
    body = error_body(error)
    return body["detail"], body["status_code"]


def refusal_lines(error: Exception) -> tuple[list[str], int]:
    """`refusal`, one line per refused field."""
    message, status = refusal(error)
    return (error.lines if isinstance(error, FormRefused) else [message]), status


def uuid_or_none(value: str | None) -> uuid.UUID | None:
    """A UUID sent by a page (a script, a filter), or None for anything else."""
    try:
        return uuid.UUID(value or "")
    except ValueError:
        return None


def _described(messages: Any, field: str = "") -> Iterator[str]:
    """Marshmallow's nested messages as "Field: message." lines; an item of a list is
    named by its line in the form's text box."""
    if isinstance(messages, dict):
        for key, value in messages.items():
            if isinstance(key, int):
                yield from _described(value, f"{field}, line {key + 1}")
            elif key in ("_schema", "theme"):  # the whole form; the theme's own fields
                yield from _described(value, field)
            else:
                yield from _described(value, f"{field} {key}".strip())
    elif isinstance(messages, list):
        for message in messages:
            yield from _described(message, field)
    else:
        name, _, line = field.partition(",")
        label = LABELS.get(name, name.replace("_", " ").capitalize())
        yield f"{label}{',' + line if line else ''}: {messages}" if label else str(messages)
