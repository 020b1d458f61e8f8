"""A real OpenAI-compatible HTTP server on loopback, for tests that call models through litellm.

Nothing is mocked: the product's litellm call goes over a real socket to this server, which
answers as OpenAI's chat completions API would (or fails in the scripted way). Standard
library only.

    with FakeLLM() as fake:
        fake.script(Reply("Hi there"), Reply(status=429))
        litellm.completion(model="openai/test-model", api_base=fake.base_url,
                           api_key="sk-test-not-real", messages=[...], max_retries=0)
        fake.requests      # the JSON bodies received on chat completions, in order
        fake.embedded      # every text received on embeddings, in order
        release = fake.hold_embeddings("marker")  # such requests wait until release.set()
        fake.disconnects   # streams whose client went away before the end

Streams are sent with `Transfer-Encoding: chunked` and `Connection: close`, one SSE event
per HTTP chunk, so a `drop_after` cut shows up in the client as an incomplete body.
"""

from __future__ import annotations

import hashlib
import json
import math
import select
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["FakeLLM", "Reply"]

EMBEDDING_DIMENSION = 8

_ERROR_TYPES = {
    400: ("invalid_request_error", "invalid_request"),
    401: ("authentication_error", "invalid_api_key"),
    403: ("permission_error", "permission_denied"),
    404: ("not_found_error", "model_not_found"),
    408: ("timeout_error", "timeout"),
    422: ("invalid_request_error", "unprocessable_entity"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
    500: ("server_error", "internal_error"),
    502: ("server_error", "bad_gateway"),
    503: ("server_error", "service_unavailable"),
    504: ("server_error", "gateway_timeout"),
}


@dataclass
class Reply:
    """How the fake answers one chat completion request.

    text: the assistant's answer.
    prompt_tokens: usage.prompt_tokens; None counts whitespace-separated words of all
        message contents of the request.
    completion_tokens: usage.completion_tokens; None counts the words of `text`.
    status: non-200 answers an OpenAI-style error JSON with this status (429 adds
        `Retry-After: 1`).
    chunk_delay: seconds slept before each streamed content chunk.
    chunk_size: characters of `text` per streamed delta.
    stall_after: streaming: after this many content chunks, write nothing more and hang
        until the client goes away or the server stops. Not streaming: hang before
        answering (any value).
    delay: seconds before the first byte of the response.
    raw: send these bytes as the body, status 200, content-type application/json, whether
        streaming or not. Not streamed, malformed JSON makes litellm raise. Streamed, litellm
        parses the body as SSE: b"data: {bad json\n\n" raises, while a body with no
        `data:` line gives an empty reply without any exception.
    drop_after: streaming: after this many content chunks, close the connection abruptly
        (no final chunk, no [DONE], no end of the chunked body).
    """

    text: str = "Hello"
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    status: int = 200
    chunk_delay: float = 0.0
    chunk_size: int = 4
    stall_after: int | None = None
    delay: float = 0.0
    raw: bytes | None = None
    drop_after: int | None = None

    def pieces(self) -> list[str]:
        size = max(1, self.chunk_size)
        return [self.text[i : i + size] for i in range(0, len(self.text), size)]


class _ClientGone(Exception):
    """The client closed its end while we were writing a stream."""


class _Stopped(Exception):
    """The fake is stopping; leave the handler."""


def _words(value) -> int:
    """Whitespace-separated words of a message content (a string or a list of parts)."""
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, list):
        total = 0
        for part in value:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                total += len(part["text"].split())
            elif isinstance(part, str):
                total += len(part.split())
        return total
    return 0


def _embedding(value) -> list[float]:
    """A deterministic unit vector of EMBEDDING_DIMENSION floats from a hash of `value`."""
    data = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    digest = hashlib.sha256(data.encode("utf-8")).digest()
    vector = [(digest[i] - 127.5) / 127.5 for i in range(EMBEDDING_DIMENSION)]
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: FakeLLM


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    server_version = "FakeLLM/1.0"
    # Headers and body go out in separate writes: without TCP_NODELAY the body waits for
    # the client's delayed ACK, 40 ms on every answer.
    disable_nagle_algorithm = True

    # -- plumbing -----------------------------------------------------------------------------

    def setup(self):
        super().setup()
        self.server.fake._track(self.connection, add=True)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.fake._track(self.connection, add=False)

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass

    def _send_json(self, status: int, payload, headers: dict[str, str] | None = None) -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _send_error_json(self, status: int, message: str) -> None:
        kind, code = _ERROR_TYPES.get(
            status, ("api_error" if status >= 500 else "invalid_request_error", str(status))
        )
        headers = {"Retry-After": "1"} if status == 429 else None
        self._send_json(
            status, {"error": {"message": message, "type": kind, "code": code}}, headers
        )

    def _read_json(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw or b"null")
        except ValueError:
            return None

    def _wait(self, seconds: float) -> None:
        """Sleep, but leave at once when the fake stops."""
        if seconds > 0 and self.server.fake._stop_event.wait(seconds):
            raise _Stopped

    def _client_gone(self) -> bool:
        """Has the client closed its end? (A readable socket with nothing to read.)"""
        try:
            # poll, not select: select refuses descriptors past 1024, which a test worker
            # that has opened many databases and stores reaches.
            poller = select.poll()
            poller.register(self.connection, select.POLLIN)
            if not poller.poll(0):
                return False
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    def _hang(self) -> bool:
        """Write nothing until the client goes away (True) or the fake stops (False)."""
        while not self.server.fake._stop_event.wait(0.05):
            if self._client_gone():
                return True
        return False

    # -- routes -------------------------------------------------------------------------------

    def do_GET(self):
        self._not_found()

    def do_other(self):
        self._read_json()  # drain any body so the connection stays usable
        self._not_found()

    do_PUT = do_PATCH = do_DELETE = do_other

    def do_POST(self):
        path = self.path.split("?", 1)[0].rstrip("/")
        try:
            if path in ("/v1/chat/completions", "/chat/completions"):
                self._chat_completions()
            elif path in ("/v1/embeddings", "/embeddings"):
                self._embeddings()
            else:
                self._read_json()
                self._not_found()
        except _Stopped:
            self.close_connection = True
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True

    def _not_found(self):
        self._send_json(
            404,
            {
                "error": {
                    "message": f"No route {self.command} {self.path}",
                    "type": "invalid_request_error",
                    "code": "not_found",
                }
            },
        )

    def _embeddings(self):
        body = self._read_json()
        if not isinstance(body, dict) or "input" not in body:
            self._send_error_json(400, "Body must be a JSON object with `input`.")
            return
        inputs = body["input"]
        if isinstance(inputs, str) or (
            isinstance(inputs, list) and inputs and isinstance(inputs[0], int)
        ):
            inputs = [inputs]
        if not self.server.fake._pass_hold(inputs):
            return  # the fake stopped while this request was held
        data = [
            {"object": "embedding", "index": i, "embedding": _embedding(value)}
            for i, value in enumerate(inputs)
        ]
        tokens = sum(_words(v) if isinstance(v, str) else len(v) for v in inputs)
        self._send_json(
            200,
            {
                "object": "list",
                "data": data,
                "model": body.get("model", "fake-embedding"),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
        )

    def _chat_completions(self):
        fake = self.server.fake
        body = self._read_json()
        if not isinstance(body, dict):
            self._send_error_json(400, "Body must be a JSON object.")
            return
        fake._record(body)
        reply = fake._next_reply()
        stream = bool(body.get("stream"))

        self._wait(reply.delay)
        if reply.stall_after is not None and not stream:
            self._hang()
            self.close_connection = True
            return
        if reply.raw is not None:
            self._send_json(200, reply.raw)
            return
        if reply.status != 200:
            self._send_error_json(reply.status, f"Scripted failure with status {reply.status}.")
            return

        messages = body.get("messages") or []
        prompt_tokens = reply.prompt_tokens
        if prompt_tokens is None:
            prompt_tokens = sum(_words(m.get("content")) for m in messages if isinstance(m, dict))
        completion_tokens = reply.completion_tokens
        if completion_tokens is None:
            completion_tokens = len(reply.text.split())
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        ident = f"chatcmpl-fake{fake._next_id()}"
        created = int(time.time())
        model = body.get("model", "")

        if not stream:
            self._send_json(
                200,
                {
                    "id": ident,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": reply.text},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": usage,
                },
            )
            return

        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        self._stream(reply, ident, created, model, usage if include_usage else None)

    def _stream(self, reply: Reply, ident: str, created: int, model: str, usage) -> None:
        fake = self.server.fake
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()

        def chunk(choices, **extra) -> dict:
            return {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": choices,
                **extra,
            }

        def write(payload) -> None:
            data = payload if isinstance(payload, str) else json.dumps(payload)
            event = f"data: {data}\n\n".encode()
            try:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError) as exc:
                raise _ClientGone from exc

        try:
            write(
                chunk(
                    [
                        {
                            "index": 0,
                            "delta": {"role": "assistant", "content": ""},
                            "finish_reason": None,
                        }
                    ]
                )
            )
            for sent, piece in enumerate(reply.pieces()):
                if reply.stall_after is not None and sent >= reply.stall_after:
                    if self._hang():
                        raise _ClientGone
                    return
                if reply.drop_after is not None and sent >= reply.drop_after:
                    self._drop()
                    return
                self._wait(reply.chunk_delay)
                write(chunk([{"index": 0, "delta": {"content": piece}, "finish_reason": None}]))
            if reply.stall_after is not None and reply.stall_after >= len(reply.pieces()):
                if self._hang():
                    raise _ClientGone
                return
            if reply.drop_after is not None:
                self._drop()
                return
            write(chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}]))
            if usage is not None:
                write(chunk([], usage=usage))
            write("[DONE]")
            try:
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError) as exc:
                raise _ClientGone from exc
        except _ClientGone:
            fake._count_disconnect()

    def _drop(self) -> None:
        """Close the connection abruptly, mid-body."""
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class FakeLLM:
    """An OpenAI-compatible chat completions server on 127.0.0.1, in a daemon thread.

    Use as a context manager, or call start() and stop(). `base_url` ends in /v1 and is what
    litellm takes as api_base for `openai/...` models.
    """

    # What start() serves with: a subclass may swap in its own.
    server_class: type[ThreadingHTTPServer] = _Server
    handler_class: type[BaseHTTPRequestHandler] = _Handler

    def __init__(self) -> None:
        self.default = Reply()
        self.requests: list[dict] = []
        self.embedded: list[str] = []
        self.held = threading.Event()  # set once a request met a hold
        self._holds: dict[str, threading.Event] = {}
        self.disconnects = 0
        self._lock = threading.Lock()
        self._queue: deque[Reply] = deque()
        self._stop_event = threading.Event()
        self._connections: set[socket.socket] = set()
        self._ids = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    # -- scripting ----------------------------------------------------------------------------

    def script(self, *replies: Reply) -> FakeLLM:
        """Queue replies, consumed one per chat completion request; then `default` is used."""
        with self._lock:
            self._queue.extend(replies)
        return self

    def hold_embeddings(self, marker: str) -> threading.Event:
        """Keep each embeddings request with an input containing `marker` waiting (`held` is
        set when one arrives) until the returned event is set. What a held request carried
        is counted in `embedded` only once it is let through."""
        release = threading.Event()
        with self._lock:
            self._holds[marker] = release
        return release

    @property
    def port(self) -> int:
        assert self._server is not None, "FakeLLM is not started"
        return self._server.server_address[1]

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> FakeLLM:
        if self._server is not None:
            return self
        self._stop_event.clear()
        self._server = self.server_class(("127.0.0.1", 0), self.handler_class)
        self._server.fake = self
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="FakeLLM",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stop_event.set()
        server.shutdown()
        server.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeLLM:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # -- used by the handler ------------------------------------------------------------------

    def _record(self, body: dict) -> None:
        with self._lock:
            self.requests.append(body)

    def _pass_hold(self, inputs: list) -> bool:
        """Wait out any hold on these inputs, then count them; False if stopped meanwhile."""
        texts = [value for value in inputs if isinstance(value, str)]
        with self._lock:
            holds = [e for m, e in self._holds.items() if any(m in t for t in texts)]
        for release in holds:
            self.held.set()
            while not release.wait(0.05):
                if self._stop_event.is_set():
                    return False
        with self._lock:
            self.embedded.extend(texts)
        return True

    def _next_reply(self) -> Reply:
        with self._lock:
            return self._queue.popleft() if self._queue else self.default

    def _next_id(self) -> int:
        with self._lock:
            self._ids += 1
            return self._ids

    def _count_disconnect(self) -> None:
        with self._lock:
            self.disconnects += 1

    def _track(self, connection: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)
