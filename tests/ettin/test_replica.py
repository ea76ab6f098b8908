from __future__ import annotations

import json

import pytest

from ettin import registry
from ettin.replica import METADATA_FILE, count_replica_parameters, replica_config


@pytest.mark.parametrize("size", registry.SIZES)
def test_parameter_count_is_exact(size):
    counts = count_replica_parameters(size)
    meta = registry.reranker(size)
    h = meta.encoder.hidden_size
    assert counts["encoder"] == meta.encoder_parameters
    assert counts["head"] == h * h + 3 * h + 1
    assert counts["total"] == meta.encoder_parameters + h * h + 3 * h + 1


@pytest.mark.parametrize("size", registry.SIZES)
def test_config_is_ettin(size):
    cfg = replica_config(size)
    enc = registry.reranker(size).encoder
    assert cfg.model_type == "modernbert"
    assert (cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers, cfg.num_attention_heads) == (
        enc.hidden_size,
        enc.intermediate_size,
        enc.num_hidden_layers,
        enc.num_attention_heads,
    )
    assert cfg.vocab_size == 50368 and cfg.max_position_embeddings == 7999 and cfg.local_attention == 128
    assert [t == "full_attention" for t in cfg.layer_types] == [i % 3 == 0 for i in range(enc.num_hidden_layers)]
    assert {p["rope_theta"] for p in cfg.rope_parameters.values()} == {160000.0}
    assert (cfg.cls_token_id, cfg.sep_token_id, cfg.pad_token_id) == (50281, 50282, 50283)


def test_replica_folder_loads_as_crossencoder(replica_17m):
    from sentence_transformers import CrossEncoder

    from ettin.architecture import count_parameters

    meta = json.loads((replica_17m / METADATA_FILE).read_text())
    assert meta["random_init"] is True and meta["replica_of"] == "cross-encoder/ettin-reranker-17m-v1"
    assert "tokenizer" in meta
    model = CrossEncoder(str(replica_17m))
    assert count_parameters(model) == registry.reranker("17m").total_parameters
    assert model.num_labels == 1
    tok = model.tokenizer("a query", "a document")
    assert tok["input_ids"][0] == 50281 and tok["input_ids"][-1] == 50282
    assert max(tok["input_ids"]) < 50368
    scores = model.predict([("q", "d"), ("another query", "another document")])
    assert scores.shape == (2,)


def test_cli_dry_run_prints_equal_counts(capsys):
    from ettin.__main__ import main

    assert main(["replica", "--size", "all", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.count("yes") == 6 and "NO" not in out


def test_cli_rejects_unknown_size():
    from ettin.__main__ import main

    with pytest.raises(SystemExit):
        main(["replica", "--size", "3b", "--dry-run"])
