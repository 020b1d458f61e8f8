"""The knowledge base's embedders: offline MiniLM against sentence-transformers' own vectors,
and a litellm model against a real OpenAI-compatible server on loopback."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
import threading
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from engines import no_engine_used

from companin.knowledge.embedder import get_embedder
from companin.knowledge.minilm import MiniLMEmbedder, _runs
from companin.llm.embeddings import LiteLLMEmbedder
from companin.llm.errors import ProviderUnavailable

pytestmark = no_engine_used

REFERENCE = json.loads(
    (Path(__file__).parent / "fixtures" / "minilm_reference.json").read_text("utf-8")
)
TEXTS = [item["text"] for item in REFERENCE["items"]]
API_KEY = "sk-test-4f9a1c-DO-NOT-LEAK"


@pytest.fixture(scope="module")
def minilm() -> MiniLMEmbedder:
    return MiniLMEmbedder()


def reference_vectors() -> np.ndarray:
    vectors = np.array([item["vector"] for item in REFERENCE["items"]], dtype=np.float64)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def assert_unit_rows(vectors: np.ndarray, count: int, dimension: int) -> None:
    assert vectors.shape == (count, dimension)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


# -- the offline model -------------------------------------------------------------------


def test_vectors_match_sentence_transformers(minilm):
    # The fixture must exercise truncation at 256 tokens, or the check below would not.
    assert max(minilm.count_tokens(text) for text in TEXTS) > 2 * REFERENCE["max_seq_length"]

    vectors = minilm.embed(TEXTS)

    assert_unit_rows(vectors, len(TEXTS), REFERENCE["dim"])
    cosines = np.einsum("ij,ij->i", vectors.astype(np.float64), reference_vectors())
    worst = int(np.argmin(cosines))
    assert cosines[worst] >= 0.9999, f"{TEXTS[worst][:60]!r}: cosine {cosines[worst]:.6f}"
    # Tighter than the bar, which GELU's tanh approximation would still pass
    # (0.999994 at worst): the exact erf form lands within float32 rounding.
    assert cosines.min() >= 0.99999


def test_batch_gives_each_text_its_own_vector_in_order(minilm):
    # Mixed lengths in a scrambled order: the embedder sorts by length internally and
    # packs texts together, so each row must still be the vector of its own text.
    order = np.random.default_rng(7).permutation(len(TEXTS))
    texts = [TEXTS[i] for i in order]

    batch = minilm.embed(texts)
    alone = np.vstack([minilm.embed([text]) for text in texts])

    assert np.allclose(batch, alone, atol=2e-6)
    assert np.allclose(batch, reference_vectors()[order], atol=5e-3)


def test_text_past_256_tokens_is_cut_there(minilm):
    long_text = " ".join(f"paragraph{i} about returns and refunds" for i in range(200))
    assert minilm.count_tokens(long_text) > 600

    first, with_other_tail, short = minilm.embed(
        [long_text, long_text + " Entirely different closing words.", "returns and refunds"]
    )

    assert np.allclose(first, with_other_tail, atol=1e-6)
    assert not np.allclose(first, short, atol=1e-2)


def test_text_under_256_tokens_is_read_to_the_end(minilm):
    words = " ".join(f"item{i}" for i in range(100))
    head = f"{words} and the order was shipped to"
    assert 200 < minilm.count_tokens(head + " Canada") < 256

    canada, japan = minilm.embed([head + " Canada", head + " Japan"])

    assert canada @ japan < 0.99


def test_texts_of_unlike_length_are_not_padded_to_the_longest():
    # A run of the network is padded to its longest text: a Q&A bulk of short questions
    # with a few long answers must not cost 256 tokens per question.
    lengths = [3] * 40 + [256, 250, 8, 120, 9, 200]
    runs = list(_runs(lengths))

    assert sorted(i for run in runs for i in run) == list(range(len(lengths)))
    for run in runs:
        padded = len(run) * max(lengths[i] for i in run)
        assert padded - sum(lengths[i] for i in run) <= max(0.2 * padded, 32)
    assert len(runs) <= 6  # and not one run per text


def test_empty_inputs(minilm):
    empty = minilm.embed([])
    assert empty.shape == (0, 384) and empty.dtype == np.float32

    # An empty string is still a text: [CLS] [SEP] has a vector like any other.
    assert minilm.count_tokens("") == 2
    assert_unit_rows(minilm.embed([""]), 1, 384)


def test_count_tokens_includes_special_tokens_and_no_cut(minilm):
    assert minilm.count_tokens("hello") == 3  # [CLS] hello [SEP]
    assert minilm.count_tokens("Hello, world!") == 6
    assert minilm.count_tokens("word " * 1000) == 1002


def test_paraphrase_is_nearer_than_another_topic(minilm):
    question, paraphrase, other = minilm.embed(
        [
            "How do I reset my password?",
            "I forgot my password, how can I change it?",
            "What are your opening hours on weekends?",
        ]
    )
    assert question @ paraphrase > question @ other + 0.2


def test_concurrent_calls_give_the_same_vectors(minilm):
    # A threaded server embeds queries while a source is being ingested.
    expected = minilm.embed(TEXTS)
    jobs = [TEXTS, TEXTS[::-1], TEXTS[:5], TEXTS[-3:]]
    with ThreadPoolExecutor(len(jobs)) as pool:
        results = list(pool.map(minilm.embed, jobs))

    assert np.allclose(results[0], expected, atol=2e-6)
    assert np.allclose(results[1], expected[::-1], atol=2e-6)
    assert np.allclose(results[2], expected[:5], atol=2e-6)
    assert np.allclose(results[3], expected[-3:], atol=2e-6)


def test_a_forked_child_still_embeds(minilm):
    # A pre-forking server (or a forked worker) inherits a loaded model but none of the
    # parent's threads; the child must not wait for a thread pool that is not there.
    texts = [TEXTS[-1], TEXTS[-2], *TEXTS[:6]]  # enough tokens to be shared among threads
    expected = minilm.embed(texts)
    read, write = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads, 3.12+
        pid = os.fork()
    if pid == 0:  # the child: report through the pipe, never return into pytest
        status = 1
        try:
            os.write(write, minilm.embed(texts).tobytes())
            status = 0
        finally:
            os._exit(status)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        received = pipe.read()
    assert os.waitpid(pid, 0)[1] == 0
    child = np.frombuffer(received, dtype=np.float32).reshape(expected.shape)
    assert np.allclose(child, expected, atol=2e-6)


def test_default_embedder_is_the_offline_model_once_per_process():
    embedder = get_embedder("")

    assert embedder is get_embedder("")
    assert (embedder.name, embedder.dimension) == ("all-MiniLM-L6-v2", 384)
    assert_unit_rows(embedder.embed(["Where is my order?"]), 1, 384)


# -- a litellm model ---------------------------------------------------------------------


class FakeProvider(ThreadingHTTPServer):
    """An OpenAI-compatible /v1/embeddings endpoint with deterministic vectors."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ProviderHandler)
        self.status = 200
        self.requests: list[dict] = []
        self.authorizations: list[str | None] = []

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.server_port}/v1"


def raw_vector(text: str) -> list[float]:
    """Not unit length on purpose: normalising is the embedder's job."""
    digest = hashlib.sha256(text.encode()).digest()
    return [1.0 + byte / 8 for byte in digest[:8]]


class _ProviderHandler(BaseHTTPRequestHandler):
    server: FakeProvider

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append(body)
        self.server.authorizations.append(self.headers.get("Authorization"))
        if self.path != "/v1/embeddings":
            return self._reply(404, {"error": {"message": "no such route"}})
        if self.server.status == 401:
            # Like OpenAI's, the refusal quotes the key it was given.
            message = f"Incorrect API key provided: {self.headers.get('Authorization')}"
            return self._reply(401, {"error": {"message": message, "code": "invalid_api_key"}})
        if self.server.status != 200:
            return self._reply(self.server.status, {"error": {"message": "upstream exploded"}})
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = []
        for index, text in enumerate(texts):
            vector = raw_vector(text)
            if body.get("encoding_format") == "base64":
                vector = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": vector})
        # Listed last first: the index, not the position, says which text a vector is for.
        return self._reply(
            200,
            {
                "object": "list",
                "model": body["model"],
                "data": data[::-1],
                "usage": {"prompt_tokens": len(texts), "total_tokens": len(texts)},
            },
        )

    def _reply(self, status: int, payload: dict) -> None:
        raw = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    server = FakeProvider()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def expected_vectors(texts: list[str]) -> np.ndarray:
    vectors = np.array([raw_vector(text) for text in texts], dtype=np.float64)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_litellm_model_vectors_come_back_normalised_and_in_order(provider):
    embedder = LiteLLMEmbedder("openai/whatever", api_base=provider.api_base, api_key=API_KEY)
    texts = [f"question number {i}" for i in range(150)]

    vectors = embedder.embed(texts)

    assert_unit_rows(vectors, len(texts), 8)
    assert np.allclose(vectors, expected_vectors(texts), atol=1e-6)
    assert embedder.dimension == 8
    # Sent in batches, each with the key and the model name the provider knows.
    assert len(provider.requests) > 1
    assert all(len(request["input"]) <= embedder.batch_size for request in provider.requests)
    assert [text for request in provider.requests for text in request["input"]] == texts
    assert {request["model"] for request in provider.requests} == {"whatever"}
    assert set(provider.authorizations) == {f"Bearer {API_KEY}"}


def test_warming_up_a_litellm_model_calls_no_provider(provider):
    # `companin serve` warms the embedder at start; a paid provider must not be billed.
    embedder = LiteLLMEmbedder("openai/whatever", api_base=provider.api_base, api_key=API_KEY)

    embedder.warm_up()

    assert provider.requests == []
    assert_unit_rows(embedder.embed(["after warming"]), 1, 8)


def test_get_embedder_builds_a_litellm_model_for_any_other_name(provider):
    embedder = get_embedder("openai/text-embedding-3-small", provider.api_base, API_KEY)

    assert embedder.name == "openai/text-embedding-3-small"
    assert np.allclose(embedder.embed(["hello"]), expected_vectors(["hello"]), atol=1e-6)
    assert provider.requests[-1]["model"] == "text-embedding-3-small"
    assert embedder.embed([]).shape == (0, 8)


@pytest.mark.parametrize("status", [401, 500])
def test_provider_failure_is_a_provider_error_without_the_key(provider, status):
    provider.status = status
    embedder = LiteLLMEmbedder("openai/whatever", api_base=provider.api_base, api_key=API_KEY)

    with pytest.raises(ProviderUnavailable) as caught:
        embedder.embed(["Where is my parcel?"])

    message = str(caught.value)
    assert provider.requests, "the provider was never asked"
    assert str(status) in message
    assert "DO-NOT-LEAK" not in message and "4f9a1c" not in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_unreachable_provider_is_a_provider_error():
    server = FakeProvider()  # bound, never served, then closed: nothing listens there
    api_base = server.api_base
    server.server_close()
    embedder = LiteLLMEmbedder(
        "openai/whatever", api_base=api_base, api_key=API_KEY, timeout=5, max_retries=0
    )

    with pytest.raises(ProviderUnavailable) as caught:
        embedder.embed(["hello"])

    assert "DO-NOT-LEAK" not in str(caught.value)
