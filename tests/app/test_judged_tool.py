"""``python -m demo judged``: the Search tab's own code over judged SciFact queries gives the numbers ``python -m eval
retrieval`` committed for the same system, and a killed run resumes without redoing finished queries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from demo.tools import judged as judged_tool
from ettin.adapter import read_adapter_metadata
from ettin.fusion import fused_name
from ettin.paths import PROJECT_ROOT, RESOURCES
from ettin.registry import TRAINED_RERANKERS
from eval.retrieval.store import slug

COMMITTED = PROJECT_ROOT / "eval/results/retrieval/scifact/test/bm25"
SHIPPED = TRAINED_RERANKERS["minilm-scifact"]


@pytest.fixture()
def shipped_on(monkeypatch):
    monkeypatch.setenv("ETTIN_TRAINED_RERANKERS", "1")


@pytest.mark.slow
def test_the_apps_fused_system_scores_each_judged_query_as_the_committed_evaluation_does(shipped_on, tmp_path):
    out = tmp_path / "judged.json"
    card = read_adapter_metadata(RESOURCES / SHIPPED.folder)
    system = fused_name(SHIPPED.id, card["trained_here"]["fuse_weight"])
    summary = judged_tool.judged_gain(system, "bm25", 100, 3, out)
    assert summary["settings"]["reranker"] == system
    committed = json.loads((COMMITTED / f"{slug(system)}.json").read_text())
    assert summary["reranker"]["weights_sha256"] == committed["provenance"]["reranker"]["weights_sha256"]  # same weights
    assert summary["reranker"]["random_init"] is False
    assert summary["reranker"]["fuse_weight"] == card["trained_here"]["fuse_weight"]
    assert summary["reranker"]["max_length"] == card["max_length"]
    fused = committed["per_query"]
    alone = json.loads((COMMITTED / "retriever-only.json").read_text())["per_query"]
    for row in summary["per_query"]:
        assert row["reranked"] == pytest.approx(fused[row["query_id"]]["ndcg_at_10"], abs=1e-9)
        assert row["first_stage"] == pytest.approx(alone[row["query_id"]]["ndcg_at_10"], abs=1e-9)
    assert json.loads(out.read_text())["summary"]["queries"] == 3
    assert not out.with_name(out.name + ".partial.jsonl").exists()


def test_a_killed_run_resumes_where_it_stopped_and_other_settings_start_anew(monkeypatch, tmp_path):
    calls: list[str] = []
    kill_at = [3]

    class Killed(Exception):
        pass

    class FakePlayground:
        rerankers = [type("Choice", (), {"key": "fake", "label": "fake", "random_init": False})()]

        def __init__(self, **_):
            pass

        def reranker(self, choice):
            return type("Model", (), {"provenance": lambda self: {"id": "fake", "random_init": False}})()

        def reranker_choice(self, key):
            return self.rerankers[0]

        def first_stage_key(self, key):
            return key

        def search(self, text, corpus, first_stage, reranker, k, top_n):
            calls.append(text)
            if len(calls) == kill_at[0]:
                raise Killed  # killed during the third query
            return type("Outcome", (), {"result": text})()

    def fake_metrics(result, judged):
        return {"first stage": {"ndcg_at_10": 0.5}, "reranked": {"ndcg_at_10": 0.75}}

    import demo.search.judged
    import demo.search.playground
    import demo.sources.user_corpus

    monkeypatch.setattr(demo.search.playground, "Playground", FakePlayground)
    monkeypatch.setattr(demo.search.judged, "judged_metrics", fake_metrics)
    monkeypatch.setattr(demo.sources.user_corpus, "scifact_corpus", lambda: None)
    out = tmp_path / "judged.json"
    with pytest.raises(Killed):
        judged_tool.judged_gain(None, "bm25", 30, 4, out)
    assert len(calls) == 3 and not out.exists()
    calls.clear()
    kill_at[0] = 0
    summary = judged_tool.judged_gain(None, "bm25", 30, 4, out)
    assert len(calls) == 2  # the two finished before the kill are not redone
    assert summary["summary"]["queries"] == 4 and summary["summary"]["gain"]["mean"] == pytest.approx(0.25)
    calls.clear()
    partial = out.with_name(out.name + ".partial.jsonl")
    partial.write_text(json.dumps({"settings": {"other": True}}) + "\n" + json.dumps({"query_id": "1"}) + "\n")
    judged_tool.judged_gain(None, "bm25", 30, 4, out)
    assert len(calls) == 4  # another run's rows are never mixed in


def test_a_row_cut_by_a_kill_is_dropped_and_the_rows_before_it_kept(tmp_path):
    settings = judged_tool._settings("r", "bm25", 30, None)
    partial = tmp_path / "p.jsonl"
    rows = [{"query_id": "1", "first_stage": 0.1, "reranked": 0.2}]
    partial.write_text("\n".join([json.dumps({"settings": settings}), json.dumps(rows[0]), '{"query_id": "3", "fir']))
    assert judged_tool._read_partial(partial, settings) == {"1": rows[0]}
    assert judged_tool._read_partial(Path(tmp_path / "absent.jsonl"), settings) == {}
