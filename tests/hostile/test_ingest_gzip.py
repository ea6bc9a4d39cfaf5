"""Gzip bodies of POST /v1/events: every member is read, and nothing after the stream is skipped.

The threat: a body whose second gzip member (or bytes after the stream) a decoder silently
ignores, so records the sender believes stored are lost without a word.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.app_client import app_client
from usageql.config import Settings
from usageql.db.tables import messages
from usageql.ingest.http import MAX_GZIP_MEMBERS

GZIP = {"content-type": "application/x-ndjson", "content-encoding": "gzip"}


def ndjson(*ids: str, **fields: Any) -> bytes:
    return b"".join(
        json.dumps({"id": i, "timestamp": "2026-03-01T12:00:00Z", "model": "m", **fields}).encode()
        + b"\n"
        for i in ids
    )


async def stored(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as connection:
        rows = await connection.execute(select(messages.c.message_id).order_by("message_id"))
        return list(rows.scalars())


async def test_every_member_of_a_concatenated_gzip_body_is_stored(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    third = ndjson("c")
    body = (
        gzip.compress(ndjson("a", "b"))  # `cat a.gz b.gz`: members one after another
        + gzip.compress(third[:20])  # a record cut across two members
        + gzip.compress(third[20:])
        + gzip.compress(b"")  # an empty member
        + gzip.compress(ndjson("d"))
    )
    response = await client.post("/v1/events", content=body, headers=GZIP)
    assert response.status_code == 200
    assert response.json()["accepted"] == 4
    assert await stored(engine) == ["a", "b", "c", "d"]


AFTER = "the body goes on after its gzip stream with data that is not another gzip member"


@pytest.mark.parametrize(
    ("tail", "error"),
    [
        (b"trailing", f"{AFTER} (8 bytes)"),
        (b"\x00" * 512, f"{AFTER} (512 bytes)"),
        (b"\x1f", f"{AFTER} (1 byte)"),
        (gzip.compress(ndjson("b"))[:15], "the gzip body is truncated"),
        (b"\x1f\x8b" + b"\xff" * 30, "the body is not valid gzip: "),
    ],
    ids=["text", "zero-padding", "half-a-magic-number", "truncated-member", "broken-member"],
)
async def test_anything_after_the_stream_but_another_member_refuses_the_body(
    client: httpx.AsyncClient, engine: AsyncEngine, tail: bytes, error: str
) -> None:
    response = await client.post(
        "/v1/events", content=gzip.compress(ndjson("a")) + tail, headers=GZIP
    )
    assert response.status_code == 400
    assert response.json()["error"].startswith(error)
    assert await stored(engine) == []


@pytest.fixture
async def small_body(database_url: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(database_url=database_url, data_dir=tmp_path, max_body_bytes=4096)
    async with app_client(settings) as client:
        yield client


async def test_the_size_limit_holds_for_all_members_together(
    small_body: httpx.AsyncClient,
) -> None:
    member = gzip.compress(ndjson("a", content="x" * 2500))
    assert len(member) < 2048
    fits = await small_body.post("/v1/events", content=member, headers=GZIP)
    assert fits.json()["accepted"] == 1
    response = await small_body.post("/v1/events", content=member + member, headers=GZIP)
    assert response.status_code == 413
    assert response.json()["error"] == (
        "the request body is larger than 4,096 bytes (USAGEQL_MAX_BODY_BYTES); send smaller"
        " batches (after decompression)"
    )


async def test_a_body_of_too_many_members_is_refused(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    empty = gzip.compress(b"")
    many = gzip.compress(ndjson("a")) + empty * (MAX_GZIP_MEMBERS - 1)
    assert (await client.post("/v1/events", content=many, headers=GZIP)).json()["accepted"] == 1
    response = await client.post("/v1/events", content=many + empty, headers=GZIP)
    assert response.status_code == 413
    assert response.json()["error"] == (
        "the gzip body has more than 10,000 members (concatenated gzip streams); compress the"
        " batch as one stream"
    )


async def test_a_deflate_body_is_read_whole_within_the_limit_or_refused(
    small_body: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    """OpenTelemetry's Python exporter may send `deflate` (zlib's format): read like gzip, with
    the same limit after decompression, and nothing may follow or be missing."""
    deflate = {"content-type": "application/x-ndjson", "content-encoding": "deflate"}
    whole = zlib.compress(ndjson("a", "b"))
    answer = await small_body.post("/v1/events", content=whole, headers=deflate)
    assert answer.json()["accepted"] == 2
    for body, status, problem in (
        (whole[:-3], 400, "the deflate body is truncated"),
        (whole + b"junk", 400, "the body goes on after its deflate stream (4 bytes)"),
        (b"not zlib", 400, "the body is not valid deflate (zlib) data: "),
        (zlib.compress(b" " * 4097), 413, "the request body is larger than 4,096 bytes"),
    ):
        refused = await small_body.post("/v1/events", content=body, headers=deflate)
        assert refused.status_code == status, refused.text
        assert refused.json()["error"].startswith(problem), refused.text
    assert await stored(engine) == ["a", "b"]
