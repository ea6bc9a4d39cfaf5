"""LiteLLM as a producer, in a process of its own: completions with mock responses (no network)
logged by LiteLLM's own `generic_api` logger to a usageql server.

    python tests/litellm_producer.py ENDPOINT API_KEY LOG_FORMAT PAYLOADS_FILE [--resend]

The standard logging payloads LiteLLM queued are written to PAYLOADS_FILE (a JSON array) before
the logger sends them, so a test can compare what usageql stored with what LiteLLM reported.
With --resend the logger sends the same batch twice, as LiteLLM's retry after a timed-out post
does. A process of its own: LiteLLM keeps its loggers in globals, and its import takes seconds.

The plain `litellm` package leaves the string callback "generic_api" a no-op (the logger is
wired by its proxy), so the logger is built here as the proxy builds it, inside the event loop.
Only the async API reaches it.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from contextlib import suppress
from pathlib import Path
from typing import Any, Literal, get_args

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "true"  # no price map download at import

import litellm
from litellm import ModelResponse
from litellm.integrations.generic_api.generic_api_callback import GenericAPILogger
from litellm.types.utils import CompletionTokensDetailsWrapper, PromptTokensDetailsWrapper, Usage

ASKED = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}]
GATEWAY_KEY = {
    "user_api_key_hash": "hash-of-key-1",
    "user_api_key_alias": "gateway-key",
    "user_api_key_team_alias": "search-team",
    "user_api_key_user_id": "key-owner",
    "user_api_key_user_email": "owner@example.com",
}


def cached_answer() -> ModelResponse:
    """A response whose usage has cache reads and writes and reasoning tokens."""
    usage = Usage(
        prompt_tokens=1200,
        completion_tokens=300,
        total_tokens=1500,
        prompt_tokens_details=PromptTokensDetailsWrapper(cached_tokens=1000),
        completion_tokens_details=CompletionTokensDetailsWrapper(reasoning_tokens=200),
        cache_creation_input_tokens=50,
        cache_read_input_tokens=1000,
    )
    choice = {
        "index": 0,
        "finish_reason": "stop",
        "message": {"role": "assistant", "content": "ok"},
    }
    return ModelResponse(model="gpt-4o-mini", choices=[choice], usage=usage)


CALLS: list[dict[str, Any]] = [
    # An end user, request tags, the requester's metadata and the gateway key's owner.
    {
        "mock_response": "hello there",
        "metadata": {
            **GATEWAY_KEY,
            "tags": ["User-Agent:claude-cli/1.0", "feature:summarize"],
            "user_api_key_end_user_id": "end-user-1",
            "requester_metadata": {"environment": "prod", "attempt": 2, "nested": {"x": 1}},
        },
    },
    # No end user: the key's user is the user.
    {"mock_response": "second answer", "metadata": GATEWAY_KEY, "litellm_session_id": "chat-9"},
    {"mock_response": cached_answer(), "metadata": {"user_api_key_end_user_id": "end-user-2"}},
    {
        "mock_response": "a streamed answer",
        "stream": True,
        "stream_options": {"include_usage": True},
    },
    {
        "mock_response": "litellm.RateLimitError",
        "metadata": {"user_api_key_end_user_id": "end-user-1"},
    },
    {"mock_response": Exception("the provider failed")},
    # A model LiteLLM has no price for: its cost is unknown, not 0.
    {"model": "anthropic/claude-3-5-haiku-20241022", "mock_response": "hola"},
]


async def complete(call: dict[str, Any]) -> None:
    asked = {"model": "gpt-4o-mini", "messages": ASKED, **call}
    # A failure raises here and is logged as one.
    with suppress(litellm.exceptions.InternalServerError, litellm.exceptions.RateLimitError):
        response = await litellm.acompletion(**asked)
        if asked.get("stream"):
            async for _ in response:
                pass


LogFormat = Literal["json_array", "ndjson", "single"]


async def main(endpoint: str, key: str, log_format: LogFormat, out: Path, resend: bool) -> None:
    litellm.suppress_debug_info = True
    # Sessions in the payload's session_id (else LiteLLM puts them in trace_id, among the ids it
    # makes up per call): docs/integrations.md asks for it.
    litellm.request_correlation_in_logs = True
    logger = GenericAPILogger(
        endpoint=endpoint, headers={"Authorization": f"Bearer {key}"}, log_format=log_format
    )
    litellm.callbacks = [logger]
    for call in CALLS:
        await complete(call)
    for _ in range(100):  # LiteLLM logs a call just after it returns
        if len(logger.log_queue) >= len(CALLS):
            break
        await asyncio.sleep(0.05)
    queued = list(logger.log_queue)
    await asyncio.to_thread(out.write_text, json.dumps(queued, default=str))
    await logger.flush_queue()
    if resend:
        logger.log_queue.extend(queued)
        await logger.flush_queue()


if __name__ == "__main__":
    endpoint, key, log_format, out = sys.argv[1:5]
    formats: tuple[LogFormat, ...] = get_args(LogFormat)
    (chosen,) = [known for known in formats if known == log_format]
    asyncio.run(main(endpoint, key, chosen, Path(out), "--resend" in sys.argv[5:]))
