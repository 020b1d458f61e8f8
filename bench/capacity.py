"""Capacity: requests per second and search latency under a support site's load, for one
and two `companin serve` processes, on the embedded default and on PostgreSQL + a Chroma
server + Redis; ingestion chunks/s on both (issue 10).

Set-ups (every cell on a fresh instance, with search_speed's help-centre corpus):

- ``embedded``: SQLite, Chroma embedded in the instance, rate-limit counters in memory.
  Two processes do not apply: Chroma embedded in one folder is not process-safe (Chroma's
  own "system constraints" page; chroma-core/chroma#961, #3792: a second PersistentClient
  on the folder works from stale copies of the index and may lose writes). That cell is
  reported as not applicable, not measured on something unsafe.
- ``scaled``: PostgreSQL (a database created for the cell, dropped after it), a Chroma
  server and Redis, named by COMPANIN_BENCH_POSTGRES_URL, COMPANIN_BENCH_CHROMA_URL and
  COMPANIN_BENCH_REDIS_URL (defaults: the servers tools/start-* start). Two processes are
  two servers on different ports on the same engines and instance folder.

Each cell first uploads the corpus's files (alternating between the servers) and times
them from the first upload until all are `ready`: ingestion chunks/s. Then the load.

The load: what a support site's visitors and team send, weighted per 100 requests:
30 knowledge searches (the help centre's search box: POST /knowledge/search, hybrid,
top 5), 20 customer messages answered by the built-in offline responder (retrieval plus
the composed reply: POST /sessions/<id>/messages), 20 polls of an open chat for a team
member's reply (GET .../messages?after=<last>), 15 reads of the assistant (GET
/assistants/<id>, as a widget loads it) and 15 lists of sessions (the team's inbox: GET
/sessions/), plus a new chat (POST /sessions/) every 4 messages. Server keys throughout.

The load generator is light and runs on the same 2 cores as the servers: a few threads in
this process (``--clients``, default 4), each a closed loop (the next request when the
last one is answered) on http.client keep-alive connections, alternating request by
request between the servers. Its own CPU time is reported next to the servers', with how
busy the whole machine was. Rate limits are raised through settings so that they never
cap the benchmark; a refused or failed request counts as an error.

Run from the repository root:

    .venv/bin/python bench/capacity.py [--quick] [--strict] [--seconds 60] [--chunks 2000]

It prints a table and writes bench/results/capacity.json. ``--quick`` is a short smoke
run; ``--strict`` exits 1 when a request failed or a cell could not be measured.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import resource
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import requests

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
for folder in (ROOT, BENCH):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from retrieval_quality import (  # noqa: E402
    drop_chroma_collections,
    fresh_postgres_database,
    postgres_version,
    scaled_problem,
    scaled_urls,
)
from search_speed import (  # noqa: E402
    API,
    BenchError,
    build_corpus,
    companin_server,
    expect,
    finish,
    git,
    latency_summary,
    load,
    run,
)

RESULTS = ROOT / "bench" / "results" / "capacity.json"
REDIS_URL_VAR = "COMPANIN_BENCH_REDIS_URL"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
MIX = {"search": 30, "message": 20, "poll": 20, "get assistant": 15, "list sessions": 15}
CHAT_LENGTH = 4  # messages before a visitor starts a new chat
NOT_APPLICABLE = (
    "Chroma embedded in one instance folder is not process-safe: a second process's "
    "PersistentClient works from its own stale copy of the index and concurrent writers "
    "may lose data (https://cookbook.chromadb.dev/core/system_constraints/, "
    "chroma-core/chroma#961, chroma-core/chroma#3792). Two processes need a Chroma server."
)
# Whatever a request budget could refuse, raised far past what the benchmark sends
# (companin_server sets the same organization budget).
UNCAPPED = {
    "COMPANIN_RATE_LIMIT": "100000000/hour",
    "COMPANIN_CHAT_MESSAGES_PER_DAY": "100000000",
    "COMPANIN_CHAT_POLLS_PER_MINUTE": "100000000",
    "COMPANIN_LLM_MODEL": "",  # the built-in offline responder answers
    "COMPANIN_LOG_LEVEL": "WARNING",
}


# ---------------------------------------------------------------------------- set-ups


@dataclass
class Cell:
    """One set-up with a number of processes: its settings and what it is."""

    set_up: str
    processes: int
    settings: dict[str, str]
    described: dict[str, str]


@contextlib.contextmanager
def environment(settings: dict[str, str]) -> Iterator[None]:
    """`settings` in os.environ for the block: companin_server passes it to the servers,
    and create_app in this process reads it too."""
    before = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def engines(set_up: str, processes: int) -> Iterator[Cell]:
    """A cell's engines made ready for the block and cleaned after it."""
    if set_up == "embedded":
        yield Cell(
            set_up,
            processes,
            {
                "COMPANIN_DATABASE_URL": "",
                "COMPANIN_CHROMA_URL": "",
                "COMPANIN_RATELIMIT_STORAGE_URI": "memory://",
            },
            {"database": "SQLite", "vectors": "embedded Chroma", "rate limits": "memory"},
        )
        return
    postgres_url, chroma_url = scaled_urls()
    redis_url = os.environ.get(REDIS_URL_VAR) or DEFAULT_REDIS_URL
    with fresh_postgres_database(postgres_url, prefix="companin_bench") as database_url:
        cell = Cell(
            set_up,
            processes,
            {
                "COMPANIN_DATABASE_URL": database_url,
                "COMPANIN_CHROMA_URL": chroma_url,
                "COMPANIN_RATELIMIT_STORAGE_URI": redis_url,
            },
            {
                "database": f"PostgreSQL {postgres_version(database_url)}",
                "vectors": f"Chroma server {chroma_version(chroma_url)}",
                "rate limits": f"Redis {redis_version(redis_url)}",
            },
        )
        yield cell


def chroma_version(url: str) -> str:
    return requests.get(f"{url}/api/v2/version", timeout=5).text.strip('"')


def redis_version(url: str) -> str:
    import redis

    client = redis.Redis.from_url(url)
    try:
        return str(client.info("server")["redis_version"])
    finally:
        client.close()


def scaled_unreachable() -> str | None:
    """Why the scaled set-up cannot run here, or None."""
    import redis

    problem = scaled_problem()
    if problem:
        return problem
    url = os.environ.get(REDIS_URL_VAR) or DEFAULT_REDIS_URL
    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except redis.RedisError as error:
        return f"Redis at {url}: {error}"
    return None


def create_organization_in(instance: Path) -> tuple[str, dict[str, str]]:
    """An organization on the cell's engines (read from the environment), made in this
    process before the servers start; its id and the headers of its server key."""
    from companin import create_app
    from companin.db import db
    from companin.services.organizations import create_organization

    app = create_app({"INSTANCE_PATH": str(instance)})
    with app.app_context():
        credentials = create_organization("capacity bench")
    if not db.is_closed():
        db.close()
    headers = {"X-API-Key": credentials.client_id, "X-API-Secret": credentials.client_secret}
    return credentials.organization_id, headers


# ---------------------------------------------------------------------------- ingestion


def ingest_across(http: requests.Session, urls: list[str], files, timeout: float) -> dict:
    """Upload the files, alternating between the servers, and time them from the first
    upload until every one is ready."""
    start = time.perf_counter()
    pending = {}
    for number, (name, data) in enumerate(files):
        kind = "text/markdown" if name.endswith(".md") else "text/plain"
        source = expect(
            http.post(
                f"{urls[number % len(urls)]}{API}/knowledge/files/",
                files={"file": (name, data, kind)},
                data={"title": name.rsplit(".", 1)[0].replace("-", " ")},
                timeout=120,
            ),
            201,
        )
        pending[source["id"]] = name
    # One source at a time: polling every pending one would itself load the servers being
    # timed. The last to be ready ends the time, whatever order they finish in.
    deadline = start + timeout
    chunks = sum(
        ready(http, urls[0], source_id, name, deadline) for source_id, name in pending.items()
    )
    seconds = time.perf_counter() - start
    return {
        "files": len(files),
        "chunks": chunks,
        "seconds": round(seconds, 2),
        "chunks_per_s": round(chunks / seconds, 1),
    }


def ready(http: requests.Session, url: str, source_id: str, name: str, deadline: float) -> int:
    """Wait, asking twice a second, until the source is ready; its chunks."""
    while True:
        source = expect(http.get(f"{url}{API}/knowledge/sources/{source_id}"), 200)
        if source["status"] == "ready":
            return source["chunk_count"]
        if source["status"] != "processing":
            raise BenchError(f"{name} ended {source['status']}: {source['error']}")
        if time.perf_counter() > deadline:
            raise BenchError(f"{name} still processing at the deadline")
        time.sleep(0.5)


# ---------------------------------------------------------------------------- the load


@dataclass
class Visitor:
    """One load thread: its connections (one per server, kept alive) and its chat."""

    urls: list[str]
    headers: dict[str, str]
    assistant_id: str
    rng: random.Random
    connections: list[http.client.HTTPConnection] = field(default_factory=list)
    turn: int = 0
    session_id: str | None = None
    in_chat: int = 0
    last_message: str | None = None

    def __post_init__(self) -> None:
        for url in self.urls:
            parts = urlsplit(url)
            self.connections.append(http.client.HTTPConnection(parts.hostname, parts.port))

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
        """One request to the next server in turn; a dropped connection is reopened once."""
        number = self.turn % len(self.connections)
        self.turn += 1
        data = None if body is None else json.dumps(body).encode()
        headers = dict(self.headers)
        if data is not None:
            headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            connection = self.connections[number]
            try:
                connection.request(method, API + path, body=data, headers=headers)
                response = connection.getresponse()
                return response.status, response.read()
            except (http.client.HTTPException, OSError):
                connection.close()
                if attempt == 2:
                    return 0, b""
        raise AssertionError("unreachable")

    def close(self) -> None:
        for connection in self.connections:
            connection.close()


def next_request(visitor: Visitor, questions: list[str]) -> tuple[str, str, str, dict | None]:
    """What the visitor sends next: (kind, method, path, body), drawn from MIX."""
    if visitor.session_id is None or visitor.in_chat >= CHAT_LENGTH:
        return "start a chat", "POST", "/sessions/", {"assistant_id": visitor.assistant_id}
    kind = visitor.rng.choices(list(MIX), weights=list(MIX.values()))[0]
    question = visitor.rng.choice(questions)
    if kind == "search":
        return kind, "POST", "/knowledge/search", {"query": question, "top_k": 5}
    if kind == "message":
        return kind, "POST", f"/sessions/{visitor.session_id}/messages", {"content": question}
    if kind == "poll":
        after = f"?after={visitor.last_message}" if visitor.last_message else ""
        return kind, "GET", f"/sessions/{visitor.session_id}/messages{after}", None
    if kind == "get assistant":
        return kind, "GET", f"/assistants/{visitor.assistant_id}", None
    return kind, "GET", "/sessions/", None


def remember(visitor: Visitor, kind: str, status: int, raw: bytes) -> None:
    """Keep the chat the visitor is in and its latest message, as a widget does."""
    if kind == "start a chat" and status == 201:
        visitor.session_id = json.loads(raw)["data"]["id"]
        visitor.in_chat, visitor.last_message = 0, None
    elif kind == "message" and status == 201:
        visitor.in_chat += 1
        visitor.last_message = json.loads(raw)["data"]["assistant_message"]["id"]
    elif kind == "message":
        visitor.in_chat += 1  # a failed message still moves the visitor on


def drive(visitor: Visitor, questions: list[str], window: tuple[float, float], out: list):
    """Requests back to back until the window ends; those that end inside it are kept."""
    counted_from, until = window
    try:
        while time.perf_counter() < until:
            kind, method, path, body = next_request(visitor, questions)
            start = time.perf_counter()
            status, raw = visitor.call(method, path, body)
            end = time.perf_counter()
            remember(visitor, kind, status, raw)
            if counted_from <= start and end <= until:
                out.append((kind, status, end - start))
    finally:
        visitor.close()


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(values) - idle) / tick, sum(values) / tick


def process_cpu(pid: int) -> float:
    """CPU seconds a process and its reaped children used (a PostgreSQL backend that ends
    is counted in its parent's), from /proc/<pid>/stat; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def engine_pids(chroma_url: str | None) -> list[int]:
    """The PostgreSQL, Redis and Chroma server processes of this machine, by name (other
    users of the same servers count too)."""
    if not chroma_url:
        return []
    chroma = f"--port {urlsplit(chroma_url).port}"
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            name = (entry / "comm").read_text().strip()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, UnicodeDecodeError):
            continue
        if name in ("postgres", "redis-server") or (" run " in command and chroma in command):
            pids.append(int(entry.name))
    return pids


def cpu_snapshot(server_pids: list[int], chroma_url: str | None) -> dict:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "wall": time.perf_counter(),
        "machine": machine_cpu(),
        "servers": [process_cpu(pid) for pid in server_pids],
        "engines": sum(process_cpu(pid) for pid in engine_pids(chroma_url)),
        "load_generator": usage.ru_utime + usage.ru_stime,
    }


def cores_used(before: dict, after: dict) -> dict:
    """Cores each part kept busy on average; what is left of the machine's busy time is
    other work: other users of the shared box, and the servers' file parsers (processes
    of their own)."""
    seconds = after["wall"] - before["wall"]
    cores = os.cpu_count() or 1
    share = (after["machine"][0] - before["machine"][0]) / (
        after["machine"][1] - before["machine"][1]
    )
    servers = [(a - b) / seconds for a, b in zip(after["servers"], before["servers"], strict=True)]
    engines = (after["engines"] - before["engines"]) / seconds
    client = (after["load_generator"] - before["load_generator"]) / seconds
    return {
        "machine_busy": round(share, 3),
        "servers_cores": [round(x, 2) for x in servers],
        "engines_cores": round(engines, 2),
        "load_generator_cores": round(client, 2),
        "other_work_cores": round(max(0.0, share * cores - sum(servers) - engines - client), 2),
    }


def on_a_box_of_its_own(rate: float, cpu: dict, unit: str) -> dict:
    """The CPU time one request (or chunk) cost the servers and engines together, and the
    rate that gives when every core is theirs: the box is shared, and other work took
    some of it while this was measured."""
    used = sum(cpu["servers_cores"]) + cpu["engines_cores"]
    cost_ms = 1000 * used / rate if rate else None
    cores = os.cpu_count() or 1
    return {
        f"cpu_ms_per_{unit[:-1]}": round(cost_ms, 1) if cost_ms else None,
        f"{unit}_per_s_all_cores": round(1000 * cores / cost_ms, 1) if cost_ms else None,
    }


def apply_load(urls, headers, assistant_id, questions, pids, chroma_url, args) -> dict:
    """`args.clients` threads for `args.warmup` + `args.seconds`; what the last part did."""
    start = time.perf_counter()
    window = (start + args.warmup, start + args.warmup + args.seconds)
    samples: list[tuple[str, int, float]] = []
    threads = [
        threading.Thread(
            target=drive,
            args=(
                Visitor(urls, headers, assistant_id, random.Random(args.seed + number)),
                questions,
                window,
                samples,
            ),
        )
        for number in range(args.clients)
    ]
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, window[0] - time.perf_counter()))
    before = cpu_snapshot(pids, chroma_url)
    for thread in threads:
        thread.join()
    after = cpu_snapshot(pids, chroma_url)
    measured = summarize(samples, args.seconds) | {"cpu": cores_used(before, after)}
    return measured | on_a_box_of_its_own(measured["requests_per_s"], measured["cpu"], "requests")


def summarize(samples: list[tuple[str, int, float]], seconds: float) -> dict:
    ok = [(kind, elapsed) for kind, status, elapsed in samples if 200 <= status < 300]
    failed: dict[str, int] = {}
    for kind, status, _ in samples:
        if not 200 <= status < 300:
            key = f"{kind}: {status or 'no answer'}"
            failed[key] = failed.get(key, 0) + 1
    by_kind = {}
    for kind in ["start a chat", *MIX]:
        times = [elapsed for k, elapsed in ok if k == kind]
        if times:
            by_kind[kind] = latency_summary(times)
    return {
        "seconds": seconds,
        "requests": len(ok),
        "requests_per_s": round(len(ok) / seconds, 1),
        "failed": failed,
        "by_kind": by_kind,
    }


# ---------------------------------------------------------------------------- a cell


def measure_cell(cell: Cell, files, questions, args) -> dict:
    """A fresh instance on the cell's engines: ingest the corpus, then apply the load."""
    with tempfile.TemporaryDirectory(prefix="companin-capacity-") as tmp:
        instance = Path(tmp) / "instance"
        with environment({**UNCAPPED, **cell.settings}), contextlib.ExitStack() as stack:
            org_id, headers = create_organization_in(instance)
            if cell.set_up != "embedded":
                stack.callback(
                    drop_chroma_collections, cell.settings["COMPANIN_CHROMA_URL"], [org_id]
                )
            servers = []
            for number in range(cell.processes):
                log_dir = Path(tmp) / f"server-{number}"
                log_dir.mkdir()
                servers.append(stack.enter_context(companin_server(instance, log_dir, None)))
            urls = [server.url for server in servers]
            http = requests.Session()
            http.headers.update(headers)
            for url in urls:  # loads the embedder in every server before anything is timed
                expect(http.post(f"{url}{API}/knowledge/search", json={"query": "warm"}), 200)
            pids = [server.process.pid for server in servers]
            chroma_url = cell.settings["COMPANIN_CHROMA_URL"]
            print(f"  ingesting {len(files)} files...", flush=True)
            before = cpu_snapshot(pids, chroma_url)
            ingestion = ingest_across(http, urls, files, args.timeout)
            ingestion["cpu"] = cores_used(before, cpu_snapshot(pids, chroma_url))
            ingestion |= on_a_box_of_its_own(ingestion["chunks_per_s"], ingestion["cpu"], "chunks")
            print(f"  {ingestion['chunks']} chunks at {ingestion['chunks_per_s']}/s", flush=True)
            assistant = expect(
                http.post(f"{urls[0]}{API}/assistants/", json={"name": "Help centre"}), 201
            )
            http.close()
            print(
                f"  load: {args.clients} clients, {args.warmup:.0f} s warm-up + "
                f"{args.seconds:.0f} s...",
                flush=True,
            )
            load_before = load()
            measured = apply_load(urls, headers, assistant["id"], questions, pids, chroma_url, args)
    return {
        "ingestion": ingestion,
        "load": measured,
        "load_1min": {"before": load_before, "after": load()},
    }


# ---------------------------------------------------------------------------- report

ROWS = (
    ("requests/s", lambda c: f"{c['load']['requests_per_s']:.1f}"),
    ("  CPU ms per request", lambda c: f"{c['load']['cpu_ms_per_request']:.1f}"),
    ("  req/s, all cores its", lambda c: f"{c['load']['requests_per_s_all_cores']:.1f}"),
    ("search p50 ms", lambda c: kind_ms(c, "search", "p50_ms")),
    ("search p99 ms", lambda c: kind_ms(c, "search", "p99_ms")),
    ("message p50 ms", lambda c: kind_ms(c, "message", "p50_ms")),
    ("message p99 ms", lambda c: kind_ms(c, "message", "p99_ms")),
    ("get assistant p50 ms", lambda c: kind_ms(c, "get assistant", "p50_ms")),
    ("failed requests", lambda c: str(sum(c["load"]["failed"].values()))),
    ("machine CPU busy", lambda c: f"{100 * c['load']['cpu']['machine_busy']:.0f}%"),
    ("servers' cores", lambda c: "+".join(f"{x:.2f}" for x in c["load"]["cpu"]["servers_cores"])),
    ("engines' cores", lambda c: f"{c['load']['cpu']['engines_cores']:.2f}"),
    ("load generator's cores", lambda c: f"{c['load']['cpu']['load_generator_cores']:.2f}"),
    ("other work's cores", lambda c: f"{c['load']['cpu']['other_work_cores']:.2f}"),
    ("ingestion chunks/s", lambda c: f"{c['ingestion']['chunks_per_s']:.1f}"),
    ("  chunks/s, all cores its", lambda c: f"{c['ingestion']['chunks_per_s_all_cores']:.1f}"),
    ("  other work's cores", lambda c: f"{c['ingestion']['cpu']['other_work_cores']:.2f}"),
)


def kind_ms(cell: dict, kind: str, key: str) -> str:
    summary = cell["load"]["by_kind"].get(kind)
    return f"{summary[key]:.1f}" if summary else "-"


def print_table(report: dict) -> None:
    columns = [
        (name, processes, cell)
        for name, set_up in report["set_ups"].items()
        for processes, cell in set_up["processes"].items()
    ]
    print()
    print(f"{'':24}" + "".join(f"{f'{name}, {p} proc.':>19}" for name, p, _ in columns))
    for label, value in ROWS:
        cells = [value(cell) if "load" in cell else "n/a" for _, _, cell in columns]
        print(f"{label:24}" + "".join(f"{text:>19}" for text in cells))
    print()
    for name, set_up in report["set_ups"].items():
        print(f"{name}: {', '.join(f'{k} {v}' for k, v in set_up['engines'].items())}")
        for processes, cell in set_up["processes"].items():
            if "not_applicable" in cell:
                print(f"  {processes} processes: not applicable: {cell['not_applicable']}")
    print(f"load generator: {report['load_generator']['how']}")
    print()
    for goal in report["goals"]:
        print(f"{goal['goal']:60} {goal['measured']:>12}  {'PASS' if goal['passed'] else 'FAIL'}")


def goals_of(report: dict) -> list[dict]:
    """Not speed targets (the issue sets none): that every cell measured what it says."""
    goals = []
    for name, set_up in report["set_ups"].items():
        for processes, cell in set_up["processes"].items():
            if "load" not in cell:
                continue
            failed = sum(cell["load"]["failed"].values())
            goals.append(
                {
                    "goal": f"{name}, {processes} process(es): no request failed or refused",
                    "measured": f"{failed} failed",
                    "passed": failed == 0,
                }
            )
    return goals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--seconds", type=float, default=60.0, help="measured load per cell")
    parser.add_argument("--warmup", type=float, default=10.0, help="load not measured first")
    parser.add_argument("--chunks", type=int, default=2000, help="corpus size per cell")
    parser.add_argument("--clients", type=int, default=4, help="load threads")
    parser.add_argument("--set-ups", default="embedded,scaled", help="embedded, scaled")
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to reach ready")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--strict", action="store_true", help="exit 1 if a goal is missed")
    args = parser.parse_args(argv)
    # A kill must still stop the servers and drop the database: as a Ctrl-C would.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    if args.quick:
        args.seconds, args.warmup, args.chunks = 10.0, 3.0, 200
    set_ups = [s.strip() for s in args.set_ups.split(",") if s.strip()]
    if not set_ups or not set(set_ups) <= {"embedded", "scaled"}:
        parser.error("--set-ups takes embedded, scaled or both")
    if "scaled" in set_ups and (problem := scaled_unreachable()):
        raise BenchError(f"scaled set-up unreachable: {problem} (tools/start-* start them)")

    corpus, files, _ = build_corpus(args.chunks, args.seed)
    questions = corpus.queries(500)
    report: dict = {
        "commit": git("rev-parse", "HEAD"),
        "uncommitted_changes_in_companin": bool(git("status", "--porcelain", "--", "companin")),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "cores": os.cpu_count(),
        "quick": args.quick,
        "corpus_files": len(files),
        "load_generator": {
            "how": (
                f"{args.clients} threads in the benchmark's process on the same "
                f"{os.cpu_count()} cores, closed loop, http.client keep-alive, alternating "
                "between the servers"
            ),
            "clients": args.clients,
            "mix_per_100": MIX,
            "new_chat_every_messages": CHAT_LENGTH,
            "warmup_s": args.warmup,
        },
        "set_ups": {},
    }
    for name in set_ups:
        report["set_ups"][name] = {"processes": {}}
        for processes in (1, 2):
            if name == "embedded" and processes == 2:
                report["set_ups"][name]["processes"][2] = {"not_applicable": NOT_APPLICABLE}
                continue
            print(f"{name}, {processes} process(es):", flush=True)
            with engines(name, processes) as cell:
                report["set_ups"][name]["engines"] = cell.described
                report["set_ups"][name]["processes"][processes] = measure_cell(
                    cell, files, questions, args
                )
    report["goals"] = goals_of(report)
    return finish(report, args, print_table)


if __name__ == "__main__":
    run(main)
