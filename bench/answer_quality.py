"""Answer quality benchmark: does the assistant answer what it knows, hand off what it does
not, and give the model the passage that holds the answer? (issue 7)

Two kinds of knowledge, each in its own organization of one fresh instance, loaded through
the real HTTP API (nothing in companin is patched or mocked):

- ``faq``: the Python FAQ as Q&A pairs, 167 paraphrased customer questions;
- ``manual``: GNOME Help, 253 pages as text files, 150 customer questions.

Every in-domain question carries an annotated answer: a verbatim span of the page or FAQ
entry that answers it (bench/data/README.md says where the data comes from). The off-topic
questions (bench/data/offtopic_queries.jsonl) are asked of both organizations.

Measured, each question in a new session of its own:

- **answered**: the share of in-domain questions answered without a handoff (goal >= 0.95);
- **context recall**: the share whose prompt holds the annotated answer, with the default
  budget of 2,000 passage tokens (goal >= 0.90). The model is a real OpenAI-compatible
  server on loopback (tests/fake_llm.py) reached through litellm: the prompt is read as it
  arrives there;
- **offline word share**: with no model, the share of the annotated answer's words found in
  the offline responder's reply (mean over in-domain questions), and how often a Q&A
  answer is given whole and is the right one;
- **off-topic handoff**: the share of off-topic questions handed off (goal >= 0.90);
- **the threshold sweep**: the best passage's similarity for every question, and for each
  threshold what share of in-domain questions would be answered and of off-topic ones
  handed off. COMPANIN_ANSWER_MIN_SIMILARITY (documents: the manual) and
  COMPANIN_ANSWER_MIN_SIMILARITY_QA (Q&A pairs: the FAQ) are chosen from it.

Run from the repository root:

    .venv/bin/python bench/answer_quality.py [--strict] [--limit N]

It prints a table and writes bench/results/answer_quality.json. ``--strict`` exits 1 when a
goal is missed.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(BENCH_DIR.parent / "tests"))

from retrieval_quality import (  # noqa: E402
    API,
    DATA_DIR,
    expect,
    ingest_files,
    ingest_qa,
    load_faq,
    load_jsonl,
    load_manual,
    wait_ready,
)

RESULTS = BENCH_DIR / "results" / "answer_quality.json"
GOALS = {"answered": 0.95, "context_recall": 0.90, "offtopic_handoff": 0.90}
SWEEP = [round(0.20 + 0.02 * i, 2) for i in range(21)]
_WORD = re.compile(r"\w+")


def normalized(text: str) -> str:
    return " ".join(text.split()).lower()


def words(text: str) -> set[str]:
    from companin.knowledge.words import STOPWORDS

    return {w for w in _WORD.findall(text.lower()) if w not in STOPWORDS}


def word_share(answer: str, reply: str) -> float:
    wanted = words(answer)
    return len(wanted & words(reply)) / len(wanted) if wanted else 1.0


class Org:
    """One organization of the instance: its headers and its two assistants."""

    def __init__(self, client, name: str) -> None:
        from companin.services.organizations import create_organization

        with client.application.app_context():
            creds = create_organization(name)
        self.client = client
        self.headers = {"X-API-Key": creds.client_id, "X-API-Secret": creds.client_secret}
        self.offline = self._assistant(f"{name} offline", None)
        self.model = self._assistant(f"{name} model", "openai/bench-model")

    def _assistant(self, name: str, model: str | None) -> str:
        body = {"name": name, "model": model}
        return expect(self.client.post(f"{API}/assistants/", json=body, headers=self.headers), 201)[
            "id"
        ]

    def ask(self, assistant_id: str, question: str) -> dict:
        session = expect(
            self.client.post(
                f"{API}/sessions/", json={"assistant_id": assistant_id}, headers=self.headers
            ),
            201,
        )
        response = self.client.post(
            f"{API}/sessions/{session['id']}/messages",
            json={"content": question},
            headers=self.headers,
        )
        return expect(response, 201)["assistant_message"]

    def best_similarity(self, question: str) -> float:
        passages = expect(
            self.client.post(
                f"{API}/knowledge/search",
                json={"query": question, "assistant_id": self.offline, "top_k": 12},
                headers=self.headers,
            ),
            200,
        )
        return max((p["similarity"] or 0.0 for p in passages), default=0.0)


def run_kind(org: Org, fake, dataset, mapping: dict[str, str], offtopic: list[str]) -> dict:
    """Every in-domain question twice (offline, then with the model) and every off-topic one."""
    per_query = []
    for query in dataset.queries:
        answer = query["answer"]
        offline = org.ask(org.offline, query["query"])
        asked = len(fake.requests)
        org.ask(org.model, query["query"])
        prompt = fake.requests[-1]["messages"][0]["content"] if len(fake.requests) > asked else ""
        sources = [mapping.get(s["source_id"]) for s in offline["sources"]]
        per_query.append(
            {
                "query": query["query"],
                "relevant_ids": query["relevant_ids"],
                "handoff": offline["handoff"],
                "context_holds_answer": normalized(answer) in normalized(prompt),
                "model_called": bool(prompt),
                "word_share": round(word_share(answer, offline["content"]), 4),
                "first_source_relevant": bool(sources) and sources[0] in query["relevant_ids"],
                "reply": offline["content"][:400],
                "best_similarity": round(org.best_similarity(query["query"]), 4),
            }
        )
    off = []
    for question in offtopic:
        reply = org.ask(org.offline, question)
        off.append(
            {
                "query": question,
                "handoff": reply["handoff"],
                "best_similarity": round(org.best_similarity(question), 4),
            }
        )
    answered = [not q["handoff"] for q in per_query]
    return {
        "questions": len(per_query),
        "offtopic_questions": len(off),
        "answered": round(statistics.fmean(answered), 4),
        "context_recall": round(statistics.fmean(q["context_holds_answer"] for q in per_query), 4),
        "offline_word_share": round(statistics.fmean(q["word_share"] for q in per_query), 4),
        "offline_word_share_answered": round(
            statistics.fmean([q["word_share"] for q in per_query if not q["handoff"]] or [0.0]),
            4,
        ),
        "offline_first_source_relevant": round(
            statistics.fmean(q["first_source_relevant"] for q in per_query), 4
        ),
        "offtopic_handoff": round(statistics.fmean(q["handoff"] for q in off), 4),
        "sweep": sweep(
            [q["best_similarity"] for q in per_query], [q["best_similarity"] for q in off]
        ),
        "per_query": per_query,
        "offtopic": off,
    }


def sweep(in_domain: list[float], offtopic: list[float]) -> list[dict]:
    """For each threshold: the share answered in domain and handed off off topic."""
    return [
        {
            "threshold": t,
            "answered": round(sum(s >= t for s in in_domain) / len(in_domain), 4),
            "offtopic_handoff": round(sum(s < t for s in offtopic) / len(offtopic), 4),
        }
        for t in SWEEP
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    parser.add_argument("--limit", type=int, default=0, help="questions per kind (0: all)")
    args = parser.parse_args(argv)

    from fake_llm import FakeLLM, Reply

    from companin import create_app
    from companin.config import defaults

    kinds = {"faq": (load_faq("python"), ingest_qa), "manual": (load_manual(), ingest_files)}
    offtopic = [q["query"] for q in load_jsonl(DATA_DIR / "offtopic_queries.jsonl")]
    started = time.monotonic()
    report: dict = {"settings": {}, "goals": GOALS, "kinds": {}}
    with FakeLLM() as fake, tempfile.TemporaryDirectory(prefix="companin-answers-") as tmp:
        fake.default = Reply("The passages say so [1].")
        app = create_app(
            {
                "INSTANCE_PATH": tmp,
                "RATE_LIMIT": "1000000/hour",
                "CHAT_MESSAGES_PER_DAY": 1_000_000,
                "LOG_LEVEL": "WARNING",  # an access-log line per request would bury the report
                "LLM_API_BASE": fake.base_url,
                "LLM_API_KEY": "sk-bench",
            }
        )
        client = app.test_client()
        settings = defaults()
        report["settings"] = {
            name: settings[name]
            for name in (
                "ANSWER_MIN_SIMILARITY",
                "ANSWER_MIN_SIMILARITY_QA",
                "ANSWER_CONTEXT_TOKENS",
                "ANSWER_HISTORY_TOKENS",
            )
        }
        for name, (dataset, ingest) in kinds.items():
            if args.limit:
                dataset.queries[:] = dataset.queries[: args.limit]
            org = Org(client, f"bench-{name}")
            ids = ingest(client, org.headers, dataset.entries)
            wait_ready(client, org.headers, list(ids), timeout=1800)
            print(f"[{name}] {len(ids)} sources ready; asking...", flush=True)
            questions = offtopic[: args.limit] if args.limit else offtopic
            report["kinds"][name] = run_kind(org, fake, dataset, ids, questions)
    report["seconds"] = round(time.monotonic() - started, 1)
    report["checks"] = {
        f"{kind}:{goal}": result[goal] >= target
        for kind, result in report["kinds"].items()
        for goal, target in GOALS.items()
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    print_table(report)
    return 1 if args.strict and not all(report["checks"].values()) else 0


def print_table(report: dict) -> None:
    given = report["settings"]
    print(
        f"\nthresholds: documents {given['ANSWER_MIN_SIMILARITY']}, "
        f"Q&A pairs {given['ANSWER_MIN_SIMILARITY_QA']}; {report['seconds']} s"
    )
    print(
        f"{'kind':8} {'answered':>9} {'ctx recall':>11} {'offtopic ho':>12} "
        f"{'word share':>11} {'src@1':>6}"
    )
    for kind, r in report["kinds"].items():
        print(
            f"{kind:8} {r['answered']:9.3f} {r['context_recall']:11.3f} "
            f"{r['offtopic_handoff']:12.3f} {r['offline_word_share']:11.3f} "
            f"{r['offline_first_source_relevant']:6.3f}"
        )
    print("\nsweep (answered in domain / off-topic handed off):")
    kinds = list(report["kinds"])
    print("thresh " + "  ".join(f"{k:>15}" for k in kinds))
    for i, t in enumerate(SWEEP):
        cells = [report["kinds"][k]["sweep"][i] for k in kinds]
        print(
            f"{t:6.2f} "
            + "  ".join(f"{c['answered']:7.3f}/{c['offtopic_handoff']:<7.3f}" for c in cells)
        )
    for name, ok in report["checks"].items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")


if __name__ == "__main__":
    sys.exit(main())
