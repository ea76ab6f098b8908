"""The Explore view's logic: which queries a system helped or hurt compared to its baseline, and why (no Gradio here).

A *comparison* is two regenerated results of the same dataset split that hold per-query scores (schema
``ettin.retrieval/2``): a reranked result against its first stage alone, or two first stages against each other. From it
come the per-query NDCG@10 changes (a histogram, wins/ties/losses, a table sorted by change) and, for one query, both
top-10 rankings side by side with the judged-relevant documents marked. Document and query texts and the judgements
come from the bundled dataset when the result was made on it; results made with random-weight replicas are offered but
labelled as such.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ettin.errors import UserError
from ettin.metrics import MAIN_METRIC
from eval.leaderboard.stats import StatsSettings, bootstrap_interval, paired_test
from eval.retrieval.store import DEFAULT_RESULTS_DIR, StoredRecord, has_per_query, read_records

if TYPE_CHECKING:
    import pandas as pd

    from ettin.corpus import BeirDataset

__all__ = [
    "RANDOM_LABEL",
    "TIE_TOLERANCE",
    "Comparison",
    "ExploreError",
    "QueryDetail",
    "RELEVANT_MARK",
    "comparisons",
    "dataset_for",
    "escape_markdown",
    "outcome_counts",
    "query_changes",
    "query_detail",
    "summary_markdown",
]

RANDOM_LABEL = "⚠️ random weights — scores meaningless"
TIE_TOLERANCE = 1e-9  # |change| at most this counts as a tie
RELEVANT_MARK = "✓ relevant"
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~])")


class ExploreError(UserError, ValueError):
    """A comparison or query the Explore view does not know; the message says what to pick instead."""


def escape_markdown(text: str) -> str:
    """``text`` with Markdown and HTML specials backslash-escaped, so data never becomes markup."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(text))


def _system(record: dict[str, Any]) -> str:
    reranker = record.get("reranker")
    return record["first_stage"] if not reranker else f"{record['first_stage']} » {reranker}"


@dataclass(frozen=True)
class Comparison:
    """A result (``system``) against a ``baseline`` on the same dataset split."""

    baseline: StoredRecord
    system: StoredRecord

    @property
    def random_init(self) -> bool:
        return bool(self.baseline.record.get("random_init") or self.system.record.get("random_init"))

    @property
    def label(self) -> str:
        b, s = self.baseline.record, self.system.record
        text = f"{b['dataset']}/{b['split']}: {_system(b)} → {_system(s)}"
        return f"{text} ({RANDOM_LABEL})" if self.random_init else text

    @property
    def names(self) -> tuple[str, str]:
        return _system(self.baseline.record), _system(self.system.record)


def comparisons(results_dir: str | Path | None = None) -> list[Comparison]:
    """Every comparison the results store allows: each reranked result against its first stage alone, then each pair of
    first stages alone; real-weight comparisons first."""
    stored, _ = read_records(results_dir or DEFAULT_RESULTS_DIR)
    usable = [s for s in stored if has_per_query(s.record)]
    by_split: dict[tuple[str, str], list[StoredRecord]] = {}
    for s in usable:
        by_split.setdefault((s.record["dataset"], s.record["split"]), []).append(s)
    found: list[Comparison] = []
    for records in by_split.values():
        alone = {s.record["first_stage"]: s for s in records if not s.record.get("reranker")}
        for s in records:
            base = alone.get(s.record["first_stage"])
            if s.record.get("reranker") and base is not None:
                found.append(Comparison(base, s))
        for a, b in combinations(sorted(alone), 2):
            found.append(Comparison(alone[a], alone[b]))
    return sorted(found, key=lambda c: c.random_init)


@lru_cache(maxsize=4)
def _bundled(split: str) -> BeirDataset:
    from ettin.corpus import scifact

    return scifact(split)


def dataset_for(comparison: Comparison) -> BeirDataset | None:
    """The bundled dataset a comparison's results were made on (for texts and judgements), or None when not bundled."""
    prov = (comparison.system.record.get("provenance") or {}).get("dataset") or {}
    if not str(prov.get("source", "")).startswith("bundled data/scifact"):
        return None
    try:
        return _bundled(comparison.system.record["split"])
    except (OSError, ValueError):
        return None


def _ndcg(record: dict[str, Any]) -> dict[str, float]:
    return {q: float(v[MAIN_METRIC]) for q, v in record["per_query"].items()}


def query_changes(comparison: Comparison, queries: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per query both results hold: query id, text, NDCG@10 before and after, change; biggest gain first."""
    import pandas as pd

    before, after = _ndcg(comparison.baseline.record), _ndcg(comparison.system.record)
    common = sorted(set(before) & set(after))
    frame = pd.DataFrame(
        {
            "query_id": common,
            "query": [(queries or {}).get(q, "") for q in common],
            "ndcg10_before": [before[q] for q in common],
            "ndcg10_after": [after[q] for q in common],
        }
    )
    frame["change"] = frame["ndcg10_after"] - frame["ndcg10_before"]
    return frame.sort_values(["change", "query_id"], ascending=[False, True], kind="stable").reset_index(drop=True)


def outcome_counts(changes: Sequence[float]) -> dict[str, int]:
    """Wins, ties and losses of the system over the baseline (a tie: the change is within :data:`TIE_TOLERANCE`)."""
    wins = sum(1 for c in changes if c > TIE_TOLERANCE)
    losses = sum(1 for c in changes if c < -TIE_TOLERANCE)
    return {"wins": wins, "ties": len(changes) - wins - losses, "losses": losses}


def summary_markdown(comparison: Comparison, changes: pd.DataFrame, settings: StatsSettings = StatsSettings()) -> str:
    """Means, the paired interval of the mean change, the paired test's p-value, wins/ties/losses, warnings."""
    base, system = comparison.names
    counts = outcome_counts(changes["change"].tolist())
    lines = []
    if comparison.random_init:
        lines.append(f"**{RANDOM_LABEL}.** A replica reranks at random: the changes below are chance, not skill.")
    if changes.empty:
        return "\n\n".join([*lines, "These two results share no query."])
    by_id = changes.sort_values("query_id")  # the order the leaderboard resamples in: the same seed gives the same interval
    gain = bootstrap_interval(by_id["change"], settings)
    p = paired_test(by_id["ndcg10_after"], by_id["ndcg10_before"])
    lines.append(
        f"**{escape_markdown(system)}** vs **{escape_markdown(base)}** on {len(changes)} queries: mean NDCG@10 "
        f"{changes['ndcg10_before'].mean():.4f} → {changes['ndcg10_after'].mean():.4f}, change **{gain.mean:+.4f}** "
        f"(95% paired bootstrap interval {gain.low:+.4f} to {gain.high:+.4f}; paired t-test p = {p:.3g}, "
        f"one comparison so Holm changes nothing)."
    )
    lines.append(
        f"**{counts['wins']} wins, {counts['ties']} ties, {counts['losses']} losses** "
        f"(queries whose NDCG@10 went up / stayed / went down). Pick a query below to see both rankings."
    )
    return "\n\n".join(lines)


@dataclass
class QueryDetail:
    """One query: its text, both NDCG@10 values, both top-10 rankings (rank, document, relevant), relevant ones missed."""

    header: str
    before: pd.DataFrame
    after: pd.DataFrame
    missed: str


def _doc_label(dataset: BeirDataset | None, doc_id: str, index: dict[str, int]) -> str:
    if dataset is None or doc_id not in index:
        return doc_id
    i = index[doc_id]
    title = dataset.corpus.title(i) or dataset.corpus.texts[i]
    return f"{doc_id}: {title[:110]}{'…' if len(title) > 110 else ''}"


@lru_cache(maxsize=4)
def _doc_index(split: str) -> dict[str, int]:
    return {d: i for i, d in enumerate(_bundled(split).corpus.ids)}


def query_detail(comparison: Comparison, query_id: str, dataset: BeirDataset | None = None) -> QueryDetail:
    """Both top-10 rankings of ``query_id`` with the judged-relevant documents marked.

    Raises:
        KeyError: a query id neither result holds.
    """
    import pandas as pd

    base_rec, sys_rec = comparison.baseline.record, comparison.system.record
    if query_id not in base_rec["per_query"] or query_id not in sys_rec["per_query"]:
        raise KeyError(f"query {query_id!r} is not in both results")
    before = base_rec.get("rankings", {}).get(query_id, [])
    after = sys_rec.get("rankings", {}).get(query_id, [])
    relevant = {d for d, g in (dataset.qrels.get(query_id, {}) if dataset else {}).items() if g > 0}
    index = _doc_index(sys_rec["split"]) if dataset is not None else {}
    base_name, sys_name = comparison.names

    def ranking(ids: list[str]) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "rank": range(1, len(ids) + 1),
                "document": [_doc_label(dataset, d, index) for d in ids],
                "relevant": [RELEVANT_MARK if d in relevant else "" for d in ids],
            }
        )
    ndcg_b = base_rec["per_query"][query_id][MAIN_METRIC]
    ndcg_a = sys_rec["per_query"][query_id][MAIN_METRIC]
    text = dataset.queries.get(query_id, "") if dataset else ""
    header = (
        f"**Query {escape_markdown(query_id)}**" + (f": {escape_markdown(text)}" if text else "")
        + f"\n\nNDCG@10 **{ndcg_b:.4f}** ({escape_markdown(base_name)}) → **{ndcg_a:.4f}** ({escape_markdown(sys_name)}),"
        f" change **{ndcg_a - ndcg_b:+.4f}**."
    )  # fmt: skip
    if dataset is None:
        header += "\n\nThis dataset is not bundled with the app: document ids only, relevance not marked."
    missed_ids = sorted(relevant - set(before) - set(after))
    missed = ""
    if missed_ids:
        missed = "Judged relevant but in neither top 10: " + "; ".join(
            escape_markdown(_doc_label(dataset, d, index)) for d in missed_ids
        )
    return QueryDetail(header, ranking(before), ranking(after), missed)
