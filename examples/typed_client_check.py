"""Run every example query through the typed client generated from schema.graphql.

    USAGEQL_API_KEY=uq_... python examples/typed_client_check.py http://127.0.0.1:8000/graphql

Needs the generated package (build/typed-client) on the path; `typed_client_check.sh` sets that
up in its own virtualenv. Checks that each answer parses into the generated types, with the
custom scalars mapped (DateTime to datetime, BigInt to int), and that demo data fills them.
"""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime, timedelta

from usageql_client import Client, Granularity  # type: ignore[import-not-found]


async def main(url: str) -> None:
    client = Client(url=url, headers={"Authorization": f"Bearer {os.environ['USAGEQL_API_KEY']}"})
    now = datetime.now(UTC)
    month_ago = now - timedelta(days=30)

    overview = (await client.overview(from_=month_ago, timezone="Europe/Berlin")).usage
    assert overview.summary.messages > 0
    assert isinstance(overview.summary.tokens.total, int)
    assert isinstance(overview.timeseries[0].start, datetime)
    assert overview.models
    assert overview.models[0].usage.timeseries
    assert overview.users.total_count > 0
    print(f"Overview: {overview.summary.messages:,} messages, {len(overview.models)} models")

    top_model = overview.models[0].model
    admin = await client.open_web_ui_admin(from_=month_ago, to=now, model=top_model)
    assert admin.usage.summary.models > 0
    assert admin.model_overview.chats.total_count > 0
    assert admin.model_overview.feedback
    print(f"Open WebUI admin: {admin.model_overview.chats.total_count:,} chats used {top_model}")

    app = "support-bot"
    chipp = (await client.chipp_usage(app=app, granularity=Granularity.WEEK)).usage
    assert chipp.summary.chats > 0
    assert chipp.timeseries
    print(f"Chipp usage of {app}: {chipp.summary.chats:,} sessions, {chipp.summary.users} users")

    tags = (await client.lite_llm_tags(from_=month_ago, to=now, tag_contains="User-Agent:")).usage
    assert tags.all_tags
    assert tags.tags[0].usage.mau
    print(f"LiteLLM tags: {len(tags.all_tags)} tags, {len(tags.tags)} user agents")

    first = (await client.lite_llm_users(first=5)).usage.users
    assert first.page_info.has_next_page
    second = (await client.lite_llm_users(first=5, after=first.page_info.end_cursor)).usage.users
    ids = {edge.node.user.id for edge in first.edges}
    assert ids.isdisjoint(edge.node.user.id for edge in second.edges)
    print(f"LiteLLM users: {first.total_count} users, pages of 5 do not overlap")
    print("typed client: every example query ran")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
