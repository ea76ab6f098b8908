"""Loaded models: a reranker and an embedder that carry their provenance, and loading them with given settings."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ettin import registry
from ettin.runtime.device import RuntimeSettings, best_settings
from ettin.runtime.fast import fast_path_supported, score_pairs_fast
from ettin.runtime.identity import SCORING_VERSION, loaded_provenance
from ettin.runtime.sources import ModelLoadError, ModelSource, loading_error, resolve_model, with_hub_identity

LOAD_LOCK = threading.Lock()
"""Models load one at a time. transformers switches torch's process-wide default dtype while it builds a model in
another dtype (and switches it back after); two loads at once can leave the wrong default behind for good, each restoring
what the other set, and every later tensor is then made in it. Rerankers are therefore built in float32 and cast after
(:func:`cast_encoder`), except for flash attention (CUDA), which must be built in half precision."""

__all__ = [
    "Embedder",
    "Reranker",
    "check_prompts",
    "keep_head_fp32",
    "load_embedder",
    "load_reranker",
    "model_max_length",
]


@dataclass
class Reranker:
    """A loaded cross-encoder plus what is needed to record provenance.

    ``backend`` is the exported runtime its forward passes run on (``None``: torch itself); :meth:`use_backend` swaps it
    while other threads score (a call in progress finishes on the backend it started with).
    """

    model: Any
    source: ModelSource
    settings: RuntimeSettings
    parameters: int
    backend: Any = field(default=None, repr=False)
    """An :class:`ettin.runtime.backends.Backend`, or ``None`` for torch."""
    backend_reason: str | None = None
    """Why the forward passes run where they run (the gate's verdict, or why an export was not used)."""

    @property
    def name(self) -> str:
        return self.source.name or self.source.hub_id or Path(self.source.name_or_path).name

    @property
    def random_init(self) -> bool:
        return self.source.random_init

    def weights_hash(self) -> str | None:
        """Hash of the weight files loaded (a local folder or the Hub cache snapshot), see :func:`model_weights_hash`."""
        return loaded_provenance(self.source, self.settings, self.parameters, self.model)["weights_sha256"]

    def fp32_copy(self) -> Reranker:
        """The same model loaded again in fp32 with sdpa attention on torch: the correctness gate's reference."""
        settings = replace(self.settings, dtype="float32", attn_implementation="sdpa", backend="torch",
                           reason="fp32 reference of the backend gate")  # fmt: skip
        return load_reranker(self.source, settings)

    def use_backend(self, backend: Any, reason: str | None = None) -> None:
        """Run later forward passes on ``backend`` (``None``: torch); safe while other threads score."""
        self.backend, self.backend_reason = backend, reason

    def scoring(self) -> dict[str, Any]:
        """Where the forward passes run now: backend, precision, compile state and the scoring code's version."""
        from ettin.runtime.compiled import compiled_forward

        backend = self.backend
        forward = compiled_forward(self.model) if backend is None else None
        return {
            "backend": "torch" if backend is None else backend.name,
            "precision": ("bf16" if self.settings.dtype == "bfloat16" else "fp32") if backend is None else backend.precision,
            "backend_requested": self.settings.backend,
            "backend_reason": self.backend_reason,
            "export": None if backend is None else getattr(backend, "export_id", None),
            "compiled": forward is not None and forward.state != "failed",
            "scoring_version": SCORING_VERSION,
        }

    def provenance(self) -> dict[str, Any]:
        """What the model is (:func:`loaded_provenance`) and how it scores (:meth:`scoring`)."""
        return {**loaded_provenance(self.source, self.settings, self.parameters, self.model), **self.scoring()}

    def score_pairs(
        self,
        pairs: Sequence[tuple[str, str]],
        batch_size: int = 32,
        show_progress_bar: bool = False,
        *,
        max_tokens: int | None = None,
        fast: bool = True,
        on_batch: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        """Raw scores (logits, never passed through the model's activation) for (query, document) pairs, in input order.

        The fast path (default) tokenises every pair once, sorts by exact token count, and runs the model directly in
        ``torch.inference_mode`` on batches padded only to their own longest pair; its scores equal
        ``CrossEncoder.predict(..., activation_fn=Identity())``'s. It runs only where that is proven
        (:func:`~ettin.runtime.fast.fast_path_supported`); causal-LM rerankers (prompt template, left padding,
        ``LogitScore``), prompted models and models that unpad (flash attention on CUDA) use ``predict`` itself, with the
        identity activation (raw logits, as mteb scores ``mxbai-rerank-v2`` and as the post distils them). With an
        exported backend attached (:meth:`use_backend`), the fast path's batches run on it instead of torch.

        Args:
            pairs: (query, document) string pairs.
            batch_size: Most pairs per forward pass.
            max_tokens: Most padded tokens per forward pass (``None``: only ``batch_size`` limits a batch).
            show_progress_bar: Show a tqdm bar over batches.
            fast: ``False`` calls ``CrossEncoder.predict`` (the reference path, always torch).
            on_batch: Called with (pairs done, pairs in all) after each forward pass of the fast path, once at the end
                of ``predict``; an exception it raises (a user's Stop) ends the scoring there.
        """
        import torch

        if len(pairs) == 0:
            return np.zeros(0, dtype=np.float32)
        if batch_size < 1:
            raise ValueError("batch_size must be a positive whole number")
        if max_tokens is not None and max_tokens < 1:
            raise ValueError("max_tokens must be a positive whole number")
        backend = self.backend  # read once: a swap meanwhile applies from the next call on
        if fast and fast_path_supported(self.model):
            return score_pairs_fast(self.model, pairs, batch_size=batch_size, max_tokens=max_tokens,
                                    show_progress_bar=show_progress_bar, on_batch=on_batch,
                                    forward=None if backend is None else backend.run)  # fmt: skip
        with torch.inference_mode():
            scores = self.model.predict(
                list(pairs), batch_size=batch_size, show_progress_bar=show_progress_bar, convert_to_numpy=True,
                activation_fn=torch.nn.Identity(),
            )
        if on_batch is not None:
            on_batch(len(pairs), len(pairs))
        return np.asarray(scores, dtype=np.float32).reshape(-1)

    def score(self, query: str, documents: Sequence[str], batch_size: int = 32) -> np.ndarray:
        return self.score_pairs([(query, d) for d in documents], batch_size=batch_size)


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
        """What the model is and how it was loaded (:func:`loaded_provenance`, as for a reranker)."""
        return loaded_provenance(self.source, self.settings, self.parameters, self.model)


def _count(model: Any) -> int:
    from ettin.architecture import count_parameters

    return int(count_parameters(model))


def load_reranker(
    spec: str | ModelSource,
    settings: RuntimeSettings | None = None,
    *,
    allow_local: bool = True,
    local_roots: Sequence[str | Path] | None = None,
) -> Reranker:
    """Load a CrossEncoder reranker with ``settings`` (default: :func:`best_settings`).

    ``settings.backend`` other than ``torch`` attaches an exported backend before returning
    (:func:`ettin.runtime.accelerate.attach_backend`: built once, gated, the fastest passing one); when none can run or
    passes, the reranker scores on torch and the reason is logged and kept in ``backend_reason``.

    Raises:
        ModelLoadError: invalid id, or the model cannot be loaded (offline and not cached, broken folder, …).
    """
    import torch
    from sentence_transformers import CrossEncoder

    source = spec if isinstance(spec, ModelSource) else resolve_model(
        spec, kind="reranker", allow_local=allow_local, local_roots=local_roots
    )
    settings = settings or best_settings()
    kwargs = settings.model_kwargs()
    cast_after_load = settings.dtype != "float32" and settings.attn_implementation != "flash_attention_2"
    if cast_after_load:  # built in fp32, so transformers never switches torch's process-wide default dtype
        kwargs["dtype"] = torch.float32
    try:
        try:
            with LOAD_LOCK:
                model = CrossEncoder(source.name_or_path, device=settings.device, model_kwargs=kwargs, max_length=settings.max_length)
        except (ValueError, ImportError) as exc:
            if "attn_implementation" not in str(exc) and "flash" not in str(exc).lower():
                raise
            kwargs["attn_implementation"] = "eager"
            settings = replace(settings, attn_implementation="eager", reason=f"{settings.reason}; attention fell back to eager")
            with LOAD_LOCK:
                model = CrossEncoder(source.name_or_path, device=settings.device, model_kwargs=kwargs, max_length=settings.max_length)
    except ModelLoadError:
        raise
    except Exception as exc:  # noqa: BLE001 - every loading failure becomes one clear message
        raise loading_error(source, exc) from exc
    limit = model_max_length(model)
    if settings.max_length is None:
        own = min((v for v in (model.max_seq_length, limit) if v), default=None)
        if own is not None:
            model.max_seq_length = own
        settings = replace(settings, max_length=own)
    elif limit is not None and settings.max_length > limit:
        raise ModelLoadError(f"max_length {settings.max_length} exceeds {source.spec}'s limit of {limit} tokens")
    model.eval()
    if cast_after_load:
        cast_encoder(model, settings.torch_dtype)
    if settings.dtype != "float32":
        keep_head_fp32(model)
    reranker = Reranker(model, with_hub_identity(source), settings, _count(model))
    if settings.backend != "torch":  # never raises: a backend that cannot run leaves torch, with the reason logged
        from ettin.runtime.accelerate import attach_backend

        attach_backend(reranker, settings.backend, settings.precision)
    return reranker


def cast_encoder(model: Any, dtype: Any) -> None:
    """Cast the encoder's parameters (the first module: all of a plain sequence-classification model) to ``dtype``.

    Buffers keep the dtype the model built them in (rotary frequencies stay float32, as a model built directly in bf16
    keeps them), and a scoring head after the encoder keeps its exact float32 weights (:func:`keep_head_fp32`) rather
    than bf16-rounded ones.
    """
    first = next(iter(model.children()), model)
    for param in first.parameters():
        param.data = param.data.to(dtype)


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


def check_prompts(model: Any, meta: registry.EmbedderMeta | None, spec: str) -> None:
    """Refuse an embedder that lacks (or has an empty) prompt the registry names: it would silently run without it.

    Raises:
        ModelLoadError: a named prompt is missing from the model's ``prompts``.
    """
    if meta is None:
        return
    prompts = getattr(model, "prompts", None) or {}
    missing = [name for name in (meta.query_prompt_name, meta.document_prompt_name) if name and not prompts.get(name)]
    if missing:
        present = ", ".join(name for name, text in prompts.items() if text) or "none"
        raise ModelLoadError(
            f"{spec} has no prompt named {', '.join(map(repr, missing))} (non-empty prompts: {present}); "
            "the registry's prompts would be silently dropped: pin the revision that has them or fix the registry entry"
        )


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
    settings = settings or best_settings(precision="fp32")  # embeddings stay lossless: stored ones must match
    meta = registry.embedder(source.hub_id) if source.hub_id else None
    try:
        with LOAD_LOCK:
            model = SentenceTransformer(
                source.name_or_path,
                device=settings.device,
                trust_remote_code=source.trust_remote_code,
                revision=None if source.is_local or meta is None else meta.revision,
                model_kwargs={"dtype": settings.torch_dtype},
            )
    except Exception as exc:  # noqa: BLE001
        raise loading_error(source, exc) from exc
    check_prompts(model, meta, source.spec)
    if meta is not None and meta.max_seq_length:
        model.max_seq_length = meta.max_seq_length
    model.eval()
    source = with_hub_identity(source, None if meta is None else meta.revision)
    return Embedder(model, source, settings, meta, _count(model))


