"""Take the README's screenshots of each tab with Debian chromium + playwright (never downloads a browser).

``python docs/screenshots.py --models-dir models`` writes ``docs/screenshot_{search,compare,leaderboard,reproduce}.png``.
The app runs in-process on a free port of 127.0.0.1; the models folder should hold replicas or real rerankers.
"""

from __future__ import annotations

import argparse
import socket
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
QUERY = "A deficiency of vitamin B12 increases blood levels of homocysteine."


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models-dir", default="models")
    p.add_argument("--first-stage", default="sentence-transformers/all-MiniLM-L6-v2")
    p.add_argument("--out", default=str(ROOT / "docs"))
    args = p.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    import app
    from playwright.sync_api import sync_playwright

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo = app.build_app(models_dir=args.models_dir, include_hub=False, default_first_stage=args.first_stage)
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    out = Path(args.out)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 1100})
            page.goto(f"http://127.0.0.1:{port}", wait_until="load")
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

            page.get_by_role("tab", name="Compare sizes").click()
            page.get_by_label("Query").nth(1).fill(QUERY)
            page.get_by_role("button", name="Compare", exact=True).click()
            page.wait_for_function(
                "() => [...document.querySelectorAll('.prose')].some(e => e.innerText.includes('agreement is measured'))",
                timeout=600_000,
            )
            page.wait_for_timeout(500)
            page.screenshot(path=str(out / "screenshot_compare.png"))

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
            browser.close()
    finally:
        demo.close()
    for f in sorted(out.glob("screenshot_*.png")):
        print(f"{f.relative_to(ROOT)}: {f.stat().st_size / 1024:.0f} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
