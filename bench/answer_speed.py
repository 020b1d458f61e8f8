"""Answer speed: what answering a customer costs besides the model, and streams held at once.

Goals, on this 2-core machine, against a real ``companin serve`` with about 10,000 chunks:
- the time a message takes besides the model's own time ("overhead") has a p50 at most
  1.5 x that of ``POST /api/v1/knowledge/search`` with the same questions (embedding the
  question plus searching), measured from the same client in the same run;
- 64 customers streaming replies at once (each for 2 s) all get their whole reply, with no
  error, and with the default threads no one is queued behind another's stream: the last
  first delta comes within the time the server takes to answer 64 messages (at the
  throughput measured with 64 clients) plus one reply's length. A customer waiting for a
  thread to be freed waits for a whole reply on top of the queue for the CPU, as the run
  with 8 threads shows. (On 2 cores, 64 questions arriving in the same instant cannot all
  be answered within a fraction of a second: each costs ~55 ms of CPU, and a streamed
  reply costs litellm about a millisecond of CPU per chunk, step 5);
- the offline default answers /healthz 200 within 3 s of `companin serve` starting.

The model is a real OpenAI-compatible HTTP server on loopback (tests/fake_llm.py, run in
this process, its listen backlog raised to 256 for 64 streams at once), which notes for
each request when it arrived, when it wrote its first content chunk and when it finished,
so that its own time is taken out of what the client measures. Nothing in companin is
patched or mocked: the server runs with COMPANIN_LLM_MODEL=openai/gpt-4o-mini and
COMPANIN_LLM_API_BASE pointing at the fake, and calls it through litellm. A model litellm
knows, as a user's would be: litellm prices the reply from its local list (usage.cost_usd
is stored, as in production), where for a name it does not know it tries a thousand
pattern matches per call (0.5 to 1.5 ms here; step 5 shows both).

What it does, in a fresh temporary instance:

1. builds search_speed's deterministic help-centre corpus, ingests it through the server
   (upload, wait for ``ready``) and adds an assistant; questions are the corpus's own
   customer-style queries (in-domain, so the best passage clears
   COMPANIN_ANSWER_MIN_SIMILARITY and the model is called; the run checks it was);
2. overhead: one keep-alive client sends each question as a message (the fake answers at
   once, not streamed) and as a hybrid search (top_k 12), alternating which goes first.
   Chats are ``--chat-length`` messages long (then a new session), as real chats are: a
   short question that refers back ("and how much is it?") and is not the first of its
   chat is searched joined with the previous question, a longer query, reported apart. The reply's
   ``latency_ms`` (from the stored question to the stored reply) splits the overhead in
   two: the request around the answer, and the answer besides the model;
3. the same, messages only, with 1, 4, 16 and 64 concurrent clients (threads, each with
   its own requests.Session and its own chats), a fixed number of messages per level,
   with the server's CPU time per message;
4. streams held: 64 clients post ``?stream=true`` at the same instant (a barrier), the fake
   streams each reply as 20 chunks 0.1 s apart; for each client the time to its first
   delta minus the model's own time to its first chunk, errors, completed streams, and the
   server's RSS (VmRSS) before, at its highest while the streams are held (sampled every
   0.1 s) and after. Then again against a server with ``--threads 8`` on the same
   instance: with too few threads later customers wait for earlier streams to end;
5. (after the servers stop) the product's own ChatCall (litellm) against the fake, in this
   process, with a prompt the server sent: litellm's share of the overhead; and the CPU
   time litellm spends per chunk of a streamed reply (200 small chunks, as a model writing
   token by token sends them).

The machine is shared: the 1-minute load average is recorded before and after each phase.

Run from the repository root:

    .venv/bin/python bench/answer_speed.py [--strict] [--chunks 10000] [--messages 300]

It prints a table with PASS/FAIL and writes bench/results/answer_speed.json. ``--strict``
exits 1 when a goal is missed. Every wait has a timeout and the whole run has a deadline
(``--max-minutes``); it talks to loopback only.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
for folder in (ROOT, BENCH, ROOT / "tests"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import fake_llm  # noqa: E402 - tests/fake_llm.py, standard library only
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

RESULTS = ROOT / "bench" / "results" / "answer_speed.json"

# The model's name as the server is configured with it; the fake answers to any name.
MODEL = "openai/gpt-4o-mini"
UNKNOWN_MODEL = "openai/test-model"  # a name litellm's price list lacks, for step 5

GOAL_OVERHEAD_RATIO = 1.5
MODEL_CALLED_AT_LEAST = 0.95  # of messages, else the numbers do not measure answers
SEARCH_TOP_K = 12  # the answer pipeline's own candidates (companin.services.answers)
STREAM_CHUNKS = 20
STREAM_CHUNK_DELAY_S = 0.1  # 20 chunks 0.1 s apart: a 2 s reply
SCREEN_MARGIN = 0.02  # above COMPANIN_ANSWER_MIN_SIMILARITY, for a follow-up's second search

# What the fake model answers: cites a passage, as a model told to would.
ANSWER_TEXT = (
    "Thanks for asking. Hold the reset button for ten seconds until the status light "
    "blinks, then pair the device again from the companion app [1]. If it still misbehaves, "
    "our support team will gladly arrange a repair under the warranty [2]."
)
STREAM_TEXT = (ANSWER_TEXT + " ") * 2


# ---------------------------------------------------------------------------- the model


@dataclass
class ModelTiming:
    """One chat completion as the fake saw it, on this process's perf_counter clock."""

    received: float  # the request's line and headers read
    question: str | None = None  # the last message's content: the customer's question
    stream: bool = False
    first_content: float | None = None  # a stream's first non-empty content chunk written
    finished: float | None = None  # the whole response written

    @property
    def seconds(self) -> float:
        return (self.finished or self.received) - self.received

    @property
    def to_first_chunk(self) -> float | None:
        return None if self.first_content is None else self.first_content - self.received


_CONTENT_MARK = b'"delta": {"content": "'  # a content chunk (the first one carries the role)


class _WatchedWriter:
    """The handler's wfile, noting when the first content chunk of a stream went out."""

    def __init__(self, raw, timing: ModelTiming) -> None:
        self._raw = raw
        self._timing = timing

    def write(self, data):
        written = self._raw.write(data)
        if self._timing.first_content is None and _CONTENT_MARK in bytes(data):
            self._timing.first_content = time.perf_counter()
        return written

    def __getattr__(self, name):
        return getattr(self._raw, name)


class _TimedHandler(fake_llm._Handler):
    def do_POST(self):
        timing = ModelTiming(received=time.perf_counter())
        self._timing = timing
        raw, self.wfile = self.wfile, _WatchedWriter(self.wfile, timing)
        try:
            super().do_POST()
        finally:
            self.wfile = raw
            timing.finished = time.perf_counter()
            if "chat/completions" in self.path:
                self.server.fake.note(timing)

    def _read_json(self):
        body = super()._read_json()
        timing = getattr(self, "_timing", None)
        if timing is not None and isinstance(body, dict):
            timing.stream = bool(body.get("stream"))
            messages = body.get("messages") or []
            if messages and isinstance(messages[-1], dict):
                timing.question = messages[-1].get("content")
        return body


class _WideServer(fake_llm._Server):
    # socketserver's default backlog is 5: 64 connections at once would overflow it, and a
    # dropped SYN costs its client a second. 256 (under net.core.somaxconn) is plenty.
    request_queue_size = 256


class TimedFakeLLM(fake_llm.FakeLLM):
    """tests/fake_llm.py's FakeLLM with a wide listen backlog and per-request timings."""

    server_class = _WideServer
    handler_class = _TimedHandler

    def __init__(self) -> None:
        super().__init__()
        self.timings: dict[str, ModelTiming] = {}
        self.untagged = 0

    def note(self, timing: ModelTiming) -> None:
        with self._lock:
            if timing.question is None:
                self.untagged += 1
            else:
                self.timings[timing.question] = timing  # questions are unique in a run

    def timing_for(self, question: str, wait_s: float = 0.0) -> ModelTiming | None:
        """The timing of the request that asked `question`; the handler notes it once its
        response is written, which may be a moment after the client has read it."""
        deadline = time.monotonic() + wait_s
        while True:
            with self._lock:
                timing = self.timings.get(question)
            if timing is not None or time.monotonic() >= deadline:
                return timing
            time.sleep(0.001)


# ---------------------------------------------------------------------------- clients


@dataclass
class Sample:
    """One message as the client saw it, with the model's time once matched."""

    question: str
    client_s: float
    joined: bool  # a follow-up the server searches joined with the previous question
    model: str | None
    handoff: bool
    latency_ms: int | None  # the server's: from the stored question to the stored reply
    model_s: float | None = None

    @property
    def overhead_s(self) -> float | None:
        return None if self.model_s is None else self.client_s - self.model_s


@dataclass
class Client:
    """A customer-side client: its own keep-alive session and its own chat, a new chat
    (session) every `chat_length` messages."""

    url: str
    headers: dict
    assistant_id: str
    chat_length: int
    timeout: float = 120.0
    http: requests.Session = field(default_factory=requests.Session)
    session_id: str | None = None
    in_chat: int = 0
    previous: str | None = None

    def __post_init__(self) -> None:
        self.http.headers.update(self.headers)

    def close(self) -> None:
        self.http.close()

    def chat(self) -> str:
        if self.session_id is None or self.in_chat >= self.chat_length:
            response = self.http.post(
                f"{self.url}{API}/sessions/",
                json={"assistant_id": self.assistant_id},
                timeout=self.timeout,
            )
            self.session_id = expect(response, 200, 201)["id"]
            self.in_chat, self.previous = 0, None
        return self.session_id

    def _joined(self, question: str) -> bool:
        from companin.services.answers import is_follow_up

        return bool(self.previous) and is_follow_up(question)

    def message(self, question: str) -> Sample:
        session_id = self.chat()
        joined = self._joined(question)
        start = time.perf_counter()
        response = self.http.post(
            f"{self.url}{API}/sessions/{session_id}/messages",
            json={"content": question},
            timeout=self.timeout,
        )
        elapsed = time.perf_counter() - start
        reply = expect(response, 201)["assistant_message"]
        self.in_chat, self.previous = self.in_chat + 1, question
        return Sample(
            question, elapsed, joined, reply["model"], reply["handoff"], reply["latency_ms"]
        )

    def search(self, question: str) -> float:
        body = {"query": question, "top_k": SEARCH_TOP_K, "mode": "hybrid"}
        start = time.perf_counter()
        response = self.http.post(f"{self.url}{API}/knowledge/search", json=body, timeout=60)
        elapsed = time.perf_counter() - start
        if not expect(response, 200):
            raise BenchError(f"search found nothing for {question!r}")
        return elapsed

    def stream(
        self, question: str, barrier: threading.Barrier, limit_s: float, delay_s: float = 0.0
    ) -> dict:
        """Post `question` with ?stream=true `delay_s` after every client is ready; read the
        events."""
        session_id = self.chat()
        out: dict = {"question": question, "deltas": 0, "done": False, "error": None}
        try:
            barrier.wait(timeout=120)
        except threading.BrokenBarrierError:
            out["error"] = "the clients never all got ready"
            return out
        if delay_s > 0:
            time.sleep(delay_s)
        start = time.perf_counter()
        out["start"] = start
        first = None
        try:
            with self.http.post(
                f"{self.url}{API}/sessions/{session_id}/messages?stream=true",
                json={"content": question},
                stream=True,
                timeout=(10, limit_s),
            ) as response:
                out["status"] = response.status_code
                if response.status_code != 200:
                    out["error"] = f"HTTP {response.status_code}: {response.text[:300]}"
                    return out
                buffer = b""
                for piece in response.iter_content(chunk_size=None):
                    buffer += piece
                    while b"\n\n" in buffer:
                        block, buffer = buffer.split(b"\n\n", 1)
                        kind, data = _sse(block.decode("utf-8"))
                        if kind == "delta":
                            out["deltas"] += 1
                            if first is None:
                                first = time.perf_counter() - start
                        elif kind == "done":
                            out["done"] = True
                            out["model"] = data["data"]["assistant_message"]["model"]
                        elif kind == "error":
                            out["error"] = f"error event: {data}"
                    if time.perf_counter() - start > limit_s:
                        out["error"] = f"not done after {limit_s:.0f} s"
                        break
        except requests.RequestException as error:
            out["error"] = f"{type(error).__name__}: {error}"
        finally:
            out["first_delta_s"] = first
            out["total_s"] = time.perf_counter() - start
        self.in_chat, self.previous = self.in_chat + 1, question
        return out


def _sse(block: str) -> tuple[str | None, object]:
    kind, data = None, None
    for line in block.splitlines():
        if line.startswith("event: "):
            kind = line[len("event: ") :]
        elif line.startswith("data: "):
            data = json.loads(line[len("data: ") :])
    return kind, data


# ---------------------------------------------------------------------------- server side


def proc_status(pid: int, field_name: str) -> int | None:
    """A /proc/<pid>/status field in kB (VmRSS, VmHWM), or None when unreadable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time the process has used, from /proc/<pid>/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def mb(kilobytes: int | None) -> float | None:
    return None if kilobytes is None else round(kilobytes / 1024, 1)


def ingest(http: requests.Session, url: str, files: list[tuple[str, bytes]], timeout: float):
    """Upload every file, then wait until all are ready; the chunks indexed and seconds."""
    start = time.perf_counter()
    sources = []
    for name, data in files:
        kind = "text/markdown" if name.endswith(".md") else "text/plain"
        sources.append(
            expect(
                http.post(
                    f"{url}{API}/knowledge/files/",
                    files={"file": (name, data, kind)},
                    data={"title": name.rsplit(".", 1)[0].replace("-", " ")},
                    timeout=120,
                ),
                201,
            )
        )
    done: dict[str, dict] = {}
    while len(done) < len(sources):
        if time.perf_counter() - start > timeout:
            raise BenchError(f"{len(sources) - len(done)} file(s) still processing")
        time.sleep(1.0)
        for source in sources:
            if source["id"] in done:
                continue
            now = expect(http.get(f"{url}{API}/knowledge/sources/{source['id']}", timeout=30), 200)
            if now["status"] == "processing":
                continue
            if now["status"] != "ready":
                raise BenchError(f"{source['title']} ended {now['status']}: {now.get('error')}")
            done[source["id"]] = now
            print(
                f"  {len(done):2d}/{len(sources)} ready: {now['title']}, "
                f"{now['chunk_count']} chunks ({time.perf_counter() - start:.0f} s)",
                flush=True,
            )
    chunks = sum(source["chunk_count"] for source in done.values())
    return chunks, time.perf_counter() - start


def screen(client: Client, candidates: list[str], needed: int, min_similarity: float):
    """The first `needed` questions whose best passage clears the answer threshold (with a
    small margin), so that the model is called: the others get the fallback without any
    model call and would measure nothing here. Untimed; returns the kept and the count
    screened."""
    kept: list[str] = []
    screened = 0
    body = {"top_k": SEARCH_TOP_K, "mode": "hybrid"}
    for question in candidates:
        if len(kept) >= needed:
            break
        screened += 1
        response = client.http.post(
            f"{client.url}{API}/knowledge/search", json={**body, "query": question}, timeout=60
        )
        found = expect(response, 200)
        if found and (found[0].get("similarity") or 0.0) >= min_similarity + SCREEN_MARGIN:
            kept.append(question)
    if len(kept) < needed:
        raise BenchError(f"only {len(kept)} of {screened} questions clear the threshold")
    return kept, screened


def warm_up(client: Client, questions: list[str], fake: TimedFakeLLM) -> None:
    """Untimed: the first message waits for litellm's import in the server; streams too."""
    fake.default = fake_llm.Reply(ANSWER_TEXT)
    for question in questions[:-1]:
        client.message(question)
        client.search(question)
    result = client.stream(questions[-1], threading.Barrier(1), 60)
    if not result["done"]:
        raise BenchError(f"warm-up stream failed: {result['error']}")


# ---------------------------------------------------------------------------- phases


def with_model_times(samples: list[Sample], fake: TimedFakeLLM) -> None:
    time.sleep(0.1)  # the last request's timing is noted just after its response
    for sample in samples:
        timing = fake.timing_for(sample.question)
        if timing is not None and not timing.stream:
            sample.model_s = timing.seconds


def summarize_messages(samples: list[Sample]) -> dict:
    called = [s for s in samples if s.model_s is not None]
    result = {
        "messages": len(samples),
        "model_called": len(called),
        "fallback_without_model": sum(1 for s in samples if s.model is None),
        "fallback_examples": [s.question for s in samples if s.model is None][:5],
        "handoffs": sum(1 for s in samples if s.handoff),
        "message": latency_summary([s.client_s for s in called]) if called else None,
    }
    if called:
        result["model"] = latency_summary([s.model_s for s in called])
        result["overhead"] = latency_summary([s.overhead_s for s in called])
    return result


def overhead_phase(client: Client, questions: list[str], fake: TimedFakeLLM, pid: int) -> dict:
    """Each question as a message and as a search, alternating which goes first; the
    server's CPU time (all its threads) is read around each request."""
    fake.default = fake_llm.Reply(ANSWER_TEXT)
    samples: list[Sample] = []
    searches: list[float] = []
    cpu = {"message": 0.0, "search": 0.0}

    def message(question: str) -> None:
        before = cpu_seconds(pid) or 0.0
        samples.append(client.message(question))
        cpu["message"] += (cpu_seconds(pid) or 0.0) - before

    def search(question: str) -> None:
        before = cpu_seconds(pid) or 0.0
        searches.append(client.search(question))
        cpu["search"] += (cpu_seconds(pid) or 0.0) - before

    for number, question in enumerate(questions):
        first, then = (message, search) if number % 2 else (search, message)
        first(question)
        then(question)
    with_model_times(samples, fake)
    result = summarize_messages(samples)
    result["search"] = latency_summary(searches)
    result["server_cpu_ms_per_request"] = {
        kind: round(1000 * seconds / max(1, len(questions)), 2) for kind, seconds in cpu.items()
    }
    called = [s for s in samples if s.model_s is not None]
    if called:
        result["overhead_to_search_p50"] = round(
            result["overhead"]["p50_ms"] / result["search"]["p50_ms"], 3
        )
        for name, joined in (("alone", False), ("joined", True)):
            some = [s.overhead_s for s in called if s.joined == joined]
            result[f"overhead_question_{name}"] = latency_summary(some) if some else None
        # The reply's latency_ms runs from the stored question to the stored reply.
        timed = [s for s in called if s.latency_ms is not None]
        result["split_p50_ms"] = {
            "request around the answer (auth, parse, store the question, envelope)": round(
                statistics.median(1000 * s.client_s - s.latency_ms for s in timed), 2
            ),
            "the answer besides the model (history, search, prompt, litellm, store)": round(
                statistics.median(s.latency_ms - 1000 * s.model_s for s in timed), 2
            ),
            "the model (the fake's own time)": round(
                statistics.median(1000 * s.model_s for s in timed), 2
            ),
        }
    return result


def concurrency_level(
    clients: int,
    questions: list[str],
    make_client,
    fake: TimedFakeLLM,
    pid: int,
    limit_s: float,
) -> dict:
    """`clients` threads send `questions` between them, each message as soon as its last
    reply came; stops taking new ones after `limit_s`."""
    fake.default = fake_llm.Reply(ANSWER_TEXT)
    numbers = itertools.count()
    lock = threading.Lock()
    samples: list[Sample] = []
    errors: list[str] = []
    deadline = time.monotonic() + limit_s
    ready = threading.Barrier(clients + 1)

    def work() -> None:
        client = make_client()
        try:
            try:
                client.chat()
            finally:
                ready.wait(timeout=120)  # whatever happens, so that no one waits in vain
            while time.monotonic() < deadline:
                with lock:
                    number = next(numbers)
                if number >= len(questions):
                    return
                try:
                    sample = client.message(questions[number])
                except (BenchError, requests.RequestException) as error:
                    with lock:
                        errors.append(str(error)[:300])
                    continue
                with lock:
                    samples.append(sample)
        except (BenchError, requests.RequestException, threading.BrokenBarrierError) as error:
            with lock:
                errors.append(f"client failed: {str(error)[:300]}")
        finally:
            client.close()

    threads = [threading.Thread(target=work, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    try:
        ready.wait(timeout=150)
    except threading.BrokenBarrierError as error:
        raise BenchError(f"{clients} clients not ready: {errors[:3]}") from error
    cpu_before, start = cpu_seconds(pid), time.perf_counter()
    for thread in threads:
        thread.join(timeout=max(1.0, deadline - time.monotonic() + 150))
    wall = time.perf_counter() - start
    cpu_after = cpu_seconds(pid)
    with_model_times(samples, fake)
    result = {"clients": clients, **summarize_messages(samples)}
    result["errors"] = len(errors)
    result["error_examples"] = errors[:3]
    result["threads_still_running"] = sum(thread.is_alive() for thread in threads)
    result["seconds"] = round(wall, 2)
    result["messages_per_s"] = round(len(samples) / wall, 2) if wall else None
    if cpu_before is not None and cpu_after is not None and samples:
        result["server_cpu_ms_per_message"] = round(
            1000 * (cpu_after - cpu_before) / len(samples), 2
        )
    return result


def streams_phase(
    count: int,
    questions: list[str],
    make_client,
    fake: TimedFakeLLM,
    pid: int,
    limit_s: float,
    spread_s: float = 0.0,
) -> dict:
    """`count` clients post ?stream=true at the same instant (or, with `spread_s`, one after
    the other at even intervals over that time); the fake streams each reply as
    STREAM_CHUNKS chunks STREAM_CHUNK_DELAY_S apart."""
    chunk_size = -(-len(STREAM_TEXT) // STREAM_CHUNKS)
    fake.default = fake_llm.Reply(
        STREAM_TEXT, chunk_size=chunk_size, chunk_delay=STREAM_CHUNK_DELAY_S
    )
    clients = [make_client() for _ in range(count)]
    results: list[dict | None] = [None] * count
    barrier = threading.Barrier(count + 1)

    def run(number: int) -> None:
        try:
            delay = number * spread_s / count
            results[number] = clients[number].stream(questions[number], barrier, limit_s, delay)
        except (BenchError, requests.RequestException) as error:
            results[number] = {"question": questions[number], "error": str(error)[:300]}
            barrier.abort()

    rss: list[int] = []
    sampling = threading.Event()

    def sample_rss() -> None:
        while not sampling.wait(0.1):
            value = proc_status(pid, "VmRSS")
            if value is not None:
                rss.append(value)

    rss_before = proc_status(pid, "VmRSS")
    load_before = load()
    threads = [threading.Thread(target=run, args=(n,), daemon=True) for n in range(count)]
    for thread in threads:
        thread.start()
    sampler = threading.Thread(target=sample_rss, daemon=True)
    sampler.start()
    try:
        barrier.wait(timeout=120)
    except threading.BrokenBarrierError as error:
        sampling.set()
        raise BenchError(f"stream clients not ready: {[r for r in results if r]}") from error
    start = time.perf_counter()
    for thread in threads:
        thread.join(timeout=max(1.0, start + spread_s + limit_s + 30 - time.perf_counter()))
    wall = time.perf_counter() - start
    sampling.set()
    sampler.join(timeout=5)
    rss_after = proc_status(pid, "VmRSS")
    for client in clients:
        client.close()

    time.sleep(0.1)  # the fake notes a stream's timing just after its last write
    rows = []
    for number, result in enumerate(results):
        result = result or {"question": questions[number], "error": "the client never ended"}
        timing = fake.timing_for(result["question"])
        row = {
            "first_delta_s": _round(result.get("first_delta_s")),
            "total_s": _round(result.get("total_s")),
            "deltas": result.get("deltas", 0),
            "done": result.get("done", False),
            "model": result.get("model"),
            "error": result.get("error"),
        }
        if timing is not None and timing.stream and "start" in result:
            row["model_received_s"] = _round(timing.received - result["start"])
            row["model_to_first_chunk_s"] = _round(timing.to_first_chunk)
            if result.get("first_delta_s") is not None and timing.to_first_chunk is not None:
                row["first_delta_overhead_s"] = _round(
                    result["first_delta_s"] - timing.to_first_chunk
                )
        rows.append(row)
    overheads = [r["first_delta_overhead_s"] for r in rows if "first_delta_overhead_s" in r]
    firsts = [r["first_delta_s"] for r in rows if r["first_delta_s"] is not None]
    stream_s = STREAM_CHUNKS * STREAM_CHUNK_DELAY_S
    return {
        "streams": count,
        "arrivals_spread_over_s": spread_s,
        "reply_seconds": stream_s,
        "completed": sum(1 for r in rows if r["done"] and not r["error"]),
        "errors": sum(1 for r in rows if r["error"]),
        "error_examples": [r["error"] for r in rows if r["error"]][:3],
        "model_called": sum(1 for r in rows if "model_received_s" in r),
        "first_delta_overhead": latency_summary(overheads) if overheads else None,
        "first_delta": latency_summary(firsts) if firsts else None,
        "first_delta_after_one_reply_length": sum(1 for f in firsts if f >= stream_s),
        "total": latency_summary([r["total_s"] for r in rows if r["total_s"] is not None]),
        "min_deltas": min((r["deltas"] for r in rows), default=0),
        "seconds": round(wall, 2),
        "rss_mb": {
            "before": mb(rss_before),
            "highest_while_held": mb(max(rss, default=None)),
            "after": mb(rss_after),
            "process_peak_VmHWM": mb(proc_status(pid, "VmHWM")),
        },
        "load_1min": {"before": load_before, "after": load()},
        "per_client": sorted(rows, key=lambda r: r["first_delta_s"] or 1e9),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def litellm_alone(fake: TimedFakeLLM, calls: int) -> dict:
    """The product's ChatCall against the fake in this process, with a prompt the server
    sent: litellm's own time per call, besides the model's; with the benchmark's model and
    with a name litellm's price list lacks."""
    body = next(b for b in reversed(fake.requests) if not b.get("stream"))
    fake.default = fake_llm.Reply(ANSWER_TEXT)
    messages = body["messages"]
    report: dict = {"prompt_chars": sum(len(m["content"]) for m in messages)}
    for model in (MODEL, UNKNOWN_MODEL):
        report[model] = _chatcall_times(fake, model, messages, calls)
    report["streamed_cpu_per_chunk"] = _stream_cpu(fake, messages)
    return report


def _stream_cpu(fake: TimedFakeLLM, messages: list, calls: int = 20, chunks: int = 200) -> dict:
    """This thread's CPU time per chunk while ChatCall reads a streamed reply of `chunks`
    small chunks (no delay between them), besides a non-streamed call's."""
    from companin.llm.chat import ChatCall, ModelSettings

    settings = ModelSettings(model=MODEL, api_base=fake.base_url, api_key="sk-test")
    # Distinct pieces: litellm stops a stream that repeats one chunk over and over.
    text = "".join(f"w{number:04d} " for number in range(chunks))
    cpu: dict[bool, float] = {}
    for stream in (False, True):
        fake.default = fake_llm.Reply(text, chunk_size=len("w0000 "))
        list(ChatCall(settings, messages, stream))  # warm
        start = time.thread_time()
        for _ in range(calls):
            list(ChatCall(settings, messages, stream))
        cpu[stream] = (time.thread_time() - start) / calls
    fake.default = fake_llm.Reply(ANSWER_TEXT)
    return {
        "chunks": chunks,
        "cpu_ms_per_call_not_streamed": round(1000 * cpu[False], 2),
        "cpu_ms_per_call_streamed": round(1000 * cpu[True], 2),
        "cpu_ms_per_chunk": round(1000 * (cpu[True] - cpu[False]) / chunks, 3),
    }


def _chatcall_times(fake: TimedFakeLLM, model_name: str, messages: list, calls: int) -> dict:
    from companin.llm.chat import ChatCall, ModelSettings

    settings = ModelSettings(
        model=model_name, api_base=fake.base_url, api_key="sk-test", timeout_s=30
    )
    prompt = messages[:-1]
    times, model = [], []
    for number in range(calls + 5):  # the first five warm litellm up and are not kept
        question = f"{messages[-1]['content']} ({model_name} alone {number})"
        start = time.perf_counter()
        text = "".join(ChatCall(settings, [*prompt, {"role": "user", "content": question}], False))
        elapsed = time.perf_counter() - start
        if not text:
            raise BenchError("ChatCall returned no text")
        if number >= 5:
            times.append(elapsed)
            timing = fake.timing_for(question, wait_s=2.0)
            if timing is None:
                raise BenchError("the fake model never saw a ChatCall request")
            model.append(timing.seconds)
    return {
        "chatcall": latency_summary(times),
        "model": latency_summary(model),
        "litellm_besides_model": latency_summary(
            [t - m for t, m in zip(times, model, strict=True)]
        ),
    }


# ---------------------------------------------------------------------------- report


STARTUP_RUNS = 3
GOAL_STARTUP_S = 3.0


def startup_times(runs: int) -> dict:
    """Seconds from `companin serve` (the offline default, a new instance each time) to its
    first /healthz 200, polled every 0.1 s."""
    seconds = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="companin-startup-") as tmp:
            started = time.perf_counter()
            with companin_server(Path(tmp) / "instance", Path(tmp), None):
                seconds.append(round(time.perf_counter() - started, 2))
    return {"seconds": seconds, "median": statistics.median(seconds)}


def goals_of(report: dict, args) -> list[dict]:
    over = report["overhead"]
    default = report["streams"]["default_threads"]
    messages = over["messages"] + sum(level["messages"] for level in report["concurrency"])
    called = over["model_called"] + sum(level["model_called"] for level in report["concurrency"])
    streams = sum(s["streams"] for s in report["streams"].values() if isinstance(s, dict))
    streamed = sum(s["model_called"] for s in report["streams"].values() if isinstance(s, dict))
    share = (called + streamed) / max(1, messages + streams)
    ratio = over.get("overhead_to_search_p50")
    top = max(report["concurrency"], key=lambda level: level["clients"])
    bound = queue_bound_s(report, default)
    last = (default["first_delta"] or {}).get("max_ms")
    last = None if last is None else last / 1000
    return [
        {
            "goal": f"offline start-up to /healthz 200 < {GOAL_STARTUP_S:.0f} s (median)",
            "measured": f"{report['startup']['median']:.2f} s",
            "passed": report["startup"]["median"] < GOAL_STARTUP_S,
        },
        {
            "goal": f"chunks indexed >= {args.chunks}",
            "measured": str(report["chunks_indexed"]),
            "passed": report["chunks_indexed"] >= args.chunks,
        },
        {
            "goal": f"model called for >= {MODEL_CALLED_AT_LEAST:.0%} of messages",
            "measured": f"{called + streamed}/{messages + streams}",
            "passed": share >= MODEL_CALLED_AT_LEAST,
        },
        {
            "goal": f"overhead p50 <= {GOAL_OVERHEAD_RATIO} x search p50",
            "measured": "n/a" if ratio is None else f"{ratio:.2f} x",
            "passed": ratio is not None and ratio <= GOAL_OVERHEAD_RATIO,
        },
        {
            "goal": f"{default['streams']} streams, default threads: 0 errors",
            "measured": str(default["errors"]),
            "passed": default["errors"] == 0,
        },
        {
            "goal": f"{default['streams']} streams, default threads: all completed",
            "measured": f"{default['completed']}/{default['streams']}",
            "passed": default["completed"] == default["streams"],
        },
        {
            "goal": (
                f"{default['streams']} streams, default threads: last first delta <= "
                f"{default['streams']} messages at the {top['clients']}-client throughput + "
                f"one reply ({bound:.1f} s)"
            ),
            "measured": "n/a" if last is None else f"{last:.1f} s",
            "passed": last is not None and last <= bound,
        },
    ]


def queue_bound_s(report: dict, streams: dict) -> float:
    """How long the last of `streams` may wait for its first delta if no one waits for a
    thread: the time the server takes to answer that many messages at the throughput
    measured with the most concurrent clients, plus one reply's length."""
    top = max(report["concurrency"], key=lambda level: level["clients"])
    return streams["streams"] / top["messages_per_s"] + streams["reply_seconds"]


def _ms(summary: dict | None, key: str) -> str:
    return f"{summary[key]:8.1f}" if summary else f"{'-':>8}"


def print_table(report: dict) -> None:
    over = report["overhead"]
    print()
    print(
        f"corpus: {report['corpus']['files']} files, {report['chunks_indexed']} chunks indexed; "
        f"chats of {report['settings']['chat_length']} messages"
    )
    print()
    print(f"sequential, one client, {over['messages']} questions as message and as search:")
    print(f"  {'':44} {'n':>5} {'p50 ms':>8} {'p99 ms':>8}")
    rows = [
        ("message (client side)", over["message"]),
        ("model (the fake's own time)", over.get("model")),
        ("overhead = message - model", over.get("overhead")),
        ("  of which a question searched alone", over.get("overhead_question_alone")),
        ("  of which a follow-up joined to the last", over.get("overhead_question_joined")),
        (f"search, hybrid, top_k {SEARCH_TOP_K} (client side)", over["search"]),
    ]
    for name, s in rows:
        n = s["n"] if s else 0
        print(f"  {name:44} {n:5d} {_ms(s, 'p50_ms')} {_ms(s, 'p99_ms')}")
    print(f"  overhead p50 / search p50 = {over.get('overhead_to_search_p50')}")
    cpu = over.get("server_cpu_ms_per_request") or {}
    print(
        f"  server CPU (all threads) per request: message {cpu.get('message')} ms, "
        f"search {cpu.get('search')} ms"
    )
    for name, value in (over.get("split_p50_ms") or {}).items():
        print(f"    p50 {value:7.2f} ms  {name}")
    per_chunk = (report.get("litellm_alone") or {}).get("streamed_cpu_per_chunk")
    if per_chunk:
        print(
            f"  litellm reading a stream: {per_chunk['cpu_ms_per_chunk']} ms of CPU per chunk "
            f"({per_chunk['chunks']} chunks: {per_chunk['cpu_ms_per_call_streamed']} ms, not "
            f"streamed {per_chunk['cpu_ms_per_call_not_streamed']} ms)"
        )
    for model in (MODEL, UNKNOWN_MODEL):
        alone = (report.get("litellm_alone") or {}).get(model)
        if alone:
            print(
                f"  litellm alone (ChatCall in this process, same prompt, {model}): "
                f"p50 {alone['litellm_besides_model']['p50_ms']:.2f} ms besides the model"
            )
    print()
    print("concurrent clients, messages only:")
    print(
        f"  {'clients':>7} {'n':>5} {'err':>4} {'msg p50':>8} {'msg p99':>8} "
        f"{'ovh p50':>8} {'ovh p99':>8} {'msg/s':>6} {'cpu ms/msg':>10}"
    )
    for level in report["concurrency"]:
        cpu = level.get("server_cpu_ms_per_message")
        print(
            f"  {level['clients']:7d} {level['messages']:5d} {level['errors']:4d} "
            f"{_ms(level['message'], 'p50_ms')} {_ms(level['message'], 'p99_ms')} "
            f"{_ms(level.get('overhead'), 'p50_ms')} {_ms(level.get('overhead'), 'p99_ms')} "
            f"{level['messages_per_s'] or 0:6.1f} {cpu if cpu is not None else '-':>10}"
        )
    print()
    print("streams held at once (each reply 2 s, 20 chunks):")
    print(
        f"  {'server':22} {'arrive':>6} {'n':>3} {'done':>4} {'err':>3} {'1st-delta ovh p50':>17} "
        f"{'p99':>8} {'max 1st delta':>13} {'RSS MB before/peak/after':>25}"
    )
    for name, s in report["streams"].items():
        ovh, first, rss = s["first_delta_overhead"], s["first_delta"], s["rss_mb"]
        print(
            f"  {name:22} {s['arrivals_spread_over_s']:5.1f}s {s['streams']:3d} "
            f"{s['completed']:4d} {s['errors']:3d} "
            f"{(ovh or {}).get('p50_ms', 0) / 1000:15.3f} s "
            f"{(ovh or {}).get('p99_ms', 0) / 1000:6.3f} s "
            f"{(first or {}).get('max_ms', 0) / 1000:11.3f} s "
            f"{rss['before']!s:>8}/{rss['highest_while_held']!s}/{rss['after']!s}"
        )
    print()
    print(f"load average (1 min): {report['load_1min']}")
    print()
    print(f"{'goal':58} {'measured':>12}  result")
    for goal in report["goals"]:
        verdict = "PASS" if goal["passed"] else "FAIL"
        print(f"{goal['goal']:58} {goal['measured']:>12}  {verdict}")
    for note in report.get("observations", []):
        print(f"note: {note}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=10_000, help="chunks to index (files)")
    parser.add_argument("--messages", type=int, default=300, help="sequential message+search")
    parser.add_argument("--warmup", type=int, default=10, help="untimed messages first")
    parser.add_argument("--levels", default="1,4,16,64", help="concurrent clients, comma-separated")
    parser.add_argument("--level-messages", type=int, default=200, help="messages per level")
    parser.add_argument("--level-seconds", type=float, default=300, help="time cap per level")
    parser.add_argument("--streams", type=int, default=64, help="streams held at once")
    parser.add_argument("--few-threads", type=int, default=8, help="the second server's threads")
    parser.add_argument(
        "--spread",
        type=float,
        default=STREAM_CHUNKS * STREAM_CHUNK_DELAY_S,
        help="also streams arriving one by one over this many seconds (0: not)",
    )
    parser.add_argument("--chat-length", type=int, default=8, help="messages per chat")
    parser.add_argument("--litellm-calls", type=int, default=100, help="0 skips that step")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=3600, help="seconds to reach ready")
    parser.add_argument("--max-minutes", type=float, default=90, help="the whole run's cap")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--strict", action="store_true", help="exit 1 if a goal is missed")
    args = parser.parse_args(argv)
    levels = [int(n) for n in args.levels.split(",") if n.strip()]

    def stop(*_):
        raise KeyboardInterrupt()

    def too_long(*_):
        raise BenchError(f"not done after {args.max_minutes:g} minutes")

    # A Ctrl-C, a kill or the deadline must still stop the servers (the context managers).
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGALRM, too_long)
    signal.alarm(max(1, int(args.max_minutes * 60)))
    run_started = time.perf_counter()

    print(f"generating a corpus of at least {args.chunks} chunks...", flush=True)
    corpus, files, predicted = build_corpus(args.chunks, args.seed)
    needed = (
        args.warmup
        + args.messages
        + len(levels) * args.level_messages
        + 3 * (args.streams + args.warmup)
    )
    candidates = corpus.queries(2 * needed)
    questions = iter(())

    def take(count: int) -> list[str]:
        return list(itertools.islice(questions, count))

    report: dict = {
        "commit": git("rev-parse", "HEAD"),
        "uncommitted_changes_in_companin": bool(git("status", "--porcelain", "--", "companin")),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "cores": os.cpu_count(),
        "settings": {
            "chunks_target": args.chunks,
            "messages": args.messages,
            "warmup": args.warmup,
            "levels": levels,
            "level_messages": args.level_messages,
            "streams": args.streams,
            "few_threads": args.few_threads,
            "chat_length": args.chat_length,
            "search": {"mode": "hybrid", "top_k": SEARCH_TOP_K},
            "model": f"{MODEL} on a loopback FakeLLM (tests/fake_llm.py)",
            "stream_reply": {"chunks": STREAM_CHUNKS, "chunk_delay_s": STREAM_CHUNK_DELAY_S},
            "streams_spread_s": args.spread,
            "seed": args.seed,
        },
        "corpus": {"files": len(files), "predicted_chunks": predicted},
        "load_avg_start": [round(x, 2) for x in os.getloadavg()],
        "load_1min": {"start": load()},
    }

    from companin import create_app
    from companin.config import defaults, from_environment
    from companin.services.organizations import create_organization

    report["startup"] = startup_times(STARTUP_RUNS)
    print(f"offline start-up to /healthz 200: {report['startup']}", flush=True)

    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="companin-answer-")))
        fake = stack.enter_context(TimedFakeLLM())
        instance = tmp / "instance"
        app = create_app({"INSTANCE_PATH": str(instance)})
        with app.app_context():
            credentials = create_organization("answer-speed bench")
        del app
        headers = {"X-API-Key": credentials.client_id, "X-API-Secret": credentials.client_secret}
        os.environ.update(
            {
                "COMPANIN_LLM_MODEL": MODEL,
                "COMPANIN_LLM_API_BASE": fake.base_url,
                "COMPANIN_LLM_API_KEY": "sk-test",
            }
        )

        def serve(name: str, threads: int | None):
            log_dir = tmp / name
            log_dir.mkdir()
            return companin_server(instance, log_dir, threads)

        with serve("default", None) as server:
            pid = server.process.pid
            http = requests.Session()
            http.headers.update(headers)
            expect(
                http.post(
                    f"{server.url}{API}/knowledge/search", json={"query": "warm up"}, timeout=120
                ),
                200,
            )
            print(f"ingesting {len(files)} files through {server.url}...", flush=True)
            chunks, seconds = ingest(http, server.url, files, args.timeout)
            report["chunks_indexed"] = chunks
            report["ingestion_seconds"] = round(seconds, 1)
            report["load_1min"]["after_ingestion"] = load()
            assistant = expect(
                http.post(f"{server.url}{API}/assistants/", json={"name": "Ada"}, timeout=30),
                201,
            )
            http.close()

            def make_client(url=server.url) -> Client:
                return Client(url, headers, assistant["id"], args.chat_length)

            client = make_client()
            # The server's value: the default unless set in the environment (a fresh
            # instance has no config.py).
            threshold = {**defaults(), **from_environment()}["ANSWER_MIN_SIMILARITY"]
            print(f"choosing {needed} questions the model will be asked...", flush=True)
            kept, screened = screen(client, candidates, needed, threshold)
            questions = iter(kept)
            report["questions"] = {
                "screened": screened,
                "kept": len(kept),
                "min_similarity": threshold,
                "margin": SCREEN_MARGIN,
                "left_out_examples": [q for q in candidates[:screened] if q not in kept][:5],
            }
            print("warming up (litellm is imported in the server)...", flush=True)
            warm_up(client, take(args.warmup), fake)
            report["server_rss_mb_idle"] = mb(proc_status(pid, "VmRSS"))

            print(f"overhead: {args.messages} questions as message and as search...", flush=True)
            report["load_1min"]["before_overhead"] = load()
            report["overhead"] = overhead_phase(client, take(args.messages), fake, pid)
            report["load_1min"]["after_overhead"] = load()
            client.close()

            report["concurrency"] = []
            for clients in levels:
                print(f"  {clients} concurrent clients, {args.level_messages} messages...")
                level = concurrency_level(
                    clients,
                    take(args.level_messages),
                    make_client,
                    fake,
                    pid,
                    args.level_seconds,
                )
                level["load_1min_after"] = load()
                report["concurrency"].append(level)

            print(f"{args.streams} streams at once, default threads...", flush=True)
            report["streams"] = {
                "default_threads": streams_phase(
                    args.streams, take(args.streams), make_client, fake, pid, 90
                )
            }
            if args.spread:
                print(f"{args.streams} streams arriving over {args.spread:g} s...", flush=True)
                report["streams"]["default_threads_spread"] = streams_phase(
                    args.streams, take(args.streams), make_client, fake, pid, 90, args.spread
                )

        with serve("few", args.few_threads) as server:
            pid = server.process.pid

            def make_few_client(url=server.url) -> Client:
                return Client(url, headers, assistant["id"], args.chat_length)

            client = make_few_client()
            warm_up(client, take(args.warmup), fake)
            client.close()
            print(f"{args.streams} streams at once, --threads {args.few_threads}...", flush=True)
            report["streams"][f"{args.few_threads}_threads"] = streams_phase(
                args.streams, take(args.streams), make_few_client, fake, pid, 120
            )

        if args.litellm_calls:
            print("litellm alone, in this process...", flush=True)
            report["litellm_alone"] = litellm_alone(fake, args.litellm_calls)
        report["fake_model"] = {
            "chat_requests": len(fake.requests),
            "timed": len(fake.timings),
            "untagged": fake.untagged,
        }
    # Others may commit while it runs: each server runs the code of the moment it started.
    report["commit_end"] = git("rev-parse", "HEAD")
    report["companin_changed_during_run"] = report["commit_end"] != report["commit"] or bool(
        git("status", "--porcelain", "--", "companin")
    )
    report["load_1min"]["end"] = load()
    report["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    report["run_seconds"] = round(time.perf_counter() - run_started, 1)
    signal.alarm(0)

    report["goals"] = goals_of(report, args)
    few = report["streams"].get(f"{args.few_threads}_threads")
    if few and few["first_delta_overhead"]:
        report["observations"] = [
            f"with --threads {args.few_threads}, {few['first_delta_after_one_reply_length']} of "
            f"{few['streams']} clients got their first delta after a whole reply's length "
            f"({few['reply_seconds']:g} s); the last after "
            f"{few['first_delta']['max_ms'] / 1000:.1f} s, beyond the "
            f"{queue_bound_s(report, few):.1f} s of a server that queues no one behind a stream"
        ]
    return finish(report, args, print_table, f" (run took {report['run_seconds']:.0f} s)")


if __name__ == "__main__":
    run(main)
