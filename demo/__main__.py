"""``python -m demo bundle-embeddings|cold-start|evaluate-bench|judged|load|load-api|mteb-data|screenshots``: the app's
tools (shipped sample embeddings; how soon the app answers and reranks fast; the Evaluate tab's time against the CLI's;
whether the app's reranker helps on judged queries; load and latency numbers; an MTEB task as the Evaluate tab reads
it; the docs' screenshots)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ettin.cli import main as run_cli

VERB_MODULES = ("demo.tools.bundle", "demo.tools.coldstart", "demo.tools.evalbench", "demo.tools.judged", "demo.tools.load",
                "demo.tools.mteb_data", "demo.tools.screenshots")  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``python -m demo`` with ``argv`` (default: the command line); returns the exit status."""
    return run_cli("python -m demo", "Measure and photograph the Ettin Rerankers app.", VERB_MODULES, argv)


if __name__ == "__main__":
    sys.exit(main())
