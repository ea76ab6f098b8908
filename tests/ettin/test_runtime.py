from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from ettin import runtime
from ettin.runtime import device
from ettin.runtime import ModelCache, ModelLoadError, best_settings, resolve_model


def test_cpu_fp32_is_lossless_at_the_models_own_length():
    s = best_settings("cpu", "fp32")
    assert (s.dtype, s.attn_implementation, s.max_length) == ("float32", "sdpa", None)


@pytest.mark.parametrize("precision", ["auto", "bf16"])
def test_bf16_only_with_native_support(monkeypatch, precision):
    monkeypatch.setattr(device, "cpu_flags", lambda: frozenset({"avx2", "avx512f"}))
    s = best_settings("cpu", precision)
    assert s.dtype == "float32" and "lacks native bf16" in s.reason if precision == "bf16" else s.dtype == "float32"
    for flag in ("avx512_bf16", "amx_bf16"):
        monkeypatch.setattr(device, "cpu_flags", lambda flag=flag: frozenset({"avx2", flag}))
        assert best_settings("cpu", precision).dtype == "bfloat16"


def test_auto_is_the_default_and_fp32_wins_everywhere(monkeypatch):
    monkeypatch.setattr(device, "cpu_flags", lambda: frozenset({"amx_bf16"}))
    monkeypatch.setattr(device, "flash_attention_available", lambda: False)
    assert best_settings("cpu").dtype == "bfloat16"
    assert best_settings("cuda").dtype == "bfloat16"
    assert best_settings("cuda", "fp32").dtype == best_settings("cpu", "fp32").dtype == "float32"
    with pytest.raises(ValueError, match="auto, fp32, bf16, int8"):
        best_settings("cpu", "fp16")


def test_embedders_stay_fp32_under_auto(monkeypatch, tmp_path):
    """Stored corpus embeddings are reused: a query must be embedded as they were, so bf16 never reaches an embedder."""
    monkeypatch.setattr(device, "cpu_flags", lambda: frozenset({"amx_bf16"}))
    import types

    model_cache = importlib.import_module("ettin.runtime.cache")
    monkeypatch.setattr(model_cache, "load_embedder", lambda source, settings: types.SimpleNamespace(parameters=1, settings=settings))
    monkeypatch.setattr(model_cache, "load_reranker", lambda source, settings: types.SimpleNamespace(parameters=1, settings=settings))
    monkeypatch.setattr(model_cache, "resolve_model", lambda spec, **kw: types.SimpleNamespace(name_or_path=spec))
    assert model_cache.cached_embedder("some/embedder", cache=ModelCache(2)).settings.dtype == "float32"
    assert model_cache.cached_reranker("some/reranker", cache=ModelCache(2)).settings.dtype == "bfloat16"


@pytest.mark.parametrize(
    "value, offline", [("1", True), ("TRUE", True), ("on", True), ("yes", True), ("0", False), ("", False), ("off", False), ("2", False)]
)
def test_hub_offline_reads_the_variable_as_huggingface_hub_does(monkeypatch, value, offline):
    monkeypatch.setenv("HF_HUB_OFFLINE", value)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    assert runtime.hub_offline() is offline
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", value)
    assert runtime.hub_offline() is offline, "TRANSFORMERS_OFFLINE is the fallback"


def test_cuda_prefers_flash_attention(monkeypatch):
    monkeypatch.setattr(device, "flash_attention_available", lambda: True)
    assert best_settings("cuda").attn_implementation == "flash_attention_2"
    monkeypatch.setattr(device, "flash_attention_available", lambda: False)
    s = best_settings("cuda")
    assert (s.dtype, s.attn_implementation) == ("bfloat16", "sdpa")


@pytest.mark.parametrize("bad", ["", "   ", "../../etc/passwd", "a/b/c/d", "x" * 400, "org/na\x00me", "no spaces/allowed here"])
def test_invalid_ids_are_refused(bad):
    with pytest.raises(ModelLoadError):
        resolve_model(bad, kind="reranker")


def test_registry_ids_and_remote_code():
    src = resolve_model("17m", kind="reranker")
    assert src.name_or_path == "cross-encoder/ettin-reranker-17m-v1" and not src.trust_remote_code
    assert not resolve_model("someone/model", kind="reranker").trust_remote_code
    assert not resolve_model("someone/model", kind="embedder").trust_remote_code


def test_local_folder_restricted_to_roots(replica_17m, tmp_path):
    src = resolve_model(str(replica_17m), kind="reranker")
    assert src.is_local and src.random_init
    with pytest.raises(ModelLoadError, match="outside"):
        resolve_model(str(replica_17m), kind="reranker", local_roots=[tmp_path])
    with pytest.raises(ModelLoadError, match="not accepted"):
        resolve_model(str(replica_17m), kind="reranker", allow_local=False)


def test_offline_hub_id_gives_clear_error(monkeypatch, tmp_path):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))  # an empty cache, whatever the machine holds
    with pytest.raises(ModelLoadError, match="(?s)cannot load.*switched off.*hub-cache"):
        runtime.load_reranker("cross-encoder/ettin-reranker-17m-v1")


@pytest.mark.parametrize("offline", [True, False])
def test_loading_error_hint_matches_the_hub_switch(monkeypatch, offline):
    from ettin.runtime.sources import ModelSource, loading_error

    monkeypatch.setenv("HF_HUB_OFFLINE", "1" if offline else "0")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    hub = ModelSource("org/model", "org/model", False, "org/model")
    message = str(loading_error(hub, OSError("404 Client Error")))
    assert ("switched off" in message) is offline
    assert ("exists on the Hugging Face Hub" in message) is not offline
    local = ModelSource("/m", "/m", True)
    assert "complete model" in str(loading_error(local, OSError("x"))) and "switched off" not in str(
        loading_error(local, OSError("x"))
    )


def test_flash_attention_is_transformers_own_check_including_kernels(monkeypatch):
    """With ``kernels`` but no ``flash_attn``, transformers runs flash_attention_2 from the Hub kernel: so do we."""
    import sys
    import types

    from transformers.utils import import_utils

    fetched = []
    fake_kernels = types.ModuleType("kernels")
    fake_kernels.get_kernel = lambda repo_id, version=None, **kw: fetched.append(repo_id) or object()
    monkeypatch.setitem(sys.modules, "kernels", fake_kernels)
    monkeypatch.setattr(import_utils, "is_kernels_available", lambda *a, **k: True)
    import_utils.is_flash_attn_2_available.cache_clear()
    try:
        assert importlib.util.find_spec("flash_attn") is None, "this test simulates an install without flash_attn"
        assert device.flash_attention_available()
        assert fetched and "flash-attn" in fetched[0]
        assert best_settings("cuda").attn_implementation == "flash_attention_2"
        monkeypatch.setattr(import_utils, "is_kernels_available", lambda *a, **k: False)
        import_utils.is_flash_attn_2_available.cache_clear()
        assert not device.flash_attention_available()
    finally:
        import_utils.is_flash_attn_2_available.cache_clear()


def test_max_length_defaults_to_the_models_own_limit(replica_17m):
    r = runtime.load_reranker(str(replica_17m), best_settings("cpu"))
    assert r.settings.max_length == r.model.max_seq_length == 7999
    assert r.provenance()["max_length"] == 7999


def test_max_length_limit(replica_17m):
    with pytest.raises(ModelLoadError, match="exceeds"):
        runtime.load_reranker(str(replica_17m), best_settings("cpu", max_length=9000))
    r = runtime.load_reranker(str(replica_17m), best_settings("cpu", max_length=1024))
    assert r.model.max_length == 1024


def test_reranker_provenance_flags_replica(reranker_17m):
    prov = reranker_17m.provenance()
    assert prov["random_init"] is True and prov["replica_of"].endswith("17m-v1")
    assert len(prov["weights_sha256"]) == 64 and "/" not in prov["id"]
    assert reranker_17m.score("q", []).shape == (0,)


def test_packaged_minilm_resolves_offline(minilm):
    assert minilm.source.is_local and minilm.name == "sentence-transformers/all-MiniLM-L6-v2"
    emb = minilm.encode(["hello world", "another"], "document")
    assert emb.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)


def test_model_cache_is_the_shared_bounded_cache_sized_by_parameters():
    from ettin.cache import BoundedCache
    from ettin.runtime import estimate_bytes

    cache = ModelCache(max_models=2, max_bytes=10**12)
    assert isinstance(cache, BoundedCache) and cache.max_items == 2
    assert estimate_bytes(1000, "bfloat16") * 2 == estimate_bytes(1000, "float32")



def test_an_embedder_missing_a_registry_prompt_is_refused_not_silently_unprompted(minilm):
    from dataclasses import replace

    from ettin import registry
    from ettin.runtime.models import check_prompts

    meta = replace(registry.embedder(registry.MINILM_ID), query_prompt_name="query", document_prompt_name="document")
    with pytest.raises(ModelLoadError, match="no prompt named 'query', 'document'"):
        check_prompts(minilm.model, meta, registry.MINILM_ID)
    check_prompts(minilm.model, registry.embedder(registry.MINILM_ID), registry.MINILM_ID)  # no named prompts: fine


def test_bf16_loads_keep_the_default_dtype_and_an_exact_fp32_head(replica_17m):
    """A bf16 reranker is built in fp32 and cast, so torch's process-wide default dtype never changes (concurrent loads
    once left it at bf16 for good), and its scoring head keeps the exact fp32 weights instead of bf16-rounded ones."""
    import threading

    import torch

    loaded = {}

    def load(precision):  # explicit dtypes: loading casts to bf16 whether or not this CPU computes bf16 natively
        dtype = "bfloat16" if precision == "bf16" else "float32"
        loaded[precision] = runtime.load_reranker(str(replica_17m), runtime.RuntimeSettings("cpu", dtype, "sdpa", 128))

    threads = [threading.Thread(target=load, args=(p,)) for p in ("bf16", "fp32", "bf16")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert torch.get_default_dtype() == torch.float32
    bf16, fp32 = loaded["bf16"].model, loaded["fp32"].model
    encoder = next(iter(bf16.children()))
    assert {p.dtype for p in encoder.parameters()} == {torch.bfloat16}
    head_bf16 = dict(bf16.named_parameters())
    for name, param in fp32.named_parameters():
        if not name.startswith("0."):
            assert head_bf16[name].dtype == torch.float32 and torch.equal(head_bf16[name], param), name
