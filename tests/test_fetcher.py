"""Fetching a web page for the knowledge base: SSRF refusals, redirects, limits, no proxy.

Every page comes from a real HTTP server the test starts on loopback. Nothing may reach any
other address: a guard on socket.connect (the OS boundary, not Companin) records each
connection and turns any non-loopback one into "connection refused" before a packet leaves,
so a refusal test shows both "UnsafeURL" and "no connection was even tried". Host names
other than localhost are answered by a fake resolver (socket.getaddrinfo), never by DNS.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import shutil
import socket
import ssl
import subprocess
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import requests
from engines import no_engine_used

from companin.knowledge.fetcher import (
    FetchError,
    UnsafeURL,
    check_url,
    content_hash,
    fetch,
)

pytestmark = no_engine_used

Route = Callable[[BaseHTTPRequestHandler], None]


# --- A real local web server ----------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, routes: dict[str, Route], family=socket.AF_INET) -> None:
        self.address_family = family
        self.routes = routes
        self.requests: list[tuple[str, str]] = []  # (path, Host header)
        self.stopping = threading.Event()
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.server.requests.append((self.path, self.headers.get("Host", "")))
        route = self.server.routes.get(urlsplit(self.path).path)
        try:
            (route or _not_found)(self)
        except OSError:
            pass  # the client hung up, as it should on a slow or endless body

    def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's name
        pass


@contextlib.contextmanager
def serve(
    routes: dict[str, Route], host: str = "127.0.0.1", tls: ssl.SSLContext | None = None
) -> Iterator[_Server]:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    server = _Server((host, 0), routes, family)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join()


def base(server: _Server) -> str:
    host, port = server.server_address[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def respond(
    handler: BaseHTTPRequestHandler, body: bytes = b"", status: int = 200, **headers: str
) -> None:
    handler.send_response(status)
    headers.setdefault("Content_Type", "text/html; charset=utf-8")
    headers.setdefault("Content_Length", str(len(body)))
    for name, value in headers.items():
        handler.send_header(name.replace("_", "-"), value)
    handler.end_headers()
    handler.wfile.write(body)


def page(body: bytes, **headers: str) -> Route:
    return lambda handler: respond(handler, body, **headers)


def redirect(location: str, status: int = 302) -> Route:
    return lambda handler: respond(handler, b"", status, Location=location)


def _not_found(handler: BaseHTTPRequestHandler) -> None:
    respond(handler, b"not here", 404)


# How long a slow or endless answer goes on at most: far beyond any deadline under test, so
# a fetcher without one fails its test instead of hanging the run.
GIVE_UP_S = 5.0
ENDLESS_CHUNKS = 16_384  # of 4 KiB: 64 MiB, far beyond any byte cap under test


def _serving(handler: BaseHTTPRequestHandler, started: float) -> bool:
    return not handler.server.stopping.is_set() and time.monotonic() - started < GIVE_UP_S


def trickle(handler: BaseHTTPRequestHandler, data: bytes, every_s: float = 0.2) -> None:
    """Write one byte at a time until the client leaves (or GIVE_UP_S)."""
    started = time.monotonic()
    for byte in data:
        if not _serving(handler, started):
            return
        handler.wfile.write(bytes([byte]))
        handler.wfile.flush()
        time.sleep(every_s)


def endless_chunks(handler: BaseHTTPRequestHandler) -> None:
    """A fast chunked body that does not end until the client leaves (or GIVE_UP_S)."""
    chunk = b"%x\r\n%s\r\n" % (4096, b"x" * 4096)
    started = time.monotonic()
    for _ in range(ENDLESS_CHUNKS):
        if not _serving(handler, started):
            break
        handler.wfile.write(chunk)
    handler.wfile.write(b"0\r\n\r\n")


@pytest.fixture
def site() -> Iterator[_Server]:
    routes = {
        "/": page(b"<h1>Hello</h1>"),
        "/doc": page(
            "<p>Café</p>".encode("latin-1"),
            Content_Type="text/html; Charset=ISO-8859-1",
            ETag='"v1"',
            Last_Modified="Wed, 21 Oct 2015 07:28:00 GMT",
        ),
    }
    with serve(routes) as server:
        yield server


@pytest.fixture
def port(site) -> int:
    return site.server_address[1]


@pytest.fixture(autouse=True)
def connections(monkeypatch) -> list[str]:
    """Every address a socket connects to; any non-loopback one is refused before sending."""
    attempts: list[str] = []
    real_connect = socket.socket.connect

    def guarded_connect(sock, address):
        host = str(address[0])
        attempts.append(host)
        if not ipaddress.ip_address(host.split("%")[0]).is_loopback:
            raise ConnectionRefusedError(f"test guard: no traffic to {host}")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    return attempts


def fake_dns(monkeypatch, answers: dict[str, Callable[[int], list[str]]]) -> dict[str, int]:
    """Answer getaddrinfo for the given names (call number -> addresses); count the calls."""
    real_getaddrinfo = socket.getaddrinfo
    calls = dict.fromkeys(answers, 0)

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in answers:
            return real_getaddrinfo(host, port, *args, **kwargs)
        calls[host] += 1
        addresses = answers[host](calls[host])
        if not addresses:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (a, port or 0, 0, 0))
            if ":" in a
            else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port or 0))
            for a in addresses
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return calls


# --- Pages that may be fetched ----------------------------------------------------------


def test_fetches_a_local_page_when_private_addresses_are_allowed(site, port):
    fetched = fetch(f"http://127.0.0.1:{port}/doc", allow_private=True)

    assert fetched.url == f"http://127.0.0.1:{port}/doc"
    assert fetched.status == 200
    assert fetched.content_type == "text/html"
    assert fetched.charset == "iso-8859-1"
    assert fetched.body.decode(fetched.charset) == "<p>Café</p>"
    assert fetched.etag == '"v1"'
    assert fetched.last_modified == "Wed, 21 Oct 2015 07:28:00 GMT"
    assert content_hash(fetched.body) == hashlib.sha256(fetched.body).hexdigest()


def test_missing_or_unknown_content_type_and_charset():
    routes = {
        "/bare": lambda h: (
            h.send_response(200),
            h.send_header("Content-Length", "2"),
            h.end_headers(),
            h.wfile.write(b"hi"),
        ),
        "/odd": page(b"hi", Content_Type="text/plain; charset=x-no-such-charset"),
    }
    with serve(routes) as server:
        bare = fetch(base(server) + "/bare", allow_private=True)
        odd = fetch(base(server) + "/odd", allow_private=True)
    assert (bare.content_type, bare.charset, bare.body) == ("", None, b"hi")
    assert (odd.content_type, odd.charset) == ("text/plain", None)


def test_content_hash_is_the_sha256_hex_of_the_body():
    digest = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    assert content_hash(b"hello") == digest
    assert content_hash(b"hello!") != digest


def test_a_name_is_connected_to_at_the_checked_address_with_its_own_host_header(
    site, port, connections
):
    fetched = fetch(f"http://localhost:{port}/", allow_private=True)

    assert fetched.body == b"<h1>Hello</h1>"
    assert site.requests == [("/", f"localhost:{port}")]
    assert connections and all(ipaddress.ip_address(a).is_loopback for a in connections)


def test_ipv6_loopback_page_when_private_addresses_are_allowed():
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    with serve({"/": page(b"six")}, host="::1") as server:
        fetched = fetch(base(server) + "/", allow_private=True)
    assert fetched.body == b"six"
    assert fetched.url.startswith("http://[::1]:")


@pytest.mark.parametrize(
    "url",
    [
        "http://93.184.215.14/",
        "https://134744072/",  # 8.8.8.8 in decimal: an odd notation, but a public address
        "http://[2606:4700:4700::1111]/",
        "http://[::ffff:8.8.8.8]/",
        "http://[64:ff9b::808:808]/",  # 8.8.8.8 through a NAT64 gateway
    ],
)
def test_public_addresses_pass_the_check(url, connections):
    addresses = check_url(url)
    assert len(addresses) == 1 and ipaddress.ip_address(addresses[0]).is_global
    assert connections == []  # checking is not connecting


# --- Refused before any connection ------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://127.0.0.1:{port}/", "loopback"),
        ("http://[::1]:{port}/", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://0.0.0.0:{port}/", "unspecified"),
        ("http://0:{port}/", "unspecified"),
        ("http://[::]:{port}/", "unspecified"),
        ("http://2130706433:{port}/", "loopback"),
        ("http://0177.0.0.1:{port}/", "loopback"),
        ("http://017700000001:{port}/", "loopback"),
        ("http://0x7f000001:{port}/", "loopback"),
        ("http://0x7f.0.0.1:{port}/", "loopback"),
        ("http://127.1:{port}/", "loopback"),
        ("http://localhost:{port}/", "loopback"),
        ("http://LocalHost:{port}/", "loopback"),
        ("http://100.64.0.1/", "carrier-grade NAT"),
        ("http://10.0.0.1/", "private"),
        ("http://172.16.5.4/", "private"),
        ("http://192.168.1.1/", "private"),
        ("http://[fc00::1]/", "private"),
        ("http://[fd12:3456::1]/", "private"),
        ("http://[fec0::1]/", "site-local"),
        ("http://[fe80::1]/", "link-local"),
        ("http://[::ffff:127.0.0.1]:{port}/", "loopback"),
        ("http://[::ffff:a9fe:a9fe]/", "link-local"),
        ("http://[64:ff9b::a9fe:a9fe]/", "link-local"),  # NAT64 of the metadata service
        ("http://[2002:7f00:1::1]/", "loopback"),  # 6to4 of 127.0.0.1
        ("http://[::7f00:1]/", "loopback"),  # IPv4-compatible 127.0.0.1
        ("http://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/", "private"),  # Teredo, 10.0.0.1
        ("http://224.0.0.1/", "multicast"),
        ("http://[ff02::1]/", "multicast"),
        ("http://240.0.0.1/", "reserved"),
        ("http://255.255.255.255/", "reserved"),
    ],
)
def test_non_public_addresses_are_refused_before_connecting(site, port, connections, url, kind):
    start = time.monotonic()
    with pytest.raises(UnsafeURL) as refused:
        fetch(url.format(port=port), timeout_s=2)

    assert time.monotonic() - start < 1.0
    assert kind in str(refused.value)
    assert "Traceback" not in str(refused.value)
    assert connections == []
    assert site.requests == []


def test_refusal_names_the_host_and_the_address_it_means(port):
    with pytest.raises(UnsafeURL, match=r"localhost resolves to (127\.0\.0\.1|::1)"):
        fetch(f"http://localhost:{port}/")
    with pytest.raises(UnsafeURL, match=r"2130706433 is 127\.0\.0\.1, a loopback address"):
        fetch(f"http://2130706433:{port}/")


def test_a_name_is_refused_when_any_of_its_addresses_is_private(monkeypatch, connections):
    fake_dns(monkeypatch, {"mixed.test": lambda call: ["93.184.215.14", "10.1.2.3"]})

    with pytest.raises(UnsafeURL, match=r"mixed\.test resolves to 10\.1\.2\.3, a private"):
        fetch("http://mixed.test/")
    assert connections == []


def test_a_name_resolving_to_a_mapped_metadata_address_is_refused_even_for_intranets(
    monkeypatch, connections
):
    fake_dns(monkeypatch, {"mapped.test": lambda call: ["::ffff:169.254.169.254"]})

    with pytest.raises(UnsafeURL, match="link-local"):
        fetch("http://mapped.test/", allow_private=True)
    assert connections == []


def test_the_connection_goes_to_the_checked_address_not_a_second_dns_answer(
    site, port, monkeypatch, connections
):
    # DNS rebinding: the first answer is public (and passes), a second would be loopback.
    # A fetcher that resolves again when connecting would reach the local server.
    calls = fake_dns(
        monkeypatch,
        {"rebind.test": lambda call: ["93.184.215.14"] if call == 1 else ["127.0.0.1"]},
    )

    with pytest.raises(FetchError) as failed:
        fetch(f"http://rebind.test:{port}/", timeout_s=2)

    assert not isinstance(failed.value, UnsafeURL)
    assert connections == ["93.184.215.14"]  # tried, and stopped by the guard
    assert calls["rebind.test"] == 1
    assert site.requests == []


def test_a_name_that_does_not_resolve_is_a_fetch_error(monkeypatch):
    fake_dns(monkeypatch, {"nowhere.test": lambda call: []})
    with pytest.raises(FetchError, match="cannot resolve") as failed:
        fetch("http://nowhere.test/")
    assert not isinstance(failed.value, UnsafeURL)


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/",
        "http://0.0.0.0:{port}/",
        "http://224.0.0.1/",
        "http://[::ffff:169.254.169.254]/",
    ],
)
def test_intranet_setting_never_allows_metadata_multicast_or_unspecified(port, connections, url):
    with pytest.raises(UnsafeURL):
        fetch(url.format(port=port), allow_private=True, timeout_s=2)
    assert connections == []


@pytest.mark.parametrize(
    "url", ["http://10.0.0.1/", "http://100.64.0.1/", "http://[fd00::5]/", "http://127.0.0.1/"]
)
def test_intranet_setting_allows_private_ranges(url):
    assert check_url(url, allow_private=True) == [urlsplit(url).hostname]
    with pytest.raises(UnsafeURL):
        check_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://127.0.0.1:{port}/",
        "file:///etc/passwd",
        "gopher://127.0.0.1:{port}/_GET",
        "javascript:alert(1)",
        "//127.0.0.1:{port}/",
        "127.0.0.1:{port}/",
        "http://user:pass@127.0.0.1:{port}/",
        "http://user@127.0.0.1:{port}/",
        "http:///no-host",
        "http://127.0.0.1:99999/",
        "http://127.0.0.1:{port}/\r\nX-Injected: yes",
    ],
)
def test_other_schemes_credentials_and_malformed_urls_are_refused(site, port, connections, url):
    # Even with private addresses allowed: these are refused for what they are, not where.
    with pytest.raises(UnsafeURL):
        fetch(url.format(port=port), allow_private=True, timeout_s=2)
    assert connections == []
    assert site.requests == []


# --- Redirects --------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_are_followed_to_the_final_page(status):
    with serve({"/final": page(b"arrived")}) as other:
        routes = {
            "/start": redirect("next", status),  # relative
            "/next": redirect(base(other) + "/final", status),  # another server
        }
        with serve(routes) as first:
            fetched = fetch(base(first) + "/start", allow_private=True)

    assert fetched.url == base(other) + "/final"
    assert fetched.body == b"arrived"
    assert [path for path, _ in first.requests] == ["/start", "/next"]


@pytest.mark.parametrize(
    "location",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/",
        "http://0.0.0.0:{port}/",
        "file:///etc/passwd",
        "ftp://127.0.0.1:{port}/",
        "http://user:pass@127.0.0.1:{port}/",
    ],
)
def test_every_redirect_hop_is_checked(site, port, connections, location):
    # The first hop is allowed (intranet setting); where it points is refused all the same.
    with serve({"/go": redirect(location.format(port=port))}) as first:
        start = time.monotonic()
        with pytest.raises(UnsafeURL):
            fetch(base(first) + "/go", allow_private=True, timeout_s=5)
        assert time.monotonic() - start < 1
        assert [path for path, _ in first.requests] == ["/go"]
    assert site.requests == []
    assert all(ipaddress.ip_address(a).is_loopback for a in connections)


PUBLIC_IP = "93.184.215.14"


@pytest.fixture
def public_site(monkeypatch, connections) -> Iterator[str]:
    """A site that looks public, served from loopback: `docs.public.test` resolves to a
    public address (fake DNS), and connections to that address are translated to
    127.0.0.1 at the socket (a test-only NAT), so nothing leaves the machine. The site's
    /go redirects to the `to` query parameter."""
    fake_dns(monkeypatch, {"docs.public.test": lambda call: [PUBLIC_IP]})
    guarded_connect = socket.socket.connect  # the loopback guard, which still applies

    def nat_connect(sock, address):
        if address[0] == PUBLIC_IP:
            address = ("127.0.0.1", *address[1:])
        return guarded_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", nat_connect)

    def go(handler):
        target = parse_qs(urlsplit(handler.path).query)["to"][0]
        respond(handler, b"", 302, Location=target)

    with serve({"/go": go, "/final": page(b"public page")}) as server:
        yield f"http://docs.public.test:{server.server_address[1]}"


def test_a_public_page_may_redirect_to_another_public_page(public_site):
    fetched = fetch(public_site + "/go?to=/final")
    assert fetched.url == public_site + "/final"
    assert fetched.body == b"public page"


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:{port}/",
        "http://localhost:{port}/",
        "http://[::1]:{port}/",
        "http://2130706433:{port}/",
        "http://10.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
    ],
)
def test_a_public_page_redirecting_to_an_internal_address_is_refused(
    public_site, site, port, connections, target
):
    # The default policy, end to end: the first hop passes as public, the second is refused
    # before any connection to it (the internal site hears nothing).
    with pytest.raises(UnsafeURL, match="refused"):
        fetch(public_site + "/go?to=" + quote(target.format(port=port), safe=""))
    assert site.requests == []
    assert connections == ["127.0.0.1"]  # the public site's, through the test NAT


def test_redirect_chains_stop_at_max_redirects():
    routes = {f"/hop{n}": redirect(f"/hop{n - 1}") for n in range(1, 5)}
    routes["/hop0"] = page(b"end")
    routes["/loop"] = redirect("/loop")
    with serve(routes) as server:
        assert fetch(base(server) + "/hop3", allow_private=True, max_redirects=3).body == b"end"
        with pytest.raises(FetchError, match="too many redirects"):
            fetch(base(server) + "/hop3", allow_private=True, max_redirects=2)
        server.requests.clear()
        with pytest.raises(FetchError, match="too many redirects"):
            fetch(base(server) + "/loop", allow_private=True, max_redirects=4)
        assert len(server.requests) == 5  # the first request and four redirects


@pytest.mark.parametrize("status", [404, 500, 304])
def test_a_non_2xx_answer_is_a_fetch_error_with_its_status(status):
    with serve({"/x": lambda h: respond(h, b"nope", status)}) as server:
        with pytest.raises(FetchError) as failed:
            fetch(base(server) + "/x", allow_private=True)
    assert failed.value.status == status
    assert str(status) in str(failed.value)


def test_connection_failures_read_as_a_sentence():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]  # nothing listens once the probe is closed
    with pytest.raises(FetchError) as failed:
        fetch(f"http://127.0.0.1:{dead_port}/", allow_private=True)
    message = str(failed.value)
    assert not isinstance(failed.value, UnsafeURL)
    assert "refused" in message.lower()
    assert "HTTPConnectionPool" not in message and " object at 0x" not in message


# --- Time and size limits ---------------------------------------------------------------


def _trickled_body_with_length(handler):
    handler.send_response(200)
    handler.send_header("Content-Length", "100000")
    handler.end_headers()
    trickle(handler, b"x" * 100000)


def _trickled_chunked_body(handler):
    handler.send_response(200)
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    trickle(handler, b"1\r\nx\r\n" * 100000)


def _trickled_body_until_close(handler):
    handler.close_connection = True
    handler.wfile.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
    trickle(handler, b"x" * 100000)


def _trickled_headers(handler):
    handler.close_connection = True
    trickle(handler, b"HTTP/1.1 200 OK\r\n" + b"X-Slow: yes\r\n" * 10000)


@pytest.mark.parametrize(
    "route",
    [
        _trickled_body_with_length,
        _trickled_chunked_body,
        _trickled_body_until_close,
        _trickled_headers,
    ],
)
def test_an_endless_slow_answer_stops_at_the_whole_fetch_deadline(route):
    # A byte every 0.2 s never trips a per-read timeout; only a deadline stops it.
    with serve({"/slow": route}) as server:
        start = time.monotonic()
        with pytest.raises(FetchError, match="gave up after 1 s"):
            fetch(base(server) + "/slow", allow_private=True, timeout_s=1.0)
        assert time.monotonic() - start < 2.0


def test_the_deadline_covers_all_redirect_hops_together():
    def slow_redirect(target):
        def route(handler):
            time.sleep(0.4)
            respond(handler, b"", 302, Location=target)

        return route

    routes = {"/a": slow_redirect("/b"), "/b": slow_redirect("/c"), "/c": slow_redirect("/d")}
    routes["/d"] = page(b"late")
    with serve(routes) as server:
        start = time.monotonic()
        with pytest.raises(FetchError, match="gave up after 1 s"):
            fetch(base(server) + "/a", allow_private=True, timeout_s=1.0)
        assert time.monotonic() - start < 2.0


def test_an_announced_oversized_body_is_refused_without_reading_it():
    def huge(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", str(10_000_000))
        handler.end_headers()
        trickle(handler, b"x" * 100)  # reading it would take until the deadline

    with serve({"/huge": huge}) as server:
        start = time.monotonic()
        with pytest.raises(FetchError, match="10000000 bytes, more than the limit of 1000"):
            fetch(base(server) + "/huge", allow_private=True, max_bytes=1000, timeout_s=5)
        assert time.monotonic() - start < 1


def _endless_until_close(handler):
    handler.close_connection = True
    handler.wfile.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
    started = time.monotonic()
    for _ in range(ENDLESS_CHUNKS):
        if not _serving(handler, started):
            break
        handler.wfile.write(b"x" * 4096)


def _endless_chunked(handler):
    handler.send_response(200)
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    endless_chunks(handler)


@pytest.mark.parametrize("route", [_endless_chunked, _endless_until_close])
def test_an_endless_body_without_length_stops_at_the_byte_cap(route):
    with serve({"/big": route}) as server:
        start = time.monotonic()
        with pytest.raises(FetchError, match="larger than the limit of 100000 bytes"):
            fetch(base(server) + "/big", allow_private=True, max_bytes=100_000, timeout_s=5)
        assert time.monotonic() - start < 2


def test_the_byte_cap_applies_to_the_decompressed_body():
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip framing
    zeros = bytes(1024 * 1024)
    bomb = b"".join(compressor.compress(zeros) for _ in range(20)) + compressor.flush()
    assert len(bomb) < 100_000  # 20 MB of zeros in a small download

    with serve({"/bomb": page(bomb, Content_Encoding="gzip")}) as server:
        with pytest.raises(FetchError, match="larger than the limit"):
            fetch(base(server) + "/bomb", allow_private=True, max_bytes=1024 * 1024)


@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_of_exactly_the_cap_is_accepted_one_byte_more_is_not(chunked):
    body = b"y" * 1000

    def route(handler):
        if not chunked:
            return respond(handler, body)
        handler.send_response(200)
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        handler.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))

    with serve({"/b": route}) as server:
        assert fetch(base(server) + "/b", allow_private=True, max_bytes=1000).body == body
        with pytest.raises(FetchError, match="limit of 999 bytes"):
            fetch(base(server) + "/b", allow_private=True, max_bytes=999)


# --- Environment ------------------------------------------------------------------------


def test_proxy_settings_in_the_environment_are_ignored(site, port, monkeypatch):
    # A proxied request names the full URL; the fake proxy answers it from the route "/".
    with serve({"/": page(b"via proxy")}) as proxy:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
            monkeypatch.setenv(name, base(proxy))
            monkeypatch.setenv(name.lower(), base(proxy))
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        # Control: plain requests does go through such a proxy.
        assert requests.get(f"http://127.0.0.1:{port}/", timeout=5).content == b"via proxy"
        proxy.requests.clear()

        fetched = fetch(f"http://127.0.0.1:{port}/", allow_private=True)

        assert fetched.body == b"<h1>Hello</h1>"
        assert proxy.requests == []


# --- TLS to a pinned address -------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[str, str]:
    """A self-signed certificate for the name `localhost` only (not for 127.0.0.1)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = str(folder / "cert.pem"), str(folder / "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
        + ["-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost"]
        + ["-addext", "subjectAltName=DNS:localhost"],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return cert, key


@pytest.fixture
def tls_site(certificate) -> Iterator[tuple[_Server, list[str]]]:
    cert, key = certificate
    server_names: list[str] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, name, ctx: server_names.append(name)
    with serve({"/": page(b"secure")}, tls=context) as server:
        yield server, server_names


def test_https_to_the_pinned_address_sends_the_name_for_sni_and_checks_the_certificate(
    tls_site, certificate, connections
):
    server, server_names = tls_site
    port = server.server_address[1]

    fetched = fetch(f"https://localhost:{port}/", allow_private=True, verify=certificate[0])

    assert fetched.body == b"secure"
    assert server_names == ["localhost"]
    assert all(ipaddress.ip_address(a).is_loopback for a in connections)


@pytest.mark.parametrize("use_ca", [True, False])
def test_https_certificate_errors_are_fetch_errors(tls_site, certificate, use_ca):
    server, _ = tls_site
    port = server.server_address[1]
    # With our CA, the address does not match the certificate's name; without it (the
    # default, certifi) the certificate is not trusted at all.
    url = f"https://127.0.0.1:{port}/" if use_ca else f"https://localhost:{port}/"
    verify = certificate[0] if use_ca else True
    with pytest.raises(FetchError, match="TLS") as failed:
        fetch(url, allow_private=True, verify=verify, timeout_s=5)
    assert not isinstance(failed.value, UnsafeURL)
