from __future__ import annotations

import json

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
        # the blog's rounded "params (head incl.)" is within 5% of the exact count
        assert abs(row.params - meta.total_parameters) / meta.total_parameters < 0.05


def test_published_file_has_source_and_matches_shared_copy():
    assert registry.published().source.url.startswith("https://huggingface.co/blog/")
    from ettin.paths import PROJECT_ROOT

    shared = PROJECT_ROOT.parent / "shared" / "reference" / "ettin_blog_2026-05.json"
    if shared.is_file():
        assert json.loads(shared.read_text()) == json.loads(registry.PUBLISHED_FILE.read_text())


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
