"""Plain leaves answered directly (usageql.graphql.execution) answer exactly as strawberry does."""

from __future__ import annotations

import enum
import gc
import weakref
from typing import Any, NewType

import pytest
import strawberry
from strawberry.extensions import SchemaExtension
from strawberry.permission import BasePermission
from strawberry.schema.config import StrawberryConfig
from strawberry.types import Info

from usageql.graphql.execution import PlainFieldExecution, plain_fields
from usageql.graphql.schema import schema as usageql_schema


@strawberry.enum
class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Refuse(BasePermission):
    message = "never"

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return False


Odd = NewType("Odd", int)
ODD = strawberry.scalar(name="Odd", serialize=lambda value: value if value % 2 else None)
CONFIG = StrawberryConfig(scalar_map={Odd: ODD})  # even numbers serialize to None


def leaked(self: Any) -> str:  # a plain leaf but for its permission
    return "leaked"


@strawberry.type
class Box:
    label: str
    weight: int | None
    inner: Box | None = None

    @strawberry.field
    def checked(self) -> int:  # fails for a box without a weight: the box is null then
        return _weight(self)

    @strawberry.field
    def required_inner(self) -> Box:
        return self.inner or Box(label=f"{self.label}0", weight=None)

    @strawberry.field
    async def later(self) -> str:
        return self.label.upper()

    @strawberry.field
    async def later_checked(self) -> int:
        return _weight(self)


def _weight(box: Box) -> int:
    if box.weight is None:
        raise ValueError(f"{box.label} has no weight")
    return box.weight


@strawberry.type
class Item:
    name: str
    size: int | None
    colour: Colour
    wrong: int  # holds a value GraphQL's Int refuses
    missing: int  # holds None although it may not be null
    odd: Odd

    @strawberry.field
    def double(self) -> int:
        return 2 * (self.size or 0)

    @strawberry.field
    def broken(self) -> int | None:
        raise ValueError(f"{self.name} is broken")

    @strawberry.field
    def broken_required(self) -> int:
        raise ValueError(f"{self.name} is really broken")

    @strawberry.field
    def label(self, info: Info) -> str:
        return f"{info.field_name}:{self.name}"

    @strawberry.field
    def padded(self, width: int = 6) -> str:
        return self.name.ljust(width, ".")

    @strawberry.field
    async def later(self) -> str:
        return self.name.upper()

    secret: str = strawberry.field(resolver=leaked, permission_classes=[Refuse])
    box: Box | None = None
    no_box: Box | None = None
    boxes: list[Box] = strawberry.field(default_factory=list)

    @strawberry.field
    def lost_box(self) -> Box | None:  # graphql-core reports a returned exception as raised
        return LookupError(f"{self.name}'s box is lost")  # type: ignore[return-value]

    @strawberry.field
    def required_box(self) -> Box:
        return self.box if self.size else None  # type: ignore[return-value]  # the second: None


@strawberry.type
class Query:
    @strawberry.field
    def items(self) -> list[Item]:
        return [
            Item(
                name="a",
                size=3,
                colour=Colour.RED,
                wrong=1,
                missing=1,
                odd=Odd(1),
                box=Box(label="x", weight=1, inner=Box(label="x1", weight=None)),
                boxes=[Box(label="l", weight=None)],
            ),
            Item(
                name="b",
                size=None,
                colour=Colour.BLUE,
                wrong=2**40,
                missing=None,  # type: ignore[arg-type]
                odd=Odd(2),
                box=Box(label="y", weight=None),
            ),
        ]


PLAIN = strawberry.Schema(query=Query, config=CONFIG)
DIRECT = strawberry.Schema(query=Query, config=CONFIG, execution_context_class=PlainFieldExecution)

QUERIES = [
    "{ items { name size colour double } }",
    "{ items { n: name s: size ...F } } fragment F on Item { colour double }",
    "query($no: Boolean!) { items { name @skip(if: $no) size @include(if: $no) } }",
    "{ items { name broken } }",
    "{ items { name brokenRequired } }",
    "{ items { name wrong } }",
    "{ items { name missing } }",
    "{ items { name odd } }",
    "{ items { name label padded p: padded(width: 2) later } }",
    "{ items { name secret } }",
    "{ items { __typename name } }",
    "{ items { box { label weight inner { label weight } } noBox { label } } }",
    "{ items { box { label checked } } }",
    "{ items { box { later laterChecked inner { laterChecked } } } }",
    "{ items { box { inner { checked } } boxes { checked } } }",
    "{ items { requiredBox { label } } }",
    "{ items { name lostBox { label } } }",
    "{ items { box { requiredInner { label checked } } } }",
    "{ items { box { requiredInner { laterChecked } } } }",
    "{ items { name requiredBox { ... on Box { l: label } } } }",
]


def _answer(result: Any) -> tuple[Any, list[tuple[str, Any]]]:
    return result.data, [(error.message, error.path) for error in result.errors or []]


def test_the_test_schema_has_its_plain_fields_and_no_others() -> None:
    items = "name size colour wrong missing odd double broken brokenRequired box noBox lostBox"
    items += " requiredBox"
    assert set(plain_fields(DIRECT._schema)) == {("Item", name) for name in items.split()} | {
        ("Box", name) for name in ("label", "weight", "inner", "checked", "requiredInner")
    }


@pytest.mark.parametrize("query", QUERIES)
async def test_answers_and_errors_are_strawberrys_own(query: str) -> None:
    variables = {"no": True}
    direct = _answer(await DIRECT.execute(query, variable_values=variables))
    assert direct == _answer(await PLAIN.execute(query, variable_values=variables))
    assert direct[0] is not None or direct[1]


async def test_refused_values_and_exceptions_are_placed_on_their_field() -> None:
    data, errors = _answer(await DIRECT.execute("{ items { name broken } }"))
    assert data == {"items": [{"name": "a", "broken": None}, {"name": "b", "broken": None}]}
    assert errors == [
        ("a is broken", ["items", 0, "broken"]),
        ("b is broken", ["items", 1, "broken"]),
    ]
    for field, message in [
        ("wrong", "Int cannot represent non 32-bit signed integer value: 1099511627776"),
        ("missing", "Cannot return null for non-nullable field Item.missing."),
        (
            "odd",
            "Expected `Odd.coerce_output_value(2)` to return non-nullable value, returned: None",
        ),
    ]:
        data, errors = _answer(await DIRECT.execute(f"{{ items {{ name {field} }} }}"))
        assert data is None  # the list's items may not be null
        assert errors == [(message, ["items", 1, field])]
    data, errors = _answer(await DIRECT.execute("{ items { secret } }"))
    assert (data, errors[0]) == (None, ("never", ["items", 0, "secret"]))


class Counted(PlainFieldExecution):
    """Counts the fields that went graphql-core's way (each builds a resolve info)."""

    infos = 0

    def build_resolve_info(self, *args: Any) -> Any:
        Counted.infos += 1
        return super().build_resolve_info(*args)


class Watching(SchemaExtension):
    def resolve(self, _next: Any, root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
        return _next(root, info, *args, **kwargs)


@pytest.mark.parametrize(("extensions", "ordinary"), [([], 1), ([Watching], 1 + 2 * 4)])
async def test_plain_fields_skip_the_resolve_info_unless_an_extension_sees_every_field(
    extensions: list[type[SchemaExtension]], ordinary: int
) -> None:
    made = strawberry.Schema(
        Query, config=CONFIG, extensions=extensions, execution_context_class=Counted
    )
    Counted.infos = 0
    result = await made.execute("{ items { name double box { label } } }")
    assert result.errors is None
    assert result.data is not None
    assert result.data["items"][0]["box"] == {"label": "x"}
    assert Counted.infos == ordinary  # `items` always; 4 fields per item with the extension


def test_a_schemas_plain_fields_are_forgotten_with_it() -> None:
    made = strawberry.Schema(Query, config=CONFIG, execution_context_class=PlainFieldExecution)
    held = weakref.ref(made._schema)
    assert plain_fields(made._schema) is plain_fields(made._schema)  # worked out once
    del made
    gc.collect()
    assert held() is None


def test_dashboards_leaves_are_answered_directly() -> None:
    leaves = plain_fields(usageql_schema._schema)
    for field in [
        ("TimeBucket", "start"),
        ("Metrics", "requests"),
        ("Metrics", "spend"),
        ("TokenCounts", "total"),
        ("Distribution", "p95"),
        ("ActiveUsers", "users"),
        ("User", "email"),
    ]:
        assert field in leaves
    assert not any(type_ == "Query" for type_, _ in leaves)  # roots check their keys first
