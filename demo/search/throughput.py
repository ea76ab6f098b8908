"""Rerank throughput measured on this machine and the time estimates built on it.

A rate belongs to one reranker *as the app runs it* — its architecture (a Hub id, or a local folder and its
``config.json``) at the tokens per pair the app caps it at — in one precision, on one machine. A plain and a fused
choice of the same model share it. Rates timed when a model loads (:meth:`ThroughputBook.record` with ``sample=True``)
are stored in the cache folder (:data:`RATES_FILE`), keyed by :func:`machine_description` and precision, so a restart
does not time them again. The first real rerank replaces a rate timed at load, the later ones refine it, and the stored
rate is rewritten once the reranks put it more than :data:`RATE_DRIFT` off: a timing at load slowed by other work in
the process does not outlive the start that booked it.

A reranker measured here is estimated from its own rate. One not measured yet is scaled *by compute* from the sizes
measured here: FLOPs per pair from its encoder's shape (:func:`pair_cost`), with the time growing as a power of the
FLOPs fitted on those sizes (linearly when only one is measured). Another machine's speed ratios are never used.
"""

from __future__ import annotations

import functools
import glob
import hashlib
import json
import logging
import math
import os
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from demo.sources.choices import RerankerChoice
from ettin import registry
from ettin.io import write_json_atomic
from ettin.paths import cache_dir
from ettin.runtime import INTERACTIVE_MAX_LENGTH, cpu_model

__all__ = [
    "EXPONENT_RANGE",
    "RATES_FILE",
    "RATES_SCHEMA",
    "RATE_DRIFT",
    "RATE_WINDOW",
    "TYPICAL_TOKENS",
    "Estimate",
    "Rate",
    "RateStore",
    "ThroughputBook",
    "app_max_length",
    "config_cost",
    "machine_description",
    "pair_cost",
    "rate_key",
]

logger = logging.getLogger("ettin.app")

RATES_FILE = "rerank-rates.json"
"""The stored rates, in :func:`ettin.paths.cache_dir`."""
RATES_SCHEMA = "ettin.rerank-rates/1"
TYPICAL_TOKENS = 256
"""Tokens per pair the compute scaling assumes (a SciFact abstract with its claim is about this long)."""
RATE_WINDOW = 8
"""Timings a rate is the total of (the latest): pairs over seconds, so a larger rerank weighs more."""
RATE_DRIFT = 1.25
"""How much faster or slower than the stored rate the reranks must put a rate before it is stored again (steady reranks
do not rewrite the file)."""
EXPONENT_RANGE = (0.25, 1.25)
"""Bounds on the fitted power of FLOPs per pair (a GPU's small models are overhead-bound: well under 1)."""


def app_max_length(choice: RerankerChoice) -> int:
    """Tokens per pair the app runs ``choice`` at: its own (card's) length when shorter than the app's cap."""
    own = choice.max_length
    return min(INTERACTIVE_MAX_LENGTH, own) if own else INTERACTIVE_MAX_LENGTH


def _visible_gpus() -> list[str]:
    """NVIDIA GPUs the driver lists (read from ``/proc``, without importing torch), and which are visible."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return []
    models = []
    for info in sorted(glob.glob("/proc/driver/nvidia/gpus/*/information")):
        try:
            lines = Path(info).read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        models += [line.partition(":")[2].strip() for line in lines if line.startswith("Model:")]
    if models and visible is not None:
        models.append(f"CUDA_VISIBLE_DEVICES={visible.strip()}")
    return models


@functools.lru_cache(maxsize=1)
def machine_description() -> str:
    """What a stored rate is valid on: the CPU model, the CPUs this process may use, a thread cap and the GPUs visible
    (no torch import: an estimate is shown before any model loads)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    parts = [cpu_model(), f"{cpus} CPUs"]
    if os.environ.get("OMP_NUM_THREADS"):
        parts.append(f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}")
    return "; ".join(parts + _visible_gpus())


def config_cost(config: dict[str, Any], tokens: int = TYPICAL_TOKENS) -> float | None:
    """FLOPs per pair of ``tokens`` tokens for a transformers config (a dict); ``None`` without the shape fields."""
    from eval.speed.ceiling import EncoderShape, flops_per_pair

    if not all(isinstance(config.get(k), int) for k in ("hidden_size", "intermediate_size", "num_hidden_layers")):
        return None
    shape = EncoderShape.from_config(SimpleNamespace(**config))
    return flops_per_pair(shape, tokens, glu=config.get("model_type") == "modernbert")


def _registry_cost(size: str, tokens: int) -> float | None:
    meta = registry.RERANKERS.get(size)
    if meta is None:
        return None
    e = meta.encoder
    return config_cost({"model_type": "modernbert", "hidden_size": e.hidden_size, "intermediate_size": e.intermediate_size,
                        "num_hidden_layers": e.num_hidden_layers, "vocab_size": e.vocab_size,
                        "global_attn_every_n_layers": e.global_attn_every_n_layers,
                        "local_attention": e.local_attention}, tokens)  # fmt: skip


@functools.lru_cache(maxsize=256)
def _folder_config(path: str, stamp: tuple[int, int]) -> tuple[str, dict[str, Any]]:
    """A folder's ``config.json`` (digest, parsed), remembered while its size and modification time stay the same."""
    raw = Path(path).read_bytes()
    try:
        parsed = json.loads(raw)
    except ValueError:
        parsed = {}
    return hashlib.sha256(raw).hexdigest()[:12], parsed if isinstance(parsed, dict) else {}


def _local_config(choice: RerankerChoice) -> tuple[str, dict[str, Any]] | None:
    path = Path(choice.spec) / "config.json"
    try:
        st = path.stat()
    except OSError:
        return None
    return _folder_config(str(path), (st.st_size, st.st_mtime_ns))


def pair_cost(choice: RerankerChoice) -> float | None:
    """FLOPs per pair of ``choice`` at the length the compute scaling assumes (:data:`TYPICAL_TOKENS`, or the app's cap
    when shorter): from a local folder's ``config.json``, else the registry's shape for its size; ``None`` when neither
    tells (such a model is timed when it loads)."""
    tokens = min(TYPICAL_TOKENS, app_max_length(choice))
    local = _local_config(choice) if choice.local else None
    cost = config_cost(local[1], tokens) if local else None
    if cost is None and choice.size:
        cost = _registry_cost(choice.size, tokens)
    return cost


def rate_key(choice: RerankerChoice) -> str:
    """What a rate is kept under: the model (a Hub id or trained reranker's id; a local folder with a digest of its
    ``config.json``, since the architecture decides the speed) and the tokens per pair the app runs it at."""
    local = _local_config(choice) if choice.local else None
    model = f"{choice.spec}#{local[0]}" if local else choice.spec
    return f"{model}@{app_max_length(choice)}"


@dataclass
class Rate:
    """One reranker's measured rate: the latest timings (pairs, seconds), what they were, and its FLOPs per pair."""

    label: str
    timings: list[tuple[int, float]] = field(default_factory=list)
    cost: float | None = None
    stored: bool = False
    """Its first timing was read from :data:`RATES_FILE` (timed at an earlier start)."""
    reranks: int = 0
    """Real reranks timed (0: its timing is the sample pairs timed when the model loaded)."""
    details: dict[str, Any] = field(default_factory=dict)
    """Stored with it: what the model ran on when it was timed at load (device, dtype)."""
    saved: float | None = None
    """The pairs/s :data:`RATES_FILE` holds for it (``None``: not stored)."""

    @property
    def pairs(self) -> int:
        return sum(p for p, _ in self.timings)

    @property
    def seconds(self) -> float:
        return sum(s for _, s in self.timings)

    @property
    def pairs_per_s(self) -> float:
        return self.pairs / self.seconds

    def basis(self) -> str:
        """How this rate was measured, for an estimate's text."""
        if self.reranks:
            when = ", some at an earlier start" if self.stored else ""
            what = f"over its last {self.pairs} pairs reranked ({self.reranks} rerank(s){when})"
        else:
            what = f"on {self.pairs} sample pairs timed when it loaded" + (", at an earlier start" if self.stored else "")
        return f"measured on this machine: {self.pairs_per_s:,.1f} pairs/s {what}"

    def entry(self) -> dict[str, Any]:
        """What :data:`RATES_FILE` keeps for it."""
        return {"label": self.label, "pairs": self.pairs, "seconds": self.seconds, "cost": self.cost,
                "reranks": self.reranks, **self.details}  # fmt: skip


@dataclass(frozen=True)
class Estimate:
    """An estimated rerank time: ``seconds`` for ``n_pairs`` at ``pairs_per_s``, and how it was made (``basis``)."""

    n_pairs: int
    pairs_per_s: float
    basis: str
    measured: bool
    """From this reranker's own rate (else scaled by compute from other sizes measured here)."""

    @property
    def seconds(self) -> float:
        return self.n_pairs / self.pairs_per_s

    def fits(self, limit_s: float) -> int:
        """The most pairs this rate reranks within ``limit_s`` seconds (0: not even one)."""
        return max(0, int(self.pairs_per_s * limit_s))


class RateStore:
    """The rates stored in the cache folder: ``machines -> precision -> rate key -> timing``, written atomically.

    Args:
        path: The file (default :data:`RATES_FILE` in :func:`ettin.paths.cache_dir`).
    """

    _lock = threading.Lock()

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or cache_dir() / RATES_FILE

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            logger.warning("ignoring the stored rerank rates in %s (%s); they are measured again", self.path.name, exc)
            return {}
        return data if isinstance(data, dict) and data.get("schema") == RATES_SCHEMA else {}

    def load(self, precision: str) -> dict[str, dict[str, Any]]:
        """The timings stored for this machine in ``precision``, by rate key."""
        entries = self._read().get("machines", {}).get(machine_description(), {}).get(precision, {})
        return {k: v for k, v in entries.items() if isinstance(v, dict)}

    def save(self, precision: str, key: str, entry: dict[str, Any]) -> None:
        """Store one timing (a failure to write is logged: the rate is then measured again at the next start)."""
        with self._lock:
            data = self._read() or {"schema": RATES_SCHEMA, "machines": {}}
            machine = data.setdefault("machines", {}).setdefault(machine_description(), {})
            when = datetime.now(timezone.utc).isoformat(timespec="seconds")
            machine.setdefault(precision, {})[key] = {**entry, "measured_at": when}
            try:
                write_json_atomic(self.path, data)
            except OSError as exc:
                logger.warning("could not store the rerank rate of %s in %s: %s", key, self.path.name, exc)


_ENTRY_FIELDS = ("label", "pairs", "seconds", "cost", "reranks", "measured_at")


def _stored_rate(entry: dict[str, Any]) -> Rate | None:
    """A :class:`Rate` from a stored entry, ``None`` for one that is malformed."""
    pairs, seconds, cost, reranks = entry.get("pairs"), entry.get("seconds"), entry.get("cost"), entry.get("reranks")
    if not isinstance(pairs, int) or not isinstance(seconds, (int, float)) or pairs <= 0 or seconds <= 0:
        return None
    return Rate(str(entry.get("label") or "?"), [(pairs, float(seconds))],
                float(cost) if isinstance(cost, (int, float)) and cost > 0 else None, stored=True,
                reranks=reranks if isinstance(reranks, int) and reranks > 0 else 0, saved=pairs / seconds,
                details={k: v for k, v in entry.items() if k not in _ENTRY_FIELDS})  # fmt: skip


class ThroughputBook:
    """Pairs/s measured on this machine in one precision, per reranker (:func:`rate_key`), and the estimates from them.

    Args:
        precision: The precision asked for (one book each, so an fp32 estimate never comes from a bf16 rate).
        store: Where rates timed at load, and the reranks' corrections of them, are stored and read back (``None``:
            memory only).
    """

    def __init__(self, precision: str = "auto", store: RateStore | None = None) -> None:
        self.precision = precision
        self._store = store
        self._lock = threading.Lock()
        self._rates: dict[str, Rate] = {}
        self._aliases: dict[str, str] = {}  # a choice's key -> its rate key
        for key, entry in (store.load(precision) if store else {}).items():
            rate = _stored_rate(entry)
            if rate is not None:
                self._rates[key] = rate

    def record(self, choice: RerankerChoice, pairs: int, seconds: float, *, cost: float | None = None,
               sample: bool = False, details: dict[str, Any] | None = None) -> None:  # fmt: skip
        """Fold a timing of ``pairs`` pairs in ``seconds`` into ``choice``'s rate.

        Args:
            choice: The reranker timed.
            pairs: Pairs scored.
            seconds: Seconds they took.
            cost: Its FLOPs per pair (default :func:`pair_cost`).
            sample: The timing of sample pairs when the model loaded: it starts the rate afresh and is stored (with
                ``details``, e.g. the device and dtype) so the next start need not time it again. Otherwise a real
                rerank: the first replaces a rate timed at load (this start's or a stored one), the later ones refine
                it, and a stored rate they put more than :data:`RATE_DRIFT` off is stored again.
            details: Stored with a sample timing.
        """
        if pairs <= 0 or seconds <= 0:
            return
        key = rate_key(choice)
        cost = cost or pair_cost(choice)
        with self._lock:
            self._aliases[choice.key] = key
            rate = self._rate_to_fold(key, choice, sample, details)
            rate.label, rate.cost = choice.key, cost or rate.cost
            rate.timings = (rate.timings + [(int(pairs), float(seconds))])[-RATE_WINDOW:]
            rate.reranks += 0 if sample else 1
            entry = self._entry_to_store(rate, sample)
        if entry is not None:
            self._store.save(self.precision, key, entry)

    def _rate_to_fold(self, key: str, choice: RerankerChoice, sample: bool, details: dict[str, Any] | None) -> Rate:
        """The rate a timing goes into: a fresh one for a timing at load, and for the first rerank after one (whatever
        other work slowed that timing must not weigh on every later estimate); else the rate as it is."""
        old = self._rates.get(key)
        if old is not None and old.reranks and not sample:
            return old
        if sample or old is None:
            fresh = Rate(choice.key, details=dict(details or {}))
        else:
            fresh = Rate(choice.key, details=old.details, saved=old.saved)
        self._rates[key] = fresh
        return fresh

    def _entry_to_store(self, rate: Rate, sample: bool) -> dict[str, Any] | None:
        """``rate``'s entry when it is to be stored (marking it stored): a timing at load always; after a rerank, only
        a rate stored before that the reranks have put more than :data:`RATE_DRIFT` off."""
        if self._store is None:
            return None
        if not sample and (rate.saved is None or 1 / RATE_DRIFT <= rate.pairs_per_s / rate.saved <= RATE_DRIFT):
            return None
        rate.saved = rate.pairs_per_s
        return rate.entry()

    def measured(self, choice: RerankerChoice | str) -> Rate | None:
        """``choice``'s own rate (a choice, or the key of one recorded here), ``None`` before it was timed here."""
        with self._lock:
            key = rate_key(choice) if isinstance(choice, RerankerChoice) else self._aliases.get(choice, choice)
            rate = self._rates.get(key)
            if rate is not None and isinstance(choice, RerankerChoice):
                self._aliases[choice.key] = key
            return rate

    def rate(self, choice: RerankerChoice | str) -> float | None:
        """``choice``'s measured pairs/s (a choice, or the key of one recorded here), ``None`` before it was timed."""
        rate = self.measured(choice)
        return rate.pairs_per_s if rate is not None else None

    def estimate(self, choice: RerankerChoice, n_pairs: int) -> Estimate | None:
        """The time to rerank ``n_pairs`` pairs with ``choice`` on this machine: from its own rate, else scaled by
        compute from the sizes measured here; ``None`` when neither is possible (nothing measured, or no shape)."""
        own = self.measured(choice)
        if own is not None:
            return Estimate(n_pairs, own.pairs_per_s, own.basis(), True)
        return self._scaled(choice, n_pairs)

    def _scaled(self, choice: RerankerChoice, n_pairs: int) -> Estimate | None:
        """Scaled from the measured size nearest in FLOPs per pair, as FLOPs to a power fitted on the sizes measured
        here (1 with only one measured size)."""
        cost = pair_cost(choice)
        with self._lock:
            anchors = [r for r in self._rates.values() if r.cost]
        if not cost or not anchors:
            return None
        near = min(anchors, key=lambda r: abs(math.log(cost / r.cost)))
        power, fitted_on = _fitted_power(anchors)
        per_pair = (1 / near.pairs_per_s) * (cost / near.cost) ** power
        how = (f"time ∝ FLOPs^{power:.2f}, fitted on the {fitted_on} sizes measured here" if fitted_on
               else "time ∝ FLOPs")  # fmt: skip
        basis = (f"not measured here yet: {1 / per_pair:,.1f} pairs/s, scaled by compute from {near.label} measured on "
                 f"this machine at {near.pairs_per_s:,.1f} pairs/s — {cost / near.cost:.2g}× its FLOPs per pair, {how}")
        return Estimate(n_pairs, 1 / per_pair, basis, False)


def _fitted_power(anchors: list[Rate]) -> tuple[float, int]:
    """The power of FLOPs per pair that seconds per pair grow with across ``anchors`` (least squares in log-log,
    bounded by :data:`EXPONENT_RANGE`) and how many distinct sizes it was fitted on; (1.0, 0) for fewer than two."""
    points: dict[float, list[tuple[float, float]]] = {}  # sizes of (almost) equal cost are one point, their mean
    for r in anchors:
        x = math.log(r.cost)
        points.setdefault(round(x, 3), []).append((x, math.log(1 / r.pairs_per_s)))
    if len(points) < 2:
        return 1.0, 0
    xs = [sum(x for x, _ in v) / len(v) for v in points.values()]
    ys = [sum(y for _, y in v) / len(v) for v in points.values()]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    low, high = EXPONENT_RANGE
    return min(high, max(low, slope)), len(xs)
