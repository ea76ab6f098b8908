"""``python -m train data ...``: assembling training data, one module per verb of the ``data`` group.

* :mod:`~train.data.candidates` — first-stage candidates of a BEIR split, the input of ``score`` (``data candidates``);
* :mod:`~train.data.select` — the recipe's selection applied to teacher-scored candidates (``data select``);
* :mod:`~train.data.mix` — mixing sources (the published set by name, local Parquet/JSONL) with per-source caps (``data mix``);
* :mod:`~train.data.load_benchmark` — the peak RSS of ``fit``'s data loading on synthetic tables (``data load-benchmark``).

The published training set (``cross-encoder/ettin-reranker-v1-data``) is already (query, document, score) rows; it is
loaded by name (online) or from local Parquet/JSONL and mixed with :func:`~train.data.mix.mix_sources`. The rescored
retrieval part is rebuilt from raw candidates with :func:`~train.data.candidates.build_candidates` ->
``python -m train score`` -> :func:`~train.data.select.select_rows`. Importing any of the modules registers the group.
"""

from __future__ import annotations

from ettin.cli import verb_group

verb_group("data", help="assemble training data: candidates, selection, mixing")
