"""The app's longer texts (Markdown), kept apart from the layout so each tab's code reads at once."""

from __future__ import annotations

from pathlib import Path

from demo.sources.firstrun import proof_run_time

__all__ = [
    "COMPARE_HELP",
    "FIRST_RUN",
    "FULL_SCIFACT",
    "GRADIO_TRANSLATIONS",
    "INTRO",
    "MINE",
    "NO_MODELS_NOTE",
    "REPRODUCE",
    "SAMPLE",
    "SAMPLE_NOTE",
    "SCORE_HELP",
    "STOPPED",
    "TITLE",
    "UPLOAD_HELP",
    "compile_help",
]

TITLE = "Ettin Rerankers"
SAMPLE = "Bundled SciFact sample"  # the corpus choices, as the UI and the API send them
MINE = "My documents"
FULL_SCIFACT = "Full SciFact (5,183 abstracts)"

INTRO = """# Ettin Rerankers
Retrieve with an embedder (or BM25), rerank with an **Ettin cross-encoder**, and see what the reranker changed and what it
cost. *Compare* runs every size on one query; *Leaderboard* shows the blog's published numbers next to regenerated ones,
with intervals; *Explore* shows a regenerated result query by query. A REST `POST /rerank` serves the same models.
"""

# formatted with folder (where the replica goes); the proof run's time is its committed report's
FIRST_RUN = f"""**No reranker here yet**, so searches show first-stage results only.
Build a replica of any size into `{{folder}}`: the real Ettin architecture with **random weights**, real speed
and meaningless scores (17m is the quickest; each size says its disk size and, once one was built here, its build time). For a trained one, run `python -m train scifact`, which distils a small reranker on SciFact
offline (the committed run took {proof_run_time()}); then restart with `--models-dir models`.
"""

# Gradio's own texts its translations lack (6.31 announces "common.complete" to screen readers after every event): given
# to ``launch(i18n=gr.I18n(**GRADIO_TRANSLATIONS))``
GRADIO_TRANSLATIONS = {"en": {"common.complete": "Done"}}

SCORE_HELP = (
    "Scores are the reranker's raw logits (higher = more relevant; only their order matters). "
    "*0–1* is sigmoid(logit): a squashed score, not a calibrated probability."
)

FILE_WINS = " (the uploaded file is used when both are given: remove it with × to load the pasted text)"
STOPPED = "**Stopped**: the search was cancelled and its work ends at its next step; the results above are from before."

NO_MODELS_NOTE = (
    "No local models folder: start with `--models-dir models` (build replicas with "
    "`python -m ettin replica --size all --out models`)"
)

SAMPLE_NOTE = (
    "The sample is the first 1,000 SciFact abstracts plus those relevant to the examples; its all-MiniLM-L6-v2 embeddings "
    "ship with the app, so the first search does not embed it (other embedders embed it once, then it is cached)."
)

# formatted with max_documents and max_mb
UPLOAD_HELP = (
    "Paste one document per line, or upload `.txt` (one per line), `.jsonl` (`{{\"text\", \"title\"?, "
    "\"_id\"?}}`) or `.csv` (header with a `text` column). At most {max_documents:,} documents and "
    "{max_mb} MB; duplicates are removed. A file is read as soon as it is dropped; pasted text when you press "
    "'Use these documents'. Your documents stay in your session."
)

COMPARE_HELP = (
    "One query, every reranker you pick, the same first-stage candidates, streamed size by size (smallest first; Stop "
    "ends after the running size). Agreement with the largest size selected (a note says so if it is skipped): overlap "
    "of the top 5 and Kendall's tau over all candidates. Sizes estimated above the time limit are skipped, with the K "
    "that fits, unless Run anyway is ticked."
)

# formatted with title, url, date, n_quality, n_speed, refused, commands (demo.tabs.reproduce) and regenerated
REPRODUCE = """## Reproduce every number

**Published figures** come from [{title}]({url}) ({date}), transcribed in
`ettin/resources/ettin_blog_2026-05.json`. **Regenerated** rows come from the results store (`eval/results/`), each with the
date, hardware, package versions and protocol of its run (hover a point, or read the `provenance` column).
Shown now: {n_quality} regenerated quality rows, {n_speed} regenerated speed rows,
{refused} random-init quality result(s) refused.

{commands}

{regenerated}

Replicas have the exact architecture and parameter count but random weights: their **speed is real, their scores are
meaningless**, so quality results made with them are refused by the leaderboard.
"""


def _compiled_speedup(results_dir: str | Path) -> tuple[float, str, str] | None:
    """(compiled / eager bf16 pairs/s, hardware, file) of the newest committed speed file that measured both."""
    from eval.speed.report import read_results

    best = None
    for found in read_results(results_dir)[0]:
        rows = {(r.get("model"), r.get("config")): r.get("pairs_per_s") for r in found.data.get("rows", [])
                if r.get("runtime") == "ettin" and not r.get("skipped")}  # fmt: skip
        prov = found.data.get("provenance") or {}
        for (model, config), compiled in rows.items():
            eager = rows.get((model, "bf16-sdpa"))
            if config != "bf16-sdpa-compiled" or not compiled or not eager:
                continue
            hardware = (prov.get("hardware") or {}).get("description") or found.stem
            if best is None or str(prov.get("date", "")) > best[0]:
                best = (str(prov.get("date", "")), float(compiled) / float(eager), hardware, found.file)
    return None if best is None else best[1:]


def compile_help(results_dir: str | Path | None = None) -> str:
    """The help of ``python app.py --compile``, with the speed-up measured in the committed speed results (default
    ``eval/results``); without such a result it quotes no number."""
    from eval.retrieval.store import DEFAULT_RESULTS_DIR

    measured = _compiled_speedup(DEFAULT_RESULTS_DIR if results_dir is None else results_dir)
    gain = "faster searches"
    if measured is not None:
        ratio, hardware, file = measured
        gain = f"searches {ratio:.2f}x as fast as eager bf16 (measured on {hardware}: results file {file})"
    return (
        f"with --warm-up-first, compile the start-up reranker with torch.compile before serving: {gain}, for a "
        "longer start-up while it compiles (docs/app.md has measured cold starts) (default: $ETTIN_COMPILE, else auto: "
        "where a C++ compiler is found; without --warm-up-first nothing compiles: the app answers at once and builds a "
        "faster backend in the background instead)"
    )
