"""Corpora for the app: the bundled SciFact sample, and the user's own documents (pasted or uploaded), capped and validated.

Everything here refuses bad input with :class:`CorpusInputError`, whose message is meant to be shown to the user as is.
No user input ever becomes a filesystem path: uploads are parsed from their bytes, and the file name is only used for its
extension.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from ettin.corpus import Corpus
from ettin.errors import UserError

__all__ = [
    "ALLOWED_EXTENSIONS",
    "EXAMPLE_QUERY_IDS",
    "MAX_DOCUMENTS",
    "MAX_DOCUMENT_CHARS",
    "MAX_UPLOAD_BYTES",
    "CorpusInputError",
    "ParsedCorpus",
    "example_queries",
    "parse_pasted",
    "parse_upload",
    "sample_corpus",
    "sample_relevance",
    "scifact_corpus",
]

MAX_UPLOAD_BYTES = 2 * 1024 * 1024
MAX_DOCUMENTS = 2000
MAX_DOCUMENT_CHARS = 20_000
ALLOWED_EXTENSIONS = (".txt", ".jsonl", ".csv")

SAMPLE_SIZE = 1000
# SciFact test claims used as example queries; the documents judged relevant for them are always in the sample.
EXAMPLE_QUERY_IDS = ("36", "132", "148", "163", "179", "94")


class CorpusInputError(UserError, ValueError):
    """User-supplied documents the app refuses; the message says what is wrong and what the limits are."""


@dataclass
class ParsedCorpus:
    """A user corpus and the notes to show alongside it (duplicates dropped, single document, …)."""

    corpus: Corpus
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """``N documents loaded`` and the notes, in one line."""
        n = len(self.corpus)
        text = f"{n:,} document{'s' if n != 1 else ''} loaded"
        return text + ("" if not self.notes else " — " + "; ".join(self.notes))


# --------------------------------------------------------------------------------------------------------------------
# Bundled sample


@lru_cache(maxsize=1)
def sample_corpus() -> Corpus:
    """The first :data:`SAMPLE_SIZE` SciFact documents plus every document relevant to the example queries.

    Its MiniLM embeddings ship in ``data/embeddings`` (``python -m demo bundle-embeddings``).
    """
    from ettin.corpus import scifact

    ds = scifact("test")
    relevant = {d for q in EXAMPLE_QUERY_IDS for d in ds.qrels.get(q, {})}
    c = ds.corpus
    keep = [i for i in range(len(c)) if i < SAMPLE_SIZE or c.ids[i] in relevant]
    return Corpus(
        tuple(c.ids[i] for i in keep),
        tuple(c.texts[i] for i in keep),
        tuple(c.titles[i] for i in keep),
        f"scifact-sample-{len(keep)}",
    )


@lru_cache(maxsize=1)
def scifact_corpus() -> Corpus:
    """The whole SciFact corpus (5,183 abstracts) that the test split's queries are judged against.

    Its MiniLM embeddings ship in ``data/embeddings`` too, so choosing it costs no embedding time.
    """
    from ettin.corpus import scifact

    return scifact("test").corpus


@lru_cache(maxsize=1)
def example_queries() -> tuple[str, ...]:
    """The example queries (SciFact test claims) whose relevant documents are in :func:`sample_corpus`."""
    from ettin.corpus import load_queries
    from ettin.paths import BUNDLED_SCIFACT

    queries = load_queries(BUNDLED_SCIFACT)
    return tuple(queries[q] for q in EXAMPLE_QUERY_IDS if q in queries)


@lru_cache(maxsize=1)
def sample_relevance() -> dict[str, set[str]]:
    """Example query text -> ids of the documents SciFact judges relevant (shown as a hint in the results)."""
    from ettin.corpus import scifact

    ds = scifact("test")
    return {ds.queries[q]: set(ds.qrels[q]) for q in EXAMPLE_QUERY_IDS if q in ds.queries}


# --------------------------------------------------------------------------------------------------------------------
# User documents


_SURROGATE = re.compile("[\ud800-\udfff]")
MAX_ID_CHARS = 200


def _doc_id(row: dict, lineno: int, default: str) -> str:
    """A JSONL row's ``_id`` / ``id`` as text: a string or a whole number, at most :data:`MAX_ID_CHARS` characters."""
    value = row.get("_id", row.get("id", default))
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise CorpusInputError(f"line {lineno}: \"_id\"/\"id\" must be a string or a whole number, not {type(value).__name__}")
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_ID_CHARS or _SURROGATE.search(text):
        raise CorpusInputError(f"line {lineno}: the id is longer than {MAX_ID_CHARS} characters or not valid text")
    return text


def _finish(ids: Sequence[str], texts: Sequence[str], titles: Sequence[str], name: str, notes: list[str]) -> ParsedCorpus:
    """Drop empty and duplicate documents, apply the caps, and build the corpus."""
    seen: dict[str, int] = {}
    keep_ids, keep_texts, keep_titles = [], [], []
    empty = dupes = repaired = 0
    for doc_id, text, title in zip(ids, texts, titles):
        text, title = text.strip(), title.strip()
        if _SURROGATE.search(text) or _SURROGATE.search(title):
            text, title = _SURROGATE.sub("\ufffd", text), _SURROGATE.sub("\ufffd", title)
            repaired += 1
        if not text and not title:
            empty += 1
            continue
        key = f"{title}\x00{text}"
        if key in seen:
            dupes += 1
            continue
        seen[key] = 1
        keep_ids.append(doc_id)
        keep_texts.append(text)
        keep_titles.append(title)
    if not keep_texts:
        raise CorpusInputError("no documents found: give at least one non-empty document (one per line when pasting)")
    if len(keep_texts) > MAX_DOCUMENTS:
        raise CorpusInputError(f"{len(keep_texts):,} documents; the limit is {MAX_DOCUMENTS:,} — use a smaller corpus")
    for i, (text, title) in enumerate(zip(keep_texts, keep_titles), start=1):
        if len(text) + len(title) > MAX_DOCUMENT_CHARS:
            raise CorpusInputError(
                f"document {i} has {len(text) + len(title):,} characters; the limit is {MAX_DOCUMENT_CHARS:,} per document"
            )
    if len(set(keep_ids)) != len(keep_ids):
        dup_ids = len(keep_ids) - len(set(keep_ids))
        raise CorpusInputError(f"{dup_ids} document id(s) appear more than once: ids must be unique")
    if dupes:
        notes.append(f"{dupes} duplicate document{'s' if dupes != 1 else ''} removed")
    if empty:
        notes.append(f"{empty} empty document{'s' if empty != 1 else ''} skipped")
    if repaired:
        notes.append(f"{repaired} document{'s' if repaired != 1 else ''} had invalid characters (lone surrogates), "
                     "shown as \ufffd")  # fmt: skip
    if len(keep_texts) == 1:
        notes.append("only one document: every search returns it, and reranking cannot change the order")
    has_titles = any(keep_titles)
    corpus = Corpus(tuple(keep_ids), tuple(keep_texts), tuple(keep_titles) if has_titles else (), name)
    return ParsedCorpus(corpus, notes)


def parse_pasted(text: str, name: str = "pasted") -> ParsedCorpus:
    """One document per line; blank lines are skipped and exact duplicates removed (with a note).

    Raises:
        CorpusInputError: not text, over the size cap, no documents, too many or too long documents.
    """
    if not isinstance(text, str):
        raise CorpusInputError("paste the documents as text, one per line")
    if len(text.encode("utf-8", "surrogatepass")) > MAX_UPLOAD_BYTES:
        raise CorpusInputError(f"the pasted text is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB; use a smaller corpus")
    lines = [line for line in text.splitlines() if line.strip()]
    return _finish([f"d{i}" for i in range(len(lines))], lines, [""] * len(lines), name, [])


def _decode(data: bytes) -> str:
    """UTF-8 text of an upload (a BOM is dropped); binary or other encodings are refused."""
    if b"\x00" in data[:8192]:
        raise CorpusInputError("the file looks binary (it contains NUL bytes): upload a UTF-8 text file (.txt, .jsonl or .csv)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CorpusInputError(
            f"the file is not valid UTF-8 text (bad byte at offset {exc.start}): save it as UTF-8 and upload again"
        ) from None
    return text


def _parse_jsonl(text: str, name: str) -> ParsedCorpus:
    """One JSON object (or string) per line with ``text`` and optional ``title`` and ``_id``/``id``."""
    ids, texts, titles = [], [], []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CorpusInputError(f"line {lineno} is not valid JSON ({exc.msg}); each line must be an object") from None
        except RecursionError:
            raise CorpusInputError(f"line {lineno} is nested too deeply; each line must be a flat object") from None
        except ValueError:  # e.g. an integer of more than 4,300 digits
            raise CorpusInputError(f"line {lineno} holds a number too long to read; write ids as short strings") from None
        if isinstance(row, str):
            row = {"text": row}
        if not isinstance(row, dict):
            raise CorpusInputError(f"line {lineno}: each line must be a JSON object like {{\"text\": \"...\"}}")
        if "text" not in row:
            raise CorpusInputError(f"line {lineno}: missing the \"text\" field (optional: \"title\", \"_id\" or \"id\")")
        body, title = row.get("text"), row.get("title", "")
        if body is None:
            body = ""
        if title is None:
            title = ""
        if not isinstance(body, str) or not isinstance(title, str):
            raise CorpusInputError(f"line {lineno}: \"text\" and \"title\" must be strings")
        ids.append(_doc_id(row, lineno, f"d{len(ids)}"))
        texts.append(body)
        titles.append(title)
    return _finish(ids, texts, titles, name, [])


def _parse_csv(text: str, name: str) -> ParsedCorpus:
    """A header row with a ``text`` column (optional ``title``, ``id``/``_id``), one document per row."""
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as exc:
        raise CorpusInputError(f"the CSV file is malformed ({exc}); quote fields that contain commas or line breaks") from None
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if not rows:
        raise CorpusInputError("no documents found: the CSV file is empty")
    header = [h.strip().lower() for h in rows[0]]
    if "text" not in header:
        raise CorpusInputError(
            "the CSV file needs a header row with a \"text\" column (optional: \"title\", \"id\"); found: "
            + ", ".join(repr(h) for h in header[:10])
        )
    col_text = header.index("text")
    col_title = header.index("title") if "title" in header else None
    col_id = header.index("id") if "id" in header else (header.index("_id") if "_id" in header else None)
    ids, texts, titles = [], [], []
    for lineno, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise CorpusInputError(f"CSV row {lineno} has {len(row)} fields; the header has {len(header)}")
        ids.append(row[col_id].strip() if col_id is not None else f"d{len(ids)}")
        texts.append(row[col_text])
        titles.append(row[col_title] if col_title is not None else "")
    return _finish(ids, texts, titles, name, [])


def parse_upload(filename: str, data: bytes) -> ParsedCorpus:
    """Parse an uploaded ``.txt`` (one document per line), ``.jsonl`` (``{"text", "title"?, "_id"?}``) or ``.csv``
    (header with a ``text`` column).

    Args:
        filename: The name the browser sent; only its extension is used.
        data: The file's bytes.

    Raises:
        CorpusInputError: wrong extension, over the size cap, binary or invalid UTF-8, malformed JSONL/CSV, no documents.
    """
    ext = "." + filename.rsplit(".", 1)[-1].lower() if isinstance(filename, str) and "." in filename else ""
    if ext not in ALLOWED_EXTENSIONS:
        raise CorpusInputError(f"unsupported file type {ext or '(none)'!r}: upload {', '.join(ALLOWED_EXTENSIONS)}")
    if len(data) > MAX_UPLOAD_BYTES:
        raise CorpusInputError(
            f"the file has {len(data) / (1024 * 1024):.1f} MB; the limit is {MAX_UPLOAD_BYTES // (1024 * 1024)} MB"
        )
    text = _decode(data)
    name = f"upload{ext}"
    if ext == ".jsonl":
        return _parse_jsonl(text, name)
    if ext == ".csv":
        return _parse_csv(text, name)
    lines = [line for line in text.splitlines() if line.strip()]
    return _finish([f"d{i}" for i in range(len(lines))], lines, [""] * len(lines), name, [])
