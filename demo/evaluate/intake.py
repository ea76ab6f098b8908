"""The dataset the visitor evaluates on: a BEIR ``.zip``, three files, a BEIR dataset by Hub id, an MTEB retrieval task
by name, or the bundled SciFact; each checked (:mod:`~demo.evaluate.validate`) and kept in the visitor's own session
folder, then previewed.

**Where files go.** Every session has a random 128-bit token and its own folder ``<cache>/evaluate/<token>/`` under
:func:`ettin.paths.cache_dir`; a token that is not 32 hex digits is refused before it becomes a path, so one visitor
never reaches another's folder. Nothing the visitor sends becomes a path: the upload's name is only shown (reduced to
letters, digits and ``_ . -``) and the BEIR files are written under fixed names. Session folders older than
:data:`SESSION_TTL_S` are removed when a new session starts.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from demo.evaluate.limits import MAX_UPLOAD_BYTES, EvaluateInputError
from demo.evaluate.safezip import extract_beir_zip, valid_split
from demo.evaluate.validate import check_beir_folder

__all__ = [
    "BUNDLED",
    "ORIGIN_FILE",
    "SESSION_TTL_S",
    "Intake",
    "Preview",
    "display_name",
    "from_files",
    "from_hub",
    "from_mteb",
    "from_zip",
    "load_dataset",
    "new_session",
    "plain_markdown",
    "preview_bundled",
    "session_folder",
    "with_origin",
]

BUNDLED = "scifact"
ORIGIN_FILE = "origin.json"
"""Written next to the BEIR files of a dataset that was not uploaded (an MTEB task): where it came from."""
SESSION_TTL_S = 24 * 3600
_TOKEN = re.compile(r"[0-9a-f]{32}")


def _root() -> Path:
    from ettin.paths import cache_dir

    return cache_dir() / "evaluate"


def session_folder(token: str) -> Path:
    """The folder of the session ``token`` (created).

    Raises:
        EvaluateInputError: not a token this app made (it would otherwise become a path).
    """
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        raise EvaluateInputError("this page's evaluation session is not valid: reload the page and upload again")
    folder = _root() / token
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _prune(now: float) -> None:
    root = _root()
    for old in root.iterdir() if root.is_dir() else []:
        try:
            if _TOKEN.fullmatch(old.name) and old.is_dir() and now - old.stat().st_mtime > SESSION_TTL_S:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:
            continue


def new_session() -> str:
    """A fresh session token (its folder created; stale sessions removed)."""
    _prune(time.time())
    token = secrets.token_hex(16)
    session_folder(token)
    return token


def display_name(name: str | None, fallback: str = "my-data") -> str:
    """An upload's name as it may be shown and used as the dataset's name: lower-case letters, digits, ``_`` and
    ``-`` (40 at most), without its extension."""
    stem = Path(str(name or "")).name
    for suffix in (".zip", ".jsonl", ".tsv"):
        stem = stem.removesuffix(suffix)
    clean = re.sub(r"[^a-z0-9_-]+", "-", stem.lower()).strip("-_")[:40]
    return clean or fallback


@dataclass
class Preview:
    """What was read, shown before anything runs."""

    name: str
    split: str
    splits: list[str]
    documents: int
    queries: int
    judged_queries: int
    judgements: int
    grades: dict[int, int]
    warnings: list[str] = field(default_factory=list)
    origin: str | None = None

    def markdown(self) -> str:
        """The preview as Markdown (every value is a number or a cleaned name, never raw input)."""
        grades = ", ".join(f"{g}: {n:,}" for g, n in sorted(self.grades.items()))
        lines = [
            f"**{self.name}** / split **{self.split}** (splits found: {', '.join(self.splits)})",
            *([f"- from {plain_markdown(self.origin)}"] if self.origin else []),
            f"- {self.documents:,} documents; {self.queries:,} queries in queries.jsonl",
            f"- {self.judged_queries:,} judged queries with {self.judgements:,} judgements (grades {grades})",
        ]
        lines += [f"- ⚠️ {plain_markdown(w)}" for w in self.warnings]
        return "\n".join(lines)


def plain_markdown(text: str) -> str:
    """``text`` with the characters Markdown or HTML would interpret escaped."""
    return re.sub(r"([\\`*_{}\[\]<>()#+!|~])", r"\\\1", text)


@dataclass
class Intake:
    """A dataset ready to evaluate: the bundled SciFact (``folder`` ``None``) or a checked upload."""

    token: str
    name: str
    split: str
    preview: Preview
    folder: Path | None = None
    mteb: tuple[str, str] | None = None
    """(task, split) when the data came from an MTEB task (:func:`from_mteb`)."""

    @property
    def bundled(self) -> bool:
        return self.folder is None


def _finish(token: str, staging: Path, name: str, split: str | None, splits: list[str]) -> Intake:
    split = valid_split(split or ("test" if "test" in splits else splits[0]))
    if split not in splits:
        raise EvaluateInputError(f"qrels/{split}.tsv: not in the upload; choose one of the splits found: {', '.join(splits)}")
    checked = check_beir_folder(staging, split)
    dataset = staging.parent / f"data-{staging.name.removeprefix('staging-')}"
    staging.rename(dataset)
    preview = Preview(name, split, splits, checked.documents, len(checked.queries), checked.judged_queries,
                      checked.judgements, checked.grades, checked.warnings)  # fmt: skip
    return Intake(token, name, split, preview, dataset)


def _staging(token: str) -> Path:
    staging = session_folder(token) / f"staging-{secrets.token_hex(4)}"
    staging.mkdir()
    return staging


def from_zip(token: str, path: str | Path, upload_name: str | None = None, split: str | None = None) -> Intake:
    """Check and keep the BEIR ``.zip`` at ``path`` (an upload) in the session ``token``'s folder.

    Raises:
        EvaluateInputError: hostile, too large, not BEIR, or a bad dataset (the message names file, line, fix).
    """
    staging = _staging(token)
    label = display_name(upload_name or Path(path).name) + ".zip"
    try:
        splits = extract_beir_zip(path, staging, archive=label)
        return _finish(token, staging, display_name(upload_name or Path(path).name), split, splits)
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # gone once renamed; removed when refused


def from_files(token: str, corpus: str | Path, queries: str | Path, qrels: str | Path, split: str = "test",
               name: str | None = None) -> Intake:  # fmt: skip
    """Check and keep three uploaded files (corpus JSONL, queries JSONL, qrels TSV of ``split``).

    Raises:
        EvaluateInputError: too large, or a bad dataset.
    """
    split = valid_split(split)
    paths = [Path(p) for p in (corpus, queries, qrels)]
    if sum(p.stat().st_size for p in paths) > MAX_UPLOAD_BYTES:
        raise EvaluateInputError(f"the three files are larger than the {MAX_UPLOAD_BYTES // 2**20} MiB upload limit together")
    staging = _staging(token)
    try:
        (staging / "qrels").mkdir()
        for src, rel in zip(paths, ("corpus.jsonl", "queries.jsonl", f"qrels/{split}.tsv")):
            shutil.copyfile(src, staging / rel)
        return _finish(token, staging, display_name(name, "my-data"), split, [split])
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def from_hub(token: str, repo_id: str, split: str | None = None) -> Intake:
    """Check and keep the BEIR dataset ``repo_id`` of the Hugging Face Hub (or of the local cache, offline) in the
    session ``token``'s folder (:mod:`demo.evaluate.hub`).

    Raises:
        EvaluateInputError: a bad id, a dataset that cannot be reached or is not BEIR, too large, or a bad dataset.
    """
    from demo.evaluate.hub import check_repo_id, fetch_beir_files

    staging = _staging(token)
    try:
        splits = fetch_beir_files(repo_id, staging)
        return _finish(token, staging, display_name(check_repo_id(repo_id).split("/")[1]), split, splits)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def from_mteb(token: str, task_name: object, split: str | None = None) -> Intake:
    """Check and keep the MTEB retrieval task ``task_name``'s ``split`` (``None``: its eval split), read as mteb reads
    it (:mod:`demo.evaluate.mteb_task`) and written as BEIR files, in the session ``token``'s folder; the folder records
    its origin (``mteb:<Task>`` and the dataset revision) for the run's provenance (:func:`with_origin`).

    Raises:
        EvaluateInputError: a bad or unknown name, not a text retrieval task, too large, not cached (offline),
            unreachable, a split it does not have, or a bad dataset.
    """
    from demo.evaluate.mteb_task import fetch_mteb_task

    staging = _staging(token)
    try:
        source = fetch_mteb_task(task_name, split, staging)
        (staging / ORIGIN_FILE).write_text(json.dumps({"origin": source.describe()}), encoding="utf-8")
        got = _finish(token, staging, display_name(source.task), source.split, [source.split])
        got.preview.origin = source.describe()
        got.mteb = (source.task, source.split)
        got.preview.warnings += source.notes
        return got
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def with_origin(folder: Path | None, source: str) -> str:
    """``source`` (how the run loaded ``folder``) preceded by the folder's recorded origin, when it has one."""
    path = Path(folder) / ORIGIN_FILE if folder is not None else None
    try:
        origin = json.loads(path.read_text(encoding="utf-8"))["origin"] if path is not None and path.is_file() else None
    except (OSError, ValueError, KeyError, TypeError):
        origin = None
    return f"{origin}; {source}" if isinstance(origin, str) and origin else source


def preview_bundled(token: str, split: str = "test") -> Intake:
    """The bundled SciFact split (``test`` or ``train``), previewed from the same loader the run uses.

    Raises:
        EvaluateInputError: a split SciFact does not have.
    """
    from ettin.paths import BUNDLED_SCIFACT

    splits = sorted(p.name.removesuffix(".tsv") for p in (BUNDLED_SCIFACT / "qrels").glob("*.tsv"))
    if split not in splits:
        raise EvaluateInputError(f"SciFact has no split {str(split)[:40]!r}; choose one of {', '.join(splits)}")
    session_folder(token)
    dataset, _ = load_dataset(Intake(token, BUNDLED, split, None))  # type: ignore[arg-type]
    grades: dict[int, int] = {}
    for judged in dataset.qrels.values():
        for g in judged.values():
            grades[g] = grades.get(g, 0) + 1
    from ettin.corpus import load_queries

    preview = Preview(BUNDLED, split, splits, len(dataset.corpus), len(load_queries(BUNDLED_SCIFACT)),
                      len(dataset.qrels), sum(grades.values()), grades, list(dataset.warnings))  # fmt: skip
    return Intake(token, BUNDLED, split, preview)


def load_dataset(intake: Intake):
    """(the :class:`~ettin.corpus.BeirDataset`, its provenance source) exactly as ``python -m eval retrieval --data``
    loads it (:func:`eval.retrieval.cli.load_data`)."""
    from eval.retrieval.cli import load_data

    return load_data(intake.folder, intake.split, None if intake.bundled else intake.name)
