"""The evaluation worker: ``python -m demo.evaluate.worker JOB_FOLDER`` runs one evaluation in its own process.

It reads ``JOB_FOLDER/spec.json`` (:meth:`demo.evaluate.plan.Plan.spec`), loads the dataset as
``python -m eval retrieval --data`` does, draws the seeded sample (written as a BEIR folder, ``sample/``, so the CLI can
run the very same queries), runs :func:`eval.retrieval.evaluate.evaluate_retrieval` with the CLI's defaults (settings,
score cache, batch size, chunking) into ``JOB_FOLDER/results``, and writes ``progress.json`` as it goes, then
``report.json`` (or ``error.json``), each atomically.

**Other visitors keep their latency**: this process runs at a lower CPU priority (``nice`` +10), and before each chunk of
pairs it sets its torch threads from what the app process (its parent) did over the last second
(:class:`ThreadGovernor`): half the machine's cores (``threads`` in the spec) while the app computed — a search, a
``/rerank``, an embedding — every core (``threads_idle``) while it was idle, so that an evaluation alone runs as fast as
the CLI and a search gets the CPU first. On a GPU the two share the device.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

__all__ = ["BUSY_CPU", "NICE", "ThreadGovernor", "main", "run_job", "write_sample"]

NICE = 10
BUSY_CPU = 0.25
"""The app is busy when it used more than this share of one core over the last second (idle, it polls jobs: ~0.01)."""


def _write(path: Path, data: Any) -> None:
    from ettin.io import write_json_atomic

    write_json_atomic(path, data)


def write_sample(dataset: Any, source_folder: Path | None, folder: Path, n: int, seed: int) -> list[str]:
    """Write a BEIR folder holding ``n`` judged queries drawn with ``random.Random(seed)`` (ids sorted), their
    judgements, and the whole corpus; returns the query ids."""
    from ettin.paths import BUNDLED_SCIFACT

    ids = sorted(random.Random(seed).sample(sorted(dataset.queries), n))
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    src = source_folder or BUNDLED_SCIFACT
    corpus = next(p for p in (src / "corpus.jsonl", src / "corpus.jsonl.gz") if p.is_file())
    try:
        os.link(corpus, folder / corpus.name)  # the same bytes, without a copy (the session's own file or the bundled one)
    except OSError:
        shutil.copyfile(corpus, folder / corpus.name)
    with open(folder / "queries.jsonl", "w", encoding="utf-8") as f:
        for qid in ids:
            f.write(json.dumps({"_id": qid, "text": dataset.queries[qid]}, ensure_ascii=False) + "\n")
    with open(folder / "qrels" / f"{dataset.split}.tsv", "w", encoding="utf-8") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for qid in ids:
            for did, grade in dataset.qrels[qid].items():
                f.write(f"{qid}\t{did}\t{grade}\n")
    return ids


class ThreadGovernor:
    """The worker's torch threads: ``busy`` while the app process used more than :data:`BUSY_CPU` of a core over the
    last ``interval`` seconds, ``idle`` otherwise (and ``busy`` where its CPU time cannot be read: not Linux).

    Args:
        app_pid: The app's process id (the worker's parent).
        busy: Threads while the app computes.
        idle: Threads while it is idle.
        interval: Seconds between two looks.
    """

    def __init__(self, app_pid: int, busy: int, idle: int, interval: float = 1.0) -> None:
        self.app_pid, self.busy, self.idle, self.interval = app_pid, busy, idle, interval
        self._at, self._cpu = time.monotonic(), self.app_cpu_s()
        self.threads = 0
        self._set(busy)

    def app_cpu_s(self) -> float | None:
        """The app's user + system CPU seconds so far (``None``: unreadable)."""
        try:
            fields = Path(f"/proc/{self.app_pid}/stat").read_text().rpartition(")")[2].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime (fields 14, 15)
        except (OSError, ValueError, IndexError, AttributeError):
            return None

    def _set(self, threads: int) -> None:
        if threads != self.threads:
            import torch

            torch.set_num_threads(threads)
            self.threads = threads

    def adjust(self) -> int:
        """Look again when ``interval`` has passed; returns the threads in use."""
        now = time.monotonic()
        if now - self._at >= self.interval:
            cpu = self.app_cpu_s()
            busy = cpu is None or self._cpu is None or (cpu - self._cpu) / (now - self._at) > BUSY_CPU
            self._set(self.busy if busy else self.idle)
            self._at, self._cpu = now, cpu
        return self.threads


class _Progress:
    """``progress.json``: the phase, pairs scored out of the most there can be, and an ETA from the rate so far."""

    def __init__(self, path: Path, total_pairs: int, governor: ThreadGovernor | None = None) -> None:
        self.path, self.total, self.done, self.t0 = path, total_pairs, 0, time.perf_counter()
        self.governor = governor
        self.rerank_t0: float | None = None
        self.phase = "loading the dataset"
        self.names: dict[str, str] = {}
        self.write()

    def write(self) -> None:
        eta = None
        if self.rerank_t0 is not None and self.done:
            rate = self.done / max(1e-9, time.perf_counter() - self.rerank_t0)
            eta = max(0.0, (self.total - self.done) / rate)
        _write(self.path, {"phase": self.phase, "pairs_done": self.done, "pairs_total": self.total,
                           "elapsed_s": round(time.perf_counter() - self.t0, 2), "eta_s": eta})  # fmt: skip

    def loader(self, spec: str, settings: Any) -> Any:
        """:func:`ettin.runtime.load_reranker`, its ``score_pairs`` counting pairs into this progress."""
        from ettin.runtime import load_reranker

        self.phase = f"loading reranker {Path(spec).name if Path(spec).is_absolute() else spec}"
        self.write()
        rr = load_reranker(spec, settings)
        self.names[spec] = rr.name
        score = rr.score_pairs

        def counted(pairs, *args, **kwargs):
            if self.rerank_t0 is None:
                self.rerank_t0 = time.perf_counter()
            if self.governor is not None:
                self.governor.adjust()
            out = score(pairs, *args, **kwargs)
            self.done += len(pairs)
            self.write()
            return out

        rr.score_pairs = counted  # type: ignore[method-assign]
        self.phase = f"reranking with {rr.name}"
        self.write()
        return rr


def run_job(job: Path) -> dict[str, Any]:
    """Run the evaluation of ``job/spec.json``; returns (and writes) the report."""
    from demo.evaluate.intake import with_origin
    from ettin.runtime import best_settings
    from eval.retrieval.cli import load_data
    from eval.retrieval.evaluate import evaluate_retrieval
    from eval.retrieval.score_cache import ScoreCache

    spec = json.loads((job / "spec.json").read_text(encoding="utf-8"))
    t0 = time.perf_counter()
    folder = Path(spec["folder"]) if spec.get("folder") else None
    n_max = spec.get("n_queries") or 0
    governor = _governor(spec)
    progress = _Progress(job / "progress.json", n_max * spec["top_k"] * len(spec["first_stages"]) * len(spec["rerankers"]),
                         governor)  # fmt: skip
    dataset, source = load_data(folder, spec["split"], None if folder is None else spec["name"])
    sample_ids = None
    if spec.get("sample"):
        from demo.evaluate.plan import sample_name

        sample_ids = write_sample(dataset, folder, job / "sample", spec["sample"], spec["seed"])
        dataset, source = load_data(job / "sample", spec["split"], sample_name(spec["name"], spec["sample"], spec["seed"]))
    source = with_origin(folder, source)  # an MTEB task's folder records mteb:<Task> and its dataset revision
    progress.phase = "first stages: " + ", ".join(spec["first_stages"])
    progress.write()
    settings = best_settings(None, "auto", None)  # the CLI's defaults: auto precision, the model's own max length
    with ScoreCache() as cache:  # the CLI's default score cache: a rerun (or the CLI) rescoring nothing done
        report = evaluate_retrieval(
            dataset, spec["first_stages"], spec["rerankers"], top_k=spec["top_k"], settings=settings,
            dataset_source=source, score_cache=cache, results_dir=job / "results", reranker_loader=progress.loader,
        )  # fmt: skip
    out = report.as_json()
    out["rerank_stats"] = {name: asdict(stats) for name, stats in report.rerank_stats.items()}
    out["reranker_names"] = progress.names
    out["dataset"] = {"name": dataset.name, "split": dataset.split, "queries": len(dataset.queries),
                      "documents": len(dataset.corpus), "sample": sample_ids is not None}  # fmt: skip
    out["wall_s"] = round(time.perf_counter() - t0, 2)
    progress.phase = "done"
    progress.write()
    _write(job / "report.json", out)
    return out


def _governor(spec: dict[str, Any]) -> ThreadGovernor | None:
    """The spec's thread rule: ``threads`` while the app computes, ``threads_idle`` while it is idle (none: torch's)."""
    busy = spec.get("threads")
    if not busy:
        return None
    return ThreadGovernor(os.getppid(), int(busy), int(spec.get("threads_idle") or busy))


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the job folder given; a refusal or failure becomes ``error.json`` (one line), exit 1."""
    from ettin.errors import UserError

    job = Path((argv if argv is not None else sys.argv[1:])[0])
    try:
        os.nice(NICE)
    except (OSError, AttributeError):
        pass
    try:
        run_job(job)
        return 0
    except UserError as exc:
        _write(job / "error.json", {"message": str(exc)})
    except MemoryError:
        _write(job / "error.json", {"message": "out of memory: choose a smaller model, a smaller K or fewer queries"})
    except Exception as exc:  # noqa: BLE001 - the app shows one line; the traceback goes to the worker's log
        import traceback

        traceback.print_exc()
        _write(job / "error.json", {"message": f"unexpected error ({type(exc).__name__}): {str(exc)[:200]}"})
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
