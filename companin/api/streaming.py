"""Server-sent events: a reply streamed to the client as the model writes it.

`event: delta` (`{"text": ...}`) for each piece, then `event: done` with the envelope the
same request without streaming would get, or `event: error` with an error envelope: a
stream always ends with one of the two. Proxies are asked not to buffer
(`X-Accel-Buffering: no`). When the client goes away, the server stops iterating and
closes the generator, which ends the model call.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from flask import Response, stream_with_context

from ..errors import error_body


def event(kind: str, data: Any) -> str:
    """One server-sent event."""
    return f"event: {kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def event_stream(
    events: Iterable[tuple[str, Any]], done: Callable[[Any], dict[str, Any]]
) -> Response:
    """Stream `events` (`("delta", {...})`, then `("done", value)`); `done(value)` gives the
    final envelope."""

    def generate() -> Iterator[str]:
        try:
            for kind, value in events:
                yield event(kind, done(value) if kind == "done" else value)
        except Exception as error:  # noqa: BLE001 - the stream must end with an error event
            yield event("error", error_body(error))

    response = Response(stream_with_context(generate()), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"
    return response
