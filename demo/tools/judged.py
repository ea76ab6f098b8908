"""``python -m demo judged``: does the app's reranker help? Every judged SciFact test query through the Search tab's own
code, and the mean gain of its "did the reranker help?" answer, with a bootstrap interval and a paired test.

``python -m demo judged [--reranker KEY] [--first-stage bm25] [--k 30] [--limit N] [--out FILE]``

Each query runs :meth:`demo.search.playground.Playground.search` over the whole bundled SciFact corpus (5,183 abstracts),
as a visitor's search does, and :func:`demo.search.judged.judged_metrics` scores the first-stage and the final order
against the query's judgements, exactly as the tab's panel does. The default reranker is the app's own default (the
first one offered). Per-query rows are appended to ``<out>.partial.jsonl`` as they finish, so a killed run resumes where
it stopped (a run with other settings starts anew); the summary is written atomically. Not a test: the time depends on
the machine and its load, which the file records.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from ettin.cli import parse_positive_int, verb

__all__ = ["judged_gain", "summarise"]

DEFAULT_OUT = Path("eval/results/app/judged-gain.json")


def _settings(reranker: str, first_stage: str, k: int, limit: int | None) -> dict[str, Any]:
    return {"corpus": "scifact (whole, bundled)", "split": "test", "reranker": reranker, "first_stage": first_stage,
            "k": k, "top_n": 10, "limit": limit, "metric": "ndcg_at_10"}  # fmt: skip


def _read_partial(path: Path, settings: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The rows a previous run with the same settings finished (none when the file is absent, or from other settings)."""
    if not path.is_file():
        return {}
    header, *lines = path.read_text(encoding="utf-8").splitlines() or [""]
    if _json_or_none(header) != {"settings": settings}:
        return {}
    rows = []
    for line in lines:  # a line cut by a kill ends what was finished
        row = _json_or_none(line)
        if not isinstance(row, dict) or "query_id" not in row:
            break
        rows.append(row)
    return {row["query_id"]: row for row in rows}


def _json_or_none(line: str) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        return None


def _queries(limit: int | None) -> list[tuple[str, str]]:
    """The judged SciFact test queries as (id, text), in the split's order."""
    from ettin.corpus import scifact

    ds = scifact("test")
    judged = [(qid, text) for qid, text in ds.queries.items() if ds.qrels.get(qid)]
    return judged[:limit] if limit else judged


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean NDCG@10 of the first stage and of the final order, and the mean gain with its bootstrap interval and the
    paired t-test's p-value (:mod:`eval.leaderboard.stats`)."""
    from eval.leaderboard.stats import bootstrap_interval, paired_test

    first = [r["first_stage"] for r in rows]
    final = [r["reranked"] for r in rows]
    gain = bootstrap_interval([b - a for a, b in zip(first, final)])
    return {
        "queries": len(rows),
        "first_stage_ndcg@10": sum(first) / len(first),
        "reranked_ndcg@10": sum(final) / len(final),
        "gain": gain.as_dict(),
        "p_paired_t": paired_test(final, first) if len(rows) > 1 else None,
        "helped": sum(b > a for a, b in zip(first, final)),
        "hurt": sum(b < a for a, b in zip(first, final)),
    }


def judged_gain(reranker: str | None, first_stage: str, k: int, limit: int | None, out: Path) -> dict[str, Any]:
    """Run every judged query through the Search tab's code and write the summary (see the module docstring)."""
    from demo.search.judged import judged_metrics, judged_query
    from demo.search.playground import Playground
    from demo.sources.user_corpus import scifact_corpus
    from ettin.progress import progress_bar
    from ettin.provenance import base_provenance

    play = Playground(include_hub=False, max_rerank_seconds=float("inf"))  # a measurement, not a visitor: no limit
    choice = play.reranker_choice(reranker) if reranker else (play.rerankers[0] if play.rerankers else None)
    if choice is None:
        from ettin.errors import UserError

        raise UserError("no reranker is offered here: pass --reranker with one the app offers (python app.py lists them)")
    settings = _settings(choice.key, play.first_stage_key(first_stage), k, limit)
    partial = out.with_name(out.name + ".partial.jsonl")
    done = _read_partial(partial, settings)
    corpus = scifact_corpus()
    queries = _queries(limit)
    out.parent.mkdir(parents=True, exist_ok=True)
    mode = "a" if done else "w"
    t0 = time.perf_counter()
    with partial.open(mode, encoding="utf-8") as log, progress_bar(total=len(queries), initial=len(done), desc="judged queries", unit="query") as bar:
        if not done:
            log.write(json.dumps({"settings": settings}) + "\n")
        for qid, text in queries:
            if qid in done:
                continue
            outcome = play.search(text, corpus, settings["first_stage"], choice.key, k=k, top_n=10)
            metrics = judged_metrics(outcome.result, judged_query(text))
            done[qid] = {"query_id": qid, "first_stage": metrics["first stage"]["ndcg_at_10"],
                         "reranked": metrics["reranked"]["ndcg_at_10"]}  # fmt: skip
            log.write(json.dumps(done[qid]) + "\n")
            log.flush()
            bar.update(1)
    rows = [done[qid] for qid, _ in queries]
    model = play.reranker(choice)  # loaded (or from the runtime's cache): what every query ran with
    summary = {"schema": "ettin.app-judged/1", "settings": settings, "label": choice.label, "random_init": choice.random_init,
               "reranker": {**model.provenance(), "fuse_weight": getattr(choice, "fuse_weight", None)},
               "summary": summarise(rows), "per_query": rows, "seconds_this_run": round(time.perf_counter() - t0, 1),
               "command": _command(choice.key, settings, out), "load_average": list(os.getloadavg()),
               "provenance": base_provenance()}  # fmt: skip
    from ettin.io import write_json_atomic

    write_json_atomic(out, summary)
    partial.unlink(missing_ok=True)
    return summary


def _command(reranker: str, settings: dict[str, Any], out: Path) -> str:
    limit = f" --limit {settings['limit']}" if settings["limit"] else ""
    return (f"python -m demo judged --reranker {json.dumps(reranker)} --first-stage {settings['first_stage']} "
            f"--k {settings['k']}{limit} --out {out.as_posix()}")  # fmt: skip


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--reranker", default=None, help="a reranker the app offers (default: the app's default, the first offered)")
    p.add_argument("--first-stage", default="bm25", help="a first stage the app offers (default: bm25)")
    p.add_argument("--k", type=parse_positive_int, default=30, help="first-stage depth, as the Search tab's K (default: 30)")
    p.add_argument("--limit", type=parse_positive_int, default=None, help="only the first N judged queries (default: all 300)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"summary JSON (default: {DEFAULT_OUT.as_posix()})")


@verb("judged", help="does the app's reranker help? the judged SciFact test queries through the Search tab's code",
      arguments=_arguments, description=__doc__)  # fmt: skip
def judged(args: argparse.Namespace) -> int:
    """Run and print the summary."""
    summary = judged_gain(args.reranker, args.first_stage, args.k, args.limit, args.out)
    s = summary["summary"]
    print(f"{summary['settings']['reranker']} over {summary['settings']['first_stage']} top {args.k}, {s['queries']} judged "
          f"queries: NDCG@10 {s['first_stage_ndcg@10']:.4f} -> {s['reranked_ndcg@10']:.4f}, gain {s['gain']['mean']:+.4f} "
          f"[{s['gain']['low']:+.4f}, {s['gain']['high']:+.4f}], paired p {s['p_paired_t']}; helped {s['helped']}, "
          f"hurt {s['hurt']}; wrote {args.out.as_posix()}")  # fmt: skip
    if summary["random_init"]:
        from demo.sources.choices import RANDOM_BADGE

        print(f"warning: {summary['settings']['reranker']} has {RANDOM_BADGE}: these figures say nothing of a model")
    return 0
