"""A BEIR dataset uploaded as one ``.zip``, unpacked safely.

Nothing in the archive decides where a byte is written: only ``corpus.jsonl``, ``queries.jsonl`` and
``qrels/<split>.tsv`` (at the top of the archive or inside one top folder) are read, and each is written under a fixed
name inside the destination folder. Before a byte is unpacked the whole archive is refused for an absolute or ``..``
path, a symbolic link, a nested archive, too many entries, or sizes (declared, then counted while unpacking, since a
header can lie) above :data:`~demo.evaluate.limits.MAX_UNCOMPRESSED_BYTES` or a compression ratio above
:data:`~demo.evaluate.limits.MAX_RATIO`.
"""

from __future__ import annotations

import re
import stat
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from demo.evaluate.limits import (
    MAX_RATIO,
    MAX_UNCOMPRESSED_BYTES,
    MAX_UPLOAD_BYTES,
    MAX_ZIP_ENTRIES,
    EvaluateInputError,
)

__all__ = ["ARCHIVE_SUFFIXES", "SPLIT_PATTERN", "extract_beir_zip", "valid_split"]

ARCHIVE_SUFFIXES = (".zip", ".gz", ".tgz", ".tar", ".bz2", ".xz", ".7z", ".rar", ".zst")
ARCHIVE_MAGIC = (b"PK\x03\x04", b"\x1f\x8b", b"BZh", b"\xfd7zXZ", b"7z\xbc\xaf", b"Rar!", b"\x28\xb5\x2f\xfd")
SPLIT_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}")
_IGNORED = ("__MACOSX/",)
_CHUNK = 1 << 16
_RATIO_FLOOR = 1 << 20  # members below 1 MiB unpacked are never a bomb worth refusing


def valid_split(split: str) -> str:
    """``split`` when it is a plain name (letters, digits, ``_ . -``; 40 at most).

    Raises:
        EvaluateInputError: anything else (it would become a file name).
    """
    split = str(split or "").strip()
    if not SPLIT_PATTERN.fullmatch(split):
        raise EvaluateInputError(
            f"split name {split[:40]!r} is not allowed: use letters, digits, '_', '.' or '-' (e.g. test), at most 40"
        )
    return split


def _check_name(info: zipfile.ZipInfo, archive: str) -> None:
    """Refuse a member whose name escapes, or that is a link or another archive."""
    name = info.filename
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if "\x00" in name or name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in parts:
        raise EvaluateInputError(
            f"{archive}: entry {name[:80]!r} points outside the archive's folder: refused. Zip the dataset folder "
            "itself (corpus.jsonl, queries.jsonl, qrels/) with relative paths"
        )
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise EvaluateInputError(
            f"{archive}: entry {name[:80]!r} is a symbolic link: refused. Zip the files themselves (e.g. `zip -r` "
            "without --symlinks)"
        )
    if name.lower().endswith(ARCHIVE_SUFFIXES):
        raise EvaluateInputError(
            f"{archive}: entry {name[:80]!r} is an archive inside the archive: refused. Unpack it and zip the plain "
            "corpus.jsonl, queries.jsonl and qrels/<split>.tsv"
        )


def _check_sizes(infos: list[zipfile.ZipInfo], archive: str) -> None:
    total = sum(i.file_size for i in infos)
    if total > MAX_UNCOMPRESSED_BYTES:
        raise EvaluateInputError(
            f"{archive}: {total / 2**20:,.0f} MiB unpacked, above the {MAX_UNCOMPRESSED_BYTES // 2**20} MiB limit: "
            "evaluate a smaller dataset here, or run `python -m eval retrieval --data <folder>` on your machine"
        )
    for info in infos:
        if info.file_size > _RATIO_FLOOR and info.file_size > MAX_RATIO * max(1, info.compress_size):
            raise EvaluateInputError(
                f"{archive}: entry {info.filename[:80]!r} unpacks {info.file_size / max(1, info.compress_size):,.0f}× "
                f"its compressed size (limit {MAX_RATIO}×), as a zip bomb does: refused. Zip the plain BEIR files"
            )


def _members(infos: list[zipfile.ZipInfo], archive: str) -> tuple[str, dict[str, zipfile.ZipInfo]]:
    """(the top folder prefix, ``{"corpus.jsonl" | "queries.jsonl" | "qrels/<split>.tsv": member}``)."""
    files = [i for i in infos if not i.is_dir() and not i.filename.startswith(_IGNORED)
             and not PurePosixPath(i.filename).name.startswith(".")]  # fmt: skip
    corpora = [i.filename for i in files if PurePosixPath(i.filename).name == "corpus.jsonl"]
    if len(corpora) != 1:
        what = "no corpus.jsonl" if not corpora else f"{len(corpora)} corpus.jsonl files"
        raise EvaluateInputError(
            f"{archive}: {what}; a BEIR zip holds one corpus.jsonl, queries.jsonl and qrels/<split>.tsv, at its top or "
            "inside one top folder"
        )
    prefix = corpora[0][: -len("corpus.jsonl")]
    if prefix.count("/") > 1:
        raise EvaluateInputError(
            f"{archive}: corpus.jsonl is nested in {prefix.rstrip('/')[:80]!r}; put the BEIR files at the archive's top "
            "or inside one top folder"
        )
    wanted: dict[str, zipfile.ZipInfo] = {}
    for info in files:
        if not info.filename.startswith(prefix):
            continue
        rel = info.filename[len(prefix):]
        if rel in ("corpus.jsonl", "queries.jsonl"):
            wanted[rel] = info
        elif rel.startswith("qrels/") and rel.endswith(".tsv") and rel.count("/") == 1:
            split = rel[len("qrels/"): -len(".tsv")]
            if SPLIT_PATTERN.fullmatch(split):
                wanted[f"qrels/{split}.tsv"] = info
    for needed in ("queries.jsonl",):
        if needed not in wanted:
            raise EvaluateInputError(f"{archive}: no {needed} next to corpus.jsonl; add it (BEIR layout)")
    if not any(k.startswith("qrels/") for k in wanted):
        raise EvaluateInputError(
            f"{archive}: no qrels/<split>.tsv next to corpus.jsonl (e.g. qrels/test.tsv); add the relevance judgements"
        )
    return prefix, wanted


def _copy(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, budget: list[int], archive: str) -> None:
    """Unpack one member to ``target``, counting real bytes against the remaining ``budget``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with zf.open(info) as src, open(target, "wb") as out:
        first = True
        while block := src.read(_CHUNK):
            if first and block.startswith(ARCHIVE_MAGIC):
                raise EvaluateInputError(
                    f"{archive}: entry {info.filename[:80]!r} is itself an archive (compressed data): refused. "
                    "Zip the plain text files"
                )
            first = False
            budget[0] -= len(block)
            if budget[0] < 0:
                raise EvaluateInputError(
                    f"{archive}: unpacks to more than {MAX_UNCOMPRESSED_BYTES // 2**20} MiB (more than its headers "
                    "declare, as a zip bomb does): refused"
                )
            out.write(block)


def extract_beir_zip(path: str | Path, dest: str | Path, archive: str = "the .zip") -> list[str]:
    """Unpack the BEIR files of the ``.zip`` at ``path`` into ``dest`` (``corpus.jsonl``, ``queries.jsonl``,
    ``qrels/<split>.tsv``); returns the splits found.

    Args:
        path: The uploaded archive.
        dest: A fresh folder of the session's; nothing is written anywhere else.
        archive: How messages name the archive (its upload name, never a machine path).

    Raises:
        EvaluateInputError: not a zip, too large, hostile (see the module docstring), or not a BEIR layout.
    """
    path, dest = Path(path), Path(dest)
    if path.stat().st_size > MAX_UPLOAD_BYTES:
        raise EvaluateInputError(f"{archive}: larger than the {MAX_UPLOAD_BYTES // 2**20} MiB upload limit")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise EvaluateInputError(f"{archive}: not a readable .zip; zip the BEIR folder again (e.g. `zip -r data.zip mydata`)") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_ZIP_ENTRIES:
            raise EvaluateInputError(
                f"{archive}: {len(infos):,} entries, above the limit of {MAX_ZIP_ENTRIES}: a BEIR zip needs only "
                "corpus.jsonl, queries.jsonl and qrels/<split>.tsv"
            )
        for info in infos:
            _check_name(info, archive)
        _check_sizes(infos, archive)
        _, wanted = _members(infos, archive)
        budget = [MAX_UNCOMPRESSED_BYTES]
        try:
            for rel, info in wanted.items():
                _copy(zf, info, dest / rel, budget, archive)
        except (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError, OSError) as exc:
            raise EvaluateInputError(f"{archive}: cannot be unpacked ({type(exc).__name__}): zip it again without "
                                     "encryption") from None  # fmt: skip
    return sorted(k[len("qrels/"): -len(".tsv")] for k in wanted if k.startswith("qrels/"))
