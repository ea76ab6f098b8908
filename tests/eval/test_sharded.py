"""Sharded reranking: ranks split fixed chunks of pairs, so any world size gives the one-process result and a run killed
with one world size resumes with another without scoring a pair twice."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ettin.distributed import RankGroup, Workers
from eval.retrieval.data import subset, write_beir
from eval.retrieval.rerank import Candidates, rerank
from eval.retrieval.score_cache import PairKey, ScoreCache

ROOT = Path(__file__).resolve().parents[2]


class CountingReranker:
    """A stand-in reranker: a fixed function of the texts, counting every pair it scores."""

    name = "counting"

    class settings:  # noqa: N801 - mimics RuntimeSettings' two fields rerank reads
        max_length = 64
        dtype = "float32"

    def __init__(self):
        self.scored: list[tuple[str, str]] = []

    def provenance(self):
        return {"id": "counting", "revision": "1"}

    def score_pairs(self, pairs, batch_size=32):
        self.scored.extend(pairs)
        return [len(q) * 0.5 - len(d) * 0.25 for q, d in pairs]


def _candidates(n_queries: int = 5, depth: int = 7) -> Candidates:
    pairs, wanted = {}, {"fs": {}}
    for q in range(n_queries):
        keys = []
        for d in range(depth):
            key = PairKey(f"q{q}", f"d{(q + d) % 11}", f"{q:04d}{d:04d}")
            pairs[key] = (f"query {q}" * (q + 1), f"document {d}" * (d + 1))
            keys.append(key)
        wanted["fs"][f"q{q}"] = keys
    return Candidates(pairs, wanted)


def _shard(rank: int, world: int) -> RankGroup:
    return RankGroup(Workers(rank, world, 0, 1, "shard"))


def test_ranks_split_fixed_chunks_and_any_world_size_resumes(tmp_path):
    candidates = _candidates()
    with ScoreCache(tmp_path / "one.sqlite") as cache:
        whole, _ = rerank(candidates, CountingReranker(), cache, chunk_pairs=4)
    with ScoreCache(tmp_path / "sharded.sqlite") as cache:
        rankers = [CountingReranker() for _ in range(3)]
        for rank in (2, 1):  # rank 0 of 3 is "killed" before it starts
            runs, stats = rerank(candidates, rankers[rank], cache, chunk_pairs=4, group=_shard(rank, 3))
            assert runs == {} and stats.pairs_scored == len(rankers[rank].scored) > 0
        done = cache.count()
        assert done == len(rankers[1].scored) + len(rankers[2].scored) < len(candidates.pairs)
        half = CountingReranker()
        with pytest.raises(RuntimeError, match="pairs are missing"):  # rank 0 of 2 alone: its half only
            rerank(candidates, half, cache, chunk_pairs=4, group=_shard(0, 2))
        resumed = CountingReranker()
        runs, stats = rerank(candidates, resumed, cache, chunk_pairs=4)  # resumed by one process
    every = [p for r in (*rankers, half, resumed) for p in r.scored]
    assert len(every) == len(set(every)) == len(candidates.pairs), "a pair was scored twice, or not at all"
    assert stats.pairs_cached + stats.pairs_scored == len(candidates.pairs)
    assert runs == whole


def test_one_process_verbs_refuse_several_torchrun_ranks(monkeypatch, capsys):
    from eval.__main__ import main

    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(["nanobeir", "--reranker", "17m"]) == 2
    assert "start it without torchrun" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------------------------------
# The real launcher: torchrun, gloo, processes killed from outside


def _free_port() -> int:
    from demo.tools.server import free_port

    return free_port()


def _torchrun(nproc: int, args: list[str]) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc),
            "--master_port", str(_free_port()), *args]  # fmt: skip


def _env(cache: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "ETTIN_CACHE": str(cache), "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}  # fmt: skip


def _scores(db: Path) -> list[tuple]:
    if not db.is_file():
        return []
    con = sqlite3.connect(str(db))
    try:
        return sorted(con.execute("SELECT * FROM scores"))
    except sqlite3.OperationalError:
        return []
    finally:
        con.close()


@pytest.mark.slow
def test_torchrun_evaluation_matches_one_process_and_resumes_a_killed_rank_with_another_world_size(
    kill_rank, scifact_test, replica_17m, tmp_path
):
    from ettin.corpus import load_beir
    from ettin.runtime import best_settings
    from eval.retrieval.evaluate import evaluate_retrieval

    folder = write_beir(subset(scifact_test, n_queries=8, n_documents=120, name="sharded"), tmp_path / "sharded")
    total = 8 * 6
    with ScoreCache(tmp_path / "reference.sqlite") as cache:
        reference = evaluate_retrieval(
            load_beir(folder, "test"), ["bm25"], [str(replica_17m)], top_k=6, settings=best_settings("cpu", "auto", 64),
            score_cache=cache, batch_size=2, chunk_pairs=2,
        )
    assert reference.pairs_scored == total

    cache_dir, out = tmp_path / "cache", tmp_path / "sharded.json"
    args = ["-m", "eval", "retrieval", "--data", str(folder), "--first-stage", "bm25", "--reranker", str(replica_17m),
            "--top-k", "6", "--chunk-pairs", "2", "--batch-size", "2", "--max-length", "64", "--device", "cpu",
            "--no-store", "--output", str(out)]  # fmt: skip
    db = cache_dir / "scores.sqlite"
    run = subprocess.Popen(_torchrun(2, args), cwd=ROOT, env=_env(cache_dir), stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while len(_scores(db)) < 4:  # two chunks committed
            if run.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the run ended (or timed out) before a rank could be killed: {run.stderr.read()[-3000:]}")
            time.sleep(0.005)
        kill_rank([run], 1)
        run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode != 0, "torchrun reports a killed rank as a failure"
    done = len(_scores(db))
    assert 4 <= done < total and not out.exists(), "rank 0 wrote results although a rank died"

    resumed = subprocess.run(_torchrun(3, args), cwd=ROOT, env=_env(cache_dir), capture_output=True, text=True,
                             timeout=300)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    summary = json.loads(out.read_text(encoding="utf-8"))
    assert summary["workers"]["world_size"] == 3
    assert summary["cache"]["pairs_cached"] == done, "pairs committed before the kill were looked up, not rescored"
    assert summary["cache"]["pairs_scored"] == total - done, "every other pair was scored exactly once"
    ranks = next(iter(summary["workers"]["ranks"].values()))
    assert len(ranks) == 3 and sum(r["pairs_scored"] for r in ranks) == total - done
    assert _scores(db) == _scores(tmp_path / "reference.sqlite")  # same scores as one process, bit for bit
    expected = reference.as_json()["runs"]
    assert len(summary["runs"]) == len(expected) == 2
    for got, want in zip(summary["runs"], expected):
        assert got["metrics"] == pytest.approx(want["metrics"], abs=1e-9, rel=0)
        assert got["per_query"].keys() == want["per_query"].keys()
        for qid, values in got["per_query"].items():
            assert values == pytest.approx(want["per_query"][qid], abs=1e-9, rel=0)
        assert got["provenance"]["workers"] == {"launcher": "torchrun", "world_size": 3}
