"""The fixed vocabulary the demo draws from: apps, models, people, topics."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A model as the demo uses it: who serves it and how it behaves."""

    name: str
    provider: str
    ttft_ms: float  # median time to first token
    ms_per_token: float  # median generation time per output token
    reasoning: bool = False  # spends part of its output on reasoning tokens
    quality: float = 0.85  # chance that a rating of it is a thumbs up


M = ModelSpec
MODELS: dict[str, ModelSpec] = {
    m.name: m
    for m in (
        M("gpt-5", "openai", 900, 14, reasoning=True, quality=0.91),
        M("gpt-5-mini", "openai", 600, 9, reasoning=True, quality=0.86),
        M("gpt-5-nano", "openai", 400, 6, reasoning=True, quality=0.78),
        M("gpt-4.1", "openai", 500, 12, quality=0.87),
        M("gpt-4.1-mini", "openai", 350, 8, quality=0.83),
        M("gpt-4.1-nano", "openai", 250, 5, quality=0.74),
        M("gpt-4o", "openai", 450, 13, quality=0.86),
        M("gpt-4o-mini", "openai", 300, 7, quality=0.80),
        M("o3", "openai", 1500, 16, reasoning=True, quality=0.90),
        M("o4-mini", "openai", 1100, 10, reasoning=True, quality=0.86),
        M("claude-opus-4-1-20250805", "anthropic", 1200, 25, quality=0.93),
        M("claude-sonnet-4-5-20250929", "anthropic", 700, 14, quality=0.92),
        M("claude-sonnet-4-20250514", "anthropic", 650, 14, quality=0.90),
        M("claude-3-7-sonnet-20250219", "anthropic", 650, 15, quality=0.87),
        M("claude-haiku-4-5-20251001", "anthropic", 350, 7, quality=0.84),
        M("claude-3-5-haiku-20241022", "anthropic", 350, 8, quality=0.79),
        M("gemini-2.5-pro", "google", 1000, 11, reasoning=True, quality=0.89),
        M("gemini-2.5-flash", "google", 400, 5, quality=0.84),
        M("gemini-2.5-flash-lite", "google", 250, 4, quality=0.77),
        M("gemini-2.0-flash", "google", 300, 5, quality=0.78),
        M("mistral-large-latest", "mistral", 500, 13, quality=0.82),
        M("mistral-small-latest", "mistral", 250, 6, quality=0.74),
        M("deepseek-chat", "deepseek", 800, 18, quality=0.83),
        M("deepseek-reasoner", "deepseek", 2500, 20, reasoning=True, quality=0.86),
        M("grok-3", "xai", 600, 14, quality=0.84),
        M("grok-3-mini", "xai", 400, 8, reasoning=True, quality=0.79),
        M("command-r-plus", "cohere", 500, 14, quality=0.78),
        # Self-hosted models have no list price: the demo shows them as unpriced requests.
        M("llama-3.3-70b-instruct", "vllm", 450, 16, quality=0.80),
        M("qwen2.5-coder-32b-instruct", "vllm", 400, 14, quality=0.81),
        M("mixtral-8x7b-instruct", "ollama", 350, 20, quality=0.72),
    )
}


@dataclass(frozen=True, slots=True)
class AppSpec:
    """A demo tenant: the models it prefers (most used first) and how it is used."""

    id: str
    models: tuple[str, ...]
    sources: tuple[str, ...]
    user_agents: tuple[str, ...]
    features: tuple[str, ...]
    chat_tags: tuple[str, ...]
    topics: tuple[str, ...]
    system_prompt_tokens: int
    output_median: int
    turns_mean: float


APPS: tuple[AppSpec, ...] = (
    AppSpec(
        id="support-bot",
        models=(
            "gpt-4o-mini",
            "claude-haiku-4-5-20251001",
            "gemini-2.5-flash",
            "gpt-4.1-mini",
            "claude-3-5-haiku-20241022",
            "mistral-small-latest",
            "gpt-5-nano",
            "mixtral-8x7b-instruct",
        ),
        sources=("widget", "chat", "slack"),
        user_agents=(
            "User-Agent:Mozilla/5.0 (Macintosh) Safari/17.4",
            "User-Agent:Mozilla/5.0 (Windows NT 10.0) Chrome/130.0",
            "User-Agent:Mozilla/5.0 (iPhone) Mobile Safari/17.4",
            "User-Agent:slack-bot/2.3.1",
        ),
        features=("answer", "escalate", "summarize"),
        chat_tags=("billing", "login", "refund", "bug", "how-to", "account", "shipping"),
        topics=(
            "I was charged twice this month",
            "How do I reset my password?",
            "Where is my order?",
            "Can I change my plan to annual billing?",
            "The export button does nothing",
            "How do I add a teammate?",
        ),
        system_prompt_tokens=900,
        output_median=180,
        turns_mean=3.0,
    ),
    AppSpec(
        id="code-assistant",
        models=(
            "claude-sonnet-4-5-20250929",
            "gpt-5",
            "claude-sonnet-4-20250514",
            "gpt-4.1",
            "o4-mini",
            "deepseek-chat",
            "qwen2.5-coder-32b-instruct",
            "claude-opus-4-1-20250805",
            "gemini-2.5-pro",
            "o3",
            "deepseek-reasoner",
            "claude-3-7-sonnet-20250219",
        ),
        sources=("api", "cli", "ide"),
        user_agents=(
            "User-Agent:claude-cli/1.0.83 (external, cli)",
            "User-Agent:claude-cli/1.0.71 (external, cli)",
            "User-Agent:cursor/1.4.2",
            "User-Agent:vscode-copilot-chat/0.31.0",
            "User-Agent:codex-cli/0.20.0",
            "User-Agent:python-requests/2.32.3",
        ),
        features=("complete", "explain", "refactor", "review", "test"),
        chat_tags=("python", "typescript", "rust", "sql", "debugging", "refactor", "tests"),
        topics=(
            "Why does this async function never return?",
            "Refactor this class to use dependency injection",
            "Write tests for the parser module",
            "Explain this SQL query plan",
            "Convert this script to TypeScript",
            "Find the memory leak in this loop",
        ),
        system_prompt_tokens=3500,
        output_median=520,
        turns_mean=5.0,
    ),
    AppSpec(
        id="docs-search",
        models=(
            "gemini-2.5-flash",
            "gpt-4.1-mini",
            "gemini-2.5-flash-lite",
            "mistral-large-latest",
            "gpt-4o",
            "command-r-plus",
            "gemini-2.0-flash",
            "llama-3.3-70b-instruct",
        ),
        sources=("widget", "api"),
        user_agents=(
            "User-Agent:Mozilla/5.0 (X11; Linux x86_64) Firefox/131.0",
            "User-Agent:Mozilla/5.0 (Macintosh) Chrome/130.0",
            "User-Agent:docs-sdk-js/3.2.0",
        ),
        features=("search", "answer", "cite"),
        chat_tags=("api", "quickstart", "auth", "webhooks", "pricing", "limits"),
        topics=(
            "How do I paginate the list endpoint?",
            "What are the rate limits for the free tier?",
            "Show me a webhook signature check in Go",
            "Which regions are supported?",
            "How do I rotate API keys?",
        ),
        system_prompt_tokens=2200,
        output_median=260,
        turns_mean=2.0,
    ),
    AppSpec(
        id="sales-agent",
        models=(
            "gpt-4o",
            "claude-sonnet-4-20250514",
            "gpt-5-mini",
            "grok-3",
            "gemini-2.5-pro",
            "grok-3-mini",
        ),
        sources=("task", "slack", "email"),
        user_agents=("User-Agent:agent-runner/0.9.4", "User-Agent:slack-bot/2.3.1"),
        features=("draft-email", "research", "crm-update", "summarize"),
        chat_tags=("outbound", "renewal", "enterprise", "follow-up", "research"),
        topics=(
            "Draft a follow-up email to Acme after the demo",
            "Research the prospect's tech stack",
            "Summarize this call transcript",
            "Update the CRM with the meeting notes",
        ),
        system_prompt_tokens=1600,
        output_median=420,
        turns_mean=2.5,
    ),
)

FIRST_NAMES = (
    "Ada", "Alan", "Amara", "Ana", "Arjun", "Bea", "Carlos", "Chen", "Dara", "Diego", "Elif",
    "Emma", "Farah", "Felix", "Grace", "Hana", "Ibrahim", "Ines", "Jonas", "Julia", "Kai", "Kenji",
    "Lara", "Leo", "Lina", "Luca", "Maya", "Mei", "Mohammed", "Nia", "Noah", "Olga", "Omar",
    "Priya", "Rafael", "Rosa", "Sami", "Sofia", "Tariq", "Theo", "Uma", "Vera", "Wei", "Yara",
    "Yusuf", "Zoe",
)  # fmt: skip
LAST_NAMES = (
    "Abe", "Adeyemi", "Bauer", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad",
    "Ivanova", "Jensen", "Kim", "Kowalski", "Larsen", "Lopez", "Müller", "Nakamura", "Novak",
    "Okafor", "Park", "Patel", "Quinn", "Rossi", "Santos", "Schmidt", "Singh", "Tanaka", "Torres",
    "Usman", "Varga", "Wang", "Weber", "Xu", "Yilmaz", "Zhang",
)  # fmt: skip
TEAMS = ("platform", "growth", "support", "data", "mobile", "sales", "research")
PLANS = ("free", "free", "free", "pro", "pro", "enterprise")
TIME_ZONES = (
    "America/New_York",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Europe/London",
    "Europe/Berlin",
    "Asia/Kolkata",
    "Asia/Tokyo",
    "Australia/Sydney",
)
ERRORS = (("rate_limit", 50), ("timeout", 25), ("server_error", 15), ("context_length", 10))
# Relative activity by local hour of day (0-23): quiet nights, a morning peak, a dip at lunch.
HOUR_WEIGHTS = (
    2, 1, 1, 1, 1, 2, 4, 8, 14, 18, 19, 17, 13, 15, 18, 18, 16, 13, 10, 8, 7, 6, 4, 3,
)  # fmt: skip
# Relative activity Monday..Sunday.
WEEKDAY_WEIGHTS = (1.0, 1.05, 1.05, 1.0, 0.9, 0.45, 0.4)
ANSWERS = (
    "Here is what I found: ",
    "Sure. The short answer is: ",
    "Good question. Step by step: ",
    "I checked the details. ",
)
