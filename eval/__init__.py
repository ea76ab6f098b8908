"""Regenerating numbers (``python -m eval <verb>``), in four sub-packages:

- :mod:`eval.retrieval` — two-stage retrieval evaluation, the results store, mteb and NanoBEIR
  (verbs ``retrieval``, ``mteb``, ``nanobeir``);
- :mod:`eval.speed` — the speed benchmark (verb ``speed``; ``eval/gpu_speed.sh`` for a GPU);
- :mod:`eval.leaderboard` — the leaderboard tables and figures, published + regenerated (verb ``leaderboard``);
- :mod:`eval.scale` — the full-scale plan's figures: task sizes, pairs, GPU-hours, nodes and storage per job, and
  ``docs/scale.md``'s rendering (verb ``scale``).

Committed regenerated results live in ``eval/results/`` (see its README).
"""

__all__ = ["leaderboard", "retrieval", "scale", "speed"]
