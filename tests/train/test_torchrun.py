"""``python -m train score`` under torchrun: ranks share the parts, a 2-node rendezvous works, a rank killed mid-run is
resumed by a different world size without rescoring a part, and the scores equal one process's bit for bit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from train.score import CrossEncoderTeacher, score_file
from train.scored import read_scored

ROOT = Path(__file__).resolve().parents[2]
PARTS = 60


def _free_port() -> int:
    from demo.tools.server import free_port

    return free_port()


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false"}  # fmt: skip


def _parts(out: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in sorted(out.glob("part-*.parquet"))}


@pytest.mark.slow
def test_two_node_rendezvous_killed_rank_resumed_by_three_ranks_equals_one_process(tmp_path, tiny_cross_encoder, kill_rank):
    pairs = tmp_path / "pairs.parquet"
    pq.write_table(pa.table({"query": [f"query {i % 7}" for i in range(2 * PARTS)],
                             "document": [f"doc {i} " * (i % 5 + 1) for i in range(2 * PARTS)]}), pairs)  # fmt: skip
    reference = tmp_path / "one-process"
    score_file(pairs, reference, CrossEncoderTeacher(str(tiny_cross_encoder)), chunk_size=2, show_progress=False)

    out = tmp_path / "scores"
    score = ["-m", "train", "score", "--input", str(pairs), "--out", str(out), "--teacher", str(tiny_cross_encoder),
             "--chunk-size", "2", "--quiet"]  # fmt: skip
    # two "nodes" on this machine meet through torchrun's c10d rendezvous; one worker each, world size 2
    endpoint = f"127.0.0.1:{_free_port()}"
    nodes = [
        subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc_per_node", "1",
                          "--rdzv_backend", "c10d", "--rdzv_endpoint", endpoint, "--rdzv_id", "score-test", *score],
                         cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        for _ in range(2)
    ]
    try:
        deadline = time.monotonic() + 240
        while len(_parts(out)) < 6:
            if any(n.poll() is not None for n in nodes) or time.monotonic() > deadline:
                pytest.fail(f"the run ended (or timed out) before a rank could be killed: {nodes[0].stderr.read()[-3000:]}")
            time.sleep(0.002)
        kill_rank(nodes, 1)
        outputs = [n.communicate(timeout=120) for n in nodes]
    finally:
        for n in nodes:
            if n.poll() is None:
                n.kill()
    assert all(n.returncode != 0 for n in nodes), "both nodes report the lost rank"
    assert not any(o[0].strip() for o in outputs), "rank 0 printed a summary although a rank died"
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert not manifest.get("complete") and manifest["runs"][0]["world_size"] == 2
    assert "finished" not in manifest["runs"][0], "rank 0 closed the run although a rank died"
    before = _parts(out)
    assert 6 <= len(before) < PARTS

    resumed = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "3", "--master_port",
                              str(_free_port()), *score], cwd=ROOT, env=_env(), capture_output=True, text=True,
                             timeout=300)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    summary = json.loads(resumed.stdout)
    assert summary["workers"] == {"launcher": "torchrun", "world_size": 3} and len(summary["ranks"]) == 3
    assert summary["already_done"] == len(before) and summary["written"] == PARTS - len(before)
    after = _parts(out)
    assert {name: after[name] for name in before} == before, "a part on disk was scored again"
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["complete"] and [r["world_size"] for r in manifest["runs"]] == [2, 3]
    assert manifest["runs"][1]["written"] == PARTS - len(before)
    got, want = read_scored(out), read_scored(reference)
    assert got.num_rows == 2 * PARTS
    assert np.array_equal(got.column("score").to_numpy(), want.column("score").to_numpy())  # bit for bit
