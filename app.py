"""Ettin Rerankers — the Gradio app: search playground, all-sizes comparison, leaderboard, per-query explorer and how to
reproduce it.

The Hugging Face Spaces entry point. It only composes the tabs: their layout and handlers live in :mod:`demo.tabs`, the
search logic in :mod:`demo`, leaderboard data and figures in :mod:`eval.leaderboard`. Building the app loads no model:
``python app.py`` serves at once, loads the start-up embedder and reranker in the background (:mod:`demo.search.warmup`;
a search that comes first waits for them), then builds the reranker's fastest gated backend (``--backend``, default
auto: ONNX Runtime or OpenVINO where one passes the correctness gate and beats torch) in a niced child process and swaps
it in between requests. ``--warm-up-first`` loads them before serving instead, which ``--compile`` on or auto needs to
compile the start-up reranker (a compile must not run beside a search). Runs on 127.0.0.1 without a share link unless
asked.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

CSS_FILE = Path(__file__).resolve().parent / "demo" / "app.css"  # results rows, score bars, phone layout
# Gradio refuses larger uploads before any tab sees them: the Evaluate tab's cap (a BEIR zip); the Search tab's own
# documents keep their smaller cap (demo.sources.user_corpus)
EVALUATE_MAX_UPLOAD = "50mb"


def build_app(
    models_dir: str | Path | None = None,
    results_dir: str | Path | None = None,
    max_rerank_seconds: float | None = None,
    include_hub: bool | None = None,
    default_first_stage: str | None = None,
    compile: str | None = None,
    backend: str | None = None,
):
    """Build the app.

    Args:
        models_dir: Folder of local rerankers (sub-folders, e.g. ``python -m ettin replica --size all --out models``);
            default ``$ETTIN_MODELS_DIR``.
        results_dir: Results store for the leaderboard (default ``eval/results``).
        max_rerank_seconds: Refuse reranks estimated above this (default ``$ETTIN_MAX_RERANK_SECONDS`` or 60).
        include_hub: Offer Hub models (default: unless ``HF_HUB_OFFLINE`` is set).
        default_first_stage: First stage selected at start (default: the packaged MiniLM when installed, else BM25).
        compile: ``auto``, ``on`` or ``off`` (default ``$ETTIN_COMPILE``, else auto): compile the start-up reranker
            with ``torch.compile`` when :func:`serve` warms up before serving (auto: where the device has a compiler).
        backend: ``auto``, ``onnxruntime``, ``openvino`` or ``torch`` (default ``$ETTIN_BACKEND``, else auto): the
            exported backend built for the start-up reranker in the background once it is loaded (``torch``: none).

    Returns:
        The ``gr.Blocks`` app (not launched).
    """
    import gradio as gr

    from demo import texts
    from demo.api.rest import add_rerank_route
    from demo.board.store import BoardStore
    from demo.search.params import DEFAULT_MAX_RERANK_SECONDS
    from demo.search.playground import Playground
    from demo.search.warmup import start_warm_up
    from demo.sources.choices import default_first_stage as default_first_stage_key
    from demo.tabs import compare, evaluate, explore, leaderboard, reproduce, search
    from ettin.paths import models_dir as env_models_dir

    play = Playground(models_dir or env_models_dir(), max_rerank_seconds or DEFAULT_MAX_RERANK_SECONDS, include_hub,
                      compile, backend=backend)  # fmt: skip
    store = BoardStore(results_dir)
    # uploads and other files Gradio caches are deleted once an hour when older than an hour
    with gr.Blocks(title=texts.TITLE, delete_cache=(3600, 3600)) as demo:
        documents = gr.State(None, time_to_live=3600)  # the user's own documents, per browser session, for an hour
        gr.Markdown(texts.INTRO)
        with gr.Tabs():
            corpus = search.build(play, documents, default_first_stage, demo)
            compare.build(play, corpus, default_first_stage)
            reloaded = leaderboard.build(store, demo)
            explore.build(store.results_dir, demo)
            evaluations = evaluate.build(play, demo)
            reproduce.build(store, reloaded, demo)
    demo.queue(default_concurrency_limit=4, max_size=64)
    demo.ettin_routes = [lambda fastapi_app: add_rerank_route(fastapi_app, play)]  # added by serve(), next to Gradio's
    demo.ettin_css = CSS_FILE.read_text(encoding="utf-8")  # given to launch() by serve()
    demo.ettin_board = store  # its first build is started by serve() once the app serves and has warmed up
    start_stage = default_first_stage_key(play.first_stages, default_first_stage)
    start_reranker = play.rerankers[0].key if play.rerankers else None
    demo.ettin_warm_up = lambda compile=False: start_warm_up(play, start_stage, start_reranker, compile)  # by serve()
    _close_stops_background(demo, play, store, evaluations)
    return demo


def _close_stops_background(demo, *parts) -> None:
    """Make ``demo.close()`` also stop the app's own background work, in order: the playground's warm-up and backend
    builds (a build's child process is killed), the leaderboard's first build, the evaluations (their worker ended).
    A test or a host that closes the app then keeps no thread or child process of it running."""
    close_gradio = demo.close

    def close(*args, **kwargs):
        try:
            return close_gradio(*args, **kwargs)
        finally:
            for part in parts:
                part.close()

    demo.close = close


def serve(demo, block: bool = True, warm_up_first: bool = False, **launch_kwargs):
    """Launch ``demo`` (made by :func:`build_app`) and add its REST routes (``POST /rerank``) to the server.

    Args:
        demo: The app.
        block: Keep serving until interrupted (``False``: return at once, as tests do).
        warm_up_first: Load the start-up embedder and reranker before serving, and compile the reranker when the app
            compiles (``python app.py --warm-up-first``); otherwise (``python app.py``) the app answers at once and
            they load in the background, uncompiled (a faster backend is built after them either way, unless compiled).
        **launch_kwargs: For ``gr.Blocks.launch`` (host, port, ``share``, ``max_file_size``, ...).
    """
    warm_up = getattr(demo, "ettin_warm_up", None)
    if warm_up is not None and warm_up_first:
        warm_up(compile=True).join()  # no time limit: a compile must never run beside a search
    import gradio as gr

    from demo import texts

    launch_kwargs.setdefault("css", getattr(demo, "ettin_css", None))
    launch_kwargs.setdefault("i18n", gr.I18n(**texts.GRADIO_TRANSLATIONS))  # a key Gradio's own strings lack
    demo.launch(prevent_thread_lock=True, **launch_kwargs)
    for add_route in getattr(demo, "ettin_routes", ()):
        add_route(demo.app)
    board = getattr(demo, "ettin_board", None)
    warming = warm_up() if warm_up is not None and not warm_up_first else None
    if board is not None and warming is not None:
        board.start_after(warming)
    elif board is not None:
        board.start()
    if block:
        demo.block_thread()
    return demo


def main(argv: list[str] | None = None) -> None:
    """``python app.py [--host 127.0.0.1] [--port 7860] [--models-dir DIR] [--results-dir DIR] [--share]``."""
    from demo.texts import compile_help
    from ettin.runtime.compiled import COMPILE_MODES
    from ettin.runtime.device import BACKENDS

    parser = argparse.ArgumentParser(description="Ettin Rerankers app")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    parser.add_argument("--models-dir", default=None, help="folder of local rerankers (default: $ETTIN_MODELS_DIR)")
    parser.add_argument("--results-dir", default=None, help="results store for the leaderboard (default: eval/results)")
    parser.add_argument("--max-rerank-seconds", type=float, default=None, help="refuse reranks estimated above this")
    parser.add_argument("--first-stage", default=None, help="first stage selected at start (e.g. bm25)")
    parser.add_argument("--share", action="store_true", help="create a public gradio.live link (off by default)")
    parser.add_argument("--warm-up-first", action="store_true",
                        help="load (and with --compile, compile) the start-up models before serving (default: answer at "
                        "once and load them in the background; a search that comes first waits for them)")  # fmt: skip
    parser.add_argument("--compile", choices=COMPILE_MODES, default=None, help=compile_help())  # measured gain
    parser.add_argument("--backend", choices=BACKENDS, default=None,
                        help="exported backend built for the start-up reranker in the background and swapped in once it "
                        "passes the correctness gate (default: $ETTIN_BACKEND, else auto: the fastest that passes and "
                        "beats torch; torch: build none)")  # fmt: skip
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    from ettin.errors import UserError

    try:
        demo = build_app(args.models_dir, args.results_dir, args.max_rerank_seconds, default_first_stage=args.first_stage,
                         compile=args.compile, backend=args.backend)  # fmt: skip
    except UserError as exc:  # e.g. a bad $ETTIN_COMPILE: one line, no traceback
        parser.exit(2, f"error: {exc}\n")
    serve(demo, warm_up_first=args.warm_up_first, server_name=args.host, server_port=args.port, share=args.share,
          max_file_size=EVALUATE_MAX_UPLOAD)  # fmt: skip


if __name__ == "__main__":
    main()
