"""The fake model server, driven by real litellm exactly as the product calls it.

These tests double as the record of what this litellm version does with each failure
(checked against litellm 1.110.2 / openai 3.57.0):

- HTTP 500              -> litellm.InternalServerError (status_code 500); an openai.APIError,
                           but NOT a litellm.exceptions.APIError.
- HTTP 429              -> litellm.RateLimitError (status_code 429).
- HTTP 503              -> litellm.ServiceUnavailableError (status_code 503).
- no byte within timeout, streamed or not -> litellm.Timeout (status_code 408), which is
                           also an openai.APITimeoutError / openai.APIConnectionError.
- malformed JSON body (not streamed) -> litellm.InternalServerError (status_code 500).
- malformed SSE data, or the connection dropped mid-stream
                        -> litellm.exceptions.MidStreamFallbackError (not exported as
                           litellm.MidStreamFallbackError); a litellm.ServiceUnavailableError
                           whose status_code is 500, taken from its original_exception, a
                           litellm.APIConnectionError. Its generated_content holds the text
                           streamed before the failure.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import threading
import time

import pytest
from engines import no_engine_used
from fake_llm import FakeLLM, Reply

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # before litellm is imported: no network

MODEL = "openai/test-model"
API_KEY = "sk-test-not-real"
# litellm 1.110.2 with pydantic 2.13 emits two warnings. Under `filterwarnings = error` they
# become exceptions raised inside litellm, which swallows some and turns others into a
# MidStreamFallbackError, so whether a test fails depends on which test ran first:
# - a UserWarning while pydantic builds the schemas of litellm's TypedDicts that use
#   typing.ReadOnly, once per process (on the first completion and the first streamed chunk);
# - a PydanticDeprecatedSince211 on every streamed chunk that carries only usage
#   (stream_options={"include_usage": True}): litellm's model_response_utils walks dir(delta)
#   and reads `model_fields` and `model_computed_fields` on the instance.
pytestmark = [
    no_engine_used,
    pytest.mark.filterwarnings(
        "ignore:Items? .* on TypedDict class .* using the .ReadOnly. qualifier"
        ":UserWarning:pydantic._internal._generate_schema"
    ),
    pytest.mark.filterwarnings(
        "ignore:Accessing the 'model_(computed_)?fields' attribute on the instance is deprecated"
        ":pydantic.warnings.PydanticDeprecatedSince211"
        ":litellm.litellm_core_utils.model_response_utils"
    ),
]

MESSAGES = [
    {"role": "system", "content": "You are a helpful support agent."},
    {"role": "user", "content": "Where is my order?"},
]


@pytest.fixture(scope="module")
def litellm():
    import litellm

    # The first streamed call in a process builds pydantic schemas for a good second on a
    # loaded machine, long enough for a whole stream to pile up in the socket: warm up so
    # the timing test measures the stream, not the warm-up.
    with FakeLLM() as warm:
        warm.default = Reply("warm up")
        stream = litellm.completion(
            model=MODEL,
            api_base=warm.base_url,
            api_key=API_KEY,
            messages=MESSAGES,
            timeout=10,
            max_retries=0,
            stream=True,
            stream_options={"include_usage": True},
        )
        list(stream)
    return litellm


@pytest.fixture
def fake():
    with FakeLLM() as server:
        yield server


def complete(litellm, fake, **overrides):
    """litellm.completion exactly as the product calls it."""
    arguments = dict(
        model=MODEL,
        api_base=fake.base_url,
        api_key=API_KEY,
        messages=MESSAGES,
        timeout=5,
        max_retries=0,
    )
    arguments.update(overrides)
    return litellm.completion(**arguments)


def wait_for(condition, timeout: float) -> float | None:
    """Seconds until `condition()` held, or None if it did not within `timeout`."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if condition():
            return time.monotonic() - start
        time.sleep(0.02)
    return None


# -- successful replies ----------------------------------------------------------------------


def test_non_streamed_reply_text_usage_and_recorded_request(litellm, fake):
    fake.script(Reply("Your order ships tomorrow."))

    response = complete(litellm, fake)

    assert response.choices[0].message.content == "Your order ships tomorrow."
    assert response.choices[0].finish_reason == "stop"
    # prompt tokens default to the words of all message contents: 6 + 4
    assert response.usage.prompt_tokens == 10
    assert response.usage.completion_tokens == 4
    assert response.usage.total_tokens == 14
    assert len(fake.requests) == 1
    assert fake.requests[0]["model"] == "test-model"
    assert fake.requests[0]["messages"] == MESSAGES
    assert not fake.requests[0].get("stream")


def test_scripted_token_counts_queue_and_default(litellm, fake):
    fake.default = Reply("default answer")
    fake.script(Reply("first", prompt_tokens=123, completion_tokens=45), Reply("second"))

    texts = [complete(litellm, fake) for _ in range(3)]

    assert [r.choices[0].message.content for r in texts] == ["first", "second", "default answer"]
    assert (texts[0].usage.prompt_tokens, texts[0].usage.completion_tokens) == (123, 45)
    assert texts[0].usage.total_tokens == 168
    assert len(fake.requests) == 3


def test_streamed_reply_arrives_in_deltas_with_usage_at_the_end(litellm, fake):
    fake.script(Reply("Your order ships tomorrow.", chunk_size=5))

    chunks = list(complete(litellm, fake, stream=True, stream_options={"include_usage": True}))

    deltas = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    assert "".join(deltas) == "Your order ships tomorrow."
    assert len(deltas) == 6
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop"
    usage = getattr(chunks[-1], "usage", None)
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (10, 4, 14)
    body = fake.requests[0]
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["model"] == "test-model"


def test_streamed_deltas_arrive_as_they_are_sent(litellm, fake):
    fake.script(Reply("abcdefghijklmnopqrst", chunk_size=4, chunk_delay=0.2))  # 5 chunks

    arrivals = []
    for chunk in complete(litellm, fake, stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append((time.monotonic(), chunk.choices[0].delta.content))

    assert [text for _, text in arrivals] == ["abcd", "efgh", "ijkl", "mnop", "qrst"]
    spread = arrivals[-1][0] - arrivals[0][0]
    assert spread >= 0.5, f"deltas were buffered: all arrived within {spread:.2f}s"


def test_embeddings_are_deterministic_unit_vectors(litellm, fake):
    arguments = dict(model="openai/fake-embed", api_base=fake.base_url, api_key=API_KEY)

    first = litellm.embedding(input=["hello", "world"], **arguments)
    again = litellm.embedding(input=["hello"], **arguments)

    vectors = [item["embedding"] for item in first.data]
    assert len(vectors) == 2
    assert all(len(v) == 8 for v in vectors)
    assert all(math.isclose(math.sqrt(sum(x * x for x in v)), 1.0) for v in vectors)
    assert vectors[0] != vectors[1]
    assert again.data[0]["embedding"] == vectors[0]
    assert fake.requests == []  # only chat completions are recorded


# -- failures --------------------------------------------------------------------------------


def test_500_raises_internal_server_error(litellm, fake):
    import openai

    fake.script(Reply(status=500))

    with pytest.raises(litellm.InternalServerError) as caught:
        complete(litellm, fake)

    assert caught.value.status_code == 500
    assert isinstance(caught.value, openai.APIError)
    # litellm's own APIError is a sibling class: catching it would miss this.
    assert not isinstance(caught.value, litellm.exceptions.APIError)


def test_503_raises_service_unavailable(litellm, fake):
    fake.script(Reply(status=503))

    with pytest.raises(litellm.ServiceUnavailableError) as caught:
        complete(litellm, fake)

    assert caught.value.status_code == 503


def test_429_raises_rate_limit_error_with_retry_after(litellm, fake):
    fake.script(Reply(status=429))

    with pytest.raises(litellm.RateLimitError) as caught:
        complete(litellm, fake)

    assert caught.value.status_code == 429
    assert caught.value.response.headers.get("retry-after") == "1"
    assert len(fake.requests) == 1  # max_retries=0: no retry


def test_stalled_stream_times_out(litellm, fake):
    fake.script(Reply("abcdefghijklmnop", stall_after=2))

    start = time.monotonic()
    received = []
    with pytest.raises(litellm.Timeout) as caught:
        for chunk in complete(litellm, fake, stream=True, timeout=1):
            if chunk.choices and chunk.choices[0].delta.content:
                received.append(chunk.choices[0].delta.content)
    elapsed = time.monotonic() - start

    assert caught.value.status_code == 408
    assert elapsed < 4
    assert received == ["abcd", "efgh"]
    # The client gave up on the stream, which the fake notices.
    assert wait_for(lambda: fake.disconnects == 1, timeout=2) is not None


def test_stalled_non_streamed_reply_times_out(litellm, fake):
    fake.script(Reply(stall_after=0))

    start = time.monotonic()
    with pytest.raises(litellm.Timeout) as caught:
        complete(litellm, fake, timeout=1)

    assert caught.value.status_code == 408
    assert time.monotonic() - start < 4


def test_malformed_json_raises(litellm, fake):
    fake.script(Reply(raw=b'{"choices": [nope'))

    with pytest.raises(litellm.InternalServerError) as caught:
        complete(litellm, fake)

    assert caught.value.status_code == 500


def test_malformed_stream_data_raises(litellm, fake):
    fake.script(Reply(raw=b"data: {not json\n\n"))

    with pytest.raises(litellm.exceptions.MidStreamFallbackError):
        list(complete(litellm, fake, stream=True))


def test_non_sse_body_on_a_stream_is_an_empty_reply(litellm, fake):
    """Worth knowing: a streamed request answered with a body that has no `data:` lines
    raises nothing; litellm yields just a synthesized chunk with finish_reason "stop"."""
    fake.script(Reply(raw=b'{"not": "a stream"}'))

    chunks = list(complete(litellm, fake, stream=True))

    assert not any(c.choices and c.choices[0].delta.content for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_connection_dropped_mid_stream_raises(litellm, fake):
    fake.script(Reply("abcdefghijklmnop", drop_after=2))

    received = []
    with pytest.raises(litellm.exceptions.MidStreamFallbackError) as caught:
        for chunk in complete(litellm, fake, stream=True):
            if chunk.choices and chunk.choices[0].delta.content:
                received.append(chunk.choices[0].delta.content)

    assert received == ["abcd", "efgh"]
    assert isinstance(caught.value, litellm.ServiceUnavailableError)
    assert isinstance(caught.value.original_exception, litellm.APIConnectionError)
    assert caught.value.status_code == 500
    assert caught.value.generated_content == "abcdefgh"
    assert fake.disconnects == 0  # the server hung up, not the client


# -- ending a stream early -------------------------------------------------------------------


def test_closing_the_stream_ends_the_http_connection(litellm, fake):
    """`response.close()` on the CustomStreamWrapper that litellm.completion(stream=True)
    returns closes the HTTP connection to the model at once.

    It calls close() on `response.completion_stream` (an openai.Stream), which closes its
    httpx response. `with litellm.completion(..., stream=True) as response:` does the same
    on leaving the block. Merely stopping iteration, or dropping the last reference, does
    not: litellm's logging object (`logging_obj.model_call_details`) keeps a reference to
    the wrapper, so even `del response; gc.collect()` leaves the connection open and the
    model generating, until some later litellm call replaces that reference. The product
    must call close().
    """
    fake.default = Reply("x" * 400, chunk_delay=0.1)

    response = complete(litellm, fake, stream=True)
    for seen, _ in enumerate(response):
        if seen == 2:
            break
    response.close()
    assert wait_for(lambda: fake.disconnects == 1, timeout=2) is not None

    with complete(litellm, fake, stream=True) as response:
        for seen, _ in enumerate(response):
            if seen == 2:
                break
    assert wait_for(lambda: fake.disconnects == 2, timeout=2) is not None

    response = complete(litellm, fake, stream=True)
    for seen, _ in enumerate(response):
        if seen == 2:
            break
    response.completion_stream.response.close()  # the httpx response itself, one level down
    assert wait_for(lambda: fake.disconnects == 3, timeout=2) is not None


# -- the server itself -----------------------------------------------------------------------


def test_unknown_path_is_a_json_404(fake):
    port = int(fake.base_url.rsplit(":", 1)[1].split("/")[0])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request(
            "POST", "/v1/nothing", body=b"{}", headers={"Content-Type": "application/json"}
        )
        response = connection.getresponse()
        assert response.status == 404
        assert "error" in json.loads(response.read())
        connection.request("GET", "/v1/models")
        response = connection.getresponse()
        assert response.status == 404
        response.read()
    finally:
        connection.close()


def test_stop_does_not_hang_on_a_stalled_stream():
    fake = FakeLLM().start()
    fake.script(Reply("abcdefgh", stall_after=1))
    port = int(fake.base_url.rsplit(":", 1)[1].split("/")[0])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    outcome = {}

    def read_stream():
        try:
            body = json.dumps({"model": "m", "messages": [], "stream": True})
            connection.request("POST", "/v1/chat/completions", body=body)
            outcome["body"] = connection.getresponse().read()
        except Exception as exc:  # the stream is cut short when the server stops
            outcome["error"] = exc

    reader = threading.Thread(target=read_stream, daemon=True)
    reader.start()
    assert wait_for(lambda: len(fake.requests) == 1, timeout=2) is not None
    time.sleep(0.2)

    start = time.monotonic()
    fake.stop()
    assert time.monotonic() - start < 2
    reader.join(timeout=5)
    assert not reader.is_alive()
    connection.close()
    assert outcome  # the client saw the stream end
