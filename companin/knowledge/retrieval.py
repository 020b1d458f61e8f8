"""Combining keyword and vector results into one ranking.

A weighted sum of the cosine similarity and the BM25 score (divided by the query's best
BM25 score, so it lies in [0, 1]). Measured on the retrieval benchmark (bench/): vectors
carry most of the signal on paraphrased questions and BM25 adds the exact-word matches
(product names, error messages) they miss. Reciprocal rank fusion with equal votes, tried
first, was worse than vectors alone there: it gives the weaker ranking the same say.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

VECTOR_WEIGHT = 0.9


def combine(
    similarities: Mapping[int, float],
    keyword_scores: Mapping[int, float],
    vector_weight: float = VECTOR_WEIGHT,
) -> list[tuple[int, float]]:
    """Items of either mapping, best first, scored `w * cosine + (1 - w) * bm25 / best_bm25`."""
    best_keyword = max(keyword_scores.values(), default=0.0) or 1.0
    return ranked(
        {
            item: vector_weight * similarities.get(item, 0.0)
            + (1 - vector_weight) * keyword_scores.get(item, 0.0) / best_keyword
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
