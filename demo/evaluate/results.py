"""A finished evaluation as the tab shows it: per system NDCG@10 / MRR@10 / Recall@10 / Recall@K with their bootstrap
intervals (the records' own, schema ``ettin.retrieval/2``), each reranked row's paired gain over its first stage alone
(interval, Holm-corrected p), tied rank ranges, latency per query and pairs/s, the Pareto chart, the one-sentence
recommendation and the downloads. Statistics are :mod:`eval.leaderboard.stats`'; rows of random-weight replicas carry
:data:`~demo.sources.choices.RANDOM_BADGE` everywhere they appear.

**Latency per query** of a system: its first stage's time in this run divided by the queries, plus K pairs at the
reranker's pairs/s measured in this run (pairs scored now over the seconds its reranking took); for a reranker whose
pairs all came from the score cache, the rate the app's throughput book holds for it (``rate basis`` says which), else
no latency.
"""

from __future__ import annotations

import csv
import io
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from demo.sources.choices import RANDOM_BADGE
from eval.leaderboard.figures import message_figure, pareto_front, safe

__all__ = ["METRICS", "EvaluationResults", "pareto_figure", "recommendation", "summarize", "write_downloads"]

METRICS = (("ndcg_at_10", "NDCG@10"), ("mrr_at_10", "MRR@10"), ("recall_at_10", "Recall@10"), ("recall_at_100", "Recall@K"))
"""(record key, column). With K ≤ 100 a run holds K documents per query, so its Recall@100 is its Recall@K."""


@dataclass
class EvaluationResults:
    """The table (numbers), what the tab shows, and the sentence."""

    frame: pd.DataFrame
    top_k: int
    recommendation: str
    meaningless: bool

    def display(self) -> pd.DataFrame:
        """The table as shown: each metric ``mean [low, high]``, gains signed, p-values and latency rounded."""
        f = self.frame
        out = pd.DataFrame({"system": f["system"], "rank": f["rank"]})
        for _, col in METRICS:
            out[col.replace("@K", f"@{self.top_k}")] = [
                f"{m:.4f} [{lo:.4f}, {hi:.4f}]" for m, lo, hi in zip(f[col], f[f"{col} low"], f[f"{col} high"])
            ]
        out["gain NDCG@10"] = [
            "" if math.isnan(g) else f"{g:+.4f} [{lo:+.4f}, {hi:+.4f}]"
            for g, lo, hi in zip(f["gain"], f["gain low"], f["gain high"])
        ]
        out["p (Holm)"] = ["" if math.isnan(p) else f"{p:.2g}" for p in f["p holm"]]
        out["ms / query"] = ["—" if math.isnan(v) else f"{v:,.1f}" for v in f["ms per query"]]
        out["pairs / s"] = ["" if math.isnan(v) else f"{v:,.0f}" for v in f["pairs per s"]]
        out["note"] = ["; ".join(n for n in (RANDOM_BADGE if r else "", "pairs/s from the throughput book" if
                                             b.startswith("throughput") else "") if n)
                       for r, b in zip(f["random_init"], f["rate basis"])]  # fmt: skip
        return out

    def csv_text(self) -> str:
        buf = io.StringIO()
        self.frame.to_csv(buf, index=False, quoting=csv.QUOTE_MINIMAL)
        return buf.getvalue()


def _system(record: dict[str, Any]) -> str:
    return record["first_stage"] + (f" → {record['reranker']}" if record.get("reranker") else "")


def _rate(report: dict[str, Any], reranker: str | None) -> float:
    stats = (report.get("rerank_stats") or {}).get(reranker or "", {})
    scored, seconds = stats.get("pairs_scored", 0), stats.get("seconds", 0.0)
    return scored / seconds if scored and seconds else math.nan


def _gains(runs: list[dict[str, Any]]) -> dict[str, tuple[float, float, float, float]]:
    """System -> (gain, low, high, Holm p) of NDCG@10 over its first stage alone, on the queries both have."""
    from eval.leaderboard.stats import bootstrap_interval, holm, paired_test

    alone = {r["first_stage"]: r for r in runs if not r.get("reranker")}
    raw = []
    for r in runs:
        base = alone.get(r["first_stage"])
        if not r.get("reranker") or base is None:
            continue
        shared = sorted(set(r["per_query"]) & set(base["per_query"]))
        if len(shared) < 2:
            continue
        a = np.array([r["per_query"][q]["ndcg_at_10"] for q in shared])
        b = np.array([base["per_query"][q]["ndcg_at_10"] for q in shared])
        raw.append((_system(r), bootstrap_interval(a - b), paired_test(a, b)))
    adjusted = holm([p for _, _, p in raw]) if raw else []
    return {name: (iv.mean, iv.low, iv.high, p_adj) for (name, iv, _), p_adj in zip(raw, adjusted)}


def summarize(report: dict[str, Any], top_k: int, book_rates: dict[str, float] | None = None) -> EvaluationResults:
    """The results of a worker's ``report.json`` (:func:`eval.retrieval.evaluate.EvaluationReport.as_json` and the
    worker's rerank stats).

    Args:
        report: The worker's report.
        top_k: The run's K.
        book_rates: Reranker name -> pairs/s from the throughput book, for rerankers this run measured no rate of.
    """
    from eval.leaderboard.stats import compare_systems

    runs = report["runs"]
    gains = _gains(runs)
    _, ranks = compare_systems({_system(r): {q: v["ndcg_at_10"] for q, v in r["per_query"].items()} for r in runs})
    by_name = {s.name: s for s in ranks}
    rows = []
    for r in runs:
        name = _system(r)
        stage1_ms = 1000 * r.get("timing", {}).get("stage1_s", 0.0) / max(1, r["n_queries"])
        rate = _rate(report, r.get("reranker")) if r.get("reranker") else math.nan
        basis = "measured in this run" if not math.isnan(rate) else ""
        if r.get("reranker") and math.isnan(rate) and (book_rates or {}).get(r["reranker"]):
            rate, basis = float(book_rates[r["reranker"]]), "throughput book (every pair came from the score cache)"
        latency = stage1_ms if not r.get("reranker") else stage1_ms + 1000 * top_k / rate
        row = {"system": name, "first stage": r["first_stage"], "reranker": r.get("reranker") or "",
               "rank": by_name[name].rank, "queries": r["n_queries"]}  # fmt: skip
        for key, col in METRICS:
            iv = r["intervals"][key]
            row.update({col: iv["mean"], f"{col} low": iv["low"], f"{col} high": iv["high"]})
        g = gains.get(name, (math.nan,) * 4)
        row.update({"gain": g[0], "gain low": g[1], "gain high": g[2], "p holm": g[3], "ms per query": latency,
                    "pairs per s": rate, "rate basis": basis, "random_init": bool(r.get("random_init")),
                    "tied with best": name == ranks[0].name or ranks[0].name in by_name[name].tied_with})  # fmt: skip
        rows.append(row)
    frame = pd.DataFrame(rows)
    return EvaluationResults(frame, top_k, recommendation(frame), bool(frame["random_init"].any()))


def recommendation(frame: pd.DataFrame) -> str:
    """One sentence: the smallest (lowest latency per query) system statistically tied with the best NDCG@10."""
    best = frame.sort_values("NDCG@10", ascending=False).iloc[0]
    tied = frame[frame["tied with best"]]
    timed = tied.dropna(subset=["ms per query"])
    pick = timed.sort_values("ms per query").iloc[0] if not timed.empty else best
    at = "" if math.isnan(pick["ms per query"]) else f", at {pick['ms per query']:,.1f} ms per query"
    if len(tied) == 1:
        text = (f"{best['system']} is the best system (NDCG@10 {best['NDCG@10']:.4f}), significantly ahead of every "
                f"other{at}.")  # fmt: skip
    elif pick["system"] == best["system"]:
        text = f"The best system, {best['system']} (NDCG@10 {best['NDCG@10']:.4f}), is also the smallest tied with it{at}."
    else:
        text = (f"The smallest system statistically tied with the best ({best['system']}, NDCG@10 "
                f"{best['NDCG@10']:.4f}) is {pick['system']} (NDCG@10 {pick['NDCG@10']:.4f}){at}.")  # fmt: skip
    involved = frame[frame["system"].isin([best["system"], pick["system"]])]
    if involved["random_init"].any():
        text = f"⚠️ {RANDOM_BADGE}: " + text
    return text


@safe
def pareto_figure(results: EvaluationResults) -> go.Figure:
    """NDCG@10 (with its interval) against latency per query (log), with the Pareto front; replicas marked."""
    d = results.frame.dropna(subset=["ms per query"])
    d = d[d["ms per query"] > 0]
    if d.empty:
        return message_figure("No system has a measured latency in this run (every pair came from the score cache).",
                              "Quality vs latency")  # fmt: skip
    fig = go.Figure()
    for label, g, color, symbol in (("real weights", d[~d["random_init"]], "#d62728", "circle"),
                                    (RANDOM_BADGE, d[d["random_init"]], "#7f7f7f", "x")):  # fmt: skip
        if g.empty:
            continue
        fig.add_trace(go.Scatter(
            x=g["ms per query"], y=g["NDCG@10"], mode="markers+text", text=list(g["system"]),
            textposition="top center", textfont={"size": 10}, name=label, marker={"color": color, "size": 11, "symbol": symbol},
            error_y={"type": "data", "symmetric": False, "array": g["NDCG@10 high"] - g["NDCG@10"],
                     "arrayminus": g["NDCG@10"] - g["NDCG@10 low"]},
        ))  # fmt: skip
    front = pareto_front(d.assign(speed=1000 / d["ms per query"]), x="speed", y="NDCG@10")
    fig.add_trace(go.Scatter(x=front["ms per query"], y=front["NDCG@10"], mode="lines", name="Pareto front",
                             line={"dash": "dot", "color": "black"}, hoverinfo="skip"))  # fmt: skip
    title = "Quality vs latency on your data" + (f" — {RANDOM_BADGE}" if results.meaningless else "")
    fig.update_layout(title=title, xaxis={"title": "ms per query (log scale)", "type": "log"},
                      yaxis={"title": "NDCG@10 (95% interval)"}, template="plotly_white", height=480,
                      legend={"orientation": "h", "y": -0.2})  # fmt: skip
    return fig


def write_downloads(job_folder: str | Path, results: EvaluationResults, command: str) -> tuple[Path, Path]:
    """``results.zip`` (every results-store file, the report, the CSV, the command and, for a sample, its queries and
    qrels) and ``results.csv`` in the job folder, each written atomically; returns their paths."""
    from ettin.io import atomic_open

    job = Path(job_folder)
    csv_path, zip_path = job / "results.csv", job / "results.zip"
    with atomic_open(csv_path) as f:
        f.write(results.csv_text())
    with atomic_open(zip_path, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted((job / "results").rglob("*.json")):
            zf.write(path, path.relative_to(job).as_posix())
        zf.write(job / "report.json", "report.json")
        zf.writestr("results.csv", results.csv_text())
        zf.writestr("COMMAND.txt", command + "\n")
        sample = job / "sample"
        for rel in ("queries.jsonl", *(f"qrels/{p.name}" for p in sorted((sample / "qrels").glob("*.tsv")))):
            if (sample / rel).is_file():
                zf.write(sample / rel, f"sample/{rel}")
    return zip_path, csv_path
