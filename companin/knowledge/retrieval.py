"""Combining keyword and vector results into one ranking.

A passage scores `w * cosine + (1 - w) * bm25 / max(best_bm25, full_match)`, w = 0.9, for
every kind of source. `full_match` is the BM25 score of an average-length passage holding
each query word once (the sum of the words' IDFs, `fulltext.full_match_score`), so the
keyword part is the share of the query's words a passage matches, and a weak best match no
longer gets full weight: when the best passage matches only the query's common words, or
the query's distinctive words are typos or names no passage holds, the vectors (which see
word pieces, and so typos and paraphrases) decide. Keyword candidates are read 100 deep
(`keyword_depth`), so that a passage found by its vector still gets its keyword score.

Measured with bench/retrieval_quality.py (hit@1 / MRR@10 / nDCG@10; `qa` = the Python FAQ
as Q&A pairs, 167 queries; `files` = its answers as files; `manual` = GNOME Help, 253
pages as files, 150 queries):

    way     bm25                  vector                old hybrid            this hybrid
    qa      .593 / .681 / .716    .772 / .855 / .883    .820 / .885 / .910    .820 / .886 / .909
    files   .557 / .636 / .671    .725 / .816 / .844    .766 / .843 / .867    .760 / .841 / .864
    manual  .553 / .653 / .684    .813 / .881 / .901    .813 / .881 / .903    .827 / .894 / .911

The old rule divided BM25 by the query's best BM25 score, and only tied vectors at hit@1
on the manual: a short query whose words barely occur ("desktop release number", "show
Tokyo time too") or a typo-ridden one ("wifi pasword is definately right...") gave a poor
keyword match the full keyword weight and pushed the right page down. On the FAQ nothing
moves by more than a query (files: one hit@1 fewer, well inside what the corpus statistics
alone move; per query against vectors alone the hybrid now loses on 1 query instead of 8).

One weight fits every kind of source. Replaying the searches' stored scores with other
weights (same normaliser), the best w was 0.9 for Q&A pairs and 0.875 to 0.925 for files,
FAQ answers and manual pages alike, each within a query or two of 0.9; a lower weight for
documents ("jargon needs exact words") lost: at 0.8 the manual's hit@1 drops to .807. So
the kinds share one parameter rather than a table of equal ones. Also tried: reciprocal
rank fusion, plain or weighted (k = 5 to 60, w = 0.5 to 0.8), worse on every way (ranks
throw away how sure each side is); a saturating bm25 / (bm25 + c), dividing cosines by the
best cosine, and leaving words no passage holds out of `full_match`, none better on all
three ways. Raising the title column's BM25 weight changed nothing measurable (a file's
chunks mostly have no title of their own; a Q&A pair's question is also in its text).

Scores stay in [0, 1]: a cosine below 0 counts as 0, and the keyword part is at most 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

VECTOR_WEIGHT = 0.9


def keyword_depth(top_k: int) -> int:
    """How many keyword candidates a search reads: enough that most passages found by
    their vector also get their keyword score (reading more is cheap: FTS5 scores every
    match before it sorts)."""
    return max(10 * top_k, 100)


def combine(
    similarities: Mapping[int, float],
    keyword_scores: Mapping[int, float],
    vector_weight: float = VECTOR_WEIGHT,
    full_match: float = 0.0,
) -> list[tuple[int, float]]:
    """Items of either mapping, best first, scored
    `w * cosine + (1 - w) * bm25 / max(best_bm25, full_match)`, in [0, 1]."""
    scale = max(max(keyword_scores.values(), default=0.0), full_match) or 1.0
    return ranked(
        {
            item: vector_weight * max(0.0, similarities.get(item, 0.0))
            + (1 - vector_weight) * keyword_scores.get(item, 0.0) / scale
            for item in {*similarities, *keyword_scores}
        }
    )


def ranked(scores: Mapping[int, float]) -> list[tuple[int, float]]:
    """Items best first."""
    return sorted(scores.items(), key=lambda pair: (-pair[1], pair[0]))


def best_per_item(hits: Sequence[tuple[int, float]]) -> dict[int, float]:
    """Each item's best score (an item may have several vectors)."""
    best: dict[int, float] = {}
    for item, score in hits:
        if item not in best or score > best[item]:
            best[item] = score
    return best
