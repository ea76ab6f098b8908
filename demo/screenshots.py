"""Take the README's screenshots of each tab with Debian chromium + playwright (never downloads a browser).

``python -m demo screenshots --models-dir models`` writes ``docs/screenshot_{search,compare,leaderboard,reproduce}.png``
(and ``screenshot_leaderboard_pareto.png``). The app runs offline on a free port of 127.0.0.1; the models folder should
hold replicas or real rerankers.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from demo.server import ROOT, running_app
from ettin.cli import verb

__all__ = ["CHROMIUM_ARGS", "QUERY", "screenshots", "take_screenshots"]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
QUERY = "A deficiency of vitamin B12 increases blood levels of homocysteine."


def _search(page, out: Path) -> None:
    page.wait_for_selector("#search-btn", timeout=60_000)
    page.get_by_label("Query").first.fill(QUERY)
    page.click("#search-btn")
    page.wait_for_function(
        "() => { const s = document.querySelector('#search-status'); return s && s.innerText.includes('candidates'); }",
        timeout=600_000,
    )
    page.wait_for_selector("#movement-plot .js-plotly-plot .main-svg", timeout=60_000)
    page.wait_for_timeout(1000)
    page.screenshot(path=str(out / "screenshot_search.png"), full_page=True)


def _compare(page, out: Path) -> None:
    page.get_by_role("tab", name="Compare sizes").click()
    page.get_by_label("Query").nth(1).fill(QUERY)
    page.get_by_role("button", name="Compare", exact=True).click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('.prose')].some(e => e.innerText.includes('agreement is measured'))",
        timeout=600_000,
    )
    page.wait_for_timeout(500)
    page.screenshot(path=str(out / "screenshot_compare.png"))


def _leaderboard_and_reproduce(page, out: Path) -> None:
    page.get_by_role("tab", name="Leaderboard").click()
    page.wait_for_selector("#quality-plot .js-plotly-plot .main-svg", timeout=60_000)
    page.wait_for_timeout(1000)
    page.screenshot(path=str(out / "screenshot_leaderboard.png"), full_page=False)
    page.locator("#pareto-plot").scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    page.screenshot(path=str(out / "screenshot_leaderboard_pareto.png"), full_page=False)
    page.get_by_role("tab", name="Reproduce").click()
    page.wait_for_timeout(500)
    page.screenshot(path=str(out / "screenshot_reproduce.png"))


def take_screenshots(url: str, out: Path) -> None:
    """Search, compare, leaderboard (two views) and reproduce, each saved as ``out/screenshot_*.png``."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1100})
        page.goto(url, wait_until="load")
        _search(page, out)
        _compare(page, out)
        _leaderboard_and_reproduce(page, out)
        browser.close()


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--models-dir", default="models")
    p.add_argument("--first-stage", default="sentence-transformers/all-MiniLM-L6-v2")
    p.add_argument("--out", default=str(ROOT / "docs"))


@verb("screenshots", help=__doc__.split("\n\n")[0], arguments=_arguments, description=__doc__)
def screenshots(args: argparse.Namespace) -> int:
    """Start the app, photograph every tab, and list the files written."""
    out = Path(args.out)
    models_dir = str(Path(args.models_dir).resolve())  # the app runs from the repository root
    with running_app(["--models-dir", models_dir, "--first-stage", args.first_stage]) as app:
        take_screenshots(app.url, out)
    for f in sorted(out.glob("screenshot_*.png")):
        print(f"{f.relative_to(ROOT) if f.is_relative_to(ROOT) else f}: {f.stat().st_size / 1024:.0f} KB")
    return 0
