"""The Ettin reranker architecture: any encoder + the blog's four-module scoring head."""

from __future__ import annotations

from typing import Any

from torch import nn

def ettin_head(hidden_size: int, pooling: str = "cls") -> list[nn.Module]:
    """The four modules that follow the encoder in every Ettin reranker.

    Args:
        hidden_size: The encoder's hidden size ``h``.
        pooling: ``cls`` (Ettin's) or ``mean`` (for an encoder pretrained with mean pooling, e.g. all-MiniLM-L6-v2).

    Returns:
        ``[Pooling(cls), Dense(h, h, GELU, no bias), LayerNorm(h), Dense(h, 1, identity, bias) -> "scores"]``;
        together they hold ``h**2 + 3*h + 1`` parameters.
    """
    from sentence_transformers.sentence_transformer.modules import Dense, LayerNorm, Pooling

    return [
        Pooling(hidden_size, pooling_mode=pooling),
        Dense(hidden_size, hidden_size, bias=False, activation_function=nn.GELU()),
        LayerNorm(hidden_size),
        Dense(hidden_size, 1, bias=True, activation_function=nn.Identity(), module_output_name="scores"),
    ]


def build_reranker(
    encoder: str,
    *,
    max_length: int | None = 512,
    model_kwargs: dict[str, Any] | None = None,
    config_kwargs: dict[str, Any] | None = None,
    tokenizer: str | None = None,
    device: str | None = None,
    pooling: str = "cls",
):
    """Turn an encoder (Hub id or local folder) into the blog's five-module CrossEncoder.

    Args:
        encoder: Hub id or local path of a feature-extraction encoder (e.g. ``jhu-clsp/ettin-encoder-17m``).
        max_length: Maximum tokens per (query, document) pair.
        model_kwargs: Passed to ``AutoModel.from_pretrained`` (e.g. ``{"dtype": torch.bfloat16}``).
        config_kwargs: Passed to ``AutoConfig.from_pretrained``.
        tokenizer: Tokenizer path when it differs from ``encoder``.
        device: Torch device; ``None`` lets sentence-transformers choose.
        pooling: The head's pooling (:func:`ettin_head`).

    Returns:
        A ``CrossEncoder`` with ``num_labels=1`` whose activation is the identity (raw logits).
    """
    from sentence_transformers import CrossEncoder
    from sentence_transformers.sentence_transformer.modules import Transformer

    transformer = Transformer(
        encoder,
        model_kwargs=model_kwargs,
        config_kwargs=config_kwargs,
        max_seq_length=max_length,
        tokenizer_name_or_path=tokenizer,
    )
    hidden = transformer.get_embedding_dimension()
    return CrossEncoder(
        modules=[transformer, *ettin_head(hidden, pooling)],
        num_labels=1,
        activation_fn=nn.Identity(),
        max_length=max_length,
        device=device,
    )


def count_parameters(model: nn.Module) -> int:
    """Number of parameters (works on the meta device too)."""
    return sum(p.numel() for p in model.parameters())
