"""The BEIR files of an upload checked line by line before anything loads them; every problem names the file, the line
and the fix (:class:`~demo.evaluate.limits.EvaluateInputError`), and what is only suspicious becomes a warning.

The checks are stricter than :func:`ettin.corpus.load_beir` (which the run then uses, as the CLI does): a grade must be
a whole number (the loader would truncate ``1.5``), and a qrels file without its header line is reported (BEIR's own
loader skips the first line unread, so such a file loses a judgement there).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from demo.evaluate.limits import MAX_DOCUMENTS, MAX_QUERIES, EvaluateInputError

__all__ = ["Checked", "check_beir_folder"]

_GRADE = re.compile(r"-?\d+")
_HEADER = "query-id\tcorpus-id\tscore"


@dataclass
class Checked:
    """What the line-by-line check read: ids, judgements kept, grades, warnings."""

    documents: int = 0
    queries: set[str] = field(default_factory=set)
    judged_queries: int = 0
    judgements: int = 0
    grades: dict[int, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _lines(path: Path, label: str) -> Iterator[tuple[int, str]]:
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                yield lineno, raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as exc:
                raise EvaluateInputError(
                    f"{label}, line {lineno}: not UTF-8 text (byte {exc.start + 1}: {exc.reason}); save the file as UTF-8"
                ) from None


def _ids(path: Path, label: str, cap: int, kind: str) -> tuple[set[str], int]:
    """The ``_id`` s of a JSONL file (``_id`` and ``text`` on every line, ids unique), and how many have no text."""
    seen: dict[str, int] = {}
    empty = 0
    for lineno, line in _lines(path, label):
        if not line.strip():
            continue
        where = f"{label}, line {lineno}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EvaluateInputError(f"{where}: not valid JSON ({exc.msg}, column {exc.colno}); write one JSON "
                                     'object per line, e.g. {"_id": "d1", "text": "..."}') from None  # fmt: skip
        if not isinstance(row, dict):
            raise EvaluateInputError(f'{where}: a line must be a JSON object, e.g. {{"_id": "d1", "text": "..."}}')
        for key in ("_id", "text"):
            if key not in row:
                raise EvaluateInputError(f'{where}: no "{key}" field; every {kind} needs "_id" and "text"')
        if not isinstance(row["_id"], (str, int)) or not str(row["_id"]).strip():
            raise EvaluateInputError(f'{where}: "_id" must be a non-empty string; give every {kind} its own id')
        for key in ("text", "title"):
            if key in row and row[key] is not None and not isinstance(row[key], str):
                raise EvaluateInputError(f'{where}: "{key}" must be a string, not {type(row[key]).__name__}')
        doc_id = str(row["_id"])
        if doc_id in seen:
            raise EvaluateInputError(f"{where}: duplicate id {doc_id[:60]!r} (first on line {seen[doc_id]}); give "
                                     f"every {kind} its own id")  # fmt: skip
        seen[doc_id] = lineno
        if len(seen) > cap:
            raise EvaluateInputError(f"{label}: more than {cap:,} {kind}s, the limit here; evaluate a sample, or run "
                                     "`python -m eval retrieval --data <folder>` on your machine")  # fmt: skip
        empty += not (row.get("text") or "").strip() and not (row.get("title") or "").strip()
    if not seen:
        raise EvaluateInputError(f"{label}: no {kind}s (the file is empty); add one JSON object per line")
    return set(seen), empty


def _qrels(path: Path, label: str, doc_ids: set[str], query_ids: set[str], out: Checked) -> None:
    judged: dict[str, int] = {}
    unknown_q: list[int] = []
    unknown_d: list[int] = []
    rows = 0
    for lineno, line in _lines(path, label):
        if not line.strip():
            continue
        cols = [c.strip() for c in next(csv.reader(io.StringIO(line), delimiter="\t"))]
        if lineno == 1 and len(cols) >= 3 and not _GRADE.fullmatch(cols[-1]):
            continue  # the header line
        if lineno == 1:
            out.warnings.append(f"{label}, line 1: no header line ({_HEADER!r}); it was read as a judgement here, but "
                                "BEIR's own loader skips line 1 — add the header")  # fmt: skip
        if len(cols) == 4:
            cols = [cols[0], cols[2], cols[3]]  # TREC layout: query 0 document grade
        if len(cols) != 3:
            raise EvaluateInputError(f"{label}, line {lineno}: {len(cols)} tab-separated column(s); write "
                                     "query-id<TAB>corpus-id<TAB>score")  # fmt: skip
        qid, did, grade = cols
        if not _GRADE.fullmatch(grade):
            raise EvaluateInputError(f"{label}, line {lineno}: grade {grade[:20]!r} is not a whole number; write "
                                     "relevance as 0, 1, 2 …")  # fmt: skip
        rows += 1
        if qid not in query_ids:
            unknown_q.append(lineno)
            continue
        if did not in doc_ids:
            unknown_d.append(lineno)
            continue
        judged[qid] = judged.get(qid, 0) + 1
        out.grades[int(grade)] = out.grades.get(int(grade), 0) + 1
    if not rows:
        raise EvaluateInputError(f"{label}: the split is empty (no judgement under the header); add lines "
                                 "query-id<TAB>corpus-id<TAB>score, or choose another split")  # fmt: skip
    for lines, what in ((unknown_q, "query ids not in queries.jsonl"), (unknown_d, "document ids not in corpus.jsonl")):
        if lines:
            out.warnings.append(f"{label}: {len(lines):,} judgement(s) name {what} (first on line {lines[0]}); they "
                                "are skipped")  # fmt: skip
    if not judged:
        raise EvaluateInputError(f"{label}: no judged query left once judgements naming unknown ids are skipped; "
                                 "make the qrels' ids match queries.jsonl and corpus.jsonl")  # fmt: skip
    if len(judged) > MAX_QUERIES:
        raise EvaluateInputError(f"{label}: {len(judged):,} judged queries, above the limit of {MAX_QUERIES:,}; "
                                 "use the query sample, or run `python -m eval retrieval` on your machine")  # fmt: skip
    out.judged_queries, out.judgements = len(judged), sum(judged.values())
    if out.grades and max(out.grades) <= 0:
        raise EvaluateInputError(f"{label}: every judgement has grade ≤ 0 (nothing is relevant): every metric would "
                                 "be 0; mark relevant documents with grade 1 or more")  # fmt: skip


def check_beir_folder(folder: str | Path, split: str) -> Checked:
    """Check ``folder``'s ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/<split>.tsv`` line by line.

    Raises:
        EvaluateInputError: a missing file or split, malformed JSON, a missing ``_id``/``text``, a duplicate id, text
            that is not UTF-8, a bad qrels line or grade, an empty split, no judged query left, a cap exceeded.
    """
    folder = Path(folder)
    for name in ("corpus.jsonl", "queries.jsonl"):
        if not (folder / name).is_file():
            raise EvaluateInputError(f"{name}: missing; a BEIR dataset has corpus.jsonl, queries.jsonl, qrels/<split>.tsv")
    qrels = folder / "qrels" / f"{split}.tsv"
    if not qrels.is_file():
        splits = sorted(p.stem for p in (folder / "qrels").glob("*.tsv")) if (folder / "qrels").is_dir() else []
        raise EvaluateInputError(f"qrels/{split}.tsv: missing; choose one of the splits found: "
                                 f"{', '.join(splits) or 'none — add qrels/<split>.tsv'}")  # fmt: skip
    out = Checked()
    doc_ids, empty = _ids(folder / "corpus.jsonl", "corpus.jsonl", MAX_DOCUMENTS, "document")
    out.documents = len(doc_ids)
    if empty == len(doc_ids):
        raise EvaluateInputError("corpus.jsonl: no document has a title or text: nothing can be searched")
    if empty:
        out.warnings.append(f"corpus.jsonl: {empty:,} document(s) have neither title nor text")
    out.queries, _ = _ids(folder / "queries.jsonl", "queries.jsonl", 10 * MAX_QUERIES, "query")
    _qrels(qrels, f"qrels/{split}.tsv", doc_ids, out.queries, out)
    return out
