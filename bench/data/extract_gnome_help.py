"""Rebuild manual_sections.jsonl from the GNOME Help manual shipped in Debian's ``gnome-user-docs``.

GNOME Help is written in Mallard (https://projectmallard.org/): one ``<page>`` per file,
``type="topic"`` pages carry the content and ``type="guide"`` pages mostly list links to
topics. Nothing here touches the network: point it at the unpacked package
(``apt-get download gnome-user-docs && dpkg -x gnome-user-docs_*.deb x``).

    .venv/bin/python bench/data/extract_gnome_help.py x/usr/share/help/C/gnome-help \
        > bench/data/manual_sections.jsonl

One JSON object per topic page, in file-name order: ``{"id", "title", "text", "section"}``.

- ``id`` is the page id (the file name without ``.page``), ``title`` its ``<title>``.
- ``text`` is what Yelp shows in the page body, as plain text: paragraphs separated by a
  blank line, list/step/term items one a line ("- " for list items, "1. " for steps),
  section, table and note titles as their own lines, table rows as cells joined by " | "
  (a row whose only text cell sits next to an icon keeps its paragraphs as lines).
  Whitespace inside a line is collapsed (``<screen>`` blocks keep one line per line).
  ``<info>`` (including ``<desc>``, credits and revision data), ``<comment>`` (notes
  between writers), figure captions, block ``<media>`` and ``<links>`` are skipped.
  Inline ``<media>`` keeps its alternative text (e.g. "View More" for the icon of a
  button), ``<keyseq>`` becomes ``Ctrl+Alt+T``, ``<guiseq>`` becomes ``Settings ▸ Sound``,
  and an empty ``<link xref>`` becomes the title of the page or section it points to, as
  Yelp renders it.
- Conditional content (``if:test``, ``<if:choose>``) is resolved for the standard GNOME
  session on a desktop: ``platform:gnome-classic``, ``platform:ubuntu``, ``target:mobile``
  and ``action:install`` (the "Install <package>" buttons) are false.
- ``section`` is the title of the first guide page the topic is linked from
  (``<info><link type="guide" xref=...>``), or "" if it has none.

Skipped: guide pages that are only navigation (lists of links, with at most a short intro:
under MIN_GUIDE_CHARS characters of text), and topic pages whose text is shorter than
MIN_CHARS characters. The legal notice is ``legal.xml``, XIncluded into every page's
``<info>``; it is not a ``.page`` file and is never read.
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

MAL = "{http://projectmallard.org/1.0/}"
IF = "{http://projectmallard.org/if/1.0/}"
MIN_CHARS = 200
# Guide pages are navigation (an intro line and lists of links), except for a few that
# also hold a real topic (e.g. files-search, printing-booklet): keep those.
MIN_GUIDE_CHARS = 500

# Tokens that evaluate to true in a standard GNOME session on a desktop computer.
FALSE_TOKENS = {"platform:gnome-classic", "platform:ubuntu", "target:mobile", "action:install"}

BLOCK_CONTAINERS = set(
    "page section note list steps terms item example figure table thead tbody tfoot tr"
    " quote synopsis when else if choose".split()
)
SKIP = {"info", "comment", "links", "media", "rules", "thumb", "include", "desc"}  # not rendered


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def norm(text: str) -> str:
    return " ".join(text.replace("\xa0", " ").split())


def test_true(expr: str | None) -> bool:
    """Mallard conditionals: comma = or, space = and, leading ! = not."""
    if not expr:
        return True
    for alternative in expr.split(","):
        ok = True
        for token in alternative.split():
            negate = token.startswith("!")
            value = token.lstrip("!") not in FALSE_TOKENS
            if value == negate:
                ok = False
                break
        if ok:
            return True
    return False


def visible(el: ET.Element) -> bool:
    return test_true(el.get(f"{IF}test"))


class Manual:
    def __init__(self, root_dir: Path):
        self.pages: dict[str, ET.Element] = {}
        for path in sorted(root_dir.glob("*.page")):
            root = ET.parse(path).getroot()
            self.pages[root.get("id") or path.stem] = root
        # Titles used to render empty <link xref="..."/>: a page's link title if it has
        # one, else its title; sections by "page#section".
        self.link_titles: dict[str, str] = {}
        self.titles: dict[str, str] = {}
        self.current = ""  # id of the page being rendered, for xref="#section"
        for page_id, root in self.pages.items():
            self.current = page_id
            title = root.find(f"{MAL}title")
            self.titles[page_id] = self.inline(title) if title is not None else page_id
            link_title = root.find(f"{MAL}info/{MAL}title[@type='link']")
            self.link_titles[page_id] = (
                self.inline(link_title) if link_title is not None else self.titles[page_id]
            )
            for section in root.iter(f"{MAL}section"):
                st = section.find(f"{MAL}title")
                if section.get("id") and st is not None:
                    self.link_titles[f"{page_id}#{section.get('id')}"] = self.inline(st)

    # ----- inline content -------------------------------------------------------------
    def inline(self, el: ET.Element) -> str:
        return norm(self._inline(el, top=True))

    def _inline(self, el: ET.Element, top: bool = False) -> str:
        name = local(el.tag)
        if not top:
            if not visible(el) or name in {"comment", "desc", "info"}:
                return ""
        if name == "keyseq":
            sep = " " if el.get("type") == "sequence" else "+"
            keys = [norm(self._inline(k)) for k in el if visible(k)]
            return sep.join(k for k in keys if k)
        if name == "guiseq":
            guis = [norm(self._inline(g)) for g in el if visible(g)]
            return " ▸ ".join(g for g in guis if g)
        if name == "choose":
            branch = self._choose(el)
            return "".join(self._inline(c) for c in branch) if branch is not None else ""
        parts = [el.text or ""]
        for child in el:
            parts.append(self._inline(child))
            parts.append(child.tail or "")
        text = "".join(parts)
        if name == "link" and not norm(text):
            target = el.get("xref") or ""
            if target.startswith("#"):
                target = self.current + target
            text = self.link_titles.get(target) or self.link_titles.get(
                target.split("#")[0], el.get("href") or ""
            )
        return text

    @staticmethod
    def _choose(el: ET.Element):
        """The children to render of an <if:choose>: first true <if:when>, else <if:else>."""
        for branch in el:
            if local(branch.tag) == "when" and test_true(branch.get("test")):
                return list(branch)
            if local(branch.tag) == "else":
                return list(branch)
        return None

    # ----- block content --------------------------------------------------------------
    def blocks(self, el: ET.Element) -> list[tuple[str, bool]]:
        """(line, is_item) pairs for the block children of a container element."""
        out: list[tuple[str, bool]] = []
        parent = local(el.tag)
        step_no = 0
        for child in el:
            name = local(child.tag)
            if child.tag is ET.Comment or name in SKIP or not visible(child):
                continue
            if name == "choose":
                branch = self._choose(child)
                if branch is not None:
                    fake = ET.Element(child.tag)
                    fake.extend(branch)
                    out += self.blocks(fake)
                continue
            if name in {"when", "else"}:
                continue
            if name == "if":  # <if:if test=...>
                if test_true(child.get("test")):
                    out += self.blocks(child)
                continue
            if name == "item":
                if parent == "steps":
                    step_no += 1
                    marker = f"{step_no}. "
                elif parent == "list":
                    marker = "- "
                else:  # <terms>: the item's <title> is the term
                    marker = ""
                lines = self.blocks(child)
                for i, (line, _) in enumerate(lines):
                    out.append(((marker if i == 0 else "") + line, True))
                continue
            if name == "tr":
                # One line per row, cells joined by " | ". A row with a single text cell
                # (the other one holds only an icon) keeps its paragraphs as lines, as
                # they are usually a term followed by its explanation.
                cells: list[list[str]] = []
                for td in child:
                    if local(td.tag) in {"td", "th"} and visible(td):
                        lines = [line for line, _ in self.blocks(td)]
                        if not lines and not td.findall(f"{MAL}p") and self.inline(td):
                            lines = [self.inline(td)]
                        if lines:
                            cells.append(lines)
                if len(cells) == 1:  # e.g. an icon cell and a text cell
                    out += [(line, True) for line in cells[0]]
                elif cells:
                    out.append((" | ".join(" ".join(c) for c in cells), True))
                continue
            if name in BLOCK_CONTAINERS:
                out += self.blocks(child)
                continue
            if name == "screen":
                for raw in (self._inline(child)).splitlines():
                    if norm(raw):
                        out.append((norm(raw), True))
                continue
            # Paragraph-level: p, title, subtitle, code, screen, cite, ...
            text = self.inline(child)
            if text:
                out.append((text, parent in {"item", "td", "th"}))
        return out

    def page_text(self, root: ET.Element) -> str:
        lines = self.blocks(root)
        # The page <title> is returned separately, not repeated in the text.
        title = root.find(f"{MAL}title")
        if title is not None and lines and lines[0][0] == self.inline(title):
            lines = lines[1:]
        text = ""
        prev_item = False
        for line, is_item in lines:
            if text:
                text += "\n" if (is_item and prev_item) else "\n\n"
            text += line
            prev_item = is_item
        return text

    def section_of(self, root: ET.Element) -> str:
        for link in root.findall(f"{MAL}info/{MAL}link[@type='guide']"):
            target = (link.get("xref") or "").split("#")[0]
            if target in self.titles:
                return self.titles[target]
        return ""

    def entries(self):
        for page_id, root in self.pages.items():
            self.current = page_id
            text = self.page_text(root)
            if len(text) < (MIN_GUIDE_CHARS if root.get("type") == "guide" else MIN_CHARS):
                continue
            yield {
                "id": page_id,
                "title": self.titles[page_id],
                "text": text,
                "section": self.section_of(root),
            }


def main() -> None:
    manual = Manual(Path(sys.argv[1]))
    for entry in manual.entries():
        sys.stdout.write(json.dumps(entry, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
