"""Fixtures of the training tests: a tiny BERT encoder (the packaged MiniLM's tokenizer), tiny training data."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory, minilm_package) -> Path:
    """A 2-layer, 32-wide BERT with random weights and the real MiniLM WordPiece tokenizer (fast to train on a CPU)."""
    g = minilm_package
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


def _env(env: dict[str, str] | None) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **(env or {})}


def _run_cli(args: list[str], env: dict[str, str] | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "train", *args]
    return subprocess.run(command, cwd=ROOT, env=_env(env), capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def run_cli():
    """``run_cli(args, env=None)``: ``python -m train ...`` in a subprocess, offline, from the repository root."""
    return _run_cli


def _kill_when(args: list[str], ready: Callable[[], bool], delay_s: float = 0.0, timeout: float = 300) -> str:
    """Start ``python -m train ...``, wait until ``ready()`` holds (polled every 2 ms), wait ``delay_s``, SIGKILL it.

    The kill comes from outside, as a scheduler's or an out-of-memory killer's would: production code has no test hooks.
    Returns the child's stderr; fails the test if the run ended before it could be killed.
    """
    proc = subprocess.Popen([sys.executable, "-m", "train", *args], cwd=ROOT, env=_env(None),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    try:
        while not ready():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the run ended (or timed out) before it could be killed: {proc.stderr.read()[-2000:]}")
            time.sleep(0.002)
        time.sleep(delay_s)
        if proc.poll() is not None:
            pytest.fail("the run ended before it could be killed")
        os.kill(proc.pid, signal.SIGKILL)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    return err


@pytest.fixture
def kill_when():
    """``kill_when(args, ready, delay_s=0)``: run ``python -m train ...`` and SIGKILL it from outside once ``ready()``."""
    return _kill_when


@pytest.fixture(scope="session")
def tiny_beir(tmp_path_factory) -> Path:
    """A BEIR folder cut from SciFact: 8 train and 3 test queries, their judged documents and 60 others (short texts)."""
    import json

    import numpy as np

    from ettin.corpus import scifact

    train, test = scifact("train"), scifact("test")
    train_q, test_q = sorted(train.queries)[:8], sorted(test.queries)[:3]
    judged = {d for q in train_q for d in train.qrels[q]} | {d for q in test_q for d in test.qrels[q]}
    corpus = train.corpus
    others = [corpus.ids[i] for i in np.random.default_rng(0).choice(len(corpus), size=80, replace=False)]
    doc_ids = sorted(judged | set([d for d in others if d not in judged][:60]))
    index = {d: i for i, d in enumerate(corpus.ids)}
    out = tmp_path_factory.mktemp("tiny-beir") / "tinyfact"
    (out / "qrels").mkdir(parents=True)
    with open(out / "corpus.jsonl", "w", encoding="utf-8") as f:
        for d in doc_ids:
            f.write(json.dumps({"_id": d, "title": corpus.title(index[d]), "text": corpus.document_text(index[d])[:400]}) + "\n")
    with open(out / "queries.jsonl", "w", encoding="utf-8") as f:
        for q in train_q:
            f.write(json.dumps({"_id": q, "text": train.queries[q]}) + "\n")
        for q in test_q:
            f.write(json.dumps({"_id": q, "text": test.queries[q]}) + "\n")
    for split, ds, qids in (("train", train, train_q), ("test", test, test_q)):
        lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t{g}" for q in qids for d, g in ds.qrels[q].items()]
        (out / "qrels" / f"{split}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out
