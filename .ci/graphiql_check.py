"""GraphiQL on the README's start command, as a newcomer meets it: open the page in Chromium,
paste the key `usageql serve --demo` printed, see Docs list `usage`, run the first query and read
its answer over the demo data. .ci/run calls it with the server's GraphiQL URL, the printed key
and where to save a screenshot of the answer; run it from the repository's root with
PYTHONPATH=. so it shares its steps with tests/test_graphiql_browser.py."""

from __future__ import annotations

import asyncio
import re
import sys

from tests.browser import chromium, docs_list_usage, enter_key, key_id, run_query


async def check(url: str, key: str, screenshot: str) -> None:
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1400, "height": 900})
        await page.goto(url)
        await enter_key(page, key)
        await page.get_by_text(f"Using API key {key_id(key)}… (admin)").wait_for()
        await docs_list_usage(page)
        answer = await run_query(page)
        await page.screenshot(path=screenshot)
    # The pane shows the answer as formatted JSON, as far as it fits on screen.
    if '"errors"' in answer:
        raise SystemExit(f"the first query got errors:\n{answer}")
    counts = [int(n) for n in re.findall(r'"messages": (\d+)', answer)]
    if not any(counts):
        raise SystemExit(f"the first query shows no demo messages:\n{answer}")
    print(f"GraphiQL answered the first query: apps with {counts} messages; see {screenshot}")


if __name__ == "__main__":
    asyncio.run(check(*sys.argv[1:4]))
