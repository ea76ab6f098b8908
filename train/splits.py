"""Which queries a run trains on, picks its checkpoint on (dev) and reports (test): kept apart, checked and recorded.

* :func:`check_splits`: no default touches a test split, and the in-training evaluator (which picks the best checkpoint:
  ``load_best_model_at_end``) never runs on the split named ``test`` nor on ``--test-split``; ``--test-split`` is never
  the split trained on.
* :func:`holdout_ids`: the seeded dev hold-out (``dev_query_ids.json``) is drawn once and reused only while it *is* the
  draw of the run's settings; a file drawn with another ``--holdout N`` (or seed, or query set) is refused, since
  checkpoints and mined rows next to it may have trained on queries it would now call dev.
* :func:`query_sets` / :func:`check_disjoint`: the train, dev and test query sets of a run, asserted pairwise disjoint
  (by id within one dataset, by query text across datasets or for training rows of unknown origin) and recorded
  (counts and SHA-256 in ``train_config.json``, the ids in ``query_ids.json``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from train.tables import TrainDataError

if TYPE_CHECKING:
    from train.fit_config import FitConfig

__all__ = [
    "QUERY_IDS_FILE",
    "TEST_SPLIT_NAME",
    "QuerySet",
    "check_splits",
    "split_queries",
    "holdout_ids",
    "query_sets",
    "check_disjoint",
    "record_query_sets",
    "check_holdout_run",
]

QUERY_IDS_FILE = "query_ids.json"
TEST_SPLIT_NAME = "test"
_NO_EVALUATOR = ("", "none")


def _local_evaluator(cfg: FitConfig) -> bool:
    return cfg.eval_data not in (*_NO_EVALUATOR, "nanobeir")


def check_splits(cfg: FitConfig) -> None:
    """Refuse split settings that select or train on the test split.

    Raises:
        TrainDataError: ``--test-split`` equal to ``--split``; a local ``--eval-data`` without ``--eval-split``; an
            ``--eval-split`` that is the split named ``test`` or the ``--test-split``.
    """
    if cfg.labels and cfg.test_split and cfg.test_split == cfg.split:
        raise TrainDataError(
            f"--test-split {cfg.test_split} is the split trained on (--split {cfg.split}): a test split must hold queries "
            "the run never saw; give another split (e.g. --split train --test-split test)"
        )
    if not _local_evaluator(cfg):
        return
    if not cfg.eval_split:
        raise TrainDataError(
            f"--eval-data {cfg.eval_data} needs --eval-split: the split whose queries pick the best checkpoint (a dev "
            "split, or a training split with --eval-query-ids of held-out queries; with --labels, --holdout N does this)"
        )
    tests = {TEST_SPLIT_NAME, cfg.test_split} - {None}
    if cfg.eval_split in tests:
        raise TrainDataError(
            f"--eval-split {cfg.eval_split} is a test split: the in-training evaluator picks the checkpoint that is kept, "
            "so the model would be selected on test; evaluate on a dev split, or hold out training queries (--holdout N "
            "with --labels, or --eval-split train --eval-query-ids FILE)"
        )


def split_queries(spec: str, split: str) -> dict[str, str]:
    """Query id -> text of every query the split's qrels judge (``scifact`` or a BEIR folder; the corpus is not read).

    Raises:
        TrainDataError: the dataset or its qrels cannot be read.
    """
    from ettin.corpus import DataFormatError, load_qrels, load_queries
    from ettin.paths import BUNDLED_SCIFACT

    folder = BUNDLED_SCIFACT if spec.strip().lower() == "scifact" else Path(spec)
    try:
        queries = load_queries(folder)
        judged = load_qrels(folder / "qrels" / f"{split}.tsv")
    except DataFormatError as exc:
        raise TrainDataError(str(exc)) from None
    return {q: queries[q] for q in sorted(judged) if q in queries}


def holdout_ids(path: Path, query_ids: Sequence[str], size: int, seed: int, flag: str = "--holdout") -> list[str]:
    """The seeded dev hold-out of ``query_ids`` (:func:`train.selection.draw_holdout`), written once to ``path``.

    A file already there is reused only when it holds exactly the draw of these settings.

    Raises:
        TrainDataError: ``path`` holds another draw (other ``size``, seed or query set): the run's folder may hold
            checkpoints or mined rows trained on queries that would now be dev queries.
    """
    from ettin.io import write_json_atomic
    from train.selection import draw_holdout
    from train.tables import read_query_ids

    drawn = draw_holdout(query_ids, size, seed)
    if not path.is_file():
        write_json_atomic(path, drawn)
        return drawn
    held = read_query_ids(str(path))
    if sorted(held) != drawn:
        raise TrainDataError(
            f"{path.name} in {path.parent.name}/ holds {len(held)} dev query id(s) drawn with other settings than "
            f"{flag} {size} (seed {seed}, {len(query_ids)} queries): the files next to it may have trained on queries "
            f"that would now be dev queries; use a new output folder, or delete that folder's run to start over"
        )
    return drawn


@dataclass(frozen=True)
class QuerySet:
    """One role's queries: ``ids`` (id -> text) within the labelled dataset ``source``, or only ``texts`` (training rows
    of unknown origin); ``None`` for both when they cannot be known here (the online NanoBEIR evaluator)."""

    role: str
    source: str | None
    ids: dict[str, str] | None = None
    texts: frozenset[str] | None = None

    def all_texts(self) -> frozenset[str]:
        return self.texts if self.texts is not None else frozenset((self.ids or {}).values())

    def known(self) -> bool:
        return self.ids is not None or self.texts is not None


def _source(spec: str | None) -> str | None:
    if spec is None or spec.strip().lower() == "scifact":
        return None if spec is None else "scifact"
    return str(Path(spec).expanduser().resolve())


def _dev_set(eval_cfg: FitConfig) -> QuerySet | None:
    """The in-training evaluator's queries (as :func:`train.student.build_evaluator` restricts them)."""
    from train.tables import read_query_ids

    if eval_cfg.eval_data in _NO_EVALUATOR:
        return None
    if eval_cfg.eval_data == "nanobeir":
        return QuerySet("dev", "nanobeir (online, not checked here)")
    queries = split_queries(eval_cfg.eval_data, eval_cfg.eval_split)
    if eval_cfg.eval_query_ids:
        queries = {q: queries[q] for q in read_query_ids(eval_cfg.eval_query_ids) if q in queries}
    if eval_cfg.eval_max_queries is not None:
        queries = {q: queries[q] for q in sorted(queries)[: eval_cfg.eval_max_queries]}
    return QuerySet("dev", _source(eval_cfg.eval_data), ids=queries)


def query_sets(cfg: FitConfig, eval_cfg: FitConfig, labels: Any, rows: Any) -> list[QuerySet]:
    """The run's train (the mined queries of ``--labels``, else the training rows' query texts), dev (the evaluator's,
    per ``eval_cfg``) and test (``--test-split``) query sets; roles the run does not have are left out."""
    if labels is not None:
        mined = labels.mined
        train = QuerySet("train", _source(cfg.labels), ids=dict(zip(mined.column("query_id").to_pylist(),
                                                                     mined.column("query").to_pylist())))
    else:
        train = QuerySet("train", None, texts=frozenset(rows.unique("query")))
    sets = [train]
    dev = _dev_set(eval_cfg)
    if dev is not None:
        sets.append(dev)
    if cfg.labels and cfg.test_split:
        sets.append(QuerySet("test", _source(cfg.labels), ids=split_queries(cfg.labels, cfg.test_split)))
    return sets


def _digest(items: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(sorted(items)).encode("utf-8", "surrogatepass")).hexdigest()


def check_disjoint(sets: Sequence[QuerySet]) -> dict[str, Any]:
    """Assert that no two roles share a query; returns the record of the check (per role: source, count, SHA-256 of the
    sorted ids or texts; per pair: compared by ``id`` or ``text``, or ``not checked``; for pairs compared by id, how
    many query texts they still share under other ids — counted, not refused, as the splits are the dataset's own).

    Raises:
        TrainDataError: two roles share queries (the message names them and a few of the shared ids or texts).
    """
    record: dict[str, Any] = {"roles": {}, "pairs": {}, "disjoint": True}
    for s in sets:
        items = list(s.ids) if s.ids is not None else list(s.texts or ())
        record["roles"][s.role] = {"source": s.source, "queries": len(items) if s.known() else None,
                                   "by": "id" if s.ids is not None else "text" if s.texts is not None else None,
                                   "sha256": _digest(items) if s.known() else None}  # fmt: skip
    for i, a in enumerate(sets):
        for b in sets[i + 1 :]:
            pair = f"{a.role}-{b.role}"
            if not (a.known() and b.known()):
                record["pairs"][pair] = "not checked"
                continue
            by_id = a.source == b.source and a.ids is not None and b.ids is not None
            shared = sorted(set(a.ids) & set(b.ids)) if by_id else sorted(a.all_texts() & b.all_texts())
            record["pairs"][pair] = "id" if by_id else "text"
            if by_id:  # recorded, not refused: BEIR splits may repeat a text under another id (SciFact train/test: 2)
                record.setdefault("same_text_other_id", {})[pair] = len(a.all_texts() & b.all_texts())
            if shared:
                raise TrainDataError(
                    f"the {a.role} and {b.role} queries overlap: {len(shared)} shared (by {record['pairs'][pair]}, "
                    f"e.g. {', '.join(repr(x[:60]) for x in shared[:3])}); a {b.role} query the model trained on (or was "
                    "selected on) makes its score meaningless — give disjoint splits, or hold out with --holdout / "
                    "--eval-query-ids queries that are not trained on"
                )
    return record


def record_query_sets(out: Path, sets: Sequence[QuerySet]) -> None:
    """Write ``out/query_ids.json``: each role's sorted query ids (``null`` where only texts are known)."""
    from ettin.io import write_json_atomic

    write_json_atomic(out / QUERY_IDS_FILE, {s.role: sorted(s.ids) if s.ids is not None else None for s in sets})


def check_holdout_run(out: Path, spec: str, train: dict[str, str], dev: dict[str, str], test_split: str) -> dict[str, Any]:
    """For a driver that trains on one split of ``spec``, holds ``dev`` out of it and reports ``test_split``
    (``train scifact``, ``train scifact-reranker``): assert the three query sets disjoint, write ``out/query_ids.json``.

    Raises:
        TrainDataError: two of the sets share a query.
    """
    source = _source(spec)
    sets = [QuerySet("train", source, ids=train), QuerySet("dev", source, ids=dev),
            QuerySet("test", source, ids=split_queries(spec, test_split))]  # fmt: skip
    record = check_disjoint(sets)
    out.mkdir(parents=True, exist_ok=True)
    record_query_sets(out, sets)
    return record
