"""Fetch one web page for the knowledge base without letting a URL reach what it should not.

A URL given to the knowledge base is chosen by a customer of the install, so fetching it is
a classic server-side request forgery risk: it could point at the cloud metadata service,
at the admin port of something on the same host, or at the office network. `fetch` therefore:

- accepts only http and https URLs without user names or passwords;
- resolves the host itself and refuses it when ANY address it resolves to is not a public
  one (private, loopback, link-local, carrier-grade NAT, multicast, reserved, unspecified,
  site-local, or an IPv6 form that embeds such an IPv4 address);
- then connects to exactly the address it checked, never re-resolving the name, so a DNS
  answer that changes between the check and the connection (DNS rebinding) cannot slip
  through; the Host header, TLS SNI and certificate check still use the name;
- follows redirects itself, checking every hop the same way;
- ignores proxy settings from the environment, caps the body in bytes and the whole fetch
  (every hop, headers and body) in time.

`allow_private=True` (COMPANIN_INGEST_ALLOW_PRIVATE_URLS=1) is for intranet installs and
tests: it allows private, loopback, CGNAT and site-local addresses, but never link-local
(where cloud metadata services live), multicast, reserved or unspecified ones, which no
web page is served from.
"""

from __future__ import annotations

import codecs
import hashlib
import ipaddress
import re
import socket
import threading
import time
from dataclasses import dataclass
from email.message import Message
from urllib.parse import urljoin, urlsplit

import idna  # requests' own dependency: hosts are encoded as requests encodes them
import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.poolmanager import PoolManager

DEFAULT_USER_AGENT = "CompaninBot/0.1 (+self-hosted support assistant)"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


class FetchError(Exception):
    """A page that could not be fetched. The message is shown to the user as the source's error."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class UnsafeURL(FetchError):
    """A URL refused before any connection: wrong scheme, credentials, or a non-public address."""


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


# --- Which addresses may be reached -------------------------------------------------------


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (6to4, Teredo, local NAT64, IPv4-compatible)."""
    found = []
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    if ip in _NAT64_LOCAL or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def _refusal(ip: IPAddress, allow_private: bool) -> tuple[IPAddress, str] | None:
    """Why `ip` may not be reached: the offending address (`ip` or one it embeds) and its
    kind of range; None when it may be reached."""
    if isinstance(ip, ipaddress.IPv6Address):
        # The kernel sends ::ffff:a.b.c.d to a.b.c.d, and a NAT64 gateway 64:ff9b::a.b.c.d
        # to a.b.c.d: such addresses are judged as the IPv4 address they stand for.
        if ip.ipv4_mapped is not None:
            return _refusal(ip.ipv4_mapped, allow_private)
        if ip in _NAT64:
            return _refusal(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), allow_private)
        for inner in _embedded_ipv4(ip):
            refused = _refusal(inner, allow_private)
            if refused:
                return refused
    kind = _range_kind(ip, allow_private)
    return (ip, kind) if kind else None


def _range_kind(ip: IPAddress, allow_private: bool) -> str | None:
    # Never a web page, whatever the setting: the metadata service sits on link-local.
    if ip.is_unspecified or ip in _THIS_NETWORK:
        return "unspecified"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_loopback:  # before "reserved", which in IPv6 (::/8) includes ::1
        return None if allow_private else "loopback"
    if ip.is_reserved:
        return "reserved"
    if allow_private:
        return None
    if ip in _CGNAT:
        return "carrier-grade NAT"
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return "site-local"
    if ip.is_private or ip in _NAT64_LOCAL:
        return "private"
    if not ip.is_global:
        return "non-public"
    return None


def _loose_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """Read `host` the way inet_aton does: 2130706433, 0177.0.0.1, 0x7f000001 and 127.1 all
    mean 127.0.0.1 to the resolver, so they must mean it to the check too."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    numbers = []
    for part in parts:
        if re.fullmatch(r"0[xX][0-9a-fA-F]*", part):
            numbers.append(int(part[2:] or "0", 16))
        elif re.fullmatch(r"0[0-7]*", part):
            numbers.append(int(part, 8))
        elif re.fullmatch(r"[1-9][0-9]*", part):
            numbers.append(int(part))
        else:
            return None
    *head, last = numbers
    # Each leading part is one byte; the last fills the bytes that remain.
    if any(n > 255 for n in head) or last >= 256 ** (4 - len(head)):
        return None
    value = last
    for index, n in enumerate(head):
        value += n << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def _ascii_host(host: str) -> str:
    """The host as DNS and requests see it (IDNA), so we check the name that is sent."""
    if host.isascii():
        return host
    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except UnicodeError as exc:  # idna.IDNAError is one
        raise UnsafeURL(f"the host name {host!r} is not valid") from exc


def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(f"cannot resolve the host name {host!r}") from exc
    addresses: list[IPAddress] = []
    for info in infos:
        ip = ipaddress.ip_address(info[4][0])
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise FetchError(f"the host name {host!r} has no address")
    return addresses


def check_url(url: str, allow_private: bool = False) -> list[str]:
    """Check that `url` may be fetched; return the addresses a connection may then use.

    Raises UnsafeURL for a refused URL (scheme, credentials, a non-public address among those
    the host resolves to) and FetchError when the host does not resolve. Nothing is sent to
    the host: a literal address is never resolved, a name only through the system resolver.
    """
    return _check(url, allow_private)[1]


def _check(url: str, allow_private: bool) -> tuple[str, list[str]]:
    if _CONTROL_CHARS.search(url):
        raise UnsafeURL("the URL contains control characters")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise UnsafeURL(f"not a valid URL: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UnsafeURL(f"only http and https URLs can be fetched, not {scheme or 'no scheme'}:")
    if "@" in parts.netloc:
        raise UnsafeURL("URLs with a user name or password are refused")
    if "\\" in parts.netloc:
        raise UnsafeURL("the URL's host part contains a backslash")
    if not parts.hostname:
        raise UnsafeURL("the URL has no host")
    host = _ascii_host(parts.hostname)
    port = port or (443 if scheme == "https" else 80)

    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = _loose_ipv4(host)
    addresses = [literal] if literal is not None else _resolve(host, port)
    for ip in addresses:
        refused = _refusal(ip, allow_private)
        if refused:
            offending, kind = refused
            address = f"{ip}" if offending == ip else f"{ip} (which embeds {offending})"
            if literal is None:
                subject = f"{host} resolves to {address},"
            elif host.strip("[]") != ip.compressed:
                subject = f"{host} is {address},"  # an odd notation: show what it means
            else:
                subject = f"{address} is"
            raise UnsafeURL(f"refused: {subject} a {kind} address, not a public one")
    # Scope ids (fe80::1%eth0) never get here: link-local addresses are always refused.
    return host, [ip.compressed for ip in addresses]


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
    host, addresses = _check(url, allow_private)
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
