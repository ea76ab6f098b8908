"""The typed published figures agree with the raw file they are read from (every section, every number)."""

from __future__ import annotations

import json

import pytest

from ettin.published import PUBLISHED_FILE, parse, published


@pytest.fixture(scope="module")
def raw():
    return json.loads(PUBLISHED_FILE.read_text(encoding="utf-8"))


def test_quality_tables_keep_every_row_in_order(raw):
    figures = published()
    for key in ("mteb_eng_v2_retrieval", "nanobeir"):
        rows = figures.quality[key].rows
        assert [(r.model_id, r.ndcg10, r.params) for r in rows] == [(r["id"], r["ndcg10"], r["params"]) for r in raw[key]["rows"]]
        assert figures.quality[key].protocol == raw[key]["protocol"]
    assert figures.mteb is figures.quality["mteb_eng_v2_retrieval"]


def test_speed_tables_and_ablation(raw):
    figures = published()
    assert set(figures.speed) == {"h100_bf16", "rtx3090_bf16", "cpu_i7_13700k"}
    assert figures.cpu_speed.rate("cross-encoder/ettin-reranker-17m-v1") == 267.4
    assert figures.cpu_speed.rate("not/there") is None
    ablation = raw["speed"]["ablation_h100"]
    assert len(figures.ablation) == len(ablation["rows"]) * len(ablation["columns"])
    first = figures.ablation[0]
    assert (first.size, first.config, first.pairs_per_s, first.peak_gb) == ("17m", ablation["columns"][0], 4402.0, 0.8)


def test_params_prefer_the_ettin_table_then_quality_rows():
    figures = published()
    assert figures.params("cross-encoder/ettin-reranker-17m-v1") == 17_600_000
    assert figures.params("mixedbread-ai/mxbai-rerank-large-v2") == 1_540_000_000
    assert figures.params("unknown/model") is None


def test_cite_names_post_table_and_protocol():
    line = published().source.cite("speed, H100", "pairs/s")
    assert line.startswith("published: Introducing the Ettin Reranker Family (https://huggingface.co/blog/ettin-reranker)")
    assert line.endswith("; table speed, H100; protocol: pairs/s")


def test_missing_section_is_named(raw):
    broken = {k: v for k, v in raw.items() if k != "nanobeir"}
    with pytest.raises(KeyError, match="nanobeir"):
        parse(broken)
