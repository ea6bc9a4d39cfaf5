"""GraphiQL as a person meets it: Debian's Chromium, driven by Playwright, against a real
`usageql serve` on the test's own database. Every query needs a key, the schema's included, so
the page asks for one before GraphiQL starts; these tests read the page by its roles, labels and
visible text, as a user does, and fail (never skip) when Chromium is missing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser import (
    MISSING,
    PROMPT,
    SCREENSHOTS,
    STORAGE_KEY,
    Visit,
    chromium,
    chromium_missing,
    docs_list_usage,
    enter_key,
    key_id,
    run_query,
    serve,
    visiting,
)
from tests.conftest import DatabaseFactory
from usageql.auth import Role, create_key, revoke_key
from usageql.db.engine import create_engine

EVENT = {
    "id": "m-1",
    "timestamp": "2026-11-21T10:00:00Z",
    "app": "shop",
    "model": "gpt-4o",
    "user": "u-7",
    "usage": {"prompt_tokens": 1200, "completion_tokens": 300},
}


@dataclass(frozen=True)
class Served:
    """A running `usageql serve` and the keys made for it."""

    base: str
    database_url: str
    keys: Mapping[Role, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
async def served(
    databases: DatabaseFactory, template_name: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Served]:
    """One server for the module on a database of its own holding one message of app `shop`,
    with a key of each role. Keys are checked on every request (no cache), so a revoked key is
    refused at once."""
    url = await databases.create(template=template_name)
    engine = create_engine(url, pool_size=1)
    try:
        keys = {role: (await create_key(engine, role))[0] for role in Role}
    finally:
        await engine.dispose()
    directory = tmp_path_factory.mktemp("graphiql")
    async with serve(url, directory, USAGEQL_AUTH_CACHE_SECONDS="0") as base:
        admin = {"authorization": f"Bearer {keys[Role.ADMIN]}"}
        async with httpx.AsyncClient(base_url=base, headers=admin, timeout=30) as client:
            stored = await client.post("/v1/events", json=[EVENT])
            assert stored.json()["accepted"] == 1, stored.text
        yield Served(base=base, database_url=url, keys=keys)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    if chromium_missing():
        pytest.fail(MISSING, pytrace=False)  # a missing browser fails the run, never skips
    async with chromium() as browser:
        yield browser


@pytest.fixture
async def visit(browser: Browser) -> AsyncIterator[Visit]:
    """A new browser context (nothing in local storage) and a page in it."""
    async with visiting(browser) as visit:
        yield visit


async def _stored(page: Page) -> object:
    """The key the page keeps in the browser's local storage, if any."""
    return await page.evaluate(f"localStorage.getItem('{STORAGE_KEY}')")


async def test_graphiql_asks_for_a_key_then_documents_completes_and_runs_queries(
    served: Served, visit: Visit
) -> None:
    page = visit.page
    await page.goto(f"{served.base}/graphql")
    prompt = page.get_by_role("form", name=PROMPT)
    await expect(prompt).to_be_visible()
    # The hint names both ways to get a key, and both work: the reader key below is what
    # `usageql keys create --role reader` makes.
    await expect(prompt).to_contain_text("Paste the key usageql serve --demo printed")
    await expect(prompt).to_contain_text("usageql keys create --role reader")
    await expect(page.get_by_role("alert")).to_be_hidden()

    reader = served.keys[Role.READER]
    await enter_key(page, reader)
    await expect(page.get_by_text(f"Using API key {key_id(reader)}… (reader)")).to_be_visible()
    await expect(prompt).to_be_hidden()
    await docs_list_usage(page)  # the schema came with the key, no reload needed
    answer = await run_query(page)
    assert '"role": "reader"' in answer
    assert '"id": "shop"' in answer
    assert '"messages": 1' in answer
    assert "errors" not in answer  # the first query is one a reader key may run

    assert visit.statuses, "no /graphql request was seen"
    assert set(visit.statuses) == {200}  # never a 401: nothing was sent without a key
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=SCREENSHOTS / "graphiql.png")

    # The Explorer and autocompletion have the schema too.
    await page.get_by_role("button", name="Show GraphiQL Explorer").click()
    await expect(page.get_by_text("usage", exact=True)).to_be_visible()
    await page.get_by_label("Query Editor").click()
    await page.keyboard.press("Control+A")
    await page.keyboard.type("{ us")
    await expect(page.get_by_role("option", name="usage")).to_be_visible()

    # The key is remembered: a reload goes straight to GraphiQL.
    assert await _stored(page) == reader
    await page.reload()
    await expect(page.get_by_text(f"Using API key {key_id(reader)}… (reader)")).to_be_visible()
    await expect(prompt).to_be_hidden()
    await docs_list_usage(page)


async def test_the_key_can_be_changed_kept_or_forgotten(served: Served, visit: Visit) -> None:
    page = visit.page
    await page.goto(f"{served.base}/graphql")
    reader, admin = served.keys[Role.READER], served.keys[Role.ADMIN]
    await enter_key(page, reader)
    await docs_list_usage(page)

    # A wrong key tried in its place loses nothing: the one in use stays, stored and running.
    await page.get_by_role("button", name="Change key").click()
    await enter_key(page, "uq_aaaaaaaaaaaa_" + "A" * 43)
    await expect(page.get_by_role("alert")).to_contain_text("That key was refused")
    assert await _stored(page) == reader
    await page.get_by_role("button", name="Keep the current key").click()
    await expect(page.get_by_text(f"Using API key {key_id(reader)}… (reader)")).to_be_visible()
    assert '"role": "reader"' in await run_query(page)

    # A new key mounts a new GraphiQL, which asks for the schema again with it.
    await page.get_by_role("button", name="Change key").click()
    await enter_key(page, admin)
    await expect(page.get_by_text(f"Using API key {key_id(admin)}… (admin)")).to_be_visible()
    await docs_list_usage(page)
    assert '"role": "admin"' in await run_query(page)
    assert await _stored(page) == admin

    await page.get_by_role("button", name="Forget key").click()
    prompt = page.get_by_role("form", name=PROMPT)
    await expect(prompt).to_be_visible()
    await expect(page.get_by_role("status")).to_have_text("The key was removed from this browser.")
    await expect(prompt.get_by_role("button", name="Keep the current key")).to_be_hidden()
    assert await _stored(page) is None
    await page.reload()
    await expect(prompt).to_be_visible()


async def test_a_wrong_key_gets_a_message_and_the_prompt_again(
    served: Served, visit: Visit
) -> None:
    page = visit.page
    await page.goto(f"{served.base}/graphql")
    prompt = page.get_by_role("form", name=PROMPT)
    alert = page.get_by_role("alert")

    await enter_key(page, "uq_aaaaaaaaaaaa_" + "A" * 43)
    await expect(alert).to_have_text(
        "That key was refused: unknown or revoked API key. Paste a valid key."
    )
    await expect(prompt).to_be_visible()
    await expect(page.get_by_role("button", name="Show Documentation Explorer")).to_have_count(0)

    await enter_key(page, "not-a-key")
    await expect(alert).to_contain_text("That key was refused: malformed API key")

    await enter_key(page, served.keys[Role.INGEST])
    await expect(alert).to_have_text(
        "That is an ingest key: it may send usage but not query it. Paste a reader or admin key."
    )
    assert await _stored(page) is None

    # A good key after the wrong ones: GraphiQL starts with a schema, no reload needed.
    await enter_key(page, served.keys[Role.READER])
    await expect(alert).to_be_hidden()
    await docs_list_usage(page)


async def test_a_key_revoked_while_graphiql_is_open_brings_the_prompt_back(
    served: Served, visit: Visit
) -> None:
    engine = create_engine(served.database_url, pool_size=1)
    try:
        key, info = await create_key(engine, Role.READER, name="revoked in the test")
        page = visit.page
        await page.goto(f"{served.base}/graphql")
        await enter_key(page, key)
        await docs_list_usage(page)
        assert await revoke_key(engine, info.key_id)
    finally:
        await engine.dispose()
    await page.get_by_role("button", name="Execute query (Ctrl-Enter)").click()
    await expect(page.get_by_role("alert")).to_have_text(
        "The server no longer accepts this key: unknown or revoked API key."
    )
    await expect(page.get_by_role("form", name=PROMPT)).to_be_visible()
    assert await _stored(page) is None


async def test_without_authentication_graphiql_opens_at_once(
    databases: DatabaseFactory, template_name: str, tmp_path: Path, visit: Visit
) -> None:
    url = await databases.create(template=template_name)
    async with serve(url, tmp_path, USAGEQL_AUTH="disabled") as base:
        page = visit.page
        await page.goto(f"{base}/graphql")
        await docs_list_usage(page)
        await expect(page.get_by_role("form", name=PROMPT)).to_have_count(0)
        await expect(page.get_by_role("button", name="Forget key")).to_be_hidden()
        assert '"role": "admin"' in await run_query(page)
