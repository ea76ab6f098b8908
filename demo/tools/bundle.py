"""``python -m demo bundle-embeddings``: ship the bundled corpora's MiniLM embeddings so no first search waits for them.

Writes ``data/embeddings/<key>.npy`` (float16: about 0.8 MB for the 1,007-document sample, 4 MB for the whole 5,183-abstract
SciFact corpus) under the key :class:`ettin.pipeline.EmbeddingStore` computes for (embedder, its weights, prompts, max
length, dtype, corpus), plus a ``<key>.json`` with provenance. The store reads a shipped file only when every part of that
key matches; anything else (another embedder, other weights, another corpus) is computed as before.
``tests/app/test_bundle.py`` checks the shipped rows against a fresh computation (cosine >= 0.9999 per document).
"""

from __future__ import annotations

import argparse
import time

from ettin.cli import verb

__all__ = ["BUNDLED_CORPORA", "MINILM", "bundle_embeddings_for"]

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
BUNDLED_CORPORA = ("sample", "scifact")
"""The app's bundled corpora: :func:`demo.sources.user_corpus.sample_corpus` and
:func:`demo.sources.user_corpus.scifact_corpus`."""


def _corpus(name: str):
    from demo.sources.user_corpus import sample_corpus, scifact_corpus

    return {"sample": sample_corpus, "scifact": scifact_corpus}[name]()


def bundle_embeddings_for(corpus_name: str, embedder_id: str = MINILM) -> dict:
    """Compute one bundled corpus's embeddings with the app's own embedder settings and write them, float16, atomically.

    Args:
        corpus_name: One of :data:`BUNDLED_CORPORA`.
        embedder_id: The embedder (default: the packaged MiniLM the app starts with).

    Returns:
        What was written: the path relative to the repository and the provenance stored beside it.
    """
    import numpy as np

    from ettin.io import atomic_open, write_json_atomic
    from ettin.pipeline import BUNDLED_EMBEDDINGS, EmbeddingStore, bundled_embeddings_path
    from ettin.progress import progress_bar
    from ettin.provenance import base_provenance
    from ettin.runtime import cached_embedder

    embedder = cached_embedder(embedder_id, allow_local=False)
    corpus = _corpus(corpus_name)
    key = EmbeddingStore.key(embedder, corpus)
    texts = list(corpus.document_texts)
    t0 = time.perf_counter()
    parts = []
    with progress_bar(total=len(texts), desc=f"embedding {corpus.name}", unit="doc") as bar:
        for start in range(0, len(texts), 256):
            parts.append(embedder.encode(texts[start : start + 256], "document", batch_size=64))
            bar.update(len(parts[-1]))
    emb = np.concatenate(parts)
    seconds = time.perf_counter() - t0
    BUNDLED_EMBEDDINGS.mkdir(parents=True, exist_ok=True)
    path = bundled_embeddings_path(key)
    with atomic_open(path, "wb") as f:
        np.save(f, emb.astype(np.float16))
    info = {"key": key, "embedder": embedder.provenance(), "corpus": corpus.name, "corpus_fingerprint": corpus.fingerprint,
            "documents": len(corpus), "dtype": "float16", "compute_seconds": round(seconds, 1),
            "command": f"python -m demo bundle-embeddings --corpus {corpus_name}", "provenance": base_provenance()}  # fmt: skip
    write_json_atomic(path.with_suffix(".json"), info)
    return {"path": path.relative_to(BUNDLED_EMBEDDINGS.parent.parent).as_posix(), **info}


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--embedder", default=MINILM, help=f"embedder id (default: {MINILM}, packaged offline)")
    p.add_argument("--corpus", choices=[*BUNDLED_CORPORA, "all"], default="all", help="which bundled corpus (default: all)")


@verb("bundle-embeddings", help=__doc__.split("\n\n")[0].split(": ", 1)[1], arguments=_arguments, description=__doc__)
def bundle_embeddings(args: argparse.Namespace) -> int:
    """Write the bundled embeddings and print where."""
    for name in BUNDLED_CORPORA if args.corpus == "all" else (args.corpus,):
        info = bundle_embeddings_for(name, args.embedder)
        print(f"wrote {info['path']}: {info['documents']:,} documents, {info['compute_seconds']} s")
    return 0
