"""Arguments shared by the analytics fields: filters, orderings, enums, and their checks."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import strawberry

from usageql.graphql.ingest import RequestStatus
from usageql.ingest.parse import (
    MAX_ID,
    MAX_METADATA_KEY,
    MAX_METADATA_KEYS,
    MAX_METADATA_VALUE,
    MAX_TAG,
    NUL_PROBLEM,
)
from usageql.query import model
from usageql.query.catalog import METRICS
from usageql.query.time import check_instant

MAX_LIMIT = 1000
MAX_VALUES = 1000  # values in one filter list (ids, models, tags, a metadata key's values)
MAX_TEXT = MAX_ID  # characters of an id, model, user, chat... (none stored is longer)


# The query model's own enums, exposed to GraphQL as they are.
Granularity = model.Granularity
Dimension = model.Dimension
strawberry.enum(
    Granularity, description="Calendar buckets in the requested time zone (weeks are ISO weeks)."
)
strawberry.enum(Dimension, description="What events can be broken down by.")


# The orderable metrics of the registry, named as the query model names them (mypy cannot list
# members made at run time).
Metric = enum.Enum(  # type: ignore[misc]
    "Metric", [(metric.name, metric.value) for metric, d in METRICS.items() if d.orderable]
)
strawberry.enum(Metric, description="Metrics rows can be ordered by.")


@strawberry.enum(description="Sort direction.")
class SortDirection(enum.Enum):
    ASC = "asc"
    DESC = "desc"


@strawberry.input(
    description="Order rows by a metric; ties are broken by the row's key, ascending."
)
class MetricOrder:
    metric: Metric = strawberry.field(description="The metric to order by.")
    direction: SortDirection = strawberry.field(
        default=SortDirection.DESC, description="DESC (default): largest first."
    )


@strawberry.input(description="Events whose metadata `key` has one of `values` (as text).")
class MetadataMatch:
    key: str = strawberry.field(description="The metadata key.")
    values: list[str] = strawberry.field(description="Any of these values matches.")


@strawberry.input(
    description="Which events count. Every field is optional; lists match any of their values; "
    "all fields given must hold."
)
class UsageFilter:
    from_: datetime | None = strawberry.field(
        default=None, name="from", description="Inclusive start (ISO 8601 with offset)."
    )
    to: datetime | None = strawberry.field(default=None, description="Exclusive end.")
    apps: list[str] | None = strawberry.field(default=None, description="App ids.")
    models: list[str] | None = strawberry.field(default=None, description="Models.")
    providers: list[str] | None = strawberry.field(default=None, description="Providers.")
    users: list[str] | None = strawberry.field(default=None, description="User ids.")
    chats: list[str] | None = strawberry.field(default=None, description="Chat ids.")
    api_keys: list[str] | None = strawberry.field(default=None, description="Gateway key ids.")
    sources: list[str] | None = strawberry.field(default=None, description="Sources.")
    producers: list[str] | None = strawberry.field(
        default=None,
        description="Producers: the path an event came by (api, import, litellm, otlp, demo).",
    )
    tags: list[str] | None = strawberry.field(
        default=None, description="Events carrying any of these tags."
    )
    tag_contains: str | None = strawberry.field(
        default=None, description="Case-insensitive substring of one of an event's tags."
    )
    status: RequestStatus | None = strawberry.field(default=None, description="Request status.")
    metadata: list[MetadataMatch] | None = strawberry.field(
        default=None, description="Metadata matches; all must hold."
    )


class ArgumentError(ValueError):
    """An argument a client sent cannot be used; the message names it."""


def to_filter(value: UsageFilter | None, argument: str = "filter") -> model.Filter | None:
    """The query model's Filter for a `UsageFilter` argument (None when absent)."""
    if value is None:
        return None
    _check_texts(value, argument)
    for name, moment in (("from", value.from_), ("to", value.to)):
        if moment is not None and moment.tzinfo is None:
            raise ArgumentError(f"{argument}.{name}: needs a UTC offset, e.g. Z or +02:00")
        if moment is not None:
            check_instant(f"{argument}.{name}", moment)
    if value.from_ is not None and value.to is not None and value.from_ > value.to:
        raise ArgumentError(
            f"{argument}: from ({value.from_.isoformat()}) is after to ({value.to.isoformat()})"
        )
    lists = {
        model.Dimension.APP: value.apps,
        model.Dimension.MODEL: value.models,
        model.Dimension.PROVIDER: value.providers,
        model.Dimension.USER: value.users,
        model.Dimension.CHAT: value.chats,
        model.Dimension.API_KEY: value.api_keys,
        model.Dimension.SOURCE: value.sources,
        model.Dimension.PRODUCER: value.producers,
        model.Dimension.TAG: value.tags,
        model.Dimension.STATUS: None if value.status is None else [value.status.value],
    }
    metadata = [(match.key, tuple(match.values)) for match in value.metadata or []]
    return model.Filter(
        start=value.from_,
        end=value.to,
        values=tuple(
            (dimension, tuple(dict.fromkeys(values)))
            for dimension, values in sorted(lists.items(), key=lambda item: item[0].value)
            if values is not None
        ),
        tag_contains=() if not value.tag_contains else (value.tag_contains,),
        metadata=tuple(sorted(metadata)),
    )


def _check_texts(value: UsageFilter, argument: str) -> None:
    """Refuse values no stored event can have, and lists longer than MAX_VALUES, before any of
    them reaches SQL: each is as long as ingestion lets that field be, at most."""
    for name, (attribute, noun) in _LISTS.items():
        values: list[str] = getattr(value, attribute) or []
        _check_list(f"{argument}.{name}", values, MAX_VALUES)
        most = MAX_TAG if name == "tags" else MAX_TEXT
        for position, text in enumerate(values):
            _check_text(f"{argument}.{name}[{position}]", text, most, noun)
    if value.tag_contains is not None:
        path = f"{argument}.tagContains"
        _check_text(path, value.tag_contains, MAX_TAG, "tags", ", so no tag contains it")
    matches = value.metadata or []
    _check_list(f"{argument}.metadata", matches, MAX_METADATA_KEYS)
    for number, match in enumerate(matches):
        path = f"{argument}.metadata[{number}]"
        if not match.key:
            raise ArgumentError(
                f"{path}.key: empty; metadata keys are 1 to {MAX_METADATA_KEY} characters"
            )
        _check_text(f"{path}.key", match.key, MAX_METADATA_KEY, "metadata keys")
        _check_list(f"{path}.values", match.values, MAX_VALUES)
        for position, text in enumerate(match.values):
            _check_text(f"{path}.values[{position}]", text, MAX_METADATA_VALUE, "metadata values")


# Every list of texts a filter has: its GraphQL name, its attribute, what its values are.
_LISTS = {
    "apps": ("apps", "app ids"), "models": ("models", "model names"),
    "providers": ("providers", "provider names"), "users": ("users", "user ids"),
    "chats": ("chats", "chat ids"), "apiKeys": ("api_keys", "API key ids"),
    "sources": ("sources", "source names"), "producers": ("producers", "producer names"),
    "tags": ("tags", "tags"),
}  # fmt: skip


def _check_list(path: str, values: list[Any], most: int) -> None:
    if len(values) > most:
        raise ArgumentError(f"{path}: {len(values):,} values; at most {most:,} are accepted")


def _check_text(path: str, text: str, most: int, noun: str, consequence: str = "") -> None:
    if len(text) > most:
        raise ArgumentError(
            f"{path}: {len(text):,} characters; {noun} are at most {most:,} characters"
            + consequence
        )
    if "\x00" in text:
        raise ArgumentError(f"{path}: {NUL_PROBLEM}")


def to_order(value: MetricOrder | None, default: model.Metric) -> model.Order:
    """The ordering a list asks for, or its default (largest first)."""
    if value is None:
        return model.Order(default)
    return model.Order(model.Metric(value.metric.value), value.direction is SortDirection.DESC)


def checked_limit(value: int, argument: str = "limit") -> int:
    """`value` when it is 1 to MAX_LIMIT, else an error naming the argument."""
    if not 1 <= value <= MAX_LIMIT:
        raise ArgumentError(f"{argument}: must be between 1 and {MAX_LIMIT}, got {value}")
    return value
