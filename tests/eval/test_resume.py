"""A run killed with SIGKILL midway and started again recomputes nothing finished and ends with identical numbers."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from eval.retrieval.data import subset, write_beir

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _cli(folder: Path, replica: Path, cache: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "eval", "retrieval", "--data", str(folder), "--first-stage", "bm25",
            "--reranker", str(replica), "--top-k", "6", "--chunk-pairs", "6", "--batch-size", "6",
            "--precision", "fp32",  # bf16 on an AMX CPU differed in the last digits between two identical runs
            "--no-store", "--output", str(out)]


def _env(cache: Path) -> dict[str, str]:
    return {**os.environ, "ETTIN_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def _scores(cache: Path) -> list[tuple]:
    db = sqlite3.connect(str(cache / "scores.sqlite"))
    try:
        return sorted(db.execute("SELECT reranker, query_id, doc_id, max_length, dtype, text_sha, score FROM scores"))
    except sqlite3.OperationalError:
        return []
    finally:
        db.close()


@pytest.mark.slow
def test_sigkill_midway_then_resume_matches_an_uninterrupted_run(scifact_test, replica_17m, tmp_path):
    folder = write_beir(subset(scifact_test, n_queries=8, n_documents=120, name="resume"), tmp_path / "resume")
    total_pairs = 8 * 6

    clean_cache, clean_out = tmp_path / "clean-cache", tmp_path / "clean.json"
    subprocess.run(_cli(folder, replica_17m, clean_cache, clean_out), env=_env(clean_cache), cwd=PROJECT_ROOT,
                   check=True, capture_output=True, timeout=600)
    clean = json.loads(clean_out.read_text(encoding="utf-8"))
    assert clean["cache"]["pairs_scored"] == total_pairs

    cache, out = tmp_path / "cache", tmp_path / "resumed.json"
    proc = subprocess.Popen(_cli(folder, replica_17m, cache, out), env=_env(cache), cwd=PROJECT_ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if (cache / "scores.sqlite").is_file() and len(_scores(cache)) >= 6:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    done_before_kill = len(_scores(cache))
    assert 6 <= done_before_kill < total_pairs and not out.exists()

    subprocess.run(_cli(folder, replica_17m, cache, out), env=_env(cache), cwd=PROJECT_ROOT,
                   check=True, capture_output=True, timeout=600)
    resumed = json.loads(out.read_text(encoding="utf-8"))
    assert resumed["cache"]["pairs_cached"] == done_before_kill
    assert resumed["cache"]["pairs_scored"] == total_pairs - done_before_kill
    assert [r["metrics"] for r in resumed["runs"]] == [r["metrics"] for r in clean["runs"]]
    assert _scores(cache) == _scores(clean_cache)  # every score identical to the uninterrupted run's
