"""``python -m demo evaluate-bench``'s comparison of the tab's results with the CLI's: equal records pass, any field
that differs (or a system one side lacks) is named."""

from __future__ import annotations

import json
import zipfile

from demo.tools.evalbench import _same_results, _zip_records


def _record(first_stage, reranker, ndcg):
    return {"schema": "ettin.retrieval/2", "first_stage": first_stage, "reranker": reranker, "n_queries": 2,
            "random_init": True, "metrics": {"ndcg_at_10": ndcg}, "per_query": {"q1": ndcg}, "intervals": {},
            "rankings": {"q1": ["d1"]}}  # fmt: skip


def test_records_are_read_from_the_tabs_zip_and_compared_field_by_field(tmp_path):
    archive = tmp_path / "results.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("results/a.json", json.dumps(_record("bm25", None, 0.5)))
        zf.writestr("results/b.json", json.dumps(_record("bm25", "17m", 0.25)))
        zf.writestr("report.json", json.dumps({"not": "a result"}))
    tab = _zip_records(str(archive))
    assert set(tab) == {("bm25", None), ("bm25", "17m")}
    cli = {("bm25", None): _record("bm25", None, 0.5), ("bm25", "17m"): _record("bm25", "17m", 0.25)}
    assert _same_results(tab, cli) == (True, [])
    cli[("bm25", "17m")] = _record("bm25", "17m", 0.2500001)
    same, differences = _same_results(tab, cli)
    assert not same and "('bm25', '17m'): metrics" in differences and "('bm25', '17m'): per_query" in differences
    del cli[("bm25", None)]
    assert _same_results(tab, cli)[1][0].startswith("systems: tab")
