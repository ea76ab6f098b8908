"""The committed results store: every file loads, validates, is not random-init; and bad files are refused."""

from __future__ import annotations

import json
from pathlib import Path

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
