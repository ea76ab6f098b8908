"""The committed results store: every file loads, validates, is not random-init; every file was written by a committed
command (its keys are exactly what that command's writer writes, run here on a tiny input); and bad files are refused."""

from __future__ import annotations

import argparse
import fnmatch
import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest

from eval.retrieval.store import DEFAULT_RESULTS_DIR, read_records
from eval.speed.report import read_results


def test_every_committed_retrieval_result_is_valid_and_from_real_weights():
    records, problems = read_records(DEFAULT_RESULTS_DIR)
    files = sorted((DEFAULT_RESULTS_DIR / "retrieval").rglob("*.json"))
    assert not problems and len(records) == len(files) >= 2
    for stored in records:
        assert stored.record["random_init"] is False, stored.file
        prov = stored.record["provenance"]
        assert {"packages", "hardware", "date", "dataset", "protocol"} <= set(prov), stored.file


def test_every_committed_speed_result_is_valid():
    found, problems = read_results(DEFAULT_RESULTS_DIR)
    assert not problems and len(found) == len(list((DEFAULT_RESULTS_DIR / "speed").glob("*.json")))
    for speed_file in found:
        for row in speed_file.data["rows"]:
            assert isinstance(row["random_init"], bool), speed_file.file


def _bm25_record() -> dict:
    path = DEFAULT_RESULTS_DIR / "retrieval" / "scifact" / "test" / "bm25" / "retriever-only.json"
    return json.loads(path.read_text(encoding="utf-8"))


def _write(root: Path, record: dict) -> None:
    path = root / "retrieval" / "scifact" / "test" / "bm25" / "retriever-only.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record), encoding="utf-8")


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda r: r.pop("random_init"), id="missing"),
        pytest.param(lambda r: r["provenance"].update(random_init=r.pop("random_init")), id="only-in-provenance"),
        pytest.param(lambda r: r.update(random_init=None), id="null"),
        pytest.param(lambda r: r.update(random_init="false"), id="a-string"),
    ],
)
def test_a_result_without_a_boolean_random_init_is_refused(tmp_path, mangle):
    record = _bm25_record()
    mangle(record)
    _write(tmp_path, record)
    records, problems = read_records(tmp_path)
    assert records == [] and len(problems) == 1 and "random_init" in problems[0]


def test_the_leaderboard_refuses_such_a_result_and_says_which_file(tmp_path):
    from eval.leaderboard import build_leaderboard

    record = _bm25_record()
    record["provenance"]["random_init"] = record.pop("random_init")
    _write(tmp_path, record)
    board = build_leaderboard(tmp_path)
    assert (board.embedders["source"] == "regenerated").sum() == 0
    assert any("retrieval/scifact/test/bm25/retriever-only.json" in n and "random_init" in n for n in board.notes)
    _write(tmp_path, _bm25_record())  # the same file, valid: shown
    assert (build_leaderboard(tmp_path).embedders["source"] == "regenerated").sum() == 1


# --------------------------------------------------------------------------------------------------------------------
# Every committed file has a committed writer, and exactly that writer's keys


def _retrieval_writer(monkeypatch, tmp_path) -> dict:
    """``python -m eval retrieval`` / ``mteb`` -> ``eval.retrieval.store.record_run``."""
    from ettin.provenance import base_provenance
    from ettin.runtime import RuntimeSettings
    from eval.retrieval.store import record_run

    dataset = {"name": "toy", "split": "test", "fingerprint": "0" * 64, "source": "test"}
    return record_run(None, {"q1": {"d1": 1}}, {"q1": {"d1": 1.0, "d2": 0.5}}, dataset=dataset, first_stage="bm25",
                      first_stage_provenance={"id": "bm25", "random_init": False}, reranker=None,
                      settings=RuntimeSettings(device="cpu", dtype="float32", attn_implementation="sdpa"), top_k=10, shared=base_provenance())


def _speed_writer(accuracy: bool) -> Callable:
    def write(monkeypatch, tmp_path) -> dict:
        """``python -m eval speed`` (``--models none --accuracy-model M`` for ``speed/accuracy/``) ->
        ``eval.speed.cli.run_benchmark``, with the measurements themselves stubbed."""
        import eval.speed.cli as speed_cli
        from eval.speed.benchmark import Ceilings, SpeedSettings

        monkeypatch.setattr(speed_cli, "resolve_models", lambda names, replica: [])
        monkeypatch.setattr(speed_cli, "_pairs", lambda settings: ([("query", "document")], "stub"))
        monkeypatch.setattr(speed_cli, "_benchmark_all", lambda *a: ([], [], Ceilings()))
        monkeypatch.setattr(speed_cli, "_accuracy", lambda settings, pairs: {"stub": True})
        settings = SpeedSettings(models="none" if accuracy else "17m", accuracy_model="stub" if accuracy else None,
                                 output=str(tmp_path / "speed.json"), device="cpu")
        return json.loads(speed_cli.run_benchmark(settings.resolved()).read_text(encoding="utf-8"))

    return write


def _app_load_writer(monkeypatch, tmp_path) -> dict:
    """``python -m demo load --out FILE`` -> ``demo.tools.load.measure``, with the app and its clients stubbed."""
    import contextlib

    import gradio_client

    import demo.tools.load as load

    app = SimpleNamespace(url="http://127.0.0.1:1", cold_start_s=1.0, process=SimpleNamespace(pid=1))

    class Sampler:
        peak = 1

        def __init__(self, pid):
            pass

        def rss(self):
            return 1

        def start(self):
            pass

        def stop(self):
            pass

    monkeypatch.setattr(load, "running_app", lambda *a, **k: contextlib.nullcontext(app))
    monkeypatch.setattr(load, "MemorySampler", Sampler)
    monkeypatch.setattr(gradio_client, "Client", lambda *a, **k: None)
    monkeypatch.setattr(load, "_search", lambda *a: 0.1)
    for name in ("_warm_full_scifact", "_fair_sharing", "_concurrent"):
        monkeypatch.setattr(load, name, lambda *a: {})
    parser = argparse.ArgumentParser()
    load._arguments(parser)
    return load.measure(parser.parse_args(["--queries", "1"]))


def _app_judged_writer(monkeypatch, tmp_path) -> dict:
    """``python -m demo judged --out FILE`` -> ``demo.tools.judged.judged_gain``, with the app's search stubbed."""
    import demo.search.judged
    import demo.search.playground
    import demo.sources.user_corpus
    from demo.tools import judged

    choice = SimpleNamespace(key="stub", label="stub", random_init=False)

    class Playground:
        rerankers = [choice]

        def __init__(self, **kwargs):
            pass

        def reranker(self, choice):
            return SimpleNamespace(provenance=lambda: {"id": "stub", "random_init": False})

        def reranker_choice(self, key):
            return choice

        def first_stage_key(self, key):
            return key

        def search(self, *args, **kwargs):
            return SimpleNamespace(result=None)

    monkeypatch.setattr(demo.search.playground, "Playground", Playground)
    monkeypatch.setattr(demo.search.judged, "judged_metrics",
                        lambda result, query: {"first stage": {"ndcg_at_10": 0.5}, "reranked": {"ndcg_at_10": 0.6}})
    monkeypatch.setattr(demo.search.judged, "judged_query", lambda text: None)
    monkeypatch.setattr(demo.sources.user_corpus, "scifact_corpus", lambda: None)
    return judged.judged_gain(None, "bm25", 30, 2, tmp_path / "judged.json")


def _rerank_api_load_writer(monkeypatch, tmp_path) -> dict:
    """``python -m demo load-api`` -> ``demo.tools.load.measure_rerank_api``, with the app and its clients stubbed."""
    from contextlib import contextmanager

    from demo.tools import load

    @contextmanager
    def running_app(*args, **kwargs):
        yield SimpleNamespace(url="http://stub", cold_start_s=1.0)

    answer = SimpleNamespace(status_code=200, json=lambda: {"model": "stub", "random_init": False, "dtype": "float32"})
    monkeypatch.setattr(load, "running_app", running_app)
    monkeypatch.setattr(load, "_api_clients", lambda url: (None, SimpleNamespace(post=lambda *a, **k: answer)))
    monkeypatch.setattr(load, "_api_latency", lambda *a: {})
    monkeypatch.setattr(load, "_api_concurrent", lambda *a: {})
    parser = argparse.ArgumentParser()
    load._api_arguments(parser)
    return load.measure_rerank_api(parser.parse_args([]))


def _cold_start_writer(monkeypatch, tmp_path) -> dict:
    """``python -m demo cold-start`` -> ``demo.tools.coldstart.measure_cold_start``, with the three app starts stubbed."""
    from demo.tools import coldstart

    phase = {"cold_start_to_http_200_s": 1.0, "first_search_sample_s": 1.0, "backend_swapped_in_after_s": None,
             "runtime": "torch", "rerank_p50_ms": 1.0, "requests": 1}  # fmt: skip
    monkeypatch.setattr(coldstart, "_one_start", lambda *a: dict(phase))
    parser = argparse.ArgumentParser()
    coldstart._arguments(parser)
    return coldstart.measure_cold_start(parser.parse_args([]))


def _evaluate_bench_writer(monkeypatch, tmp_path) -> dict:
    """``python -m demo evaluate-bench`` -> ``demo.tools.evalbench.measure_evaluate_bench``, both runs stubbed."""
    from demo.tools import evalbench

    records = {("bm25", "17m"): {"n_queries": 3}}
    monkeypatch.setattr(evalbench, "_run_cli", lambda *a: (1.0, records))
    monkeypatch.setattr(evalbench, "_run_tab", lambda *a: (1.1, records, "✅ Done"))
    monkeypatch.setattr("ettin.replica.build_replica", lambda *a, **k: None)
    parser = argparse.ArgumentParser()
    evalbench._arguments(parser)
    return evalbench.measure_evaluate_bench(parser.parse_args([]))


def _proof_run_writer(monkeypatch, tmp_path) -> dict:
    """``python -m train scifact`` -> ``train.scifact.proof_report`` (its ``report.json``, committed as is)."""
    from train.scifact import _scifact_arguments, proof_report

    parser = argparse.ArgumentParser()
    _scifact_arguments(parser)
    scores = {"first_stage": 0.5, "teacher": 0.5, "student_untrained": 0.1, "student_trained": 0.4}
    return proof_report(parser.parse_args([]), scores, 3, 6, {"fit_s": 1.0}, (0.0, 0.0, 0.0))


def _reranker_run_writer(monkeypatch, tmp_path) -> dict:
    """``python -m train scifact-reranker`` -> ``train.reranker.run_report`` (its ``report.json``, committed as is)."""
    from train.reranker import Recipe, run_report

    return run_report(Recipe(), {"fuse_weight": 0.5}, {"bm25": {"ndcg_at_10": 0.5}}, {"total_s": 1.0}, (0.0, 0.0, 0.0))


def _load_benchmark_writer(monkeypatch, tmp_path) -> dict:
    """``python -m train data load-benchmark --out FILE`` -> ``train.data.load_benchmark.benchmark_report``."""
    from train.data.load_benchmark import benchmark_report

    results = [{"loader": "fit (datasets, memory-mapped)", "rows": n, "peak_rss_bytes": n} for n in (10, 100)]
    return benchmark_report([10, 100], results, (0.0, 0.0, 0.0))


# (files, relative to eval/results, as fnmatch patterns) -> the writer that wrote them; a file no pattern matches fails
WRITERS: dict[str, Callable] = {
    "retrieval/*/*/*/*.json": _retrieval_writer,
    "speed/*.json": _speed_writer(accuracy=False),
    "speed/accuracy/*.json": _speed_writer(accuracy=True),
    "app/load_*.json": _app_load_writer,
    "app/judged-gain.json": _app_judged_writer,
    "app/rerank-api-load.json": _rerank_api_load_writer,
    "app/cold-start.json": _cold_start_writer,
    "app/evaluate-bench.json": _evaluate_bench_writer,
    "train/scifact-proof-run.json": _proof_run_writer,
    "train/scifact-reranker-run.json": _reranker_run_writer,
    "train/data-loading-benchmark.json": _load_benchmark_writer,
}


def _committed_files() -> list[str]:
    return sorted(p.relative_to(DEFAULT_RESULTS_DIR).as_posix() for p in DEFAULT_RESULTS_DIR.rglob("*.json"))


def _writer_of(rel: str) -> str | None:
    matches = [pattern for pattern in WRITERS if fnmatch.fnmatchcase(rel, pattern) and rel.count("/") == pattern.count("/")]
    return matches[0] if len(matches) == 1 else None


def test_every_committed_result_file_has_exactly_one_known_writer():
    files = _committed_files()
    assert len(files) >= 10
    unknown = [rel for rel in files if _writer_of(rel) is None]
    assert not unknown, f"no committed writer writes these (hand-kept logs belong in train/attempts/): {unknown}"
    assert {_writer_of(rel) for rel in files} == set(WRITERS), "every writer listed still has a committed file"


def test_a_file_no_writer_knows_is_flagged():
    assert _writer_of("train/scifact-labels-run.json") is None and _writer_of("train/notes.json") is None
    assert _writer_of("speed/accuracy/x.json") == "speed/accuracy/*.json" and _writer_of("speed/x.json") == "speed/*.json"


@pytest.mark.parametrize("pattern", sorted(WRITERS))
def test_each_committed_file_has_exactly_the_keys_its_writer_writes(pattern, monkeypatch, tmp_path):
    written = WRITERS[pattern](monkeypatch, tmp_path)
    files = [rel for rel in _committed_files() if _writer_of(rel) == pattern]
    assert files
    for rel in files:
        committed = json.loads((DEFAULT_RESULTS_DIR / rel).read_text(encoding="utf-8"))
        assert set(committed) == set(written), f"{rel}: keys no writer writes {sorted(set(committed) - set(written))}, " \
                                               f"keys the writer writes but the file lacks {sorted(set(written) - set(committed))}"
        # provenance: nothing added by hand (a file may predate a field its writer added since, e.g. `command`)
        extra = set(committed["provenance"]) - set(written["provenance"])
        assert not extra, f"{rel}: provenance keys no writer writes: {sorted(extra)}"
        assert {"packages", "hardware", "date"} <= set(committed["provenance"]), rel
