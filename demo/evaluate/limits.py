"""The Evaluate tab's caps, stated in the tab, and the one error every refusal of it raises."""

from __future__ import annotations

from ettin.errors import UserError

__all__ = [
    "EVAL_BUDGET_S",
    "MAX_DOCUMENTS",
    "MAX_K",
    "MAX_PAIRS",
    "MAX_QUERIES",
    "MAX_RATIO",
    "MAX_UNCOMPRESSED_BYTES",
    "MAX_UPLOAD_BYTES",
    "MAX_ZIP_ENTRIES",
    "EvaluateInputError",
    "limits_text",
]

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
"""One upload (the ``.zip``, or the three files together)."""
MAX_UNCOMPRESSED_BYTES = 200 * 1024 * 1024
"""The ``.zip``'s members, unpacked, together."""
MAX_RATIO = 100
"""Uncompressed / compressed size of one member above 1 MiB (JSONL compresses about 5–15×; a bomb 1000× or more)."""
MAX_ZIP_ENTRIES = 64
MAX_DOCUMENTS = 100_000
MAX_QUERIES = 5_000
MAX_PAIRS = 1_000_000
"""(query, document) pairs reranked, over all systems of one run."""
MAX_K = 100
"""First-stage depth; at most 100, so Recall@100 of every system is its Recall@K."""
EVAL_BUDGET_S = 900.0
"""A run estimated above this is refused, with the CLI command that runs it without a limit."""


class EvaluateInputError(UserError, ValueError):
    """A dataset, upload or run the Evaluate tab refuses; the message names the file (and line) and the fix."""


def limits_text() -> str:
    """The caps, as the tab states them (Markdown)."""
    return (
        f"**Limits:** upload ≤ {MAX_UPLOAD_BYTES // 2**20} MiB (a `.zip` ≤ {MAX_UNCOMPRESSED_BYTES // 2**20} MiB "
        f"unpacked, ≤ {MAX_ZIP_ENTRIES} entries, no links or nested archives); ≤ {MAX_DOCUMENTS:,} documents, "
        f"≤ {MAX_QUERIES:,} queries, K ≤ {MAX_K}, ≤ {MAX_PAIRS:,} reranked pairs and an estimated "
        f"≤ {EVAL_BUDGET_S / 60:g} minutes per run (above that the tab gives the `python -m eval retrieval` command "
        "that runs it without limit). One evaluation runs at a time; others wait in line and see their place."
    )
