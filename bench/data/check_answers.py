"""Check that every benchmark query's ``answer`` is a verbatim span of its first relevant entry.

Each line of the queries file is ``{"query", "relevant_ids": [...], "answer"}``; each line of
the entries file has an ``id`` and a text field (``answer`` for ``python_faq.jsonl``, ``text``
for other entry files). The answer must occur in the text of the entry named by the query's
FIRST relevant id, after collapsing runs of whitespace to single spaces on both sides.
Failures are printed; the exit status is 1 if there are any, else 0. Standard library only.

    .venv/bin/python bench/data/check_answers.py bench/data/python_queries.jsonl \
        bench/data/python_faq.jsonl --field answer
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def collapse(text: str) -> str:
    return " ".join(text.split())


def read_jsonl(path: Path) -> list[dict]:
    rows = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    sys.exit(f"{path}:{number}: invalid JSON: {e}")
    return rows


def check(queries: list[dict], entries: list[dict], field: str) -> list[str]:
    texts: dict[str, str] = {}
    for entry in entries:
        if "id" in entry and isinstance(entry.get(field), str):
            texts[entry["id"]] = collapse(entry[field])
    failures = []
    for number, q in enumerate(queries, 1):
        label = f"line {number} ({q.get('query', '')!r})"
        answer = q.get("answer")
        ids = q.get("relevant_ids") or []
        if not isinstance(answer, str) or not collapse(answer):
            failures.append(f"{label}: missing or empty 'answer'")
            continue
        if not ids:
            failures.append(f"{label}: no relevant_ids")
            continue
        first = ids[0]
        if first not in texts:
            failures.append(f"{label}: first relevant id {first!r} has no {field!r} text")
            continue
        if collapse(answer) not in texts[first]:
            failures.append(f"{label}: answer not found verbatim in {first!r}: {answer!r}")
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("queries", type=Path, help="queries JSONL (query, relevant_ids, answer)")
    parser.add_argument("entries", type=Path, help="entries JSONL (id and a text field)")
    parser.add_argument(
        "--field",
        default="answer",
        help="entry field holding the text to search (default: answer; use text for "
        "entry files other than the FAQ)",
    )
    args = parser.parse_args()
    queries = read_jsonl(args.queries)
    failures = check(queries, read_jsonl(args.entries), args.field)
    for failure in failures:
        print(failure)
    print(f"{len(queries) - len(failures)}/{len(queries)} answers found", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
