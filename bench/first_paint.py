"""The dashboard's first meaningful paint with the demo data, in Debian's Chromium.

Starts `usageql serve --demo` on a new database of the PostgreSQL at --server-url (the demo's
40,000 messages), opens /dashboard with the demo key already in the browser's storage, and
measures, from the navigation's start, when the page has painted its figures: the frame after
the Totals panel shows its numbers and the spend chart has drawn. Cold runs use a new browser
context each (nothing cached); warm runs reload one context (assets from its cache, as a person
coming back). Also records the sizes of the built pages, raw and gzipped as the server sends
them. Writes its section of bench/RESULTS.md.

    .venv/bin/python bench/first_paint.py [--runs 10] [--server-url postgresql://...]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import os
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # tests.browser: the tests' way of driving Chromium
    sys.path.insert(0, str(ROOT))

from playwright.async_api import Browser  # noqa: E402
from tests.browser import STORAGE_KEY, chromium, printed_key, serve  # noqa: E402

from harness import create_database, drop_database  # noqa: E402
from results import machine, record_section  # noqa: E402
from usageql.pages import STATIC_DIR  # noqa: E402

TARGET_MS = 1500  # issue 16: first meaningful paint with the demo data
# Notes the first frame in which the page shows its figures and its first chart.
OBSERVER = """
window.__paint = null;
const painted = () => {
  const figure = document.querySelector('[role="group"][aria-label="Messages"] .stat-value');
  const chart = document.querySelector("figure.chart canvas");
  return figure !== null && figure.textContent !== "" && chart !== null;
};
new MutationObserver((_, observer) => {
  if (window.__paint === null && painted()) {
    observer.disconnect();
    requestAnimationFrame(() => { window.__paint = performance.now(); });
  }
}).observe(document, { subtree: true, childList: true, characterData: true });
"""
TIMINGS = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const resources = performance.getEntriesByType("resource");
  const graphql = resources.find((r) => r.name.endsWith("/graphql"));
  const scripts = resources.filter((r) => r.initiatorType === "script" || r.name.endsWith(".js"));
  return {
    paint: window.__paint,
    html: nav.responseEnd,
    scripts: Math.max(0, ...scripts.map((r) => r.responseEnd)),
    graphqlStart: graphql ? graphql.startTime : null,
    graphqlEnd: graphql ? graphql.responseEnd : null,
  };
}"""


@dataclass(frozen=True)
class Paint:
    paint: float
    html: float
    scripts: float
    graphql_start: float
    graphql_end: float


async def _visit(browser: Browser, base: str, key: str, runs: int, *, warm: bool) -> list[Paint]:
    measured: list[Paint] = []
    context = None
    for _ in range(runs):
        if context is None or not warm:
            if context is not None:
                await context.close()
            context = await browser.new_context(viewport={"width": 1400, "height": 900})
            await context.add_init_script(f"localStorage.setItem('{STORAGE_KEY}', '{key}');")
            await context.add_init_script(OBSERVER)
            page = await context.new_page()
            if warm:  # the first visit fills the cache; only the visits after it count
                await page.goto(f"{base}/dashboard")
                await page.wait_for_function("() => window.__paint !== null", timeout=60_000)
        await page.goto(f"{base}/dashboard")
        await page.wait_for_function("() => window.__paint !== null", timeout=60_000)
        timings: dict[str, Any] = await page.evaluate(TIMINGS)
        measured.append(
            Paint(
                paint=timings["paint"],
                html=timings["html"],
                scripts=timings["scripts"],
                graphql_start=timings["graphqlStart"],
                graphql_end=timings["graphqlEnd"],
            )
        )
    if context is not None:
        await context.close()
    return measured


def _summary(name: str, paints: Sequence[Paint]) -> str:
    values = sorted(p.paint for p in paints)
    median = statistics.median(values)
    p90 = values[min(len(values) - 1, round(0.9 * (len(values) - 1)))]

    def typical(get: str) -> float:
        return statistics.median(float(getattr(p, get)) for p in paints)

    request = statistics.median(p.graphql_end - p.graphql_start for p in paints)
    return (
        f"| {name} | {len(values)} | {median:.0f} | {p90:.0f} | {values[-1]:.0f} |"
        f" {typical('html'):.0f} | {typical('scripts'):.0f} | {typical('graphql_start'):.0f} |"
        f" {request:.0f} |"
    )


def _sizes() -> list[str]:
    """The built pages' assets: bytes on disk and gzipped (level 9, as the server sends them)."""
    rows = []
    for path in sorted((STATIC_DIR / "assets").iterdir()):
        data = path.read_bytes()
        if len(data) < 20_000:
            continue
        rows.append(
            f"| {path.name} | {len(data) / 1000:,.1f} | {len(gzip.compress(data, 9)) / 1000:,.1f} |"
        )
    return rows


async def measure(server_url: str, runs: int) -> str:
    url = await create_database(server_url)
    directory = ROOT / "bench" / "work" / f"first-paint-{os.getpid()}"
    directory.mkdir(parents=True, exist_ok=True)
    try:
        started = time.perf_counter()
        async with serve(url, directory, "--demo", USAGEQL_LOG_LEVEL="warning") as base:
            loaded = time.perf_counter() - started
            key = await printed_key(directory / "serve.log")
            async with chromium() as browser:
                first = await _visit(browser, base, key, 1, warm=False)
                cold = await _visit(browser, base, key, runs, warm=False)
                warm = await _visit(browser, base, key, runs, warm=True)
    finally:
        await drop_database(server_url, url)
    values = sorted(p.paint for p in cold + warm)
    verdict = "within" if values[-1] <= TARGET_MS else "over"
    return "\n".join(
        [
            "## Dashboard: first meaningful paint",
            "",
            f"Measured {datetime.now(UTC):%Y-%m-%d} by `bench/first_paint.py` on {machine()}:"
            f" `usageql serve --demo` (40,000 messages; started and loaded in {loaded:.0f} s)"
            " on a new database of the local PostgreSQL, Debian's Chromium (headless) at"
            " 1400x900, the demo key already stored. First meaningful paint is the frame after"
            " the Totals panel shows its figures and the spend chart has drawn, from the"
            " navigation's start, in ms; the other columns are medians of when the HTML"
            " arrived, when the last script arrived, when the page's one GraphQL request left,"
            " and how long it took.",
            "",
            "| visit | runs | median | p90 | max | HTML | scripts | request sent | request took |",
            "|---|---|---|---|---|---|---|---|---|",
            _summary("first after start", first),
            _summary("cold (new context)", cold),
            _summary("warm (reload, cached)", warm),
            "",
            f"Every visit is {verdict} the target of {TARGET_MS:,} ms"
            f" (slowest {values[-1]:.0f} ms). Built assets over 20 kB (kB):",
            "",
            "| asset | raw | gzip |",
            "|---|---|---|",
            *_sizes(),
            "",
        ]
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument(
        "--server-url",
        default=os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"),
        help="a PostgreSQL server to create the demo's database on",
    )
    args = parser.parse_args(argv)
    section = asyncio.run(measure(args.server_url, args.runs))
    print(section)
    record_section("first-paint", section)


if __name__ == "__main__":
    main()
