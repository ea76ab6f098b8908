"""The Evaluate tab: the visitor's own BEIR dataset (or the bundled SciFact), first stages × rerankers, K and a seeded
query sample, run by the CLI's pipeline in a background queue; per-system metrics with intervals, paired gains, ranks,
latency, the Pareto chart, a recommendation, the per-query explorer, downloads and the reproducing command.

Everything here is layout and wiring; the work is :mod:`demo.evaluate`. Endpoints: ``evaluate_preview`` (``source``
and its inputs: ``zip_file``; ``corpus``, ``queries``, ``qrels``; ``hub_id``; ``mteb_task``, an MTEB retrieval task's
name; and ``split``, empty for ``test`` or an MTEB task's eval split), ``evaluate_estimate``, ``evaluate`` (streams
status, then the results) and ``evaluate_stop``.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import gradio as gr

from demo.board import explore
from demo.board.figures import change_histogram
from demo.evaluate import intake, plan, results
from demo.evaluate.intake import plain_markdown as _plain
from demo.evaluate.jobs import MAX_WAITING, EvaluationQueue, Job
from demo.evaluate.limits import EvaluateInputError, limits_text
from demo.search.playground import Playground
from demo.sources.choices import RANDOM_BADGE
from demo.tabs import components as checked
from demo.tabs.explore import _query_table, _ranking_table
from demo.tabs.guard import guard, guarded_stream
from eval.leaderboard.figures import message_figure

__all__ = ["BUNDLED", "INTRO", "SOURCES", "build"]

INTRO = """### Which first stage, which reranker, which size — for *your* corpus?
Upload a BEIR-format dataset (`corpus.jsonl`, `queries.jsonl`, `qrels/<split>.tsv`, zipped at the top or inside one
folder, or as three files), give a BEIR dataset's Hub id (e.g. `BeIR/scifact`, its judgements from `BeIR/scifact-qrels`),
name an MTEB retrieval task (e.g. `SciFact`, `NFCorpus`, `ArguAna`: its data at the revision mteb pins, read as mteb
reads it; an empty Split takes its eval split) — both offline from the local Hugging Face cache — or take the bundled
SciFact. **Preview** says what was read; **Run** evaluates every chosen first stage alone and reranked by every chosen
reranker with the same code, metrics, score cache and results files as `python -m eval retrieval`, in a background queue
(one evaluation at a time; yours shows its place and progress, and Stop ends it — what was scored stays in the score
cache, so running it again rescores nothing). The evaluation runs in its own low-priority process, on every CPU core
while the app is idle and on half of them while it serves a search, so other visitors' searches keep their latency.
Your dataset and results live in a folder of your session only. An MTEB task above the limits runs by name with
`python -m eval mteb --tasks NAME`."""
BUNDLED = "Bundled SciFact"
SOURCES = (BUNDLED, "A BEIR .zip", "Three files", "A Hub dataset id", "An MTEB task")
POLL_S = 0.5


DOWNLOADS_TTL_S = 3600


def _downloadable(path: Path) -> str:
    """A copy of ``path`` in a fresh temporary folder (which Gradio may serve; the app's data folder it may not);
    copies older than :data:`DOWNLOADS_TTL_S` are removed first (Gradio keeps its own copy for the page)."""
    root = Path(tempfile.gettempdir()) / "ettin-evaluate-downloads"
    root.mkdir(exist_ok=True)
    for old in root.iterdir():
        try:
            if time.time() - old.stat().st_mtime > DOWNLOADS_TTL_S:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:
            continue
    folder = Path(tempfile.mkdtemp(dir=root))
    return str(shutil.copyfile(path, folder / path.name))


def _status(job: Job, queue: EvaluationQueue) -> str:
    ahead = queue.position(job)
    if job.state == "waiting":
        return f"⏳ Waiting in line: {ahead} evaluation(s) ahead of yours (at most {MAX_WAITING} wait)."
    p = job.progress()
    done, total, eta = p.get("pairs_done", 0), p.get("pairs_total", 0), p.get("eta_s")
    pairs = f" — {done:,} of at most {total:,} pairs scored" if total else ""
    eta_text = f", about {eta:,.0f} s left at the rate so far" if eta is not None else ""
    return f"⚙️ Running: {_plain(str(p.get('phase', 'starting')))}{pairs} ({p.get('elapsed_s', 0):,.0f} s{eta_text})."


class _Handlers:
    """The tab's handlers, around one playground (what is offered, its throughput book) and the app's queue."""

    def __init__(self, play: Playground, queue: EvaluationQueue) -> None:
        self.play, self.queue = play, queue

    @staticmethod
    def _token(token: str | None) -> str:
        return token or intake.new_session()

    def preview(self, token, source, zip_file, corpus, queries, qrels, split, hub_id=None, mteb_task=None):
        """(token, intake, preview Markdown): the dataset read and checked."""
        token = self._token(token)
        chosen = str(split or "").strip()  # empty: test, or an MTEB task's eval split
        split = chosen or "test"
        if source == BUNDLED:
            got = intake.preview_bundled(token, split)
        elif source == SOURCES[1]:
            if not zip_file:
                raise EvaluateInputError("no .zip uploaded: drop a BEIR .zip on the upload box, then Preview")
            got = intake.from_zip(token, zip_file, Path(str(zip_file)).name, split or None)
        elif source == SOURCES[2]:
            if not (corpus and queries and qrels):
                raise EvaluateInputError("upload all three files (corpus.jsonl, queries.jsonl, the qrels .tsv), then Preview")
            got = intake.from_files(token, corpus, queries, qrels, split)
        elif source == SOURCES[3]:
            got = intake.from_hub(token, hub_id, split)
        elif source == SOURCES[4]:
            got = intake.from_mteb(token, mteb_task, chosen or None)
        else:
            raise EvaluateInputError(f"choose where the data comes from: {', '.join(SOURCES)}")
        return token, got, got.preview.markdown()

    def estimate(self, current, first_stages, rerankers, k, sample, seed) -> str:
        """The run's size and estimated time, or why it would be refused."""
        run = plan.make_plan(self.play, current, first_stages, rerankers, k, sample, seed)
        return run.summary() + f"\n\nReproduce it with: `{plan.cli_command(run)}`"

    def run(self, token, current, first_stages, rerankers, k, sample, seed, progress=gr.Progress()):
        """Queue the run, stream its place and progress, then yield the results."""
        run = plan.make_plan(self.play, current, first_stages, rerankers, k, sample, seed)
        job = self.queue.submit(current.token, run.spec())
        empty = (None, None, "", None, None, "", gr.update())
        while not job.finished.wait(POLL_S):
            p = job.progress()
            if job.state == "running" and p.get("pairs_total"):
                progress((p.get("pairs_done", 0), p["pairs_total"]), desc="pairs scored", unit="pairs")
            yield (_status(job, self.queue), *empty)
        if job.state != "done":
            yield (f"⏹️ {_plain(job.message)}" if job.state == "stopped" else f"❌ {_plain(job.message)}", *empty)
            return
        yield self._results(job, run)

    def _results(self, job: Job, run: plan.Plan) -> tuple:
        report = job.report()
        names = report.get("reranker_names", {})
        rates = {names[c.spec]: self.play.throughput().rate(c) for c in run.rerankers if c.spec in names}
        summary = results.summarize(report, run.top_k, {n: r for n, r in rates.items() if r})
        command = plan.cli_command(run)
        zip_path, csv_path = results.write_downloads(job.folder, summary, command)
        status = (f"✅ Done in {report.get('wall_s', 0):,.1f} s: {len(summary.frame)} system(s) on "
                  f"{int(summary.frame['queries'].max()):,} queries, K = {run.top_k}.")  # fmt: skip
        if summary.meaningless:
            status += (f" **Rows marked “{RANDOM_BADGE}” are random-weight replicas: their quality figures are "
                       "meaningless (their speed is real).**")  # fmt: skip
        data = "your BEIR folder" + (" — for a sample, the sample's folder from the download" if run.sample else "")
        cmd = (f"Reproduce with the CLI (`DATA`: {data}; `MODELS_DIR`: the app's models folder):\n\n```\n"
               f"{command}\n```")  # fmt: skip
        labels = [c.label for c in explore.comparisons(job.folder / "results")]
        return (status, summary.display(), results.pareto_figure(summary), f"**Recommendation:** {_plain(summary.recommendation)}",
                _downloadable(zip_path), _downloadable(csv_path), cmd,
                gr.update(choices=labels, value=labels[0] if labels else None))  # fmt: skip

    def stop(self, current) -> str:
        if current is None or not self.queue.stop(current.token):
            return "Nothing of yours is waiting or running."
        return "Stopping…"

    # ---- the per-query explorer on this run's results ----------------------------------------------------------------

    def _comparison(self, current, label):
        job = self.queue.latest(current.token) if current is not None else None
        if job is None or job.state != "done":
            raise EvaluateInputError("no finished evaluation of yours yet: Run one first")
        found = {c.label: c for c in explore.comparisons(job.folder / "results")}
        if label not in found:
            raise EvaluateInputError("choose one of the comparisons offered")
        return found[label], job

    def _dataset(self, current, job: Job):
        folder = job.folder / "sample"
        if folder.is_dir():
            from eval.retrieval.cli import load_data

            return load_data(folder, current.split, job.spec["name"])[0]
        return intake.load_dataset(current)[0]

    def explore(self, current, label):
        if not label:
            return "", message_figure("No comparison chosen."), None, gr.update(choices=[], value=None)
        comparison, job = self._comparison(current, label)
        dataset = self._dataset(current, job)
        changes = explore.query_changes(comparison, dataset.queries)
        before, after = comparison.names
        figure = change_histogram(changes, f"NDCG@10 change per query: {after} vs {before}")
        queries = [(f"{q} ({c:+.3f})", q) for q, c in zip(changes["query_id"], changes["change"])]
        return (explore.summary_markdown(comparison, changes), figure, _query_table(changes),
                gr.update(choices=queries, value=queries[0][1] if queries else None))  # fmt: skip

    def detail(self, current, label, query_id):
        if not label or not query_id:
            return "", None, None, ""
        comparison, job = self._comparison(current, label)
        try:
            got = explore.query_detail(comparison, str(query_id), self._dataset(current, job))
        except KeyError:
            raise EvaluateInputError(f"query {str(query_id)[:40]!r} is not in this comparison: pick one from the list") from None
        return got.header, _ranking_table(got.before), _ranking_table(got.after), got.missed


def _stage_keys(play: Playground) -> list[str]:
    """The first stages offered now, by key (what the first-stage group allows)."""
    return [c.key for c in play.first_stages]


def _reranker_keys(play: Playground) -> list[str]:
    """The rerankers offered now (fused systems are not evaluated here), by key."""
    return [c.key for c in play.rerankers if c.fuse_weight is None]


def _systems(play: Playground) -> tuple[gr.CheckboxGroup, gr.CheckboxGroup, gr.Slider, gr.Number, gr.Number]:
    stages = [(c.label, c.key) for c in play.first_stages]
    rerankers = [(c.label, c.key) for c in play.rerankers if c.fuse_weight is None]
    with gr.Row():
        first = checked.CheckboxGroup(stages, value=["bm25"] if any(k == "bm25" for _, k in stages) else [],
                                      label="First stages (each is also evaluated alone)", elem_id="evaluate-first-stages",
                                      param="first_stages", what="the first stages",
                                      choices_now=lambda: _stage_keys(play))  # fmt: skip
        rr = checked.CheckboxGroup(rerankers, value=[rerankers[0][1]] if rerankers else [], label="Rerankers",
                                   elem_id="evaluate-rerankers", param="rerankers", what="the rerankers",
                                   choices_now=lambda: _reranker_keys(play))  # fmt: skip
    with gr.Row():
        k = checked.Slider(1, 100, value=100, step=1, label="K (first-stage depth reranked)", elem_id="evaluate-k",
                           param="k", what="K (first-stage depth reranked)")  # fmt: skip
        sample = checked.Number(0, precision=0, minimum=0, label="Query sample (0 = every judged query)",
                                elem_id="evaluate-sample", param="sample", what="the query sample size")  # fmt: skip
        seed = checked.Number(0, precision=0, label="Sample seed", elem_id="evaluate-seed", param="seed",
                              what="the sample seed")  # fmt: skip
    return first, rr, k, sample, seed


def _data_inputs() -> list[gr.components.Component]:
    """Where the data comes from and each source's inputs, in the order ``preview`` takes them (after the token)."""
    source = checked.Radio(list(SOURCES), value=BUNDLED, label="Data", elem_id="evaluate-source", param="source",
                           what="where the data comes from")  # fmt: skip
    with gr.Row():
        zip_file = checked.File(label="BEIR .zip", file_types=[".zip"], type="filepath", elem_id="evaluate-zip",
                                param="zip_file", what="the BEIR .zip")  # fmt: skip
        corpus = checked.File(label="corpus.jsonl", type="filepath", elem_id="evaluate-corpus", param="corpus",
                              what="corpus.jsonl")  # fmt: skip
        queries = checked.File(label="queries.jsonl", type="filepath", elem_id="evaluate-queries", param="queries",
                               what="queries.jsonl")  # fmt: skip
        qrels = checked.File(label="qrels (.tsv)", type="filepath", elem_id="evaluate-qrels", param="qrels",
                             what="the qrels .tsv")  # fmt: skip
    with gr.Row():
        hub_id = checked.Textbox("", label="Hub dataset id (BEIR files; offline: from the local cache)",
                                 placeholder="BeIR/scifact", max_lines=1, elem_id="evaluate-hub-id", param="hub_id",
                                 what="the Hub dataset id", nullable=True)  # fmt: skip
        mteb_task = checked.Textbox("", label="MTEB retrieval task (by name; offline: from the local cache)",
                                    placeholder="SciFact", max_lines=1, elem_id="evaluate-mteb-task",
                                    param="mteb_task", what="the MTEB task name", nullable=True)  # fmt: skip
        split = checked.Textbox("", label="Split (qrels/<split>.tsv; empty: test, or an MTEB task's eval split)",
                                placeholder="test", max_lines=1, elem_id="evaluate-split", param="split",
                                what="the split")  # fmt: skip
    return [source, zip_file, corpus, queries, qrels, split, hub_id, mteb_task]


def build(play: Playground, blocks: gr.Blocks | None = None, queue: EvaluationQueue | None = None) -> EvaluationQueue:
    """Lay out the Evaluate tab and wire preview, estimate, run, stop and the per-query explorer.

    Args:
        play: The playground whose first stages, rerankers and throughput book the tab offers and estimates with.
        blocks: The app (unused; for the same signature as the other tabs).
        queue: The app's evaluation queue (default: a new one, one evaluation at a time).

    Returns:
        The queue (tests watch it).
    """
    h = _Handlers(play, queue or EvaluationQueue())
    with gr.Tab("Evaluate", id="evaluate"):
        gr.Markdown(INTRO)
        gr.Markdown(limits_text(), elem_id="evaluate-limits")
        token, current = gr.State(None), gr.State(None)
        data = _data_inputs()
        preview_button = gr.Button("Preview", elem_id="evaluate-preview-button")
        preview = gr.Markdown(elem_id="evaluate-preview")
        first, rr, k, sample, seed = _systems(play)
        with gr.Row():
            estimate_button = gr.Button("Estimate", elem_id="evaluate-estimate-button")
            run_button = gr.Button("Run", variant="primary", elem_id="evaluate-run")
            stop_button = gr.Button("Stop", variant="stop", elem_id="evaluate-stop")
        estimate = gr.Markdown(elem_id="evaluate-estimate")
        status = gr.Markdown(elem_id="evaluate-status")
        recommendation = gr.Markdown(elem_id="evaluate-recommendation")
        table = gr.Dataframe(label="Systems (95% bootstrap intervals over queries; gain: paired, over its first stage alone)",
                             interactive=False, wrap=True, elem_id="evaluate-table")  # fmt: skip
        chart = gr.Plot(label="Quality vs latency", elem_id="evaluate-chart")
        with gr.Row():
            zip_out = gr.File(label="Results (.zip of the results files, report, CSV, command)", elem_id="evaluate-zip-out")
            csv_out = gr.File(label="Results (.csv)", elem_id="evaluate-csv-out")
        command = gr.Markdown(elem_id="evaluate-command")
        with gr.Accordion("Per query: which queries did a reranker help?", open=False):
            choice = checked.Dropdown([], label="Comparison (baseline → system)", elem_id="evaluate-explore-choice",
                                      param="label", what="the comparison", choices_now="any", nullable=True)  # fmt: skip
            summary = gr.Markdown()
            histogram = gr.Plot(label="Per-query NDCG@10 change")
            changes = gr.Dataframe(interactive=False, wrap=True, max_height=360)
            query = checked.Dropdown([], label="Query", elem_id="evaluate-explore-query", param="query_id",
                                     what="the query id", choices_now="any", nullable=True)  # fmt: skip
            header = gr.Markdown()
            with gr.Row():
                before, after = gr.Dataframe(label="Before", interactive=False), gr.Dataframe(label="After", interactive=False)
            missed = gr.Markdown()

    preview_button.click(guard(h.preview), [token, *data], [token, current, preview], api_name="evaluate_preview")
    system_inputs = [first, rr, k, sample, seed]
    estimate_button.click(guard(h.estimate), [current, *system_inputs], estimate, api_name="evaluate_estimate")

    def run(token, current, first_stages, rerankers, k, sample, seed, progress=gr.Progress()):  # named: the API's parameters
        yield from guarded_stream(h.run(token, current, first_stages, rerankers, k, sample, seed, progress=progress))

    outputs = [status, table, chart, recommendation, zip_out, csv_out, command, choice]
    run_button.click(run, [token, current, *system_inputs], outputs, api_name="evaluate",
                     concurrency_limit=MAX_WAITING + 1, concurrency_id="evaluate")  # the queue runs one; the rest wait there
    stop_button.click(guard(h.stop), current, status, api_name="evaluate_stop", queue=False)
    choice.change(guard(h.explore), [current, choice], [summary, histogram, changes, query], api_name="evaluate_explore")
    query.change(guard(h.detail), [current, choice, query], [header, before, after, missed], api_name=False)
    return h.queue
