"""Sharded work under ``torchrun`` (or ``--shard i/n``): which share is this process's, and a barrier between ranks.

One engine scales teacher scoring and the two-stage evaluation out: PyTorch's own launcher, ``torchrun``, which starts
one process per device (``--nproc_per_node``) on one or many machines (``--nnodes`` with a rendezvous). Each process
reads its ``RANK`` / ``WORLD_SIZE`` / ``LOCAL_RANK`` from the environment torchrun sets and takes the work items whose
index ``c`` has ``c % WORLD_SIZE == RANK``; rank 0 waits for all ranks (:meth:`RankGroup.gather`, a gloo collective
that also carries small results between machines) and then writes the final file alone. Outside torchrun a process is
a world of one, unless a scheduler that starts processes itself (an array job) gives each its share with
``--shard i/n`` — the same code path, without a barrier.

Nothing here imports ``torch.distributed`` until a group of more than one process is opened.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ettin.errors import UserError

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "DistributedError",
    "RankGroup",
    "Workers",
    "cpu_threads_per_rank",
    "device_for",
    "parse_shard",
    "rank_group",
    "shard_of",
    "workers_from_env",
]

DEFAULT_TIMEOUT_S = 24 * 3600
"""How long a rank waits for the others at a barrier (``ETTIN_DIST_TIMEOUT_S`` overrides). Long on purpose: a rank whose
share is already on disk waits for the whole remaining run; a rank that dies makes torchrun stop the others anyway."""


class DistributedError(UserError, ValueError):
    """A malformed ``--shard``, or ``--shard`` given under torchrun; the message says what to change."""


@dataclass(frozen=True)
class Workers:
    """This process's place among the processes sharing one job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    launcher: str = "single"
    """``"torchrun"`` (ranks from its environment), ``"shard"`` (``--shard i/n``) or ``"single"``."""

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes final files."""
        return self.rank == 0

    @property
    def torchrun(self) -> bool:
        return self.launcher == "torchrun"

    def describe(self) -> dict[str, Any]:
        """Provenance of the split: launcher, world size and (for ``--shard``) this process's share."""
        out: dict[str, Any] = {"launcher": self.launcher, "world_size": self.world_size}
        if self.launcher == "shard":
            out["shard"] = f"{self.rank}/{self.world_size}"
        return out


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/n"`` with ``0 <= i < n`` -> ``(i, n)``.

    Raises:
        DistributedError: anything else.
    """
    try:
        i_text, n_text = text.split("/")
        i, n = int(i_text), int(n_text)
    except ValueError:
        raise DistributedError(f"--shard {text!r}: expected i/n, e.g. 0/4") from None
    if n < 1 or not 0 <= i < n:
        raise DistributedError(f"--shard {text!r}: need 0 <= i < n")
    return i, n


def workers_from_env(environ: Mapping[str, str] | None = None) -> Workers:
    """The torchrun ranks of this process (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``), or a world
    of one when they are not set."""
    env = os.environ if environ is None else environ
    if "RANK" not in env or "WORLD_SIZE" not in env:
        return Workers()
    try:
        rank, world = int(env["RANK"]), int(env["WORLD_SIZE"])
        local_rank = int(env.get("LOCAL_RANK", "0"))
        local_world = int(env.get("LOCAL_WORLD_SIZE", str(world)))
    except ValueError:
        raise DistributedError(
            f"RANK={env.get('RANK')!r} / WORLD_SIZE={env.get('WORLD_SIZE')!r} are not whole numbers; start the job "
            "with torchrun, or unset them"
        ) from None
    if world < 1 or not 0 <= rank < world:
        raise DistributedError(f"RANK={rank} WORLD_SIZE={world}: need 0 <= RANK < WORLD_SIZE")
    return Workers(rank, world, local_rank, max(1, local_world), "torchrun")


def shard_of(shard: str | None, environ: Mapping[str, str] | None = None) -> Workers:
    """This process's share: torchrun's ranks when launched by torchrun, else ``--shard i/n``, else the whole job.

    Raises:
        DistributedError: a malformed ``--shard``, or ``--shard`` together with torchrun (both would split the work).
    """
    launched = workers_from_env(environ)
    if launched.torchrun:
        if shard is not None:
            raise DistributedError(
                f"--shard {shard} under torchrun (RANK={launched.rank}, WORLD_SIZE={launched.world_size}): torchrun "
                "already gives each process its share; drop --shard"
            )
        return launched
    if shard is None:
        return Workers()
    i, n = parse_shard(shard)
    return Workers(i, n, 0, 1, "shard" if n > 1 else "single")


def device_for(device: str | None, workers: Workers) -> str | None:
    """The device of this rank: under torchrun ``None``/``"cuda"`` become ``cuda:LOCAL_RANK`` (modulo the GPUs present),
    so ranks never pile onto GPU 0; an explicit index, ``"cpu"`` or a single process are left as they are."""
    if not workers.torchrun or (device is not None and device != "cuda"):
        return device
    import torch

    if not torch.cuda.is_available():
        return device
    index = workers.local_rank % torch.cuda.device_count()
    torch.cuda.set_device(index)
    return f"cuda:{index}"


def cpu_threads_per_rank(workers: Workers, cores: int | None = None) -> int | None:
    """Under torchrun, give each local rank an equal share of this machine's cores; returns the threads set, or ``None``
    where torch's setting stays: outside torchrun, and where the user chose ``OMP_NUM_THREADS`` (torchrun's own
    default of 1 for several local ranks counts as no choice)."""
    if not workers.torchrun:
        return None
    chosen = os.environ.get("OMP_NUM_THREADS")
    if chosen and not (chosen == "1" and workers.local_world_size > 1):
        return None
    import torch

    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    threads = max(1, cores // workers.local_world_size)
    torch.set_num_threads(threads)
    return threads


class RankGroup:
    """Collectives between the ranks of one torchrun job (gloo, so CPU-only jobs work too); in a world of one (or under
    ``--shard``, where processes know nothing of each other) every call returns at once."""

    def __init__(self, workers: Workers):
        self.workers = workers
        self._dist: Any = None
        self._owns = False

    @property
    def rank(self) -> int:
        return self.workers.rank

    @property
    def is_main(self) -> bool:
        return self.workers.is_main

    @property
    def connected(self) -> bool:
        """Whether the ranks actually talk to each other (torchrun with more than one process)."""
        return self._dist is not None

    def open(self, timeout_s: float | None = None) -> None:
        """Join the torchrun job's gloo group (nothing to join in a world of one)."""
        if not self.workers.torchrun or self.workers.world_size == 1:
            return
        from datetime import timedelta

        import torch.distributed as dist

        timeout_s = timeout_s or float(os.environ.get("ETTIN_DIST_TIMEOUT_S", DEFAULT_TIMEOUT_S))
        self._owns = not dist.is_initialized()
        if self._owns:
            dist.init_process_group("gloo", timeout=timedelta(seconds=timeout_s))
        self._dist = dist

    def close(self) -> None:
        """Leave the group (destroying it if :meth:`open` created it)."""
        if self._dist is not None and self._owns:
            self._dist.destroy_process_group()
        self._dist = None

    def barrier(self) -> None:
        """Wait until every rank reaches this point."""
        if self._dist is not None:
            self._dist.barrier()

    def gather(self, value: Any) -> list[Any]:
        """Every rank's ``value`` in rank order (a barrier too): on all ranks, so each can see the whole."""
        if self._dist is None:
            return [value]
        out: list[Any] = [None] * self.workers.world_size
        self._dist.all_gather_object(out, value)
        return out

    def broadcast(self, value: Any) -> Any:
        """Rank 0's ``value`` on every rank (the other ranks pass anything, e.g. ``None``)."""
        if self._dist is None:
            return value
        box = [value]
        self._dist.broadcast_object_list(box, src=0)
        return box[0]

    @contextmanager
    def main_first(self) -> Iterator[None]:
        """Run the block on rank 0 first, then on the others (so they find what rank 0 cached instead of redoing it)."""
        if not self.is_main:
            self.barrier()
        yield
        if self.is_main:
            self.barrier()


@contextmanager
def rank_group(workers: Workers, timeout_s: float | None = None) -> Iterator[RankGroup]:
    """A :class:`RankGroup` opened for the block and closed after it."""
    group = RankGroup(workers)
    group.open(timeout_s)
    try:
        yield group
    finally:
        group.close()
