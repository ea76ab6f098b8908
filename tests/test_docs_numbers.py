"""Every measured number quoted in the docs equals the committed result file it comes from (rounded as the docs say)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ettin import registry
from ettin.published import published

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "eval" / "results"
SPEED_FILE = RESULTS / "speed" / "intel-xeon-processor-2c_20261127-185311.json"
ACCURACY_FILE = RESULTS / "speed" / "accuracy" / "student-scifact_20261130-170517.json"
PROOF_RUN_FILE = RESULTS / "train" / "scifact-proof-run.json"
APP_LOAD_FILES = [RESULTS / "app" / f"load_20261130-compiled-idle-run{i}.json" for i in (1, 2, 3, 4)]
APP_UNCOMPILED_FILE = RESULTS / "app" / "load_20261130-idle.json"
SCIFACT_RESULTS = RESULTS / "retrieval" / "scifact" / "test"
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
COMPILED_SPEED_FILE = RESULTS / "speed" / "intel-xeon-processor-2c_20261130-162842.json"
BACKENDS_SPEED_FILE = RESULTS / "speed" / "amd-epyc-2c_20261207-235506.json"
BACKEND_LABELS = {
    ("baseline", "fp32-sdpa"): "baseline `predict`, fp32, batch 32",
    ("ettin", "fp32-sdpa"): "torch fp32 (lossless)",
    ("ettin", "bf16-sdpa"): "torch bf16",
    ("ettin", "bf16-sdpa-compiled"): "torch bf16, compiled",
    ("onnxruntime", "fp32"): "ONNX Runtime fp32",
    ("onnxruntime", "int8"): "ONNX Runtime dynamic int8",
    ("openvino", "fp32"): "OpenVINO fp32",
    ("openvino", "bf16"): "OpenVINO bf16",
    ("openvino", "int8"): "OpenVINO NNCF int8",
}


def _json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _text(name: str) -> str:
    return " ".join((ROOT / name).read_text(encoding="utf-8").split())  # line breaks do not matter


def _pct(x: float) -> str:
    return f"{x * 100:.0f}"


def test_readme_speed_table_and_its_sentences_equal_the_speed_file():
    data, readme = _json(SPEED_FILE), _text("README.md")
    rows = {(r["size"], r["runtime"], r["config"]): r for r in data["rows"]}
    base17 = rows["17m", "ettin", "fp32-sdpa"]["pairs_per_s"]
    blog = {size: published().cpu_speed.rate(registry.RERANKERS[size].hub_id) for size in ("17m", "32m", "68m")}
    for size in ("17m", "32m", "68m"):
        base, fp32, bf16 = (rows[size, rt, cfg] for rt, cfg in
                            (("baseline", "fp32-sdpa"), ("ettin", "fp32-sdpa"), ("ettin", "bf16-sdpa")))  # fmt: skip
        line = (f"| {size} | {base['pairs_per_s']:.1f} | {fp32['pairs_per_s']:.1f} ({fp32['ratio_to_baseline']:.2f}x) | "
                f"{bf16['pairs_per_s']:.1f} ({bf16['ratio_to_baseline']:.2f}x) | {fp32['pairs_per_s'] / base17:.3f} | "
                f"{blog[size] / blog['17m']:.3f} |")  # fmt: skip
        assert line in readme
    prov = data["provenance"]
    assert f"mean {prov['protocol']['token_lengths']['mean']:.1f} tokens" in readme
    assert f"load average {prov['load_average_start'][0]:.2f} at the start and {prov['load_average_end'][0]:.2f} at the end" in readme
    fast = [r for r in data["rows"] if r["runtime"] == "ettin" and r["config"] == "fp32-sdpa"]
    baseline = [r for r in data["rows"] if r["runtime"] == "baseline"]
    span = lambda rs: f"{_pct(min(r['ceiling_fraction'] for r in rs))}–{_pct(max(r['ceiling_fraction'] for r in rs))}%"  # noqa: E731
    assert f"lossless path reaches {span(fast)} of the fp32 matmul ceiling; the baseline {span(baseline)}" in readme
    assert f"measured at most {max(r['max_abs_diff_vs_baseline'] for r in fast):.1e}".replace("e-07", "e-7") in readme


def test_readme_bf16_accuracy_sentence_equals_the_accuracy_file():
    acc = _json(ACCURACY_FILE)["accuracy"]
    spearman = acc["benchmark_pairs"]["bf16_vs_fp32_spearman"]
    gain = acc["scifact"]["bf16_minus_fp32_ndcg_at_10"]
    assert f"Spearman {spearman:.4f}, NDCG@10 {gain:+.4f}" in _text("README.md")


def _section(name: str, start: str, end: str) -> str:
    text = (ROOT / name).read_text(encoding="utf-8")
    return text[text.index(start):text.index(end, text.index(start))]


def _ndcg_figures(text: str) -> set[str]:
    return set(re.findall(r"\b0\.\d{4}\b", text))


@pytest.mark.parametrize(
    ("doc", "start", "end"),
    [("README.md", "Offline proof run", "## Sources"), ("train/README.md", "## The offline proof run", "## Code layout")],
)
def test_proof_run_figures_in_the_docs_come_from_the_committed_report(doc, start, end):
    quoted = _ndcg_figures(_section(doc, start, end))
    if not PROOF_RUN_FILE.is_file():
        assert not quoted, f"{doc} quotes proof-run figures {sorted(quoted)} but no report is committed"
        return
    report = _json(PROOF_RUN_FILE)
    scores = report["ndcg@10"]
    assert quoted == {f"{v:.4f}" for v in scores.values()}, "every figure quoted, and only those of the report"
    section = " ".join(_section(doc, start, end).split())
    assert f"{report['student_over_teacher'] * 100:.1f} % of the teacher" in section
    assert f"load average {report['machine_load_1_5_15min']['start'][0]:.2f}" in section
    assert report["settings"]["max_steps"] == 1000 and "1,000 steps" in section


def test_readme_compiled_speed_table_equals_its_speed_file():
    data, readme = _json(COMPILED_SPEED_FILE), _text("README.md")
    prov = data["provenance"]
    assert prov["command"] in readme
    assert f"load average {prov['load_average_start'][0]:.2f} at the start and {prov['load_average_end'][0]:.2f} at the end" in readme
    assert f"{prov['protocol']['n_pairs']} SciFact pairs (mean {prov['protocol']['token_lengths']['mean']:.1f} tokens)" in readme
    rows = {(r["runtime"], r["config"]): r for r in data["rows"]}
    compile_s = data["models"][0]["searches"]["bf16-sdpa-compiled"]["compile_s"]
    for (runtime, config), label in {("baseline", "fp32-sdpa"): "baseline `predict`, fp32, batch 32",
                                     ("ettin", "fp32-sdpa"): "lossless fp32", ("ettin", "bf16-sdpa"): "bf16",
                                     ("ettin", "bf16-sdpa-compiled"): f"bf16, compiled ({compile_s:.1f} s to compile)"}.items():
        r = rows[runtime, config]
        diff = f"{r['max_abs_diff_vs_baseline']:.1e}" if r["max_abs_diff_vs_baseline"] else "0"
        assert f"| {label} | {r['pairs_per_s']:.1f} | {r['ratio_to_baseline']:.2f}x | {diff} |" in readme, label
    gain = rows["ettin", "bf16-sdpa-compiled"]["pairs_per_s"] / rows["ettin", "bf16-sdpa"]["pairs_per_s"]
    assert f"compiling is {gain:.2f}x over eager bf16" in readme


def _load_cells(data: dict) -> list[str]:
    """One run's cells of the docs/app.md table, in the table's row order."""
    warm, fair = data["warm_search_full_scifact"], data["fair_sharing"]
    conc, rss, bm25 = data["concurrent_sample"], data["memory_rss_mb"], fair["third_session_bm25"]
    cells = [f"{data['cold_start_to_http_200_s']:.1f} s", f"{data['first_search_sample_s']:.2f} s"]
    cells += [f"{row['p50_s']:.2f} s / {row['p95_s']:.2f} s / {row['max_s']:.2f} s" for row in warm.values()]
    return cells + [
        f"{bm25['p50_s']:.1f} s / {bm25['max_s']:.1f} s (n = {bm25['n']})",
        f"{fair['upload_1']}; {fair['upload_2']}",
        f"{conc['succeeded']}/{conc['clients']}, {conc['p50_s']:.1f} s / {conc['p95_s']:.1f} s",
        f"{rss['after_start']:,} / {rss['after_warm']:,} / {rss['peak_during_concurrent']:,} / {rss['after_concurrent']:,} MB",
    ]


def test_app_doc_latency_table_equals_the_app_load_files():
    runs, doc = [_json(path) for path in APP_LOAD_FILES], _text("docs/app.md")
    for data in runs:
        load = data["provenance"]["load_average_1_5_15min"]
        assert data["provenance"]["command"] in doc and data["settings"]["compile"] == "auto"
        assert f"load average {load['start'][0]:.2f} at the start and {load['end'][0]:.2f} at the end" in doc
    for row in zip(*(_load_cells(data) for data in runs)):
        assert f"| {' | '.join(row)} |" in doc, row
    k100 = sorted(data["warm_search_full_scifact"]["k100"]["p50_s"] for data in runs)
    assert f"K = 100 p50 of {k100[0]:.2f}, {k100[1]:.2f}, {k100[2]:.2f} and {k100[3]:.2f} s" in doc
    assert f"the median is {(k100[1] + k100[2]) / 2:.2f} s" in doc
    target = 1.5  # the table's "≤ 1.5 s (p50)"
    assert "| same, K = 100: p50 / p95 / max over 20 queries | ≤ 1.5 s (p50) |" in doc
    assert [data["warm_search_full_scifact"]["k100"]["p50_s"] > target for data in runs] == [True, False, False, False]
    assert f"run 1 misses by {runs[0]['warm_search_full_scifact']['k100']['p50_s'] - target:.2f} s" in doc


def test_app_doc_cold_starts_and_the_uncompiled_run_equal_the_app_load_files():
    runs, doc = [_json(path) for path in APP_LOAD_FILES], _text("docs/app.md")
    uncompiled = _json(APP_UNCOMPILED_FILE)
    cold = [data["cold_start_to_http_200_s"] for data in runs]
    assert f"waits for the 17m's compile before it serves ({min(cold):.0f}–{max(cold):.0f} s with an empty" in doc
    assert "compile" not in uncompiled["settings"] and uncompiled["provenance"]["command"].endswith(APP_UNCOMPILED_FILE.name)
    warm = uncompiled["warm_search_full_scifact"]
    assert (f"the same command measured K = 30 {warm['k30']['p50_s']:.2f} s and K = 100 {warm['k100']['p50_s']:.2f} s "
            f"(`eval/results/app/{APP_UNCOMPILED_FILE.name}`, uncompiled") in doc  # fmt: skip
    assert f"(cold start {uncompiled['cold_start_to_http_200_s']:.1f} s in the uncompiled file)" in doc


def test_the_compiled_speed_up_quoted_in_the_docs_equals_the_speed_file():
    rows = {(r["runtime"], r["config"]): r["pairs_per_s"] for r in _json(COMPILED_SPEED_FILE)["rows"]}
    gain = rows["ettin", "bf16-sdpa-compiled"] / rows["ettin", "bf16-sdpa"]
    doc, readme = _text("docs/app.md"), _text("README.md")
    assert f"its searches then run about {gain:.1f}x faster on this CPU" in doc
    assert f"(README, compiled speed: {gain:.2f}x over eager bf16 in the same benchmark run)" in doc
    assert f"its searches run about {gain:.1f}x faster" in readme


@pytest.fixture(scope="module")
def board():
    """The leaderboard computed from the committed results."""
    from eval.leaderboard import build_leaderboard

    return build_leaderboard(RESULTS)


def test_readme_scifact_intervals_and_tests_equal_the_leaderboard_computed_from_the_committed_results(board):
    readme = _text("README.md")
    rows = board.embedders[(board.embedders["dataset"] == "scifact") & (board.embedders["source"] == "regenerated")]
    by_system = rows.set_index("system")
    for system, name in (("bm25", "BM25"), ("sentence-transformers/all-MiniLM-L6-v2", "MiniLM")):
        r = by_system.loc[system]
        assert f"{name} {r.ndcg10:.4f} [{r.ndcg10_low:.4f}, {r.ndcg10_high:.4f}]" in readme
    student = by_system.loc["bm25 » student-scifact"]
    assert f"scores {student.ndcg10:.4f} [{student.ndcg10_low:.4f}, {student.ndcg10_high:.4f}]" in readme
    assert f"{-student.gain:.4f} *below* BM25 alone [{student.gain_low:+.4f}, {student.gain_high:+.4f}]".replace("-", "−") in readme
    assert f"p (Holm) = {student.gain_p_holm:.4f}" in readme and f"(ranks {student['rank']})" in readme
    hybrid = by_system.loc[f"hybrid:{MINILM}"]
    assert f"--first-stage hybrid`) scores {hybrid.ndcg10:.4f} [{hybrid.ndcg10_low:.4f}, {hybrid.ndcg10_high:.4f}]" in readme


def test_readme_bm25_minus_minilm_equals_the_leaderboards_paired_comparison(board):
    readme = _text("README.md")
    scope = board.comparisons[board.comparisons["scope"] == "scifact/test"]
    pair = scope[(scope["a"] == "bm25") & (scope["b"] == MINILM)].iloc[0]  # a − b: BM25 − MiniLM
    ranks = board.embedders[board.embedders["source"] == "regenerated"].set_index("system")["rank"]
    assert (f"BM25 − MiniLM {pair.difference:+.4f} [{pair.low:+.4f}, {pair.high:+.4f}], paired t-test "
            f"p = {pair.p_value:.3f})") in readme  # fmt: skip
    assert (f"not after Holm's correction over the leaderboard's {len(scope)} SciFact pairs (p = {pair.p_holm:.3f}: "
            f"ranks {ranks['bm25']} and {ranks[MINILM]})") in readme  # fmt: skip
    assert pair.p_value < 0.05 <= pair.p_holm and not pair.significant  # separated alone, not after the correction


def test_readme_five_digit_reference_scores_equal_the_committed_results():
    minilm = _json(SCIFACT_RESULTS / MINILM.replace("/", "__") / "retriever-only.json")["metrics"]
    bm25 = _json(SCIFACT_RESULTS / "bm25" / "retriever-only.json")["metrics"]
    readme = _text("README.md")
    m, b = f"{minilm['ndcg_at_10']:.5f}", f"{bm25['ndcg_at_10']:.5f}"
    assert f"all-MiniLM-L6-v2 NDCG@10 **{m}** (MTEB: {m})" in readme  # the README says the two are equal
    assert f"BM25 **{b}**" in readme and f"mteb's current BM25 code gives {b}," in readme
    assert f"Recall@100 {bm25['recall_at_100']:.5f} equals the published value" in readme
    assert f"all-MiniLM-L6-v2 by id = {m}," in readme  # the full tier's mteb reproduction (tests/hub) pins the same


def test_readme_label_fine_tune_figures_equal_its_report():
    ndcg = _json(ROOT / "train" / "attempts" / "scifact-labels-run.json")["ndcg@10_scifact_test"]
    readme = _text("README.md")
    assert f"{ndcg['start_model']:.4f} → **{ndcg['fine_tuned']:.4f}** after 400 steps" in readme
    assert f"still *below* the first stage's {ndcg['first_stage']:.4f}" in readme


def test_the_shipped_rerankers_test_figures_in_the_docs_equal_the_leaderboard(board):
    rows = board.embedders[(board.embedders["dataset"] == "scifact") & (board.embedders["source"] == "regenerated")]
    by_system = rows.set_index("system")
    section = _text("train/README.md").split("## The shipped reranker")[1]
    readme = _text("README.md")
    from ettin.adapter import read_adapter_metadata
    from ettin.fusion import fused_name
    from ettin.paths import RESOURCES

    shipped = registry.TRAINED_RERANKERS["minilm-scifact"]
    fused_system = fused_name(shipped.id, read_adapter_metadata(RESOURCES / shipped.folder)["trained_here"]["fuse_weight"])
    for first in ("bm25", MINILM, f"hybrid:{MINILM}"):
        for system in (f"{first} » {shipped.id}", f"{first} » {fused_system}"):
            r = by_system.loc[system]
            quoted = f"{r.ndcg10:.4f} [{r.ndcg10_low:.4f}, {r.ndcg10_high:.4f}]"
            assert quoted in section and quoted in readme, system
            assert f"{r.gain:+.4f} [{r.gain_low:+.4f}, {r.gain_high:+.4f}], p (Holm) {r.gain_p_holm:.3f}" in section, system
            assert r.family == "trained here"


def test_readme_app_judged_gain_equals_its_result_file():
    result = _json(RESULTS / "app" / "judged-gain.json")
    s, gain = result["summary"], result["summary"]["gain"]
    readme = " ".join(_text("README.md").split())
    assert result["settings"]["k"] == 30 and s["queries"] == 300 and result["random_init"] is False
    assert (f"BM25's NDCG@10 {s['first_stage_ndcg@10']:.4f} becomes {s['reranked_ndcg@10']:.4f}, a gain of "
            f"{gain['mean']:+.4f} [{gain['low']:+.4f}, {gain['high']:+.4f}] (paired p = {s['p_paired_t']:.3f}; "
            f"{s['helped']} queries helped, {s['hurt']} hurt)") in readme


def test_the_cold_start_table_in_the_docs_equals_the_cold_start_file():
    data = _json(RESULTS / "app" / "cold-start.json")
    doc = _text("docs/app.md")
    load = data["provenance"]["load_average_1_5_15min"]
    assert f"load average {load['start'][0]} at the start and {load['end'][0]} at the" in doc
    for name, phase in data["phases"].items():
        swapped = phase["backend_swapped_in_after_s"]
        swapped_text = "—" if swapped is None else f"{swapped} s ({phase['runtime']})"
        row = (f"| {name} | {phase['cold_start_to_http_200_s']:.2f} s | {phase['first_search_sample_s']:.2f} s | "
               f"{swapped_text} | {phase['rerank_p50_ms']} ms ({phase['rerank_speedup_vs_torch']:.2f}x) |")  # fmt: skip
        assert row in doc, row


def test_the_evaluate_tab_benchmark_in_the_docs_equals_its_file():
    data = _json(RESULTS / "app" / "evaluate-bench.json")
    doc = _text("docs/app.md")
    load = data["provenance"]["load_average_1_5_15min"]
    assert data["same_results"] and data["settings"]["n_queries"] == 300 and data["settings"]["top_k"] == 100
    assert f"load average {load['start'][0]} at the start and {load['end'][0]} at" in doc
    assert f"| CLI (`python -m eval retrieval`) | {data['cli_s']:.2f} s | 1.00x |" in doc
    assert f"| Evaluate tab (`/evaluate`) | {data['tab_s']:.2f} s | {data['tab_over_cli']:.2f}x |" in doc
    assert data["tab_over_cli"] <= 1.10  # the bar: within 10 % of the CLI's time


def _gate_cell(gate: dict | None) -> str:
    """A backend row's gate verdict as the README's table gives it."""
    if gate is None:
        return "—"
    if not gate["passed"]:
        return f"fails: Spearman {gate['spearman']:.4f}, NDCG@10 {gate['ndcg_at_10_delta']:+.4f}"
    return f"passes: Spearman {gate['spearman']:.4f}, NDCG@10 {gate['ndcg_at_10_delta']:+.4f}"


def test_readme_backend_speed_table_and_goals_equal_their_speed_file():
    data, readme = _json(BACKENDS_SPEED_FILE), _text("README.md")
    prov, (detail,) = data["provenance"], data["models"]
    assert prov["command"] in readme and f"`eval/results/speed/{BACKENDS_SPEED_FILE.name}`" in readme
    assert f"load average {prov['load_average_start'][0]:.2f} at the start and {prov['load_average_end'][0]:.2f} at the end" in readme
    assert f"{prov['protocol']['n_pairs']} SciFact pairs (mean {prov['protocol']['token_lengths']['mean']:.1f} tokens)" in readme
    gate_len = detail["backend_gate"]["model_provenance"]["max_length"]
    assert f"at its own {gate_len} tokens" in readme
    rows = {(r["runtime"], r["config"]): r for r in data["rows"]}
    assert set(rows) == set(BACKEND_LABELS), "every row of the file is in the table"
    for key, label in BACKEND_LABELS.items():
        r = rows[key]
        diff = f"{r['max_abs_diff_vs_baseline']:.1e}" if r["max_abs_diff_vs_baseline"] else "0"
        cells = (f"| {label} | {r['pairs_per_s']:.1f} | {r['ratio_to_baseline']:.2f}x | {diff} | "
                 f"{_pct(r['ceiling_fraction'])}% | {_gate_cell(r['gate'])} |")  # fmt: skip
        assert cells in readme, label
    summary = detail["summary"]
    best_lossless, best_gated = rows[tuple(summary["best_lossless"].values())[:2]], rows[tuple(summary["best_gated"].values())[:2]]
    assert not summary["goal_lossless_2_5x"] and not summary["goal_gated_5x"], "the README says the goals are not met"
    assert f"lossless ≥ 2.5x: not met (best {best_lossless['ratio_to_baseline']:.2f}x" in readme
    assert f"gated ≥ 5x: not met (best {best_gated['ratio_to_baseline']:.2f}x" in readme
    base, ceil = rows["baseline", "fp32-sdpa"], data["ceiling"]
    need_fp32 = 2.5 * base["ceiling_fraction"]
    need_bf16 = best_gated["ceiling_fraction"] * 5.0 * base["pairs_per_s"] / best_gated["pairs_per_s"]
    assert f"2.5x would need {_pct(need_fp32)}% of it" in readme
    assert f"5x ({5 * base['pairs_per_s']:.0f} pairs/s) would need {_pct(need_bf16)}% of the bf16 ceiling" in readme
    assert f"{ceil['fp32_flops'] / 1e9:.0f} GFLOP/s in fp32 and {ceil['bf16_flops'] / 1e9:.0f} in bf16" in readme
