"""Crawl a site breadth-first from one page, politely, for the knowledge base.

Every request goes through the `fetch` it is given (in the product, `fetcher.fetch` with the
install's settings), so robots.txt and every link get the same SSRF checks as the start page.

What counts as the same site: the same host name and port as the start page *after its
redirects* (so `example.com` redirecting to `www.example.com` crawls the latter), with http
and https treated alike and a leading `www.` ignored. Not the same registrable domain:
telling `docs.example.com` from `example.github.io` needs the Public Suffix List, which would
mean a dependency downloaded at run time, and sibling sub-domains (the blog, the shop) are
usually not the help centre the user pointed at.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit, urlunsplit
from urllib.robotparser import RobotFileParser

from .fetcher import DEFAULT_USER_AGENT, FetchedPage, FetchError
from .parsers.html import extract_links

log = logging.getLogger(__name__)

_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Links that are obviously not pages: not worth a request, and not text to index. PDF and
# DOCX are not among them: a help centre's linked manuals are knowledge, read like uploads.
_BINARY_EXTENSIONS = frozenset(
    {
        "7z", "aac", "apk", "avi", "bin", "bmp", "bz2", "css", "deb", "dmg", "doc", "eot",
        "exe", "flac", "gif", "gz", "ico", "iso", "jar", "jpeg", "jpg", "js", "m4a", "m4v",
        "mkv", "mov", "mp3", "mp4", "mpeg", "msi", "odp", "ods", "odt", "ogg", "otf", "png",
        "ppt", "pptx", "rar", "rpm", "svg", "tar", "tgz", "tif", "tiff", "ttf", "wav", "webm",
        "webp", "woff", "woff2", "xls", "xlsx", "xz", "zip",
    }
)  # fmt: skip

ErrorCallback = Callable[[str, FetchError], None]


def normalize_url(url: str) -> str | None:
    """The form of a link used to tell pages apart, or None when it is not a page we follow.

    Drops the fragment, lower-cases scheme and host, drops the default port, gives an
    empty path "/". Anything but http(s), or with a user name in it, is None.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in _DEFAULT_PORTS or not host or "@" in parts.netloc:
        return None
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def crawl(
    start_url: str,
    *,
    max_pages: int,
    same_domain: bool = True,
    fetch: Callable[[str], FetchedPage],
    on_error: ErrorCallback | None = None,
    user_agent: str = DEFAULT_USER_AGENT,
) -> Iterator[FetchedPage]:
    """Yield up to `max_pages` pages, breadth-first from `start_url`, each page once.

    Links are followed from HTML pages only, skipping other schemes (mailto:, tel:,
    javascript:), fragments of pages already seen, obvious binaries (by extension: PDF and
    DOCX documents are fetched like pages), other sites when `same_domain`, and paths
    robots.txt disallows for `user_agent` (robots.txt missing or 4xx: everything allowed;
    unreachable or 5xx: nothing beyond the start page, as RFC 9309 asks). The start page is
    fetched whatever robots.txt says: the user asked for it by name, as a browser would.

    A page that fails is reported to `on_error(url, error)` and skipped; only a failing start
    page raises its FetchError (when the first page is taken from the iterator). At most
    3 × `max_pages` requests are made for pages, so a site of broken links cannot keep the
    crawl going.
    """
    if max_pages < 1:
        raise ValueError("max_pages must be at least 1")
    report = on_error or (lambda url, error: None)
    first = fetch(start_url)
    yield first

    site = _site(first.url)
    seen = {u for u in (normalize_url(start_url), normalize_url(first.url)) if u}
    queue: deque[str] = deque()
    robots = _Robots(fetch, user_agent, report)
    budget = 3 * max_pages - 1
    yielded = 1

    def enqueue_links(page: FetchedPage) -> None:
        for link in _links(page):
            url = normalize_url(link)
            if url is None or url in seen or _looks_binary(url):
                continue
            if same_domain and _site(url) != site:
                continue
            seen.add(url)
            queue.append(url)

    enqueue_links(first)
    while queue and yielded < max_pages and budget > 0:
        url = queue.popleft()
        if not robots.allows(url):
            log.debug("robots.txt disallows %s", url)
            continue
        budget -= 1
        try:
            page = fetch(url)
        except FetchError as error:
            report(url, error)
            continue
        final = normalize_url(page.url)
        if final != url:
            # Redirected: to a page we already have, or off the site.
            if final is None or final in seen:
                continue
            if same_domain and _site(final) != site:
                report(url, FetchError(f"redirected off the site, to {page.url}"))
                continue
            seen.add(final)
        yielded += 1
        yield page
        enqueue_links(page)


def _site(url: str) -> tuple[str, int | None]:
    """Host (without a leading www.) and explicit non-default port: what "same site" compares."""
    parts = urlsplit(url)
    host = (parts.hostname or "").removeprefix("www.")
    port = parts.port
    if port == _DEFAULT_PORTS.get(parts.scheme.lower()):
        port = None
    return host, port


def _looks_binary(url: str) -> bool:
    last_segment = urlsplit(url).path.rsplit("/", 1)[-1]
    return "." in last_segment and last_segment.rsplit(".", 1)[1].lower() in _BINARY_EXTENSIONS


def _links(page: FetchedPage) -> list[str]:
    if page.content_type not in _HTML_TYPES:
        return []
    return extract_links(page.body, page.url)


class _Robots:
    """robots.txt rules per origin, each fetched once, when a link there is first checked."""

    def __init__(
        self, fetch: Callable[[str], FetchedPage], user_agent: str, report: ErrorCallback
    ) -> None:
        self._fetch = fetch
        self._user_agent = user_agent
        self._report = report
        self._rules: dict[str, RobotFileParser] = {}

    def allows(self, url: str) -> bool:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in self._rules:
            self._rules[origin] = self._load(f"{origin}/robots.txt")
        return self._rules[origin].can_fetch(self._user_agent, url)

    def _load(self, robots_url: str) -> RobotFileParser:
        rules = RobotFileParser(robots_url)
        try:
            page = self._fetch(robots_url)
        except FetchError as error:
            status = error.status
            if status is not None and 400 <= status < 500 and status != 429:
                rules.allow_all = True  # no robots.txt: no rules
            else:
                rules.disallow_all = True  # cannot tell what is allowed: crawl nothing more
                self._report(robots_url, error)
            return rules
        rules.parse(page.body.decode("utf-8", errors="replace").splitlines())
        return rules
