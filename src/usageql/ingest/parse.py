"""Validation and normalisation of records (events.md), shared by every ingestion path.

Pure: no I/O. `parse_record` turns one decoded JSON value into a `Message`, `Feedback` or `Chat`,
or raises `RecordError` naming the field and the problem. Nothing is coerced silently: a string
where a number belongs, a negative token count or an unknown field is an error, not a zero.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec
import orjson
from msgspec import Meta

from usageql.ingest.bounds import MAX_COST, MAX_LATENCY_MS, MAX_METADATA_NUMBER, MAX_TOKENS
from usageql.ingest.records import DEFAULT_APP, Chat, Feedback, Message, Usage, UserRef
from usageql.ingest.shapes import TOTAL, Shape, mistaken_key, shape_of

MAX_ID = 200
MAX_NAME = 200
MAX_TAGS = 100
MAX_TAG = 200
MAX_METADATA_KEYS = 50
MAX_METADATA_KEY = 64
MAX_METADATA_VALUE = 1000
MAX_TITLE = 500
MAX_COMMENT = 5000
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=1)
APP_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/-]{0,99}")
ROLES = ("user", "assistant", "system", "tool")
STATUSES = ("success", "error")
RATINGS: dict[object, int] = {1: 1, -1: -1, "up": 1, "down": -1}
# (bound, how a rejection names it) of the numbers that have one beyond being 0 or more.
LATENCY_BOUND = (
    MAX_LATENCY_MS,
    f"{MAX_LATENCY_MS:,} (7 days), the most milliseconds one request may take",
)
COST_BOUND = (MAX_COST, f"{MAX_COST:,} USD, the most one request may cost")
TOKENS_BOUND = f"{MAX_TOKENS:,}, the most tokens one request may report"
TOTAL_BOUND = f"{2 * MAX_TOKENS:,}, the most input plus output tokens one request may report"

MESSAGE_FIELDS = frozenset(
    {
        "type", "id", "timestamp", "app", "role", "chat_id", "user", "model", "provider", "source",
        "api_key", "status", "error_type", "usage", "cost", "latency_ms", "ttft_ms", "tags",
        "metadata", "content",
    }
)  # fmt: skip
FEEDBACK_FIELDS = frozenset(
    {
        "type",
        "id",
        "timestamp",
        "app",
        "user",
        "message_id",
        "chat_id",
        "model",
        "rating",
        "comment",
    }
)
CHAT_FIELDS = frozenset({"type", "id", "timestamp", "app", "title", "tags"})
USER_FIELDS = frozenset({"id", "name", "email"})

Record = Message | Feedback | Chat


class RecordError(ValueError):
    """One record is invalid: `field` names where, `problem` says what is wrong."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}" if field else problem)
        self.field = field
        self.problem = problem


@dataclass(frozen=True, slots=True)
class ParseOptions:
    """What parsing depends on besides the record."""

    preview_chars: int = 200
    now: datetime | None = None  # default: the current time, to reject future timestamps
    default_app: str = DEFAULT_APP  # for records without `app` (a key bound to one app: that app)
    producer: str | None = None  # the receiver the records came through (Message.producer)


def parse_record(raw: object, options: ParseOptions) -> Record:
    """Validate and normalise one decoded record."""
    if not isinstance(raw, Mapping):
        raise RecordError("", f"a record must be a JSON object, got {_kind(raw)}")
    where = nul_path(raw)
    if where is not None:
        raise RecordError(where, NUL_PROBLEM)
    kind = raw.get("type")
    if kind is None:  # null means absent here as everywhere
        kind = "message"
    if kind == "message":
        return _message(raw, options)
    if kind == "feedback":
        return _feedback(raw, options)
    if kind == "chat":
        return _chat(raw, options)
    raise RecordError("type", f"expected message, feedback or chat, got {_show(kind)}")


NUL_PROBLEM = "contains a NUL character (\\u0000), which PostgreSQL cannot store"


def nul_path(value: object, path: str = "") -> str | None:
    """Where in a decoded value a string (or key) holds a NUL character, if anywhere."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, Mapping):
        for key, item in value.items():
            inner = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and "\x00" in key:
                return path or "(a key)"
            found = nul_path(item, inner)
            if found is not None:
                return found
    elif isinstance(value, list):
        for position, item in enumerate(value):
            found = nul_path(item, f"{path}[{position}]")
            if found is not None:
                return found
    return None


def record_id(raw: object) -> str | None:
    """The record's id when it has a usable one, for error reports."""
    if isinstance(raw, Mapping):
        value = raw.get("id")
        if isinstance(value, str) and 0 < len(value) <= MAX_ID:
            return value
    return None


def _message(raw: Mapping[str, Any], options: ParseOptions) -> Message:
    _known(raw, MESSAGE_FIELDS)
    role = _choice(raw, "role", ROLES, default="assistant")
    model = _text(raw, "model", MAX_NAME)
    if model is None and role == "assistant":
        raise RecordError("model", "required for assistant messages (the model that answered)")
    latency = _number(raw, "latency_ms", LATENCY_BOUND)
    ttft = _number(raw, "ttft_ms", LATENCY_BOUND)
    if latency is not None and ttft is not None and ttft > latency:
        raise RecordError("ttft_ms", f"{_num(ttft)} is more than latency_ms {_num(latency)}")
    return Message(
        id=_id(raw, "id"),
        timestamp=_timestamp(raw, options),
        app=_app(raw, options),
        role=role,
        chat_id=_text(raw, "chat_id", MAX_ID),
        user=_user(raw),
        model=model,
        provider=_text(raw, "provider", MAX_NAME),
        source=_text(raw, "source", MAX_NAME),
        api_key=_text(raw, "api_key", MAX_NAME),
        status=_choice(raw, "status", STATUSES, default="success"),
        error_type=_text(raw, "error_type", MAX_NAME),
        usage=parse_usage(raw.get("usage")),
        cost=_cost(raw),
        latency_ms=latency,
        ttft_ms=ttft,
        tags=_tags(raw),
        metadata=_metadata(raw),
        producer=options.producer,
        content_preview=_preview(raw, options.preview_chars),
    )


def _feedback(raw: Mapping[str, Any], options: ParseOptions) -> Feedback:
    _known(raw, FEEDBACK_FIELDS)
    message_id = _text(raw, "message_id", MAX_ID)
    model = _text(raw, "model", MAX_NAME)
    if model is None and message_id is None:
        raise RecordError("model", "required unless message_id names a stored message")
    rating = raw.get("rating")
    if rating is None:
        raise RecordError("rating", "required: 1 or -1 (also 'up' or 'down')")
    if isinstance(rating, bool) or not isinstance(rating, int | str) or rating not in RATINGS:
        raise RecordError("rating", f"expected 1, -1, 'up' or 'down', got {_show(rating)}")
    return Feedback(
        id=_id(raw, "id"),
        timestamp=_timestamp(raw, options),
        model=model,
        rating=RATINGS[rating],
        app=_app(raw, options),
        user=_user(raw),
        message_id=message_id,
        chat_id=_text(raw, "chat_id", MAX_ID),
        comment=_text(raw, "comment", MAX_COMMENT),
    )


def _chat(raw: Mapping[str, Any], options: ParseOptions) -> Chat:
    _known(raw, CHAT_FIELDS)
    return Chat(
        id=_id(raw, "id"),
        timestamp=_timestamp(raw, options),
        app=_app(raw, options),
        title=_text(raw, "title", MAX_TITLE),
        tags=_tags(raw),
    )


# Usage: our names, OpenAI's (chat completions, responses) and Anthropic's (ingest.shapes).


def parse_usage(raw: object) -> Usage:
    """Normalise a usage object to usageql's convention (input includes cache reads and writes;
    output includes reasoning; total = input + output)."""
    if raw is None:
        return Usage()
    if not isinstance(raw, Mapping):
        raise RecordError("usage", f"expected an object of token counts, got {_kind(raw)}")
    shape = shape_of(raw)
    _known_usage_keys(raw, shape)
    usage = _read_usage(raw, shape)
    total = raw.get(TOTAL)
    if total is not None and _tokens(raw, TOTAL, limit=2 * MAX_TOKENS) != usage.total:
        raise RecordError(
            f"usage.{TOTAL}",
            f"{total} is not input + output ({usage.input} + {usage.output} = {usage.total})",
        )
    if usage.cache_read + usage.cache_write > usage.input:
        raise RecordError(
            "usage",
            f"cache reads and writes ({usage.cache_read} + {usage.cache_write}) exceed the input"
            f" tokens ({usage.input}); input tokens include cached ones",
        )
    if usage.reasoning > usage.output:
        raise RecordError(
            "usage",
            f"reasoning tokens ({usage.reasoning}) exceed the output tokens ({usage.output});"
            " output tokens include reasoning",
        )
    return usage


def _known_usage_keys(raw: Mapping[str, Any], shape: Shape) -> None:
    """Reject a key of `raw` (or of a nested object it reads from) that the shape does not know
    and may not pass through; cheap when every key is known."""
    if not raw.keys() <= shape.keys:
        _mistaken(raw, shape.keys, shape.strict, "usage")
    for name, keys in shape.nested.items():
        inner = raw.get(name)
        if isinstance(inner, dict | Mapping) and not inner.keys() <= keys:  # dict: no ABC check
            _mistaken(inner, keys, shape.strict, f"usage.{name}")


def _mistaken(raw: Mapping[str, Any], known: frozenset[str], strict: bool, prefix: str) -> None:
    for key in raw:
        if key not in known:
            problem = mistaken_key(str(key), known, strict=strict)
            if problem is not None:
                raise RecordError(f"{prefix}.{key}", problem)


def _read_usage(raw: Mapping[str, Any], shape: Shape) -> Usage:
    """The counts of a shape: each the sum of its paths, each path and sum within MAX_TOKENS."""
    totals: list[int] = []
    for count, paths in shape.plan:  # every count, in Usage's order
        total = 0
        for key, inner in paths:
            if inner:
                total += _tokens(_details(raw, key), inner, f"usage.{key}")
            else:
                total += _tokens(raw, key)
        if total > MAX_TOKENS:  # only a sum of several paths can be
            added = " + ".join(key for key, _ in paths)
            raise RecordError(
                "usage",
                f"{count.replace('_', ' ')} tokens come to {total:,} ({added}): more than"
                f" {TOKENS_BOUND}",
            )
        totals.append(total)
    return Usage(*totals)


def _details(raw: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = raw.get(name)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise RecordError(f"usage.{name}", f"expected an object, got {_kind(value)}")
    return value


def _tokens(
    raw: Mapping[str, Any], name: str, prefix: str = "usage", limit: int = MAX_TOKENS
) -> int:
    value = raw.get(name)
    if type(value) is int and 0 <= value <= limit:  # the common case, checked cheaply
        return value
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecordError(f"{prefix}.{name}", f"expected a whole number, got {_show(value)}")
    if isinstance(value, float) and not value.is_integer():
        raise RecordError(f"{prefix}.{name}", f"expected a whole number, got {value}")
    if value < 0:
        raise RecordError(f"{prefix}.{name}", f"must not be negative, got {_num(value)}")
    if value > limit:
        bound = TOKENS_BOUND if limit == MAX_TOKENS else TOTAL_BOUND
        raise RecordError(f"{prefix}.{name}", f"{_num(value)} is more than {bound}")
    return int(value)


# Single fields.


def _known(raw: Mapping[str, Any], allowed: frozenset[str]) -> None:
    if raw.keys() <= allowed:
        return
    for key in raw:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise RecordError(str(key), f"unknown field{hint}")


def _id(raw: Mapping[str, Any], name: str) -> str:
    value = raw.get(name)
    if value is None:
        raise RecordError(name, "required")
    text = _as_text(name, value, MAX_ID)
    if not text.strip():
        raise RecordError(name, "must not be blank")
    return text


def _text(raw: Mapping[str, Any], name: str, limit: int) -> str | None:
    value = raw.get(name)
    if value is None:
        return None
    if type(value) is str and len(value) <= limit:  # the common case, checked cheaply
        return value or None
    text = _as_text(name, value, limit)
    return text or None


def _as_text(name: str, value: object, limit: int) -> str:
    if not isinstance(value, str):
        raise RecordError(name, f"expected a string, got {_show(value)}")
    if len(value) > limit:
        raise RecordError(name, f"longer than {limit} characters ({len(value)})")
    return value


def _app(raw: Mapping[str, Any], options: ParseOptions) -> str:
    value = raw.get("app")
    if value is None:
        return options.default_app
    text = _as_text("app", value, 100)
    if not APP_ID.fullmatch(text):
        raise RecordError(
            "app",
            f"{_show(text)} is not an app id (letters, digits and . _ : @ / -, starting with a"
            " letter or digit)",
        )
    return text


def _choice(raw: Mapping[str, Any], name: str, choices: tuple[str, ...], *, default: str) -> str:
    value = raw.get(name)
    if value is None:
        return default
    if value not in choices:
        raise RecordError(name, f"expected one of {', '.join(choices)}, got {_show(value)}")
    return str(value)


def _user(raw: Mapping[str, Any]) -> UserRef | None:
    value = raw.get("user")
    if value is None:
        return None
    if isinstance(value, str):
        return UserRef(id=_id(raw, "user"))
    if (  # the common case: {id, name?, email?} with plain, short strings
        type(value) is dict
        and value.keys() <= USER_FIELDS
        and type(user_id := value.get("id")) is str
        and 0 < len(user_id) <= MAX_ID
        and user_id.strip()
        and all(type(v) is str and len(v) <= MAX_NAME for v in value.values())
        and ("email" not in value or "@" in value["email"])
    ):
        return UserRef(id=user_id, name=value.get("name") or None, email=value.get("email") or None)
    if not isinstance(value, Mapping):
        raise RecordError(
            "user", f"expected an id string or {{id, name, email}}, got {_kind(value)}"
        )
    for key in value:
        if key not in USER_FIELDS:
            raise RecordError(f"user.{key}", "unknown field (a user has id, name and email)")
    if value.get("id") is None:
        raise RecordError("user.id", "required")
    email = value.get("email")
    if email is not None and (not isinstance(email, str) or "@" not in email):
        raise RecordError("user.email", f"not an email address: {_show(email)}")
    return UserRef(
        id=_prefixed(_id, value, "id", "user"),
        name=_prefixed(_text, value, "name", "user", MAX_NAME),
        email=_prefixed(_text, value, "email", "user", 320),
    )


def _prefixed(function: Any, raw: Mapping[str, Any], name: str, prefix: str, *args: Any) -> Any:
    try:
        return function(raw, name, *args)
    except RecordError as error:
        raise RecordError(f"{prefix}.{error.field}", error.problem) from None


def _timestamp(raw: Mapping[str, Any], options: ParseOptions) -> datetime:
    return _moment(raw.get("timestamp"), options)


def _moment(value: object, options: ParseOptions) -> datetime:
    if value is None:
        raise RecordError("timestamp", "required (ISO 8601 with offset, or epoch seconds or ms)")
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise RecordError("timestamp", f"not an ISO 8601 date-time: {_show(value)}") from None
        if moment.tzinfo is None:
            raise RecordError("timestamp", f"needs a UTC offset, e.g. Z or +02:00: {_show(value)}")
        moment = moment.astimezone(UTC)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        _finite("timestamp", value)
        seconds = value / 1000 if abs(value) >= 1e11 else value
        try:
            moment = datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            raise RecordError("timestamp", f"out of range: {value}") from None
    else:
        raise RecordError("timestamp", f"expected a string or a number, got {_show(value)}")
    if moment < EARLIEST:
        raise RecordError("timestamp", f"{moment.isoformat()} is before 2000-01-01")
    now = options.now or datetime.now(UTC)
    if moment > now + FUTURE_SLACK:
        raise RecordError("timestamp", f"{moment.isoformat()} is more than a day in the future")
    return moment


def _number(raw: Mapping[str, Any], name: str, bound: tuple[float, str]) -> float | None:
    """A number from 0 to `bound` (the bound, and how an error names it)."""
    value = raw.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecordError(name, f"expected a number, got {_show(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise RecordError(name, f"not a finite number: {value}")
    if value < 0:
        raise RecordError(name, f"must not be negative, got {_num(value)}")
    if value > bound[0]:
        raise RecordError(name, f"{_num(value)} is more than {bound[1]}")
    return float(value)


def _finite(name: str, value: float) -> None:
    """Reject NaN, infinities and integers beyond any float (CSV cells can hold those)."""
    try:
        finite = math.isfinite(value)
    except OverflowError:
        raise RecordError(name, f"{_num(value)} is implausibly large") from None
    if not finite:
        raise RecordError(name, f"not a finite number: {value}")


def _cost(raw: Mapping[str, Any]) -> Decimal | None:
    value = _number(raw, "cost", COST_BOUND)
    return None if value is None else _usd(value)


def _usd(value: float) -> Decimal:
    """A cost (at most MAX_COST, so it always fits) as stored: ten decimal places."""
    return Decimal(repr(value)).quantize(_TEN_DECIMALS)


_TEN_DECIMALS = Decimal("1e-10")


def _tags(raw: Mapping[str, Any]) -> tuple[str, ...]:
    value = raw.get("tags")
    if value is None:
        return ()
    if not isinstance(value, list):
        raise RecordError("tags", f"expected an array of strings, got {_kind(value)}")
    if len(value) <= MAX_TAGS and all(type(t) is str and 0 < len(t) <= MAX_TAG for t in value):
        return tuple(dict.fromkeys(value))  # deduplicated, first occurrence first
    if len(value) > MAX_TAGS:
        raise RecordError("tags", f"at most {MAX_TAGS} tags, got {len(value)}")
    tags: dict[str, None] = {}
    for position, tag in enumerate(value):
        if not isinstance(tag, str) or not tag:
            raise RecordError(f"tags[{position}]", f"expected a non-empty string, got {_show(tag)}")
        if len(tag) > MAX_TAG:
            raise RecordError(f"tags[{position}]", f"longer than {MAX_TAG} characters")
        tags[tag] = None
    return tuple(tags)


def _metadata(raw: Mapping[str, Any]) -> dict[str, str | int | float | bool]:
    value = raw.get("metadata")
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise RecordError("metadata", f"expected an object, got {_kind(value)}")
    if len(value) > MAX_METADATA_KEYS:
        raise RecordError("metadata", f"at most {MAX_METADATA_KEYS} keys, got {len(value)}")
    if not value:
        return {}
    # The common case, checked with C-level map/set calls: short keys, and values that are
    # strings, integers or booleans, with no string longer and no integer larger than the limit.
    kinds = set(map(type, value.values()))
    if (
        kinds <= _PLAIN_METADATA
        and 0 < min(map(len, value)) <= max(map(len, value)) <= MAX_METADATA_KEY
        and (str not in kinds or max(map(_str_len, value.values())) <= MAX_METADATA_VALUE)
        and (int not in kinds or max(map(_int_size, value.values())) <= MAX_METADATA_NUMBER)
    ):
        return dict(value)
    for key, item in value.items():
        if not key or len(key) > MAX_METADATA_KEY:
            raise RecordError("metadata", f"keys must be 1 to {MAX_METADATA_KEY} characters")
        if isinstance(item, str):
            if len(item) > MAX_METADATA_VALUE:
                raise RecordError(f"metadata.{key}", f"longer than {MAX_METADATA_VALUE} characters")
        elif isinstance(item, float) and not math.isfinite(item):
            raise RecordError(f"metadata.{key}", f"not a finite number: {item}")
        elif type(item) in (int, float) and abs(item) > MAX_METADATA_NUMBER:
            raise RecordError(
                f"metadata.{key}",
                f"{_num(item)} is beyond ±{MAX_METADATA_NUMBER:,} (2^53), the largest integers"
                " JSON carries exactly",
            )
        elif not isinstance(item, int | float | bool):
            raise RecordError(
                f"metadata.{key}", f"expected a string, number or boolean, got {_kind(item)}"
            )
    return dict(value)


_PLAIN_METADATA = frozenset({str, int, bool})


def _str_len(item: object) -> int:
    return len(item) if type(item) is str else 0


def _int_size(item: object) -> int:
    return abs(item) if type(item) is int else 0


def _preview(raw: Mapping[str, Any], limit: int) -> str | None:
    value = raw.get("content")
    if value is None:
        return None
    if not isinstance(value, str):
        raise RecordError("content", f"expected a string, got {_show(value)}")
    return value[:limit] if limit and value else None


# Describing bad values in messages.


_KINDS: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (bool, "a boolean"),
    ((int, float), "a number"),
    (str, "a string"),
    (list, "an array"),
    (Mapping, "an object"),
)


def _kind(value: object) -> str:
    if value is None:
        return "null"
    for types, name in _KINDS:
        if isinstance(value, types):
            return name
    return type(value).__name__


def _show(value: object) -> str:
    """A bad value as the message quotes it: JSON-like, and short."""
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:57] + "...")
    if value is None or isinstance(value, bool):
        return orjson.dumps(value).decode()
    if isinstance(value, int | float):
        return str(value)
    return _kind(value)


def _num(value: float) -> str:
    """A number as the sender wrote it, and short: 500, not 500.0; 1e+308, not 309 digits."""
    if isinstance(value, int):
        text = str(value)
        return text if len(text) <= 20 else f"{text[:17]}..."
    return str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)


# The fast path for NDJSON lines. A line holding a plain, valid message is decoded and type-checked
# by msgspec in C, and only the checks msgspec cannot express run here, with the same helpers as
# above. Anything else (another record type, any doubt, any error) returns None, and the caller
# parses the line with parse_record, which decides and explains: every rejection and its message
# comes from the rules above. tests/test_fast_path.py checks that both paths agree.

_Id = Annotated[str, Meta(min_length=1, max_length=MAX_ID)]
_Name = Annotated[str, Meta(max_length=MAX_NAME)]
_Tag = Annotated[str, Meta(min_length=1, max_length=MAX_TAG)]
_MetaKey = Annotated[str, Meta(min_length=1, max_length=MAX_METADATA_KEY)]
_MetaText = Annotated[str, Meta(max_length=MAX_METADATA_VALUE)]
_Latency = Annotated[float, Meta(ge=0, le=MAX_LATENCY_MS)]
_MetaInt = Annotated[int, Meta(ge=-MAX_METADATA_NUMBER, le=MAX_METADATA_NUMBER)]
_MetaFloat = Annotated[float, Meta(ge=-MAX_METADATA_NUMBER, le=MAX_METADATA_NUMBER)]


class _UserLine(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    id: _Id
    name: _Name | None = None
    email: Annotated[str, Meta(max_length=320)] | None = None


class _MessageLine(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    id: _Id
    timestamp: str | int | float
    type: Literal["message"] | None = None
    app: Annotated[str, Meta(max_length=100)] | None = None
    role: Literal["user", "assistant", "system", "tool"] | None = None
    chat_id: Annotated[str, Meta(max_length=MAX_ID)] | None = None
    user: _Id | _UserLine | None = None
    model: _Name | None = None
    provider: _Name | None = None
    source: _Name | None = None
    api_key: _Name | None = None
    status: Literal["success", "error"] | None = None
    error_type: _Name | None = None
    usage: dict[str, Any] | None = None
    cost: Annotated[float, Meta(ge=0, le=MAX_COST)] | None = None
    latency_ms: _Latency | None = None
    ttft_ms: _Latency | None = None
    tags: Annotated[list[_Tag], Meta(max_length=MAX_TAGS)] | None = None
    metadata: (
        Annotated[
            dict[_MetaKey, _MetaText | _MetaInt | _MetaFloat | bool],
            Meta(max_length=MAX_METADATA_KEYS),
        ]
        | None
    ) = None
    content: str | None = None


_MESSAGE_LINE = msgspec.json.Decoder(_MessageLine)


def parse_message_line(line: bytes, options: ParseOptions) -> Message | None:
    """The Message in one NDJSON line, or None when the line needs `parse_record` to decide."""
    if b"\\u0000" in line:  # a NUL somewhere: parse_record names the field
        return None
    try:
        m = _MESSAGE_LINE.decode(line)
    except msgspec.DecodeError:  # also ValidationError: any doubt goes the long way
        return None
    try:
        return _message_from_line(m, options)
    except RecordError:
        return None


def _message_from_line(m: _MessageLine, options: ParseOptions) -> Message | None:
    role = m.role or "assistant"
    model = m.model or None
    if (model is None and role == "assistant") or not m.id.strip():
        return None
    if m.latency_ms is not None and m.ttft_ms is not None and m.ttft_ms > m.latency_ms:
        return None
    if m.app is not None and not APP_ID.fullmatch(m.app):
        return None
    user = m.user
    if isinstance(user, _UserLine):
        if not user.id.strip() or (user.email is not None and "@" not in user.email):
            return None
        user_ref: UserRef | None = UserRef(user.id, user.name or None, user.email or None)
    elif user is not None:
        if not user.strip():
            return None
        user_ref = UserRef(user)
    else:
        user_ref = None
    content = m.content
    return Message(
        id=m.id,
        timestamp=_moment(m.timestamp, options),
        app=options.default_app if m.app is None else m.app,
        role=role,
        chat_id=m.chat_id or None,
        user=user_ref,
        model=model,
        provider=m.provider or None,
        source=m.source or None,
        api_key=m.api_key or None,
        status=m.status or "success",
        error_type=m.error_type or None,
        usage=parse_usage(m.usage),
        cost=None if m.cost is None else _usd(m.cost),
        latency_ms=m.latency_ms,
        ttft_ms=m.ttft_ms,
        tags=() if m.tags is None else tuple(dict.fromkeys(m.tags)),
        metadata={} if m.metadata is None else m.metadata,
        content_preview=content[: options.preview_chars]
        if options.preview_chars and content
        else None,
        producer=options.producer,
    )
