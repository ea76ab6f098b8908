"""``python -m ettin hub-cache``: a real Hugging Face cache layout that ``huggingface_hub`` resolves offline."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from ettin import registry
from ettin.hub_cache import build_hub_cache, cache_root, pinned_revision, stand_in_commit

ROOT = Path(__file__).resolve().parents[2]

EXPECTED = {
    "cross-encoder/ettin-reranker-17m-v1": True,
    "jhu-clsp/ettin-encoder-17m": True,
    registry.TEACHER_ID: True,
    registry.MINILM_ID: False,
}


def test_revisions_are_the_pinned_ones_or_a_stable_stand_in():
    import mteb

    assert pinned_revision(registry.MINILM_ID) == registry.embedder(registry.MINILM_ID).revision
    assert pinned_revision("cross-encoder/ettin-reranker-17m-v1") == mteb.get_model_meta(
        "cross-encoder/ettin-reranker-17m-v1"
    ).revision
    assert pinned_revision(registry.TEACHER_ID) == mteb.get_model_meta(registry.TEACHER_ID).revision
    fake = stand_in_commit("org/unknown")
    assert len(fake) == 40 and fake == pinned_revision("org/unknown") != stand_in_commit("org/other")


def test_weights_are_never_written_inside_the_repository():
    with pytest.raises(ValueError, match="inside the repository"):
        build_hub_cache(ROOT / "models" / "hf-home", sizes=())


@pytest.mark.slow
def test_layout_is_the_one_huggingface_hub_reads(hub_home):
    from huggingface_hub import scan_cache_dir, try_to_load_from_cache

    hub = cache_root(hub_home)
    repos = {r.repo_id: r for r in scan_cache_dir(hub).repos}
    assert set(repos) == set(EXPECTED)
    for repo_id, random_init in EXPECTED.items():
        storage = hub / f"models--{repo_id.replace('/', '--')}"
        revision = (storage / "refs" / "main").read_text()
        assert revision == pinned_revision(repo_id)
        assert {rev.commit_hash for rev in repos[repo_id].revisions} == {revision}
        for pointer in (storage / "snapshots" / revision).rglob("*"):
            if pointer.is_file():
                assert pointer.is_symlink() and not os.path.isabs(os.readlink(pointer))
                blob = pointer.resolve()
                assert blob.parent == (storage / "blobs").resolve()
                assert blob.name == hashlib.sha256(blob.read_bytes()).hexdigest()
        found = try_to_load_from_cache(repo_id, "config.json", cache_dir=hub)
        assert isinstance(found, str) and f"/snapshots/{revision}/" in found
        label = try_to_load_from_cache(repo_id, "ettin_metadata.json", cache_dir=hub)
        if random_init:
            meta = json.loads(Path(label).read_text())
            assert meta["random_init"] is True and meta["replica_of"] == repo_id
        else:
            assert not isinstance(label, str), "the real MiniLM carries no replica label"


@pytest.mark.slow
def test_minilm_is_the_packaged_real_weights(hub_home):
    from huggingface_hub import try_to_load_from_cache

    from ettin.runtime import packaged_path

    cached = try_to_load_from_cache(
        registry.MINILM_ID, "model.safetensors", cache_dir=cache_root(hub_home), revision=pinned_revision(registry.MINILM_ID)
    )
    packaged = packaged_path(registry.MINILM_ID) / "model.safetensors"
    assert Path(cached).read_bytes() == packaged.read_bytes()


@pytest.mark.slow
def test_cli_writes_a_cache_and_reports_random_init(run_offline, tmp_path):
    done = run_offline(["-m", "ettin", "hub-cache", "--out", str(tmp_path / "home"), "--size", "17m", "--no-encoders",
                        "--no-teacher"])
    lines = [line for line in done.stdout.splitlines() if "/" in line and "files" in line]
    assert any("cross-encoder/ettin-reranker-17m-v1" in line and "RANDOM-INIT" in line for line in lines)
    assert any(registry.MINILM_ID in line and "real" in line for line in lines)
    assert (tmp_path / "home" / "hub" / "models--cross-encoder--ettin-reranker-17m-v1" / "refs" / "main").is_file()
