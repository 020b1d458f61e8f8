"""Retrieval quality benchmark: hit@1, MRR@10 and nDCG@10 of BM25, vectors and the hybrid.

Issue 3 asks that the hybrid be no worse than the better of pure BM25 and pure vectors on
every metric, and better if it can. This measures it on two public data sets (see
bench/data/README.md) with customer-style queries written by hand, through the real HTTP
API of a fresh instance: nothing in companin is patched or mocked.

Each way below is ingested into an organization of its own in the same instance, because
they test different things:

- ``qa``: every Python FAQ entry as a Q&A pair (the FAQ's own question + answer), the way a
  support team would load an FAQ; a paraphrase has to find the question.
- ``files``: only the Python FAQ's answers, each as a .txt file titled with the question,
  so that retrieval has to work from the answer text (and the title, if the product
  indexes it).
- ``manual``: a user manual, GNOME Help (253 pages, 150 queries: paraphrases, jargon and UI
  labels, symptoms, typos), each page as a .txt file titled with the page title: long,
  jargon-heavy documents, where exact words matter more than in an FAQ.

``files`` and ``manual`` go through the same code (a data set of titled texts uploaded as
files); ``--dataset`` names the FAQ of the ``qa`` and ``files`` ways.

Each way runs on each engine set-up of ``--engines`` (issue 10: "retrieval quality on
PostgreSQL stays within 0.01 nDCG@10 of SQLite on the benchmark sets"):

- ``embedded``: the default, SQLite (FTS5, BM25) and Chroma embedded in the instance;
- ``scaled``: PostgreSQL (tsvector, ts_rank) and a Chroma server, named by
  COMPANIN_BENCH_POSTGRES_URL and COMPANIN_BENCH_CHROMA_URL (defaults: the servers
  ``tools/start-postgres`` and ``tools/start-chroma`` start). Each run gets a database of its
  own (created, then dropped) and removes its collections from the Chroma server, so runs
  never see each other's data.

The engine check compares nDCG@10 way by way and mode by mode (bm25, vector, hybrid) and
lists the queries whose ranking differs. Without ``--engines``, ``scaled`` runs when its
servers answer and is reported as skipped otherwise.

Run from the repository root:

    .venv/bin/python bench/retrieval_quality.py [--strict] [--ways qa,files,manual]
        [--engines embedded,scaled]

It prints a table per ingestion way and engine, and writes
bench/results/retrieval_quality.json (metrics, the checks, and each query's ranks so that
regressions can be looked into). ``--strict`` exits 1 when, on any way, the hybrid is worse
than the better single mode on a metric, or an engine differs by more than the tolerance.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BENCH_DIR = Path(__file__).resolve().parent
# tests/engines.py makes and drops the PostgreSQL databases, for the tests and for this.
if str(BENCH_DIR.parent / "tests") not in sys.path:
    sys.path.insert(0, str(BENCH_DIR.parent / "tests"))
from engines import fresh_postgres_database  # noqa: E402

DATA_DIR = BENCH_DIR / "data"
RESULTS_DIR = BENCH_DIR / "results"
API = "/api/v1"
MODES = ("keyword", "vector", "hybrid")
MODE_LABELS = {"keyword": "bm25", "vector": "vector", "hybrid": "hybrid"}
METRICS = ("hit@1", "mrr@10", "ndcg@10")
EXTRA_METRICS = ("recall@10",)
K = 10
ENGINES = ("embedded", "scaled")
ENGINE_TOLERANCE = 0.01  # nDCG@10, issue 10
POSTGRES_URL_VAR = "COMPANIN_BENCH_POSTGRES_URL"
CHROMA_URL_VAR = "COMPANIN_BENCH_CHROMA_URL"
DEFAULT_POSTGRES_URL = "postgresql://companin_test:companin_test@127.0.0.1:5432/postgres"
DEFAULT_CHROMA_URL = "http://127.0.0.1:8010"


# ----------------------------------------------------------------------------- data


def load_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


@dataclass(frozen=True)
class Dataset:
    """Entries to ingest and the queries over them. Every entry has an ``id``, a ``title``
    and a ``body``: a Q&A pair's question and answer, or a file's title and text."""

    name: str
    entries: list[dict]
    queries: list[dict]


def load_dataset(
    name: str, entries_file: str, queries_file: str, title_key: str, body_key: str
) -> Dataset:
    entries = [
        {**e, "title": e[title_key], "body": e[body_key]}
        for e in load_jsonl(DATA_DIR / entries_file)
    ]
    queries = load_jsonl(DATA_DIR / queries_file)
    ids = {e["id"] for e in entries}
    if len(ids) != len(entries):
        raise SystemExit(f"{entries_file} has duplicate ids")
    for q in queries:
        unknown = [r for r in q["relevant_ids"] if r not in ids]
        if unknown:
            raise SystemExit(f"query {q['query']!r} names unknown entries {unknown}")
    return Dataset(name, entries, queries)


def load_faq(name: str) -> Dataset:
    """bench/data/<name>_faq.jsonl and <name>_queries.jsonl: question, answer."""
    return load_dataset(name, f"{name}_faq.jsonl", f"{name}_queries.jsonl", "question", "answer")


def load_manual() -> Dataset:
    """GNOME Help: bench/data/manual_sections.jsonl and manual_queries.jsonl."""
    return load_dataset("manual", "manual_sections.jsonl", "manual_queries.jsonl", "title", "text")


# way -> (how its entries are ingested, which data set: None for the --dataset FAQ)
WAYS = {"qa": ("qa", None), "files": ("files", None), "manual": ("files", "manual")}


# -------------------------------------------------------------------------- metrics


def dedupe(ranked: list[str]) -> list[str]:
    """Keep each document once, at its best rank: passages of one source are one answer."""
    seen: set[str] = set()
    out = []
    for doc in ranked:
        if doc not in seen:
            seen.add(doc)
            out.append(doc)
    return out


def score_query(ranked: list[str], relevant: set[str], k: int = K) -> dict[str, float]:
    """Binary-relevance metrics of one ranked, de-duplicated list cut at k."""
    top = ranked[:k]
    first = next((i for i, doc in enumerate(top, 1) if doc in relevant), None)
    dcg = sum(1.0 / math.log2(i + 1) for i, doc in enumerate(top, 1) if doc in relevant)
    idcg = sum(1.0 / math.log2(i + 1) for i in range(1, min(len(relevant), k) + 1))
    return {
        "hit@1": 1.0 if first == 1 else 0.0,
        "mrr@10": 1.0 / first if first else 0.0,
        "ndcg@10": dcg / idcg if idcg else 0.0,
        "recall@10": len(relevant & set(top)) / len(relevant),
    }


def mean_metrics(per_query: list[dict[str, float]]) -> dict[str, float]:
    return {m: statistics.fmean(q[m] for q in per_query) for m in METRICS + EXTRA_METRICS}


# ----------------------------------------------------------------------------- HTTP


class BenchError(RuntimeError):
    pass


def expect(response, *codes: int) -> dict:
    """The envelope's data, or a readable failure with what the server said."""
    if response.status_code not in codes:
        body = response.get_data(as_text=True)[:500]
        raise BenchError(
            f"{response.request.method} {response.request.path} -> {response.status_code}, "
            f"expected {codes}: {body}"
        )
    return response.get_json()["data"]


def ingest_qa(client, headers, entries) -> dict[str, str]:
    """Each entry as a Q&A pair (title = question); returns source id -> entry id."""
    mapping = {}
    for entry in entries:
        data = expect(
            client.post(
                f"{API}/knowledge/qa/",
                json={
                    "question": entry["title"],
                    "answer": entry["body"],
                    "tags": [],
                    "source": "faq",
                },
                headers=headers,
            ),
            200,
            201,
            202,
        )
        mapping[source_id_of(data)] = entry["id"]
    return mapping


def ingest_files(client, headers, entries) -> dict[str, str]:
    """Each entry's body alone as a text file titled with its title (an FAQ answer with
    its question, a manual page with its title); returns source id -> entry id."""
    mapping = {}
    for entry in entries:
        filename = entry["id"].replace("/", "_") + ".txt"
        data = expect(
            client.post(
                f"{API}/knowledge/files/",
                data={
                    "title": entry["title"],
                    "file_type": "txt",
                    "file": (io.BytesIO(entry["body"].encode("utf-8")), filename),
                },
                headers=headers,
                content_type="multipart/form-data",
            ),
            200,
            201,
            202,
        )
        mapping[source_id_of(data)] = entry["id"]
    return mapping


def source_id_of(data: dict) -> str:
    # A Q&A pair is a source like any other (API.md: sources/<id> reads "any one of them,
    # whatever its type"); accept an explicit source_id should the create answer carry one.
    return str(data.get("source_id") or data["id"])


def wait_ready(client, headers, source_ids, timeout: float) -> dict:
    """Poll every source until ready; any failure or the deadline ends the benchmark."""
    pending = set(source_ids)
    chunks = 0
    models = set()
    deadline = time.monotonic() + timeout
    while pending:
        for sid in sorted(pending):
            data = expect(client.get(f"{API}/knowledge/sources/{sid}", headers=headers), 200)
            status = data.get("status")
            if status == "ready":
                pending.discard(sid)
                chunks += int(data.get("chunk_count") or 0)
                models.add(data.get("embedding_model"))
            elif status == "failed":
                title, error = data.get("title"), data.get("error")
                raise BenchError(f"source {sid} ({title!r}) failed: {error}")
        if pending:
            if time.monotonic() > deadline:
                raise BenchError(f"{len(pending)} sources still not ready after {timeout:.0f}s")
            time.sleep(0.2)
    return {
        "sources": len(source_ids),
        "chunks": chunks,
        "embedding_models": sorted(str(m) for m in models),
    }


def search(client, headers, query: str, mode: str) -> tuple[list[dict], float]:
    start = time.perf_counter()
    response = client.post(
        f"{API}/knowledge/search",
        json={"query": query, "top_k": K, "mode": mode},
        headers=headers,
    )
    elapsed = (time.perf_counter() - start) * 1000
    return expect(response, 200), elapsed


# -------------------------------------------------------------------------- engines


@dataclass
class EngineSetUp:
    """The settings that put an app on one engine set-up, and what it is, for the report."""

    name: str
    settings: dict
    described: dict
    organizations: list[str] = field(default_factory=list)


def scaled_urls() -> tuple[str, str]:
    """The PostgreSQL server (a database on it is created per run) and the Chroma server."""
    return (
        os.environ.get(POSTGRES_URL_VAR) or DEFAULT_POSTGRES_URL,
        os.environ.get(CHROMA_URL_VAR) or DEFAULT_CHROMA_URL,
    )


def scaled_problem() -> str | None:
    """Why the scaled set-up cannot run here, or None when both servers answer."""
    import psycopg
    import requests

    postgres_url, chroma_url = scaled_urls()
    try:
        psycopg.connect(postgres_url, connect_timeout=3).close()
    except psycopg.Error as error:
        return f"PostgreSQL at {hidden_password(postgres_url)}: {str(error).strip()[:200]}"
    try:
        requests.get(f"{chroma_url}/api/v2/heartbeat", timeout=3).raise_for_status()
    except requests.RequestException as error:
        return f"Chroma server at {chroma_url}: {error}"
    return None


def hidden_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")))


def drop_chroma_collections(chroma_url: str, organization_ids: list[str]) -> int:
    """Delete the organizations' collections from the Chroma server (named
    `org-<id hex>-...` by companin/knowledge/vectorstore.py); how many went."""
    import chromadb
    from chromadb.config import Settings

    parts = urlsplit(chroma_url)
    client = chromadb.HttpClient(
        host=parts.hostname,
        port=parts.port or (443 if parts.scheme == "https" else 80),
        ssl=parts.scheme == "https",
        settings=Settings(anonymized_telemetry=False),
    )
    prefixes = tuple(f"org-{uuid.UUID(org).hex}-" for org in organization_ids)
    names = [c.name for c in client.list_collections() if c.name.startswith(prefixes)]
    for name in names:
        client.delete_collection(name)
    return len(names)


@contextlib.contextmanager
def engine_set_up(name: str) -> Iterator[EngineSetUp]:
    """The settings of `name`, the engines made ready before the block and cleaned after."""
    if name == "embedded":
        # Stated, so that COMPANIN_DATABASE_URL or COMPANIN_CHROMA_URL in the environment
        # cannot move the default set-up elsewhere.
        yield EngineSetUp(
            name,
            {"DATABASE_URL": "", "CHROMA_URL": ""},
            {"database": "SQLite (FTS5, BM25)", "vectors": "embedded Chroma"},
        )
        return
    postgres_url, chroma_url = scaled_urls()
    with fresh_postgres_database(postgres_url, prefix="companin_bench") as database_url:
        set_up = EngineSetUp(
            name,
            {"DATABASE_URL": database_url, "CHROMA_URL": chroma_url},
            {
                "database": f"PostgreSQL {postgres_version(database_url)} (tsvector, ts_rank)",
                "vectors": f"Chroma server {chroma_url}",
            },
        )
        try:
            yield set_up
        finally:
            from companin.db import db

            if not db.is_closed():
                db.close()
            drop_chroma_collections(chroma_url, set_up.organizations)


def postgres_version(url: str) -> str:
    import psycopg

    with psycopg.connect(url) as connection:
        (version,) = connection.execute("SHOW server_version").fetchone()
    return str(version)


def engine_check(runs: dict[str, dict]) -> dict | None:
    """nDCG@10 of each engine set-up against the embedded default, way by way and mode by
    mode, with the queries whose nDCG@10 moved (biggest change first); None if only one
    set-up ran."""
    base = runs.get("embedded")
    others = {name: run for name, run in runs.items() if name != "embedded" and "ways" in run}
    if not base or not others:
        return None
    out: dict = {"tolerance": ENGINE_TOLERANCE, "metric": "ndcg@10", "compared": {}}
    for name, run in others.items():
        for way in [w for w in base["ways"] if w in run["ways"]]:
            a, b = base["ways"][way], run["ways"][way]
            for mode in MODE_LABELS.values():
                delta = round(b["metrics"][mode]["ndcg@10"] - a["metrics"][mode]["ndcg@10"], 4)
                moved = queries_that_moved(a["queries"], b["queries"], mode)
                out["compared"].setdefault(name, {}).setdefault(way, {})[mode] = {
                    "embedded": a["metrics"][mode]["ndcg@10"],
                    name: b["metrics"][mode]["ndcg@10"],
                    "delta": delta,
                    "within": abs(delta) <= ENGINE_TOLERANCE,
                    "queries_better": sum(q["delta"] > 0 for q in moved),
                    "queries_worse": sum(q["delta"] < 0 for q in moved),
                    "queries_moved": moved,
                }
    out["within_on_all"] = all(
        cell["within"]
        for ways in out["compared"].values()
        for modes in ways.values()
        for cell in modes.values()
    )
    return out


def queries_that_moved(base: list[dict], other: list[dict], mode: str) -> list[dict]:
    moved = []
    for a, b in zip(base, other, strict=True):
        delta = round(b[mode]["ndcg@10"] - a[mode]["ndcg@10"], 4)
        if delta:
            moved.append(
                {
                    "query": a["query"],
                    "relevant_ids": a["relevant_ids"],
                    "delta": delta,
                    "rank": [a[mode]["rank"], b[mode]["rank"]],
                    "top3": [a[mode]["top3"], b[mode]["top3"]],
                }
            )
    return sorted(moved, key=lambda q: -abs(q["delta"]))


def print_engine_check(check: dict) -> None:
    print(f"\n== nDCG@10 by engine set-up (tolerance {check['tolerance']}) ==")
    print(f"{'set-up':<9}{'way':<8}{'mode':<8}{'embedded':>10}{'this':>9}{'delta':>9}  queries")
    for name, ways in check["compared"].items():
        for way, modes in ways.items():
            for mode, cell in modes.items():
                verdict = "ok" if cell["within"] else "OUT"
                print(
                    f"{name:<9}{way:<8}{mode:<8}{cell['embedded']:>10.4f}{cell[name]:>9.4f}"
                    f"{cell['delta']:>+9.4f}  {cell['queries_better']} better, "
                    f"{cell['queries_worse']} worse  {verdict}"
                )
    print(
        f"  check |delta| <= {check['tolerance']} everywhere: "
        f"{'PASS' if check['within_on_all'] else 'FAIL'}"
    )


# ------------------------------------------------------------------------ benchmark


INGEST = {"qa": ingest_qa, "files": ingest_files}


def run_way(client, headers, way, dataset: Dataset, timeout) -> dict:
    ingest = INGEST[WAYS[way][0]]
    entries, queries = dataset.entries, dataset.queries
    t0 = time.perf_counter()
    mapping = ingest(client, headers, entries)
    index = wait_ready(client, headers, list(mapping), timeout)
    index["ingest_seconds"] = round(time.perf_counter() - t0, 2)
    models = ", ".join(index["embedding_models"])
    print(
        f"[{way}] {index['sources']} sources, {index['chunks']} chunks, "
        f"ready in {index['ingest_seconds']} s (embeddings: {models})",
        flush=True,
    )

    per_mode: dict[str, dict] = {}
    per_query = [{"query": q["query"], "relevant_ids": q["relevant_ids"]} for q in queries]
    for mode in MODES:
        scores, latencies, foreign = [], [], 0
        for q, record in zip(queries, per_query, strict=True):
            passages, ms = search(client, headers, q["query"], mode)
            latencies.append(ms)
            if len(passages) > K:
                raise BenchError(f"{mode} search returned {len(passages)} passages for top_k={K}")
            ranked = []
            for p in passages:
                entry = mapping.get(str(p["source_id"]))
                if entry is None:
                    # Not one of this organization's sources: an isolation bug, never relevant.
                    foreign += 1
                    entry = f"foreign:{p['source_id']}"
                ranked.append(entry)
            ranked = dedupe(ranked)
            s = score_query(ranked, set(q["relevant_ids"]))
            scores.append(s)
            relevant = set(q["relevant_ids"])
            record[MODE_LABELS[mode]] = {
                "rank": next((i for i, d in enumerate(ranked[:K], 1) if d in relevant), None),
                "ndcg@10": round(s["ndcg@10"], 4),
                "top3": ranked[:3],
            }
        per_mode[MODE_LABELS[mode]] = {
            **{m: round(v, 4) for m, v in mean_metrics(scores).items()},
            "latency_ms_p50": round(statistics.median(latencies), 2),
            "latency_ms_max": round(max(latencies), 2),
            "foreign_passages": foreign,
        }
    return {
        "dataset": dataset.name,
        "entries": len(entries),
        "queries_count": len(queries),
        "index": index,
        "metrics": per_mode,
        "check": check(per_mode, per_query),
        "queries": per_query,
    }


def check(metrics: dict, per_query: list[dict]) -> dict:
    """Hybrid against the better single mode, metric by metric, with per-query wins/losses."""
    out: dict = {"metrics": {}}
    for m in METRICS:
        best_name = max(("bm25", "vector"), key=lambda n: metrics[n][m])
        best = metrics[best_name][m]
        hybrid = metrics["hybrid"][m]
        out["metrics"][m] = {
            "hybrid": hybrid,
            "best_single": best,
            "best_single_mode": best_name,
            "delta": round(hybrid - best, 4),
            "not_worse": hybrid >= best,
            "better": hybrid > best,
        }
    out["not_worse_on_all"] = all(v["not_worse"] for v in out["metrics"].values())
    out["better_on_all"] = all(v["better"] for v in out["metrics"].values())

    # Reciprocal rank per query: how often the hybrid helps or hurts against each mode.
    def rr(record, mode):
        rank = record[mode]["rank"]
        return 1.0 / rank if rank else 0.0

    for single in ("bm25", "vector"):
        wins = sum(rr(r, "hybrid") > rr(r, single) for r in per_query)
        losses = sum(rr(r, "hybrid") < rr(r, single) for r in per_query)
        out[f"hybrid_vs_{single}_rr"] = {"wins": wins, "losses": losses}
    return out


def print_report(way: str, result: dict, engine: str = "embedded") -> None:
    metrics = result["metrics"]
    names = METRICS + EXTRA_METRICS
    print(
        f"\n== {result['dataset']} ingested as {way!r}, {engine}: "
        f"{result['queries_count']} queries =="
    )
    print(f"{'mode':<8}" + "".join(f"{m:>11}" for m in names) + f"{'p50 ms':>10}")
    for mode in ("bm25", "vector", "hybrid"):
        row = metrics[mode]
        print(
            f"{mode:<8}"
            + "".join(f"{row[m]:>11.4f}" for m in names)
            + f"{row['latency_ms_p50']:>10.1f}"
        )
    c = result["check"]
    for m, v in c["metrics"].items():
        verdict = "better" if v["better"] else ("equal" if v["not_worse"] else "WORSE")
        print(
            f"  {m:<8} hybrid {v['hybrid']:.4f} vs best single ({v['best_single_mode']}) "
            f"{v['best_single']:.4f}: {v['delta']:+.4f} {verdict}"
        )
    for single in ("bm25", "vector"):
        wl = c[f"hybrid_vs_{single}_rr"]
        print(f"  per query vs {single}: hybrid better on {wl['wins']}, worse on {wl['losses']}")
    foreign = sum(metrics[m]["foreign_passages"] for m in metrics)
    if foreign:
        print(f"  !! {foreign} passages came from sources outside this organization")
    ok = "PASS" if c["not_worse_on_all"] else "FAIL"
    print(f"  check hybrid >= max(bm25, vector) on every metric: {ok}")


def git(*args: str) -> str | None:
    """Read-only git facts, so that a result can be traced to the code it measured."""
    try:
        return subprocess.run(
            ["git", *args], cwd=BENCH_DIR.parent, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def chosen_engines(option: str | None) -> tuple[list[str], dict[str, str]]:
    """The set-ups to run, and those left out with the reason: without `--engines`, the
    scaled one runs only when its servers answer; asked for by name, it must."""
    names = [e.strip() for e in (option or ",".join(ENGINES)).split(",") if e.strip()]
    if not names or not set(names) <= set(ENGINES):
        raise SystemExit(f"--engines takes one or more of {', '.join(ENGINES)}")
    skipped: dict[str, str] = {}
    if "scaled" in names:
        problem = scaled_problem()
        if problem and option:
            raise BenchError(f"scaled set-up unreachable: {problem}")
        if problem:
            names.remove("scaled")
            skipped["scaled"] = (
                f"{problem} (tools/start-postgres and tools/start-chroma start them; "
                f"{POSTGRES_URL_VAR} and {CHROMA_URL_VAR} name others)"
            )
    return names, skipped


def run_engine(engine: str, ways: list[str], datasets: dict[str, Dataset], args) -> dict:
    """Every way on a fresh instance of one engine set-up, an organization per way."""
    from companin import create_app
    from companin.services.organizations import create_organization

    started = time.perf_counter()
    with (
        engine_set_up(engine) as set_up,
        tempfile.TemporaryDirectory(prefix="companin-bench-") as tmp,
    ):
        print(f"\n-- {engine}: {set_up.described['database']}, {set_up.described['vectors']}")
        app = create_app(
            {
                "INSTANCE_PATH": os.path.join(tmp, "instance"),
                "RATE_LIMIT": "1000000/hour",
                "INGEST_ALLOW_PRIVATE_URLS": True,
                # One access-log line per request would bury the report.
                "LOG_LEVEL": "WARNING",
                **set_up.settings,
            }
        )
        client = app.test_client()
        results = {}
        for way in ways:
            # One organization per way: the indexes must not see each other.
            with app.app_context():
                creds = create_organization(f"bench-{way}")
            set_up.organizations.append(creds.organization_id)
            headers = {"X-API-Key": creds.client_id, "X-API-Secret": creds.client_secret}
            dataset = datasets[WAYS[way][1] or args.dataset]
            results[way] = run_way(client, headers, way, dataset, args.timeout)
            print_report(way, results[way], engine)
    return {
        "set_up": set_up.described,
        "seconds": round(time.perf_counter() - started, 1),
        "ways": results,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dataset", default="python", help="the FAQ of qa and files: bench/data/<name>_faq.jsonl"
    )
    parser.add_argument(
        "--ways", default=",".join(WAYS), help=f"comma-separated: {', '.join(WAYS)}"
    )
    parser.add_argument(
        "--engines",
        default=None,
        help=f"comma-separated: {', '.join(ENGINES)} (default: both, scaled if reachable)",
    )
    parser.add_argument("--timeout", type=float, default=900, help="seconds to reach ready")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "retrieval_quality.json")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a check fails")
    args = parser.parse_args(argv)
    ways = [w.strip() for w in args.ways.split(",") if w.strip()]
    if not ways or not set(ways) <= set(WAYS):
        parser.error(f"--ways takes one or more of {', '.join(WAYS)}")
    engines, skipped = chosen_engines(args.engines)
    for engine, reason in skipped.items():
        print(f"{engine} set-up skipped: {reason}", flush=True)

    datasets: dict[str, Dataset] = {}
    for way in ways:
        name = WAYS[way][1] or args.dataset
        if name not in datasets:
            datasets[name] = load_manual() if name == "manual" else load_faq(name)
            d = datasets[name]
            print(f"dataset {name}: {len(d.entries)} entries, {len(d.queries)} queries", flush=True)
    faq = datasets.get(args.dataset) or load_faq(args.dataset)

    report: dict = {
        # The FAQ of the qa and files ways; each way also names its own data set.
        "dataset": args.dataset,
        "entries": len(faq.entries),
        "queries": len(faq.queries),
        "top_k": K,
        "commit": git("rev-parse", "HEAD"),
        "uncommitted_changes": bool(git("status", "--porcelain", "--", "companin")),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "engines": {},
        "skipped_engines": skipped,
    }
    t_start = time.perf_counter()
    for engine in engines:
        report["engines"][engine] = run_engine(engine, ways, datasets, args)
    report["seconds"] = round(time.perf_counter() - t_start, 1)
    report["engine_check"] = engine_check(report["engines"])
    if report["engine_check"]:
        print_engine_check(report["engine_check"])

    failed = [
        f"{way} ({engine})"
        for engine, run in report["engines"].items()
        for way, result in run["ways"].items()
        if not result["check"]["not_worse_on_all"]
    ]
    if report["engine_check"] and not report["engine_check"]["within_on_all"]:
        failed.append(f"engines differ by more than {ENGINE_TOLERANCE} nDCG@10")
    report["check_passed"] = not failed
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", "utf-8")
    print(f"\nwrote {args.out}")
    verdict = f"FAIL on {', '.join(failed)}" if failed else "PASS"
    print(f"overall ({', '.join(ways)} on {', '.join(engines)}, {report['seconds']} s): {verdict}")
    return 1 if args.strict and failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        sys.exit(2)
