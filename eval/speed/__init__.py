"""The speed benchmark (``python -m eval speed``), split by job:

- :mod:`~eval.speed.benchmark` — settings (:class:`SpeedSettings`, one flag per field), models, configs and one
  model's rows (baseline + a batch-size search per config);
- :mod:`~eval.speed.measure` — timing passes, peak memory and the batch-size search;
- :mod:`~eval.speed.pairs` — the benchmark pairs; :mod:`~eval.speed.ceiling` — FLOP counts and the matmul ceiling;
- :mod:`~eval.speed.accuracy` — is bf16 accurate enough (on a trained model);
- :mod:`~eval.speed.backends` — rows of the exported CPU backends (ONNX Runtime, OpenVINO) and their gate on a trained
  model;
- :mod:`~eval.speed.report` — the result file (``eval/results/speed``): provenance, tables and its one reader;
- :mod:`~eval.speed.cli` — the ``speed`` verb. ``eval/gpu_speed.sh`` runs it on a GPU.
"""

from __future__ import annotations

from ettin.lazy import lazy_exports

__all__ = ["CONFIGS", "RESULTS_DIR", "SCHEMA", "ModelSpec", "SpeedError", "SpeedSettings", "benchmark_model", "read_results"]

__getattr__ = lazy_exports(
    __name__,
    {
        **dict.fromkeys(
            ("CONFIGS", "ModelSpec", "SpeedError", "SpeedSettings", "benchmark_model"), "eval.speed.benchmark"
        ),
        **dict.fromkeys(("RESULTS_DIR", "SCHEMA", "read_results"), "eval.speed.report"),
    },
)
