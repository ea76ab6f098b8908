"""``python -m eval speed``: the blog's speed protocol on this machine, with a same-run baseline and the machine's ceiling.

Protocol (blog, adapted to CPUs): (query, document) pairs at a natural length distribution, truncated at ``max_length``;
for each config a batch-size search from 8 doubling (GPU: until out of memory; CPU: until throughput stops improving, a
batch cap or a memory cap); per batch size one warm-up and three timed passes over all pairs, median kept; the best batch
size is reported with its pairs/s and peak memory (GPU: ``torch.cuda.max_memory_allocated``; CPU: sampled process RSS).

Every model also gets the baseline, plain ``CrossEncoder(model).predict(pairs, batch_size=32)`` with default loading, in
the same run on the same pairs, and each row carries its ratio to it and the largest score difference against it.

The exported CPU backends (``--backends``: ONNX Runtime fp32 / int8, OpenVINO fp32 / bf16 / int8) get rows of their own
with the same protocol, their Spearman against the baseline, and the correctness gate's verdict on the trained
``--gate-model`` (Spearman >= 0.999 vs torch fp32 on the first ``--gate-pairs`` pairs, no NaN; ``--gate-ndcg-queries N``
adds SciFact test NDCG@10 within 0.005 of fp32, which costs N x 30 pairs scored once per setting).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ettin.cli import add_dataclass_arguments, dataclass_from_args, verb
from eval.speed.benchmark import (
    BASELINE_BATCH,
    CONFIGS,
    Ceilings,
    ModelSpec,
    SpeedError,
    SpeedSettings,
    benchmark_model,
    parse_list,
    resolve_models,
)
from eval.speed.backends import backend_rows, parse_backends, summarize
from eval.speed.report import SCHEMA, default_output, format_table, load_average, run_provenance, size_ratio_table

__all__ = ["run_benchmark", "speed"]


def _models(settings: SpeedSettings) -> list[str]:
    """The models asked for, refusing an empty run and a ``--max-length`` above an Ettin size's limit."""
    from ettin import registry

    models = [] if settings.models.strip().lower() == "none" else parse_list(settings.models, "models")
    if not models and not settings.accuracy_model:
        raise SpeedError("nothing to do: give --models and/or --accuracy-model")
    for m in models:
        if m.lower() in registry.RERANKERS:
            limit = registry.RERANKERS[m.lower()].max_length
            if settings.max_length > limit:
                raise SpeedError(f"--max-length {settings.max_length} exceeds the {m} limit of {limit} tokens")
    return models


def _pairs(settings: SpeedSettings) -> tuple[list[tuple[str, str]], str]:
    from eval.speed.pairs import PairSourceError, load_pairs

    try:
        return load_pairs(settings.pairs, settings.n_pairs, settings.seed)
    except (PairSourceError, ValueError) as exc:
        raise SpeedError(str(exc)) from None


def _protocol(settings: SpeedSettings, n_pairs: int, source: str) -> dict[str, Any]:
    """The run's protocol, as written to the file's provenance."""
    s = settings
    gpu = s.device.startswith("cuda")
    return {
        "max_length": s.max_length,
        "n_pairs": n_pairs,
        "source_of_pairs": source,
        "baseline": f"CrossEncoder(model, max_length={s.max_length}).predict(pairs, batch_size={BASELINE_BATCH})",
        "batch_search": (
            f"from {s.start_batch} doubling up to {s.max_batch}; "
            + ("until out of memory" if gpu else f"until pairs/s stops improving or RSS > {s.memory_cap_gb} GiB")
        ),
        "passes": s.passes,
        "warmup": "one pass" + ("" if not s.warmup_pairs else f" over the first max(batch, {s.warmup_pairs}) pairs"),
        "statistic": "median pass time; pairs/s = n_pairs / median",
        "peak_memory": "torch.cuda.max_memory_allocated" if gpu else "process RSS sampled every 10 ms during the timed passes",
        "ceiling": "torch.matmul over one layer's weight shapes (4096 rows) per dtype; fraction = pairs/s x useful FLOPs per pair / ceiling",
        "token_lengths": None,
        "backends": (
            "exported CPU backends (ettin.runtime.backends): same batch-size search and pairs; threads = physical cores"
            f"; gate on {s.gate_model} over the first {s.gate_pairs} pairs"
            + (f" and SciFact NDCG@10 on {s.gate_ndcg_queries} test queries" if s.gate_ndcg_queries else "")
        ),
    }


def _accuracy(settings: SpeedSettings, pairs: list[tuple[str, str]]) -> dict[str, Any]:
    from eval.speed.accuracy import AccuracyError, accuracy_check, format_accuracy

    try:
        accuracy = accuracy_check(
            settings.accuracy_model, pairs, device=settings.device, max_length=settings.max_length,
            n_queries=settings.accuracy_queries, k=settings.accuracy_k, log=print,
        )
    except AccuracyError as exc:
        raise SpeedError(str(exc)) from None
    print("\n" + format_accuracy(accuracy))
    return accuracy


def _gates(settings: SpeedSettings, pairs: list[tuple[str, str]]) -> dict[str, Any] | None:
    """The backends' correctness gate on the trained ``--gate-model`` (``None`` with no backends or no gate model)."""
    from eval.speed.backends import parse_backends, trained_gate

    wanted = parse_backends(settings.backends)
    if not wanted or settings.gate_model.strip().lower() == "none":
        return None
    return trained_gate(
        settings.gate_model, wanted, pairs[: settings.gate_pairs], device=settings.device, max_length=settings.max_length,
        ndcg_queries=settings.gate_ndcg_queries,
    )


def _result(
    provenance: dict[str, Any], ceilings: Ceilings, rows: list[dict[str, Any]], details: list[dict[str, Any]]
) -> dict[str, Any]:
    """The result file's content so far (the load average at its end taken now); the caller adds ``complete``."""
    provenance["load_average_end"] = load_average()
    return {"schema": SCHEMA, "provenance": provenance, "ceiling": ceilings.as_json(), "rows": rows, "models": details}


def _benchmark_all(
    specs: list[ModelSpec], pairs: list[tuple[str, str]], configs: list[str], settings: SpeedSettings,
    provenance: dict[str, Any], out: Path,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], Ceilings]:
    """The backends' gate on the trained model, then every model in turn; after each but the last, the partial result
    file (``complete: false``) is written. Each model's details carry the gate (``backend_gate``) and its
    ``summary`` (:func:`eval.speed.backends.summarize`)."""
    from ettin.io import write_json_atomic
    from ettin.progress import progress_bar

    ceilings = Ceilings()
    wanted = parse_backends(settings.backends)
    gates = _gates(settings, pairs) if specs else None
    verdicts = (gates or {}).get("verdicts") or {}
    rows: list[dict[str, Any]] = []
    details: list[dict[str, Any]] = []
    with progress_bar(show=len(specs) >= 2, iterable=specs, desc="models", unit="model") as bar:
        for n_done, spec in enumerate(bar, start=1):
            model_rows, detail = benchmark_model(
                spec, pairs, configs, settings, ceilings, log=bar.write,
                more_rows=lambda run, searches: backend_rows(run, wanted, searches, verdicts),
            )
            detail["backend_gate"] = gates
            detail["summary"] = summarize(model_rows).get(spec.label)
            rows.extend(model_rows)
            details.append(detail)
            if provenance["protocol"]["token_lengths"] is None:
                provenance["protocol"]["token_lengths"] = detail["token_lengths"]
            if n_done < len(specs):  # partial results survive an interrupted run
                partial = _result(provenance, ceilings, rows, details)
                write_json_atomic(out, {**partial, "complete": False, "models_pending": [s.label for s in specs[n_done:]]})
    return rows, details, ceilings


def run_benchmark(settings: SpeedSettings) -> Path:
    """Run the benchmark (``settings`` resolved), print its tables and write its result file; returns the file.

    Raises:
        SpeedError: bad settings, an unknown model or a pair source that cannot be read here.
    """
    from ettin.io import write_json_atomic

    settings.validate()
    configs = parse_list(settings.configs, "configs", list(CONFIGS))
    parse_backends(settings.backends)  # refused before anything is loaded
    models = _models(settings)
    if settings.threads:
        import torch

        torch.set_num_threads(settings.threads)
    specs = resolve_models(models, settings.replica)
    pairs, source = _pairs(settings)
    provenance = run_provenance(settings.device)
    provenance["protocol"] = _protocol(settings, len(pairs), source)
    out = Path(settings.output) if settings.output else default_output(provenance["hardware"])
    rows, details, ceilings = _benchmark_all(specs, pairs, configs, settings, provenance, out)
    accuracy = _accuracy(settings, pairs) if settings.accuracy_model else None
    result = _result(provenance, ceilings, rows, details)
    if accuracy is not None:
        result["accuracy"] = accuracy
    result["complete"] = True
    if rows:
        print("\n" + format_table(rows))
        print("\nbest per model: " + json.dumps(summarize(rows), indent=1))
        ratios = size_ratio_table(rows)
        if ratios:
            print("\n" + ratios)
    write_json_atomic(out, result)
    print(f"\nwrote {out}")
    return out


@verb(
    "speed",
    help="pairs/s of rerankers on this machine (blog protocol) vs plain CrossEncoder.predict",
    arguments=lambda p: add_dataclass_arguments(p, SpeedSettings),
    description=__doc__,
)
def speed(args: argparse.Namespace) -> int:
    """Entry point of ``python -m eval speed``."""
    run_benchmark(dataclass_from_args(SpeedSettings, args).resolved())
    return 0
