"""The Ettin distillation recipe: teacher scores -> selected rows -> a student trained with pointwise MSE.

Layout (``python -m train <verb>``; each verb lives in the module that owns its work):

* ``tables``    — Parquet/JSONL reading, atomic writes, fingerprints, manifests, :class:`TrainDataError`;
* ``selection`` — the per-query selection rules and the seeded hold-out draw (pure functions);
* ``beir``      — a labelled dataset by name: ``scifact`` (bundled) or a BEIR folder;
* ``data``      — the ``data ...`` verbs, one module each: ``candidates`` (first-stage candidates of a BEIR split),
  ``select`` (the selection applied to scored candidates), ``mix`` (mixing sources), ``load_benchmark``;
* ``scored``    — a scoring folder's layout (manifest, parts) and reading it back (:func:`~train.scored.read_scored`);
* ``score``     — resumable, shardable teacher scoring (``score``);
* ``fit_config`` — :class:`~train.fit_config.FitConfig` (its fields are the ``fit`` flags) and the effective recipe;
* ``rows``      — the trainer's rows: memory-mapped training tables, seeded samples, the ``--eval-rows`` hold-out;
* ``splits``    — no model selection on test: the split checks, disjoint train/dev/test queries, the dev hold-out file;
* ``checkpoints`` — complete checkpoints, setting half-written ones aside, resuming (``fit --resume``);
* ``student``   — the student, its precision and the in-training evaluator;
* ``trainer``   — the recipe's ``CrossEncoderTrainer`` and its training arguments;
* ``labels``    — fine-tuning from relevance labels: mined hard negatives, the losses, the steps of ``fit --labels``;
* ``fit``       — one training run, composed of the steps above (``fit``);
* ``evaluate``  — reranking NDCG@10 of teachers and students (metrics from :mod:`ettin.metrics`);
* ``scifact``   — the offline proof run on SciFact (``scifact``);
* ``reranker``  — the shipped reranker (``scifact-reranker``);
* ``cli``       — what the verbs share (JSON output, ``--quiet``, the Ctrl-C hint).

``attempts/`` holds no code: hand-kept logs of runs (see its README), kept out of ``eval/results/``.
"""
