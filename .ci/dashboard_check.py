"""The dashboard on the README's start command, as a newcomer meets it: open the page in Chromium,
paste the key `usageql serve --demo` printed, and read the demo's totals, sent in one GraphQL
request. .ci/run calls it with the dashboard's URL, the printed key and where to save a screenshot;
run it from the repository's root with PYTHONPATH=. (it shares tests/browser.py's Chromium)."""

from __future__ import annotations

import asyncio
import sys

from playwright.async_api import Request, expect
from tests.browser import PROMPT, chromium, is_graphql_post


async def check(url: str, key: str, screenshot: str) -> None:
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1400, "height": 900})
        sent: list[Request] = []
        page.on("request", lambda r: sent.append(r) if is_graphql_post(r.url, r.method) else None)
        await page.goto(url)
        prompt = page.get_by_role("form", name=PROMPT)
        await prompt.get_by_label("API key").fill(key)
        await prompt.get_by_role("button", name="Open the dashboard").click()
        totals = page.get_by_role("region", name="Totals", exact=True)
        messages = totals.get_by_role("group", name="Messages", exact=True)
        await expect(messages).to_be_visible(timeout=60_000)
        shown = (await messages.inner_text()).splitlines()[1]
        await page.wait_for_load_state("networkidle")
        await page.screenshot(path=screenshot, full_page=True)
    if int(shown.replace(",", "")) == 0:
        raise SystemExit("the dashboard shows no demo messages")
    if len(sent) != 1:
        raise SystemExit(f"the dashboard sent {len(sent)} GraphQL requests to open, not one")
    print(f"the dashboard shows {shown} messages over the last 30 days; see {screenshot}")


if __name__ == "__main__":
    asyncio.run(check(*sys.argv[1:4]))
