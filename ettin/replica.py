"""Faithful random replicas of the six Ettin rerankers, of their six base encoders, and a stand-in for the teacher.

A reranker replica has the exact Ettin encoder configuration (ModernBERT) and the exact head, so loading, saving, memory
and speed are real; an encoder replica is the same ModernBERT as a masked-LM checkpoint (what ``jhu-clsp/ettin-encoder-*``
holds); the teacher stand-in is a tiny random Qwen2 causal LM saved as the causal-LM ``CrossEncoder`` sentence-transformers
loads (chat template with query/document roles, left padding, ``LogitScore``), so prompt, padding side and raw logits are
real. Weights are random, so scores mean nothing: every folder carries ``ettin_metadata.json`` with ``"random_init": true``.
"""

from __future__ import annotations

import gzip
import json
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ettin.paths import BUNDLED_SCIFACT, cache_dir
from ettin.registry import MODERNBERT_SPECIAL_TOKEN_IDS, RerankerMeta, reranker

METADATA_FILE = "ettin_metadata.json"

_TOKENIZER_VERSION = 1
TOKENIZER_DESCRIPTION = (
    "byte-level BPE trained by the project on the bundled BEIR SciFact corpus (titles + abstracts), "
    "regular ids 0..N-1 < 50280, ModernBERT special ids [UNK]=50280 [CLS]=50281 [SEP]=50282 [PAD]=50283 [MASK]=50284; "
    "a stand-in for the ModernBERT tokenizer (not downloadable offline): token counts are realistic, token ids are not"
)


def replica_config(size: str):
    """The exact ``ModernBertConfig`` of an Ettin encoder size."""
    from transformers import ModernBertConfig

    enc = reranker(size).encoder
    ids = MODERNBERT_SPECIAL_TOKEN_IDS
    return ModernBertConfig(
        vocab_size=enc.vocab_size,
        hidden_size=enc.hidden_size,
        intermediate_size=enc.intermediate_size,
        num_hidden_layers=enc.num_hidden_layers,
        num_attention_heads=enc.num_attention_heads,
        max_position_embeddings=enc.max_position_embeddings,
        local_attention=enc.local_attention,
        layer_types=[
            "full_attention" if i % enc.global_attn_every_n_layers == 0 else "sliding_attention"
            for i in range(enc.num_hidden_layers)
        ],
        rope_parameters={
            "full_attention": {"rope_type": "default", "rope_theta": enc.global_rope_theta},
            "sliding_attention": {"rope_type": "default", "rope_theta": enc.local_rope_theta},
        },
        pad_token_id=ids["pad"],
        cls_token_id=ids["cls"],
        bos_token_id=ids["cls"],
        sep_token_id=ids["sep"],
        eos_token_id=ids["sep"],
        attention_bias=False,
        mlp_bias=False,
        norm_bias=False,
    )


def _training_texts() -> list[str]:
    texts: list[str] = []
    with gzip.open(BUNDLED_SCIFACT / "corpus.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            doc = json.loads(line)
            texts.extend((doc.get("title", ""), doc.get("text", "")))
    return texts


def build_tokenizer(out_dir: str | Path | None = None) -> Path:
    """Build (once, cached) the replica tokenizer and return its folder.

    Args:
        out_dir: Where to save it; defaults to the project cache. An existing complete tokenizer there is reused.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    target = Path(out_dir) if out_dir else cache_dir() / f"replica-tokenizer-v{_TOKENIZER_VERSION}"
    if (target / "tokenizer.json").is_file() and (target / "tokenizer_config.json").is_file():
        return target

    limit = min(MODERNBERT_SPECIAL_TOKEN_IDS.values())
    trainer_tok = Tokenizer(models.BPE())
    trainer_tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=limit, min_frequency=2, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    trainer_tok.train_from_iterator(_training_texts(), trainer)
    trained = json.loads(trainer_tok.to_str())
    vocab: dict[str, int] = trained["model"]["vocab"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in trained["model"]["merges"]]

    names = {"unk": "[UNK]", "cls": "[CLS]", "sep": "[SEP]", "pad": "[PAD]", "mask": "[MASK]"}
    for key, token in names.items():
        vocab[token] = MODERNBERT_SPECIAL_TOKEN_IDS[key]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="[UNK]"))
    tok.add_special_tokens(list(names.values()))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    cls, sep = MODERNBERT_SPECIAL_TOKEN_IDS["cls"], MODERNBERT_SPECIAL_TOKEN_IDS["sep"]
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        mask_token="[MASK]",
        model_max_length=8192,
        model_input_names=["input_ids", "attention_mask"],
    )
    tmp = Path(tempfile.mkdtemp(prefix=".tok-", dir=target.parent if target.parent.exists() else None))
    fast.save_pretrained(tmp)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        shutil.rmtree(target)
    tmp.replace(target)
    return target


def count_replica_parameters(size: str) -> dict[str, int]:
    """Count encoder and head parameters from the config on the meta device (no memory is allocated)."""
    import torch
    from transformers import ModernBertModel

    from ettin.architecture import count_parameters, ettin_head

    meta = reranker(size)
    with torch.device("meta"):
        encoder = ModernBertModel(replica_config(size))
        head = torch.nn.ModuleList(ettin_head(meta.encoder.hidden_size))
    enc, hd = count_parameters(encoder), count_parameters(head)
    return {"encoder": enc, "head": hd, "total": enc + hd, "expected_total": meta.total_parameters}


def replica_metadata(meta: RerankerMeta, seed: int, parameters: int) -> dict[str, Any]:
    return {
        "random_init": True,
        "replica_of": meta.hub_id,
        "size": meta.size,
        "backbone_config_of": meta.backbone_id,
        "seed": seed,
        "parameters": parameters,
        "expected_parameters": meta.total_parameters,
        "tokenizer": TOKENIZER_DESCRIPTION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "warning": "random weights: scores are meaningless; use for loading, memory and speed only",
    }


def build_replica(size: str, out_dir: str | Path, *, seed: int = 0, overwrite: bool = False) -> Path:
    """Build a random-weight Ettin reranker replica and save it as a normal CrossEncoder folder.

    Args:
        size: ``17m`` … ``1b``.
        out_dir: Target folder; written atomically (built beside it, then renamed).
        seed: Torch seed for the random weights.
        overwrite: Replace an existing folder.

    Returns:
        The folder, loadable with ``CrossEncoder(out_dir)``.
    """
    import torch
    from transformers import ModernBertModel

    from ettin.architecture import build_reranker, count_parameters

    meta = reranker(size)

    def write(folder: Path) -> None:
        torch.manual_seed(seed)
        encoder_dir = folder.parent / "encoder"  # inside the scratch folder _save_atomically removes
        ModernBertModel(replica_config(size)).save_pretrained(encoder_dir)
        for f in build_tokenizer().iterdir():
            shutil.copy2(f, encoder_dir / f.name)
        model = build_reranker(str(encoder_dir), max_length=meta.max_length, device="cpu")
        model.save_pretrained(str(folder))
        data = replica_metadata(meta, seed, count_parameters(model))
        (folder / METADATA_FILE).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")

    return _save_atomically(Path(out_dir), overwrite, write)


def _save_atomically(out: Path, overwrite: bool, write: Any) -> Path:
    """Run ``write(folder)`` on a fresh folder beside ``out``, then rename it to ``out`` (an existing replica is kept)."""
    if out.exists() and not overwrite:
        if (out / METADATA_FILE).is_file():
            return out
        raise FileExistsError(f"{out} exists and is not a replica; pass overwrite=True to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        final = work / "model"
        write(final)
        if out.exists():
            shutil.rmtree(out)
        final.replace(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def build_encoder_replica(size: str, out_dir: str | Path, *, seed: int = 0, overwrite: bool = False) -> Path:
    """A random-weight replica of the base encoder ``jhu-clsp/ettin-encoder-<size>``: a ``ModernBertForMaskedLM`` with
    the exact configuration and the replica tokenizer, as the Hub repository holds it.

    Args:
        size: ``17m`` … ``1b``.
        out_dir: Target folder (written atomically).
        seed: Torch seed for the random weights.
        overwrite: Replace an existing folder.
    """
    import torch
    from transformers import ModernBertForMaskedLM

    from ettin.architecture import count_parameters

    meta = reranker(size)

    def write(folder: Path) -> None:
        torch.manual_seed(seed)
        model = ModernBertForMaskedLM(replica_config(size))
        model.save_pretrained(folder)
        for f in build_tokenizer().iterdir():
            shutil.copy2(f, folder / f.name)
        data = {
            **replica_metadata(meta, seed, count_parameters(model)),
            "replica_of": meta.backbone_id,
            "expected_parameters": None,
            "kind": "base encoder (ModernBertForMaskedLM)",
        }
        (folder / METADATA_FILE).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")

    return _save_atomically(Path(out_dir), overwrite, write)


# The mxbai-rerank-v2 prompt (mixedbread's reference implementation), with the query/document roles sentence-transformers
# maps a pair to; ``<|endoftext|>`` first, as the reference prepends it.
TEACHER_CHAT_TEMPLATE = (
    "<|endoftext|><|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
    "<|im_start|>user\nquery: {{ messages | selectattr('role', 'eq', 'query') | map(attribute='content') | first }}\n"
    "document: {{ messages | selectattr('role', 'eq', 'document') | map(attribute='content') | first }}\n"
    "You are a search relevance expert who evaluates how well documents match search queries. For each query-document "
    "pair, carefully analyze the semantic relationship between them, then provide your binary relevance judgment "
    "(0 for not relevant, 1 for relevant).\nRelevance:<|im_end|>\n"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
TEACHER_TRUE_TOKEN, TEACHER_FALSE_TOKEN = "1", "0"


def _teacher_tokenizer(vocab_size: int = 1024):
    """A small byte-level BPE with Qwen2's special tokens, trained on the first 500 bundled SciFact documents."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_training_texts()[:1000], trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>", model_max_length=32768
    )
    fast.chat_template = TEACHER_CHAT_TEMPLATE
    return fast


def build_teacher_standin(out_dir: str | Path, *, seed: int = 0, overwrite: bool = False) -> Path:
    """A tiny random Qwen2 reranker saved the way sentence-transformers loads ``mixedbread-ai/mxbai-rerank-large-v2``:
    ``Transformer(transformer_task="text-generation")`` with the chat template above (left padding, generation prompt)
    followed by ``LogitScore("1" vs "0")``; the saved activation is sigmoid, as a causal-LM CrossEncoder defaults to, so a
    caller that wants raw logits must ask for them (as mteb does for this model).
    """
    import torch
    from sentence_transformers import CrossEncoder
    from sentence_transformers.base.modules import Transformer
    from sentence_transformers.cross_encoder.modules import LogitScore
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from ettin.architecture import count_parameters
    from ettin.registry import TEACHER_ID

    def write(folder: Path) -> None:
        base = folder.parent / "base"
        tokenizer = _teacher_tokenizer()
        tokenizer.save_pretrained(base)
        torch.manual_seed(seed)
        config = Qwen2Config(
            vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=32768, tie_word_embeddings=True,
            pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, bos_token_id=None,
        )
        Qwen2ForCausalLM(config).save_pretrained(base)
        transformer = Transformer(
            str(base), transformer_task="text-generation", processing_kwargs={"chat_template": {"add_generation_prompt": True}}
        )
        head = LogitScore(
            true_token_id=tokenizer.convert_tokens_to_ids(TEACHER_TRUE_TOKEN),
            false_token_id=tokenizer.convert_tokens_to_ids(TEACHER_FALSE_TOKEN),
        )
        model = CrossEncoder(modules=[transformer, head], device="cpu")
        model.save_pretrained(str(folder))
        data = {
            "random_init": True,
            "replica_of": TEACHER_ID,
            "kind": "stand-in: tiny random Qwen2ForCausalLM with the mxbai-rerank-v2 prompt and LogitScore",
            "seed": seed,
            "parameters": count_parameters(model),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "warning": "random weights: scores are meaningless; use for plumbing (prompt, padding, raw logits) only",
        }
        (folder / METADATA_FILE).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")

    return _save_atomically(Path(out_dir), overwrite, write)


def read_metadata(model_dir: str | Path) -> dict[str, Any] | None:
    """The replica metadata of a local model folder, or ``None`` if it is not a replica."""
    path = Path(model_dir) / METADATA_FILE
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))

