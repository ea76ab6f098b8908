"""The exported CPU backends in the speed benchmark: one row per backend x precision, measured with the same protocol as
every other row (the batch-size search over the same pairs, against the same-run baseline), and the correctness gate
on a TRAINED model recorded beside each.

A row's ``max_abs_diff_vs_baseline`` and ``spearman_vs_baseline`` compare it with plain ``CrossEncoder.predict`` on the
benchmarked model (a random replica's scores are nearly constant, so its Spearman says little); its ``gate`` is the
verdict of :mod:`ettin.runtime.gate` on the gate model (default: the shipped, trained ``minilm-scifact``) on the first
``--gate-pairs`` benchmark pairs: no NaN, Spearman >= 0.999 vs torch fp32 (fp32 settings: max abs diff <= 1e-4), and,
with ``--gate-ndcg-queries``, SciFact test NDCG@10 within 0.005 of torch fp32 on that many queries. A row's
``ceiling_fraction`` divides by the fp32 matmul ceiling for fp32 and int8 (no int8 ceiling is measured, so an int8 row
may exceed 1) and by the bf16 one for bf16.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["BACKEND_SETTINGS", "backend_rows", "parse_backends", "summarize", "trained_gate"]

BACKEND_SETTINGS = (
    "onnxruntime/fp32",
    "onnxruntime/int8",
    "openvino/fp32",
    "openvino/bf16",
    "openvino/int8",
)


def parse_backends(value: str) -> list[tuple[str, str]]:
    """``--backends``: ``all``, ``none`` or comma-separated ``backend/precision`` items.

    Raises:
        SpeedError: an unknown item.
    """
    from eval.speed.benchmark import SpeedError, parse_list

    if value.strip().lower() == "none":
        return []
    items = list(BACKEND_SETTINGS) if value.strip().lower() == "all" else parse_list(value, "backends", BACKEND_SETTINGS)
    if not items:
        raise SpeedError("--backends: give all, none or backend/precision items")
    return [tuple(item.split("/")) for item in items]  # type: ignore[misc]


def _gate_flags(verdict: dict[str, Any] | None) -> dict[str, Any] | None:
    if verdict is None:
        return None
    keep = ("passed", "reason", "spearman", "max_abs_diff", "nan", "n_pairs", "ndcg_at_10_delta", "skipped")
    return {k: verdict.get(k) for k in keep if k in verdict}


def backend_rows(run: Any, settings_list: Sequence[tuple[str, str]], searches: dict[str, Any],
                 gates: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:  # fmt: skip
    """One row per (backend, precision) for ``run``'s model (:class:`eval.speed.benchmark._ModelRun`)."""
    import numpy as np

    from ettin.runtime.accelerate import open_setting
    from ettin.runtime.exports import recipe
    from eval.speed.benchmark import SpeedError, _row, _spearman, load_runtime
    from eval.speed.measure import batch_search, free

    s, spec, rows = run.settings, run.spec, []
    for backend, precision in settings_list:
        key = f"{backend}/{precision}"
        gate = _gate_flags(gates.get(key))
        try:
            reranker = load_runtime(spec.path, "fp32-sdpa", s.device, s.max_length)
        except SpeedError as exc:
            rows.append(_row(spec, backend, precision, skipped=str(exc), gate=gate))
            continue
        opened, verdict = open_setting(reranker, backend, precision, pairs=run.pairs[:64], log=run.log)
        if opened is None:
            run.log(f"  {key}: skipped ({verdict['reason']})")
            rows.append(_row(spec, backend, precision, skipped=verdict["reason"], gate=gate))
            continue
        reranker.use_backend(opened, verdict["reason"])
        run.log(f"  {key}: batch-size search (own gate: {verdict['reason']})")
        best, tried, stop = batch_search(
            lambda p, bs: reranker.score_pairs(p, batch_size=bs), run.pairs, s.device, start=s.start_batch,
            max_batch=s.max_batch, memory_cap_bytes=s.memory_cap_bytes, passes=s.passes, warmup_pairs=s.warmup_pairs,
            log=run.log,
        )
        searches[key] = {"tried": tried, "stopped": stop, "threads": opened.threads, "export": opened.export_id,
                         "recipe": recipe(opened.folder), "own_gate": _gate_flags(verdict)}  # fmt: skip
        del reranker, opened
        free()
        if best is None:
            rows.append(_row(spec, backend, precision, skipped=stop or "no batch size ran", gate=gate))
            continue
        base = run.baseline.scores.reshape(-1)
        diff = float(np.max(np.abs(best.scores - base))) if np.isfinite(best.scores).all() else None
        ratio = best.pairs_per_s / run.baseline.pairs_per_s
        run.log(f"    best: batch {best.batch_size}, {best.pairs_per_s:.1f} pairs/s = {ratio:.2f}x baseline")
        rows.append(_row(
            spec, backend, precision, pairs_per_s=round(best.pairs_per_s, 3), batch_size=best.batch_size,
            peak_memory_bytes=best.peak_memory_bytes, ratio_to_baseline=round(ratio, 4),
            ceiling_fraction=run.fraction(best.pairs_per_s, "bfloat16" if precision == "bf16" else "float32"),
            max_abs_diff_vs_baseline=diff, spearman_vs_baseline=_spearman(base, best.scores), gate=gate,
        ))  # fmt: skip
    return rows


def _ndcg_deltas(gate_model: Any, opened: dict[str, Any], n_queries: int, log: Callable[[str], None]) -> dict[str, Any]:
    """SciFact test NDCG@10 (BM25 top-30 reranked) of torch fp32 and of each opened setting on ``n_queries`` queries."""
    from dataclasses import replace

    from eval.speed.accuracy import scifact_rerank

    scorers = {"fp32": gate_model}
    for key, backend in opened.items():
        twin = replace(gate_model, backend=None)
        twin.use_backend(backend, key)
        scorers[key] = twin
    log(f"  gate NDCG@10: SciFact test, {n_queries} queries, BM25 top-30, {len(scorers)} settings")
    return scifact_rerank(scorers, n_queries, 30)


def trained_gate(
    gate_model: str, settings_list: Sequence[tuple[str, str]], pairs: Sequence[tuple[str, str]], *, device: str,
    max_length: int, ndcg_queries: int = 0, log: Callable[[str], None] = print,
) -> dict[str, Any]:  # fmt: skip
    """The correctness gate of every setting on a trained model: verdicts on ``pairs`` and, with ``ndcg_queries``, the
    SciFact NDCG@10 change against torch fp32 (a setting more than 0.005 off fails).

    The model runs at its own length (the one it was trained and evaluated with, e.g. 256 tokens for
    ``minilm-scifact``) when that is shorter than ``max_length``: the length its exports are built for where it is
    served, and the protocol its NDCG@10 holds for; the length used is in the result's ``model_provenance``.

    Raises:
        SpeedError: the gate model is a random replica or cannot be loaded.
    """
    from ettin.runtime import ModelLoadError, RuntimeSettings, load_reranker
    from ettin.runtime.accelerate import open_setting
    from eval.speed.accuracy import NDCG_TOLERANCE
    from eval.speed.benchmark import SpeedError

    try:
        model = load_reranker(gate_model, RuntimeSettings(device, "float32", "sdpa", None, "backend gate"))
        if model.settings.max_length is None or model.settings.max_length > max_length:
            model = load_reranker(gate_model, RuntimeSettings(device, "float32", "sdpa", max_length, "backend gate"))
    except ModelLoadError as exc:
        raise SpeedError(str(exc)) from None
    if model.random_init:
        raise SpeedError(f"--gate-model {gate_model} is a random replica: gate on a trained model (e.g. minilm-scifact)")
    log(f"\n== correctness gate on {model.name} (trained), {len(pairs)} benchmark pairs at "
        f"{model.settings.max_length} tokens")
    verdicts: dict[str, dict[str, Any]] = {}
    opened: dict[str, Any] = {}
    for backend, precision in settings_list:
        key = f"{backend}/{precision}"
        found, verdicts[key] = open_setting(model, backend, precision, pairs=pairs, log=log)
        if found is not None:
            opened[key] = found
        state = "skipped" if verdicts[key].get("skipped") else "passed" if verdicts[key].get("passed") else "failed"
        log(f"  {key}: {state} — {verdicts[key]['reason']}")
    out: dict[str, Any] = {"model": model.name, "model_provenance": model.provenance(), "n_pairs": len(pairs),
                           "verdicts": verdicts, "ndcg": None}  # fmt: skip
    if ndcg_queries > 0 and opened:
        ndcg = _ndcg_deltas(model, opened, ndcg_queries, log)
        out["ndcg"] = ndcg
        for key in opened:
            delta = ndcg["ndcg_at_10"][key] - ndcg["ndcg_at_10"]["fp32"]
            verdicts[key]["ndcg_at_10_delta"] = delta
            if abs(delta) > NDCG_TOLERANCE and verdicts[key].get("passed"):
                verdicts[key].update(passed=False, reason=f"NDCG@10 {delta:+.4f} vs fp32, beyond {NDCG_TOLERANCE}")
    return out


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per model: the fastest lossless row (max abs diff <= 1e-4), the fastest gated row, and the fastest peer row,
    with the issue's goals (lossless >= 2.5x, gated >= 5x plain ``predict``)."""
    from ettin.runtime.gate import LOSSLESS_MAX_DIFF

    out: dict[str, Any] = {}
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == model and r["pairs_per_s"] and r["runtime"] != "baseline"]
        lossless = [r for r in mine if r["max_abs_diff_vs_baseline"] is not None and r["max_abs_diff_vs_baseline"] <= LOSSLESS_MAX_DIFF]
        gated = lossless + [r for r in mine if (r.get("gate") or {}).get("passed") and r not in lossless]

        def best(found: list[dict[str, Any]]) -> dict[str, Any] | None:
            top = max(found, key=lambda r: r["pairs_per_s"], default=None)
            return None if top is None else {"runtime": top["runtime"], "config": top["config"], "ratio": top["ratio_to_baseline"]}

        out[model] = {"best_lossless": best(lossless), "best_gated": best(gated), "best_any": best(mine),
                      "goal_lossless_2_5x": bool(best(lossless) and best(lossless)["ratio"] >= 2.5),
                      "goal_gated_5x": bool(best(gated) and best(gated)["ratio"] >= 5.0)}  # fmt: skip
    return out
