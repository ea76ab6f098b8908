"""The tables a search shows, as pandas frames: search results (also as expandable HTML rows with score bars, and as the
sentence-transformers code that reproduces them), rank movement and latency breakdown.

The leaderboard's tables are :mod:`demo.board.tables`."""

from __future__ import annotations

import html
import json
import math
from typing import TYPE_CHECKING


if TYPE_CHECKING:
    import pandas as pd

    from demo.search.outcomes import SearchOutcome

__all__ = [
    "RESULT_HEADERS",
    "movement_frame",
    "ranking_code",
    "results_frame",
    "results_html",
    "results_table",
    "sigmoid",
    "timings_frame",
]

RESULT_COLUMNS = ["rank", "first_stage_rank", "movement", "rerank_score", "score_0_1", "first_stage_score", "doc_id",
                  "relevant", "title", "snippet"]  # fmt: skip
# what the results table shows for each column (short words: a header never wraps letter by letter)
RESULT_HEADERS = {"rank": "rank", "first_stage_rank": "was", "movement": "moved", "rerank_score": "score",
                  "score_0_1": "0–1", "first_stage_score": "1st-stage score", "doc_id": "id", "relevant": "relevant",
                  "title": "title", "snippet": "snippet"}  # fmt: skip
SNIPPET_CHARS = 200
RELEVANT_HTML = '<span class="relevant" title="SciFact judges it relevant">✓ relevant</span>'


def sigmoid(logit: float) -> float:
    """The logistic function: a raw score squashed into 0–1 (not a calibrated probability)."""
    if logit >= 0:
        return 1.0 / (1.0 + math.exp(-logit))
    z = math.exp(logit)
    return z / (1.0 + z)


def _arrow(hit) -> str:
    """``↑ n`` / ``↓ n`` / ``=`` for a reranked hit, ``–`` when nothing was reranked."""
    if hit.rerank_rank is None:
        return "–"
    moved = hit.movement
    return "=" if moved == 0 else (f"↑ {moved}" if moved > 0 else f"↓ {-moved}")


def results_frame(outcome: SearchOutcome, relevant: set[str] | None = None) -> pd.DataFrame:
    """The search results: final rank, first-stage rank, movement, scores, title and snippet.

    Args:
        outcome: The search.
        relevant: Ids judged relevant to the query (fills the ``relevant`` column); ``None`` leaves it empty.
    """
    import pandas as pd

    records = [
        {
            "rank": h.final_rank,
            "first_stage_rank": h.first_stage_rank,
            "movement": _arrow(h),
            "rerank_score": None if h.rerank_score is None else round(h.rerank_score, 4),
            "score_0_1": None if h.rerank_score is None else round(sigmoid(h.rerank_score), 4),
            "first_stage_score": round(h.first_stage_score, 4),
            "doc_id": h.doc_id,
            "relevant": ("yes" if h.doc_id in relevant else "") if relevant is not None else "",
            "title": h.title,
            "snippet": _snippet(h.text),
        }
        for h in outcome.result.hits
    ]
    return pd.DataFrame.from_records(records, columns=RESULT_COLUMNS)


def _snippet(text: str, chars: int = SNIPPET_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= chars else text[:chars].rsplit(" ", 1)[0] + "…"


def results_table(frame: pd.DataFrame, normalise: bool = False) -> pd.DataFrame:
    """:func:`results_frame` as the app's table shows it: short headers, no column that is empty for every row (the
    score without a reranker, titles of untitled documents, relevance of an unjudged query), and the 0–1 column only
    when asked for."""
    keep = []
    for column in frame.columns:
        values = frame[column]
        empty = values.isna().all() or (values.astype(str).str.strip() == "").all()
        if empty or (column == "score_0_1" and not normalise):
            continue
        keep.append(column)
    return frame[keep].rename(columns=RESULT_HEADERS)


def _bar_widths(outcome: SearchOutcome, normalise: bool) -> dict[str, float]:
    """Each candidate's bar, 0–1: sigmoid of the reranker score when normalising, else the score (reranker's, or the
    first stage's without one) placed between the lowest and highest of the K candidates."""
    cands = outcome.result.candidates
    reranked = outcome.result.reranker is not None
    if reranked and normalise:
        return {h.doc_id: sigmoid(h.rerank_score or 0.0) for h in cands}
    scores = {h.doc_id: (h.rerank_score if reranked else h.first_stage_score) or 0.0 for h in cands}
    low, high = min(scores.values(), default=0.0), max(scores.values(), default=1.0)
    return {d: 1.0 if high == low else (s - low) / (high - low) for d, s in scores.items()}


def _moved_html(hit) -> str:
    arrow = _arrow(hit)
    kind = "up" if arrow.startswith("↑") else ("down" if arrow.startswith("↓") else "same")
    return f'<span class="moved {kind}" title="first-stage rank {hit.first_stage_rank}">{html.escape(arrow)}</span>'


def _score_html(hit, width: float, reranked: bool, normalise: bool) -> str:
    if reranked:
        value = f"{hit.rerank_score:.3f}" + (f" · {sigmoid(hit.rerank_score):.2f}" if normalise else "")
    else:
        value = f"{hit.first_stage_score:.3f}"
    return (f'<span class="score"><span class="bar"><span style="width:{100 * width:.0f}%"></span></span>'
            f'<span class="value">{value}</span></span>')


def results_html(outcome: SearchOutcome, relevant: set[str] | None = None, normalise: bool = False) -> str:
    """The results as rows that expand to the whole document: rank, movement, title and snippet, and a score bar.

    Args:
        outcome: The search.
        relevant: Ids judged relevant to the query (marked ✓); ``None`` marks nothing.
        normalise: Show sigmoid(score) beside the raw score, and size the bars by it.
    """
    hits = outcome.result.hits
    if not hits:
        return '<div class="ettin-results empty">No results.</div>'
    reranked = outcome.result.reranker is not None
    widths = _bar_widths(outcome, normalise)
    rows = []
    for h in hits:
        title = html.escape(h.title.strip())
        mark = RELEVANT_HTML if relevant and h.doc_id in relevant else ""
        details = (f"id {html.escape(h.doc_id)} · first-stage rank {h.first_stage_rank} · first-stage score "
                   f"{h.first_stage_score:.4f}" + (f" · reranker score {h.rerank_score:.4f}" if reranked else ""))
        rows.append(
            f'<details class="hit"><summary>'
            f'<span class="rank">{h.final_rank}</span>{_moved_html(h) if reranked else ""}'
            f'<span class="text">{f"<b>{title}</b> " if title else ""}{mark}'
            f'<span class="snippet">{html.escape(_snippet(h.text))}</span></span>'
            f"{_score_html(h, widths.get(h.doc_id, 0.0), reranked, normalise)}</summary>"
            f'<div class="document"><p>{html.escape(h.text)}</p><small>{details}</small></div></details>'
        )
    what = "reranker score" + (" · 0–1" if normalise else "") if reranked else "first-stage score"
    head = (f'<div class="head"><span>rank</span>{"<span>moved</span>" if reranked else ""}<span>document (click to '
            f"read it all)</span><span>{what}</span></div>")
    return f'<div class="ettin-results">{head}{"".join(rows)}</div>'


def ranking_code(outcome: SearchOutcome, model_name: str) -> str:
    """Python that reproduces the shown ranking with sentence-transformers: the same model, precision, candidates (in
    first-stage order) and raw scores.

    Args:
        outcome: A search that ran a reranker.
        model_name: What ``CrossEncoder(...)`` loads: a Hub id or a local folder.
    """
    result = outcome.result
    candidates = sorted(result.candidates, key=lambda h: h.first_stage_rank)
    documents = [f"{h.title} {h.text}".strip() for h in candidates]  # the text the reranker saw (Corpus.document_text)
    settings = getattr(outcome, "settings", None)
    kwargs = ""
    if settings is not None:  # the precision and length limit the app ran the model with
        kwargs = f', model_kwargs={{"dtype": torch.{settings.dtype}}}'
        kwargs += f", max_length={settings.max_length}" if settings.max_length else ""
    top_n = len(result.hits)
    return "\n".join([
        "import torch",
        "from sentence_transformers import CrossEncoder",
        "",
        f"model = CrossEncoder({json.dumps(model_name)}{kwargs})",
        f"query = {json.dumps(result.query, ensure_ascii=False)}",
        f"# the {len(documents)} first-stage candidates ({result.first_stage}), in first-stage order: title + text",
        "documents = " + json.dumps(documents, ensure_ascii=False, indent=4),
        "# raw logits, as the app shows them (the model's default activation would squash them)",
        f"ranking = model.rank(query, documents, top_k={top_n}, activation_fn=torch.nn.Identity())",
        "for hit in ranking:",
        '    print(hit["corpus_id"], round(hit["score"], 4), documents[hit["corpus_id"]][:80])',
    ])  # fmt: skip


def movement_frame(outcome: SearchOutcome) -> pd.DataFrame:
    """Every candidate: first-stage rank, final rank, whether it made the shown top and whether a reranker scored it."""
    import pandas as pd

    shown = {h.doc_id for h in outcome.result.hits}
    records = [
        {
            "doc_id": h.doc_id,
            "title": h.title or h.text[:60],
            "first_stage_rank": h.first_stage_rank,
            "final_rank": h.final_rank,
            "shown": h.doc_id in shown,
            "reranked": h.rerank_rank is not None,
        }
        for h in outcome.result.candidates
    ]
    columns = ["doc_id", "title", "first_stage_rank", "final_rank", "shown", "reranked"]
    return pd.DataFrame.from_records(records, columns=columns)


def timings_frame(outcome: SearchOutcome) -> pd.DataFrame:
    """Seconds per stage of one search, setup first and the total (without setup) last."""
    import pandas as pd

    t = outcome.timings
    rows = [
        ("setup (load models, index/embed corpus)", t["setup_s"]),
        ("embed query", t["embed_query_s"]),
        ("first-stage search", t["search_s"]),
        ("rerank", t["rerank_s"]),
        ("search total (excl. setup)", t["total_s"]),
    ]
    return pd.DataFrame({"stage": [r[0] for r in rows], "seconds": [round(r[1], 4) for r in rows]})
