"""Crawling a small real site on loopback: breadth-first order, limits, robots.txt, scope.

The site is served by a real HTTP server the test starts; pages are fetched by the real
fetcher with private addresses allowed (the intranet setting), so robots.txt and every link
go through the same checks as in the product. A guard on socket.connect (the OS boundary)
refuses any non-loopback connection before a packet leaves.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from engines import no_engine_used

from companin.knowledge.crawler import crawl, normalize_url
from companin.knowledge.fetcher import FetchError, UnsafeURL, fetch

pytestmark = no_engine_used

# path -> (status, content type, body, extra headers)
Routes = dict[str, tuple[int, str, bytes, dict[str, str]]]


class _Site(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, routes: Routes) -> None:
        self.routes = routes
        self.requests: list[str] = []
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        status, content_type, body, headers = self.server.routes.get(
            self.path, (404, "text/plain", b"not found", {})
        )
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's name
        pass


@contextlib.contextmanager
def serve(routes: Routes) -> Iterator[_Site]:
    site = _Site(routes)
    thread = threading.Thread(target=site.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield site
    finally:
        site.shutdown()
        site.server_close()
        thread.join()


def html(*links: str, title: str = "page") -> tuple[int, str, bytes, dict[str, str]]:
    anchors = "".join(f'<li><a href="{link}">{link}</a></li>' for link in links)
    body = f"<html><head><title>{title}</title></head><body><ul>{anchors}</ul></body></html>"
    return 200, "text/html; charset=utf-8", body.encode(), {}


def text(body: str, content_type: str = "text/plain") -> tuple[int, str, bytes, dict[str, str]]:
    return 200, content_type, body.encode(), {}


def redirect(location: str) -> tuple[int, str, bytes, dict[str, str]]:
    return 301, "text/plain", b"", {"Location": location}


ROBOTS = "User-agent: *\nDisallow: /private/\n"


def help_centre(external: str = "http://203.0.113.7/") -> Routes:
    """Seven pages, and links of every kind a crawler must skip.

    The default external link is a literal documentation address: following it by mistake
    costs no DNS query, and the connection guard refuses it.
    """
    return {
        "/": html(
            "/about",
            "docs/",
            "/docs/#intro",  # the same page as docs/, by fragment
            "mailto:help@example.com",
            "javascript:void(0)",
            "tel:+15550100",
            external,
            "/private/secret",
            "/img/logo.png",
            "/files/Manual.PDF",
            title="home",
        ),
        "/about": html("/", "/team", "/docs/", "/about#top"),
        "/docs/": html("install", "faq", "../about", "/docs/install?"),
        "/docs/install": html("/docs/", "/old-install"),
        "/docs/faq": html("/docs/"),
        "/team": html("/notes.txt"),
        "/old-install": redirect("/docs/install"),
        "/notes.txt": text('<a href="/from-text">not a link in a text file</a>'),
        "/from-text": html(),
        "/private/secret": html(),
        "/img/logo.png": (200, "image/png", b"\x89PNG", {}),
        "/files/Manual.PDF": (200, "application/pdf", b"%PDF-1.4", {}),
        "/robots.txt": text(ROBOTS),
    }


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch) -> list[str]:
    """Every address connected to; any non-loopback one is refused before sending."""
    attempts: list[str] = []
    real_connect = socket.socket.connect

    def guarded_connect(sock, address):
        attempts.append(str(address[0]))
        if not ipaddress.ip_address(str(address[0]).split("%")[0]).is_loopback:
            raise ConnectionRefusedError("test guard: loopback only")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    return attempts


local_fetch = functools.partial(fetch, allow_private=True, timeout_s=5)


def paths(site: _Site, pages) -> list[str]:
    return [page.url.removeprefix(site.base) for page in pages]


def test_crawls_the_site_breadth_first_skipping_what_is_not_a_page(loopback_only):
    with serve(help_centre()) as site:
        errors: list[tuple[str, FetchError]] = []
        pages = list(
            crawl(
                site.base + "/",
                max_pages=20,
                fetch=local_fetch,
                on_error=lambda url, e: errors.append((url, e)),
            )
        )

    assert paths(site, pages) == [
        "/",
        "/about",
        "/docs/",
        "/files/Manual.PDF",  # a document, read like a page; links are read from HTML only
        "/team",
        "/docs/install",
        "/docs/faq",
        "/notes.txt",
    ]
    assert pages[0].body.startswith(b"<html><head><title>home")
    # Each page requested once: a fragment or an empty "?" is the same page. The one
    # repeat is /old-install's redirect to a page already crawled, which is not kept twice.
    assert sorted(site.requests) == sorted(
        ["/", "/robots.txt", "/about", "/docs/", "/files/Manual.PDF", "/team", "/docs/install"]
        + ["/docs/faq", "/notes.txt", "/old-install", "/docs/install"]
    )
    # Never requested: robots.txt disallows it, binaries, links inside a text file.
    assert "/private/secret" not in site.requests
    assert "/img/logo.png" not in site.requests
    assert "/from-text" not in site.requests
    assert errors == []
    assert all(ipaddress.ip_address(a).is_loopback for a in loopback_only)


def test_max_pages_stops_the_crawl_and_its_requests():
    with serve(help_centre()) as site:
        pages = list(crawl(site.base + "/", max_pages=3, fetch=local_fetch))

    assert paths(site, pages) == ["/", "/about", "/docs/"]
    assert sorted(site.requests) == sorted(["/", "/robots.txt", "/about", "/docs/"])


def test_a_single_page_crawl_fetches_only_that_page():
    with serve(help_centre()) as site:
        pages = list(crawl(site.base + "/about", max_pages=1, fetch=local_fetch))
    assert paths(site, pages) == ["/about"]
    assert site.requests == ["/about"]


def test_rules_for_our_user_agent_apply():
    routes = help_centre()
    routes["/robots.txt"] = text(
        "User-agent: OtherBot\nDisallow: /\n\n"
        "User-agent: CompaninBot\nDisallow: /docs/faq\nDisallow: /team\n\n"
        "User-agent: *\nDisallow: /about\n"
    )
    with serve(routes) as site:
        pages = list(crawl(site.base + "/", max_pages=20, fetch=local_fetch))

    assert paths(site, pages) == [
        "/",
        "/about",
        "/docs/",
        "/private/secret",
        "/files/Manual.PDF",
        "/docs/install",
    ]
    assert "/docs/faq" not in site.requests and "/team" not in site.requests


def test_a_missing_robots_txt_allows_everything():
    routes = help_centre()
    del routes["/robots.txt"]
    with serve(routes) as site:
        pages = list(crawl(site.base + "/", max_pages=20, fetch=local_fetch))
    assert "/private/secret" in paths(site, pages)
    assert site.requests.count("/robots.txt") == 1


def test_an_unreachable_robots_txt_stops_the_crawl_after_the_start_page():
    routes = help_centre()
    routes["/robots.txt"] = (503, "text/plain", b"down for maintenance", {})
    errors: list[tuple[str, FetchError]] = []
    with serve(routes) as site:
        pages = list(
            crawl(
                site.base + "/",
                max_pages=20,
                fetch=local_fetch,
                on_error=lambda url, e: errors.append((url, e)),
            )
        )
    assert paths(site, pages) == ["/"]
    assert [(url, e.status) for url, e in errors] == [(site.base + "/robots.txt", 503)]


def test_other_sites_are_not_followed_when_same_domain():
    with serve({"/": html("/elsewhere"), "/elsewhere": html()}) as other:
        with serve(help_centre(external=other.base + "/")) as site:
            pages = list(crawl(site.base + "/", max_pages=20, fetch=local_fetch))
            assert all(page.url.startswith(site.base) for page in pages)
        assert other.requests == []


def test_other_sites_are_followed_when_not_same_domain():
    with serve({"/": html("/elsewhere"), "/elsewhere": html()}) as other:
        with serve(help_centre(external=other.base + "/")) as site:
            pages = list(crawl(site.base + "/", max_pages=20, same_domain=False, fetch=local_fetch))
        urls = [page.url for page in pages]
        # Breadth-first across both sites; the other site's robots.txt is asked for too.
        assert urls.index(other.base + "/") < urls.index(site.base + "/team")
        assert other.base + "/elsewhere" in urls
        assert "/robots.txt" in other.requests


def test_broken_and_unsafe_links_are_reported_and_skipped(loopback_only):
    routes = help_centre()
    routes["/about"] = html("/missing", "/to-metadata", "/team")
    routes["/to-metadata"] = redirect("http://169.254.169.254/latest/meta-data/")
    errors: list[tuple[str, FetchError]] = []
    with serve(routes) as site:
        pages = list(
            crawl(
                site.base + "/",
                max_pages=20,
                fetch=local_fetch,
                on_error=lambda url, e: errors.append((url, e)),
            )
        )
    # The crawl went on past both, in order.
    assert paths(site, pages)[:5] == ["/", "/about", "/docs/", "/files/Manual.PDF", "/team"]
    assert [url for url, _ in errors] == [site.base + "/missing", site.base + "/to-metadata"]
    assert errors[0][1].status == 404
    assert isinstance(errors[1][1], UnsafeURL)
    assert all(ipaddress.ip_address(a).is_loopback for a in loopback_only)


def test_a_redirect_off_the_site_is_not_kept():
    with serve({"/": html()}) as other:
        routes = help_centre()
        routes["/about"] = redirect(other.base + "/")
        errors: list[tuple[str, FetchError]] = []
        with serve(routes) as site:
            pages = list(
                crawl(
                    site.base + "/",
                    max_pages=20,
                    fetch=local_fetch,
                    on_error=lambda url, e: errors.append((url, e)),
                )
            )
    assert all(page.url.startswith(site.base) for page in pages)
    assert [url for url, _ in errors] == [site.base + "/about"]


def test_a_start_page_that_fails_raises():
    with serve(help_centre()) as site:
        with pytest.raises(FetchError) as failed:
            list(crawl(site.base + "/nowhere", max_pages=5, fetch=local_fetch))
        assert failed.value.status == 404
        # The product's default policy refuses a loopback start page outright.
        with pytest.raises(UnsafeURL):
            list(crawl(site.base + "/", max_pages=5, fetch=fetch))
        assert site.requests == ["/nowhere"]


def test_a_start_url_that_redirects_sets_the_site():
    with serve(help_centre()) as site:
        with serve({"/": redirect(site.base + "/")}) as entry:
            pages = list(crawl(entry.base + "/", max_pages=3, fetch=local_fetch))
    assert paths(site, pages) == ["/", "/about", "/docs/"]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTP://Example.COM", "http://example.com/"),
        ("http://example.com:80/a?b=1#frag", "http://example.com/a?b=1"),
        ("https://example.com:443/", "https://example.com/"),
        ("https://example.com:8443/x", "https://example.com:8443/x"),
        ("http://[::1]:8080/", "http://[::1]:8080/"),
        ("mailto:help@example.com", None),
        ("javascript:void(0)", None),
        ("ftp://example.com/", None),
        ("http://user:pw@example.com/", None),
        ("http://example.com:99999/", None),
    ],
)
def test_normalize_url(url, expected):
    assert normalize_url(url) == expected


def test_max_pages_must_be_positive():
    with pytest.raises(ValueError):
        list(crawl("http://127.0.0.1/", max_pages=0, fetch=local_fetch))
