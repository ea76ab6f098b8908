from __future__ import annotations

import hashlib

import pytest

from ettin import registry


def test_six_sizes_in_order():
    assert registry.SIZES == ("17m", "32m", "68m", "150m", "400m", "1b")
    for size, meta in registry.RERANKERS.items():
        assert meta.hub_id == f"cross-encoder/ettin-reranker-{size}-v1"
        assert meta.backbone_id == f"jhu-clsp/ettin-encoder-{size}"
        assert meta.encoder.hidden_size == 64 * meta.encoder.num_attention_heads  # head dim 64


def test_registry_agrees_with_published_file():
    published = {row.model_id: row for row in registry.published().ettin}
    assert set(published) == {m.hub_id for m in registry.RERANKERS.values()}
    for meta in registry.RERANKERS.values():
        row = published[meta.hub_id]
        assert row.hidden == meta.encoder.hidden_size
        assert row.layers == meta.encoder.num_hidden_layers
        assert row.learning_rate == pytest.approx(meta.learning_rate)
        assert row.global_batch_size == meta.global_batch_size
        assert row.backbone == meta.backbone_id
        # the blog's rounded "params (head incl.)" is within 4.5% of the exact count (worst: 17m, 17.6M vs 16,863,745)
        assert abs(row.params - meta.total_parameters) / meta.total_parameters < 0.045


# SHA-256 of the post's tables as data (shared/reference/ettin_blog_2026-05.json), which the project bundles verbatim
PUBLISHED_SHA256 = "b0209e7cd0276303d827726db28247ad6471002e092d48cdb6d4ca42f6bfa106"


def test_bundled_published_file_is_the_verbatim_copy_with_its_source():
    assert registry.published().source.url.startswith("https://huggingface.co/blog/")
    assert hashlib.sha256(registry.PUBLISHED_FILE.read_bytes()).hexdigest() == PUBLISHED_SHA256


def test_pinned_digest_is_the_shared_originals():
    from ettin.paths import PROJECT_ROOT

    shared = PROJECT_ROOT.parent / "shared" / "reference" / "ettin_blog_2026-05.json"
    if not shared.is_file():
        pytest.skip("the original (../shared) exists only on the project's machines; the bundled copy is checked above")
    assert hashlib.sha256(shared.read_bytes()).hexdigest() == PUBLISHED_SHA256


def test_embedders_and_bm25():
    assert len(registry.EMBEDDERS) == 6
    published = {e.model_id for e in registry.published().embedders}
    assert set(registry.EMBEDDERS) == published
    assert registry.FIRST_STAGE_IDS[-1] == "bm25"
    bge = registry.embedder("BAAI/bge-small-en-v1.5")
    assert bge.query_prompt.startswith("Represent this sentence")
    assert registry.embedder("unknown/model") is None


def test_peers_exclude_ettin_and_mark_teacher():
    peers = registry.peers()
    assert not any(p.startswith("cross-encoder/ettin") for p in peers)
    assert peers[registry.TEACHER_ID].family == "teacher"
    assert "BAAI/bge-reranker-v2-m3" in peers


def test_lookup_by_size_or_id():
    assert registry.reranker("17M").size == "17m"
    assert registry.reranker("cross-encoder/ettin-reranker-1b-v1").size == "1b"
    with pytest.raises(KeyError, match="known sizes"):
        registry.reranker("3b")


def test_registry_records_are_keyword_only():
    with pytest.raises(TypeError):
        registry.EncoderConfig(256, 384, 7, 4)  # positional numbers are refused: every field is named
    with pytest.raises(TypeError):
        registry.EmbedderMeta("org/model", "label")
