"""The dashboard as a person meets it: Debian's Chromium, driven by Playwright, against a real
`usageql serve --demo` on the test's own database. The tests read the page by its roles, labels
and visible text, compare what it shows with what /graphql answers for the same variables, count
the GraphQL requests each view change sends (one), and fail (never skip) when Chromium is
missing. No assertion is about time: first paint is measured by bench/first_paint.py.

The server runs with USAGEQL_MAX_QUERY_COST=1500, so that two composed tables take a page past
its limit; the page's own request is checked against the default limits by the cost it reports.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import Source, TokenKind
from graphql.language.lexer import Lexer
from playwright.async_api import Browser, Locator, Page, Request, expect

from tests.browser import (
    MISSING,
    PROMPT,
    SCREENSHOTS,
    STORAGE_KEY,
    Visit,
    chromium,
    chromium_missing,
    is_graphql_post,
    printed_key,
    read_log,
    serve,
    visiting,
)
from tests.conftest import DatabaseFactory
from usageql.auth import Role, create_key
from usageql.config import Settings
from usageql.db.engine import create_engine

COST_LIMIT = 1500
# SQL statements the page's default request runs, whatever the number of rows it shows: one per
# list field of its shape (tests/test_graphql.py counts the fields one by one).
PAGE_STATEMENTS = 19
DASH = "\u2013"  # the en dash of "1\u201310 of 290 users" and of figures not there
# A user whose id, name and email a spreadsheet would run as formulas.
HOSTILE = {"id": "=HYPERLINK(1)", "name": "@SUM(1+1)", "email": "+1@example.com"}


@dataclass
class Demo:
    """`usageql serve --demo`, its log, and keys: the demo's admin key and bound readers."""

    base: str
    log: Path
    admin: str
    keys: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    if chromium_missing():
        pytest.fail(MISSING, pytrace=False)  # a missing browser fails the run, never skips
    async with chromium() as browser:
        yield browser


@pytest.fixture
async def visit(browser: Browser) -> AsyncIterator[Visit]:
    async with visiting(browser) as visit:
        yield visit


@pytest.fixture(scope="module")
async def demo(
    databases: DatabaseFactory, template_name: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Demo]:
    url = await databases.create(template=template_name)
    directory = tmp_path_factory.mktemp("dashboard")
    settings = {
        "USAGEQL_LOG_FORMAT": "json",
        "USAGEQL_AUTH_CACHE_SECONDS": "0",
        "USAGEQL_MAX_QUERY_COST": str(COST_LIMIT),
    }
    async with serve(url, directory, "--demo", **settings) as base:
        log = directory / "serve.log"
        demo = Demo(base=base, log=log, admin=await printed_key(log))
        now = datetime.now(UTC).replace(microsecond=0)
        hostile = [
            {
                "id": f"hostile-{n}",
                "timestamp": (now - timedelta(hours=2, minutes=n)).isoformat(),
                "app": "support-bot",
                "model": "gpt-4o-mini",
                "user": HOSTILE,
                "usage": {"prompt_tokens": 10, "completion_tokens": 5},
            }
            for n in range(2)
        ]
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            stored = await client.post(
                "/v1/events", json=hostile, headers={"authorization": f"Bearer {demo.admin}"}
            )
            assert stored.json()["accepted"] == 2, stored.text
        engine = create_engine(url, pool_size=1)
        try:
            demo.keys["app"] = (await create_key(engine, Role.READER, apps=["support-bot"]))[0]
            demo.keys["user"] = (await create_key(engine, Role.READER, users=["user-00001"]))[0]
            demo.keys["ingest"] = (await create_key(engine, Role.INGEST))[0]
        finally:
            await engine.dispose()
        yield demo


async def direct(
    demo: Demo, query: str, variables: dict[str, Any], key: str
) -> tuple[dict[str, Any], int]:
    """POSTs to /graphql as the page does: (the answer, the SQL statements it ran, as the
    server's log line for the request says)."""
    request_id = uuid.uuid4().hex
    async with httpx.AsyncClient(base_url=demo.base, timeout=120) as client:
        response = await client.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"authorization": f"Bearer {key}", "x-request-id": request_id},
        )
    body: dict[str, Any] = response.json()
    for _ in range(200):  # the line is written as the answer leaves: wait for it to land
        for line in (await asyncio.to_thread(read_log, demo.log)).splitlines():
            if request_id in line and line.startswith("{"):
                entry = json.loads(line)
                if entry.get("request_id") == request_id and "sql_statements" in entry:
                    return body, int(entry["sql_statements"])
        await asyncio.sleep(0.05)
    raise AssertionError(f"no log line for request {request_id}")


class Requests:
    """The page's GraphQL requests, as the browser sends them."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.sent: list[Request] = []
        page.on("request", self._seen)

    def _seen(self, request: Request) -> None:
        if is_graphql_post(request.url, request.method):
            self.sent.append(request)

    @property
    def last(self) -> dict[str, Any]:
        body = self.sent[-1].post_data_json
        assert isinstance(body, dict)
        return body

    async def during(self, action: Callable[[], Awaitable[object]]) -> int:
        """How many requests `action` makes the page send, once it shows their answer."""
        before = len(self.sent)
        async with self.page.expect_response(
            lambda response: is_graphql_post(response.url, response.request.method)
        ):
            await action()
        await settled(self.page)
        return len(self.sent) - before


async def settled(page: Page) -> None:
    """Waits until the page shows the answer to its latest request."""
    await expect(page.get_by_role("status").filter(has_text=re.compile("^Updat"))).to_have_text(
        re.compile(r"^Updated")
    )
    await page.wait_for_load_state("networkidle")


async def open_dashboard(page: Page, base: str, key: str, path: str = "/dashboard") -> None:
    await page.goto(f"{base}{path}")
    prompt = page.get_by_role("form", name=PROMPT)
    await expect(prompt).to_be_visible()
    await prompt.get_by_label("API key").fill(key)
    await prompt.get_by_role("button", name="Open the dashboard").click()
    await settled(page)


def panel(page: Page, title: str) -> Locator:
    return page.get_by_role("region", name=title, exact=True)


async def stat(page: Page, label: str) -> str:
    tile = panel(page, "Totals").get_by_role("group", name=label, exact=True)
    text = await tile.inner_text()
    return text.splitlines()[1].strip()


async def table_rows(table: Locator) -> list[list[str]]:
    """The table's body rows, cell texts in order (row headers first)."""
    rows = []
    for row in await table.get_by_role("row").all():
        cells = await row.get_by_role("rowheader").all_inner_texts()
        cells += await row.get_by_role("cell").all_inner_texts()
        if cells:
            rows.append([cell.strip() for cell in cells])
    return rows


def count(value: int | None) -> str:
    return DASH if value is None else f"{value:,}"


def usd(value: float | None) -> str:
    if value is None:
        return "unpriced"
    return f"${value:,.4f}" if 0 < abs(value) < 0.01 else f"${value:,.2f}"


async def downloaded(page: Page, button: Locator) -> list[list[str]]:
    async with page.expect_download() as info:
        await button.click()
    download = await info.value
    path = await download.path()
    text = await asyncio.to_thread(Path(path).read_text, encoding="utf-8")
    return list(csv.reader(io.StringIO(text)))


def tokens(query: str) -> int:
    lexer = Lexer(Source(query))
    n = 0
    while lexer.advance().kind != TokenKind.EOF:
        n += 1
    return n


async def test_every_panel_shows_what_graphql_answers_for_the_same_variables(
    demo: Demo, visit: Visit
) -> None:
    page = visit.page
    requests = Requests(page)
    await open_dashboard(page, demo.base, demo.admin)
    assert len(requests.sent) == 1  # the key and the whole page: one request
    body = requests.last
    answer, statements = await direct(demo, body["query"], body["variables"], demo.admin)
    assert "errors" not in answer, answer["errors"]
    assert statements == PAGE_STATEMENTS
    usage = answer["data"]["usage"]
    # The page's request stays well inside the default limits.
    defaults = Settings()
    assert answer["extensions"]["cost"]["rows"] <= defaults.max_query_cost // 100
    assert tokens(body["query"]) <= defaults.max_tokens // 2
    assert body["query"].count(":") - body["query"].count("$") <= defaults.max_aliases

    totals = usage["totals"]
    assert await stat(page, "Messages") == count(totals["messages"])
    assert await stat(page, "Requests") == count(totals["requests"])
    assert await stat(page, "Users") == count(totals["users"])
    assert await stat(page, "Chats") == count(totals["chats"])
    assert await stat(page, "Spend") == usd(totals["spend"])
    assert await stat(page, "Unpriced requests") == count(totals["unpricedRequests"])
    assert await stat(page, "Errors") == count(totals["failedRequests"])
    assert await stat(page, "Input tokens") == count(totals["tokens"]["input"])
    assert await stat(page, "Output tokens") == count(totals["tokens"]["output"])
    assert await stat(page, "Total tokens") == count(totals["tokens"]["total"])
    assert totals["messages"] > 1000  # the demo's data is there

    models = await table_rows(panel(page, "Top models").get_by_role("table"))
    assert [(row[0].split(" ")[0], row[1], row[5]) for row in models] == [
        (m["model"], count(m["metrics"]["requests"]), usd(m["metrics"]["spend"]))
        for m in usage["topModels"]
    ]
    users = await table_rows(panel(page, "Top users").get_by_role("table"))
    assert [row[1:3] for row in users] == [
        [count(e["node"]["metrics"]["messages"]), count(e["node"]["metrics"]["requests"])]
        for e in usage["topUsers"]["edges"]
    ]
    assert [row[0] for row in users] == [
        f"{e['node']['user']['name']} {e['node']['user']['email']}"
        for e in usage["topUsers"]["edges"]
    ]
    tags = await table_rows(panel(page, "Tags").get_by_role("table"))
    assert [(row[0], row[1], row[4], row[5], row[6]) for row in tags] == [
        (
            t["tag"],
            count(t["metrics"]["requests"]),
            count(t["usage"]["dau"][-1]["users"]),
            count(t["usage"]["wau"][-1]["users"]),
            count(t["usage"]["mau"][-1]["users"]),
        )
        for t in usage["topTags"]
    ]
    won = sum(b["positive"] for b in usage["feedbackSeries"])
    lost = sum(b["negative"] for b in usage["feedbackSeries"])
    await expect(panel(page, "Feedback")).to_contain_text(f"{won:,} won, {lost:,} lost")
    chats = usage["chatList"]
    await expect(panel(page, "Chats").get_by_role("navigation")).to_contain_text(
        f"1{DASH}10 of {chats['totalCount']:,} chats"
    )
    first_chat = chats["edges"][0]["node"]
    await expect(panel(page, "Chats").get_by_role("list", name="Chats")).to_contain_text(
        first_chat["title"] or first_chat["id"]
    )

    # A chart's rows, as its table shows them: one per bucket, a column per model and "other".
    spend = panel(page, "Spend over time, by model")
    await spend.get_by_role("button", name="Show table").click()
    rows = await table_rows(spend.get_by_role("table"))
    assert len(rows) == len(usage["spendSeries"])
    header = await spend.get_by_role("columnheader").all_inner_texts()
    assert header[1 : 1 + len(usage["spendModels"])] == [m["model"] for m in usage["spendModels"]]
    for row, bucket in zip(rows, usage["spendSeries"], strict=True):
        shown = [float(cell.lstrip("$").replace(",", "")) for cell in row[1:] if cell[0] == "$"]
        if bucket["metrics"]["spend"] is not None:
            assert sum(shown) == pytest.approx(bucket["metrics"]["spend"], abs=0.01 * len(shown))
    await spend.get_by_role("button", name="Show chart").click()

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=SCREENSHOTS / "dashboard.png", full_page=True)
    assert len(requests.sent) == 1  # showing a table asks for nothing


async def test_each_view_change_sends_one_request_and_the_url_holds_the_view(
    demo: Demo, browser: Browser, visit: Visit
) -> None:
    page = visit.page
    requests = Requests(page)
    await open_dashboard(page, demo.base, demo.admin)

    controls = {name: page.get_by_label(name, exact=True) for name in ("Range", "Time zone")}
    assert await requests.during(lambda: controls["Range"].select_option(label="Last 7 days")) == 1
    assert "range=7d" in page.url
    assert await requests.during(lambda: controls["Time zone"].select_option("Asia/Tokyo")) == 1
    assert requests.last["variables"]["timezone"] == "Asia/Tokyo"
    assert requests.last["variables"]["filter"]["from"].endswith("T15:00:00.000Z")  # Tokyo 0:00
    granularity = page.get_by_label("Granularity", exact=True)
    assert await requests.during(lambda: granularity.select_option(label="Week")) == 1
    assert requests.last["variables"]["granularity"] == "WEEK"

    # Drill into a model: the whole page narrows to it, with a chip to undo it.
    models = panel(page, "Top models")
    model = (await table_rows(models.get_by_role("table")))[1][0].split(" ")[0]
    button = models.get_by_role("button", name=model, exact=True)
    assert await requests.during(button.click) == 1
    assert requests.last["variables"]["filter"]["models"] == [model]
    chip = page.get_by_role("list", name="Narrowed to")
    await expect(chip).to_contain_text(f"model: {model}")
    assert [row[0].split(" ")[0] for row in await table_rows(models.get_by_role("table"))] == [
        model
    ]
    narrowed_messages = await stat(page, "Messages")

    # Drill into a time bucket (the spend chart's first week, from its table): a step finer.
    spend = panel(page, "Spend over time, by model")
    await spend.get_by_role("button", name="Show table").click()
    period = spend.get_by_role("table").get_by_role("button").first
    assert await requests.during(period.click) == 1
    await expect(chip).to_contain_text("period: week of")
    await expect(granularity).to_have_value("DAY")
    shared = page.url

    # The URL is the view: a reload, and another browser with the same link, show it again.
    assert await requests.during(page.reload) == 1
    await expect(chip).to_contain_text(f"model: {model}")
    await expect(page.get_by_label("Time zone", exact=True)).to_have_value("Asia/Tokyo")
    bucket_messages = await stat(page, "Messages")
    async with visiting(browser) as other:
        await open_dashboard(other.page, demo.base, demo.admin, shared.removeprefix(demo.base))
        assert await stat(other.page, "Messages") == bucket_messages
        await expect(other.page.get_by_role("list", name="Narrowed to")).to_contain_text(
            "period: week of"
        )

    # Back out of the narrowings, one request each.
    remove = page.get_by_role("button", name=re.compile("^Remove period"))
    assert await requests.during(remove.click) == 1
    await expect(granularity).to_have_value("WEEK")
    assert await stat(page, "Messages") == narrowed_messages
    remove = page.get_by_role("button", name=f"Remove model: {model}")
    assert await requests.during(remove.click) == 1
    await expect(chip).to_have_count(0)
    assert await requests.during(page.go_back) == 1  # history walks the views too
    await expect(chip).to_contain_text(f"model: {model}")


async def test_csv_downloads_hold_the_rows_shown_with_formulas_escaped(
    demo: Demo, visit: Visit
) -> None:
    page = visit.page
    requests = Requests(page)
    await open_dashboard(page, demo.base, demo.admin, "/dashboard?range=7d&tz=UTC")
    body = requests.last
    answer, statements = await direct(demo, body["query"], body["variables"], demo.admin)
    assert statements == PAGE_STATEMENTS
    usage = answer["data"]["usage"]

    models = panel(page, "Top models")
    rows = await downloaded(page, models.get_by_role("button", name="Download CSV"))
    assert rows[0][:3] == ["model", "provider", "requests"]
    assert [(r[0], int(r[2])) for r in rows[1:]] == [
        (m["model"], m["metrics"]["requests"]) for m in usage["topModels"]
    ]

    # Every user, paged through (in pages the table fetches alone), the hostile one escaped.
    users = panel(page, "Top users")
    before = len(requests.sent)
    rows = await downloaded(page, users.get_by_role("button", name="Download all rows"))
    assert len(requests.sent) == before + 1  # 1,000 rows a page: the demo's 300 users in one
    assert len(rows) - 1 == usage["topUsers"]["totalCount"]
    hostile = next(r for r in rows if r[0].endswith(HOSTILE["id"]))
    assert hostile[:3] == [f"'{HOSTILE['id']}", f"'{HOSTILE['name']}", f"'{HOSTILE['email']}"]
    everyone = """query($filter: UsageFilter, $timezone: String!) {
      usage(filter: $filter, timezone: $timezone) { users(first: 1000) { edges { node {
        user { id } metrics { requests } } } } } }"""
    variables = {"filter": body["variables"]["filter"], "timezone": "UTC"}
    answer, statements = await direct(demo, everyone, variables, demo.admin)
    assert statements == 4  # the page of users, their metrics, their profiles, the count
    expected = [
        (e["node"]["user"]["id"], e["node"]["metrics"]["requests"])
        for e in answer["data"]["usage"]["users"]["edges"]
    ]
    assert sorted((r[0].lstrip("'"), int(r[4])) for r in rows[1:]) == sorted(expected)

    # The second page of the table is fetched for the table alone; its CSV holds that page.
    assert await requests.during(users.get_by_role("button", name="Next").click) == 1
    assert "topUsers: users" in requests.last["query"]
    assert "topModels" not in requests.last["query"]
    await expect(users.get_by_role("navigation")).to_contain_text(f"11{DASH}20 of")
    shown = await table_rows(users.get_by_role("table"))
    rows = await downloaded(page, users.get_by_role("button", name="Download CSV"))
    assert [r[3] for r in rows[1:]] == [row[1].replace(",", "") for row in shown]


async def test_a_bound_key_sees_on_the_page_what_it_sees_through_graphql(
    demo: Demo, visit: Visit
) -> None:
    page = visit.page
    requests = Requests(page)
    await open_dashboard(page, demo.base, demo.keys["app"])
    await expect(page.get_by_text("(reader, bound to apps support-bot)")).to_be_visible()
    options = await page.get_by_label("App", exact=True).get_by_role("option").all_inner_texts()
    assert options == ["All apps", "support-bot"]
    body = requests.last
    answer, statements = await direct(demo, body["query"], body["variables"], demo.keys["app"])
    assert statements == PAGE_STATEMENTS
    usage = answer["data"]["usage"]
    assert await stat(page, "Messages") == count(usage["totals"]["messages"])
    admin_answer, _ = await direct(demo, body["query"], body["variables"], demo.admin)
    assert usage["totals"]["messages"] < admin_answer["data"]["usage"]["totals"]["messages"]
    models = await table_rows(panel(page, "Top models").get_by_role("table"))
    assert [row[0].split(" ")[0] for row in models] == [m["model"] for m in usage["topModels"]]

    await page.get_by_role("button", name="Change key").click()
    prompt = page.get_by_role("form", name=PROMPT)
    await prompt.get_by_label("API key").fill(demo.keys["user"])
    await prompt.get_by_role("button", name="Open the dashboard").click()
    await settled(page)
    await expect(page.get_by_text("(reader, bound to users user-00001)")).to_be_visible()
    users = await table_rows(panel(page, "Top users").get_by_role("table"))
    body = requests.last
    answer, statements = await direct(demo, body["query"], body["variables"], demo.keys["user"])
    assert statements == PAGE_STATEMENTS + 1  # a bound to users adds one, whatever the rows
    edges = answer["data"]["usage"]["topUsers"]["edges"]
    assert [e["node"]["user"]["id"] for e in edges] == ["user-00001"]
    assert len(users) == 1
    assert await stat(page, "Users") == "1"
    assert await stat(page, "Messages") == count(answer["data"]["usage"]["totals"]["messages"])


async def test_composed_panels_join_the_one_request_live_in_the_url_and_name_the_limit(
    demo: Demo, visit: Visit
) -> None:
    page = visit.page
    requests = Requests(page)
    await open_dashboard(page, demo.base, demo.admin, "/dashboard?range=30d&tz=UTC")

    await page.get_by_role("button", name="Add panel").click()
    editor = page.get_by_role("form", name="Compose a panel")
    await editor.get_by_label("Title").fill("Plans by model")
    await editor.get_by_label("Chart").select_option(label="Table")
    await editor.get_by_role("checkbox", name="Model").check()
    await editor.get_by_label("Metadata keys").fill("plan")
    await editor.get_by_role("checkbox", name="Spend").check()
    add = editor.get_by_role("button", name="Add the panel")
    assert await requests.during(add.click) == 1
    assert "panel=" in page.url
    body = requests.last
    assert 'custom0: breakdown(by: [MODEL], metadataKeys: ["plan"]' in body["query"]
    answer, statements = await direct(demo, body["query"], body["variables"], demo.admin)
    assert statements == PAGE_STATEMENTS + 1  # the composed panel is one more statement
    composed = answer["data"]["usage"]["custom0"]
    rows = await table_rows(panel(page, "Plans by model").get_by_role("table"))
    assert [(r[0], r[1], r[2]) for r in rows] == [
        (c["keys"][0]["value"], c["keys"][1]["value"] or "(none)", count(c["metrics"]["requests"]))
        for c in composed
    ]

    # A line chart by app, from the URL alone: the shared link composes the same page.
    line = "line~APP~requests~5~Requests by app"
    url = f"{page.url}&panel={line}"
    assert await requests.during(lambda: page.goto(url)) == 1
    await expect(panel(page, "Plans by model")).to_be_visible()
    chart = panel(page, "Requests by app")
    await expect(chart.get_by_role("figure", name="Requests by app")).to_be_visible()
    await chart.get_by_role("button", name="Show table").click()
    header = await chart.get_by_role("columnheader").all_inner_texts()
    assert sorted(header[1:]) == ["code-assistant", "docs-search", "sales-agent", "support-bot"]

    # Past the server's limit, the page names the panel to remove; removing it is enough.
    big = "table~USER,MODEL~requests~1000~Every user and model"
    assert await requests.during(lambda: page.goto(f"{page.url}&panel={big}")) == 1
    alert = page.get_by_role("alert").filter(has_text="more than the server allows")
    await expect(alert).to_contain_text("Remove the panel “Every user and model”")
    remove = page.get_by_role("button", name="Remove the panel Every user and model")
    assert await requests.during(remove.click) == 1
    await expect(alert).to_have_count(0)
    await expect(panel(page, "Plans by model").get_by_role("table")).to_be_visible()


async def test_errors_and_empty_views_say_what_happened(demo: Demo, visit: Visit) -> None:
    page = visit.page
    await page.goto(f"{demo.base}/dashboard")
    prompt = page.get_by_role("form", name=PROMPT)
    await prompt.get_by_label("API key").fill("uq_aaaaaaaaaaaa_" + "A" * 43)
    await prompt.get_by_role("button", name="Open the dashboard").click()
    await expect(page.get_by_role("alert")).to_have_text(
        "That key was refused: unknown or revoked API key. Paste a valid key."
    )
    await prompt.get_by_label("API key").fill(demo.keys["ingest"])
    await prompt.get_by_role("button", name="Open the dashboard").click()
    await expect(page.get_by_role("alert")).to_have_text(
        "That is an ingest key: it may send usage but not query it. Paste a reader or admin key."
    )
    assert await page.evaluate(f"localStorage.getItem('{STORAGE_KEY}')") is None

    # A query error names the field, in the panel that asked for it.
    long_key = "k" * 70
    await open_dashboard(
        page, demo.base, demo.admin, f"/dashboard?panel=table~metadata.{long_key}~requests~5~Long"
    )
    error = panel(page, "Long").get_by_role("alert")
    await expect(error).to_contain_text("The server could not answer this panel")
    await expect(error).to_contain_text("metadataKeys: each key must be 1 to 64 characters")
    await expect(error).to_contain_text("(at usage.custom0)")
    # Every field of usage is non-null, so the error takes the whole answer: the other panels
    # say which panel to look at.
    await expect(panel(page, "Totals")).to_contain_text("the panel “Long” failed")

    # An empty view says so in every panel.
    await page.goto(f"{demo.base}/dashboard?range=7d&model=no-such-model")
    await settled(page)
    await expect(panel(page, "Totals")).to_contain_text("No messages in this range and filter.")
    await expect(panel(page, "Top models")).to_contain_text("No requests in this range")
    await expect(panel(page, "Chats")).to_contain_text("No chats in this range and filter.")

    # Forgetting the key brings the prompt back, and the page sends nothing without one.
    await page.get_by_role("button", name="Forget key").click()
    await expect(page.get_by_role("status")).to_have_text("The key was removed from this browser.")
    assert await page.evaluate(f"localStorage.getItem('{STORAGE_KEY}')") is None
    assert 401 not in visit.statuses[1:]  # only the wrong key was ever refused


async def test_a_panels_query_opens_in_graphiql_with_its_variables(
    demo: Demo, browser: Browser, visit: Visit
) -> None:
    page = visit.page
    await open_dashboard(page, demo.base, demo.admin, "/dashboard?range=7d&tz=Europe/Berlin")
    models = panel(page, "Top models")
    await models.get_by_role("button", name="Query").click()
    query = await models.get_by_label("GraphQL query of Top models").inner_text()
    assert query.startswith("query TopModels($filter: UsageFilter, $timezone: String!)")
    variables = json.loads(await models.get_by_label("Variables of Top models").inner_text())
    assert variables["timezone"] == "Europe/Berlin"
    async with page.context.expect_page() as opened:
        await models.get_by_role("link", name="Open in GraphiQL").click()
    graphiql = await opened.value
    await expect(graphiql.get_by_label("Query Editor")).to_contain_text("query TopModels")
    await expect(graphiql.get_by_label("Variables")).to_contain_text("Europe/Berlin")
    await graphiql.get_by_role("button", name="Execute query (Ctrl-Enter)").click()
    result = graphiql.get_by_label("Result Window")
    await expect(result).to_contain_text('"topModels"')
    answer, statements = await direct(demo, query, variables, demo.admin)
    assert statements == 3  # however many models there are
    first = answer["data"]["usage"]["topModels"][0]
    await expect(result).to_contain_text(f'"model": "{first["model"]}"')
    await expect(result).to_contain_text(f'"requests": {first["metrics"]["requests"]}')
