"""A small usage data set whose every figure the tests work out by hand (see the comments)."""

from __future__ import annotations

from typing import Any

import httpx

# Five messages in two apps. In Berlin (UTC+1 in March) m3 falls on 3 March, in UTC on 2 March.
FIXTURE: list[dict[str, Any]] = [
    {"id": "m1", "app": "a", "timestamp": "2026-03-01T10:00:00Z", "model": "gpt-4o",
     "user": {"id": "u1", "name": "Ada", "email": "ada@example.com"}, "chat_id": "c1",
     "usage": {"input_tokens": 100, "output_tokens": 10},
     "cost": 0.5, "latency_ms": 100, "tags": ["UA:x", "f:1"], "metadata": {"plan": "pro"}},
    {"id": "m2", "app": "a", "timestamp": "2026-03-02T10:00:00Z", "model": "gpt-4o",
     "user": "u2", "chat_id": "c2", "usage": {"input_tokens": 200, "output_tokens": 20},
     "cost": 0.25, "latency_ms": 300, "status": "error", "tags": ["UA:y"]},
    {"id": "m3", "app": "a", "timestamp": "2026-03-02T23:30:00Z", "model": "local-llm",
     "user": "u1", "chat_id": "c1", "usage": {"input_tokens": 50, "output_tokens": 5},
     "latency_ms": 200, "tags": ["UA:x"], "metadata": {"plan": "free"}},
    {"id": "m4", "app": "b", "timestamp": "2026-03-03T08:00:00Z", "role": "user",
     "user": "u3", "chat_id": "c3", "content": "Where is my invoice? " + "x" * 300},
    {"id": "m5", "app": "b", "timestamp": "2026-03-05T12:00:00Z", "model": "claude-x",
     "usage": {"input_tokens": 10, "output_tokens": 1}, "cost": 1.0, "latency_ms": 400},
]  # fmt: skip


RATINGS: list[dict[str, Any]] = [
    {"type": "feedback", "id": "f1", "app": "a", "timestamp": "2026-03-01T11:00:00Z",
     "message_id": "m1", "rating": "up"},
    {"type": "feedback", "id": "f2", "app": "a", "timestamp": "2026-03-02T12:00:00Z",
     "message_id": "m2", "rating": "down"},
    {"type": "feedback", "id": "f3", "app": "b", "timestamp": "2026-03-05T13:00:00Z",
     "model": "claude-x", "rating": 1},
    {"type": "chat", "id": "c1", "app": "a", "timestamp": "2026-03-01T09:00:00Z",
     "title": "Plans", "tags": ["how-to", "billing"]},
    {"type": "chat", "id": "c2", "app": "a", "timestamp": "2026-03-02T09:00:00Z",
     "title": "Bug", "tags": ["bug"]},
]  # fmt: skip


async def load_usage_data(client: httpx.AsyncClient) -> None:
    """Send FIXTURE and RATINGS through POST /v1/events."""
    response = await client.post("/v1/events", json=FIXTURE + RATINGS)
    assert response.json() == {
        "accepted": 8, "duplicates": 0, "described": 2,
        "replaced": 0, "rejected": [], "conflicts": []
    }  # fmt: skip
