"""First run without models: the panel shows, the replica goes into the models folder (or the cache when there is
none), and a folder that cannot hold it is a clear error. The build itself runs in tests/app/test_browser_search.py."""

from __future__ import annotations

import pytest

from demo import texts
from demo.search.playground import Playground
from demo.sources import firstrun


def test_no_reranker_means_first_run_and_the_replica_goes_to_the_models_folder_or_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ETTIN_CACHE", str(tmp_path / "cache"))
    empty = Playground(tmp_path / "models", include_hub=False)
    assert firstrun.needs_first_run(empty) and firstrun.target_folder(empty) == tmp_path / "models"
    nowhere = Playground(None, include_hub=False)
    assert firstrun.needs_first_run(nowhere) and firstrun.target_folder(nowhere) == tmp_path / "cache" / "models"
    panel = texts.FIRST_RUN.format(folder="models")
    assert "python -m train scifact" in panel and "random weights" in panel and "`models`" in panel


def test_every_size_is_offered_with_its_disk_size_and_the_build_time_measured_here(replica_17m, tmp_path,
                                                                                   monkeypatch):
    from ettin import registry

    monkeypatch.setenv("ETTIN_CACHE", str(tmp_path / "cache"))
    labels = dict((size, label) for label, size in firstrun.size_choices())
    assert list(labels) == list(registry.RERANKERS)
    one_b = registry.RERANKERS["1b"].total_parameters
    assert f"{4 * one_b / 1e6:,.0f} MB on disk" in labels["1b"] and "not measured here yet" in labels["1b"]
    play = Playground(tmp_path / "models", include_hub=False)
    choice = firstrun.build_first_reranker(play, size="17m")
    assert choice.key == "17m" and (tmp_path / "models" / "17m" / "config.json").is_file()
    labels = dict((size, label) for label, size in firstrun.size_choices())
    assert "built here in" in labels["17m"] and "(scaled by parameters)" in labels["1b"]
    with pytest.raises(firstrun.FirstRunError, match="unknown size '2b': choose one of 17m"):
        firstrun.build_first_reranker(play, size="2b")


def test_a_models_folder_that_cannot_hold_the_replica_is_a_clear_error(tmp_path):
    blocked = tmp_path / "models"
    blocked.write_text("a file where the models folder should be")
    play = Playground(blocked, include_hub=False)
    with pytest.raises(firstrun.FirstRunError, match="cannot build the replica in .*models/17m.*--models-dir"):
        firstrun.build_first_reranker(play)
    assert play.rerankers == []


def test_an_existing_replica_is_reused_and_offered(replica_17m):
    play = Playground(replica_17m.parent, include_hub=False)
    play.rerankers = []  # as if the folder had been empty when the app started
    choice = firstrun.build_first_reranker(play)
    assert choice.key == "17m" and choice.random_init and [c.key for c in play.rerankers] == ["17m"]


def test_the_panel_quotes_the_committed_proof_runs_time(tmp_path):
    import json
    from pathlib import Path

    report = Path(__file__).resolve().parents[2] / "eval" / "results" / "train" / "scifact-proof-run.json"
    data = json.loads(report.read_text(encoding="utf-8"))
    total = sum(data["timings_s"].values())  # candidates, teacher scores, selection, training, evaluation
    cores = data["provenance"]["hardware"]["cpu_cores"]
    panel = " ".join(texts.FIRST_RUN.format(folder="models/17m").split())
    assert f"the committed run took {total / 60:.0f} min on {cores} cores, {total:,.0f} s" in panel
    assert firstrun.proof_run_time(tmp_path / "no-report.json") == "an unmeasured time"
