"""``python -m demo load-api``: the rerank API benchmark runs end to end (a tiny run) and writes its table and JSON."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from demo.tools.server import ROOT

pytest.importorskip("cohere", reason="the cohere SDK is a test extra: pip install -r requirements-test.txt")


@pytest.mark.slow
def test_load_api_writes_latency_and_throughput_with_provenance(replica_17m, tmp_path):
    out = tmp_path / "api.json"
    cmd = [sys.executable, "-m", "demo", "load-api", "--models-dir", str(replica_17m.parent), "--model", "17m",
           "--docs", "3", "5", "--requests", "2", "--concurrent", "2", "--per-client", "2", "--concurrent-docs", "3",
           "--out", str(out)]  # fmt: skip
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| documents | client | p50 ms | p99 ms | n |" in done.stdout and "requests/s" in done.stdout
    result = json.loads(out.read_text())
    assert result["schema"] == "ettin.rerank-api-load/1"
    assert result["settings"]["model"] == "17m" and result["settings"]["random_init"] is True
    assert result["settings"]["dtype"] in ("float32", "bfloat16")
    prov = result["provenance"]
    assert prov["hardware"]["cpu_cores"] and prov["date"] and prov["client_packages"]["cohere"]
    assert len(prov["load_average_1_5_15min"]["start"]) == 3
    for n in ("3", "5"):
        for kind in ("cohere_sdk", "http"):
            row = result["latency"][n][kind]
            assert row["n"] == 2 and 0 < row["p50_ms"] <= row["p99_ms"]
    for kind in ("cohere_sdk", "http"):
        conc = result["concurrent"][kind]
        assert conc["succeeded"] == conc["requests"] == 4 and conc["requests_per_s"] > 0 and not conc["failures"]


def test_the_readme_latency_figures_equal_the_committed_results_file():
    import re

    result = json.loads((ROOT / "eval" / "results" / "app" / "rerank-api-load.json").read_text())
    text = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split("## Use it as a reranking server", 1)[1].split())
    lat, conc, load = result["latency"], result["concurrent"], result["provenance"]["load_average_1_5_15min"]
    found = re.search(r"p50 (\d+) ms \(SDK\) vs (\d+) ms \(HTTP\) at 30 documents, (\d+) vs (\d+) ms at 100; 8 clients at "
                      r"once: ([\d.]+) vs ([\d.]+) requests/s", text)  # fmt: skip
    assert found, "the README's latency sentence changed: update this test with it"
    expected = [lat["30"]["cohere_sdk"]["p50_ms"], lat["30"]["http"]["p50_ms"], lat["100"]["cohere_sdk"]["p50_ms"],
                lat["100"]["http"]["p50_ms"]]  # fmt: skip
    assert [int(x) for x in found.groups()[:4]] == [round(x) for x in expected]
    assert [float(x) for x in found.groups()[4:]] == [conc["cohere_sdk"]["requests_per_s"], conc["http"]["requests_per_s"]]
    assert f"load average {load['start'][0]} at the start, {load['end'][0]} at the end" in text
    assert result["settings"]["model"] == "minilm-scifact" and conc["cohere_sdk"]["clients"] == 8
    native = result["provenance"]["hardware"]["cpu_native_bf16"]  # what the README's precision clause rests on
    assert result["settings"]["dtype"] == ("bfloat16" if native else "float32")
    assert ("bf16 on this CPU with native bf16" if native else "fp32 on this CPU without native bf16") in text
