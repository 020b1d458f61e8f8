"""What a keyword search looks for in a question: its distinct, meaningful words."""

from __future__ import annotations

import re

# Words so common that matching them says nothing (BM25 would weigh them low anyway,
# but leaving them out keeps long chatty questions fast).
STOPWORDS = frozenset(
    """a about above after again all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into
    is it its itself just me more most my myself no nor not now of off on once only or
    other our ours ourselves out over own same she should so some such than that the their
    theirs them themselves then there these they this those through to too under until up
    very was we were what when where which while who whom why will with would you your
    yours yourself yourselves hi hello please thanks thank""".split()
)
MAX_WORDS = 64

_WORD = re.compile(r"\w+", re.UNICODE)


def query_words(query: str) -> list[str]:
    """The distinct words of `query` that a search looks for (at most 64), lower case."""
    words = [w for w in dict.fromkeys(_WORD.findall(query.lower())) if w not in STOPWORDS]
    return words[:MAX_WORDS]
