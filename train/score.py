"""Teacher scoring: (query, document) pairs -> raw teacher scores, batched, resumable and shardable.

The output is a folder of Parquet parts (``part-000000.parquet`` …, columns ``row, score``), one per chunk of
``--chunk-size`` input rows, each written atomically: a killed run restarts at the first missing part. Chunk ``c``
belongs to shard ``c % n``, so the parts do not depend on how many processes wrote them. Under ``torchrun`` each rank
scores the chunks ``c % WORLD_SIZE == RANK`` and rank 0 alone writes ``manifest.json`` (before the ranks start, and once
all are done, marking it complete); a scheduler that starts processes itself passes ``--shard i/n`` instead (the same code path,
without the barrier). The manifest pins the input fingerprint, the teacher and the chunking, so parts of a different run
are never mixed in, and records every run (launcher, world size, parts written) that worked on the folder. The folder's
layout and reading it back (:func:`~train.scored.read_scored`) are in :mod:`train.scored`.
"""

from __future__ import annotations

import argparse
import json
import math
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ettin.cli import verb
from ettin.distributed import RankGroup, Workers
from train.cli import print_json, quiet_argument
from train.scored import MANIFEST, missing_parts, part_path, rows_of
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
    "Teacher",
    "CrossEncoderTeacher",
    "CosineTeacher",
    "make_teacher",
    "parse_shard",
    "score_file",
]


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
    from ettin.distributed import DistributedError
    from ettin.distributed import parse_shard as parse

    try:
        return parse(text)
    except DistributedError as exc:
        raise TrainDataError(str(exc)) from None


@dataclass
class CrossEncoderTeacher:
    """A CrossEncoder (Hub id or folder) loaded with the runtime's best settings; scores are raw logits."""

    spec: str
    batch_size: int = 32
    precision: str = "auto"
    allow_random: bool = False
    device: str | None = None
    _reranker: Any = field(default=None, repr=False)

    def _model(self):
        if self._reranker is None:
            from ettin.runtime import ModelLoadError, best_settings, load_reranker

            try:
                self._reranker = load_reranker(self.spec, best_settings(self.device, precision=self.precision))
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
    device: str | None = None
    _embedder: Any = field(default=None, repr=False)
    _cache: dict[tuple[str, str], np.ndarray] = field(default_factory=dict, repr=False)

    def _model(self):
        if self._embedder is None:
            from ettin.runtime import ModelLoadError, best_settings, load_embedder

            try:
                self._embedder = load_embedder(self.spec, best_settings(self.device, "fp32"))  # cosine teacher: lossless
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
    spec: str,
    *,
    cosine_scale: float = 20.0,
    batch_size: int = 32,
    precision: str = "auto",
    allow_random: bool = False,
    device: str | None = None,
) -> Teacher:
    """``cosine:EMBEDDER`` or a registry embedder id -> :class:`CosineTeacher`; anything else -> :class:`CrossEncoderTeacher`.

    ``device`` ``None`` picks the best one (under torchrun pass :func:`ettin.distributed.device_for`'s choice).
    """
    from ettin import registry

    spec = spec.strip()
    if not spec:
        raise TrainDataError("--teacher is empty")
    if spec.startswith("cosine:"):
        return CosineTeacher(spec[len("cosine:") :], scale=cosine_scale, batch_size=max(batch_size, 64), device=device)
    if registry.embedder(spec) is not None:
        return CosineTeacher(spec, scale=cosine_scale, batch_size=max(batch_size, 64), device=device)
    return CrossEncoderTeacher(spec, batch_size=batch_size, precision=precision, allow_random=allow_random, device=device)


def _check_manifest(out: Path, expected: dict[str, Any]) -> None:
    """Refuse an ``out`` folder whose manifest records another input, teacher or chunking.

    Raises:
        TrainDataError: the manifest differs from ``expected`` (other than in the input's spelling).
    """
    manifest_path = out / MANIFEST
    if not manifest_path.is_file():
        return
    old = json.loads(manifest_path.read_text(encoding="utf-8"))
    diff = [k for k, v in expected.items() if k != "input" and old.get(k) != v]
    if diff:
        raise TrainDataError(f"{out} holds scores of another run (differs in: {', '.join(diff)}); use a new --out folder")


@contextmanager
def _manifest_locked(out: Path) -> Iterator[dict[str, Any]]:
    """The manifest, to change in the block; written back atomically under a lock (``--shard`` processes share it)."""
    import fcntl

    from ettin.io import write_json_atomic

    with open(out / ".manifest.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        path = out / MANIFEST
        manifest = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        before = json.dumps(manifest, sort_keys=True)
        yield manifest
        if json.dumps(manifest, sort_keys=True) != before:
            write_json_atomic(path, manifest)


def _start_run(out: Path, expected: dict[str, Any], teacher: Teacher, workers: Workers, todo: int) -> str:
    """Write the manifest if absent and add this run's record to it; returns the record's id."""
    from ettin.provenance import base_provenance, now_iso

    run_id = uuid.uuid4().hex[:12]
    with _manifest_locked(out) as manifest:
        if not manifest:
            manifest.update({**expected, "teacher": teacher.describe(), "provenance": base_provenance()})
        manifest.setdefault("runs", []).append(
            {"id": run_id, **workers.describe(), "started": now_iso(), "parts_to_score": todo}
        )
    return run_id


def _finish_run(out: Path, run_id: str, ranks: list[dict[str, Any]], complete: bool) -> None:
    """Record what the run's ranks wrote, and whether every part of the folder is now on disk."""
    from ettin.provenance import now_iso

    with _manifest_locked(out) as manifest:
        for run in manifest.get("runs", []):
            if run["id"] == run_id:
                run.update({"finished": now_iso(), "written": sum(r["written"] for r in ranks),
                            "already_done": sum(r["already_done"] for r in ranks)})
        manifest["complete"] = complete


def score_file(
    input_path: str | Path,
    out: str | Path,
    teacher: Teacher,
    *,
    shard: tuple[int, int] = (0, 1),
    chunk_size: int = 4096,
    show_progress: bool = True,
    group: RankGroup | None = None,
) -> dict[str, Any]:
    """Score every (query, document) row of ``input_path`` that belongs to ``shard``; write parts under ``out``.

    Args:
        input_path: Parquet/JSONL file or folder with a query and a document column (any spelling of
            :data:`~train.tables.QUERY_COLUMNS` / :data:`~train.tables.DOCUMENT_COLUMNS`).
        out: Output folder of parts; rerunning on it (with any number of processes) resumes.
        teacher: The scorer.
        shard: ``(i, n)``: score the chunks ``c`` with ``c % n == i`` (ignored when ``group`` is given).
        chunk_size: Rows per part.
        show_progress: Show a progress bar.
        group: The torchrun ranks sharing the job (:func:`ettin.distributed.rank_group`): this process scores the
            chunks of its rank, and rank 0 alone writes the manifest, before the ranks start and after all finished.

    Returns:
        A summary: parts total / in this shard / written now / already present, rows scored now; on rank 0 of a
        torchrun job, the sums over all ranks plus each rank's own summary (``ranks``).

    Raises:
        TrainDataError: unreadable input, missing columns, or an ``out`` folder that belongs to another run.
    """
    if chunk_size < 1:
        raise TrainDataError("--chunk-size must be at least 1")
    if group is None:
        i, n = shard
        group = RankGroup(Workers(i, n, 0, 1, "shard" if n > 1 else "single"))
    workers = group.workers
    table, q_col, d_col = _pairs_table(input_path)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = table.num_rows
    n_parts = max(1, math.ceil(rows / chunk_size))
    expected = _expected_manifest(input_path, teacher, rows, chunk_size, n_parts)
    _check_manifest(out, expected)
    i, n = workers.rank, workers.world_size
    mine = [c for c in range(n_parts) if c % n == i]
    todo = missing_parts(out, mine, chunk_size, rows)
    summary = {"parts_total": n_parts, "parts_in_shard": len(mine), "already_done": len(mine) - len(todo), "written": 0}
    # rank 0 of a torchrun job records the run for all ranks; a --shard process (which knows no others) its own share
    records = workers.is_main or not group.connected
    job_todo = len(missing_parts(out, range(n_parts), chunk_size, rows)) if group.connected else len(todo)
    run_id = _start_run(out, expected, teacher, workers, job_todo) if records and job_todo else None
    group.barrier()  # the manifest exists before any rank writes a part
    rows_todo = sum(rows_of(c, chunk_size, rows) for c in todo)
    summary["written"] = _score_parts(
        table, (q_col, d_col), teacher, out, todo, chunk_size, rows_todo,
        show_progress=show_progress and workers.is_main, desc=f"scoring shard {i}/{n}",
    )  # fmt: skip
    summary["rows_scored"] = rows_todo
    ranks = group.gather(summary)  # every rank is done once this returns
    if not records:
        return summary
    complete = not missing_parts(out, range(n_parts), chunk_size, rows)
    if run_id is not None:
        _finish_run(out, run_id, ranks, complete)
    if not group.connected:
        return {**summary, "workers": workers.describe(), "complete": complete}
    totals = {key: sum(r[key] for r in ranks) for key in ("parts_in_shard", "already_done", "written", "rows_scored")}
    return {"parts_total": n_parts, **totals, "workers": workers.describe(), "complete": complete, "ranks": ranks}


def _pairs_table(input_path: str | Path) -> tuple[pa.Table, str, str]:
    """The input table (without a ``score`` column it may already have) and the names of its query and document columns.

    Raises:
        TrainDataError: unreadable input, or no query or document column.
    """
    table = read_table(input_path)
    q_col = find_column(table, QUERY_COLUMNS, "query", str(input_path))
    d_col = find_column(table, DOCUMENT_COLUMNS, "document", str(input_path))
    if "score" in table.column_names:
        table = table.drop_columns(["score"])
    return table, q_col, d_col


def _expected_manifest(input_path: str | Path, teacher: Teacher, rows: int, chunk_size: int, n_parts: int) -> dict[str, Any]:
    """What the folder's manifest must record for its parts to belong to this run: input, chunking and teacher."""
    return {
        "input": str(input_path),
        "input_sha256": fingerprint(input_path),
        "rows": rows,
        "chunk_size": chunk_size,
        "parts": n_parts,
        "teacher_spec": getattr(teacher, "spec", repr(teacher)),
        "scale": getattr(teacher, "scale", None),
    }


def _score_parts(
    table: pa.Table,
    columns: tuple[str, str],
    teacher: Teacher,
    out: Path,
    todo: Sequence[int],
    chunk_size: int,
    total_rows: int,
    *,
    show_progress: bool,
    desc: str,
) -> int:
    """Score the chunks ``todo`` of ``table`` (its ``(query, document)`` ``columns``) and write each as a part, atomically;
    returns how many parts were written."""
    import pyarrow as pa

    from ettin.progress import progress_bar

    q_col, d_col = columns
    written = 0
    with progress_bar(show=show_progress, total=total_rows, desc=desc, unit="pair") as bar:
        for c in todo:
            part = table.slice(c * chunk_size, chunk_size)
            pairs = list(zip(part.column(q_col).to_pylist(), part.column(d_col).to_pylist()))
            scores = np.asarray(teacher.score(pairs), dtype=np.float32)
            if scores.shape != (len(pairs),):
                raise RuntimeError(f"teacher returned {scores.shape} scores for {len(pairs)} pairs")
            row_ids = pa.array(np.arange(c * chunk_size, c * chunk_size + len(pairs), dtype=np.int64))
            write_parquet_atomic(pa.table({"row": row_ids, "score": pa.array(scores, type=pa.float32())}), part_path(out, c))
            written += 1
            bar.update(len(pairs))
    return written


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
    p.add_argument("--shard", default=None,
                   help="i/n: score the parts with index %% n == i, for schedulers that start the n processes themselves "
                   "(default: all parts; under torchrun each rank takes its share and --shard is refused)")
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


@verb("score", help="score (query, document) rows with a teacher; resumable, shardable, runs under torchrun",
      arguments=_score_arguments)
def score_command(args: argparse.Namespace) -> int:
    """``python -m train score``: score the input's rows of this process's share, then print the summary (under torchrun:
    rank 0 prints the whole job's, once every rank is done)."""
    from ettin.distributed import cpu_threads_per_rank, device_for, rank_group, shard_of
    from train.beir import load_beir_spec

    workers = shard_of(args.shard)
    device = device_for(None, workers)
    if device is None or device == "cpu":
        cpu_threads_per_rank(workers)
    teacher = make_teacher(args.teacher, cosine_scale=args.cosine_scale, batch_size=args.batch_size, precision=args.precision,
                           allow_random=args.allow_random_teacher, device=device)
    show = not args.quiet and workers.is_main
    with rank_group(workers) as group:
        if args.reuse_corpus_embeddings:
            if not isinstance(teacher, CosineTeacher):
                raise TrainDataError("--reuse-corpus-embeddings applies to cosine teachers only")
            with group.main_first():  # the others read the embeddings rank 0 cached
                teacher.prime_documents(load_beir_spec(args.reuse_corpus_embeddings, "test").corpus, show_progress=show)
        summary = score_file(args.input, args.out, teacher, chunk_size=args.chunk_size, show_progress=show, group=group)
    if workers.is_main or not workers.torchrun:
        print_json(summary)
    return 0
