"""A persistent cache of reranker scores shared by every run, first stage and dataset.

A score is keyed by (reranker, query id, document id, max_length, dtype) plus a short hash of the query and document
texts, so two datasets that reuse an id never share a score by mistake. The reranker part is
:func:`eval.retrieval.rerank.reranker_key`: the id and a digest of everything that decides a score (weights hash,
``random_init``, backend, precision, attention, compile state, max length, scoring version), never the id and revision
alone. The store is SQLite in WAL mode: every batch of
new scores is one committed transaction, so a process killed at any moment (SIGKILL included) leaves every earlier batch
readable and nothing half-written.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ettin.errors import UserError
from ettin.paths import cache_dir

__all__ = ["PairKey", "ScoreCache", "ScoreCacheError", "default_path", "pair_text_hash"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS scores (
    reranker TEXT NOT NULL,
    query_id TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    max_length INTEGER NOT NULL,
    dtype TEXT NOT NULL,
    text_sha TEXT NOT NULL,
    score REAL NOT NULL,
    PRIMARY KEY (reranker, query_id, doc_id, max_length, dtype, text_sha)
) WITHOUT ROWID
"""


class ScoreCacheError(UserError, RuntimeError):
    """The score cache file cannot be opened; the message says to delete it."""


def default_path() -> Path:
    """``$ETTIN_CACHE/scores.sqlite``."""
    return cache_dir() / "scores.sqlite"


def pair_text_hash(query: str, document: str) -> str:
    """16 hex digits of SHA-256 over the query and document texts."""
    h = hashlib.sha256(query.encode("utf-8", "surrogatepass"))
    h.update(b"\x00")
    h.update(document.encode("utf-8", "surrogatepass"))
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class PairKey:
    """One (query, document) pair as the cache sees it."""

    query_id: str
    doc_id: str
    text_sha: str


class ScoreCache:
    """Reranker scores on disk, for one reranker setting (model identity, max_length, dtype) at a time.

    Args:
        path: SQLite file (created if missing); default :func:`default_path`.
    """

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else default_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(str(self.path), timeout=60)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(_SCHEMA)
            self._db.commit()
        except sqlite3.DatabaseError as exc:
            raise ScoreCacheError(f"the score cache {self.path.name} cannot be opened ({exc}); delete it to start afresh") from exc

    def get_many(self, reranker: str, max_length: int, dtype: str, keys: Sequence[PairKey]) -> dict[PairKey, float]:
        """Cached scores of ``keys`` (missing ones are absent from the result)."""
        if not keys:
            return {}
        by_query: dict[str, set[PairKey]] = {}
        for key in keys:
            by_query.setdefault(key.query_id, set()).add(key)
        found: dict[PairKey, float] = {}
        for query_id, wanted in by_query.items():
            rows = self._db.execute(
                "SELECT doc_id, text_sha, score FROM scores"
                " WHERE reranker = ? AND query_id = ? AND max_length = ? AND dtype = ?",
                (reranker, query_id, max_length, dtype),
            )
            for doc_id, text_sha, score in rows:
                key = PairKey(query_id, doc_id, text_sha)
                if key in wanted:
                    found[key] = float(score)
        return found

    def put_many(
        self, reranker: str, max_length: int, dtype: str, items: Iterable[tuple[PairKey, float]]
    ) -> int:
        """Store scores in one transaction; returns how many rows were written."""
        rows = [(reranker, k.query_id, k.doc_id, max_length, dtype, k.text_sha, float(s)) for k, s in items]
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO scores VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        return len(rows)

    def count(self, reranker: str | None = None) -> int:
        """Number of cached scores (of one reranker, or all)."""
        if reranker is None:
            return int(self._db.execute("SELECT COUNT(*) FROM scores").fetchone()[0])
        return int(self._db.execute("SELECT COUNT(*) FROM scores WHERE reranker = ?", (reranker,)).fetchone()[0])

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ScoreCache:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
