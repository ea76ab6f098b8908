"""A reranker's identity: one provenance for every loaded model, and score-cache keys that change with anything that
changes a score (a replica at a real model's pinned revision included)."""

from __future__ import annotations

import shutil
from dataclasses import replace

import pytest

from ettin import registry
from ettin.replica import METADATA_FILE
from ettin.runtime import RuntimeSettings, load_reranker
from eval.retrieval.rerank import reranker_key

RERANKER_17M = registry.RERANKERS["17m"].hub_id


@pytest.fixture(scope="module")
def same_revision_caches(replica_17m, tmp_path_factory):
    """Two Hub caches holding ``cross-encoder/ettin-reranker-17m-v1`` at the commit mteb pins: a random replica (as
    ``python -m ettin hub-cache`` writes it) and a "real" model — the same weight files without the replica label."""
    from ettin.hub_cache import pinned_revision, write_snapshot

    revision = pinned_revision(RERANKER_17M)
    real = tmp_path_factory.mktemp("real-model") / "17m"
    shutil.copytree(replica_17m, real)
    (real / METADATA_FILE).unlink()
    caches = {}
    for name, folder in (("replica", replica_17m), ("real", real)):
        caches[name] = tmp_path_factory.mktemp(f"hub-{name}")
        write_snapshot(caches[name], RERANKER_17M, folder, revision)
    return caches, revision


def _load_from(monkeypatch, hub_cache, settings=None):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hub_cache))
    return load_reranker(RERANKER_17M, settings or RuntimeSettings("cpu", "float32", "sdpa", 64, "test"))


def test_a_replica_and_the_real_model_at_one_revision_never_share_a_key(same_revision_caches, monkeypatch):
    caches, revision = same_revision_caches
    replica = _load_from(monkeypatch, caches["replica"])
    real = _load_from(monkeypatch, caches["real"])
    assert replica.provenance()["revision"] == real.provenance()["revision"] == revision
    assert replica.random_init and not real.random_init
    assert replica.weights_hash() == real.weights_hash() is not None  # the same files: only the label tells them apart
    assert reranker_key(replica) != reranker_key(real)
    again = _load_from(monkeypatch, caches["real"])
    assert reranker_key(again) == reranker_key(real), "the same model loaded the same way keeps its key"


def test_the_key_changes_with_weights_backend_precision_attention_length_compile_and_scoring_version(
    replica_17m, tmp_path, monkeypatch
):
    import ettin.runtime.identity as identity
    from ettin.replica import build_replica
    from ettin.runtime import compiled

    base = RuntimeSettings("cpu", "float32", "sdpa", 64, "test")
    reference = load_reranker(str(replica_17m), base)
    key = reranker_key(reference)
    other_weights = load_reranker(str(build_replica("17m", tmp_path / "seed1", seed=1)), base)
    assert reranker_key(other_weights) != key
    for changed in (replace(base, dtype="bfloat16"), replace(base, attn_implementation="eager"), replace(base, max_length=32)):
        assert reranker_key(load_reranker(str(replica_17m), changed)) != key, changed
    assert reranker_key(replace(reference, settings=replace(base, reason="another reason"))) == key  # not a score input

    class _Backend:
        name, precision, export_id = "openvino", "int8", "weights-len64-v2/openvino-int8"

    reference.use_backend(_Backend(), "test")
    assert reranker_key(reference) != key
    with_other_export = reranker_key(reference)
    _Backend.export_id = "weights-len64-v3/openvino-int8"  # the same setting from another export recipe
    assert reranker_key(reference) not in (key, with_other_export)
    reference.use_backend(None)
    assert reranker_key(reference) == key
    monkeypatch.setattr(compiled, "compiled_forward", lambda model: type("F", (), {"state": "ready"})())
    assert reranker_key(reference) != key
    monkeypatch.undo()
    import ettin.runtime.models as models

    monkeypatch.setattr(models, "SCORING_VERSION", identity.SCORING_VERSION + 1)
    assert reranker_key(reference) != key, "scores cached before a scoring change are not served"


def test_rerankers_and_embedders_share_one_provenance(replica_17m, minilm, same_revision_caches, monkeypatch):
    from ettin.io import weights_hash
    from ettin.runtime.identity import loaded_provenance

    local = load_reranker(str(replica_17m), RuntimeSettings("cpu", "float32", "sdpa", 64, "test"))
    prov = local.provenance()
    assert prov["weights_sha256"] == weights_hash(replica_17m) and prov["revision"] is None
    assert {k: prov[k] for k in loaded_provenance(local.source, local.settings, local.parameters)} == loaded_provenance(
        local.source, local.settings, local.parameters
    )
    assert minilm.provenance() == loaded_provenance(minilm.source, minilm.settings, minilm.parameters, minilm.model)
    caches, revision = same_revision_caches
    hub = _load_from(monkeypatch, caches["replica"])
    assert hub.provenance()["weights_sha256"] == weights_hash(replica_17m), "a Hub snapshot is hashed by its blobs"
