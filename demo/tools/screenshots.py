"""Take the README's screenshots of each tab with Debian chromium + playwright (never downloads a browser).

``python -m demo screenshots --models-dir models`` writes ``docs/screenshot_{search,compare,leaderboard,explore,reproduce}.png``
(and ``screenshot_search_judged.png``, ``screenshot_search_results.png`` with the first result expanded,
``screenshot_mobile.png`` and ``screenshot_mobile_results.png`` at 390 px, ``screenshot_first_run.png`` of an app with no
models, ``screenshot_leaderboard_pareto.png``, ``screenshot_leaderboard_intervals.png``,
``screenshot_leaderboard_table.png``, ``screenshot_explore_query.png``).
The app runs offline on a free port of 127.0.0.1; the models folder should hold replicas or real rerankers.
``--only explore,leaderboard`` photographs just those views (no search is run).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from demo.tools.server import ROOT, running_app
from ettin.cli import verb
from ettin.errors import UserError

__all__ = ["CHROMIUM_ARGS", "QUERY", "VIEWS", "screenshots", "take_first_run_screenshot", "take_screenshots"]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
QUERY = "A deficiency of vitamin B12 increases blood levels of homocysteine."


def _run_search(page) -> None:
    page.wait_for_selector("#search-btn", timeout=60_000)
    page.get_by_label("Query").first.fill(QUERY)
    page.click("#search-btn")
    page.wait_for_function(
        "() => { const s = document.querySelector('#search-status'); return s && s.innerText.includes('candidates'); }",
        timeout=600_000,
    )
    page.wait_for_selector("#results-view details", timeout=60_000)


def _search(page, out: Path) -> None:
    _run_search(page)
    page.wait_for_selector("#movement-plot .js-plotly-plot .main-svg", timeout=60_000)
    page.wait_for_timeout(1000)
    page.screenshot(path=str(out / "screenshot_search.png"), full_page=True)
    page.locator("#search-status").screenshot(path=str(out / "screenshot_search_judged.png"))
    page.locator("#results-view details summary").first.click()
    page.wait_for_timeout(300)
    page.locator("#results-view").screenshot(path=str(out / "screenshot_search_results.png"))


def _mobile(page, out: Path) -> None:
    phone = page.context.browser.new_page(viewport={"width": 390, "height": 844})
    phone.goto(page.url, wait_until="load")
    phone.wait_for_selector("#search-btn", timeout=60_000)
    phone.wait_for_timeout(1000)
    phone.screenshot(path=str(out / "screenshot_mobile.png"))
    _run_search(phone)
    phone.locator("#results-view details summary").first.click()
    phone.locator("#results-view").scroll_into_view_if_needed()
    phone.wait_for_timeout(500)
    phone.screenshot(path=str(out / "screenshot_mobile_results.png"))
    phone.close()


def _compare(page, out: Path) -> None:
    page.get_by_role("tab", name="Compare sizes").click()
    page.locator("#compare-query textarea").fill(QUERY)
    page.locator("#compare-btn").click()
    page.wait_for_function(
        "() => document.querySelector('#compare-status').innerText.includes('size(s) ran')", timeout=600_000
    )
    page.wait_for_selector("#compare-plot .js-plotly-plot .main-svg", timeout=60_000)
    page.wait_for_timeout(1000)
    page.screenshot(path=str(out / "screenshot_compare.png"), full_page=True)


def _leaderboard(page, out: Path) -> None:
    page.get_by_role("tab", name="Leaderboard").click()
    page.wait_for_selector("#quality-plot .js-plotly-plot .main-svg", timeout=60_000)
    page.wait_for_timeout(1000)
    page.screenshot(path=str(out / "screenshot_leaderboard.png"), full_page=False)
    page.locator("#pareto-plot").scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    page.screenshot(path=str(out / "screenshot_leaderboard_pareto.png"), full_page=False)
    page.locator("#embedder-plot").scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    page.locator("#embedder-plot").screenshot(path=str(out / "screenshot_leaderboard_intervals.png"))
    page.locator("#embedder-table").screenshot(path=str(out / "screenshot_leaderboard_table.png"))


def _explore(page, out: Path) -> None:
    page.get_by_role("tab", name="Explore").click()
    page.wait_for_function(
        "() => { const s = document.querySelector('#explore-summary'); return s && s.innerText.includes('wins'); }",
        timeout=120_000,
    )
    page.wait_for_selector("#explore-histogram .js-plotly-plot .main-svg", timeout=60_000)
    page.wait_for_timeout(1000)
    page.screenshot(path=str(out / "screenshot_explore.png"), full_page=False)
    id_cell = page.locator('#explore-queries [role="row"]:has([role="gridcell"])').first.locator('[role="gridcell"]').first
    query_id = id_cell.inner_text().strip()
    id_cell.click()
    page.wait_for_function(
        "(qid) => { const h = document.querySelector('#explore-header'); return h && h.innerText.includes('Query ' + qid); }",
        arg=query_id,
        timeout=60_000,
    )
    page.locator("#explore-header").scroll_into_view_if_needed()
    page.wait_for_timeout(800)
    page.screenshot(path=str(out / "screenshot_explore_query.png"), full_page=False)


def _reproduce(page, out: Path) -> None:
    page.get_by_role("tab", name="Reproduce").click()
    page.wait_for_timeout(500)
    page.screenshot(path=str(out / "screenshot_reproduce.png"))


VIEWS = {"search": _search, "mobile": _mobile, "compare": _compare, "leaderboard": _leaderboard, "explore": _explore, "reproduce": _reproduce}


def take_screenshots(url: str, out: Path, views: list[str] | None = None) -> None:
    """Each view (default: all of :data:`VIEWS`, in order) saved as ``out/screenshot_*.png``."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1100})
        page.goto(url, wait_until="load")
        page.wait_for_selector("#search-btn", timeout=60_000)
        for name in views or list(VIEWS):
            VIEWS[name](page, out)
        browser.close()


def take_first_run_screenshot(out: Path) -> None:
    """The Search tab of an app with no models folder and no Hub cache (its first-run panel), as
    ``out/screenshot_first_run.png``."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as empty:
        old_home = os.environ.get("HF_HOME")
        os.environ["HF_HOME"] = str(Path(empty) / "hf")  # no cached Hub rerankers either
        try:
            with running_app(["--models-dir", str(Path(empty) / "models"), "--first-stage", "bm25"]) as app, \
                    sync_playwright() as pw:  # fmt: skip
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                page.goto(app.url, wait_until="load")
                page.wait_for_selector("#first-run-btn", timeout=60_000)
                page.wait_for_timeout(1000)
                page.screenshot(path=str(out / "screenshot_first_run.png"))
                browser.close()
        finally:
            if old_home is None:
                os.environ.pop("HF_HOME", None)
            else:
                os.environ["HF_HOME"] = old_home


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--models-dir", default="models")
    p.add_argument("--first-stage", default="sentence-transformers/all-MiniLM-L6-v2")
    p.add_argument("--out", default=str(ROOT / "docs"))
    p.add_argument("--only", default=None,
                   help=f"comma-separated views among {', '.join(VIEWS)}, first-run (default: all)")  # fmt: skip


@verb("screenshots", help=__doc__.split("\n\n")[0], arguments=_arguments, description=__doc__)
def screenshots(args: argparse.Namespace) -> int:
    """Start the app, photograph every tab, and list the files written."""
    out = Path(args.out)
    models_dir = str(Path(args.models_dir).resolve())  # the app runs from the repository root
    views = [v.strip() for v in args.only.split(",")] if args.only else None
    unknown = sorted(set(views or []) - set(VIEWS) - {"first-run"})
    if unknown:
        raise UserError(f"unknown view(s) {', '.join(unknown)}: choose among {', '.join(VIEWS)}, first-run")
    app_views = [v for v in views if v in VIEWS] if views else None
    if app_views is None or app_views:
        with running_app(["--models-dir", models_dir, "--first-stage", args.first_stage]) as app:
            take_screenshots(app.url, out, app_views)
    if views is None or "first-run" in views:
        take_first_run_screenshot(out)
    for f in sorted(out.glob("screenshot_*.png")):
        print(f"{f.relative_to(ROOT) if f.is_relative_to(ROOT) else f}: {f.stat().st_size / 1024:.0f} KB")
    return 0
