"""In-domain fine-tuning from relevance labels: a BEIR folder's qrels, hard negatives mined from the first stages.

``python -m train fit --labels DATASET`` builds its training rows here:

* **positives**: every document the split's qrels judge relevant (grade > 0) for a query;
* **hard negatives**: ``--negatives`` documents drawn (seeded, per query) from the first stages' interleaved top
  ``--mine-depth`` (BM25 + a dense embedder through :func:`train.data.candidates.build_candidates`, the project's
  first stages), never a document the qrels judge for that query (any grade);
* **loss**: ``bce`` (default) = ``BinaryCrossEntropyLoss`` on (query, document, label) pairs with ``pos_weight`` =
  negatives per positive, the loss sentence-transformers' reranker training guide starts from with mined hard
  negatives (pointwise, so every pair is independent and a query with several positives needs no special case);
  ``listnet`` = ``ListNetLoss`` and ``lambdaloss`` = ``LambdaLoss`` (NDCG-weighted) on one (query, [documents],
  [labels]) list per query (listwise: they need several labelled documents per query, which mined negatives give);
* **distillation** (optional, ``--distill-from TEACHER``): each target becomes ``(1 - w) * label + w * t`` with ``t``
  the teacher's score min-max scaled to [0, 1] within the query and ``w`` = ``--distill-weight`` (soft targets, which
  both losses accept).

``sentence_transformers.util.mine_hard_negatives`` mines with one dense model; the recipe here mines from BM25 and an
embedder together (the same candidates the evaluation reranks), so it reuses
:func:`train.data.candidates.build_candidates`. The label-specific steps of ``fit --labels`` (mining with the run's
settings, its loss, its evaluator and the ``--test-split`` evaluation) are at the end of this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from train.beir import load_beir_spec
from train.tables import TrainDataError

if TYPE_CHECKING:
    import pyarrow as pa

    from ettin.corpus import BeirDataset
    from train.fit_config import FitConfig

__all__ = [
    "LOSSES",
    "MINED_FILE",
    "PAIRS_FILE",
    "DEV_QUERY_IDS",
    "MiningConfig",
    "mine_label_rows",
    "add_distillation",
    "trainer_table",
    "make_label_loss",
    "prepare_label_data",
    "label_data",
    "evaluator_config",
    "make_loss",
    "evaluate_test_split",
]

LOSSES = ("bce", "listnet", "lambdaloss")
_LISTWISE = ("listnet", "lambdaloss")
MINED_FILE = "labels_mined.parquet"
PAIRS_FILE = "labels_train.parquet"
DEV_QUERY_IDS = "dev_query_ids.json"


@dataclass(frozen=True)
class MiningConfig:
    """How hard negatives are mined (recorded in the mined table's manifest; a changed setting re-mines)."""

    first_stages: tuple[str, ...]
    negatives: int = 7
    depth: int = 30
    skip: int = 0
    seed: int = 12

    def check(self) -> None:
        """Raise :class:`TrainDataError` on settings that cannot give negatives."""
        if not self.first_stages:
            raise TrainDataError("--first-stages: give at least one first stage (e.g. bm25)")
        if self.negatives < 1:
            raise TrainDataError("--negatives must be at least 1")
        if not 0 <= self.skip < self.depth:
            raise TrainDataError(f"--mine-skip {self.skip} must be >= 0 and below --mine-depth {self.depth}")


def mine_label_rows(
    dataset: BeirDataset, query_ids: Sequence[str], mining: MiningConfig, show_progress: bool = True
) -> pa.Table:
    """Positives from the qrels plus seeded hard negatives from the first stages, one row per (query, document).

    Args:
        dataset: The labelled split (queries, corpus, qrels).
        query_ids: The queries to use (each must have at least one relevant document; others are skipped).
        mining: First stages, negatives per query, the rank window ``[skip, depth)`` they are drawn from, seed.
        show_progress: Show the first stages' progress.

    Returns:
        Columns ``query_id, query, doc_id, document, label (1.0/0.0), first_stage_rank (-1: a positive the first stages
        missed), is_positive``, grouped by query (positives first).

    Raises:
        TrainDataError: no query has a relevant document, or bad mining settings.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    from train.data.candidates import build_candidates
    from train.selection import query_rng

    mining.check()
    qids = [q for q in sorted(query_ids) if any(g > 0 for g in dataset.qrels.get(q, {}).values())]
    if not qids:
        raise TrainDataError(f"{dataset.name}/{dataset.split}: none of the queries has a relevant document in the qrels")
    cands = build_candidates(dataset, list(mining.first_stages), depth=mining.depth, query_ids=qids, show_progress=show_progress)
    cand_q = pc.cast(cands.column("query_id"), pa.string()).to_pylist()
    cand_d = pc.cast(cands.column("doc_id"), pa.string()).to_pylist()
    cand_r = cands.column("first_stage_rank").to_pylist()
    by_query: dict[str, list[tuple[str, int]]] = {}
    for q, d, r in zip(cand_q, cand_d, cand_r):
        by_query.setdefault(q, []).append((d, r))
    position = {d: i for i, d in enumerate(dataset.corpus.ids)}
    rows: dict[str, list[Any]] = {k: [] for k in ("query_id", "query", "doc_id", "document", "label", "first_stage_rank")}
    rows["is_positive"] = []
    for qid in qids:
        judged = dataset.qrels.get(qid, {})
        rank_of = {d: r for d, r in by_query.get(qid, [])}
        positives = sorted((d for d, g in judged.items() if g > 0 and d in position), key=lambda d: rank_of.get(d, 1 << 30))
        window = [d for d, r in by_query.get(qid, []) if mining.skip <= r and d not in judged]
        rng = query_rng(mining.seed, qid)
        take = min(mining.negatives, len(window))
        negatives = [window[i] for i in sorted(rng.choice(len(window), size=take, replace=False))] if take else []
        for doc, label in [*((d, 1.0) for d in positives), *((d, 0.0) for d in negatives)]:
            rows["query_id"].append(qid)
            rows["query"].append(dataset.queries[qid])
            rows["doc_id"].append(doc)
            rows["document"].append(dataset.corpus.document_text(position[doc]))
            rows["label"].append(label)
            rows["first_stage_rank"].append(rank_of.get(doc, -1))
            rows["is_positive"].append(label == 1.0)
    return pa.table(
        {
            **{k: pa.array(rows[k], type=pa.string()) for k in ("query_id", "query", "doc_id", "document")},
            "label": pa.array(rows["label"], type=pa.float32()),
            "first_stage_rank": pa.array(rows["first_stage_rank"], type=pa.int32()),
            "is_positive": pa.array(rows["is_positive"], type=pa.bool_()),
        }
    )


def add_distillation(mined: pa.Table, teacher: Any, weight: float) -> pa.Table:
    """Add ``teacher_score`` (raw) and replace ``label`` by ``(1 - weight) * label + weight * t``, ``t`` the teacher's score
    min-max scaled to [0, 1] within each query (a query whose scores are all equal gets 0.5)."""
    import pyarrow as pa

    if not 0.0 <= weight <= 1.0:
        raise TrainDataError("--distill-weight must be between 0 and 1")
    pairs = list(zip(mined.column("query").to_pylist(), mined.column("document").to_pylist()))
    raw = np.asarray(teacher.score(pairs), dtype=np.float64).reshape(-1)
    qids = np.asarray(mined.column("query_id").to_pylist(), dtype=object)
    scaled = np.empty_like(raw)
    for qid in dict.fromkeys(qids.tolist()):
        idx = np.flatnonzero(qids == qid)
        lo, hi = raw[idx].min(), raw[idx].max()
        scaled[idx] = (raw[idx] - lo) / (hi - lo) if hi > lo else 0.5
    label = mined.column("label").to_numpy().astype(np.float64)
    mixed = (1.0 - weight) * label + weight * scaled
    out = mined.append_column("teacher_score", pa.array(raw.astype(np.float32)))
    return out.set_column(out.schema.get_field_index("label"), "label", pa.array(mixed.astype(np.float32)))


def trainer_table(mined: pa.Table, loss: str) -> pa.Table:
    """The trainer's columns: ``query, document, label`` pairs (``bce``) or one ``query, docs, labels`` list per query
    (``listnet``, ``lambdaloss``)."""
    import pyarrow as pa

    if loss == "bce":
        return mined.select(["query", "document", "label"])
    if loss not in _LISTWISE:
        raise TrainDataError(f"--loss {loss!r}: choose one of {', '.join(LOSSES)}")
    queries: dict[str, tuple[str, list[str], list[float]]] = {}
    for qid, q, d, y in zip(*(mined.column(c).to_pylist() for c in ("query_id", "query", "document", "label"))):
        queries.setdefault(qid, (q, [], []))
        queries[qid][1].append(d)
        queries[qid][2].append(y)
    values = list(queries.values())
    return pa.table(
        {
            "query": pa.array([v[0] for v in values], type=pa.string()),
            "docs": pa.array([v[1] for v in values], type=pa.list_(pa.string())),
            "labels": pa.array([v[2] for v in values], type=pa.list_(pa.float32())),
        }
    )


def make_label_loss(model: Any, loss: str, mined: pa.Table) -> tuple[Any, str]:
    """The sentence-transformers loss for ``loss`` and its description (``pos_weight`` of BCE = negatives per positive)."""
    import torch
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss, LambdaLoss, ListNetLoss

    if loss == "listnet":
        return ListNetLoss(model), "ListNetLoss (listwise: one list of positives + mined negatives per query)"
    if loss == "lambdaloss":
        return LambdaLoss(model), "LambdaLoss (listwise, NDCG-weighted: one list of positives + mined negatives per query)"
    if loss != "bce":
        raise TrainDataError(f"--loss {loss!r}: choose one of {', '.join(LOSSES)}")
    hard = mined.column("is_positive").to_numpy(zero_copy_only=False).astype(bool)
    ratio = float((~hard).sum()) / max(int(hard.sum()), 1)
    return (
        BinaryCrossEntropyLoss(model, pos_weight=torch.tensor(ratio)),
        f"BinaryCrossEntropyLoss (pointwise, pos_weight {ratio:.2f} = negatives per positive)",
    )


@dataclass
class LabelData:
    """What :func:`prepare_label_data` hands to ``fit``."""

    train_file: Path
    mined: pa.Table
    dev_query_ids: Path | None
    info: dict[str, Any]


def prepare_label_data(
    spec: str,
    split: str,
    out: Path,
    mining: MiningConfig,
    loss: str,
    holdout: int = 0,
    distill_from: str | None = None,
    distill_weight: float = 0.5,
    show_progress: bool = True,
) -> LabelData:
    """Mine (once; a rerun with the same settings reuses ``out/labels_mined.parquet``) and write the trainer's table.

    Args:
        spec: ``scifact`` (bundled) or a BEIR folder.
        split: The qrels split whose queries are the training queries.
        out: The run's output folder (the tables and the dev query ids go there).
        mining: Hard-negative settings.
        loss: ``bce``, ``listnet`` or ``lambdaloss``.
        holdout: Queries of the split held out (seeded) as the in-training dev set, written to ``out/dev_query_ids.json``
            (reused on a rerun; one drawn with another ``holdout`` or seed is refused, :func:`train.splits.holdout_ids`).
        distill_from: Optional teacher (see :func:`train.score.make_teacher`) mixed into the targets.
        distill_weight: The teacher's share of each target.
        show_progress: Show progress bars.

    Raises:
        TrainDataError: unknown loss, unreadable dataset, bad settings, a ``dev_query_ids.json`` of other settings.
    """
    import pyarrow.parquet as pq

    from train.splits import holdout_ids
    from train.tables import write_manifest, write_parquet_atomic

    if loss not in LOSSES:
        raise TrainDataError(f"--loss {loss!r}: choose one of {', '.join(LOSSES)}")
    mining.check()
    dataset = load_beir_spec(spec, split)
    out.mkdir(parents=True, exist_ok=True)
    dev_file = out / DEV_QUERY_IDS if holdout else None
    if not holdout and (out / DEV_QUERY_IDS).is_file():
        raise TrainDataError(
            f"{DEV_QUERY_IDS} in {out.name}/ holds the dev queries of a run with --holdout; without --holdout they would "
            "now be trained on: give the same --holdout, or use a new output folder"
        )
    qids = sorted(dataset.queries)
    if dev_file is not None:  # drawn once; a file drawn with another --holdout (or seed) is refused
        held = set(holdout_ids(dev_file, qids, holdout, mining.seed))
        qids = [q for q in qids if q not in held]
    settings = {
        "dataset": dataset.name, "split": split, "dataset_fingerprint": dataset.fingerprint, "queries": len(qids),
        "holdout": holdout, "mining": {**asdict(mining), "first_stages": list(mining.first_stages)}, "distill_from": distill_from,
        "distill_weight": distill_weight if distill_from else None,
    }  # fmt: skip
    mined_file = out / MINED_FILE
    manifest = mined_file.with_name(mined_file.name + ".json")
    mined = None
    if mined_file.is_file() and manifest.is_file():
        import json

        before = json.loads(manifest.read_text(encoding="utf-8"))
        if {k: before.get(k) for k in settings} == settings:
            mined = pq.read_table(mined_file)
    if mined is None:
        mined = mine_label_rows(dataset, qids, mining, show_progress=show_progress)
        if distill_from:
            from train.score import make_teacher

            mined = add_distillation(mined, make_teacher(distill_from), distill_weight)
        write_parquet_atomic(mined, mined_file)
        write_manifest(mined_file, {**settings, "kind": "label-mining", "rows": mined.num_rows})
    train_file = out / PAIRS_FILE
    write_parquet_atomic(trainer_table(mined, loss), train_file)
    positives = int(mined.column("is_positive").to_numpy(zero_copy_only=False).sum())
    info = {**settings, "loss": loss, "rows": mined.num_rows, "positives": positives,
            "training_queries": len(set(mined.column("query_id").to_pylist()))}  # fmt: skip
    return LabelData(train_file, mined, dev_file, info)


# --------------------------------------------------------------------------------------------------------------------
# The label-specific steps of ``python -m train fit --labels`` (:func:`train.fit.fit`)


def label_data(cfg: FitConfig, recipe: dict[str, Any], loss_name: str, out: Path, show_progress: bool):
    """Mine (or reuse) the label run's training rows (:func:`prepare_label_data`) with ``cfg``'s mining settings."""
    stages = tuple(s.strip() for s in cfg.first_stages.split(",") if s.strip())
    mining = MiningConfig(stages, negatives=cfg.negatives, depth=cfg.mine_depth, skip=cfg.mine_skip, seed=recipe["seed"])
    return prepare_label_data(
        cfg.labels, cfg.split, out, mining, loss_name, holdout=cfg.holdout, distill_from=cfg.distill_from,
        distill_weight=cfg.distill_weight, show_progress=show_progress,
    )  # fmt: skip


def evaluator_config(cfg: FitConfig, labels: Any) -> FitConfig:
    """A label run with ``--holdout`` and no ``--eval-data`` evaluates on its held-out queries of the labelled split."""
    from dataclasses import replace

    if labels is None or labels.dev_query_ids is None or cfg.eval_data not in ("", "none"):
        return cfg
    return replace(cfg, eval_data=cfg.labels, eval_split=cfg.split, eval_query_ids=str(labels.dev_query_ids))


def make_loss(student: Any, loss_name: str, labels: Any) -> tuple[Any, str]:
    """The sentence-transformers loss of the run and its description: ``MSELoss`` on teacher scores, else
    :func:`make_label_loss`."""
    if loss_name == "mse":
        from sentence_transformers.cross_encoder.losses import MSELoss

        return MSELoss(student), "MSELoss (raw teacher scores)"
    return make_label_loss(student, loss_name, labels.mined)


def evaluate_test_split(cfg: FitConfig, recipe: dict[str, Any], labels: Any, student: Any, show_progress: bool) -> dict[str, Any]:
    """NDCG@10 on ``cfg.test_split``: the first stage, the starting model and the trained one reranking the same
    candidates (the first stages of the mining, interleaved, top ``cfg.test_depth``; see :func:`train.evaluate.split_candidates`)."""
    import transformers

    from train.evaluate import cross_encoder_scorer, evaluate_scorers, split_candidates
    from train.student import build_student

    test = load_beir_spec(cfg.labels, cfg.test_split)
    stages = list(labels.info["mining"]["first_stages"])
    cands, cands_sha = split_candidates(test, stages, cfg.test_depth, Path(cfg.out) / f"{cfg.test_split}_candidates_{cfg.test_depth}.parquet", show_progress)
    transformers.set_seed(recipe["seed"])
    base = build_student(recipe["backbone"], recipe["size"], cfg.max_length)
    scores = evaluate_scorers(
        test, cands, {"base": cross_encoder_scorer(base, show_progress=show_progress),
                      "trained": cross_encoder_scorer(student, show_progress=show_progress)},
    )  # fmt: skip
    return {
        "split": cfg.test_split, "queries": len(test.queries), "pairs": cands.num_rows, "depth": cfg.test_depth,
        "first_stages": stages, "candidates_sha256": cands_sha, "ndcg@10": scores,
        "beats_first_stage": scores["trained"] > scores["first_stage"],
    }  # fmt: skip
