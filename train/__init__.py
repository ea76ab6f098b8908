"""The Ettin distillation recipe: teacher scores -> selected rows -> a student trained with pointwise MSE.

Layout (``python -m train <verb>``; each verb lives in the module that owns its work):

* ``tables``    — Parquet/JSONL reading, atomic writes, fingerprints, manifests, :class:`TrainDataError`;
* ``selection`` — the per-query selection rules and the seeded hold-out draw (pure functions);
* ``data``      — candidates from a BEIR split, selection of scored candidates, mixing sources (``data ...`` verbs);
* ``score``     — resumable, shardable teacher scoring (``score``);
* ``fit``       — :class:`FitConfig` (its fields are the flags) and training with ``CrossEncoderTrainer`` (``fit``);
* ``evaluate``  — reranking NDCG@10 of teachers and students (metrics from :mod:`ettin.metrics`);
* ``scifact``   — the offline proof run on SciFact (``scifact``);
* ``cli``       — what the verbs share (JSON output, ``--quiet``, the Ctrl-C hint).
"""
