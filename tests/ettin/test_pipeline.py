from __future__ import annotations

import numpy as np
import pytest

from ettin.corpus import Corpus
from ettin.pipeline import BM25FirstStage, DenseFirstStage, EmbeddingStore, InputError, retrieve_and_rerank


@pytest.fixture(scope="module")
def small_scifact(scifact_test):
    """The first 400 SciFact documents plus every document judged relevant for the first 20 test queries."""
    ds = scifact_test.slice(20)
    relevant = {d for v in ds.qrels.values() for d in v}
    c = ds.corpus
    keep = [i for i in range(len(c)) if i < 400 or c.ids[i] in relevant]
    corpus = Corpus(tuple(c.ids[i] for i in keep), tuple(c.texts[i] for i in keep), tuple(c.titles[i] for i in keep), "scifact-small")
    return ds, corpus


@pytest.fixture(scope="module")
def dense(minilm, small_scifact, tmp_path_factory):
    return DenseFirstStage(minilm, small_scifact[1], store=EmbeddingStore(tmp_path_factory.mktemp("emb")))


def test_dense_top10_equals_direct_sentence_transformers(dense, minilm, small_scifact):
    ds, corpus = small_scifact
    st = minilm.model
    doc_emb = st.encode(corpus.document_texts, normalize_embeddings=True, convert_to_numpy=True)
    for qid in list(ds.queries)[:5]:
        query = ds.queries[qid]
        q = st.encode([query], normalize_embeddings=True, convert_to_numpy=True)[0]
        expected = [corpus.ids[i] for i in np.argsort(-(doc_emb @ q), kind="stable")[:10]]
        result = retrieve_and_rerank(query, dense, None, k=10, top_n=10)
        assert [h.doc_id for h in result.hits] == expected


def test_embeddings_are_cached_on_disk(minilm, small_scifact, tmp_path):
    store = EmbeddingStore(tmp_path)
    corpus = small_scifact[1].subset(50)
    calls = []
    store.get(minilm, corpus, progress=lambda done, total: calls.append((done, total)))
    assert calls and calls[-1] == (50, 50)
    assert len(list(tmp_path.glob("*.npy"))) == 1
    fresh = EmbeddingStore(tmp_path)
    assert fresh.has(minilm, corpus)
    calls.clear()
    fresh.get(minilm, corpus, progress=lambda d, t: calls.append(d))
    assert calls == []


def test_a_capped_store_deletes_the_least_recently_used_files(minilm, tmp_path):
    import os

    corpora = [Corpus.from_texts([f"corpus {n} document {i}" for i in range(3)]) for n in range(4)]
    one_file = 128 + 3 * 384 * 4  # .npy header + 3 float32 rows of 384
    store = EmbeddingStore(tmp_path, max_in_memory=1, max_disk_bytes=int(2.5 * one_file))
    paths = []
    for n, corpus in enumerate(corpora[:2]):
        store.get(minilm, corpus)
        paths.append(store._path(store.key(minilm, corpus)))
        os.utime(paths[-1], (1000 + n, 1000 + n))  # distinct, old access times
    store.get(minilm, corpora[2])  # a third file: over the cap, the oldest (corpus 0) goes
    assert not paths[0].exists() and paths[1].exists()
    fresh = EmbeddingStore(tmp_path, max_in_memory=1, max_disk_bytes=int(2.5 * one_file))
    fresh.get(minilm, corpora[1])  # read from disk: now the most recently used
    fresh.get(minilm, corpora[3])
    assert paths[1].exists() and not fresh._path(fresh.key(minilm, corpora[2])).exists()
    assert len(list(tmp_path.glob("*.npy"))) == 2


def test_an_uncapped_store_keeps_everything(minilm, tmp_path):
    store = EmbeddingStore(tmp_path, max_in_memory=1)
    for n in range(3):
        store.get(minilm, Corpus.from_texts([f"corpus {n}"]))
    assert len(list(tmp_path.glob("*.npy"))) == 3 and store.prune() == []


@pytest.mark.parametrize("first", ["dense", "bm25"])
def test_end_to_end_rerank_with_replica(first, dense, small_scifact, reranker_17m):
    ds, corpus = small_scifact
    stage = dense if first == "dense" else BM25FirstStage(corpus)
    query = next(iter(ds.queries.values()))
    result = retrieve_and_rerank(query, stage, reranker_17m, k=30, top_n=5)
    assert len(result.hits) == 5 and len(result.candidates) == 30
    assert result.random_init and result.reranker == "17m"
    assert [h.rerank_rank for h in result.hits] == [1, 2, 3, 4, 5]
    scores = [h.rerank_score for h in result.hits]
    assert scores == sorted(scores, reverse=True)
    for h in result.hits:
        assert h.movement == h.first_stage_rank - h.rerank_rank
    assert sorted(h.first_stage_rank for h in result.candidates) == list(range(1, 31))
    assert set(result.timings) == {"embed_query_s", "search_s", "rerank_s", "total_s"}
    assert result.timings["rerank_s"] > 0


def test_k_larger_than_corpus(reranker_17m):
    corpus = Corpus.from_texts(["vitamin d bone", "bone fracture risk", "unrelated cooking recipe"])
    result = retrieve_and_rerank("bone", BM25FirstStage(corpus), reranker_17m, k=100, top_n=10)
    assert {h.doc_id for h in result.hits} == {"d0", "d1"}  # BM25 retrieves only documents sharing a term


@pytest.mark.parametrize("query", ["", "   ", None, 42, "x" * 5000])
def test_bad_queries(query):
    stage = BM25FirstStage(Corpus.from_texts(["a document"]))
    with pytest.raises(InputError):
        retrieve_and_rerank(query, stage, None)


def test_bad_k():
    stage = BM25FirstStage(Corpus.from_texts(["a document"]))
    with pytest.raises(InputError):
        retrieve_and_rerank("document", stage, None, k=0)


def _words_corpus(n: int) -> Corpus:
    return Corpus.from_texts([f"shared word {'more text ' * i}" for i in range(n)])


def test_rerank_progress_reports_each_forward_pass_with_the_same_ranking(reranker_17m):
    stage = BM25FirstStage(_words_corpus(70))
    whole = retrieve_and_rerank("shared word", stage, reranker_17m, k=70, top_n=70)
    seen = []
    reported = retrieve_and_rerank("shared word", stage, reranker_17m, k=70, top_n=70, batch_size=16,
                                   progress=lambda done, total: seen.append((done, total)))  # fmt: skip
    assert [t for _, t in seen] == [70] * 5 and [d for d, _ in seen] == [16, 32, 48, 64, 70]
    assert [h.doc_id for h in reported.hits] == [h.doc_id for h in whole.hits]
    np.testing.assert_allclose([h.rerank_score for h in reported.hits], [h.rerank_score for h in whole.hits], atol=1e-5)


def test_an_exception_from_progress_ends_the_rerank_after_that_forward_pass(reranker_17m, monkeypatch):
    class Stop(Exception):
        pass

    passes = []
    model = reranker_17m.model
    original = type(model).forward
    monkeypatch.setattr(type(model), "forward", lambda self, *a, **k: passes.append(1) or original(self, *a, **k))

    def stop(done, total):
        raise Stop

    with pytest.raises(Stop):
        retrieve_and_rerank("shared word", BM25FirstStage(_words_corpus(70)), reranker_17m, k=70, batch_size=16, progress=stop)
    assert len(passes) == 1, "no batch after the Stop was scored"


class _LengthReranker:
    """A stand-in reranker whose score is the document's length: an order unlike BM25's, known in advance."""

    name = "length"
    random_init = False

    def score_pairs(self, pairs, batch_size=32, on_batch=None):
        return np.array([float(len(doc)) for _, doc in pairs])


def _fusion_corpus() -> Corpus:
    texts = ["apple", "apple apple banana cherry date", "apple banana", "apple apple apple", "apple " + "x " * 40]
    return Corpus([f"d{i}" for i in range(len(texts))], texts)


@pytest.mark.parametrize("weight", [0.0, 0.3, 1.0])
def test_a_fused_system_orders_by_the_z_scored_mix_of_both_stages_under_its_own_name(weight):
    from ettin.fusion import fused_name, zscore

    stage = BM25FirstStage(_fusion_corpus())
    plain = retrieve_and_rerank("apple banana", stage, None, k=5, top_n=5)
    fused = retrieve_and_rerank("apple banana", stage, _LengthReranker(), k=5, top_n=5, fuse_weight=weight)
    first = np.array([h.first_stage_score for h in plain.candidates])
    texts = dict(zip(stage.corpus.ids, stage.corpus.document_texts))  # what a reranker is given
    length = np.array([float(len(texts[h.doc_id])) for h in plain.candidates])
    expected = weight * zscore(length) + (1 - weight) * zscore(first)  # by hand, in the first stage's order
    by_doc = {h.doc_id: s for h, s in zip(plain.candidates, expected)}
    assert [h.doc_id for h in fused.hits] == sorted(by_doc, key=lambda d: -by_doc[d])
    assert [h.rerank_score for h in fused.hits] == pytest.approx(sorted(expected, reverse=True))
    assert fused.reranker == fused_name("length", weight)
    if weight == 0.0:  # all first stage: its order, unchanged
        assert [h.doc_id for h in fused.hits] == [h.doc_id for h in plain.hits]
    if weight == 1.0:  # all reranker: by length
        assert [h.doc_id for h in fused.hits] == sorted(by_doc, key=lambda d: -len(texts[d]))
