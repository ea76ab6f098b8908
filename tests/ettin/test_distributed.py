"""Which share of a job a process takes (torchrun's environment, --shard, or all of it), its device and threads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ettin.distributed import (
    DistributedError,
    RankGroup,
    Workers,
    cpu_threads_per_rank,
    device_for,
    parse_shard,
    shard_of,
    workers_from_env,
)

TORCHRUN_ENV = {"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}


def test_outside_torchrun_a_process_is_the_whole_job():
    assert workers_from_env({}) == Workers(0, 1, 0, 1, "single")
    assert shard_of(None, {}) == Workers()
    assert shard_of("0/1", {}).world_size == 1


def test_torchrun_environment_gives_the_share():
    workers = shard_of(None, TORCHRUN_ENV)
    assert (workers.rank, workers.world_size, workers.local_rank, workers.local_world_size) == (3, 4, 1, 2)
    assert workers.torchrun and not workers.is_main
    assert workers.describe() == {"launcher": "torchrun", "world_size": 4}


def test_shard_flag_gives_the_share_for_schedulers_without_torchrun():
    workers = shard_of("2/5", {})
    assert (workers.rank, workers.world_size, workers.launcher) == (2, 5, "shard")
    assert workers.describe() == {"launcher": "shard", "world_size": 5, "shard": "2/5"}


def test_bad_shard_and_shard_under_torchrun_are_refused():
    assert parse_shard("1/4") == (1, 4)
    for bad in ("4/4", "-1/2", "a/b", "1", "0/0"):
        with pytest.raises(DistributedError, match="--shard"):
            shard_of(bad, {})
    with pytest.raises(DistributedError, match="drop --shard"):
        shard_of("0/2", TORCHRUN_ENV)
    with pytest.raises(DistributedError, match="RANK"):
        workers_from_env({"RANK": "2", "WORLD_SIZE": "2"})
    with pytest.raises(DistributedError, match="whole numbers"):
        workers_from_env({"RANK": "x", "WORLD_SIZE": "2"})


def test_ranks_take_their_local_gpu_not_gpu_zero(monkeypatch):
    import torch

    chosen = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_device", chosen.append)
    ranks = [workers_from_env({"RANK": str(r), "WORLD_SIZE": "3", "LOCAL_RANK": str(r)}) for r in range(3)]
    assert [device_for(None, w) for w in ranks] == ["cuda:0", "cuda:1", "cuda:0"]  # 3 ranks on 2 GPUs share round-robin
    assert device_for("cuda", ranks[1]) == "cuda:1" and chosen == [0, 1, 0, 1]
    assert device_for("cpu", ranks[1]) == "cpu" and device_for("cuda:0", ranks[1]) == "cuda:0"
    assert device_for(None, Workers()) is None  # one process: the runtime picks, as before


def test_each_local_rank_gets_its_share_of_the_cores(monkeypatch):
    import torch

    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("OMP_NUM_THREADS", "1")  # what torchrun sets for several local ranks
        assert cpu_threads_per_rank(Workers(0, 4, 0, 2, "torchrun"), cores=8) == 4
        assert torch.get_num_threads() == 4
        assert cpu_threads_per_rank(Workers(0, 8, 0, 8, "torchrun"), cores=2) == 1
        assert cpu_threads_per_rank(Workers(), cores=8) is None  # outside torchrun nothing changes
        monkeypatch.setenv("OMP_NUM_THREADS", "3")  # the user's choice stays
        assert cpu_threads_per_rank(Workers(0, 4, 0, 2, "torchrun"), cores=8) is None
        monkeypatch.delenv("OMP_NUM_THREADS")
        assert cpu_threads_per_rank(Workers(0, 1, 0, 1, "torchrun"), cores=6) == 6
    finally:
        torch.set_num_threads(before)


def test_a_world_of_one_needs_no_process_group():
    group = RankGroup(shard_of("1/3", {}))
    group.open()
    assert not group.connected and group.gather({"a": 1}) == [{"a": 1}]
    ran = []
    with group.main_first():
        ran.append(True)
    group.barrier()
    group.close()
    assert ran == [True]


def test_importing_it_loads_no_torch():
    code = "import sys, ettin.distributed; print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))"
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    assert out.stdout.strip() == "[]"
