"""A BEIR-format dataset by Hugging Face Hub id, for the Evaluate tab: ``corpus.jsonl``, ``queries.jsonl`` and
``qrels/<split>.tsv`` (each may be gzipped), from the repository itself or, as BEIR publishes them
(``BeIR/scifact`` + ``BeIR/scifact-qrels``), from its ``-qrels`` sibling whose ``<split>.tsv`` sit at the top.

The files are fetched with ``huggingface_hub.snapshot_download`` (only those names: never code), so offline a
repository resolves from the local Hugging Face cache, and online a download is refused before it starts when the
files are larger than the tab's limit. Then they pass the same checks as an upload, in the session's own folder
(:func:`demo.evaluate.intake.from_hub`).
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

from demo.evaluate.limits import MAX_UNCOMPRESSED_BYTES, EvaluateInputError

__all__ = ["BEIR_PATTERNS", "check_repo_id", "fetch_beir_files"]

BEIR_PATTERNS = ["corpus.jsonl", "corpus.jsonl.gz", "queries.jsonl", "queries.jsonl.gz", "qrels/*.tsv", "*.tsv"]
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")


def check_repo_id(text: object) -> str:
    """``org/name`` as the Hub spells a dataset id.

    Raises:
        EvaluateInputError: anything else (a URL, a path, ``..``, spaces, an empty box).
    """
    repo = str(text or "").strip()
    if not _REPO_ID.match(repo) or ".." in repo:
        raise EvaluateInputError(f"{repo[:80]!r} is not a Hub dataset id: write it as org/name, e.g. BeIR/scifact")
    return repo


def _offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def _check_size_online(repo: str) -> None:
    """Refuse before downloading when the BEIR files are larger than the limit (online only; sizes from the Hub)."""
    from fnmatch import fnmatch

    from huggingface_hub import HfApi

    info = HfApi().dataset_info(repo, files_metadata=True)
    total = sum(s.size or 0 for s in info.siblings or () if any(fnmatch(s.rfilename, p) for p in BEIR_PATTERNS))
    if total > MAX_UNCOMPRESSED_BYTES:
        raise EvaluateInputError(f"{repo}: its BEIR files are {total / 2**20:,.0f} MiB, above the "
                                 f"{MAX_UNCOMPRESSED_BYTES // 2**20} MiB limit: run it with python -m eval retrieval")  # fmt: skip


def _snapshot(repo: str) -> Path | None:
    """The repository's BEIR files, downloaded or from the cache; ``None`` when it does not exist (or is not cached)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        if not _offline():
            _check_size_online(repo)
        return Path(snapshot_download(repo, repo_type="dataset", allow_patterns=BEIR_PATTERNS))
    except GatedRepoError:
        raise EvaluateInputError(f"{repo}: a gated dataset; accept its terms on the Hub and log in, or upload it as a "
                                 ".zip") from None  # fmt: skip
    except (RepositoryNotFoundError, RevisionNotFoundError, LocalEntryNotFoundError):
        return None
    except HfHubHTTPError as exc:
        raise EvaluateInputError(f"{repo}: the Hub answered {str(exc)[:160]}; try again, or upload it as a .zip") from None


def _copy_capped(src: Path, dest: Path, budget: list[int]) -> None:
    """``src`` (gunzipped when it ends in .gz) to ``dest``, counting its bytes against ``budget[0]``."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if src.name.endswith(".gz") else open
    try:
        with opener(src, "rb") as fin, open(dest, "wb") as fout:
            while chunk := fin.read(1 << 20):
                budget[0] -= len(chunk)
                if budget[0] < 0:
                    raise EvaluateInputError(f"the dataset is larger than {MAX_UNCOMPRESSED_BYTES // 2**20} MiB unpacked: "
                                             "run it with python -m eval retrieval")  # fmt: skip
                fout.write(chunk)
    except (OSError, EOFError) as exc:  # a damaged .gz
        raise EvaluateInputError(f"{src.name}: cannot be read ({exc.__class__.__name__}); the Hub copy is damaged") from None


def _one(folder: Path, stem: str) -> Path | None:
    return next((folder / n for n in (stem, f"{stem}.gz") if (folder / n).is_file()), None)


def fetch_beir_files(repo_id: object, staging: Path) -> list[str]:
    """Write the dataset ``repo_id``'s BEIR files into ``staging`` (``corpus.jsonl``, ``queries.jsonl``,
    ``qrels/<split>.tsv``); returns the splits found.

    Raises:
        EvaluateInputError: a bad id, a repository that cannot be reached or is not BEIR, or too large.
    """
    repo = check_repo_id(repo_id)
    snapshot = _snapshot(repo)
    if snapshot is None:
        where = "in the local Hugging Face cache (offline)" if _offline() else "on the Hub"
        raise EvaluateInputError(f"{repo}: no such dataset {where}; check the id, or upload it as a .zip")
    corpus, queries = _one(snapshot, "corpus.jsonl"), _one(snapshot, "queries.jsonl")
    if corpus is None or queries is None:
        raise EvaluateInputError(f"{repo}: not a BEIR dataset (no corpus.jsonl and queries.jsonl at its top); for an "
                                 "MTEB task, choose “An MTEB task” and give its name (e.g. SciFact)")  # fmt: skip
    qrels = sorted((snapshot / "qrels").glob("*.tsv"))
    if not qrels:  # BEIR's own layout: the judgements in a sibling repository
        sibling = _snapshot(f"{repo}-qrels") if _REPO_ID.match(f"{repo}-qrels") else None
        qrels = sorted(sibling.glob("*.tsv")) if sibling is not None else []
    if not qrels:
        raise EvaluateInputError(f"{repo}: no qrels/<split>.tsv, nor a {repo}-qrels dataset with <split>.tsv files")
    budget = [MAX_UNCOMPRESSED_BYTES]
    _copy_capped(corpus, staging / "corpus.jsonl", budget)
    _copy_capped(queries, staging / "queries.jsonl", budget)
    for path in qrels:
        _copy_capped(path, staging / "qrels" / path.name, budget)
    return sorted(p.stem for p in qrels)
