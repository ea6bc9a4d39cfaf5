"""A key never sees past its bound, by any field: the schema is walked, so a new field is covered.

The threat: a reader bound to an app, or to users, asks every root field and every `Usage` field
(with every value of their enum and order arguments, rows drilled into) and must get exactly what
an unbound admin gets with a filter equal to that bound. Root fields that take no filter (`apps`,
`prices`, `server`, `viewer`) have their expected answers stated here; a root field added without
one fails `test_every_root_field_says_what_a_bound_key_sees`.

The data has a chat shared by two users (V writes first, U joins), users in two apps, ratings,
chat records, tags, metadata and prices per app, so that a field that forgets the bound anywhere
(a row's user, a preview, a count, a tag, a price) answers differently.
"""

from __future__ import annotations

import ast
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    Undefined,
    get_named_type,
    is_leaf_type,
)
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

import usageql.graphql
from tests.app_client import authorized_client
from tests.graphql_client import graphql
from tests.sqlcount import count_statements
from tests.ways import settings, way
from usageql.auth import Role
from usageql.graphql.schema import schema

__all__ = ["settings", "way"]  # fixtures: every test runs from raw events and from rollups


def _at(day: int, hour: int) -> str:
    return f"2026-03-{day:02}T{hour:02}:00:00Z"


def _message(n: str, app: str, day: int, hour: int, user: str | None, **fields: Any) -> Any:
    event = {"id": n, "app": app, "timestamp": _at(day, hour), **fields}
    if user is not None:
        event["user"] = {"id": user, "name": f"name-{user}", "email": f"{user}@example.com"}
    return event


def _request(n: str, app: str, day: int, hour: int, user: str | None, **fields: Any) -> Any:
    usage = {"input_tokens": 100 + len(n), "output_tokens": 10, "cache_read_tokens": 20,
             "cache_write_tokens": 5, "reasoning_tokens": 3}  # fmt: skip
    base = {"model": "gpt-4o", "usage": usage, "latency_ms": 300 + day, "ttft_ms": 90 + hour}
    return _message(n, app, day, hour, user, **{**base, **fields})


# V opens chat c1 in app a with a private message; U joins it later. c2 is U's own, c4 W's;
# c3 in app b holds U and W. Some requests have no user or no chat, some fail, some are priced.
EVENTS: list[dict[str, Any]] = [
    _message("v1", "a", 1, 9, "V", role="user", chat_id="c1", content="my private text"),
    _request("v2", "a", 1, 9, "V", chat_id="c1", tags=["UA:v"], metadata={"plan": "pro"}),
    _message("u1", "a", 2, 10, "U", role="user", chat_id="c1", content="U's question"),
    _request("u2", "a", 2, 11, "U", chat_id="c1", model="claude-x", tags=["UA:u", "f:1"],
             metadata={"plan": "free"}, status="error"),
    _message("u3", "a", 3, 8, "U", role="user", chat_id="c2", content="U alone"),
    _request("u4", "a", 3, 8, "U", chat_id="c2", tags=["UA:u"], cost=0.5),
    _request("u5", "a", 4, 23, "U", tags=["UA:u"]),
    _message("w1", "a", 4, 12, "W", role="user", chat_id="c4", content="W's secret"),
    _request("w2", "a", 4, 12, "W", chat_id="c4", model="local", tags=["UA:w"]),
    _request("anon", "a", 5, 1, None, chat_id="c1", model="local"),
    _message("b1", "b", 2, 7, "W", role="user", chat_id="c3", content="W first in b"),
    _request("b2", "b", 2, 7, "W", chat_id="c3", tags=["UA:w"], metadata={"plan": "pro"}),
    _message("b3", "b", 6, 15, "U", role="user", chat_id="c3", content="U in b"),
    _request("b4", "b", 6, 16, "U", chat_id="c3", model="claude-x", tags=["UA:u"]),
    {"type": "feedback", "id": "f1", "app": "a", "timestamp": _at(2, 12), "user": "U",
     "message_id": "u2", "rating": "down"},
    {"type": "feedback", "id": "f2", "app": "a", "timestamp": _at(1, 10), "user": "V",
     "message_id": "v2", "rating": "up"},
    {"type": "feedback", "id": "f3", "app": "b", "timestamp": _at(2, 8), "user": "W",
     "model": "gpt-4o", "rating": 1},
    {"type": "chat", "id": "c1", "app": "a", "timestamp": _at(1, 9), "title": "Shared",
     "tags": ["billing", "shared"]},
    {"type": "chat", "id": "c2", "app": "a", "timestamp": _at(3, 8), "title": "Mine",
     "tags": ["billing"]},
    {"type": "chat", "id": "c4", "app": "a", "timestamp": _at(4, 12), "title": "W's",
     "tags": ["secret"]},
    {"type": "chat", "id": "c3", "app": "b", "timestamp": _at(2, 7), "title": "B chat",
     "tags": ["b-tag"]},
]  # fmt: skip

PRICES = """mutation { setPrices(prices: [
  {model: "gpt-4o", input: 2.5, output: 10},
  {model: "gpt-4o", app: "a", input: 2, output: 8},
  {model: "claude-x", app: "b", input: 3, output: 15}]) { model } }"""


@dataclass(frozen=True)
class Bound:
    """A key's bound, and the same bound as a filter an admin can give."""

    name: str
    apps: tuple[str, ...] | None = None
    users: tuple[str, ...] | None = None

    def as_filter(self) -> str:
        named = (("apps", self.apps), ("users", self.users))
        return ", ".join(f"{name}: {json.dumps(list(v))}" for name, v in named if v)


BOUNDS = [
    Bound("app a", apps=("a",)),
    Bound("user U", users=("U",)),
    Bound("app b, users U and W", apps=("b",), users=("U", "W")),
]
ROOT_FILTER = 'from: "2026-03-01T00:00:00Z", to: "2026-03-08T00:00:00Z"'


@pytest.fixture
async def admin(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with authorized_client(app) as client:
        stored = await client.post("/v1/events", json=EVENTS)
        answer = stored.json()
        stored = answer["accepted"] + answer["described"]  # chat records are described
        assert (stored, answer["rejected"]) == (len(EVENTS), []), answer
        await graphql(client, PRICES)
        yield client


@pytest.fixture(params=BOUNDS, ids=[b.name for b in BOUNDS])
def bound(request: pytest.FixtureRequest) -> Bound:
    value: Bound = request.param
    return value


@pytest.fixture
async def bound_reader(
    app: Starlette, admin: httpx.AsyncClient, bound: Bound
) -> AsyncIterator[httpx.AsyncClient]:
    apps, users = bound.apps or (), bound.users or ()
    async with authorized_client(app, Role.READER, apps=apps, users=users) as client:
        yield client


# Walking the schema: a selection of every field, arguments filled in, rows drilled into.

_TYPES = schema._schema.type_map  # graphql-core's view of the schema (strawberry's public one)
_REQUIRED = {"granularity": "DAY", "period": "DAY", "by": "[APP, USER, CHAT, TAG, MODEL]"}


def _required_arguments(field: GraphQLField) -> str:
    given = []
    for name, argument in field.args.items():
        if isinstance(argument.type, GraphQLNonNull) and argument.default_value is Undefined:
            assert name in _REQUIRED, f"say in _REQUIRED what to pass as the required `{name}`"
            given.append(f"{name}: {_REQUIRED[name]}")
    return ", ".join(given)


def _selection(type_: GraphQLNamedType, depth: int) -> str:
    """Every field of `type_` (and of the objects below it); a row's `usage` drills into its
    summary and chats, to `depth` levels of rows."""
    assert isinstance(type_, GraphQLObjectType)
    parts = []
    for name, field in type_.fields.items():
        inner = get_named_type(field.type)
        arguments = _required_arguments(field)
        head = f"{name}({arguments})" if arguments else name
        if is_leaf_type(inner):
            parts.append(head)
        elif inner.name == "Usage":
            if depth > 0:
                summary = _selection(_TYPES["Metrics"], 0)
                chats = _selection(_TYPES["ChatConnection"], depth - 1)
                parts.append(f"{head} {{ summary {{ {summary} }} chats(first: 5) {{ {chats} }} }}")
        else:
            parts.append(f"{head} {{ {_selection(inner, depth)} }}")
    return " ".join(parts)


def _input_variants(kind: GraphQLInputObjectType) -> Iterator[str]:
    """An input object (orderBy) with each value of each of its enums, the other enums at
    their first value."""
    enums = {
        name: list(inner_kind.values)
        for name, inner in kind.fields.items()
        if isinstance(inner_kind := get_named_type(inner.type), GraphQLEnumType)
    }
    for name, values in enums.items():
        for value in values:
            chosen = {other: options[0] for other, options in enums.items()} | {name: value}
            yield "{" + ", ".join(f"{key}: {item}" for key, item in chosen.items()) + "}"


def _variants(field: GraphQLField) -> Iterator[str]:
    """The field's required arguments alone, then with each value of each enum argument and of
    each enum inside an input argument (orderBy), and each value of each boolean argument."""
    required = _required_arguments(field)
    yield required
    for name, argument in field.args.items():
        if name in _REQUIRED or name == "filter":
            continue
        kind = get_named_type(argument.type)
        values: list[str] = []
        if isinstance(kind, GraphQLEnumType):
            values = list(kind.values)
        elif kind.name == "Boolean":
            values = ["true", "false"]
        elif isinstance(kind, GraphQLInputObjectType):
            values = list(_input_variants(kind))
        for value in values:
            yield ", ".join(part for part in (required, f"{name}: {value}") if part)


USAGE_FIELDS = sorted(_TYPES["Usage"].fields)  # type: ignore[attr-defined]


def _usage_query(field_name: str, arguments: str, root_filter: str) -> str:
    field = _TYPES["Usage"].fields[field_name]  # type: ignore[attr-defined]
    inner = get_named_type(field.type)
    body = "" if is_leaf_type(inner) else f"{{ {_selection(inner, 1)} }}"
    head = f"{field_name}({arguments})" if arguments else field_name
    return (
        f'{{ usage(filter: {{{root_filter}}}, timezone: "America/New_York") {{ {head} {body} }} }}'
    )


async def _answer(client: httpx.AsyncClient, engine: AsyncEngine, query: str) -> tuple[Any, int]:
    with count_statements(engine) as sql:
        data = await graphql(client, query)
    return data, sql.count


async def test_every_usage_field_answers_within_the_bound(
    admin: httpx.AsyncClient, bound_reader: httpx.AsyncClient, engine: AsyncEngine, bound: Bound
) -> None:
    bounded_filter = f"{ROOT_FILTER}, {bound.as_filter()}"
    asked = 0
    for field_name in USAGE_FIELDS:
        field = _TYPES["Usage"].fields[field_name]  # type: ignore[attr-defined]
        for arguments in _variants(field):
            mine, mine_count = await _answer(
                bound_reader, engine, _usage_query(field_name, arguments, ROOT_FILTER)
            )
            theirs, their_count = await _answer(
                admin, engine, _usage_query(field_name, arguments, bounded_filter)
            )
            assert mine == theirs, (field_name, arguments)
            assert mine_count == their_count, (field_name, arguments)  # the same statements
            asked += 1
    assert asked > 2 * len(USAGE_FIELDS)  # each field, and the values of its arguments


# Root fields without a filter: what a bound key sees, said once each.


def _expected_viewer(bound: Bound) -> Any:
    apps = None if bound.apps is None else list(bound.apps)
    users = None if bound.users is None else list(bound.users)
    return {"viewer": {"role": "reader", "apps": apps, "users": users}}


APPS_OF_THE_BOUND = text("""
    SELECT a.app_id AS id, count(m.message_id) AS messages, count(DISTINCT m.user_id) AS users,
           count(DISTINCT m.chat_id) AS chats, min(m.ts) AS first, max(m.ts) AS last
    FROM apps a LEFT JOIN messages m ON m.app_id = a.app_id
         AND (CAST(:users AS text[]) IS NULL OR m.user_id = ANY(CAST(:users AS text[])))
    WHERE (CAST(:apps AS text[]) IS NULL OR a.app_id = ANY(CAST(:apps AS text[])))
      AND (CAST(:users AS text[]) IS NULL OR EXISTS (
           SELECT 1 FROM messages x WHERE x.app_id = a.app_id AND x.user_id = ANY(:users)
           UNION ALL
           SELECT 1 FROM feedback f WHERE f.app_id = a.app_id AND f.user_id = ANY(:users)))
    GROUP BY a.app_id ORDER BY a.app_id""")


async def _expected_apps(engine: AsyncEngine, bound: Bound) -> Any:
    apps = None if bound.apps is None else list(bound.apps)
    users = None if bound.users is None else list(bound.users)
    async with engine.connect() as connection:
        rows = (await connection.execute(APPS_OF_THE_BOUND, {"apps": apps, "users": users})).all()
    return {
        "apps": [
            {"id": r.id, "messages": r.messages, "users": r.users, "chats": r.chats,
             "firstEventAt": r.first.isoformat(), "lastEventAt": r.last.isoformat()}
            for r in rows
        ]
    }  # fmt: skip


async def _expected_prices(admin: httpx.AsyncClient, query: str, seen_apps: set[str]) -> Any:
    everything = await graphql(admin, query)
    prices = [p for p in everything["prices"] if p["app"] is None or p["app"] in seen_apps]
    return {"prices": prices}


ROOT_QUERIES = {
    "viewer": "{ viewer { role apps users } }",
    "apps": "{ apps { id messages users chats firstEventAt lastEventAt } }",
    "prices": "{ prices { model app input output source } }",
    "server": "{ server { version } }",
    "usage": None,  # walked field by field above
}


def test_every_root_field_says_what_a_bound_key_sees() -> None:
    assert set(ROOT_QUERIES) == set(_TYPES["Query"].fields)  # type: ignore[attr-defined]


async def test_root_fields_answer_within_the_bound(
    admin: httpx.AsyncClient, bound_reader: httpx.AsyncClient, engine: AsyncEngine, bound: Bound
) -> None:
    expected_apps = await _expected_apps(engine, bound)
    seen = {app["id"] for app in expected_apps["apps"]}
    assert seen, "the bound reaches some app"
    expected = {
        "viewer": _expected_viewer(bound),
        "apps": expected_apps,
        "prices": await _expected_prices(admin, ROOT_QUERIES["prices"] or "", seen),
    }
    for name, query in ROOT_QUERIES.items():
        if query is None:
            continue
        with count_statements(engine) as sql:
            body = (await bound_reader.post("/graphql", json={"query": query})).json()
        if name == "server":  # an operator's field: admin keys bound to nothing
            (error,) = body["errors"]
            assert error["extensions"]["code"] == "FORBIDDEN"
            assert sql.count == 0
            continue
        assert "errors" not in body, body
        assert body["data"] == expected[name], name
        assert sql.count <= 2, sql  # apps: the catalog and the totals; prices: one


async def test_a_user_bound_reader_sees_only_its_own_part_of_a_shared_chat(
    admin: httpx.AsyncClient, app: Starlette, engine: AsyncEngine
) -> None:
    query = """{ usage(filter: {chats: ["c1"]}) { chats { edges { node {
        user { id name email } firstMessage title tags messages models createdAt updatedAt
        metrics { messages users } } } } } }"""
    async with authorized_client(app, Role.READER, users=["U"]) as reader:
        with count_statements(engine) as sql:
            data = await graphql(reader, query)
    assert sql.count == 3  # the chats, their first messages, their users' profiles
    (edge,) = data["usage"]["chats"]["edges"]
    assert edge["node"] == {
        "user": {"id": "U", "name": "name-U", "email": "U@example.com"},
        "firstMessage": "U's question",
        "title": "Shared",  # the chat's own
        "tags": ["billing", "shared"],
        "messages": 2,
        "models": ["claude-x"],
        "createdAt": "2026-03-02T10:00:00+00:00",
        "updatedAt": "2026-03-02T11:00:00+00:00",
        "metrics": {"messages": 2, "users": 1},
    }
    # The admin sees the chat as it is: V opened it.
    everything = await graphql(admin, query)
    (whole,) = everything["usage"]["chats"]["edges"]
    assert whole["node"]["user"]["id"] == "V"
    assert whole["node"]["firstMessage"] == "my private text"
    assert whole["node"]["messages"] == 5


async def test_a_user_bound_reader_lists_only_its_apps_with_its_own_totals(
    admin: httpx.AsyncClient, app: Starlette
) -> None:
    async with authorized_client(app, Role.READER, users=["V"]) as reader:
        data = await graphql(reader, "{ apps { id messages users chats } prices { app } }")
    assert data["apps"] == [{"id": "a", "messages": 2, "users": 1, "chats": 1}]
    assert {price["app"] for price in data["prices"]} == {None, "a"}  # not b's prices


async def test_server_details_are_for_operators_only(app: Starlette, usage_data: None) -> None:
    for role, apps, users in [
        (Role.ADMIN, ["a"], []),
        (Role.ADMIN, [], ["u1"]),
        (Role.READER, [], []),
        (Role.INGEST, [], []),
    ]:
        async with authorized_client(app, role, apps=apps, users=users) as client:
            body = (await client.post("/graphql", json={"query": "{ server { version } }"})).json()
        (error,) = body["errors"]
        assert error["extensions"]["code"] == "FORBIDDEN", (role, apps, users)
    async with authorized_client(app, Role.ADMIN) as operator:
        assert (await graphql(operator, "{ server { version } }"))["server"]["version"]


SET_PRICE = 'mutation { setPrices(prices: [{model: "m", %s input: 1, output: 1}]) { model } }'
DELETE_PRICE = 'mutation { deletePrices(models: ["m"]%s) }'


@pytest.mark.parametrize(
    ("apps", "users", "may_price"),
    [
        ((), (), {None, "a", "b"}),  # the operator: every app and the table for all
        (("a",), (), {"a"}),  # an app's admin: that app only
        ((), ("U",), set()),  # bound to users: no prices at all
        (("a",), ("U",), set()),
    ],
)
async def test_only_the_bound_admin_changes_prices_within_its_apps(
    app: Starlette, apps: tuple[str, ...], users: tuple[str, ...], may_price: set[str | None]
) -> None:
    async with authorized_client(app, Role.ADMIN, apps=apps, users=users) as client:
        for target in (None, "a", "b"):
            app_argument = "" if target is None else f'app: "{target}",'
            changes = [
                SET_PRICE % app_argument,
                DELETE_PRICE % ("" if target is None else f', app: "{target}"'),
            ]
            for change in changes:
                body = (await client.post("/graphql", json={"query": change})).json()
                assert ("errors" not in body) == (target in may_price), (change, body)


# Structure: nothing in the GraphQL layer reads around the bound.

_READERS = {"reads.py", "loaders.py"}  # the only modules that read, each within the bound
_READ_FUNCTIONS = {"compile_question", "run", "reading", "user_profiles", "first_user_messages",
                   "visible_apps", "list_prices"}  # fmt: skip


def test_the_graphql_layer_reads_only_through_the_bound() -> None:
    package = Path(usageql.graphql.__file__).parent
    for module in sorted(package.glob("*.py")):
        if module.name in _READERS:
            continue
        tree = ast.parse(module.read_text(encoding="utf-8"))
        imported = {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
            for alias in node.names
        }
        assert not imported & _READ_FUNCTIONS, (module.name, imported & _READ_FUNCTIONS)
        attributes = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
        assert "read_engine" not in attributes or module.name == "context.py", module.name
