"""Stage 1 of the two-stage evaluation: each first stage's top-k per query, cached on disk.

A first stage's ranking is computed once per (first stage, corpus, top-k) and kept in ``$ETTIN_CACHE/stage1`` (written
atomically after every chunk of queries; queries added later are computed and merged, a cut-short file is recomputed).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ettin import registry
from ettin.corpus import BeirDataset
from ettin.io import write_json_atomic
from ettin.paths import cache_dir
from ettin.progress import progress_bar, progress_callback
from ettin.runtime import Embedder, RuntimeSettings, best_settings
from eval.retrieval.store import slug

__all__ = ["STAGE1_FORMAT", "Hits", "Stage1Result", "bm25_provenance", "fuse_stage1", "run_first_stage"]

STAGE1_FORMAT = "ettin.stage1/1"
Hits = list[tuple[str, float]]


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass
class Stage1Result:
    """One first stage's ranking of every query of a dataset."""

    name: str
    provenance: dict[str, Any]
    hits: dict[str, Hits]
    top_k: int
    seconds: float = 0.0
    queries_computed: int = 0

    def as_run(self) -> dict[str, dict[str, float]]:
        return {qid: dict(hits) for qid, hits in self.hits.items()}


def bm25_provenance(meta: registry.BM25Meta = registry.BM25) -> dict[str, Any]:
    """Identity of the BM25 first stage: its settings and the bm25s version."""
    from ettin.provenance import package_versions

    return {
        "id": meta.id,
        "k1": meta.k1,
        "b": meta.b,
        "method": meta.method,
        "stopwords": meta.stopwords,
        "stemmer": meta.stemmer,
        "bm25s": package_versions(("bm25s",))["bm25s"],
        "random_init": False,
    }


def _embedder_identity(embedder: Embedder) -> dict[str, Any]:
    prov = embedder.provenance()
    return {
        "id": prov["id"],
        "revision": prov.get("revision"),
        "weights_sha256": prov.get("weights_sha256"),
        "dtype": prov.get("dtype"),
        "query_prompt": repr(embedder._prompt_kwargs("query")),
        "document_prompt": repr(embedder._prompt_kwargs("document")),
        "max_seq_length": getattr(embedder.model, "max_seq_length", None),
    }


def _stage1_path(identity: dict[str, Any], corpus_fingerprint: str, top_k: int, root: Path | None) -> Path:
    key = _sha(json.dumps([STAGE1_FORMAT, identity, corpus_fingerprint, top_k], sort_keys=True))[:24]
    return (root or cache_dir() / "stage1") / f"{slug(identity['id'])}-{key}.json"


def _read_stage1(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") == STAGE1_FORMAT and isinstance(data.get("queries"), dict):
            return data
    except (OSError, ValueError):
        pass  # missing or unreadable: recompute
    return {}


def _load_first_stage(
    first_stage: str, settings: RuntimeSettings, embedder_loader: Callable[[str, RuntimeSettings], Embedder] | None
) -> tuple[Embedder | None, dict[str, Any], dict[str, Any]]:
    """(embedder or None for BM25, identity that keys the cache, provenance) of a first stage."""
    if first_stage.strip().lower() == registry.BM25.id:
        provenance = bm25_provenance()
        return None, provenance, provenance
    from ettin.runtime import cached_embedder

    lossless = best_settings(settings.device, "fp32")  # dense first stages always run in fp32, whatever the reranker's
    embedder = (embedder_loader or cached_embedder)(first_stage, lossless)
    return embedder, _embedder_identity(embedder), embedder.provenance()


def fuse_stage1(components: list[Stage1Result], top_k: int, meta: registry.HybridMeta = registry.HYBRID) -> Stage1Result:
    """The hybrid of a BM25 and a dense stage-1 result: per query, their top-``top_k`` fused by RRF (no cache needed)."""
    from ettin.hybrid import hybrid_id, rrf_fuse

    lexical, dense = components
    hits = {
        qid: rrf_fuse([[d for d, _ in lexical.hits[qid]], [d for d, _ in dense.hits[qid]]], meta.rrf_k, depth=top_k)
        for qid in lexical.hits
    }
    provenance = {
        "id": hybrid_id(dense.name, meta),
        "fusion": "reciprocal rank",
        "rrf_k": meta.rrf_k,
        "depth_per_component": top_k,
        "components": [lexical.provenance, dense.provenance],
        "random_init": bool(dense.provenance.get("random_init")),
    }
    seconds = lexical.seconds + dense.seconds
    computed = max(lexical.queries_computed, dense.queries_computed)
    return Stage1Result(provenance["id"], provenance, hits, top_k, seconds, computed)


def _search(
    stage: Any,
    dataset: BeirDataset,
    todo: list[str],
    top_k: int,
    chunk: int,
    save: Callable[[dict[str, Any]], None],
    known: dict[str, Any],
    query_sha: dict[str, str],
    bar: Any,
) -> None:
    """Search ``todo`` queries ``chunk`` at a time, saving ``known`` after every chunk."""
    corpus = dataset.corpus
    for start in range(0, len(todo), chunk):
        part = todo[start : start + chunk]
        found = stage.search_many([dataset.queries[q] for q in part], top_k)
        for qid, (idx, scores) in zip(part, found):
            known[qid] = {
                "sha": query_sha[qid],
                "hits": [[corpus.ids[i], float(s)] for i, s in zip(idx.tolist(), scores.tolist())],
            }
        save(known)
        bar.update(len(part))


def run_first_stage(
    dataset: BeirDataset,
    first_stage: str,
    top_k: int = 100,
    *,
    settings: RuntimeSettings | None = None,
    embedder_loader: Callable[[str, RuntimeSettings], Embedder] | None = None,
    show_progress: bool = False,
    cache_root: str | Path | None = None,
    chunk: int = 512,
) -> Stage1Result:
    """Top-``top_k`` (document id, score) per query of ``dataset``, from the disk cache where possible.

    Args:
        dataset: Queries and corpus.
        first_stage: ``"bm25"``, a dense embedder (registry id, Hub id, local folder), or ``"hybrid[:<embedder>]"``
            (BM25 + that embedder fused by RRF, from the two components' cached rankings).
        top_k: Depth.
        settings: Runtime settings; a dense embedder takes only their device and always runs in fp32 (lossless).
        embedder_loader: Loads an embedder (default :func:`ettin.runtime.cached_embedder`).
        show_progress: tqdm bars for corpus encoding and query search.
        cache_root: Folder of stage-1 files (default ``$ETTIN_CACHE/stage1``).
        chunk: Queries searched (and saved) per step.

    Raises:
        ettin.runtime.ModelLoadError: the embedder cannot be loaded.
        ValueError: ``top_k`` below 1.
    """
    from ettin.hybrid import hybrid_embedder
    from ettin.pipeline import BM25FirstStage, DenseFirstStage

    if not isinstance(top_k, int) or top_k < 1:
        raise ValueError("top_k must be a positive whole number")
    if (fused_embedder := hybrid_embedder(first_stage)) is not None:
        components = [
            run_first_stage(dataset, spec, top_k, settings=settings, embedder_loader=embedder_loader,
                            show_progress=show_progress, cache_root=cache_root, chunk=chunk)
            for spec in (registry.BM25.id, fused_embedder)
        ]  # fmt: skip
        return fuse_stage1(components, top_k)
    embedder, identity, provenance = _load_first_stage(first_stage, settings or best_settings(), embedder_loader)
    name = identity["id"]
    corpus = dataset.corpus
    path = _stage1_path(identity, corpus.fingerprint, top_k, Path(cache_root) if cache_root else None)
    known: dict[str, Any] = _read_stage1(path).get("queries", {})
    query_sha = {qid: _sha(text)[:16] for qid, text in dataset.queries.items()}
    todo = [qid for qid in sorted(dataset.queries) if known.get(qid, {}).get("sha") != query_sha[qid]]

    def save(queries: dict[str, Any]) -> None:
        write_json_atomic(
            path,
            {"format": STAGE1_FORMAT, "first_stage": provenance, "corpus_fingerprint": corpus.fingerprint,
             "top_k": top_k, "queries": queries},
        )

    t0 = time.perf_counter()
    if todo:
        if embedder is None:
            stage = BM25FirstStage(corpus)
        else:
            with progress_callback(len(corpus), f"embed corpus ({name})", show=show_progress) as progress:
                stage = DenseFirstStage(embedder, corpus, progress=progress)
        with progress_bar(show=show_progress, total=len(todo), desc=f"search ({name})", unit="query") as bar:
            _search(stage, dataset, todo, top_k, chunk, save, known, query_sha, bar)
    hits = {qid: [(d, float(s)) for d, s in known[qid]["hits"]] for qid in sorted(dataset.queries)}
    return Stage1Result(name, provenance, hits, top_k, time.perf_counter() - t0, len(todo))
