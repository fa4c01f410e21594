"""A learner's page in headless Chromium: how busy its main thread is, and how long a visit of every tab takes,
before and after a switch to English.

    .venv/bin/python -m bench.bench_page [--idle 12] [--teacher]

Starts `python app.py` (mini models) on 0.0.0.0 as for a class, so the page is a learner's (`--teacher`: on
127.0.0.1, where the local user is the operator and the operator panel's timer ticks), opens the page in a zh-CN
browser, and reads Chromium's own TaskDuration (the main thread's busy seconds) over `--idle` seconds with nobody
clicking: on the fresh page, after every tab and sub-tab was opened once (each unfolding its accordions), and
after a switch to English; then times the same visit again on the English page. A page busy all the time answers
every click late (each event of the page walks Gradio's loading-status table; a switch that went through the
server put every relabelled block in it).
"""
from __future__ import annotations

import argparse
import tempfile
import time

from bench.bench_class import free_port
from bench.bench_server import serve


TOP_TABS = ".studio-tabs > .tab-wrapper [role=tab]"
SUB_TABS = "[role=tabpanel]:not([hidden]) .tab-wrapper [role=tab]"
NAMES = "(sel) => [...document.querySelectorAll(sel)].filter(t => t.checkVisibility()).map(t => t.textContent.trim())"
UNFOLD = """() => [...document.querySelectorAll('button.label-wrap:not(.open)')]
    .filter(b => b.checkVisibility()).map(b => b.click()).length"""


def visit_every_tab(page) -> float:
    """Seconds to open each tab and sub-tab as a learner's click does and unfold what it holds."""
    started = time.perf_counter()
    for top in page.evaluate(NAMES, TOP_TABS):
        page.locator(TOP_TABS).get_by_text(top, exact=True).evaluate("el => el.click()")
        for sub in page.evaluate(NAMES, SUB_TABS) or [None]:
            if sub:
                page.locator(SUB_TABS).get_by_text(sub, exact=True).first.evaluate("el => el.click()")
            page.wait_for_timeout(150)
            while page.evaluate(UNFOLD):
                page.wait_for_timeout(150)
    return time.perf_counter() - started


def main() -> None:
    from playwright.sync_api import sync_playwright

    from tests.test_browser import CHROMIUM_ARGS, _chromium
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--idle", type=float, default=12.0, help="seconds of each idle reading")
    p.add_argument("--teacher", action="store_true", help="the operator's page (127.0.0.1) instead of a learner's")
    args = p.parse_args()
    port = free_port()
    server = serve(port, tempfile.mkdtemp(), GRADIO_SERVER_NAME="127.0.0.1" if args.teacher else "0.0.0.0")
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
            page = browser.new_context(locale="zh-CN", viewport={"width": 1400, "height": 1000}).new_page()
            page.set_default_timeout(120_000)
            cdp = page.context.new_cdp_session(page)
            cdp.send("Performance.enable")

            def busy() -> float:
                return next(m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]
                            if m["name"] == "TaskDuration")

            def idle(what: str) -> None:
                before = busy()
                page.wait_for_timeout(args.idle * 1000)
                print(f"{what}: main thread busy {busy() - before:.2f} s of {args.idle:.0f} s idle", flush=True)
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_function("document.documentElement.lang === 'zh-CN'")
            page.locator(TOP_TABS).first.wait_for()
            page.wait_for_timeout(3000)
            idle("fresh page")
            print(f"every tab opened once (Chinese): {visit_every_tab(page):.1f} s", flush=True)
            idle("after every tab was opened")
            started = time.perf_counter()
            page.locator(".studio-header .studio-lang-names").get_by_text("English", exact=True).click()
            page.wait_for_function("document.documentElement.lang === 'en' && [...document.querySelectorAll("
                                   "'[role=tab]')].some(t => t.textContent.trim() === 'Models')")
            print(f"switch to English, click to relabelled tabs: {time.perf_counter() - started:.1f} s", flush=True)
            page.wait_for_timeout(3000)
            idle("after the switch")
            print(f"every tab opened again (English): {visit_every_tab(page):.1f} s", flush=True)
            browser.close()
    finally:
        server.kill()


if __name__ == "__main__":
    main()
