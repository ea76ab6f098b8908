"""Corpora and BEIR-format datasets: the bundled SciFact copy, user documents, and strict loading with clear errors."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from ettin.errors import UserError
from ettin.paths import BUNDLED_SCIFACT

logger = logging.getLogger(__name__)


class DataFormatError(UserError, ValueError):
    """A data file that cannot be read; the message names the file and, where known, the line."""

    def __init__(self, path: str | Path, message: str, line: int | None = None):
        where = f"{Path(path).name}" + (f", line {line}" if line is not None else "")
        super().__init__(f"{where}: {message}")
        self.path = str(path)
        self.line = line


@dataclass(frozen=True)
class Corpus:
    """An ordered collection of documents with ids and optional titles."""

    ids: tuple[str, ...]
    texts: tuple[str, ...]
    titles: tuple[str, ...] = ()
    name: str = "corpus"

    def __post_init__(self):
        if not self.ids:
            raise ValueError("the corpus is empty: give at least one document")
        if len(self.ids) != len(self.texts) or (self.titles and len(self.titles) != len(self.ids)):
            raise ValueError("ids, texts and titles must have the same length")
        for i, text in enumerate(self.texts):
            if not isinstance(text, str):
                raise TypeError(f"document {i} is {type(text).__name__}, not a string")
        if self.titles and not all(isinstance(t, str) for t in self.titles):
            raise TypeError("every title must be a string")
        if len(set(self.ids)) != len(self.ids):
            raise ValueError("document ids must be unique")

    @classmethod
    def from_texts(cls, texts: Sequence[str], name: str = "corpus", titles: Sequence[str] | None = None) -> Corpus:
        """Build a corpus from plain strings, ids ``d0``, ``d1``, …"""
        if isinstance(texts, str):
            raise TypeError("give a list of documents, not a single string")
        texts = list(texts)
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"document {i} is {type(text).__name__}, not a string")
        return cls(tuple(f"d{i}" for i in range(len(texts))), tuple(texts), tuple(titles or ()), name)

    def __len__(self) -> int:
        return len(self.ids)

    def title(self, i: int) -> str:
        return self.titles[i] if self.titles else ""

    def document_text(self, i: int) -> str:
        """Title and text joined by a space (the text an embedder or reranker sees), stripped."""
        return f"{self.title(i)} {self.texts[i]}".strip()

    @cached_property
    def document_texts(self) -> list[str]:
        return [self.document_text(i) for i in range(len(self))]

    @cached_property
    def fingerprint(self) -> str:
        """SHA-256 over ids, titles and texts: equal fingerprints mean equal corpora."""
        h = hashlib.sha256()
        for i in range(len(self)):
            for part in (self.ids[i], self.title(i), self.texts[i]):
                h.update(part.encode("utf-8", "surrogatepass"))
                h.update(b"\x00")
        return h.hexdigest()

    def subset(self, n: int) -> Corpus:
        n = max(1, min(n, len(self)))
        return Corpus(self.ids[:n], self.texts[:n], self.titles[:n] if self.titles else (), f"{self.name}[:{n}]")


@dataclass
class BeirDataset:
    """A BEIR-format retrieval dataset: corpus, the queries of one split, and their relevance judgements."""

    name: str
    split: str
    corpus: Corpus
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    warnings: list[str] = field(default_factory=list)

    @cached_property
    def fingerprint(self) -> str:
        h = hashlib.sha256(self.corpus.fingerprint.encode())
        for qid in sorted(self.queries):
            h.update(f"{qid}\x00{self.queries[qid]}\x00".encode("utf-8", "surrogatepass"))
            for did, grade in sorted(self.qrels.get(qid, {}).items()):
                h.update(f"{did}\x01{grade}\x00".encode())
        return h.hexdigest()

    def slice(self, n_queries: int) -> BeirDataset:
        """The first ``n_queries`` queries by id, with the whole corpus."""
        return self.restrict(sorted(self.queries)[:n_queries], f"{self.name}[:{n_queries}q]")

    def restrict(self, query_ids: Sequence[str], name: str) -> BeirDataset:
        """Only the queries ``query_ids`` (each must be one of this dataset's) and their judgements, whole corpus."""
        return BeirDataset(
            name,
            self.split,
            self.corpus,
            {q: self.queries[q] for q in query_ids},
            {q: self.qrels[q] for q in query_ids if q in self.qrels},
            list(self.warnings),
        )


def _open_text(path: Path) -> Iterator[tuple[int, str]]:
    raw = gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")
    with raw as f:
        for lineno, line in enumerate(f, start=1):
            try:
                yield lineno, line.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as exc:
                raise DataFormatError(path, f"invalid UTF-8 ({exc.reason})", lineno) from None


def _find(folder: Path, name: str) -> Path:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise DataFormatError(folder / name, "file not found (expected BEIR layout: corpus.jsonl, queries.jsonl, qrels/<split>.tsv)")


def read_jsonl(path: Path, required: Sequence[str]) -> Iterator[tuple[int, dict]]:
    for lineno, line in _open_text(path):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataFormatError(path, f"not valid JSON ({exc.msg})", lineno) from None
        if not isinstance(row, dict):
            raise DataFormatError(path, "each line must be a JSON object", lineno)
        missing = [k for k in required if k not in row]
        if missing:
            raise DataFormatError(path, f"missing field(s) {', '.join(missing)}", lineno)
        row["_id"] = str(row["_id"])
        for key in ("text", "title"):
            if key in row and row[key] is None:
                row[key] = ""
            if key in row and not isinstance(row[key], str):
                raise DataFormatError(path, f"field {key!r} must be a string", lineno)
        yield lineno, row


def load_corpus(folder: str | Path, name: str | None = None) -> Corpus:
    folder = Path(folder)
    path = _find(folder, "corpus.jsonl")
    ids, texts, titles, seen = [], [], [], set()
    for lineno, row in read_jsonl(path, ("_id", "text")):
        if row["_id"] in seen:
            raise DataFormatError(path, f"duplicate document id {row['_id']!r}", lineno)
        seen.add(row["_id"])
        ids.append(row["_id"])
        texts.append(row["text"])
        titles.append(row.get("title", ""))
    if not ids:
        raise DataFormatError(path, "no documents")
    if not any(str(t).strip() for t in texts) and not any(str(t).strip() for t in titles):
        raise DataFormatError(path, f"none of its {len(ids):,} documents has a title or text: nothing can be searched")
    return Corpus(tuple(ids), tuple(texts), tuple(titles), name or folder.name)


def load_queries(folder: str | Path) -> dict[str, str]:
    path = _find(Path(folder), "queries.jsonl")
    queries: dict[str, str] = {}
    for lineno, row in read_jsonl(path, ("_id", "text")):
        if row["_id"] in queries:
            raise DataFormatError(path, f"duplicate query id {row['_id']!r}", lineno)
        queries[row["_id"]] = row["text"]
    return queries


def load_qrels(path: str | Path) -> dict[str, dict[str, int]]:
    """Read a BEIR qrels TSV (``query-id corpus-id score``; header optional; CRLF fine; score 0 = not relevant)."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, "qrels file not found")
    qrels: dict[str, dict[str, int]] = {}
    for lineno, line in _open_text(path):
        if not line.strip():
            continue
        cols = next(csv.reader(io.StringIO(line), delimiter="\t"))
        if lineno == 1 and len(cols) >= 3 and not cols[2].strip().lstrip("-").isdigit():
            continue  # header row
        if len(cols) == 4:  # TREC layout: qid 0 docid score
            cols = [cols[0], cols[2], cols[3]]
        if len(cols) != 3:
            raise DataFormatError(path, f"expected 3 tab-separated columns, found {len(cols)}", lineno)
        qid, did, score = (c.strip() for c in cols)
        try:
            grade = int(float(score))
        except ValueError:
            raise DataFormatError(path, f"score {score!r} is not a number", lineno) from None
        if did in qrels.setdefault(qid, {}):
            raise DataFormatError(path, f"duplicate judgement for ({qid}, {did})", lineno)
        qrels[qid][did] = grade
    return qrels


def load_beir(folder: str | Path, split: str = "test", name: str | None = None) -> BeirDataset:
    """Load a BEIR folder; judgements that point at unknown ids are skipped with a counted warning.

    Raises:
        DataFormatError: missing files, malformed lines, duplicate ids, invalid UTF-8 — naming file and line.
    """
    folder = Path(folder)
    name = name or folder.name
    corpus = load_corpus(folder, name)
    all_queries = load_queries(folder)
    raw_qrels = load_qrels(folder / "qrels" / f"{split}.tsv")
    doc_ids = set(corpus.ids)
    warnings: list[str] = []
    unknown_q = sum(1 for q in raw_qrels if q not in all_queries)
    unknown_d = 0
    qrels: dict[str, dict[str, int]] = {}
    for qid, judged in raw_qrels.items():
        if qid not in all_queries:
            continue
        kept = {d: g for d, g in judged.items() if d in doc_ids}
        unknown_d += len(judged) - len(kept)
        if kept:
            qrels[qid] = kept
    if unknown_q:
        warnings.append(f"skipped judgements of {unknown_q} query id(s) not in queries.jsonl")
    if unknown_d:
        warnings.append(f"skipped {unknown_d} judgement(s) pointing at document ids not in the corpus")
    for w in warnings:
        logger.warning("%s/%s: %s", name, split, w)
    if not qrels:
        raise DataFormatError(folder / "qrels" / f"{split}.tsv", "no usable judgements for this split")
    queries = {q: all_queries[q] for q in qrels}
    return BeirDataset(name, split, corpus, queries, qrels, warnings)


def scifact(split: str = "test") -> BeirDataset:
    """The bundled BEIR SciFact (see ``data/scifact/SOURCE.md``)."""
    return load_beir(BUNDLED_SCIFACT, split, name="scifact")


def scifact_corpus() -> Corpus:
    return load_corpus(BUNDLED_SCIFACT, "scifact")
