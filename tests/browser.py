"""Debian's Chromium driven by Playwright, and the steps a person takes in usageql's GraphiQL page,
read by roles, labels and visible text. Used by tests/test_graphiql_browser.py and by .ci/run's
check of the README's start command. Playwright's own browser downloads are unreachable here, so
Playwright drives the system's Chromium."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from playwright.async_api import Browser, Page, async_playwright, expect

CHROMIUM = Path("/usr/bin/chromium")
MISSING = (
    f"{CHROMIUM} is missing: the GraphiQL tests drive Debian's Chromium; install it with"
    " `apt-get install -y chromium` (.ci/run does)"
)
# No sandbox (CI runs as root), and none of Chromium's calls to Google's hosts, which this
# closed network refuses.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WAIT_MS = 30_000  # how long the page may take on a busy machine: a wait, not a measurement
PROMPT = "usageql needs an API key"  # the key form's name, its heading
expect.set_options(timeout=WAIT_MS)


def chromium_missing() -> bool:
    return not CHROMIUM.exists()


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """A headless Chromium; FileNotFoundError saying how to install it when it is missing."""
    if chromium_missing():
        raise FileNotFoundError(MISSING)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


def key_id(key: str) -> str:
    """The public part of a key, `uq_<12 chars>`, which the page shows."""
    return "_".join(key.split("_")[:2])


async def enter_key(page: Page, key: str) -> None:
    """Types `key` into the page's key form and submits it."""
    prompt = page.get_by_role("form", name=PROMPT)
    await expect(prompt).to_be_visible()
    await prompt.get_by_label("API key").fill(key)
    await prompt.get_by_role("button", name="Open GraphiQL").click()


async def docs_list_usage(page: Page) -> None:
    """Opens Docs at the root query type and waits for its `usage` field: the schema loaded."""
    await page.get_by_role("button", name="Show Documentation Explorer").click()
    docs = page.get_by_label("Documentation Explorer")
    await docs.get_by_role("link", name="Query", exact=True).click()
    await expect(docs.get_by_role("link", name="usage", exact=True)).to_be_visible()


async def run_query(page: Page) -> str:
    """Runs the query in the editor; the result pane's text once an answer is there."""
    await page.get_by_role("button", name="Execute query (Ctrl-Enter)").click()
    result = page.get_by_label("Result Window")
    await expect(result).to_contain_text('"data"')
    return await result.inner_text()
