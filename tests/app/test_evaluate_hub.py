"""The Evaluate tab's Hub source: a BEIR dataset by id, resolved offline from a Hugging Face cache folder the test
fills (the layout huggingface_hub reads), in BEIR's own layout (gzipped corpus, judgements in the ``-qrels`` sibling)
and in one repository; bad ids, uncached ids and non-BEIR repositories refused with the fix."""

from __future__ import annotations

import gzip

import pytest

from demo.evaluate import intake
from demo.evaluate.limits import EvaluateInputError
from ettin.hub_cache import stand_in_commit, write_snapshot
from tests.app.test_evaluate_intake import beir_files


@pytest.fixture()
def hub(tmp_path, monkeypatch):
    """An offline Hub cache folder; ``put(repo_id, {path: bytes})`` adds a dataset to it."""
    from huggingface_hub import constants

    cache = tmp_path / "hub"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)

    def put(repo_id: str, files: dict[str, bytes]) -> None:
        folder = tmp_path / "src" / repo_id
        for name, data in files.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)
        write_snapshot(cache, repo_id, folder, stand_in_commit(repo_id), repo_type="dataset")

    return put


def test_beirs_own_layout_gzipped_corpus_and_a_qrels_sibling(hub):
    files = beir_files()
    hub("testorg/tiny", {"corpus.jsonl.gz": gzip.compress(files["corpus.jsonl"]), "queries.jsonl": files["queries.jsonl"],
                         "README.md": b"# tiny"})  # fmt: skip
    hub("testorg/tiny-qrels", {"test.tsv": files["qrels/test.tsv"]})
    got = intake.from_hub(intake.new_session(), "testorg/tiny")
    direct = intake.from_files(intake.new_session(), *_written(got.folder), split="test")
    assert got.name == "tiny" and got.split == "test" and got.folder.is_dir()
    assert (got.preview.documents, got.preview.judged_queries) == (direct.preview.documents, direct.preview.judged_queries)


def _written(folder):
    return folder / "corpus.jsonl", folder / "queries.jsonl", folder / "qrels" / "test.tsv"


def test_one_repository_with_qrels_inside(hub):
    hub("testorg/whole", beir_files())
    got = intake.from_hub(intake.new_session(), "testorg/whole", "test")
    assert got.preview.splits == ["test"] and got.preview.documents > 0


@pytest.mark.parametrize(("repo_id", "message"), [
    ("../../etc/passwd", "is not a Hub dataset id: write it as org/name"),
    ("https://huggingface.co/datasets/BeIR/scifact", "is not a Hub dataset id"),
    ("", "is not a Hub dataset id"),
    ("testorg/absent", "no such dataset in the local Hugging Face cache (offline)"),
    ("testorg/notbeir", "not a BEIR dataset (no corpus.jsonl and queries.jsonl at its top)"),
    ("testorg/noqrels", "no qrels/<split>.tsv, nor a testorg/noqrels-qrels dataset"),
])  # fmt: skip
def test_what_cannot_be_evaluated_is_refused_with_the_fix(hub, repo_id, message):
    hub("testorg/notbeir", {"data/train.parquet": b"PAR1"})
    files = beir_files()
    hub("testorg/noqrels", {"corpus.jsonl": files["corpus.jsonl"], "queries.jsonl": files["queries.jsonl"]})
    token = intake.new_session()
    with pytest.raises(EvaluateInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        intake.from_hub(token, repo_id)
    assert not list(intake.session_folder(token).iterdir())  # nothing left behind


def test_the_tabs_preview_takes_the_hub_source(hub):
    from demo.tabs.evaluate import SOURCES, _Handlers

    hub("testorg/whole", beir_files())
    token, got, markdown = _Handlers(None, None).preview(None, SOURCES[3], None, None, None, None, "test", "testorg/whole")
    assert token and got.name == "whole" and "**whole** / split **test**" in markdown
