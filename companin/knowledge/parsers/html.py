"""HTML pages: the title and the main text, split at headings; links for the crawler."""

from __future__ import annotations

import warnings
from urllib.parse import urldefrag, urljoin, urlsplit

import lxml.html
from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning, XMLParsedAsHTMLWarning
from bs4.element import NavigableString, PreformattedString, Tag
from lxml import etree

from ..documents import ParsedDocument, Section
from .common import SectionBuilder, TextBudget

# Never content: code, styling, widgets, embedded media.
_JUNK_TAGS = frozenset(
    {
        "script", "style", "noscript", "template", "iframe", "object", "embed", "svg",
        "canvas", "form", "button", "select", "textarea", "input", "nav", "aside", "dialog",
        "head",
    }
)  # fmt: skip
# Page chrome: dropped around the page, kept inside the <main>/<article> we chose, where
# a <header> usually holds the article's own title.
_CHROME_TAGS = frozenset({"header", "footer"})
_JUNK_ROLES = frozenset(
    {"navigation", "banner", "contentinfo", "complementary", "search", "dialog", "menu",
     "menubar", "toolbar"}
)  # fmt: skip
_HEADINGS = {f"h{level}": level for level in range(1, 7)}
# Elements that end a paragraph; everything else is inline and joins the running text.
_BLOCK_TAGS = frozenset(
    {
        "address", "article", "blockquote", "br", "caption", "dd", "details", "div", "dl",
        "dt", "fieldset", "figcaption", "figure", "footer", "header", "hr", "li", "main",
        "ol", "p", "pre", "section", "summary", "table", "tbody", "tfoot", "thead", "tr",
        "ul",
    }
)  # fmt: skip
_CELL_TAGS = frozenset({"td", "th"})


def parse_html(data: bytes | str, *, max_chars: int) -> ParsedDocument:
    """Read a page's title and main text; each heading starts a new Section.

    The main text is the <main> element (or role="main", or the only <article>), else the
    whole <body> without its header, footer and navigation. Text past `max_chars` is left
    out.
    """
    soup = _soup(data)
    root = _main_element(soup)
    sections = _sections(root, max_chars)
    if not sections and root.name not in ("body", "[document]"):
        # An empty <main> (content placed beside it by a careless template): use the page.
        body = soup.find("body")
        sections = _sections(body if isinstance(body, Tag) else soup, max_chars)
    return ParsedDocument(title=_title(soup), sections=sections)


def _sections(root: Tag, max_chars: int) -> list[Section]:
    builder = SectionBuilder(TextBudget(max_chars))
    _walk(root, builder, drop_chrome=root.name in ("body", "[document]"))
    return builder.finish()


def extract_links(html: bytes | str, base_url: str) -> list[str]:
    """Absolute http(s) links of a page, in page order, without fragments or duplicates.

    Navigation links are included: they are how a crawler finds the rest of a site. The
    crawler calls this in the server process, so it uses lxml's C parser directly: fast,
    and it stops descending past a few hundred levels of nesting on a hostile page.
    """
    data = html.encode("utf-8") if isinstance(html, str) else html
    try:
        page = lxml.html.document_fromstring(data, parser=_link_parser(data))
    except (etree.ParserError, ValueError):  # an empty or unparseable page has no links
        return []
    base = page.find(".//base[@href]")
    if base is not None:
        base_url = urljoin(base_url, base.get("href", "").strip())
    links: list[str] = []
    seen: set[str] = set()
    for anchor in page.iter("a", "area"):
        href = anchor.get("href")
        if href is None:
            continue
        try:
            url = urldefrag(urljoin(base_url, href.strip())).url
            scheme = urlsplit(url).scheme.lower()
        except ValueError:  # e.g. a malformed IPv6 host: not a link we can follow anyway
            continue
        if scheme in ("http", "https") and url not in seen:
            seen.add(url)
            links.append(url)
    return links


def _link_parser(data: bytes) -> lxml.html.HTMLParser | None:
    # libxml2 takes bytes without a <meta charset> for Latin-1; most pages are UTF-8.
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return None  # let the page's own declaration decide
    return lxml.html.HTMLParser(encoding="utf-8")


def _soup(data: bytes | str) -> BeautifulSoup:
    # bs4 warns about markup that looks like a URL or like XML; for us it is just a page.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
        return BeautifulSoup(data, "lxml")


def _main_element(soup: BeautifulSoup) -> Tag:
    main = soup.find("main") or soup.find(attrs={"role": "main"})
    if isinstance(main, Tag):
        return main
    articles = soup.find_all("article")
    if len(articles) == 1:
        return articles[0]
    body = soup.find("body")
    return body if isinstance(body, Tag) else soup


def _title(soup: BeautifulSoup) -> str | None:
    for tag in (soup.find("title"), soup.find("h1")):
        if isinstance(tag, Tag):
            text = " ".join(tag.get_text(" ").split())
            if text:
                return text
    return None


def _is_junk(tag: Tag, drop_chrome: bool) -> bool:
    if tag.name in _JUNK_TAGS or (drop_chrome and tag.name in _CHROME_TAGS):
        return True
    if tag.get("role") in _JUNK_ROLES or tag.has_attr("hidden"):
        return True
    return str(tag.get("aria-hidden", "")).lower() == "true"


# Pushed after a block element's children: reaching it closes the block's paragraph.
_END_OF_BLOCK = object()


def _walk(root: Tag, builder: SectionBuilder, *, drop_chrome: bool) -> None:
    # An explicit stack, not recursion: a hostile page may nest elements 100,000 deep.
    stack: list[object] = [root]
    while stack and not builder.full:
        node = stack.pop()
        if node is _END_OF_BLOCK:
            builder.end_paragraph()
        elif isinstance(node, NavigableString):
            # Comments, doctypes and CDATA are PreformattedStrings: not visible text.
            if not isinstance(node, PreformattedString):
                builder.add_text(str(node))
        elif isinstance(node, Tag) and (node is root or not _is_junk(node, drop_chrome)):
            if node.name in _HEADINGS:
                builder.heading(_HEADINGS[node.name], node.get_text(" "))
                continue
            if node.name in _BLOCK_TAGS:
                builder.end_paragraph()
                stack.append(_END_OF_BLOCK)
            elif node.name in _CELL_TAGS:
                builder.separate(" | ")  # a table row reads "Plan | Price"
            stack.extend(reversed(node.contents))
