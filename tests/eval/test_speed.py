"""``python -m eval speed``: protocol logic, clear errors, FLOP counts and the result file (tiny pair counts)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from ettin import registry
from ettin.cli import build_parser
from eval.__main__ import main
from eval.speed import benchmark, measure, report
from eval.speed.accuracy import AccuracyError, accuracy_check, spearman
from eval.speed.benchmark import SpeedError, SpeedSettings
from eval.speed.ceiling import EncoderShape, flops_per_pair, matmul_ceiling


def _cli(argv: list[str]) -> int:
    return main(["speed", *argv])


def _settings(argv: list[str]) -> SpeedSettings:
    from ettin.cli import dataclass_from_args

    args = build_parser("python -m eval", "", ["eval.speed.cli"]).parse_args(["speed", *argv])
    return dataclass_from_args(SpeedSettings, args)


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--configs", "fp32-sdpa,fp64-magic"], "unknown 'fp64-magic'"),
        (["--configs", "fp32-sdpa,,"], "without empty items"),
        (["--models", "3m", "--replica"], "unknown Ettin size '3m'"),
        (["--models", "a/b/c/d"], "unknown reranker"),
        (["--models", "17m", "--max-length", "9000"], f"exceeds the 17m limit of {registry.RERANKERS['17m'].max_length}"),
        (["--models", "17m", "--max-length", "4"], "too small"),
        (["--models", "17m", "--n-pairs", "0"], "--n-pairs"),
        (["--models", "none"], "nothing to do"),
        (["--device", "tpu"], "--device"),
        (["--backends", "openvino/fp64"], "unknown 'openvino/fp64'"),
        (["--gate-pairs", "1"], "--gate-pairs"),
    ],
)
def test_bad_input_gives_clear_message(argv, message, capsys):
    assert _cli(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err


def test_config_skip_reasons(monkeypatch):
    from ettin.runtime import device

    assert "CUDA" in benchmark.config_skip_reason("bf16-fa2-unpadded", "cpu")
    assert benchmark.config_skip_reason("fp32-sdpa", "cpu") is None
    monkeypatch.setattr(device, "cpu_flags", lambda: frozenset({"avx2"}))
    assert "native bf16" in benchmark.config_skip_reason("bf16-sdpa", "cpu")
    monkeypatch.setattr(device, "cpu_flags", lambda: frozenset({"amx_bf16"}))
    assert benchmark.config_skip_reason("bf16-sdpa", "cpu") is None
    assert "bf16-sdpa-compiled" not in benchmark.DEFAULT_CONFIGS  # compiling takes tens of seconds: opt-in
    monkeypatch.setattr("shutil.which", lambda name: None)
    assert "C++ compiler" in benchmark.config_skip_reason("bf16-sdpa-compiled", "cpu")


def test_settings_flags_defaults_and_resolution():
    given = _settings(["--models", "17m,32m", "--replica", "--device", "cpu", "--n-pairs", "5"])
    assert given == SpeedSettings(models="17m,32m", replica=True, device="cpu", n_pairs=5)
    resolved = given.resolved()
    assert resolved is not given and given.max_batch is None  # a new value; the parsed one is left alone
    assert (resolved.device, resolved.n_pairs, resolved.max_batch) == ("cpu", 5, 256)
    assert SpeedSettings(device="cpu").resolved().n_pairs == 128
    assert _settings([]) == SpeedSettings()
    with pytest.raises(SpeedError, match="--device"):
        SpeedSettings(device="tpu").resolved()
    with pytest.raises(dataclasses.FrozenInstanceError):
        given.n_pairs = 7  # type: ignore[misc]


def test_user_errors_are_user_errors():
    from ettin.errors import UserError
    from eval.retrieval.cli import RetrievalError
    from eval.retrieval.nanobeir import NanoBEIRDownloadError
    from eval.retrieval.score_cache import ScoreCacheError
    from eval.speed.pairs import PairSourceError

    for cls in (SpeedError, PairSourceError, AccuracyError, RetrievalError, NanoBEIRDownloadError, ScoreCacheError):
        assert issubclass(cls, UserError) and issubclass(cls, RuntimeError), cls


class _FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_batch_search_stops_when_throughput_stops_improving(monkeypatch):
    clock = _FakeClock()
    monkeypatch.setattr(measure.time, "perf_counter", clock)
    pps = {8: 100.0, 16: 150.0, 32: 140.0, 64: 500.0}

    def score(pairs, bs):
        clock.now += len(pairs) / pps[bs]
        return np.zeros(len(pairs), dtype=np.float32)

    best, tried, stop = measure.batch_search(score, [("q", "d")] * 30, "cpu", max_batch=64, log=lambda s: None)
    assert [t["batch_size"] for t in tried] == [8, 16, 32]
    assert best.batch_size == 16 and best.pairs_per_s == pytest.approx(150.0)
    assert "stopped improving at batch 32" in stop


def test_batch_search_stops_at_out_of_memory_and_cap(monkeypatch):
    clock = _FakeClock()
    monkeypatch.setattr(measure.time, "perf_counter", clock)

    def score(pairs, bs):
        if bs >= 32:
            raise RuntimeError("CPU out of memory (fake)")
        clock.now += len(pairs) / bs
        return np.zeros(len(pairs), dtype=np.float32)

    best, tried, stop = measure.batch_search(score, [("q", "d")] * 10, "cpu", max_batch=1024, log=lambda s: None)
    assert best.batch_size == 16 and stop == "out of memory at batch 32"
    best, tried, stop = measure.batch_search(score, [("q", "d")] * 10, "cpu", max_batch=8, log=lambda s: None)
    assert best.batch_size == 8 and "cap 8" in stop


def test_flops_per_pair_counts():
    # no local layers: linear 2*P*L*layers + attention 4*L*L*h*layers + head
    shape = EncoderShape(hidden=4, intermediate=6, layers=2, vocab=10, global_every=1, local_window=0)
    linear_params = 4 * 12 + 4 * 4 + 4 * 12 + 6 * 4
    assert flops_per_pair(shape, 5) == 2 * linear_params * 5 * 2 + 4 * 5 * 5 * 4 * 2 + 2 * (16 + 4)
    ettin17 = EncoderShape(hidden=256, intermediate=384, layers=7, vocab=50368)
    # local layers cap the keys at the window: long pairs grow less than quadratically
    assert flops_per_pair(ettin17, 512) < 2 * flops_per_pair(ettin17, 256) * 2
    assert flops_per_pair(ettin17, 256) > flops_per_pair(ettin17, 128)


def test_matmul_ceiling_is_flops_over_time(monkeypatch):
    clock = _FakeClock()

    def tick():  # every reading of the clock is 0.5 s after the previous one
        clock.now += 0.5
        return clock.now

    monkeypatch.setattr(measure.time, "perf_counter", tick)
    import eval.speed.ceiling as ceiling

    monkeypatch.setattr(ceiling.time, "perf_counter", tick)
    shape = EncoderShape(hidden=32, intermediate=48, layers=1, vocab=10)
    shapes = shape.matmul_shapes(True)
    # per shape: 4 timed matmuls (the clock is checked every 4th), 1.0 s between the first and last reading
    expected = sum(2.0 * 64 * k * n * 4 for k, n in shapes) / (1.0 * len(shapes))
    assert matmul_ceiling(shape, "float32", tokens=64, min_seconds=0.25) == pytest.approx(expected, rel=1e-12)


def test_hardware_slug_is_file_safe():
    assert report.hardware_slug({"gpu": "NVIDIA H100 80GB HBM3"}) == "nvidia-h100-80gb-hbm3"
    slug = report.hardware_slug({"gpu": None, "cpu": "Intel(R) Xeon(R) Processor", "cpu_cores": 2})
    assert slug == "intel-xeon-processor-2c"


def test_size_ratio_table_from_known_rates():
    def row(size, runtime, config, pps):
        return {"size": size, "runtime": runtime, "config": config, "pairs_per_s": pps}

    rows = [row("17m", "baseline", "fp32-sdpa", 100.0), row("17m", "ettin", "fp32-sdpa", 200.0),
            row("32m", "baseline", "fp32-sdpa", 50.0), row("32m", "ettin", "fp32-sdpa", 80.0),
            row("32m", "ettin", "bf16-sdpa", None)]  # fmt: skip
    lines = report.size_ratio_table(rows).splitlines()
    # blog CPU (i7-13700K): 17m 267.4 pairs/s, 32m 92.5 pairs/s -> 92.5 / 267.4 = 0.346
    assert lines[2] == "| 17m | 100.0 | 1.000 | 200.0 | 1.000 | | | 267.4 | 1.000 |"
    assert lines[3] == "| 32m | 50.0 | 0.500 | 80.0 | 0.400 | | | 92.5 | 0.346 |"
    assert len(lines) == 4
    assert report.size_ratio_table([row("32m", "baseline", "fp32-sdpa", 50.0)]) == ""  # no 17m to divide by


def test_config_row_ratio_and_ceiling_fraction_from_known_timings(monkeypatch):
    spec = benchmark.ModelSpec("m", "unused", "17m", True)
    run = benchmark._ModelRun(spec, [("q", "d")] * 4, SpeedSettings(device="cpu"), flops_pair=1e9,
                              ceiling={"fp32_flops": 1e12, "bf16_flops": 4e12}, log=lambda s: None)  # fmt: skip
    run.baseline = measure.Timing(32, 40.0, [0.1], 0, np.zeros(4, dtype=np.float32))

    class _Runtime:
        settings = type("S", (), {"as_dict": lambda self: {}})()

    monkeypatch.setattr(benchmark, "load_runtime", lambda *a: _Runtime())
    monkeypatch.setattr(benchmark, "config_skip_reason", lambda *a: None)  # the row's maths on any host CPU
    best = measure.Timing(16, 100.0, [0.04], 123, np.array([0, 0, 0.5, 0], dtype=np.float32))
    monkeypatch.setattr(measure, "batch_search", lambda *a, **k: (best, [], "cap"))
    row = run.config_row("bf16-sdpa", {})
    assert row["ratio_to_baseline"] == 2.5  # 100 / 40 pairs/s
    assert row["ceiling_fraction"] == 0.025  # 100 pairs/s x 1 GFLOP / 4 TFLOP/s (bf16 peak)
    assert row["max_abs_diff_vs_baseline"] == 0.5 and row["batch_size"] == 16 and row["peak_memory_bytes"] == 123


def test_bf16_config_is_a_skipped_row_on_a_cpu_without_native_bf16(monkeypatch):
    import ettin.runtime

    monkeypatch.setattr(ettin.runtime, "cpu_has_native_bf16", lambda: False)
    assert "no native bf16" in benchmark.config_skip_reason("bf16-sdpa", "cpu")
    assert benchmark.config_skip_reason("fp32-sdpa", "cpu") is None
    monkeypatch.setattr(ettin.runtime, "cpu_has_native_bf16", lambda: True)
    assert benchmark.config_skip_reason("bf16-sdpa", "cpu") is None


def test_spearman():
    # (the accuracy check's NDCG@10 is ettin.metrics' on rankings turned into runs: tests/ettin/test_metrics.py)
    assert spearman(np.array([1.0, 2, 3]), np.array([10.0, 20, 25])) == pytest.approx(1.0)
    assert np.isnan(spearman(np.ones(3), np.arange(3.0)))


def test_accuracy_check_refuses_random_replica(replica_17m):
    with pytest.raises(AccuracyError, match="random-weight replica"):
        accuracy_check(str(replica_17m), [("q", "d")])


def test_end_to_end_result_file(replica_17m, tmp_path, capsys):
    out = tmp_path / "speed.json"
    argv = [
        "--models", str(replica_17m), "--n-pairs", "6", "--passes", "1", "--max-batch", "8", "--warmup-pairs", "2",
        "--configs", "fp32-sdpa,bf16-fa2-unpadded", "--device", "cpu", "--output", str(out),
        "--backends", "none", "--gate-model", "none",
    ]
    assert _cli(argv) == 0
    data = json.loads(out.read_text())
    assert data["schema"] == "ettin.speed/1"
    prov = data["provenance"]
    assert prov["protocol"]["n_pairs"] == 6 and prov["protocol"]["max_length"] == 512
    assert prov["protocol"]["token_lengths"]["max"] <= 512 and "cpu_flags" in prov["hardware"]
    assert data["ceiling"]["fp32_flops"] > 0
    rows = {(r["runtime"], r["config"]): r for r in data["rows"]}
    base, fast = rows[("baseline", "fp32-sdpa")], rows[("ettin", "fp32-sdpa")]
    assert base["ratio_to_baseline"] == 1.0 and base["batch_size"] == 32
    assert fast["pairs_per_s"] > 0 and fast["batch_size"] == 8 and fast["random_init"] is True and fast["size"] == "17m"
    assert fast["ratio_to_baseline"] == pytest.approx(fast["pairs_per_s"] / base["pairs_per_s"], rel=1e-3)
    assert fast["max_abs_diff_vs_baseline"] <= 1e-4
    assert 0 < fast["ceiling_fraction"] < 1 and fast["peak_memory_bytes"] > 0  # no run beats the matmul ceiling
    assert rows[("ettin", "bf16-fa2-unpadded")]["skipped"] == "flash attention needs a CUDA GPU"
    assert rows[("ettin", "bf16-fa2-unpadded")]["pairs_per_s"] is None
    assert "| ettin | fp32-sdpa |" in capsys.readouterr().out



def test_backend_row_ratio_spearman_gate_and_ceiling_from_known_timings(monkeypatch):
    import ettin.runtime.accelerate as accelerate
    from eval.speed import backends

    spec = benchmark.ModelSpec("m", "unused", "17m", True)
    run = benchmark._ModelRun(spec, [("q", "d")] * 4, SpeedSettings(device="cpu"), flops_pair=1e9,
                              ceiling={"fp32_flops": 1e12, "bf16_flops": 4e12}, log=lambda s: None)  # fmt: skip
    run.baseline = measure.Timing(32, 40.0, [0.1], 0, np.array([0.0, 1.0, 2.0, 3.0], dtype=np.float32))

    class _Runtime:
        def use_backend(self, backend, reason):
            self.backend = backend

    class _Backend:
        threads, export_id = 2, "weights-len512-v2/openvino-int8"
        folder = __import__("pathlib").Path("no-such-export")

    monkeypatch.setattr(benchmark, "load_runtime", lambda *a: _Runtime())
    monkeypatch.setattr(accelerate, "open_setting", lambda *a, **k: (_Backend(), {"passed": False, "reason": "own"}))
    best = measure.Timing(8, 200.0, [0.02], 7, np.array([0.0, 1.1, 1.9, 3.2], dtype=np.float32))
    monkeypatch.setattr(measure, "batch_search", lambda *a, **k: (best, [], "cap"))
    gates = {"openvino/int8": {"passed": True, "reason": "Spearman 0.99950 >= 0.999", "spearman": 0.9995, "rule": "x"}}
    (row,) = backends.backend_rows(run, [("openvino", "int8")], {}, gates)
    assert (row["runtime"], row["config"], row["ratio_to_baseline"]) == ("openvino", "int8", 5.0)  # 200 / 40 pairs/s
    assert row["ceiling_fraction"] == 0.2  # 200 pairs/s x 1 GFLOP / 1 TFLOP/s: int8 is measured against fp32's ceiling
    assert row["max_abs_diff_vs_baseline"] == pytest.approx(0.2) and row["spearman_vs_baseline"] == 1.0
    assert row["gate"]["passed"] is True and row["gate"]["spearman"] == 0.9995  # the trained model's verdict
    monkeypatch.setattr(accelerate, "open_setting", lambda *a, **k: (None, {"passed": False, "reason": "no native bf16"}))
    (skipped,) = backends.backend_rows(run, [("openvino", "bf16")], {}, {})
    assert skipped["skipped"] == "no native bf16" and skipped["pairs_per_s"] is None


def test_summary_names_the_best_lossless_and_gated_rows_and_the_goals():
    from eval.speed.backends import summarize

    def row(runtime, config, ratio, diff, gate=None):
        return {"model": "m", "runtime": runtime, "config": config, "pairs_per_s": ratio * 10, "ratio_to_baseline": ratio,
                "max_abs_diff_vs_baseline": diff, "gate": gate}  # fmt: skip

    rows = [row("baseline", "fp32-sdpa", 1.0, 0.0), row("ettin", "fp32-sdpa", 1.4, 1e-6),
            row("openvino", "fp32", 2.6, 5e-7), row("openvino", "int8", 6.0, 4e-3, {"passed": False}),
            row("onnxruntime", "int8", 3.0, 2e-3, {"passed": True})]  # fmt: skip
    summary = summarize(rows)["m"]
    assert summary["best_lossless"] == {"runtime": "openvino", "config": "fp32", "ratio": 2.6}
    assert summary["best_gated"]["config"] == "int8" and summary["best_gated"]["runtime"] == "onnxruntime"
    assert summary["best_any"]["ratio"] == 6.0, "a failed setting is reported, never counted as gated"
    assert summary["goal_lossless_2_5x"] and not summary["goal_gated_5x"]


@pytest.mark.slow
def test_end_to_end_backend_rows_with_a_trained_gate(replica_17m, tmp_path):
    pytest.importorskip("openvino")
    out = tmp_path / "speed.json"
    argv = [
        "--models", str(replica_17m), "--n-pairs", "8", "--passes", "1", "--max-batch", "8", "--warmup-pairs", "2",
        "--configs", "fp32-sdpa", "--device", "cpu", "--output", str(out), "--max-length", "128",
        "--backends", "onnxruntime/fp32,openvino/bf16", "--gate-model", "minilm-scifact", "--gate-pairs", "8",
    ]
    assert _cli(argv) == 0
    data = json.loads(out.read_text())
    rows = {(r["runtime"], r["config"]): r for r in data["rows"]}
    ort = rows[("onnxruntime", "fp32")]
    assert ort["pairs_per_s"] > 0 and ort["max_abs_diff_vs_baseline"] <= 1e-4 and ort["gate"]["passed"] is True
    (detail,) = data["models"]
    assert detail["backend_gate"]["model"] == "minilm-scifact" and detail["backend_gate"]["n_pairs"] == 8
    from ettin.runtime import cpu_has_native_bf16

    assert (rows[("openvino", "bf16")]["skipped"] is not None) == (not cpu_has_native_bf16())
    assert detail["summary"]["best_lossless"] is not None


@pytest.mark.slow
def test_the_gate_model_runs_at_its_own_shorter_length():
    """minilm-scifact was trained and is served at 256 tokens: a 512-token benchmark gates it at 256, a 128-token one
    at 128 (the shorter of the two), and the result says which."""
    from eval.speed.backends import trained_gate

    at_512 = trained_gate("minilm-scifact", [], [], device="cpu", max_length=512, log=lambda _: None)
    at_128 = trained_gate("minilm-scifact", [], [], device="cpu", max_length=128, log=lambda _: None)
    assert at_512["model_provenance"]["max_length"] == 256
    assert at_128["model_provenance"]["max_length"] == 128
