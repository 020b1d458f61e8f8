"""Fusing rankings: reciprocal rank fusion of the keyword and the vector results.

RRF needs no calibration between BM25 scores and cosine similarities, which live on
different scales; it rewards what both lists agree on.
"""

from __future__ import annotations

from collections.abc import Sequence

RRF_K = 60


def fuse(rankings: Sequence[Sequence[int]], k: int = RRF_K) -> list[tuple[int, float]]:
    """Ids from best-first `rankings`, best first, each with a score in (0, 1].

    The score is the RRF sum divided by its maximum (first in every list), so 1.0
    means "first everywhere" whatever the number of lists.
    """
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank + 1)
    best = len([r for r in rankings if r]) / (k + 1) or 1.0
    ordered = sorted(scores.items(), key=lambda pair: (-pair[1], pair[0]))
    return [(item, score / best) for item, score in ordered]


def best_per_item(hits: Sequence[tuple[int, float]]) -> list[tuple[int, float]]:
    """Keep each item's best score (an item may have several vectors), best first."""
    best: dict[int, float] = {}
    for item, score in hits:
        if item not in best or score > best[item]:
            best[item] = score
    return sorted(best.items(), key=lambda pair: -pair[1])
