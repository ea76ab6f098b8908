"""Data assembly: candidates from a BEIR split, selection of scored candidates, mixing with caps and provenance."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ettin.corpus import BeirDataset, Corpus
from train.__main__ import main
from train.data.candidates import build_candidates, interleave_rankings
from train.data.mix import SourceSpec, mix_sources
from train.data.select import select_rows
from train.selection import SelectionConfig
from train.tables import TrainDataError, read_table


def test_interleave_merges_by_rank_without_duplicates():
    assert interleave_rankings([[1, 2, 3], [2, 4]], depth=10) == [1, 2, 4, 3]
    assert interleave_rankings([[1, 2, 3], [2, 4]], depth=2) == [1, 2]
    assert interleave_rankings([], depth=5) == []


@pytest.fixture(scope="module")
def toy_dataset() -> BeirDataset:
    texts = ["vitamin d bone fracture", "vitamin c cold", "bone density in mice", "cancer cells", "heart attack risk"]
    corpus = Corpus(tuple(f"d{i}" for i in range(5)), tuple(texts), tuple("" for _ in texts), "toy")
    queries = {"q1": "vitamin d and bone", "q2": "heart risk"}
    qrels = {"q1": {"d0": 1}, "q2": {"d4": 1}}
    return BeirDataset("toy", "train", corpus, queries, qrels)


def test_build_candidates_flags_positives_and_keeps_depth(toy_dataset):
    table = build_candidates(toy_dataset, ["bm25"], depth=3, show_progress=False)
    rows = table.to_pylist()
    assert {r["query_id"] for r in rows} == {"q1", "q2"}
    q1 = [r for r in rows if r["query_id"] == "q1"]
    assert len(q1) <= 3 and [r["first_stage_rank"] for r in q1] == list(range(len(q1)))
    assert q1[0]["doc_id"] == "d0" and q1[0]["is_positive"] and not any(r["is_positive"] for r in q1[1:])
    assert q1[0]["document"] == "vitamin d bone fracture"


def _scored_table(n_queries: int = 6, n_cands: int = 300, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    rows = {"query_id": [], "query": [], "doc_id": [], "document": [], "score": [], "is_positive": [], "first_stage_rank": []}
    for q in range(n_queries):
        for c in range(n_cands):
            rows["query_id"].append(f"q{q}")
            rows["query"].append(f"query {q}")
            rows["doc_id"].append(f"d{c}")
            rows["document"].append(f"document {c}")
            rows["score"].append(float(rng.normal(scale=5)))
            rows["is_positive"].append(c in (3, 250))
            rows["first_stage_rank"].append(c)
    return pa.table(rows)


def test_select_rows_is_deterministic_and_keeps_provenance():
    scored = _scored_table()
    cfg = SelectionConfig(max_candidates=300)
    pool, rows = select_rows(scored, cfg, seed=3, source="toy", show_progress=False)
    pool2, rows2 = select_rows(scored.take(pa.array(np.random.default_rng(1).permutation(scored.num_rows))), cfg, seed=3,
                               source="toy", show_progress=False)
    assert rows.to_pylist() == rows2.to_pylist(), "same seed, same rows, whatever the input row order"
    assert pool.num_rows == 6 * 256 and rows.num_rows == 6 * 64
    assert set(rows.column("source").to_pylist()) == {"toy"}
    assert rows.column("part").to_pylist().count("head") == 6 * 32
    positives = {(r["query_id"], r["doc_id"]) for r in pool.to_pylist() if r["is_positive"]}
    assert len(positives) == 12, "every positive is in the pool"
    assert len({(r["query_id"], r["doc_id"]) for r in rows.to_pylist()}) == rows.num_rows, "no duplicate rows"
    _, other = select_rows(scored, cfg, seed=4, source="toy", show_progress=False)
    assert other.to_pylist() != rows.to_pylist(), "a different seed samples differently"


def test_select_rows_refuses_incomplete_scores():
    scored = _scored_table(1, 10)
    scored = scored.set_column(4, "score", pa.array([np.nan] * 10))
    with pytest.raises(TrainDataError, match="NaN"):
        select_rows(scored, SelectionConfig(max_candidates=10, pool_size=5, hard=1, head=1, medium=1, band_start=1, band_end=3))


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_mix_caps_each_source_and_names_it(tmp_path):
    pq.write_table(pa.table({"query": ["a"] * 50, "passage": [f"p{i}" for i in range(50)], "label": list(range(50))}),
                   tmp_path / "one.parquet")
    _write_jsonl(tmp_path / "two.jsonl", [{"query": "b", "document": f"x{i}", "score": -i} for i in range(7)])
    specs = [SourceSpec.parse(f"one={tmp_path / 'one.parquet'}@10"), SourceSpec.parse(f"two={tmp_path / 'two.jsonl'}")]
    table, counts = mix_sources(specs, seed=12)
    assert counts == {"one": 10, "two": 7} and table.num_rows == 17
    assert table.column_names == ["query", "document", "score", "source"]
    assert sorted(set(table.column("source").to_pylist())) == ["one", "two"]
    again, _ = mix_sources(specs, seed=12)
    assert again.to_pylist() == table.to_pylist()


@pytest.mark.parametrize(
    "text, message",
    [("nolocation", "NAME=LOCATION"), ("a=b@x", "not a whole number"), ("a=b@0", "at least 1"), ("=b", "NAME=LOCATION")],
)
def test_bad_source_specs(text, message):
    with pytest.raises(TrainDataError, match=message):
        SourceSpec.parse(text)


def test_malformed_files_give_clear_errors(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"query": "a", "document": "b", "score": 1}\n{not json\n', encoding="utf-8")
    with pytest.raises(TrainDataError, match="bad.jsonl: cannot read as jsonl"):
        read_table(bad)
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(TrainDataError, match="broken.parquet: cannot read as parquet"):
        read_table(broken)
    with pytest.raises(TrainDataError, match="no such file"):
        read_table(tmp_path / "missing.parquet")
    nocols = tmp_path / "nocols.jsonl"
    _write_jsonl(nocols, [{"question": "a", "answer": "b"}])
    with pytest.raises(TrainDataError, match="no document column"):
        mix_sources([SourceSpec("x", str(nocols))])


def test_cli_reports_bad_input_without_traceback(tmp_path, capsys):
    assert main(["data", "mix", "--source", f"x={tmp_path / 'nope.parquet'}", "--out", str(tmp_path / "o.parquet")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "no such file" in err and "Traceback" not in err
    assert main(["data", "select", "--scored", str(tmp_path / "nope"), "--out", str(tmp_path / "o.parquet")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["data", "select", "--scored", str(tmp_path), "--out", str(tmp_path / "o.parquet"), "--head", "80"]) == 2
    assert "band must start" in capsys.readouterr().err


def test_cli_mix_writes_parquet_and_manifest(tmp_path, capsys):
    src = _write_jsonl(tmp_path / "s.jsonl", [{"query": "q", "document": f"d{i}", "score": i} for i in range(5)])
    out = tmp_path / "mix.parquet"
    assert main(["data", "mix", "--source", f"s={src}@3", "--out", str(out)]) == 0
    assert pq.read_table(out).num_rows == 3
    manifest = json.loads((tmp_path / "mix.parquet.json").read_text())
    assert manifest["rows_per_source"] == {"s": 3} and len(manifest["source_sha256"]["s"]) == 64
    assert "packages" in manifest["provenance"]


def test_hub_source_loads_every_config_and_caps_by_seeded_random_sample(monkeypatch):
    """``hf:DATASET`` without a config loads every config (as the post); a cap samples rows at random, seeded, from the
    whole split (never ``split[:cap]``, the first rows). The Hub is replaced by in-memory Arrow datasets."""
    import datasets

    from train.data.mix import SourceSpec, mix_sources

    loaded = []

    def fake_load(name, config, split):
        loaded.append((name, config, split))
        offset = {"msmarco": 0, "nq": 1000}[config]
        return datasets.Dataset.from_dict(
            {"query": [f"{config} q{i}" for i in range(100)], "passage": [f"d{i}" for i in range(100)],
             "score": [float(offset + i) for i in range(100)]}
        )

    monkeypatch.setattr(datasets, "get_dataset_config_names", lambda name: ["msmarco", "nq"])
    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    spec = SourceSpec.parse("all=hf:cross-encoder/ettin-reranker-v1-data@50")
    table, counts = mix_sources([spec], seed=3, shuffle=False)
    assert loaded == [("cross-encoder/ettin-reranker-v1-data", c, "train") for c in ("msmarco", "nq")]
    assert counts == {"all": 50}
    scores = table.column("score").to_pylist()
    assert any(s >= 1000 for s in scores) and any(s < 100 for s in scores), "both configs are sampled"
    assert scores != [float(i) for i in range(50)], "a random sample, not the first rows"
    again, _ = mix_sources([spec], seed=3, shuffle=False)
    assert again.column("score").to_pylist() == scores, "seeded"
    other, _ = mix_sources([spec], seed=4, shuffle=False)
    assert other.column("score").to_pylist() != scores
