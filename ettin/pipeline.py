"""Retrieve-then-rerank: a first stage (dense embedder or BM25) returns the top-K, a cross-encoder reorders them."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ettin import registry
from ettin.cache import BoundedCache
from ettin.corpus import Corpus
from ettin.errors import UserError
from ettin.io import atomic_open
from ettin.paths import BUNDLED_DATA, cache_dir
from ettin.progress import ProgressFn
from ettin.runtime import INTERACTIVE_BATCH, Embedder, Reranker

MAX_QUERY_CHARS = 2000


class InputError(UserError, ValueError):
    """Input the pipeline refuses (empty or oversized query, bad parameters); the message is meant for the user."""


def validate_query(query: Any) -> str:
    """The stripped query; refuses non-text, empty, over-long and unencodable (lone surrogate) queries."""
    if not isinstance(query, str):
        raise InputError(f"the query must be text, not {type(query).__name__}")
    if not is_encodable(query):
        raise InputError("the query contains an invalid character (a lone UTF-16 surrogate): retype or paste it again")
    query = query.strip()
    if not query:
        raise InputError("the query is empty: type a question or a few keywords")
    if len(query) > MAX_QUERY_CHARS:
        raise InputError(f"the query has {len(query):,} characters; the limit is {MAX_QUERY_CHARS:,}")
    return query


def whole_number(value: Any, what: str, low: int, high: int) -> int:
    """``value`` as an int in ``[low, high]``: an int, or a float without a fraction (UI sliders send floats); never a
    bool, a string, NaN or 2.5 silently truncated.

    Raises:
        InputError: naming ``what``, the range and the value's type or value.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputError(f"{what} must be a whole number between {low} and {high}, not {type(value).__name__}")
    if isinstance(value, (float, np.floating)) and (not np.isfinite(value) or not float(value).is_integer()):
        raise InputError(f"{what} must be a whole number between {low} and {high}, not {float(value)!r}")
    if not low <= value <= high:
        raise InputError(f"{what} must be between {low} and {high}, not {int(value)}")
    return int(value)


def is_encodable(text: str) -> bool:
    """Whether ``text`` is valid Unicode (no lone surrogates, which JSON escapes such as ``"\\ud800"`` can carry)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class FirstStage(Protocol):
    name: str
    corpus: Corpus

    def search(self, query: str, k: int) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
        """Return (document indices, scores, timings) of the top ``k``, best first."""


def _top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    k = min(k, scores.shape[0])
    if k < scores.shape[0]:
        idx = np.argpartition(-scores, k - 1)[:k]
    else:
        idx = np.arange(scores.shape[0])
    order = np.lexsort((idx, -scores[idx]))  # score desc, then index asc for ties
    idx = idx[order]
    return idx, scores[idx]


# --------------------------------------------------------------------------------------------------------------------
# Dense


BUNDLED_EMBEDDINGS = BUNDLED_DATA / "embeddings"


def bundled_embeddings_path(key: str) -> Path:
    """Where the project ships a corpus's embeddings under their :meth:`EmbeddingStore.key` (float16 ``.npy``)."""
    return BUNDLED_EMBEDDINGS / f"{key}.npy"


def _read_bundled(key: str, n_documents: int) -> np.ndarray | None:
    """Shipped embeddings for ``key`` as float32 rows of unit length, or ``None`` (none shipped, or not matching)."""
    path = bundled_embeddings_path(key)
    if not path.is_file():
        return None
    try:
        emb = np.load(path).astype(np.float32)
    except (OSError, ValueError):
        return None
    if emb.ndim != 2 or emb.shape[0] != n_documents:
        return None
    return emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)


class EmbeddingStore:
    """Corpus embeddings per (corpus fingerprint, embedder): computed once, kept in memory and on disk (atomically).

    Args:
        root: Folder of the ``.npy`` files (default ``$ETTIN_CACHE/embeddings``).
        max_in_memory: Arrays kept in memory.
        max_disk_bytes: When set, the folder is kept under this size by deleting the least recently used files after
            each write (a server's store: every user corpus would otherwise stay on disk forever). ``None``: no limit.
    """

    def __init__(self, root: Path | None = None, max_in_memory: int = 8, max_disk_bytes: int | None = None):
        self.root = root
        self.max_disk_bytes = max_disk_bytes
        self._memory: BoundedCache[np.ndarray] = BoundedCache(max_items=max_in_memory)

    @staticmethod
    def key(embedder: Embedder, corpus: Corpus) -> str:
        parts = [
            embedder.name,
            str(embedder.provenance().get("revision") or embedder.provenance().get("weights_sha256")),
            repr(embedder._prompt_kwargs("document")),
            str(getattr(embedder.model, "max_seq_length", "")),
            embedder.settings.dtype,
            corpus.fingerprint,
        ]
        return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:32]

    def _path(self, key: str) -> Path:
        return (self.root or cache_dir() / "embeddings") / f"{key}.npy"

    def has(self, embedder: Embedder, corpus: Corpus) -> bool:
        key = self.key(embedder, corpus)
        return key in self._memory or self._path(key).is_file() or bundled_embeddings_path(key).is_file()

    def get(
        self, embedder: Embedder, corpus: Corpus, progress: ProgressFn | None = None, batch_size: int = 64, chunk: int = 128
    ) -> np.ndarray:
        key = self.key(embedder, corpus)
        return self._memory.get(key, lambda: self._load_or_compute(key, embedder, corpus, progress, batch_size, chunk))

    def _load_or_compute(
        self, key: str, embedder: Embedder, corpus: Corpus, progress: ProgressFn | None, batch_size: int, chunk: int
    ) -> np.ndarray:
        path = self._path(key)
        if path.is_file():
            try:
                emb = np.load(path)
                if emb.shape[0] == len(corpus):
                    path.touch()  # recently used: the last to be pruned
                    return emb
            except (OSError, ValueError):
                pass  # unreadable cache file: recompute and overwrite
        bundled = _read_bundled(key, len(corpus))
        if bundled is not None:
            return bundled
        texts = corpus.document_texts
        parts = []
        for start in range(0, len(texts), chunk):
            parts.append(embedder.encode(texts[start : start + chunk], "document", batch_size=batch_size))
            if progress:
                progress(min(start + chunk, len(texts)), len(texts))
        emb = np.concatenate(parts, axis=0)
        with atomic_open(path, "wb") as f:
            np.save(f, emb)
        if self.max_disk_bytes is not None:
            self.prune(keep=path)
        return emb

    def prune(self, keep: Path | None = None) -> list[Path]:
        """Delete the least recently used files until the folder is under ``max_disk_bytes``; returns what was deleted.

        ``keep`` (the file just written) is never deleted, even when it alone is over the limit.
        """
        folder = self.root or cache_dir() / "embeddings"
        files = []
        for f in folder.glob("*.npy"):
            try:
                stat = f.stat()
            except FileNotFoundError:  # pruned by another process meanwhile
                continue
            files.append((stat.st_mtime, stat.st_size, f))
        total = sum(size for _, size, _ in files)
        deleted = []
        for _, size, f in sorted(files, key=lambda t: t[0]):
            if self.max_disk_bytes is None or total <= self.max_disk_bytes:
                break
            if keep is not None and f == keep:
                continue
            f.unlink(missing_ok=True)
            total -= size
            deleted.append(f)
        return deleted


_DEFAULT_STORE = EmbeddingStore()


class DenseFirstStage:
    """Exact cosine search over normalised embeddings, with the embedder's query/document prompts."""

    def __init__(
        self, embedder: Embedder, corpus: Corpus, store: EmbeddingStore | None = None, progress: ProgressFn | None = None
    ):
        self.embedder = embedder
        self.corpus = corpus
        self.name = embedder.name
        self.embeddings = (store or _DEFAULT_STORE).get(embedder, corpus, progress=progress)

    def search(self, query: str, k: int) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
        t0 = time.perf_counter()
        q = self.embedder.encode([query], "query")[0]
        t1 = time.perf_counter()
        idx, scores = _top_k(self.embeddings @ q, k)
        t2 = time.perf_counter()
        return idx, scores, {"embed_query_s": t1 - t0, "search_s": t2 - t1}

    def scores(self, queries: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Cosine similarity of each query with every document: ``(len(queries), len(corpus))``."""
        q = self.embedder.encode(list(queries), "query", batch_size=batch_size)
        return np.asarray(q @ self.embeddings.T, dtype=np.float32)

    def search_many(self, queries: Sequence[str], k: int, batch_size: int = 64) -> list[tuple[np.ndarray, np.ndarray]]:
        return [_top_k(row, k) for row in self.scores(queries, batch_size)]


# --------------------------------------------------------------------------------------------------------------------
# BM25


class BM25FirstStage:
    """bm25s with mteb's ``baseline-bm25s`` settings: English stopwords, Snowball English stemmer, lucene BM25."""

    def __init__(self, corpus: Corpus, meta: registry.BM25Meta = registry.BM25):
        import bm25s
        import Stemmer

        self.corpus = corpus
        self.meta = meta
        self.name = meta.id
        self._bm25s = bm25s
        self._stemmer = Stemmer.Stemmer(meta.stemmer)
        texts = ["\n".join((corpus.title(i), corpus.texts[i])) for i in range(len(corpus))]
        tokens = bm25s.tokenize(texts, stopwords=meta.stopwords, stemmer=self._stemmer, show_progress=False)
        self.retriever = bm25s.BM25(k1=meta.k1, b=meta.b, method=meta.method)
        # a corpus with no indexable word (only stopwords, one-letter words, symbols) matches no query
        self.empty = not tokens.vocab
        if not self.empty:
            self.retriever.index(tokens, show_progress=False)

    def scores(self, queries: Sequence[str]) -> list[np.ndarray]:
        """BM25 score of each query for every document (0 where they share no term), one array per query."""
        out = []
        for q in queries:
            tokens = self._bm25s.tokenize(q, stopwords=self.meta.stopwords, stemmer=self._stemmer, show_progress=False, return_ids=False)
            words = tokens[0] if tokens and isinstance(tokens[0], list) else tokens
            if not words or self.empty:
                out.append(np.zeros(len(self.corpus), dtype=np.float32))
                continue
            out.append(np.asarray(self.retriever.get_scores(words), dtype=np.float32))
        return out

    def search(self, query: str, k: int) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
        t0 = time.perf_counter()
        scores = self.scores([query])[0]
        idx, top = _top_k(scores, k)
        keep = top > 0  # documents sharing no term with the query are not retrieved
        return idx[keep], top[keep], {"embed_query_s": 0.0, "search_s": time.perf_counter() - t0}

    def search_many(self, queries: Sequence[str], k: int, batch_size: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
        results = []
        for scores in self.scores(queries):
            idx, top = _top_k(scores, k)
            keep = top > 0
            results.append((idx[keep], top[keep]))
        return results


# --------------------------------------------------------------------------------------------------------------------
# Retrieve, then rerank


@dataclass
class Hit:
    doc_id: str
    title: str
    text: str
    first_stage_rank: int
    first_stage_score: float
    rerank_rank: int | None = None
    rerank_score: float | None = None

    @property
    def movement(self) -> int:
        """Positive = moved up: first-stage rank minus final rank (0 without a reranker)."""
        return 0 if self.rerank_rank is None else self.first_stage_rank - self.rerank_rank

    @property
    def final_rank(self) -> int:
        return self.rerank_rank if self.rerank_rank is not None else self.first_stage_rank


@dataclass
class SearchResult:
    query: str
    first_stage: str
    reranker: str | None
    k: int
    hits: list[Hit]
    candidates: list[Hit]
    timings: dict[str, float] = field(default_factory=dict)
    random_init: bool = False


def retrieve_and_rerank(
    query: str,
    first_stage: FirstStage,
    reranker: Reranker | None = None,
    *,
    k: int = 100,
    top_n: int = 10,
    batch_size: int = INTERACTIVE_BATCH,
    progress: Callable[[int, int], None] | None = None,
    fuse_weight: float | None = None,
) -> SearchResult:
    """Run the first stage for the top ``k``, rerank them, and return the best ``top_n`` with ranks and timings.

    With ``fuse_weight`` ``w`` the final order is the *fused system*'s (:func:`ettin.fusion.zscore_fuse`: ``w`` times the
    reranker's z-scored score plus ``1 - w`` times the first stage's, over the K candidates): ``rerank_score`` is then
    the fused score and the result's ``reranker`` the fused system's name (:func:`ettin.fusion.fused_name`).

    ``k`` larger than the corpus is fine (all documents are candidates). Ranks are 1-based. ``batch_size`` defaults to
    :data:`~ettin.runtime.INTERACTIVE_BATCH`. ``progress(done, total)`` is called after each forward pass of the rerank
    (an exception it raises, e.g. the user's Stop, ends it there).

    Raises:
        InputError: empty, non-text or oversized query; ``k`` or ``top_n`` below 1.
    """
    t_start = time.perf_counter()
    query = validate_query(query)
    if not isinstance(k, int) or k < 1:
        raise InputError("K (first-stage depth) must be a positive whole number")
    if not isinstance(top_n, int) or top_n < 1:
        raise InputError("the number of results to show must be a positive whole number")
    corpus = first_stage.corpus
    idx, fs_scores, timings = first_stage.search(query, k)
    candidates = [
        Hit(corpus.ids[i], corpus.title(i), corpus.texts[i], rank, float(score))
        for rank, (i, score) in enumerate(zip(idx.tolist(), fs_scores.tolist()), start=1)
    ]
    rerank_s = 0.0
    if reranker is not None and candidates:
        t0 = time.perf_counter()
        pairs = [(query, corpus.document_text(i)) for i in idx.tolist()]
        scores = reranker.score_pairs(pairs, batch_size=batch_size, on_batch=progress)
        rerank_s = time.perf_counter() - t0
        if fuse_weight is not None:
            scores = _fused_scores(candidates, scores, fuse_weight)
        order = sorted(range(len(candidates)), key=lambda j: (-float(scores[j]), j))
        for new_rank, j in enumerate(order, start=1):
            candidates[j].rerank_rank = new_rank
            candidates[j].rerank_score = float(scores[j])
        final = [candidates[j] for j in order]
    else:
        final = list(candidates)
    timings = {
        "embed_query_s": timings.get("embed_query_s", 0.0),
        "search_s": timings.get("search_s", 0.0),
        "rerank_s": rerank_s,
        "total_s": time.perf_counter() - t_start,
    }
    reranker_name = reranker.name if reranker else None
    if reranker_name and fuse_weight is not None:
        from ettin.fusion import fused_name

        reranker_name = fused_name(reranker_name, fuse_weight)
    return SearchResult(
        query,
        first_stage.name,
        reranker_name,
        k,
        final[:top_n],
        candidates,
        timings,
        random_init=bool(reranker and reranker.random_init),
    )


def make_first_stage(
    spec: str, corpus: Corpus, *, embedder_loader: Callable[[str], Embedder] | None = None, progress: ProgressFn | None = None
) -> FirstStage:
    """``"bm25"`` gives BM25, ``"hybrid[:<embedder>]"`` BM25 + an embedder fused by RRF (:mod:`ettin.hybrid`); anything
    else is loaded as a dense embedder (registry id, Hub id or local folder).

    Raises:
        InputError: a ``hybrid:`` spec without a dense embedder.
    """
    from ettin.hybrid import HybridFirstStage, hybrid_embedder

    if spec.strip().lower() == registry.BM25.id:
        return BM25FirstStage(corpus)
    from ettin.runtime import cached_embedder

    loader = embedder_loader or cached_embedder
    try:
        fused_embedder = hybrid_embedder(spec)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    if fused_embedder is not None:
        return HybridFirstStage(BM25FirstStage(corpus), DenseFirstStage(loader(fused_embedder), corpus, progress=progress))
    return DenseFirstStage(loader(spec), corpus, progress=progress)


def _fused_scores(candidates: list[Hit], scores, weight: float) -> list[float]:
    """The fused system's score of each candidate (in the candidates' order) from the reranker's ``scores``."""
    from ettin.fusion import zscore_fuse

    keys = [str(j) for j in range(len(candidates))]
    fused = zscore_fuse({k: h.first_stage_score for k, h in zip(keys, candidates)},
                        {k: float(s) for k, s in zip(keys, scores)}, weight)  # fmt: skip
    return [fused[k] for k in keys]
