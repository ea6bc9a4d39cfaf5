"""Debian's Chromium driven by Playwright, a real `usageql serve` for it to visit, and the steps a
person takes in usageql's pages (GraphiQL, the dashboard), read by roles, labels and visible
text. Used by tests/test_graphiql_browser.py, tests/test_dashboard_browser.py, bench/first_paint.py
and by .ci/run's check of the README's start command. Playwright's own browser downloads are
unreachable here, so Playwright drives the system's Chromium."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from playwright.async_api import Browser, ConsoleMessage, Page, Response, async_playwright, expect

from tests.serving import free_port

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
STORAGE_KEY = "usageql:api-key"  # where both pages keep the key in the browser
KEY = re.compile(r"uq_[a-z0-9]{12}_[A-Za-z0-9_-]{43}")  # an API key, as the demo prints it
SCREENSHOTS = Path(__file__).resolve().parents[1] / "build" / "screenshots"  # git-ignored
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
    """Runs the query in the editor; the result pane's text once an answer is there. Waits for
    the editor to show a query first: GraphiQL mounts its editors asynchronously, and a click
    before that sends an empty query."""
    editor = page.locator(".graphiql-query-editor .CodeMirror-code")
    await expect(editor).to_contain_text("{")
    await page.get_by_role("button", name="Execute query (Ctrl-Enter)").click()
    result = page.get_by_label("Result Window")
    await expect(result).to_contain_text('"data"')
    return await result.inner_text()


@asynccontextmanager
async def serve(
    database_url: str, directory: Path, *arguments: str, **settings: str
) -> AsyncIterator[str]:
    """`usageql serve ARGUMENTS` on a free port, as a user starts it; its output goes to
    serve.log in `directory`. Yields its base URL once /readyz answers."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    inherited = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("USAGEQL_", "DATABASE_"))
    }
    environment = {
        **inherited,
        "DATABASE_URL": database_url,
        "USAGEQL_DATA_DIR": str(directory / "data"),
        "USAGEQL_PORT": str(port),
        **settings,
    }
    log = directory / "serve.log"
    with log.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "usageql",
            "serve",
            *arguments,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=output,
            stderr=asyncio.subprocess.STDOUT,
            env=environment,
        )
    try:
        await _wait_ready(base, process, log)
        yield base
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
                await process.wait()


async def _wait_ready(base: str, process: asyncio.subprocess.Process, log: Path) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=2) as client:
        for _ in range(1800):
            if process.returncode is not None:
                break
            try:
                if (await client.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"usageql serve did not become ready; its output:\n{read_log(log)}")


def read_log(log: Path) -> str:
    return log.read_text(errors="replace")


async def printed_key(log: Path) -> str:
    """The API key `usageql serve --demo` printed (its banner follows readiness closely)."""
    for _ in range(300):
        found = re.search(
            r"uq_[a-z0-9]{12}_[A-Za-z0-9_-]{43}", await asyncio.to_thread(read_log, log)
        )
        if found:
            return found.group(0)
        await asyncio.sleep(0.1)
    raise AssertionError(f"usageql serve --demo printed no key; its output:\n{read_log(log)}")


@dataclass
class Visit:
    """A page in a fresh browser context, with every /graphql status it got, every script
    error it raised, and every Content-Security-Policy violation the browser reported."""

    page: Page
    statuses: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)


def is_graphql_post(url: str, method: str) -> bool:
    return url.split("?", maxsplit=1)[0].endswith("/graphql") and method == "POST"


@asynccontextmanager
async def visiting(browser: Browser, **context_options: object) -> AsyncIterator[Visit]:
    """A new browser context (nothing in local storage) and a page in it; on leaving, the page's
    scripts must not have thrown, nor the browser have blocked anything under the CSP."""
    context = await browser.new_context(
        viewport={"width": 1400, "height": 900},
        accept_downloads=True,
        **context_options,  # type: ignore[arg-type]
    )
    context.set_default_timeout(WAIT_MS)
    page = await context.new_page()
    visit = Visit(page=page)

    def graphql_status(response: Response) -> None:
        if is_graphql_post(response.url, response.request.method):
            visit.statuses.append(response.status)

    def console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            visit.blocked.append(message.text)

    page.on("response", graphql_status)
    page.on("console", console)
    page.on("pageerror", lambda error: visit.errors.append(str(error)))
    try:
        yield visit
    finally:
        await context.close()
    assert visit.errors == [], visit.errors  # the page's scripts never threw
    assert visit.blocked == [], visit.blocked  # the CSP allows everything the page uses
