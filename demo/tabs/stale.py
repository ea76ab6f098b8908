"""Old results never pass for new ones: the page-side scripts a tab wires so that a changed query or setting marks the
results shown (``data-stale``; ``demo/app.css`` dims them under a notice) until a run succeeds, and so that a run
started with its progress off-screen (a phone: the results come below the settings) scrolls to it. Client-side only:
no request per keystroke."""

from __future__ import annotations

import json
from collections.abc import Sequence

__all__ = ["done_js", "mark_current_js", "mark_stale_js", "start_js"]


def mark_stale_js(ids: Sequence[str]) -> str:
    """Marks the elements ``ids`` that hold something (a fresh page's empty boxes stay unmarked)."""
    return f"""() => {{ for (const id of {json.dumps(list(ids))}) {{ const el = document.getElementById(id);
  if (el && el.querySelector('.ettin-results, table, p, .js-plotly-plot')) el.dataset.stale = 'true'; }} }}"""


def mark_current_js(ids: Sequence[str]) -> str:
    """Unmarks the elements ``ids`` (a run succeeded)."""
    return f"""() => {{ for (const id of {json.dumps(list(ids))})
  {{ const el = document.getElementById(id); if (el) delete el.dataset.stale; }} }}"""


def _scroll_to(element_id: str) -> str:
    """Scrolls ``element_id`` to the top when it is off-screen or below 40% of the screen (what comes under it would be
    cut off)."""
    return f"""(() => {{ const box = document.getElementById({json.dumps(element_id)}); if (!box) return;
  const top = box.getBoundingClientRect().top;
  if (top < 0 || top > window.innerHeight * 0.4) box.scrollIntoView({{block: 'start'}}); }})()"""


def start_js(ids: Sequence[str], progress_id: str) -> str:
    """Marks ``ids`` and scrolls to ``progress_id`` (a run starts); returns ``''`` (the clearing of the progress box it
    is wired to)."""
    return f"() => {{ ({mark_stale_js(ids)})(); {_scroll_to(progress_id)}; return ''; }}"


def done_js(ids: Sequence[str], progress_id: str) -> str:
    """Unmarks ``ids`` and scrolls to ``progress_id`` again (a run succeeded: the page is now tall enough to bring the
    results under it up, which a short page at the start could not)."""
    return f"() => {{ ({mark_current_js(ids)})(); {_scroll_to(progress_id)}; }}"
