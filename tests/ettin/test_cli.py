from __future__ import annotations

import json

from ettin.__main__ import main


def test_latency_writes_per_stage_medians(replica_17m, tmp_path, capsys):
    out = tmp_path / "latency.json"
    code = main(
        ["latency", "--first-stage", "bm25", "--reranker", str(replica_17m), "--queries", "2", "--max-docs", "300",
         "--top-k", "5", "--output", str(out)]
    )
    assert code == 0
    data = json.loads(out.read_text())
    assert data["corpus_docs"] == 300 and data["queries"] == 2 and data["reranker"]["random_init"] is True
    assert set(data["median_s"]) == {"embed_query_s", "search_s", "rerank_s", "total_s"}
    printed = capsys.readouterr().out
    assert "rerank_s" in printed and "reranker=17m on torch " in printed  # where it ran: the default backend


def test_search_reports_bad_input_without_traceback(capsys):
    assert main(["search", "   ", "--max-docs", "50"]) == 2
    assert "query is empty" in capsys.readouterr().err
    assert main(["search", "bone", "--reranker", "../secret", "--max-docs", "50"]) == 2
    assert "unknown reranker" in capsys.readouterr().err


def test_registry_json(capsys):
    assert main(["registry", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["rerankers"]["1b"]["total_parameters"] == 1_031_267_329


def test_search_over_a_corpus_without_text_is_an_error_not_a_traceback(tmp_path, capsys):
    (tmp_path / "corpus.jsonl").write_text('{"_id": "d1", "title": "", "text": ""}\n', encoding="utf-8")
    assert main(["search", "bone", "--data", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err and "none of its 1 documents has a title or text" in err


def test_search_refuses_int8_on_torch_and_names_the_backends_that_have_it(replica_17m, capsys):
    code = main(["search", "bone", "--reranker", str(replica_17m), "--max-docs", "50", "--top-k", "5",
                 "--precision", "int8"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and "int8" in err and "Traceback" not in err
