"""Teacher scoring: (query, document) pairs -> raw teacher scores, batched, resumable and shardable.

The output is a folder of Parquet parts (``part-000000.parquet`` …, columns ``row, score``), one per chunk of
``--chunk-size`` input rows, each written atomically: a killed run restarts at the first missing part. Chunk ``c`` belongs to shard ``c % n``, so
``--shard i/n`` processes can run side by side on one output folder. ``manifest.json`` pins the input fingerprint, the
teacher and the chunking, so parts of a different run are never mixed in.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ettin.cli import verb
from train.cli import print_json, quiet_argument
from train.tables import (
    DOCUMENT_COLUMNS,
    QUERY_COLUMNS,
    TrainDataError,
    find_column,
    fingerprint,
    read_table,
    write_parquet_atomic,
)

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "MANIFEST",
    "Teacher",
    "CrossEncoderTeacher",
    "CosineTeacher",
    "make_teacher",
    "parse_shard",
    "score_file",
    "read_scored",
]

MANIFEST = "manifest.json"


class Teacher(Protocol):
    """What ``score_file`` needs of a teacher."""

    def score(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """Raw scores of (query, document) pairs, one per pair."""
        ...

    def describe(self) -> dict[str, Any]:
        """Provenance of the teacher, recorded in the output's manifest."""
        ...


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/n"`` with ``0 <= i < n`` -> ``(i, n)``.

    Raises:
        TrainDataError: anything else.
    """
    try:
        i_text, n_text = text.split("/")
        i, n = int(i_text), int(n_text)
    except ValueError:
        raise TrainDataError(f"--shard {text!r}: expected i/n, e.g. 0/4") from None
    if n < 1 or not 0 <= i < n:
        raise TrainDataError(f"--shard {text!r}: need 0 <= i < n")
    return i, n


@dataclass
class CrossEncoderTeacher:
    """A CrossEncoder (Hub id or folder) loaded with the runtime's best settings; scores are raw logits."""

    spec: str
    batch_size: int = 32
    precision: str = "auto"
    allow_random: bool = False
    _reranker: Any = field(default=None, repr=False)

    def _model(self):
        if self._reranker is None:
            from ettin.runtime import ModelLoadError, best_settings, load_reranker

            try:
                self._reranker = load_reranker(self.spec, best_settings(precision=self.precision))
            except ModelLoadError as exc:
                raise TrainDataError(f"teacher: {exc}") from None
        return self._reranker

    def score(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """Raw logits of the pairs."""
        return self._model().score_pairs(pairs, batch_size=self.batch_size)

    def describe(self) -> dict[str, Any]:
        """The model's provenance.

        Raises:
            TrainDataError: the teacher is a random-weight replica and ``allow_random`` is off.
        """
        model = self._model()
        if model.random_init and not self.allow_random:
            raise TrainDataError(
                f"teacher {self.spec!r} is a random-weight replica: its scores mean nothing "
                "(--allow-random-teacher runs it anyway, for plumbing checks, recorded random_init in the manifest)"
            )
        return {"kind": "cross-encoder", **model.provenance()}


@dataclass
class CosineTeacher:
    """A dense embedder's cosine similarity times ``scale`` (an offline stand-in teacher; registry prompts applied)."""

    spec: str
    scale: float = 20.0
    batch_size: int = 64
    _embedder: Any = field(default=None, repr=False)
    _cache: dict[tuple[str, str], np.ndarray] = field(default_factory=dict, repr=False)

    def _model(self):
        if self._embedder is None:
            from ettin.runtime import ModelLoadError, best_settings, load_embedder

            try:
                self._embedder = load_embedder(self.spec, best_settings())
            except ModelLoadError as exc:
                raise TrainDataError(f"teacher: {exc}") from None
        return self._embedder

    def prime_documents(self, corpus: Any, show_progress: bool = True) -> int:
        """Reuse a corpus's cached document embeddings (:class:`ettin.pipeline.EmbeddingStore`, shared with the dense
        first stage) for documents given as ``corpus.document_text(i)``; returns how many were primed."""
        from ettin.pipeline import EmbeddingStore
        from ettin.progress import progress_callback

        with progress_callback(len(corpus), "teacher corpus embeddings", show=show_progress, leave=False) as progress:
            emb = EmbeddingStore().get(self._model(), corpus, progress=progress)
        self._cache.update({("document", t): e for t, e in zip(corpus.document_texts, emb)})
        return len(corpus)

    def _embed(self, texts: Sequence[str], role: str) -> np.ndarray:
        new = list(dict.fromkeys(t for t in texts if (role, t) not in self._cache))
        if new:
            emb = self._model().encode(new, role, batch_size=self.batch_size)  # type: ignore[arg-type]
            self._cache.update({(role, t): e for t, e in zip(new, emb)})
        return np.stack([self._cache[(role, t)] for t in texts])

    def score(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """``scale`` x the cosine of each pair's query and document embeddings (embeddings are cached per text)."""
        if not pairs:
            return np.zeros(0, dtype=np.float32)
        q = self._embed([p[0] for p in pairs], "query")
        d = self._embed([p[1] for p in pairs], "document")
        return (self.scale * np.einsum("ij,ij->i", q, d)).astype(np.float32)

    def describe(self) -> dict[str, Any]:
        """The embedder's provenance and the scale."""
        return {"kind": "cosine", "scale": self.scale, **self._model().provenance()}


def make_teacher(
    spec: str, *, cosine_scale: float = 20.0, batch_size: int = 32, precision: str = "auto", allow_random: bool = False
) -> Teacher:
    """``cosine:EMBEDDER`` or a registry embedder id -> :class:`CosineTeacher`; anything else -> :class:`CrossEncoderTeacher`."""
    from ettin import registry

    spec = spec.strip()
    if not spec:
        raise TrainDataError("--teacher is empty")
    if spec.startswith("cosine:"):
        return CosineTeacher(spec[len("cosine:") :], scale=cosine_scale, batch_size=max(batch_size, 64))
    if registry.embedder(spec) is not None:
        return CosineTeacher(spec, scale=cosine_scale, batch_size=max(batch_size, 64))
    return CrossEncoderTeacher(spec, batch_size=batch_size, precision=precision, allow_random=allow_random)


def _part_path(out: Path, chunk: int) -> Path:
    return out / f"part-{chunk:06d}.parquet"


def _part_ok(path: Path, rows: int) -> bool:
    import pyarrow.parquet as pq

    try:
        return path.is_file() and pq.ParquetFile(path).metadata.num_rows == rows
    except Exception:  # noqa: BLE001 - an unreadable part is redone
        return False


def _check_manifest(out: Path, expected: dict[str, Any]) -> None:
    """Refuse an ``out`` folder whose manifest records another input, teacher or chunking.

    Raises:
        TrainDataError: the manifest differs from ``expected`` (other than in the input's spelling).
    """
    import json

    manifest_path = out / MANIFEST
    if not manifest_path.is_file():
        return
    old = json.loads(manifest_path.read_text(encoding="utf-8"))
    diff = [k for k, v in expected.items() if k != "input" and old.get(k) != v]
    if diff:
        raise TrainDataError(f"{out} holds scores of another run (differs in: {', '.join(diff)}); use a new --out folder")


def score_file(
    input_path: str | Path,
    out: str | Path,
    teacher: Teacher,
    *,
    shard: tuple[int, int] = (0, 1),
    chunk_size: int = 4096,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Score every (query, document) row of ``input_path`` that belongs to ``shard``; write parts under ``out``.

    Args:
        input_path: Parquet/JSONL file or folder with a query and a document column (any spelling of
            :data:`~train.tables.QUERY_COLUMNS` / :data:`~train.tables.DOCUMENT_COLUMNS`).
        out: Output folder of parts; rerunning on it resumes.
        teacher: The scorer.
        shard: ``(i, n)``: score the chunks ``c`` with ``c % n == i``.
        chunk_size: Rows per part.
        show_progress: Show a progress bar.

    Returns:
        A summary: parts total / written now / already present, rows scored now.

    Raises:
        TrainDataError: unreadable input, missing columns, or an ``out`` folder that belongs to another run.
    """
    import pyarrow as pa

    from ettin.io import write_json_atomic
    from ettin.progress import progress_bar
    from ettin.provenance import base_provenance

    if chunk_size < 1:
        raise TrainDataError("--chunk-size must be at least 1")
    table = read_table(input_path)
    q_col = find_column(table, QUERY_COLUMNS, "query", str(input_path))
    d_col = find_column(table, DOCUMENT_COLUMNS, "document", str(input_path))
    if "score" in table.column_names:
        table = table.drop_columns(["score"])
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    n_parts = max(1, math.ceil(table.num_rows / chunk_size))
    expected = {
        "input": str(input_path),
        "input_sha256": fingerprint(input_path),
        "rows": table.num_rows,
        "chunk_size": chunk_size,
        "parts": n_parts,
        "teacher_spec": getattr(teacher, "spec", repr(teacher)),
        "scale": getattr(teacher, "scale", None),
    }
    _check_manifest(out, expected)
    i, n = shard
    mine = [c for c in range(n_parts) if c % n == i]
    todo = [c for c in mine if not _part_ok(_part_path(out, c), min(chunk_size, table.num_rows - c * chunk_size))]
    summary = {"parts_total": n_parts, "parts_in_shard": len(mine), "already_done": len(mine) - len(todo), "written": 0}
    if todo and not (out / MANIFEST).is_file():
        write_json_atomic(out / MANIFEST, {**expected, "teacher": teacher.describe(), "provenance": base_provenance()})
    rows_todo = sum(min(chunk_size, table.num_rows - c * chunk_size) for c in todo)
    with progress_bar(show=show_progress, total=rows_todo, desc=f"scoring shard {i}/{n}", unit="pair") as bar:
        for c in todo:
            part = table.slice(c * chunk_size, chunk_size)
            pairs = list(zip(part.column(q_col).to_pylist(), part.column(d_col).to_pylist()))
            scores = np.asarray(teacher.score(pairs), dtype=np.float32)
            if scores.shape != (len(pairs),):
                raise RuntimeError(f"teacher returned {scores.shape} scores for {len(pairs)} pairs")
            rows = pa.array(np.arange(c * chunk_size, c * chunk_size + len(pairs), dtype=np.int64))
            write_parquet_atomic(pa.table({"row": rows, "score": pa.array(scores, type=pa.float32())}), _part_path(out, c))
            summary["written"] += 1
            bar.update(len(pairs))
    summary["rows_scored"] = rows_todo
    return summary


def read_scored(out: str | Path, input_path: str | Path | None = None) -> pa.Table:
    """The scored input: the input table (as recorded in the manifest, or ``input_path``) plus a ``score`` column.

    Raises:
        TrainDataError: no manifest, an input that changed since scoring, or parts missing (names what to rerun).
    """
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(out)
    manifest_path = out / MANIFEST
    if not manifest_path.is_file():
        raise TrainDataError(f"{out}: not a scoring folder (no {MANIFEST}); run `python -m train score` first")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    n_parts, chunk, rows = manifest["parts"], manifest["chunk_size"], manifest["rows"]
    missing = [c for c in range(n_parts) if not _part_ok(_part_path(out, c), min(chunk, rows - c * chunk))]
    if missing:
        raise TrainDataError(
            f"{out}: {len(missing)} of {n_parts} parts are missing (e.g. part {missing[0]}); "
            "finish scoring (rerun the same `python -m train score` command for every shard)"
        )
    source = Path(input_path or manifest["input"])
    if fingerprint(source) != manifest["input_sha256"]:
        raise TrainDataError(f"{source} changed since it was scored into {out}; score it again into a new folder")
    table = read_table(source)
    if "score" in table.column_names:
        table = table.drop_columns(["score"])
    parts = pa.concat_tables([pq.read_table(_part_path(out, c)) for c in range(n_parts)])
    rows_col = parts.column("row").to_numpy()
    if not np.array_equal(rows_col, np.arange(rows)):
        raise TrainDataError(f"{out}: the parts do not cover rows 0..{rows - 1} exactly once")
    return table.append_column("score", parts.column("score"))


# --------------------------------------------------------------------------------------------------------------------
# python -m train score


def _score_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input", required=True, help="Parquet/JSONL with query and document columns")
    p.add_argument("--out", required=True, help="output folder of Parquet parts (rerun the same command to resume)")
    p.add_argument(
        "--teacher", required=True,
        help="a CrossEncoder (Hub id or folder), or cosine:EMBEDDER / a registry embedder id for scaled cosine",
    )
    p.add_argument("--cosine-scale", type=float, default=20.0, help="multiplier of cosine teachers (default: 20)")
    p.add_argument("--shard", default="0/1", help="i/n: score the parts with index %% n == i (default: 0/1)")
    p.add_argument("--chunk-size", type=int, default=4096, help="rows per written part (default: 4096)")
    p.add_argument("--batch-size", type=int, default=32, help="teacher batch size (default: 32)")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto", help="teacher precision (default: auto)")
    p.add_argument("--allow-random-teacher", action="store_true",
                   help="accept a random-weight replica as teacher (plumbing checks; the manifest records random_init)")
    p.add_argument(
        "--reuse-corpus-embeddings", metavar="BEIR",
        help="cosine teacher: reuse the cached document embeddings of this corpus ('scifact' or a BEIR folder)",
    )
    quiet_argument(p)


@verb("score", help="score (query, document) rows with a teacher; resumable, shardable", arguments=_score_arguments)
def score_command(args: argparse.Namespace) -> int:
    """``python -m train score``: score the input's rows of one shard, then print the summary."""
    from train.data import load_beir_spec

    shard = parse_shard(args.shard)
    teacher = make_teacher(args.teacher, cosine_scale=args.cosine_scale, batch_size=args.batch_size, precision=args.precision,
                           allow_random=args.allow_random_teacher)
    if args.reuse_corpus_embeddings:
        if not isinstance(teacher, CosineTeacher):
            raise TrainDataError("--reuse-corpus-embeddings applies to cosine teachers only")
        teacher.prime_documents(load_beir_spec(args.reuse_corpus_embeddings, "test").corpus, show_progress=not args.quiet)
    summary = score_file(args.input, args.out, teacher, shard=shard, chunk_size=args.chunk_size, show_progress=not args.quiet)
    print_json(summary)
    return 0
