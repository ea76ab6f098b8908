"""The shipped embeddings of both bundled corpora: the store uses them instead of computing, and they equal a fresh
computation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from demo.sources.user_corpus import sample_corpus, scifact_corpus
from demo.tools.bundle import MINILM
from ettin.pipeline import EmbeddingStore, bundled_embeddings_path


@pytest.fixture(scope="module")
def embedder(minilm_package):
    from ettin.runtime import cached_embedder

    return cached_embedder(MINILM, allow_local=False)


@pytest.mark.parametrize("make_corpus, n_documents", [(sample_corpus, 1007), (scifact_corpus, 5183)])
def test_the_bundled_embeddings_are_shipped_for_the_apps_embedder_and_used_without_computing(
    embedder, tmp_path, monkeypatch, make_corpus, n_documents
):
    corpus = make_corpus()
    key = EmbeddingStore.key(embedder, corpus)
    path = bundled_embeddings_path(key)
    assert path.is_file(), "regenerate with `python -m demo bundle-embeddings` (the app's embedder or corpus changed)"
    info = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    assert info["corpus_fingerprint"] == corpus.fingerprint and info["documents"] == len(corpus) == n_documents
    monkeypatch.setattr(type(embedder), "encode", lambda *a, **k: pytest.fail("the shipped embeddings were not used"))
    store = EmbeddingStore(root=tmp_path)
    assert store.has(embedder, corpus)
    emb = store.get(embedder, corpus)
    assert emb.shape == (n_documents, 384) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)


def test_a_corpus_without_shipped_embeddings_is_computed(embedder, tmp_path):
    from ettin.corpus import Corpus

    corpus = Corpus.from_texts(["a tiny corpus", "of two documents"])
    assert not bundled_embeddings_path(EmbeddingStore.key(embedder, corpus)).is_file()
    assert EmbeddingStore(root=tmp_path).get(embedder, corpus).shape == (2, 384)


@pytest.mark.slow
@pytest.mark.parametrize("make_corpus", [sample_corpus, scifact_corpus])
def test_shipped_embeddings_equal_a_fresh_computation(embedder, tmp_path, make_corpus, n_checked=256):
    """A seeded random 256 documents of each corpus (all 5,183 SciFact abstracts take minutes here)."""
    corpus = make_corpus()
    shipped = EmbeddingStore(root=tmp_path / "a").get(embedder, corpus)
    rows = np.random.default_rng(0).choice(len(corpus), n_checked, replace=False)
    fresh = embedder.encode([corpus.document_texts[i] for i in rows], "document", batch_size=64).astype(np.float32)
    fresh /= np.linalg.norm(fresh, axis=1, keepdims=True)
    cosine = np.sum(shipped[rows] * fresh, axis=1)
    assert cosine.min() >= 0.9999, f"lowest cosine {cosine.min():.6f}"
