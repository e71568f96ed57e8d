"""The explorer in a real browser: Debian's headless Chromium driven by Playwright. The page
shows the counts, filters, searches, opens a dialogue and a duplicate pair, and the markup
planted in the turns stays text. (`.ci/run` installs chromium; `apt-get install chromium`.)"""

import json
import shutil
import threading
from pathlib import Path

import pytest
from explore_folder import PLANTED_BAD_LINE, PLANTED_CODE, PLANTED_IMAGE, PLANTED_SCRIPT, prepared_folder

from conftest import HOW_TO_GET, needs
from ultrachat_dataset.explore import Explorer, ExplorerServer

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Without the network flags Chromium calls home from a machine with no internet (refused calls).
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = prepared_folder(tmp_path_factory.mktemp("browser"))
    server = ExplorerServer(Explorer(folder), port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server, json.loads((folder / "report.json").read_text())
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    sync_playwright = needs("playwright.sync_api").sync_playwright
    if not Path(CHROMIUM).exists():
        pytest.skip(f"needs chromium: {HOW_TO_GET['chromium']}")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture(params=["enforced", "bypassed"])
def page(request, browser, served):
    # "bypassed": the page's Content-Security-Policy switched off, so that markup shown as text
    # is proved inert by the page's own code (textContent), not only by the policy.
    context = browser.new_context(bypass_csp=request.param == "bypassed",
                                  viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.requested = []
    opened.on("request", lambda r: opened.requested.append(r.url))
    opened.errors = []
    opened.on("pageerror", lambda error: opened.errors.append(str(error)))
    yield opened
    context.close()


def visit(page, server, hash_: str) -> None:
    page.goto(server.url + hash_)
    page.wait_for_selector(f'body[data-ready="{hash_}"]', state="attached")


def pwned(page):
    return page.evaluate("() => window.__pwned === undefined ? null : window.__pwned")


def test_overview_counts_link_to_the_rows_behind_them(page, served):
    server, report = served
    visit(page, server, "#/")
    assert page.inner_text("#count-lines .big") == f"{report['lines']:,}"
    assert page.inner_text("#count-kept .big") == f"{report['kept']:,}"
    reason, count = max(report["rejected"].items(), key=lambda item: item[1])
    page.click(f"#rejects a:text-matches('{reason}$')")
    page.wait_for_selector('body[data-ready^="#/rows"]', state="attached")
    assert page.inner_text("#status").startswith(f"rows 1–{min(count, 50)} of {count:,}")
    assert {cell.strip() for cell in page.locator("#rows tr.rejected td:nth-child(7)").all_inner_texts()} \
        == {f"dedup · {reason}"}
    assert all(url.startswith(server.url) for url in page.requested)  # nothing but the server
    assert page.errors == []


def test_filter_search_and_open_a_dialogue_whose_markup_stays_text(page, served):
    server, _ = served
    visit(page, server, "#/rows")
    page.fill("#search", "window.__pwned = 1")
    page.select_option("select[name=status]", "kept")
    page.click("#apply")
    page.wait_for_selector('body[data-ready*="q=window"]', state="attached")
    assert page.inner_text("#status").startswith("rows 1–1 of 1")
    page.click("#rows a")
    page.wait_for_selector('body[data-ready^="#/dialogue"]', state="attached")
    turns = page.locator(".turn").all_inner_texts()
    assert PLANTED_SCRIPT in turns[0] and PLANTED_IMAGE in turns[0]  # shown, as text
    assert page.inner_text("pre.code code").strip() == PLANTED_CODE  # fenced code as code
    assert page.locator(".turn script, .turn img").count() == 0
    assert pwned(page) is None and page.errors == []


def test_a_rejected_line_shows_its_raw_text_and_a_duplicate_its_original(page, served):
    server, _ = served
    visit(page, server, "#/rows?status=rejected&q=window.__pwned%20%3D%204")
    page.click("#rows a")
    page.wait_for_selector('body[data-ready^="#/dialogue"]', state="attached")
    assert page.inner_text("pre.raw") == PLANTED_BAD_LINE
    assert page.locator("#this img").count() == 0 and pwned(page) is None
    visit(page, server, "#/rows?status=rejected&reason=exact_duplicate")
    page.click("#rows a")
    page.wait_for_selector('body[data-ready^="#/dialogue"]', state="attached")
    this, original = page.locator("#this"), page.locator("#original")
    assert "exact_duplicate" in this.inner_text() and "status\nkept" in original.inner_text()
    detail = this.locator("dd").all_inner_texts()
    source_line = next(text for text in detail if text.startswith("duplicate of "))
    assert f"{original.locator('dd').nth(2).inner_text()} line {original.locator('dd').nth(3).inner_text()}" \
        in source_line
    assert page.errors == []
