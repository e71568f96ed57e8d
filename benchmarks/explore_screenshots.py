"""Screenshots of the explorer's main views for the README, taken in headless Chromium.

    uv run python benchmarks/explore_screenshots.py [--out bench-data/pipeline-200000-0-v2-prepared]

Writes docs/explore-overview.png, docs/explore-rejects.png and docs/explore-duplicate.png.
"""

from __future__ import annotations

import argparse
import threading
from pathlib import Path

from playwright.sync_api import sync_playwright

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWS = [("overview", "#/"), ("rejects", "#/rows?status=rejected&reason=near_duplicate"),
         ("duplicate", "#/dialogue?source=ultrachat_release_230407.json&line=18")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench-data/pipeline-200000-0-v2-prepared"))
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    from ultrachat_dataset.explore import Explorer, ExplorerServer
    server = ExplorerServer(Explorer(args.out), port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Path("docs").mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=args.chromium, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 820})
        for name, view in VIEWS:
            page.goto(server.url + view)
            page.wait_for_selector(f'body[data-ready="{view}"]', state="attached")
            page.screenshot(path=f"docs/explore-{name}.png")
            print(f"docs/explore-{name}.png")
        browser.close()
    server.shutdown()


if __name__ == "__main__":
    main()
