"""POST /knowledge/search and the Q&A pairs it finds, through the HTTP API.

Real app, real SQLite (FTS5), embedded Chroma and the MiniLM embedder: a customer's own
words must find the right pair, edits and deletions must show in the very next search,
`top_k`, `mode` and `assistant_id` must do what they say, and one organization must never
see a word of another's knowledge.

One app serves the module, and no test makes another: the database binding is process-wide,
so a second `create_app` would move this app onto the other one's database. Organizations A
and B and their knowledge are built once and only read; every test that changes something
makes an organization of its own.
"""

from __future__ import annotations

import io
import socket
import time
import uuid
from dataclasses import dataclass

import pytest
from conftest import Org, assert_envelope, new_org

from companin import create_app

pytestmark = pytest.mark.module_data  # its fixtures hold data all its tests share

API = "/api/v1"
PASSAGE_FIELDS = {"source_id", "type", "title", "url", "page", "text", "score"}
MODES = ("hybrid", "vector", "keyword")

# Organization A's FAQ, and for each pair a customer's question sharing few words with it.
FAQ = [
    (
        "How do I return an item?",
        "Send it back within 30 days with the receipt; we refund the original payment method.",
        "I want to send back a product I bought, what should I do?",
    ),
    (
        "Do you ship internationally?",
        "Yes, we deliver to 40 countries; customs fees are paid by the buyer.",
        "can my parcel be delivered abroad",
    ),
    (
        "How can I change my delivery address?",
        "Open the order in My Account and edit the address before it ships.",
        "I moved house, how do I update where my package goes",
    ),
    (
        "What payment methods do you accept?",
        "Visa, Mastercard, PayPal and bank transfer.",
        "which credit cards can I use at checkout",
    ),
    (
        "How do I cancel my subscription?",
        "Go to Billing and choose Cancel plan; you keep access until the period ends.",
        "how to stop my monthly membership",
    ),
    (
        "Is my data shared with third parties?",
        "No, we never sell or share your personal data.",
        "do you sell my information to advertisers",
    ),
    (
        "Can I talk to a human agent?",
        "Yes, call 0800 123 456 on weekdays from 9 to 17.",
        "I would like to speak with a real person",
    ),
    (
        "Do you offer student discounts?",
        "Students get 15 percent off with a valid student card.",
        "is there a cheaper price for people at university",
    ),
]
A_FILE_TEXT = (
    "The Borealis thermostat keeps its heating schedule in the cloud.\n\n"
    "To pair the Borealis thermostat, hold the dial for eight seconds until the ring glows amber."
)
B_FILE_TEXT = (
    "The Meridian rowing machine folds flat for storage.\n\n"
    "Lubricate the Meridian chain with silicone spray every fifty hours of rowing."
)


# --- one app for the module -------------------------------------------------------------


@pytest.fixture(scope="module")
def kb_app(tmp_path_factory):
    return create_app(
        {
            "INSTANCE_PATH": str(tmp_path_factory.mktemp("knowledge-search") / "instance"),
            "TESTING": True,
            # A's web page points at a closed local port: it must be accepted to exist at all.
            "INGEST_ALLOW_PRIVATE_URLS": True,
        }
    )


@pytest.fixture
def app(kb_app):
    """conftest's `client`, `org` and `make_org` use this module's app."""
    return kb_app


# --- how a client talks to the API --------------------------------------------------------


def post(client, org: Org, path: str, body: dict, status: int = 201):
    return assert_envelope(client.post(f"{API}{path}", json=body, headers=org.headers), status)


def add_pair(client, org: Org, question: str, answer: str, **fields) -> dict:
    return post(client, org, "/knowledge/qa/", {"question": question, "answer": answer, **fields})


def add_text_file(client, org: Org, text: str, title: str, **form) -> dict:
    response = client.post(
        f"{API}/knowledge/files/",
        data={"title": title, **form, "file": (io.BytesIO(text.encode()), "notes.txt")},
        headers=org.headers,
    )
    return assert_envelope(response, 201)


def settle(client, org: Org, source_id: str, within: float = 30.0) -> dict:
    """Poll the source until its background job is over."""
    deadline = time.monotonic() + within
    while True:
        response = client.get(f"{API}/knowledge/sources/{source_id}", headers=org.headers)
        data = assert_envelope(response, 200)
        if data["status"] != "processing":
            return data
        assert time.monotonic() < deadline, f"still processing after {within}s: {data}"
        time.sleep(0.02)


def search(client, org: Org, query: str, **fields) -> list[dict]:
    passages = post(client, org, "/knowledge/search", {"query": query, **fields}, 200)
    assert isinstance(passages, list)
    for passage in passages:
        assert PASSAGE_FIELDS <= set(passage), passage
    return passages


def found(passages: list[dict]) -> set[str]:
    return {p["source_id"] for p in passages}


def search_error(client, org: Org, body) -> dict:
    """A refused search: 422, with `data` naming the bad field."""
    response = client.post(f"{API}/knowledge/search", json=body, headers=org.headers)
    data = assert_envelope(response, 422)
    assert isinstance(data, dict) and data, data
    return {field for fields in data.values() for field in fields}


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class World:
    a: Org
    b: Org
    pairs: list[dict]  # A's, in FAQ order
    a_file: dict
    a_url: dict
    b_file: dict
    b_pair: dict

    @property
    def a_ids(self) -> set[str]:
        return {p["id"] for p in self.pairs} | {self.a_file["id"], self.a_url["id"]}


@pytest.fixture(scope="module")
def world(kb_app) -> World:
    client = kb_app.test_client()
    a, b = new_org(kb_app, "Org A"), new_org(kb_app, "Org B")
    pairs = [add_pair(client, a, question, answer) for question, answer, _ in FAQ]
    a_file = add_text_file(client, a, A_FILE_TEXT, "Borealis thermostat guide")
    a_url = post(client, a, "/knowledge/urls/", {"url": f"http://127.0.0.1:{closed_port()}/help"})
    b_file = add_text_file(client, b, B_FILE_TEXT, "Meridian rower guide")
    b_pair = add_pair(client, b, "Does the Meridian rower need assembly?", "Only the seat rail.")
    for org, source in [(a, a_file), (a, a_url), (b, b_file)]:
        source.update(settle(client, org, source["id"]))
    assert a_file["status"] == b_file["status"] == "ready"
    assert a_url["status"] == "failed"  # nothing listens there; it exists all the same
    return World(a, b, pairs, a_file, a_url, b_file, b_pair)


# --- Q&A pairs found by a customer's own words --------------------------------------------


@pytest.mark.parametrize("number", range(len(FAQ)), ids=[f[0] for f in FAQ])
def test_a_paraphrase_finds_the_pair_first(client, world, number):
    question, answer, paraphrase = FAQ[number]
    [best, *_] = search(client, world.a, paraphrase)
    assert best["source_id"] == world.pairs[number]["id"], (paraphrase, best)
    assert best["type"] == "qa"
    assert question in best["text"] and answer in best["text"]


def test_editing_the_answer_changes_the_next_search(client, org):
    pair = add_pair(
        client,
        org,
        "What is the warranty on the Solstice lamp?",
        "The Solstice lamp has a one-year warranty through Frobisher Insurance.",
    )
    add_pair(client, org, "Where is the Solstice lamp made?", "In Porto, Portugal.")
    add_pair(client, org, "Which bulbs fit the Solstice lamp?", "Any E27 LED bulb.")
    assert found(search(client, org, "Frobisher", mode="keyword")) == {pair["id"]}

    response = client.patch(
        f"{API}/knowledge/qa/{pair['id']}",
        json={"answer": "The Solstice lamp is covered for five years by Quillon Assurance."},
        headers=org.headers,
    )
    changed = assert_envelope(response, 200)
    assert changed["answer"] == "The Solstice lamp is covered for five years by Quillon Assurance."
    assert changed["status"] == "ready" and changed["chunk_count"] == 1

    # At once: the new words are found, the old ones nowhere, in every mode.
    assert found(search(client, org, "Quillon", mode="keyword")) == {pair["id"]}
    assert search(client, org, "Frobisher", mode="keyword") == []
    [best, *_] = search(client, org, "how long is my lamp guaranteed for")
    assert best["source_id"] == pair["id"] and "Quillon" in best["text"]
    for mode in MODES:
        everything = search(client, org, "Solstice lamp warranty", mode=mode, top_k=50)
        texts = [p["text"] for p in everything if p["source_id"] == pair["id"]]
        assert len(texts) == 1 and "Frobisher" not in texts[0], (mode, texts)


def test_editing_the_question_changes_the_next_search(client, org):
    pair = add_pair(
        client,
        org,
        "How do I descale the Vortex kettle?",
        "Please read the care card that came in the box.",
    )
    add_pair(client, org, "What colours does the Vortex kettle come in?", "Red and black.")
    add_pair(client, org, "How much water does the Vortex kettle hold?", "1.7 litres.")
    [best, *_] = search(client, org, "how to remove limescale from my kettle")
    assert best["source_id"] == pair["id"]

    response = client.patch(
        f"{API}/knowledge/qa/{pair['id']}",
        json={"question": "Can the Vortex kettle go in the dishwasher?"},
        headers=org.headers,
    )
    assert (
        assert_envelope(response, 200)["question"] == "Can the Vortex kettle go in the dishwasher?"
    )

    [best, *_] = search(client, org, "is it safe to wash my kettle in the dishwasher machine")
    assert best["source_id"] == pair["id"] and "dishwasher" in best["text"]
    assert search(client, org, "descale", mode="keyword") == []
    for mode in MODES:
        everything = search(client, org, "Vortex kettle", mode=mode, top_k=50)
        texts = [p["text"] for p in everything if p["source_id"] == pair["id"]]
        assert len(texts) == 1 and "descale" not in texts[0], (mode, texts)


def test_a_pair_titled_by_its_question_follows_the_new_question(client, org):
    pair = add_pair(client, org, "How do I descale the Vortex kettle?", "See the care card.")
    assert pair["title"] == "How do I descale the Vortex kettle?"
    client.patch(
        f"{API}/knowledge/qa/{pair['id']}",
        json={"question": "Can the Vortex kettle go in the dishwasher?"},
        headers=org.headers,
    )
    [best, *_] = search(client, org, "Vortex kettle dishwasher")
    assert best["source_id"] == pair["id"]
    assert "descale" not in best["title"], best


def test_deleting_a_pair_removes_it_at_once(client, org):
    pair = add_pair(client, org, "Do you gift-wrap orders?", "Yes, for 3 euros per parcel.")
    other = add_pair(client, org, "Can I pick up my order in store?", "Yes, in Lisbon.")
    assert search(client, org, "could my present be wrapped")[0]["source_id"] == pair["id"]

    response = client.delete(f"{API}/knowledge/qa/{pair['id']}", headers=org.headers)
    assert_envelope(response, 200)
    for mode in MODES:
        assert pair["id"] not in found(search(client, org, "gift-wrap orders", mode=mode, top_k=50))
    for path in (f"/knowledge/qa/{pair['id']}", f"/knowledge/sources/{pair['id']}"):
        assert_envelope(client.get(f"{API}{path}", headers=org.headers), 404)
    listed = assert_envelope(client.get(f"{API}/knowledge/qa/", headers=org.headers), 200)
    assert [p["id"] for p in listed] == [other["id"]]
    assert_envelope(client.delete(f"{API}/knowledge/qa/{pair['id']}", headers=org.headers), 404)


def test_tags_and_source_round_trip(client, org):
    pair = add_pair(
        client,
        org,
        "Can I get a refund on a sale item?",
        "Sale items can be exchanged, not refunded.",
        tags=["billing", "refunds"],
        source="helpdesk-import",
    )
    assert (pair["tags"], pair["source"]) == (["billing", "refunds"], "helpdesk-import")

    def stored() -> tuple:
        data = assert_envelope(
            client.get(f"{API}/knowledge/qa/{pair['id']}", headers=org.headers), 200
        )
        return data["tags"], data["source"]

    assert stored() == (["billing", "refunds"], "helpdesk-import")
    listed = assert_envelope(client.get(f"{API}/knowledge/qa/", headers=org.headers), 200)
    assert [(p["tags"], p["source"]) for p in listed] == [
        (["billing", "refunds"], "helpdesk-import")
    ]

    response = client.patch(
        f"{API}/knowledge/qa/{pair['id']}",
        json={"tags": ["billing"], "source": "manual"},
        headers=org.headers,
    )
    assert assert_envelope(response, 200)["tags"] == ["billing"]
    assert stored() == (["billing"], "manual")
    # Changing the labels leaves the pair as findable as before.
    assert search(client, org, "money back for discounted products")[0]["source_id"] == pair["id"]

    # A bad edit changes nothing.
    response = client.patch(
        f"{API}/knowledge/qa/{pair['id']}", json={"answer": ""}, headers=org.headers
    )
    assert "answer" in str(assert_envelope(response, 422))
    data = assert_envelope(client.get(f"{API}/knowledge/qa/{pair['id']}", headers=org.headers), 200)
    assert data["answer"] == "Sale items can be exchanged, not refunded."


# --- the search request itself ------------------------------------------------------------


def test_top_k_is_respected(client, world):
    indexed = len(FAQ) + world.a_file["chunk_count"]
    assert len(search(client, world.a, "orders and delivery")) == 5  # the default
    for top_k in (1, 3, 7):
        assert len(search(client, world.a, "orders and delivery", top_k=top_k)) == top_k
    # Asking for more than there is gives everything once: a pair's two vectors are one hit.
    everything = search(client, world.a, "orders and delivery", top_k=50)
    assert len(everything) == indexed
    assert len({(p["source_id"], p["text"]) for p in everything}) == indexed
    assert found(everything) == {p["id"] for p in world.pairs} | {world.a_file["id"]}


def test_passages_say_where_they_come_from(client, world):
    passages = search(client, world.a, "pair the Borealis thermostat", top_k=4)
    scores = [p["score"] for p in passages]
    assert scores == sorted(scores, reverse=True), "best first"
    first = passages[0]
    assert first == {
        **first,
        "source_id": world.a_file["id"],
        "type": "file",
        "title": "Borealis thermostat guide",
        "url": None,
        "page": None,  # a text file has no pages
    }
    assert "hold the dial for eight seconds" in first["text"]
    assert isinstance(first["score"], float) and 0 < first["score"] <= 1.0
    [pair] = [
        p for p in search(client, world.a, FAQ[3][2]) if p["source_id"] == world.pairs[3]["id"]
    ]
    assert (pair["type"], pair["title"], pair["url"], pair["page"]) == ("qa", FAQ[3][0], None, None)


def test_each_mode_searches_its_own_way(client, world):
    target = world.pairs[2]["id"]  # "How can I change my delivery address?"
    paraphrase = "I moved house, how do I update where my package goes"  # no word in common
    assert target not in found(search(client, world.a, paraphrase, mode="keyword", top_k=50))
    for mode in ("vector", "hybrid"):
        assert search(client, world.a, paraphrase, mode=mode)[0]["source_id"] == target, mode

    # An exact rare word: keyword mode returns only passages that contain it.
    keyword = search(client, world.a, "Borealis", mode="keyword", top_k=50)
    assert keyword and all("Borealis" in p["text"] for p in keyword), keyword
    assert found(keyword) == {world.a_file["id"]}
    vector = search(client, world.a, "Borealis", mode="vector", top_k=50)
    assert len(vector) > len(keyword)  # nearest neighbours: every chunk has a distance
    for passage in vector:
        assert -1.0 <= passage["similarity"] <= 1.0
    # Hybrid is the default.
    assert search(client, world.a, paraphrase) == search(client, world.a, paraphrase, mode="hybrid")


def test_bad_search_bodies_are_422(client, world):
    for body, field in [
        ({}, "query"),
        ({"query": ""}, "query"),
        ({"query": 42}, "query"),
        ({"query": "x" * 2001}, "query"),
        ({"query": "hours", "top_k": 0}, "top_k"),
        ({"query": "hours", "top_k": 51}, "top_k"),
        ({"query": "hours", "top_k": "five"}, "top_k"),
        ({"query": "hours", "mode": "semantic"}, "mode"),
        ({"query": "hours", "assistant_id": "not-a-uuid"}, "assistant_id"),
    ]:
        assert field in search_error(client, world.a, body), body


def test_unknown_assistant_id_is_422(client, world):
    theirs = post(client, world.b, "/assistants/", {"name": "B's bot"})["id"]
    for assistant_id in (str(uuid.uuid4()), theirs):
        fields = search_error(client, world.a, {"query": "hours", "assistant_id": assistant_id})
        assert "assistant_id" in fields


def test_assistant_ids_limit_which_assistant_finds_a_source(client, org):
    one = post(client, org, "/assistants/", {"name": "Front desk"})["id"]
    two = post(client, org, "/assistants/", {"name": "Warehouse"})["id"]
    dogs = add_pair(
        client,
        org,
        "Can I bring my dog to the office?",
        "Dogs are welcome on Fridays.",
        assistant_ids=[one],
    )
    parking = add_pair(client, org, "Where do I park?", "In the basement garage.")
    manual = add_text_file(
        client,
        org,
        "The forklift key hangs in the yellow cabinet.",
        "Forklift",
        assistant_ids=[one],
    )
    assert settle(client, org, manual["id"])["status"] == "ready"
    assert dogs["assistant_ids"] == [one] and manual["assistant_ids"] == [one]

    def sees(assistant_id: str | None) -> set[str]:
        extra = {"assistant_id": assistant_id} if assistant_id else {}
        return found(search(client, org, "are pets allowed at work", top_k=50, **extra))

    everything = {dogs["id"], parking["id"], manual["id"]}
    assert sees(one) == everything
    assert sees(None) == everything  # no assistant: the organization's whole knowledge
    assert sees(two) == {parking["id"]}

    # Moving a source to the other assistant takes effect on the next search.
    response = client.patch(
        f"{API}/knowledge/sources/{dogs['id']}", json={"assistant_ids": [two]}, headers=org.headers
    )
    assert assert_envelope(response, 200)["assistant_ids"] == [two]
    assert sees(one) == {parking["id"], manual["id"]}
    assert sees(two) == {parking["id"], dogs["id"]}
    # And no list at all means every assistant again.
    response = client.patch(
        f"{API}/knowledge/sources/{manual['id']}", json={"assistant_ids": []}, headers=org.headers
    )
    assert assert_envelope(response, 200)["assistant_ids"] == []
    assert sees(two) == everything

    # An assistant of no one here cannot be named on a source.
    response = client.patch(
        f"{API}/knowledge/sources/{dogs['id']}",
        json={"assistant_ids": [str(uuid.uuid4())]},
        headers=org.headers,
    )
    assert "assistant_ids" in str(assert_envelope(response, 422))


# --- organization B never reaches organization A's knowledge ---------------------------


def test_b_never_retrieves_a_s_text(client, world):
    a_words = [A_FILE_TEXT, "Borealis thermostat", *(f"{q} {a}" for q, a, _ in FAQ)]
    for query in a_words:
        for mode in MODES:
            passages = search(client, world.b, query, mode=mode, top_k=50)
            assert not found(passages) & world.a_ids, (query, mode)
            assert not any("Borealis" in p["text"] for p in passages)
            # What B gets is B's own: it has knowledge, just not A's.
            assert found(passages) <= {world.b_file["id"], world.b_pair["id"]}
    # The same words find A's passages for A, so the searches above could have found them.
    assert search(client, world.a, "Borealis thermostat")[0]["source_id"] == world.a_file["id"]
    assert search(client, world.b, "Meridian rowing machine")[0]["source_id"] == world.b_file["id"]
    assert world.b_file["id"] not in found(
        search(client, world.a, "Meridian rowing machine", top_k=50)
    )


def test_b_gets_404_for_a_s_sources(client, world):
    pair, file_, url = world.pairs[0], world.a_file, world.a_url
    requests = [
        ("GET", f"/knowledge/sources/{pair['id']}", None),
        ("GET", f"/knowledge/sources/{file_['id']}", None),
        ("PATCH", f"/knowledge/sources/{file_['id']}", {"title": "Taken"}),
        ("PATCH", f"/knowledge/sources/{url['id']}", {"assistant_ids": []}),
        ("DELETE", f"/knowledge/sources/{file_['id']}", None),
        ("DELETE", f"/knowledge/sources/{url['id']}", None),
        ("GET", f"/knowledge/qa/{pair['id']}", None),
        ("PATCH", f"/knowledge/qa/{pair['id']}", {"answer": "Taken"}),
        ("DELETE", f"/knowledge/qa/{pair['id']}", None),
        ("POST", f"/knowledge/urls/{url['id']}/refresh", None),
    ]
    for method, path, body in requests:
        response = client.open(f"{API}{path}", method=method, json=body, headers=world.b.headers)
        assert assert_envelope(response, 404) is None, (method, path)

    # Nothing of A's changed, and A itself may still do every one of those things.
    listed = assert_envelope(client.get(f"{API}/knowledge/sources/", headers=world.a.headers), 200)
    by_id = {s["id"]: s for s in listed}
    assert set(by_id) == world.a_ids
    assert by_id[file_["id"]]["title"] == "Borealis thermostat guide"
    assert by_id[pair["id"]]["answer"] == FAQ[0][1]
    assert search(client, world.a, FAQ[0][2])[0]["source_id"] == pair["id"]
    response = client.post(f"{API}/knowledge/urls/{url['id']}/refresh", headers=world.a.headers)
    assert assert_envelope(response, 200)["id"] == url["id"]
    assert settle(client, world.a, url["id"])["status"] == "failed"
