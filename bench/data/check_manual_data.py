"""Check manual_sections.jsonl, manual_queries.jsonl and offtopic_queries.jsonl; print their counts.

    .venv/bin/python bench/data/check_manual_data.py          # exits 1 on any problem
    .venv/bin/python bench/data/check_manual_data.py --nearest  # also show, for each
        off-topic query, the closest manual page / FAQ entry (TF-IDF) for a manual look

Checks: ids unique; every relevant id exists; each answer occurs verbatim (after
whitespace normalisation) in the text of the query's first relevant page; at least
MIN_TARGETS distinct first relevant pages; the style mix; short queries have at most four
words and chatty ones several sentences; no query repeats its target's title; off-topic
queries are unique and carry only a "query".
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
MIN_TARGETS = 120
EXPECTED_STYLES = {"paraphrase", "jargon", "symptom", "short", "chatty", "typo"}


def load(name: str) -> list[dict]:
    with open(HERE / name, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def norm(text: str) -> str:
    return " ".join(text.split())


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def main() -> int:
    problems: list[str] = []
    sections = load("manual_sections.jsonl")
    queries = load("manual_queries.jsonl")
    offtopic = load("offtopic_queries.jsonl")

    by_id = {s["id"]: s for s in sections}
    if len(by_id) != len(sections):
        problems.append("manual_sections.jsonl has duplicate ids")
    for s in sections:
        if set(s) != {"id", "title", "text", "section"}:
            problems.append(f"section {s.get('id')}: unexpected keys {sorted(s)}")
        if "<" in s["text"] and re.search(r"</?[a-z]+[ >/]", s["text"]):
            problems.append(f"section {s['id']}: text looks like it still holds markup")

    seen_queries = set()
    for i, q in enumerate(queries, 1):
        where = f"query {i} {q['query'][:50]!r}"
        if q["query"] in seen_queries:
            problems.append(f"{where}: duplicate query")
        seen_queries.add(q["query"])
        ids = q["relevant_ids"]
        if not ids or len(set(ids)) != len(ids):
            problems.append(f"{where}: empty or repeated relevant_ids")
        unknown = [r for r in ids if r not in by_id]
        if unknown:
            problems.append(f"{where}: unknown ids {unknown}")
            continue
        first = by_id[ids[0]]
        if norm(q["answer"]) not in norm(first["text"]):
            problems.append(f"{where}: answer not found verbatim in {ids[0]}")
        if len(q["answer"]) > 300:
            problems.append(f"{where}: answer longer than 300 characters")
        style = q.get("style")
        if style not in EXPECTED_STYLES:
            problems.append(f"{where}: unknown style {style!r}")
        n_words = len(q["query"].split())
        if style == "short" and n_words > 4:
            problems.append(f"{where}: 'short' query has {n_words} words")
        if style != "short" and n_words <= 4 and style not in {"jargon"}:
            problems.append(f"{where}: {n_words} words but style {style!r}")
        if style == "chatty" and len(re.findall(r"[.?!](\s|$)", q["query"])) < 2:
            problems.append(f"{where}: 'chatty' query is a single sentence")
        qw, tw = set(words(q["query"])), set(words(first["title"]))
        if norm(q["query"]).lower().rstrip("?") == norm(first["title"]).lower().rstrip("?"):
            problems.append(f"{where}: copies the title of {ids[0]}")
        elif tw and len(qw & tw) / len(qw | tw) > 0.6:
            problems.append(f"{where}: too close to the title {first['title']!r}")

    off_seen = set()
    for q in offtopic:
        if set(q) != {"query"}:
            problems.append(f"off-topic {q}: unexpected keys")
        if q["query"] in off_seen:
            problems.append(f"off-topic {q['query']!r}: duplicate")
        off_seen.add(q["query"])

    targets = Counter(q["relevant_ids"][0] for q in queries)
    styles = Counter(q.get("style") for q in queries)
    if len(targets) < MIN_TARGETS:
        problems.append(f"only {len(targets)} distinct first relevant ids (< {MIN_TARGETS})")

    print(f"manual_sections.jsonl: {len(sections)} pages")
    print(
        f"manual_queries.jsonl: {len(queries)} queries, {len(targets)} distinct first "
        f"relevant pages, {sum(len(q['relevant_ids']) > 1 for q in queries)} with a second "
        f"relevant page"
    )
    for style, n in styles.most_common():
        print(f"  {style:<11}{n:>4}  ({100 * n / len(queries):.0f}%)")
    print(f"offtopic_queries.jsonl: {len(offtopic)} queries")

    if "--nearest" in sys.argv:
        nearest(offtopic, sections)

    for p in problems:
        print("PROBLEM:", p)
    return 1 if problems else 0


def nearest(offtopic: list[dict], sections: list[dict]) -> None:
    """TF-IDF cosine of each off-topic query against manual pages and FAQ entries."""
    docs = [(s["id"], s["title"] + " " + s["text"]) for s in sections]
    faq = HERE / "python_faq.jsonl"
    if faq.exists():
        docs += [("faq:" + e["id"], e["question"] + " " + e["answer"]) for e in load(faq.name)]
    bags = [Counter(words(text)) for _, text in docs]
    df = Counter(w for bag in bags for w in bag)
    idf = {w: math.log(len(docs) / n) for w, n in df.items()}

    def vec(bag: Counter) -> dict[str, float]:
        v = {w: (1 + math.log(c)) * idf.get(w, 0.0) for w, c in bag.items()}
        length = math.sqrt(sum(x * x for x in v.values())) or 1.0
        return {w: x / length for w, x in v.items()}

    vecs = [vec(b) for b in bags]
    rows = []
    for q in offtopic:
        qv = vec(Counter(words(q["query"])))
        score, best = max(
            (sum(x * dv.get(w, 0.0) for w, x in qv.items()), docs[i][0])
            for i, dv in enumerate(vecs)
        )
        rows.append((score, best, q["query"]))
    for score, best, query in sorted(rows, reverse=True):
        print(f"  {score:.2f}  {best:<45} {query[:70]}")


if __name__ == "__main__":
    sys.exit(main())
