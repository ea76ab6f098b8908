"""``python -m demo bundle-embeddings``: ship the bundled sample's MiniLM embeddings so the first search is instant.

Writes ``data/embeddings/<key>.npy`` (float16, about 0.8 MB for the 1,007-document sample) under the key
:class:`ettin.pipeline.EmbeddingStore` computes for (embedder, its weights, prompts, max length, dtype, corpus), plus a
``<key>.json`` with provenance. The store reads a shipped file only when every part of that key matches; anything else
(another embedder, other weights, another corpus) is computed as before. ``tests/app/test_bundle.py`` checks the shipped
rows against a fresh computation (cosine >= 0.9999 per document).
"""

from __future__ import annotations

import argparse
import time

from ettin.cli import verb

__all__ = ["bundle_sample_embeddings"]

MINILM = "sentence-transformers/all-MiniLM-L6-v2"


def bundle_sample_embeddings(embedder_id: str = MINILM) -> dict:
    """Compute the sample corpus's embeddings with the app's own embedder settings and write them, float16, atomically."""
    import numpy as np

    from demo.user_corpus import sample_corpus
    from ettin.io import atomic_open, write_json_atomic
    from ettin.pipeline import BUNDLED_EMBEDDINGS, EmbeddingStore, bundled_embeddings_path
    from ettin.provenance import base_provenance
    from ettin.runtime import cached_embedder

    embedder = cached_embedder(embedder_id, allow_local=False)
    corpus = sample_corpus()
    key = EmbeddingStore.key(embedder, corpus)
    t0 = time.perf_counter()
    emb = embedder.encode(list(corpus.document_texts), "document", batch_size=64)
    seconds = time.perf_counter() - t0
    BUNDLED_EMBEDDINGS.mkdir(parents=True, exist_ok=True)
    path = bundled_embeddings_path(key)
    with atomic_open(path, "wb") as f:
        np.save(f, emb.astype(np.float16))
    info = {"key": key, "embedder": embedder.provenance(), "corpus": corpus.name, "corpus_fingerprint": corpus.fingerprint,
            "documents": len(corpus), "dtype": "float16", "compute_seconds": round(seconds, 1),
            "command": "python -m demo bundle-embeddings", "provenance": base_provenance()}  # fmt: skip
    write_json_atomic(path.with_suffix(".json"), info)
    return {"path": path.relative_to(BUNDLED_EMBEDDINGS.parent.parent).as_posix(), **info}


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--embedder", default=MINILM, help=f"embedder id (default: {MINILM}, packaged offline)")


@verb("bundle-embeddings", help=__doc__.split("\n\n")[0].split(": ", 1)[1], arguments=_arguments, description=__doc__)
def bundle_embeddings(args: argparse.Namespace) -> int:
    """Write the bundled embeddings and print where."""
    info = bundle_sample_embeddings(args.embedder)
    print(f"wrote {info['path']}: {info['documents']:,} documents, {info['compute_seconds']} s")
    return 0
