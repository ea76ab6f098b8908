"""Regenerating numbers: two-stage retrieval evaluation, the speed benchmark, and the leaderboard files (``python -m eval``)."""
