"""Evaluate on the visitor's own data: intake of a BEIR dataset, the run plan and its budget, the background queue that
runs :func:`eval.retrieval.evaluate.evaluate_retrieval` (the CLI's pipeline), and the results with their statistics.

No Gradio here; :mod:`demo.tabs.evaluate` lays these out.

- :mod:`~demo.evaluate.limits` — the caps and the one error class (:class:`~demo.evaluate.limits.EvaluateInputError`);
- :mod:`~demo.evaluate.safezip` — a BEIR ``.zip`` unpacked safely (no traversal, links, nested archives or bombs);
- :mod:`~demo.evaluate.validate` — the BEIR files checked line by line, each problem naming file, line and fix;
- :mod:`~demo.evaluate.intake` — per-session folders, the ways in, the preview;
- :mod:`~demo.evaluate.hub` — a BEIR dataset by Hub id; :mod:`~demo.evaluate.mteb_task` — an MTEB retrieval task by
  name, read as mteb reads it and written as BEIR files;
- :mod:`~demo.evaluate.plan` — systems, K, sample; the estimate, the budget and the reproducing CLI command;
- :mod:`~demo.evaluate.jobs` — one evaluation at a time, in a worker process (:mod:`~demo.evaluate.worker`);
- :mod:`~demo.evaluate.results` — the table with intervals, paired gains, Holm, ranks, latency, the recommendation,
  the Pareto chart and the downloads.
"""

from __future__ import annotations

__all__ = ["hub", "intake", "jobs", "limits", "mteb_task", "plan", "results", "safezip", "validate", "worker"]
