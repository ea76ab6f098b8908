"""Faithful random replicas of the six Ettin rerankers.

A replica has the exact Ettin encoder configuration (ModernBERT) and the exact head, so loading, saving, memory and speed
are real; its weights are random, so its scores mean nothing. Every replica folder carries ``ettin_metadata.json`` with
``"random_init": true``.
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
    out = Path(out_dir)
    if out.exists() and not overwrite:
        if (out / METADATA_FILE).is_file():
            return out
        raise FileExistsError(f"{out} exists and is not a replica; pass overwrite=True to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        torch.manual_seed(seed)
        encoder_dir = work / "encoder"
        ModernBertModel(replica_config(size)).save_pretrained(encoder_dir)
        tok_dir = build_tokenizer()
        for f in tok_dir.iterdir():
            shutil.copy2(f, encoder_dir / f.name)
        model = build_reranker(str(encoder_dir), max_length=512, device="cpu")
        final = work / "model"
        model.save_pretrained(str(final))
        n_params = count_parameters(model)
        (final / METADATA_FILE).write_text(
            json.dumps(replica_metadata(meta, seed, n_params), indent=2) + "\n", encoding="utf-8"
        )
        if out.exists():
            shutil.rmtree(out)
        final.replace(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def read_metadata(model_dir: str | Path) -> dict[str, Any] | None:
    """The replica metadata of a local model folder, or ``None`` if it is not a replica."""
    path = Path(model_dir) / METADATA_FILE
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))

