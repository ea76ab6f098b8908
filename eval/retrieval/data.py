"""Dataset helpers for evaluation: small self-contained subsets of a BEIR dataset, written back as BEIR folders."""

from __future__ import annotations

import json
from pathlib import Path

from ettin.corpus import BeirDataset, Corpus

__all__ = ["subset", "write_beir"]


def subset(dataset: BeirDataset, n_queries: int, n_documents: int, name: str | None = None) -> BeirDataset:
    """The first ``n_queries`` queries (by id) with every document they judge, plus corpus documents up to ``n_documents``.

    The judged documents always stay, so the subset is a fair (easier) retrieval problem; the rest of the corpus keeps its
    original order.

    Raises:
        ValueError: ``n_queries`` or ``n_documents`` below 1.
    """
    if n_queries < 1 or n_documents < 1:
        raise ValueError("n_queries and n_documents must be at least 1")
    keep_q = sorted(dataset.queries)[:n_queries]
    judged = {d for q in keep_q for d in dataset.qrels.get(q, {})}
    corpus = dataset.corpus
    keep_idx = [i for i, doc_id in enumerate(corpus.ids) if doc_id in judged]
    for i in range(len(corpus)):
        if len(keep_idx) >= max(n_documents, len(judged)):
            break
        if corpus.ids[i] not in judged:
            keep_idx.append(i)
    keep_idx.sort()
    sub_corpus = Corpus(
        tuple(corpus.ids[i] for i in keep_idx),
        tuple(corpus.texts[i] for i in keep_idx),
        tuple(corpus.title(i) for i in keep_idx),
        name or f"{dataset.name}-sub",
    )
    return BeirDataset(
        name or f"{dataset.name}-sub",
        dataset.split,
        sub_corpus,
        {q: dataset.queries[q] for q in keep_q},
        {q: dict(dataset.qrels[q]) for q in keep_q if q in dataset.qrels},
    )


def write_beir(dataset: BeirDataset, folder: str | Path) -> Path:
    """Write ``dataset`` as a BEIR folder (``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``)."""
    folder = Path(folder)
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    corpus = dataset.corpus
    with open(folder / "corpus.jsonl", "w", encoding="utf-8") as f:
        for i, doc_id in enumerate(corpus.ids):
            f.write(json.dumps({"_id": doc_id, "title": corpus.title(i), "text": corpus.texts[i]}, ensure_ascii=False) + "\n")
    with open(folder / "queries.jsonl", "w", encoding="utf-8") as f:
        for qid, text in dataset.queries.items():
            f.write(json.dumps({"_id": qid, "text": text}, ensure_ascii=False) + "\n")
    with open(folder / "qrels" / f"{dataset.split}.tsv", "w", encoding="utf-8") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for qid, judged in dataset.qrels.items():
            for doc_id, grade in judged.items():
                f.write(f"{qid}\t{doc_id}\t{grade}\n")
    return folder
