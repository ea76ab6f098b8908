"""The fast scoring path: one tokenisation, exact token-length sorting, direct forward passes in ``inference_mode``.

Scores equal ``CrossEncoder.predict(..., activation_fn=Identity())``'s (same tokenisation, raw logits); only the batching
differs. It is used only for the models it is proven equal on (:func:`fast_path_supported`): a plain text pair encoder
padded on the right with no prompt (the Ettin rerankers, BERT-style cross-encoders with token types). Causal-LM rerankers
(chat template, left padding, ``LogitScore``) and anything with a prompt keep ``predict``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = ["encode_pairs", "fast_path_supported", "padded_batch", "plan_batches", "score_pairs_fast", "tokenize_pairs"]


_PAIR_ENCODER_TASKS = ("sequence-classification", "feature-extraction")


def fast_path_supported(model: Any) -> bool:
    """True for a text CrossEncoder whose first module is a right-padded pair encoder with a tokenizer and no prompt.

    Everything else keeps ``predict``: models that unpad (flattened inputs with flash attention; ``predict`` already packs
    them), causal-LM rerankers (chat template and left padding: ``predict`` renders the template, pads on the left and
    restores the template's suffix after truncation), models with a default prompt, and multi-label heads.
    """
    try:
        first = model[0]
    except Exception:  # noqa: BLE001 - not a sequential sentence-transformers model
        return False
    tokenizer = getattr(first, "tokenizer", None)
    modalities = getattr(first, "modality_config", {"text": None})
    return (
        tokenizer is not None
        and getattr(tokenizer, "padding_side", "right") == "right"
        and getattr(first, "transformer_task", "sequence-classification") in _PAIR_ENCODER_TASKS
        and set(modalities) == {"text"}
        and not getattr(first, "can_flatten_inputs", False)
        and getattr(first, "backend", "torch") == "torch"
        and not getattr(model, "default_prompt_name", None)
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
    on_batch: Callable[[int, int], None] | None = None,
    forward: Callable[[dict[str, np.ndarray]], np.ndarray] | None = None,
) -> np.ndarray:
    """Score pairs with one tokenisation, exact-length sorting and direct forward passes (see ``Reranker.score_pairs``);
    ``on_batch(pairs done, pairs in all)`` after each forward pass.

    ``forward`` (an exported backend's ``run``) takes each padded batch as int64 arrays (``input_ids``,
    ``attention_mask`` and, where the tokenizer makes them, ``token_type_ids``) and returns one score per row; without
    it the torch model runs the batch."""
    import torch
    from ettin.progress import progress_bar

    transformer = model[0]
    tokenizer = transformer.tokenizer
    max_length = getattr(model, "max_seq_length", None) or transformer.max_seq_length
    encoded = encode_pairs(tokenizer, pairs, max_length)
    ids = encoded["input_ids"]
    type_ids = encoded.get("token_type_ids")
    lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    device = model.device
    out = np.empty(len(ids), dtype=np.float32)
    batches = plan_batches(lengths, batch_size, max_tokens)
    done = 0
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for idx in progress_bar(iterable=batches, show=show_progress_bar, desc="Scoring", unit="batch"):
                arrays = padded_batch(ids, type_ids, lengths, idx, pad_id)
                if forward is not None:
                    out[idx] = np.asarray(forward(arrays), dtype=np.float32).reshape(len(idx), -1)[:, 0]
                else:
                    out[idx] = _torch_forward(model, arrays, device)
                done += len(idx)
                if on_batch is not None:
                    on_batch(done, len(ids))
    finally:
        if was_training:
            model.train()
    return out


def padded_batch(
    ids: list[list[int]], type_ids: list[list[int]] | None, lengths: np.ndarray, idx: np.ndarray, pad_id: int
) -> dict[str, np.ndarray]:
    """The pairs ``idx`` padded on the right to the longest of them, as int64 arrays."""
    width = int(lengths[idx].max())
    input_ids = np.full((len(idx), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(idx), width), dtype=np.int64)
    types = np.zeros((len(idx), width), dtype=np.int64) if type_ids is not None else None
    for row, i in enumerate(idx.tolist()):
        n = lengths[i]
        input_ids[row, :n] = ids[i]
        mask[row, :n] = 1
        if types is not None:
            types[row, :n] = type_ids[i]
    arrays = {"input_ids": input_ids, "attention_mask": mask}
    if types is not None:
        arrays["token_type_ids"] = types
    return arrays


def _torch_forward(model: Any, arrays: dict[str, np.ndarray], device: Any) -> np.ndarray:
    """One padded batch through the torch model: its raw scores, in float32."""
    import torch

    features: dict[str, Any] = {name: torch.from_numpy(value).to(device) for name, value in arrays.items()}
    features["modality"] = "text"
    scores = model(features)["scores"]
    if torch.is_floating_point(scores) and torch.finfo(scores.dtype).bits < 32:
        scores = scores.float()
    return scores.reshape(len(arrays["input_ids"]), -1)[:, 0].float().cpu().numpy()
