"""A seeded generator of usage records (events.md JSON) with the shape of real traffic.

Popularity of models and users follows a Zipf-like law; activity follows the hour of day in each
user's own time zone and the day of the week; volume grows over the period. Chats hold alternating
user and assistant messages whose prompts grow with the conversation, with cache reads on later
turns, reasoning tokens for reasoning models, errors, latency, tags, metadata and feedback.
Requests carry the usage object of their provider's API (OpenAI's or Anthropic's shape, or
usageql's own names), so the demo exercises the same parsing, normalisation and pricing as real
traffic. The same options and seed always give the same records.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate
from typing import Any
from zoneinfo import ZoneInfo

from usageql.demo.data import (
    ANSWERS,
    APPS,
    ERRORS,
    FIRST_NAMES,
    HOUR_WEIGHTS,
    LAST_NAMES,
    MODELS,
    PLANS,
    TEAMS,
    TIME_ZONES,
    WEEKDAY_WEIGHTS,
    AppSpec,
    ModelSpec,
)
from usageql.demo.options import DemoOptions
from usageql.ingest.records import Usage, UserRef

__all__ = ["DemoGenerator", "DemoOptions"]  # the options live apart (see options.py)

CACHING_PROVIDERS = {"openai", "anthropic", "google", "deepseek", "xai"}
Record = dict[str, Any]


@dataclass(frozen=True, slots=True)
class _Person:
    ref: UserRef
    app: AppSpec
    zone: ZoneInfo
    user_agent: str
    team: str
    plan: str


@dataclass(frozen=True, slots=True)
class _Reply:
    usage: Usage
    status: str
    error_type: str | None
    latency_ms: float
    ttft_ms: float | None


def _zipf(n: int, exponent: float) -> list[float]:
    """Cumulative weights of ranks 1..n under a Zipf law."""
    return list(accumulate(1 / (rank**exponent) for rank in range(1, n + 1)))


def _apps(count: int) -> list[AppSpec]:
    """The first `count` demo apps; past the built-in ones, numbered variants of them."""
    specs = list(APPS[:count])
    for n in range(len(APPS), count):
        base = APPS[n % len(APPS)]
        specs.append(
            AppSpec(**{**{f: getattr(base, f) for f in base.__slots__}, "id": f"{base.id}-{n}"})
        )
    return specs


class DemoGenerator:
    """Yields batches of records until about `options.messages` messages were made."""

    def __init__(self, options: DemoOptions, *, batch_size: int = 2000) -> None:
        options.validate()
        self.options = options
        self.batch_size = batch_size
        self.rng = random.Random(options.seed)  # noqa: S311 (a seeded simulation, not secrets)
        self.end = options.end or datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        self.start = self.end - timedelta(days=options.days)
        self.apps = _apps(options.apps)
        self.people = self._make_people()
        self.people_by_app = {
            app.id: [p for p in self.people if p.app.id == app.id] for app in self.apps
        }
        self.person_weights = {
            app_id: _zipf(len(people), 0.9) for app_id, people in self.people_by_app.items()
        }
        self.app_weights = list(accumulate(1 / (i + 1) ** 0.6 for i in range(len(self.apps))))
        self.model_weights = {app.id: _zipf(len(app.models), 1.1) for app in self.apps}
        self.day_weights = self._day_weights()
        self.hour_weights = list(accumulate(HOUR_WEIGHTS))
        self.error_weights = list(accumulate(w for _, w in ERRORS))

    def _make_people(self) -> list[_Person]:
        rng, people = self.rng, []
        for n in range(self.options.users):
            app = self.apps[n % len(self.apps)]
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            email = f"{first}.{last}{n}@example.com".lower().replace("ü", "ue")
            ref = UserRef(id=f"user-{n:05d}", name=f"{first} {last}", email=email)
            people.append(
                _Person(
                    ref=ref,
                    app=app,
                    zone=ZoneInfo(rng.choice(TIME_ZONES)),
                    user_agent=rng.choice(app.user_agents),
                    team=rng.choice(TEAMS),
                    plan=rng.choice(PLANS),
                )
            )
        return people

    def _day_weights(self) -> list[float]:
        days = self.options.days
        first = self.start.date()
        weights = []
        for offset in range(days + 1):
            day = first + timedelta(days=offset)
            growth = 1 + 0.8 * offset / days
            weights.append(
                WEEKDAY_WEIGHTS[day.weekday()] * growth * self.rng.lognormvariate(0, 0.12)
            )
        return list(accumulate(weights))

    def batches(self) -> Iterator[tuple[list[Record], int]]:
        """All records, in batches of about `batch_size` messages: (records, messages in them)."""
        batch: list[Record] = []
        made = in_batch = chat_number = 0
        while made < self.options.messages:
            chat_number += 1
            count = self._chat(chat_number, batch, self.options.messages - made)
            made += count
            in_batch += count
            if in_batch >= self.batch_size:
                yield batch, in_batch
                batch, in_batch = [], 0
        if batch:
            yield batch, in_batch

    def _when(self, person: _Person) -> datetime | None:
        rng = self.rng
        day: date = self.start.date() + timedelta(
            days=rng.choices(range(len(self.day_weights)), cum_weights=self.day_weights)[0]
        )
        hour = rng.choices(range(24), cum_weights=self.hour_weights)[0]
        local = datetime(day.year, day.month, day.day, hour, tzinfo=person.zone)
        moment = (local + timedelta(seconds=rng.randrange(3600))).astimezone(UTC)
        return moment if self.start <= moment < self.end else None

    def _chat(self, number: int, batch: list[Record], budget: int) -> int:
        rng, seed = self.rng, self.options.seed
        app = self.apps[rng.choices(range(len(self.apps)), cum_weights=self.app_weights)[0]]
        people = self.people_by_app[app.id]
        person = rng.choices(people, cum_weights=self.person_weights[app.id])[0]
        anonymous = app.id == "support-bot" and rng.random() < 0.08
        started = self._when(person)
        if started is None:
            return 0
        chat_id = f"demo-{seed}-chat-{number}"
        topic = rng.choice(app.topics)
        model = MODELS[
            app.models[
                rng.choices(range(len(app.models)), cum_weights=self.model_weights[app.id])[0]
            ]
        ]
        turns = min(
            1 + int(rng.expovariate(1 / max(app.turns_mean - 1, 0.1))), 25, (budget + 1) // 2
        )
        if rng.random() < 0.9:
            tags = sorted(rng.sample(app.chat_tags, rng.randint(0, 3)))
            batch.append(
                {
                    "type": "chat",
                    "id": chat_id,
                    "timestamp": started.isoformat(),
                    "app": app.id,
                    "title": topic,
                    "tags": tags,
                }
            )
        ref = None if anonymous else person.ref
        user = None if ref is None else {"id": ref.id, "name": ref.name, "email": ref.email}
        source = rng.choice(app.sources)
        metadata: dict[str, str | int | float | bool] = {
            "team": person.team,
            "plan": person.plan,
            "environment": "production" if rng.random() < 0.95 else "staging",
            "feature": rng.choice(app.features),
            "prompt_version": rng.choice((3, 4, 4, 5)),
            "streamed": rng.random() < 0.7,
        }
        at, history, made = started, app.system_prompt_tokens, 0
        for turn in range(turns):
            if at >= self.end:
                break
            if turn and rng.random() < 0.1:
                model = MODELS[rng.choice(app.models)]
            question = topic if turn == 0 else f"Follow-up {turn}: {rng.choice(app.topics).lower()}"
            common = {"app": app.id, "chat_id": chat_id, "user": user, "source": source}
            batch.append(
                {
                    "id": f"demo-{seed}-msg-{number}-{turn}-u",
                    "timestamp": at.isoformat(),
                    "role": "user",
                    "content": question,
                    "tags": [person.user_agent],
                    "metadata": metadata,
                    **common,
                }
            )
            history += 20 + int(rng.lognormvariate(math.log(60), 0.8))
            reply = self._reply(app, model, history, turn)
            answer_at = at + timedelta(milliseconds=reply.latency_ms)
            message_id = f"demo-{seed}-msg-{number}-{turn}-a"
            answer: Record = {
                "id": message_id,
                "timestamp": answer_at.isoformat(),
                "role": "assistant",
                "model": model.name,
                "provider": model.provider,
                "api_key": f"{app.id}-{metadata['environment']}",
                "tags": [person.user_agent, f"feature:{metadata['feature']}"],
                "metadata": metadata,
                "content": rng.choice(ANSWERS) + question.lower(),
                "status": reply.status,
                "usage": provider_usage(model.provider, reply.usage),
                "latency_ms": reply.latency_ms,
                **common,
            }
            if reply.error_type is not None:
                answer["error_type"] = reply.error_type
            if reply.ttft_ms is not None:
                answer["ttft_ms"] = reply.ttft_ms
            batch.append(answer)
            made += 2
            if reply.status == "success":
                history += reply.usage.output
                if ref is not None and rng.random() < 0.06:
                    batch.append(
                        self._rating(
                            message_id=message_id,
                            model=model,
                            app=app,
                            chat_id=chat_id,
                            user=ref,
                            at=answer_at,
                        )
                    )
            at = answer_at + timedelta(seconds=rng.lognormvariate(math.log(90), 1.0))
        return made

    def _reply(self, app: AppSpec, model: ModelSpec, prompt: int, turn: int) -> _Reply:
        rng = self.rng
        output = max(1, int(rng.lognormvariate(math.log(app.output_median), 0.7)))
        reasoning = int(output * rng.uniform(0.3, 0.7)) if model.reasoning else 0
        output += reasoning
        caches = model.provider in CACHING_PROVIDERS
        cache_read = int(prompt * rng.uniform(0.6, 0.9)) if caches and turn > 0 else 0
        cache_write = app.system_prompt_tokens if model.provider == "anthropic" and turn == 0 else 0
        ttft = rng.lognormvariate(math.log(model.ttft_ms), 0.35)
        failed = rng.random() < 0.025
        if failed:
            error = ERRORS[rng.choices(range(len(ERRORS)), cum_weights=self.error_weights)[0]][0]
            latency = 30_000.0 if error == "timeout" else rng.uniform(80, 600)
            usage, status, ttft_ms = Usage(input=prompt), "error", None
        else:
            latency = ttft + output * rng.lognormvariate(math.log(model.ms_per_token), 0.25)
            usage = Usage(
                input=prompt,
                output=output,
                cache_read=cache_read,
                cache_write=cache_write,
                reasoning=reasoning,
            )
            error, status, ttft_ms = None, "success", round(ttft, 1)
        return _Reply(
            usage=usage,
            status=status,
            error_type=error,
            latency_ms=round(latency, 1),
            ttft_ms=ttft_ms,
        )

    def _rating(
        self,
        *,
        message_id: str,
        model: ModelSpec,
        app: AppSpec,
        chat_id: str,
        user: UserRef,
        at: datetime,
    ) -> Record:
        rng = self.rng
        positive = rng.random() < model.quality
        comment = None
        if rng.random() < 0.3:
            comment = "Exactly what I needed" if positive else "Wrong answer, had to redo it"
        rating: Record = {
            "type": "feedback",
            "id": f"{message_id}-rating",
            "timestamp": (at + timedelta(seconds=rng.uniform(5, 300))).isoformat(),
            "rating": "up" if positive else "down",
            "app": app.id,
            "user": user.id,
            "message_id": message_id,
            "chat_id": chat_id,
        }
        if rng.random() < 0.5:  # the rest leave the model to be found from message_id
            rating["model"] = model.name
        if comment is not None:
            rating["comment"] = comment
        return rating


def provider_usage(provider: str, usage: Usage) -> dict[str, Any]:
    """`usage` as the provider's API reports it, or in usageql's own names."""
    if provider == "openai":
        return {
            "prompt_tokens": usage.input,
            "completion_tokens": usage.output,
            "total_tokens": usage.total,
            "prompt_tokens_details": {"cached_tokens": usage.cache_read},
            "completion_tokens_details": {"reasoning_tokens": usage.reasoning},
        }
    if provider == "anthropic":
        return {
            "input_tokens": usage.input - usage.cache_read - usage.cache_write,
            "output_tokens": usage.output,
            "cache_read_input_tokens": usage.cache_read,
            "cache_creation_input_tokens": usage.cache_write,
        }
    return {
        "input_tokens": usage.input,
        "output_tokens": usage.output,
        "cache_read_tokens": usage.cache_read,
        "cache_write_tokens": usage.cache_write,
        "reasoning_tokens": usage.reasoning,
    }
