"""An MTEB retrieval task by name, for the Evaluate tab: the name checked against mteb's registry, its data read the
way mteb reads it, and written as BEIR files (``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``) in the
session's staging folder, where the checks and preview of an upload take over (:func:`demo.evaluate.intake.from_mteb`).

**How the data is read.** mteb's ``AbsTaskRetrieval.load_data`` calls, for one split and subset,
``RetrievalDatasetLoader(path, revision, split=…, config=subset).load()``, which opens the dataset card's configs
(``corpus``, ``queries``, ``default`` or ``qrels``; ``<subset>-corpus`` … for a multilingual task) with
``datasets.load_dataset``. This module calls that same loader with the same arguments and one difference: it reads the
snapshot of ``path@revision`` that ``huggingface_hub.snapshot_download`` resolved (the card and the files of those
configs only: never code), not ``path`` on the Hub. ``datasets`` cannot open a Hub dataset from the Hub cache offline
(:data:`ettin.hub_cache.DATASETS_OFFLINE_LIMIT`) but does open a local folder, so one snapshot serves online (downloaded
after a size check) and offline (from the local Hugging Face cache, where an online ``python -m eval mteb`` run of the
task also leaves it). Tasks that load their data with their own code are refused with the CLI command instead.

``mteb`` takes seconds to import: it is imported here only, inside the functions, on this path.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from demo.evaluate.limits import MAX_DOCUMENTS, MAX_QUERIES, MAX_UNCOMPRESSED_BYTES, EvaluateInputError

__all__ = [
    "EXAMPLES",
    "MAX_NAME_CHARS",
    "MtebSource",
    "check_task_name",
    "cli_command",
    "config_patterns",
    "fetch_mteb_task",
    "load_split",
    "resolve_task",
    "snapshot",
    "write_beir",
]

EXAMPLES = "SciFact, NFCorpus or ArguAna"
MAX_NAME_CHARS = 100
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_PARTS = ("corpus", "queries", "qrels", "top_ranked", "instruction")
"""The configs ``RetrievalDatasetLoader`` opens (a subset's prefixed ``<subset>-``; unprefixed, qrels is ``default``)."""


@dataclass(frozen=True)
class MtebSource:
    """Where an MTEB task's BEIR files came from: the task, its dataset at the revision mteb pins, subset and split."""

    task: str
    path: str
    revision: str
    subset: str
    split: str
    notes: list[str] = field(default_factory=list, compare=False)

    def describe(self) -> str:
        """One line for the preview and the run's provenance: ``mteb:<Task>`` and the dataset revision."""
        subset = "" if self.subset == "default" else f", subset {self.subset}"
        return f"mteb:{self.task} (dataset {self.path}@{self.revision}{subset}, split {self.split})"


def cli_command(task: str) -> str:
    """The ``python -m eval mteb`` command that runs ``task`` without the tab's limits (BM25, then the 17m reranker)."""
    from ettin.registry import RERANKERS

    return f"python -m eval mteb --tasks {task} --embedders bm25 --rerankers {RERANKERS['17m'].hub_id}"


def check_task_name(text: object) -> str:
    """``text`` as an MTEB task name may be spelled: letters, digits, ``.``, ``_`` and ``-``.

    Raises:
        EvaluateInputError: not text, empty, too long, markup, a path or Hub id, other characters.
    """
    if text is not None and not isinstance(text, str):
        raise EvaluateInputError(f"the MTEB task name must be text, not {type(text).__name__}: write e.g. SciFact")
    name = (text or "").strip()
    if not name:
        raise EvaluateInputError(f"no MTEB task name: write one, e.g. {EXAMPLES}")
    if len(name) > MAX_NAME_CHARS:
        raise EvaluateInputError(f"the MTEB task name is {len(name):,} characters long; mteb's names are at most "
                                 f"{MAX_NAME_CHARS}: write one, e.g. {EXAMPLES}")  # fmt: skip
    if re.search(r"[<>&\"'`]", name):
        raise EvaluateInputError(f"the MTEB task name contains markup (<, >, &, quotes): write the task's name only, e.g. {EXAMPLES}")
    if any(c in name for c in "/\\:~") or ".." in name or name.startswith("."):
        raise EvaluateInputError(f"{name[:60]!r} looks like a path or a Hub id, not an MTEB task name: write the task's "
                                 "name (e.g. SciFact), or choose “A Hub dataset id” for a BEIR dataset on the Hub")  # fmt: skip
    if not _NAME.fullmatch(name):
        raise EvaluateInputError(f"{name[:60]!r} is not an MTEB task name (letters, digits, '.', '_' and '-' only): write "
                                 f"one, e.g. {EXAMPLES}")  # fmt: skip
    return name


def _mteb():
    try:
        import mteb
    except ImportError:
        raise EvaluateInputError("mteb is not installed here: pip install mteb, or upload the data as a .zip") from None
    return mteb


def _registry_names(mteb: Any) -> list[str]:
    """Every task name mteb registers, read from the task classes of ``mteb.tasks`` as mteb builds its registry (no
    task is instantiated)."""
    return [t.metadata.name for t in vars(mteb.tasks).values() if isinstance(t, type) and issubclass(t, mteb.AbsTask)]


def _by_name(mteb: Any, name: str) -> Any:
    """mteb's task ``name`` (spelled in any case); unknown names are refused naming the close ones."""
    try:
        return mteb.get_task(name)
    except KeyError:
        pass
    lower = {n.lower(): n for n in _registry_names(mteb)}
    if name.lower() in lower:
        return mteb.get_task(lower[name.lower()])
    close = [lower[m] for m in difflib.get_close_matches(name.lower(), list(lower), n=3, cutoff=0.75)]
    hint = f"did you mean {' or '.join(close)}?" if close else f"write one of mteb's names, e.g. {EXAMPLES}"
    raise EvaluateInputError(f"mteb has no task named {name!r}: {hint} (mteb.get_tasks(task_types=['Retrieval']) lists them)")


def _check_kind(task: Any) -> None:
    """Refuse what is not a text retrieval task mteb's standard loader reads."""
    from mteb.abstasks.abstask import AbsTask
    from mteb.abstasks.retrieval import AbsTaskRetrieval

    meta, kind = task.metadata, type(task)
    if not isinstance(task, AbsTaskRetrieval):
        base = next((c.__name__ for c in kind.__mro__[1:] if c.__name__.startswith("AbsTask")), kind.__name__)
        raise EvaluateInputError(f"{meta.name} is an mteb {meta.type} task ({base}), not a retrieval task: choose a "
                                 f"retrieval task, e.g. {EXAMPLES}")  # fmt: skip
    if meta.type != "Retrieval":
        raise EvaluateInputError(f"{meta.name} is an mteb {meta.type} task, not plain retrieval (this tab ranks a "
                                 f"whole corpus by text): choose a Retrieval task, e.g. {EXAMPLES}")  # fmt: skip
    if list(meta.modalities) != ["text"]:
        raise EvaluateInputError(f"{meta.name} retrieves {', '.join(meta.modalities)}, not text only: this tab "
                                 f"evaluates text retrieval; choose e.g. {EXAMPLES}")  # fmt: skip
    if kind.load_data is not AbsTaskRetrieval.load_data or kind.dataset_transform is not AbsTask.dataset_transform:
        raise EvaluateInputError(f"{meta.name} reads its data with its own code, not mteb's standard retrieval loader, "
                                 f"so it is not offered here: run it with {cli_command(meta.name)}")  # fmt: skip


def _subset(meta: Any) -> str:
    """The subset evaluated: ``default``, or a multilingual task's one English subset.

    Raises:
        EvaluateInputError: a multilingual task without one English-only subset (the message names its subsets).
    """
    if not meta.is_multilingual:
        return "default"
    langs = dict(meta.eval_langs)
    english = [s for s, codes in langs.items() if codes and all(str(c).split("-")[0] == "eng" for c in codes)]
    if len(english) == 1:
        return english[0]
    names = english or list(langs)
    shown = ", ".join(names[:12]) + (f" … ({len(names)} in all)" if len(names) > 12 else "")
    if english:
        raise EvaluateInputError(f"{meta.name} has {len(english)} English subsets ({shown}); this tab reads one subset: "
                                 f"run them all with {cli_command(meta.name)}")  # fmt: skip
    raise EvaluateInputError(f"{meta.name} is multilingual with no English subset (its subsets: {shown}); this tab "
                             f"evaluates an English one: run it with {cli_command(meta.name)}")  # fmt: skip


def resolve_task(name: object, split: str | None = None) -> tuple[Any, MtebSource]:
    """mteb's task ``name`` and where its data is: dataset path and pinned revision, subset, split (``None``: the
    task's first eval split).

    Raises:
        EvaluateInputError: a bad or unknown name, not a text retrieval task, no English subset, too large by mteb's
            own statistics of the split.
    """
    from demo.evaluate.safezip import valid_split

    task = _by_name(_mteb(), check_task_name(name))
    _check_kind(task)
    meta = task.metadata
    split = valid_split(split or meta.eval_splits[0])
    source = MtebSource(meta.name, meta.dataset["path"], meta.dataset["revision"], _subset(meta), split)
    _check_statistics(meta, source)
    return task, source


def _statistics(meta: Any, source: MtebSource) -> dict[str, Any]:
    try:
        stats = (meta.descriptive_stats or {}).get(source.split) or {}
    except (OSError, ValueError):
        return {}
    if source.subset != "default":
        stats = (stats.get("hf_subset_descriptive_stats") or {}).get(source.subset) or {}
    return stats


def _check_statistics(meta: Any, source: MtebSource) -> None:
    """Refuse, before any download, a split that mteb's own statistics put above the tab's limits."""
    stats = _statistics(meta, source)
    documents, queries, chars = (stats.get(k) or 0 for k in ("num_documents", "num_queries", "number_of_characters"))
    over = [f"{documents:,} documents (the limit here: {MAX_DOCUMENTS:,})"] if documents > MAX_DOCUMENTS else []
    over += [f"{queries:,} queries (the limit here: {MAX_QUERIES:,})"] if queries > MAX_QUERIES else []
    if chars > MAX_UNCOMPRESSED_BYTES:
        over.append(f"about {chars / 2**20:,.0f} MiB of text (the limit here: {MAX_UNCOMPRESSED_BYTES // 2**20} MiB)")
    if over:
        raise EvaluateInputError(f"{meta.name} ({source.split}) has {' and '.join(over)} by mteb's statistics: run it "
                                 f"with {cli_command(meta.name)}")  # fmt: skip


def _offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def _wanted_configs(subset: str) -> set[str]:
    if subset == "default":
        return {"corpus", "queries", "default", "qrels", "top_ranked", "instruction", "query"}
    return {f"{subset}-{part}" for part in _PARTS} | {"query"}


def _data_paths(data_files: Any) -> Iterator[str]:
    """The path patterns of one config's ``data_files`` (a string, a list, or ``{split, path}`` items)."""
    for item in data_files if isinstance(data_files, list) else [data_files]:
        paths = item.get("path") if isinstance(item, dict) else item
        for path in paths if isinstance(paths, list) else [paths]:
            if isinstance(path, str):
                yield path
                if "**/" in path:  # huggingface_hub matches with fnmatch, where ``**/`` needs a folder
                    yield path.replace("**/", "")


def config_patterns(readme: Path, subset: str) -> list[str]:
    """The files ``RetrievalDatasetLoader`` reads for ``subset``: the card and its configs' data files."""
    from huggingface_hub.repocard import metadata_load

    configs = (metadata_load(readme) or {}).get("configs") or []
    wanted = _wanted_configs(subset)
    paths = [p for c in configs if isinstance(c, dict) and c.get("config_name") in wanted for p in _data_paths(c.get("data_files"))]
    return ["README.md", *dict.fromkeys(paths)] if paths else []


def _hub_call(source: MtebSource, call: Any) -> Any:
    """``call()`` (a huggingface_hub download), its failures as one message naming the dataset and the fix."""
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    where = f"{source.task}'s dataset {source.path}@{source.revision[:12]}"
    try:
        return call()
    except GatedRepoError:
        raise EvaluateInputError(f"{where} is gated: accept its terms on the Hub and log in (hf auth login)") from None
    except (RepositoryNotFoundError, RevisionNotFoundError):
        raise EvaluateInputError(f"{where} is not on the Hub (mteb pins a revision that is gone): run it with "
                                 f"{cli_command(source.task)}")  # fmt: skip
    except LocalEntryNotFoundError:
        fix = (f"run it once online, e.g. hf download {source.path} --repo-type dataset --revision {source.revision}"
               if _offline() else "check the connection and try again")  # fmt: skip
        state = "is not in the local Hugging Face cache (offline)" if _offline() else "could not be reached"
        raise EvaluateInputError(f"{where} {state}: {fix}") from None
    except EntryNotFoundError:
        raise EvaluateInputError(f"{where} has no dataset card (README.md), so not the layout mteb's loader reads: run "
                                 f"it with {cli_command(source.task)}")  # fmt: skip
    except HfHubHTTPError as exc:
        raise EvaluateInputError(f"{where}: the Hub answered {str(exc)[:160]}; try again") from None


def _check_size_online(source: MtebSource, patterns: list[str]) -> None:
    """Refuse before downloading when the files to fetch are larger than the limit (sizes from the Hub)."""
    from huggingface_hub import snapshot_download

    files = _hub_call(source, lambda: snapshot_download(source.path, repo_type="dataset", revision=source.revision,
                                                        allow_patterns=patterns, dry_run=True))  # fmt: skip
    total = sum(f.file_size or 0 for f in files)
    if total > MAX_UNCOMPRESSED_BYTES:
        raise EvaluateInputError(f"{source.task}: its data files are {total / 2**20:,.0f} MiB, above the "
                                 f"{MAX_UNCOMPRESSED_BYTES // 2**20} MiB limit: run it with {cli_command(source.task)}")  # fmt: skip


def snapshot(source: MtebSource) -> Path:
    """The local snapshot of the task's dataset at its revision with the files its loader reads: downloaded online
    (after the size check), from the local Hugging Face cache offline.

    Raises:
        EvaluateInputError: not cached (offline), unreachable, gated, gone, not mteb's layout, too large.
    """
    from huggingface_hub import hf_hub_download, snapshot_download

    readme = _hub_call(source, lambda: hf_hub_download(source.path, "README.md", repo_type="dataset",
                                                       revision=source.revision))  # fmt: skip
    patterns = config_patterns(Path(readme), source.subset)
    if not patterns:
        raise EvaluateInputError(f"{source.task}: its dataset card names no {source.subset} corpus/queries/qrels configs, "
                                 f"so not the layout mteb's loader reads: run it with {cli_command(source.task)}")  # fmt: skip
    if not _offline():
        _check_size_online(source, patterns)
    return Path(_hub_call(source, lambda: snapshot_download(source.path, repo_type="dataset", revision=source.revision,
                                                            allow_patterns=patterns)))  # fmt: skip


def _qrels_splits(folder: Path, subset: str) -> list[str]:
    """The splits of the qrels config, as ``RetrievalDatasetLoader`` finds it."""
    from datasets import get_dataset_config_names, get_dataset_split_names

    if subset != "default":
        config = f"{subset}-qrels"
    else:
        config = "default" if "default" in get_dataset_config_names(str(folder)) else "qrels"
    return list(get_dataset_split_names(str(folder), config_name=config))


def load_split(source: MtebSource, folder: Path) -> dict[str, Any]:
    """mteb's ``RetrievalSplitData`` (corpus, queries, relevant_docs, top_ranked) of ``source`` read from ``folder``,
    with the arguments ``AbsTaskRetrieval.load_data`` passes (remote code never trusted).

    Raises:
        EvaluateInputError: a split the task does not have (naming those it has); files missing or unreadable.
    """
    from mteb.abstasks.retrieval_dataset_loaders import RetrievalDatasetLoader

    cached = " (offline: a part of it is missing from the local Hugging Face cache; run it once online)" if _offline() else ""
    try:
        splits = _qrels_splits(folder, source.subset)
        if source.split not in splits:
            raise EvaluateInputError(f"{source.task} has no split {source.split!r}; choose one of {', '.join(splits)} "
                                     "(empty Split: its eval split)")  # fmt: skip
        loader = RetrievalDatasetLoader(hf_repo=str(folder), revision=source.revision, trust_remote_code=False,
                                        split=source.split, config=source.subset)  # fmt: skip
        return dict(loader.load())
    except EvaluateInputError:
        raise
    except Exception as exc:  # noqa: BLE001 - datasets' many read errors (missing files, bad parquet) become one line
        raise EvaluateInputError(f"{source.task}: its data could not be read{cached}: {type(exc).__name__}: "
                                 f"{str(exc)[:160]}") from None  # fmt: skip


def _write_lines(path: Path, lines: Iterable[str], budget: list[int], task: str) -> None:
    """``lines`` into ``path``, their bytes counted against ``budget[0]``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for line in lines:
            budget[0] -= len(line.encode("utf-8"))
            if budget[0] < 0:
                raise EvaluateInputError(f"{task}: its data is larger than {MAX_UNCOMPRESSED_BYTES // 2**20} MiB as BEIR "
                                         f"files: run it with {cli_command(task)}")  # fmt: skip
            f.write(line)


def _text(value: Any, task: str, what: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise EvaluateInputError(f"{task}: its {what} are {type(value).__name__}s, not plain text (this tab evaluates text "
                             f"retrieval): run it with {cli_command(task)}")  # fmt: skip


def _rows(dataset: Any, task: str, what: str, title: bool) -> Iterator[str]:
    """BEIR JSONL lines (``_id``, ``title`` for documents, ``text``) of an mteb corpus or queries ``Dataset``."""
    columns = ["id", "text", *(["title"] if title and "title" in dataset.column_names else [])]
    missing = [c for c in columns if c not in dataset.column_names]
    if missing:
        raise EvaluateInputError(f"{task}: its {what} have no {missing[0]!r} column: run it with {cli_command(task)}")
    for batch in dataset.select_columns(columns).iter(batch_size=1024):
        for i, doc_id in enumerate(batch["id"]):
            row = {"_id": str(doc_id), "text": _text(batch["text"][i], task, what) or ""}
            if "title" in batch:
                row["title"] = _text(batch["title"][i], task, what) or ""
            yield json.dumps(row, ensure_ascii=False) + "\n"


def _qrels_lines(relevant: dict[str, dict[str, int]]) -> Iterator[str]:
    """The judgements as a BEIR qrels TSV, sorted by ids (mteb's loader groups them in no fixed order)."""
    yield "query-id\tcorpus-id\tscore\n"
    for qid in sorted(relevant):
        for did, grade in sorted(relevant[qid].items()):
            yield f"{qid}\t{did}\t{int(grade)}\n"


def write_beir(source: MtebSource, data: dict[str, Any], staging: Path) -> None:
    """``data`` (mteb's split data) as ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/<split>.tsv`` in ``staging``."""
    budget = [MAX_UNCOMPRESSED_BYTES]
    task = source.task
    _write_lines(staging / "corpus.jsonl", _rows(data["corpus"], task, "documents", True), budget, task)
    _write_lines(staging / "queries.jsonl", _rows(data["queries"], task, "queries", False), budget, task)
    _write_lines(staging / "qrels" / f"{source.split}.tsv", _qrels_lines(data["relevant_docs"]), budget, task)
    if "instruction" in data["queries"].column_names:
        source.notes.append(f"{source.task}'s queries carry instructions; they are not used: each query is its text")
    if data.get("top_ranked"):
        source.notes.append(f"{source.task} ships candidate lists (top_ranked) for each query; they are not used: "
                            "each first stage retrieves from the whole corpus")  # fmt: skip


def fetch_mteb_task(name: object, split: str | None, staging: Path) -> MtebSource:
    """Write the MTEB task ``name``'s ``split`` (``None``: its eval split) as BEIR files into ``staging``; returns
    where they came from.

    Raises:
        EvaluateInputError: a bad or unknown name, not a text retrieval task, too large, not cached (offline),
            unreachable, a split it does not have.
    """
    _, source = resolve_task(name, split)
    write_beir(source, load_split(source, snapshot(source)), staging)
    return source
