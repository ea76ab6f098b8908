"""Ettin Rerankers — the Gradio app: search playground, all-sizes comparison, leaderboard and how to reproduce it.

UI only: search logic lives in ``ettin.playground`` / ``ettin.user_corpus``, leaderboard data in ``eval.leaderboard`` and
figures in ``eval.figures``. Nothing heavy is imported or loaded until a request needs it, so ``python app.py`` serves in
seconds. Runs on 127.0.0.1 without a share link unless asked.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

logger = logging.getLogger("ettin.app")

SAMPLE = "Bundled SciFact sample"
MINE = "My documents"
TITLE = "Ettin Rerankers"
INTRO = """# Ettin Rerankers
Retrieve with an embedder (or BM25), rerank with an **Ettin cross-encoder**, and see what the reranker changed and what it
cost. *Compare* runs every size on one query; *Leaderboard* shows the blog's published numbers next to regenerated ones.
"""


def _user_errors() -> tuple[type[Exception], ...]:
    from ettin.pipeline import InputError
    from ettin.runtime import ModelLoadError
    from ettin.user_corpus import CorpusInputError

    return (InputError, ModelLoadError, CorpusInputError)


def _guard(fn):
    """Turn refusals into a clean ``gr.Error`` (a message in the UI, an error over the API) and never show a traceback."""
    import functools

    import gradio as gr

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except _user_errors() as exc:
            raise gr.Error(str(exc)) from None
        except MemoryError:
            raise gr.Error("out of memory: choose a smaller model, a smaller K or a smaller corpus") from None
        except Exception as exc:  # noqa: BLE001 - logged server-side; the user gets one line
            logger.exception("unexpected error in %s", fn.__name__)
            raise gr.Error(f"unexpected error ({type(exc).__name__}): {str(exc)[:200]}") from None

    return wrapper


def build_app(
    models_dir: str | Path | None = None,
    results_dir: str | Path | None = None,
    max_rerank_seconds: float | None = None,
    include_hub: bool | None = None,
    default_first_stage: str | None = None,
):
    """Build the app.

    Args:
        models_dir: Folder of local rerankers (sub-folders, e.g. ``python -m ettin replica --size all --out models``);
            default ``$ETTIN_MODELS_DIR``.
        results_dir: Results store for the leaderboard (default ``eval/results``).
        max_rerank_seconds: Refuse reranks estimated above this (default ``$ETTIN_MAX_RERANK_SECONDS`` or 60).
        include_hub: Offer Hub models (default: unless ``HF_HUB_OFFLINE`` is set).
        default_first_stage: First stage selected at start (default: the packaged MiniLM when installed, else BM25).

    Returns:
        The ``gr.Blocks`` app (not launched).
    """
    import gradio as gr

    from ettin import registry
    from ettin.paths import models_dir as env_models_dir
    from ettin.playground import (
        DEFAULT_MAX_RERANK_SECONDS,
        MAX_K,
        MAX_TOP_N,
        NO_RERANKER,
        RANDOM_BADGE,
        Playground,
        compare_frame,
        movement_frame,
        results_frame,
        timings_frame,
    )
    from ettin.user_corpus import MAX_DOCUMENTS, MAX_UPLOAD_BYTES, example_queries, parse_pasted, parse_upload, sample_corpus
    from eval import figures
    from eval import leaderboard as lb

    models_dir = models_dir or env_models_dir()
    play = Playground(models_dir, max_rerank_seconds or DEFAULT_MAX_RERANK_SECONDS, include_hub)
    results_dir = Path(results_dir) if results_dir else lb.DEFAULT_RESULTS_DIR
    board_holder: dict[str, Any] = {"board": lb.build_leaderboard(results_dir)}
    download_root = Path(tempfile.mkdtemp(prefix="ettin-app-"))

    reranker_choices = [("none (retriever only)", NO_RERANKER)] + [(c.label, c.key) for c in play.rerankers]
    default_reranker = play.rerankers[0].key if play.rerankers else NO_RERANKER
    stage_choices = [(c.label, c.key) for c in play.first_stages]
    wanted = default_first_stage or registry.MINILM_ID
    default_stage = next((c.key for c in play.first_stages if c.key == wanted), registry.BM25.id)
    models_note = (
        f"Rerankers from the models folder `{Path(models_dir).name if models_dir else ''}`"
        if play.models_dir
        else "No local models folder: start with `--models-dir models` (build replicas with "
        "`python -m ettin replica --size all --out models`)"
    )

    def corpus_for(mode: str, user_corpus):
        if mode == MINE:
            if user_corpus is None:
                raise gr.Error("no documents of yours are loaded: paste or upload them and press 'Use these documents'")
            return user_corpus
        return sample_corpus()

    # ---- handlers ----------------------------------------------------------------------------------------------------

    @_guard
    def load_documents(pasted: str | None, upload: str | None):
        if upload:
            path = Path(upload)
            size = path.stat().st_size
            if size > MAX_UPLOAD_BYTES:
                raise gr.Error(f"the file has {size / 2**20:.1f} MB; the limit is {MAX_UPLOAD_BYTES // 2**20} MB")
            parsed = parse_upload(path.name, path.read_bytes())
        elif pasted and pasted.strip():
            parsed = parse_pasted(pasted)
        else:
            raise gr.Error("nothing to load: paste documents (one per line) or upload a .txt, .jsonl or .csv file")
        return parsed.corpus, f"✅ {parsed.summary()}", MINE

    @_guard
    def estimate(reranker: str, k: float) -> str:
        return play.estimate_text(reranker, int(k))

    @_guard
    def search(query, mode, user_corpus, embedder, reranker, k, top_n, progress=gr.Progress()):
        corpus = corpus_for(mode, user_corpus)

        def report(frac: float, desc: str) -> None:
            progress(frac, desc=desc)

        outcome = play.search(query, corpus, embedder, reranker, int(k), int(top_n), progress=report)
        relevant = None
        if mode != MINE:
            from ettin.user_corpus import sample_relevance

            relevant = sample_relevance().get(outcome.result.query)
        table = results_frame(outcome, relevant)
        lines = []
        if outcome.choice is not None and outcome.choice.random_init:
            lines.append(f"⚠️ **{outcome.choice.key}: {RANDOM_BADGE}** (a replica: real speed, random scores)")
        t = outcome.timings
        lines.append(
            f"{len(outcome.result.candidates)} candidates from **{outcome.result.first_stage}** over {len(corpus):,} documents"
            + (f", reranked by **{outcome.result.reranker}**" if outcome.result.reranker else " (no reranker)")
            + f" — search {t['total_s'] * 1000:,.0f} ms (rerank {t['rerank_s'] * 1000:,.0f} ms), setup {t['setup_s']:.1f} s"
        )
        lines += [f"- {n}" for n in outcome.notes if RANDOM_BADGE not in n]
        if relevant is not None:
            lines.append("- `relevant` marks documents SciFact judges relevant to this example query")
        fig = figures.movement_figure(movement_frame(outcome), int(top_n))
        return "\n".join(lines), table, timings_frame(outcome), fig

    @_guard
    def compare(query, mode, user_corpus, embedder, rerankers, k, progress=gr.Progress()):
        corpus = corpus_for(mode, user_corpus)
        out = play.compare(
            query, corpus, embedder, rerankers or None, int(k), progress=lambda f, d: progress(f, desc=d)
        )
        lines = [
            f"Top {len(out.candidates)} of **{out.first_stage}** reranked by {len(out.rows)} model(s); agreement is measured "
            f"against the largest that ran: **{out.reference or '—'}**. Throughput is measured live on this machine."
        ]
        if any(r.choice.random_init for r in out.rows):
            lines.append(f"⚠️ Replicas carry **{RANDOM_BADGE}**: their agreement numbers only show that random models disagree.")
        lines += [f"- skipped {s}" for s in out.skipped]
        return "\n".join(lines), compare_frame(out)

    def _filtered(families, min_m, max_m, sources):
        board = board_holder["board"]
        kw = {
            "families": families or None,  # none ticked = no filter
            "min_params": None if min_m in (None, "") else float(min_m) * 1e6,
            "max_params": None if max_m in (None, "") else float(max_m) * 1e6,
            "sources": sources or None,
        }
        return board, lb.filter_frame(board.quality, **kw), lb.filter_frame(board.speed, **kw)

    @_guard
    def update_leaderboard(families, min_m, max_m, sources, benchmark, hardware, dataset):
        board, q, s = _filtered(families, min_m, max_m, sources)
        notes = "\n".join(f"- {n}" for n in board.notes) or "- all result files read"
        return (
            figures.quality_vs_params(q, benchmark),
            figures.pareto(q, s, benchmark, hardware),
            figures.speed_bars(s, hardware),
            figures.embedder_bars(board.embedders, dataset),
            q[q["benchmark"] == benchmark].sort_values("ndcg10", ascending=False),
            s[s["hardware"] == hardware].sort_values("pairs_per_s", ascending=False),
            f"**{len(q)} quality rows, {len(s)} speed rows after filters.** Notes:\n{notes}",
        )

    @_guard
    def export(families, min_m, max_m, sources):
        _, q, s = _filtered(families, min_m, max_m, sources)
        folder = Path(tempfile.mkdtemp(dir=download_root))
        files = []
        for name, df in (("quality", q), ("speed", s), ("ablation", board_holder["board"].ablation)):
            csv_path, json_path = folder / f"ettin_{name}.csv", folder / f"ettin_{name}.json"
            df.to_csv(csv_path, index=False)
            json_path.write_text(lb.frame_to_json(df), encoding="utf-8")
            files += [str(csv_path), str(json_path)]
        return files

    @_guard
    def reload_results(*filters):
        board_holder["board"] = lb.build_leaderboard(results_dir)
        return update_leaderboard(*filters)

    def reproduce_markdown() -> str:
        board = board_holder["board"]
        src = registry.published()["source"]
        regen = board.quality[board.quality["source"] == "regenerated"]
        regen_speed = board.speed[board.speed["source"] == "regenerated"]
        rows = board.embedders[board.embedders["source"] == "regenerated"]
        commands = ""
        if not rows.empty:
            lines = [f"| {r.dataset}/{r.split} | {r.first_stage} | {r.reranker or 'retriever only'} | {r.ndcg10:.4f} | `{r.command}` |"
                     for r in rows.itertuples()]
            commands = ("**Regenerated retrieval results and the command for each:**\n\n"
                        "| dataset | first stage | reranker | NDCG@10 | command |\n|---|---|---|---|---|\n" + "\n".join(lines))
        return f"""## Reproduce every number

**Published figures** come from [{src['title']}]({src['url']}) ({src['published']}), transcribed in
`ettin/resources/ettin_blog_2026-05.json`. **Regenerated** rows come from the results store (`eval/results/`), each with the
date, hardware, package versions and protocol of its run (hover a point, or read the `provenance` column).
Shown now: {len(regen)} regenerated quality rows, {len(regen_speed)} regenerated speed rows,
{board.refused_random_init} random-init quality result(s) refused.

| figure | command |
|---|---|
| all leaderboard tables (CSV + JSON) | `python -m eval leaderboard --out eval/results/leaderboard` |
| per-embedder NDCG@10 on bundled SciFact (two-stage, top-100) | `python -m eval retrieval --first-stage bm25 --first-stage sentence-transformers/all-MiniLM-L6-v2 --reranker 17m` |
| MTEB(eng, v2) two-stage (online: needs the Hub) | `python -m eval mteb --help` |
| NanoBEIR (BM25 top-100 reranked) | `python -m eval nanobeir --help` |
| speed per hardware and the bf16/FA2 ablation | `python -m eval speed --models 17m,32m,68m` (offline: add `--replica`) |
| offline stand-ins for the six sizes | `python -m ettin replica --size all --out models` |
| this app with them | `python app.py --models-dir models` (or `ETTIN_MODELS_DIR=models python app.py`) |
| this app's latency and load numbers | `python -m eval.app_load --models-dir models` |

{commands}

Replicas have the exact architecture and parameter count but random weights: their **speed is real, their scores are
meaningless**, so quality results made with them are refused by the leaderboard.
"""

    # ---- layout ------------------------------------------------------------------------------------------------------

    with gr.Blocks(title=TITLE) as demo:
        user_corpus = gr.State(None, time_to_live=3600)  # per browser session, dropped after an hour
        gr.Markdown(INTRO)
        with gr.Tabs():
            with gr.Tab("Search", id="search"):
                with gr.Row():
                    with gr.Column(scale=2):
                        query = gr.Textbox(label="Query", placeholder="Ask a question or paste a claim…", lines=2, max_lines=6)
                        gr.Examples(list(example_queries()), inputs=[query], label="Example queries (SciFact claims)")
                    with gr.Column(scale=1):
                        corpus_mode = gr.Radio([SAMPLE, MINE], value=SAMPLE, label="Corpus")
                        embedder = gr.Dropdown(stage_choices, value=default_stage, label="First stage (embedder or BM25)")
                        reranker = gr.Dropdown(reranker_choices, value=default_reranker, label="Reranker")
                with gr.Row():
                    k = gr.Slider(1, MAX_K, value=30, step=1, label="K: first-stage depth (documents reranked)")
                    top_n = gr.Slider(1, MAX_TOP_N, value=10, step=1, label="Results to show")
                estimate_md = gr.Markdown(play.estimate_text(default_reranker, 30), elem_id="estimate")
                gr.Markdown(f"<small>{models_note}. The sample is the first 1,000 SciFact abstracts plus those relevant to the "
                            "examples; embedding it takes about half a minute the first time, then it is cached.</small>")
                search_btn = gr.Button("Search", variant="primary", elem_id="search-btn")
                with gr.Accordion("Use your own documents", open=False):
                    gr.Markdown(
                        f"Paste one document per line, or upload `.txt` (one per line), `.jsonl` (`{{\"text\", \"title\"?, "
                        f"\"_id\"?}}`) or `.csv` (header with a `text` column). At most {MAX_DOCUMENTS:,} documents and "
                        f"{MAX_UPLOAD_BYTES // 2**20} MB; duplicates are removed. Your documents stay in your session."
                    )
                    pasted = gr.Textbox(label="Documents, one per line", lines=6, max_lines=12)
                    upload = gr.File(label="or upload", file_types=[".txt", ".jsonl", ".csv"], type="filepath")
                    load_btn = gr.Button("Use these documents")
                    corpus_status = gr.Markdown()
                status = gr.Markdown(elem_id="search-status")
                results = gr.Dataframe(label="Results", wrap=True, elem_id="results", interactive=False, max_height=600)
                with gr.Row():
                    timings = gr.Dataframe(label="Latency breakdown (seconds)", interactive=False, scale=1,
                                           column_widths=["70%", "30%"], elem_id="timings")
                    movement = gr.Plot(label="Rank movement", scale=1, elem_id="movement-plot")

            with gr.Tab("Compare sizes", id="compare"):
                gr.Markdown(
                    "One query, every reranker you pick, the same first-stage candidates. Agreement with the largest size "
                    "that ran: overlap of the top 5 and Kendall's tau over all candidates. Sizes estimated above the time "
                    "limit are skipped."
                )
                with gr.Row():
                    c_query = gr.Textbox(label="Query", lines=2, scale=2)
                    with gr.Column(scale=1):
                        c_embedder = gr.Dropdown(stage_choices, value=default_stage, label="First stage")
                        c_k = gr.Slider(1, MAX_K, value=20, step=1, label="K")
                c_rerankers = gr.CheckboxGroup(
                    [(c.label, c.key) for c in play.rerankers],
                    value=[c.key for c in play.rerankers if not c.key.startswith("cross-encoder/")],
                    label="Rerankers (corpus: as chosen on the Search tab)",
                )
                compare_btn = gr.Button("Compare", variant="primary")
                c_status = gr.Markdown()
                c_table = gr.Dataframe(label="Per reranker", wrap=True, interactive=False)

            with gr.Tab("Leaderboard", id="leaderboard"):
                board = board_holder["board"]
                benchmarks = list(dict.fromkeys(board.quality["benchmark"]))
                hardwares = list(dict.fromkeys(board.speed["hardware"]))
                datasets = list(dict.fromkeys(board.embedders["dataset"]))
                with gr.Row():
                    families = gr.CheckboxGroup([*lb.MAIN_FAMILIES, lb.OTHERS], value=[*lb.MAIN_FAMILIES, lb.OTHERS], label="Family (none ticked = all)")
                    sources = gr.CheckboxGroup(["published", "regenerated"], value=["published", "regenerated"], label="Source (none ticked = all)")
                    min_m = gr.Number(0, label="min parameters (M)", minimum=0)
                    max_m = gr.Number(5000, label="max parameters (M)", minimum=0)
                with gr.Row():
                    benchmark = gr.Dropdown(benchmarks, value=benchmarks[0], label="Quality benchmark")
                    hardware = gr.Dropdown(hardwares, value=hardwares[0], label="Hardware")
                    dataset = gr.Dropdown(datasets, value=datasets[0], label="Per-embedder dataset")
                lb_notes = gr.Markdown()
                quality_plot = gr.Plot(label="Quality vs parameters", elem_id="quality-plot")
                pareto_plot = gr.Plot(label="Quality vs speed", elem_id="pareto-plot")
                speed_plot = gr.Plot(label="Speed", elem_id="speed-plot")
                embedder_plot = gr.Plot(label="Per embedder", elem_id="embedder-plot")
                quality_table = gr.Dataframe(label="Quality on the chosen benchmark (click a header to sort)", interactive=False, wrap=True)
                speed_table = gr.Dataframe(label="Speed on the chosen hardware", interactive=False, wrap=True)
                gr.Markdown("### bf16 / FlashAttention-2 ablation (pairs/s and peak GB per configuration)")
                gr.Dataframe(board.ablation, interactive=False, wrap=True)
                gr.Plot(figures.ablation_figure(board.ablation))
                with gr.Row():
                    export_btn = gr.Button("Download filtered tables (CSV + JSON)")
                    reload_btn = gr.Button("Reload results store")
                files = gr.File(label="Downloads", file_count="multiple", interactive=False)

            with gr.Tab("Reproduce", id="reproduce"):
                reproduce_md = gr.Markdown(reproduce_markdown())

        # ---- events --------------------------------------------------------------------------------------------------
        load_btn.click(load_documents, [pasted, upload], [user_corpus, corpus_status, corpus_mode], api_name="load_documents",
                       concurrency_limit=2)
        for comp in (reranker, k):
            comp.change(estimate, [reranker, k], estimate_md, api_name=False if comp is k else "estimate",
                        show_progress="hidden")
        search_inputs = [query, corpus_mode, user_corpus, embedder, reranker, k, top_n]
        search_outputs = [status, results, timings, movement]
        search_btn.click(search, search_inputs, search_outputs, api_name="search", concurrency_limit=2,
                         concurrency_id="rerank").then(estimate, [reranker, k], estimate_md, api_name=False,
                                                       show_progress="hidden")
        query.submit(search, search_inputs, search_outputs, api_name=False, concurrency_id="rerank").then(
            estimate, [reranker, k], estimate_md, api_name=False, show_progress="hidden")
        compare_btn.click(compare, [c_query, corpus_mode, user_corpus, c_embedder, c_rerankers, c_k], [c_status, c_table],
                          api_name="compare", concurrency_limit=1)
        lb_inputs = [families, min_m, max_m, sources, benchmark, hardware, dataset]
        lb_outputs = [quality_plot, pareto_plot, speed_plot, embedder_plot, quality_table, speed_table, lb_notes]
        for comp in lb_inputs:
            comp.change(update_leaderboard, lb_inputs, lb_outputs, api_name=False)
        refresh = gr.Button(visible=False)
        refresh.click(update_leaderboard, lb_inputs, lb_outputs, api_name="leaderboard")
        demo.load(update_leaderboard, lb_inputs, lb_outputs, api_name=False)
        export_btn.click(export, [families, min_m, max_m, sources], files, api_name="export")
        reload_btn.click(reload_results, lb_inputs, lb_outputs, api_name="reload").then(
            reproduce_markdown, None, reproduce_md, api_name=False
        )
    demo.queue(default_concurrency_limit=4, max_size=64)
    return demo


def main(argv: list[str] | None = None) -> None:
    """``python app.py [--host 127.0.0.1] [--port 7860] [--models-dir DIR] [--results-dir DIR] [--share]``."""
    parser = argparse.ArgumentParser(description="Ettin Rerankers app")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    parser.add_argument("--models-dir", default=None, help="folder of local rerankers (default: $ETTIN_MODELS_DIR)")
    parser.add_argument("--results-dir", default=None, help="results store for the leaderboard (default: eval/results)")
    parser.add_argument("--max-rerank-seconds", type=float, default=None, help="refuse reranks estimated above this")
    parser.add_argument("--first-stage", default=None, help="first stage selected at start (e.g. bm25)")
    parser.add_argument("--share", action="store_true", help="create a public gradio.live link (off by default)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    demo = build_app(args.models_dir, args.results_dir, args.max_rerank_seconds, default_first_stage=args.first_stage)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, max_file_size="2mb")


if __name__ == "__main__":
    main()
