"""Rebuild python_faq.jsonl from the Python FAQ shipped in Debian's ``python3.11-doc``.

The FAQ is Sphinx HTML: every question is a leaf ``<section>`` whose heading is the
question and whose body is the answer. Nothing here touches the network: point it at
the unpacked package (``apt-get download python3.11-doc && dpkg -x python3.11-doc_*.deb x``).

    .venv/bin/python bench/data/extract_python_faq.py x/usr/share/doc/python3.11/html/faq \
        > bench/data/python_faq.jsonl
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from bs4 import BeautifulSoup

PAGES = [
    "general",
    "programming",
    "design",
    "library",
    "extending",
    "windows",
    "gui",
    "installed",
]
BASE_URL = "https://docs.python.org/3.11/faq/"


def clean(text: str) -> str:
    # Sphinx leaves pilcrows in headings and non-breaking spaces everywhere.
    text = text.replace("¶", "").replace("\xa0", " ")
    text = re.sub(r"[ \t]+\n", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


def entries(faq_dir: Path):
    for page in PAGES:
        soup = BeautifulSoup((faq_dir / f"{page}.html").read_text("utf-8"), "lxml")
        body = soup.find("div", attrs={"role": "main"}) or soup.body
        page_title = clean(body.find("h1").get_text())
        for section in body.find_all("section"):
            # Only leaf sections are questions; the others are chapter headings.
            if section.find("section"):
                continue
            heading = section.find(["h2", "h3", "h4"])
            if heading is None:
                continue
            question = clean(heading.get_text())
            heading.decompose()
            parts = []
            for block in section.find_all(["p", "pre", "li", "dt", "dd"]):
                # A <p> inside an <li> would be counted twice.
                if block.name == "p" and block.find_parent(["li", "dd"]):
                    continue
                if block.name == "li" and block.find_parent("li"):
                    continue
                # Code keeps its layout; prose is re-flowed onto one line.
                text = block.get_text()
                if block.name != "pre":
                    text = " ".join(text.split())
                if text.strip():
                    parts.append(("- " if block.name == "li" else "") + text.rstrip())
            answer = clean("\n\n".join(parts))
            if not answer:
                continue
            yield {
                "id": f"{page}/{section['id']}",
                "question": question,
                "answer": answer,
                "section": page_title,
                "url": f"{BASE_URL}{page}.html#{section['id']}",
            }


def main() -> None:
    faq_dir = Path(sys.argv[1])
    seen = set()
    for entry in entries(faq_dir):
        if entry["id"] in seen:
            continue
        seen.add(entry["id"])
        sys.stdout.write(json.dumps(entry, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
