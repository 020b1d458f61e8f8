"""Fetch one web page for the knowledge base, connecting only where the address check allowed.

Which URLs and addresses may be fetched is decided in `addresses` (see its docstring for the
server-side request forgery rules and what `allow_private` allows). `fetch` makes that check
hold on the wire:

- it checks the URL, then connects to exactly the address it checked, never re-resolving the
  name, so a DNS answer that changes between the check and the connection (DNS rebinding)
  cannot slip through; the Host header, TLS SNI and certificate check still use the name;
- it follows redirects itself, checking every hop the same way;
- it ignores proxy settings from the environment, caps the body in bytes and the whole fetch
  (every hop, headers and body) in time.

`FetchError`, `UnsafeURL` and `check_url` are defined in `addresses` and importable from here.
"""

from __future__ import annotations

import codecs
import hashlib
import socket
import threading
import time
from dataclasses import dataclass
from email.message import Message
from urllib.parse import urljoin

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.poolmanager import PoolManager

from .addresses import FetchError, UnsafeURL, check_target, check_url

__all__ = [
    "DEFAULT_USER_AGENT",
    "FetchError",
    "FetchedPage",
    "UnsafeURL",
    "check_url",
    "content_hash",
    "fetch",
]

DEFAULT_USER_AGENT = "CompaninBot/0.1 (+self-hosted support assistant)"


@dataclass(frozen=True)
class FetchedPage:
    """A fetched page. `url` is the final one, after redirects."""

    url: str
    status: int
    content_type: str  # lower-case media type without parameters; "" when the server sent none
    charset: str | None
    body: bytes
    etag: str | None = None
    last_modified: str | None = None


def content_hash(body: bytes) -> str:
    """The hex SHA-256 of a body: what `refresh` compares to tell whether a page changed."""
    return hashlib.sha256(body).hexdigest()


# --- Connecting to the checked address only -----------------------------------------------


class _Deadline:
    """The time budget of one fetch. When it runs out, every socket it watches is shut
    down, which wakes a read blocked on a server that trickles one byte at a time (a
    per-read timeout never fires on such a server)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def remaining(self) -> float:
        return max(0.0, self.end - time.monotonic())

    def passed(self) -> bool:
        # The per-read socket timeout is set to the time remaining, so it may fire just
        # before the timer does: both mean the deadline, and must say so.
        return self.expired or time.monotonic() >= self.end - 0.01

    def watch(self, sock: socket.socket) -> None:
        # A duplicate descriptor: shutting it down stops the connection even after TLS has
        # wrapped (and taken over) the original socket object.
        with self._lock:
            watched = sock.dup()
            self._sockets.append(watched)
            if self.expired:
                watched.shutdown(socket.SHUT_RDWR)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass  # already closed by the reader

    def close(self) -> None:
        self._timer.cancel()
        with self._lock:
            for sock in self._sockets:
                sock.close()
            self._sockets.clear()


@dataclass
class _Pin:
    host: str
    addresses: list[str]
    deadline: _Deadline


class _PinnedConnectionMixin:
    """An urllib3 connection that opens its socket to the checked addresses instead of
    resolving `host` again. `host` stays the name: urllib3 uses it for the Host header, SNI
    and the certificate check."""

    def __init__(self, *args, pin: _Pin, **kwargs) -> None:
        self._pin = pin
        super().__init__(*args, **kwargs)

    def _new_conn(self) -> socket.socket:
        error: Exception | None = None
        for address in self._pin.addresses:
            remaining = self._pin.deadline.remaining()
            if remaining <= 0:
                break
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                for option in self.socket_options or ():
                    sock.setsockopt(*option)
                sock.settimeout(min(remaining, _float_or(self.timeout, remaining)))
                sock.connect((address, self.port))
            except TimeoutError as exc:
                sock.close()
                error = ConnectTimeoutError(self, f"connecting to {address} timed out")
                error.__cause__ = exc
            except OSError as exc:
                sock.close()
                error = NewConnectionError(self, f"cannot connect to {address}: {exc}")
            else:
                self._pin.deadline.watch(sock)
                return sock
        raise error or ConnectTimeoutError(self, "no time left to connect")


def _float_or(value: object, default: float) -> float:
    return value if isinstance(value, int | float) else default


class _PinnedHTTPConnection(_PinnedConnectionMixin, HTTPConnection):
    pass


class _PinnedHTTPSConnection(_PinnedConnectionMixin, HTTPSConnection):
    pass


class _PinnedPoolManager(PoolManager):
    def __init__(self, pin: _Pin, **kwargs) -> None:
        self._pin = pin
        super().__init__(**kwargs)

    def _new_pool(self, scheme, host, port, request_context=None):
        # urllib3 parsed the URL apart from the check: if they disagree about its host, the
        # URL is ambiguous (a parser trick), and the Host header would not be the checked name.
        if host.strip("[]").lower() != self._pin.host.lower():
            raise UnsafeURL(f"the URL's host {host!r} is not the one that was checked")
        pool = super()._new_pool(scheme, host, port, request_context)
        pool.ConnectionCls = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
        pool.conn_kw["pin"] = self._pin
        return pool


class _PinnedAdapter(HTTPAdapter):
    """A requests transport for one request, to one checked host, through no proxy."""

    def __init__(self, pin: _Pin) -> None:
        self._pin = pin
        super().__init__(pool_connections=1, pool_maxsize=1, max_retries=0)

    def init_poolmanager(self, connections, maxsize, block=False, **pool_kwargs):
        self.poolmanager = _PinnedPoolManager(
            self._pin, num_pools=connections, maxsize=maxsize, block=block, **pool_kwargs
        )

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        raise UnsafeURL("fetching through a proxy is not supported")


# --- Fetching --------------------------------------------------------------------------


def fetch(
    url: str,
    *,
    allow_private: bool = False,
    max_bytes: int = 5 * 1024 * 1024,
    timeout_s: float = 20.0,
    max_redirects: int = 5,
    user_agent: str = DEFAULT_USER_AGENT,
    verify: bool | str = True,
) -> FetchedPage:
    """GET `url` safely and return the page (see the module docstring for what "safely" means).

    `timeout_s` bounds the whole fetch, redirects and body included. `verify` is True (the
    certifi bundle) or the path of a CA bundle, for intranets with their own CA: proxy and CA
    settings from the environment are deliberately ignored. Raises UnsafeURL for a refused
    URL or redirect, FetchError for everything else that goes wrong (including a non-2xx
    status, in `.status`).
    """
    deadline = _Deadline(timeout_s)
    session = requests.Session()
    session.trust_env = False  # no proxy, .netrc or CA bundle from the environment
    session.headers["User-Agent"] = user_agent
    session.headers["Accept"] = "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.5"
    try:
        current, redirects = url, 0
        while True:
            response = _get(session, current, allow_private, deadline, verify)
            with response:
                target = session.get_redirect_target(response)
                if target is None:
                    return _page(response, max_bytes, deadline)
            redirects += 1
            if redirects > max_redirects:
                raise FetchError(f"too many redirects (more than {max_redirects})")
            current = urljoin(response.url, target)
    except FetchError:
        raise
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        if deadline.passed():
            raise FetchError(f"gave up after {timeout_s:g} s: the server is too slow") from exc
        raise FetchError(f"could not fetch {url}: {_describe(exc)}") from exc
    finally:
        session.close()
        deadline.close()


def _get(
    session: requests.Session,
    url: str,
    allow_private: bool,
    deadline: _Deadline,
    verify: bool | str,
) -> requests.Response:
    host, addresses = check_target(url, allow_private)
    remaining = deadline.remaining()
    if remaining <= 0:
        raise FetchError(f"gave up after {deadline.seconds:g} s: the server is too slow")
    prepared = session.prepare_request(requests.Request("GET", url))
    adapter = _PinnedAdapter(_Pin(host, addresses, deadline))
    # A fresh adapter per hop: each hop connects only to the addresses checked for it.
    for previous in {id(a): a for a in session.adapters.values()}.values():
        previous.close()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session.send(
        prepared,
        allow_redirects=False,
        stream=True,
        timeout=(remaining, remaining),
        verify=verify,
        proxies={},
    )


def _page(response: requests.Response, max_bytes: int, deadline: _Deadline) -> FetchedPage:
    status = response.status_code
    if not 200 <= status < 300:
        raise FetchError(f"the server answered HTTP {status}", status=status)
    announced = response.headers.get("Content-Length", "")
    if announced.strip().isdigit() and int(announced) > max_bytes:
        raise FetchError(
            f"the page is {int(announced)} bytes, more than the limit of {max_bytes} bytes"
        )
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(64 * 1024):
        size += len(chunk)
        if size > max_bytes:
            raise FetchError(f"the page is larger than the limit of {max_bytes} bytes")
        chunks.append(chunk)
        if deadline.expired:
            break
    if deadline.expired:
        # The shut-down socket may look like a normal end of body: never keep a cut page.
        raise FetchError(f"gave up after {deadline.seconds:g} s: the server is too slow")
    content_type, charset = _content_type(response.headers.get("Content-Type"))
    return FetchedPage(
        url=response.url,
        status=status,
        content_type=content_type,
        charset=charset,
        body=b"".join(chunks),
        etag=response.headers.get("ETag"),
        last_modified=response.headers.get("Last-Modified"),
    )


def _content_type(value: str | None) -> tuple[str, str | None]:
    if not value:
        return "", None
    media_type = value.split(";", 1)[0].strip().lower()
    message = Message()
    message["Content-Type"] = value
    charset = message.get_content_charset()
    if charset:
        try:
            codecs.lookup(charset)
        except LookupError:
            charset = None  # an unknown charset is no better than none: let the parser sniff
    return media_type, charset


def _describe(exc: BaseException) -> str:
    """A short reason for the user, not requests' nested repr of the connection pool."""
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS failed (the certificate could not be verified for this host)"
    if isinstance(exc, requests.exceptions.Timeout):
        return "the server did not answer in time"
    if isinstance(
        exc, requests.exceptions.ChunkedEncodingError | requests.exceptions.ContentDecodingError
    ):
        return "the response was cut off or malformed"
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, NewConnectionError):
            return str(cause).split(": ", 1)[-1]
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, requests.exceptions.ConnectionError):
        return "the connection failed"
    return type(exc).__name__
