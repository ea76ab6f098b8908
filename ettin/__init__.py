"""Ettin rerankers: registry, architecture, faithful replicas, runtime and the retrieve-then-rerank pipeline.

Heavy dependencies (torch, sentence-transformers, bm25s) are imported lazily by the modules that need them.
"""

from __future__ import annotations

__version__ = "0.1.0"
