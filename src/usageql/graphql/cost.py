"""The most rows a GraphQL operation can return, and how many records it sends, worked out from
its document and variables before anything runs (QueryCost in limits.py checks both).

Each list counts its largest size, multiplied by the sizes of the lists it is nested in: a
ranking its `limit`, a page its `first`, a series the buckets of its actual range
(src/usageql/query/spans.py). The range is carried down the selection as a `Place`:
`usage(filter:, timezone:)` opens it, every field's `filter` narrows it, and a row of a series
narrows its children to one bucket of that granularity. An open end is the scope's first event
(src/usageql/db/first_events.py) or now plus the day ahead that ingestion accepts. Arguments are
read as execution reads them: variables with their defaults, arguments with the schema's.
Lists of scalars (a chat's tags) are values of a row, not rows; introspection is not counted.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    ListValueNode,
    NamedTypeNode,
    NullValueNode,
    SelectionSetNode,
    TypeNode,
    ValueNode,
    VariableDefinitionNode,
    VariableNode,
    get_argument_values,
    get_named_type,
    get_operation_ast,
    get_variable_values,
    is_object_type,
)
from graphql.execution.values import VariableValues

from usageql.db.first_events import DataCatalog
from usageql.graphql.inputs import MAX_LIMIT
from usageql.ingest.parse import EARLIEST, FUTURE_SLACK
from usageql.ingest.pricing import BUILTIN_PRICES
from usageql.query.model import Granularity
from usageql.query.spans import count_buckets, most_buckets
from usageql.query.time import MAX_BUCKETS, TimeZoneError, bucket_end, bucket_start, zone

# Arguments whose values only need counting: records and prices. They are never coerced here
# (10,000 records take 0.4 s to coerce; execution does it once).
RECORD_ARGUMENTS = {"recordMessages": "messages", "recordFeedback": "feedback",
                    "upsertChats": "chats"}  # fmt: skip
_COUNTED_INPUTS = frozenset({"MessageInput", "FeedbackInput", "ChatInput", "PriceInput"})
_TICK = timedelta(microseconds=1)
# Instants far enough from Python's years 1 and 9999 for any zone's calendar around them.
_FIRST = datetime(2, 1, 1, tzinfo=UTC)
_LAST = datetime(9998, 1, 1, tzinfo=UTC)
_COARSER = list(Granularity)  # HOUR first


@dataclass(frozen=True, slots=True)
class Estimate:
    """What an operation can cost."""

    rows: int  # the most rows (list items) its answer can hold
    records: int  # records its mutations send, over every alias


@dataclass(frozen=True, slots=True)
class Facts:
    """What the estimate knows besides the request: the data, the key's apps, the time."""

    catalog: DataCatalog
    apps: tuple[str, ...] | None  # the apps the key is bound to (None: every app)
    now: datetime


@dataclass(frozen=True, slots=True)
class Place:
    """Where a selection is asked: [start, end) (None: open), the zone, the finest bucket of a
    series it is inside, and the apps it may reach (None: every app). `series` and `rows` are
    what the field above fixed for its children: a series' granularity, a list's size."""

    start: datetime | None = None
    end: datetime | None = None
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    bucket: Granularity | None = None
    apps: frozenset[str] | None = None
    series: Granularity | None = None
    rows: int = 0

    def filtered(self, value: Mapping[str, Any] | None) -> Place:
        """Narrowed by a UsageFilter argument (as coerced: a mapping by GraphQL name)."""
        if not value:
            return self
        apps, named = self.apps, value.get("apps")
        if named is not None:
            apps = frozenset(named) if apps is None else apps & frozenset(named)
        start, end = _instant(value.get("from")), _instant(value.get("to"))
        starts = [moment for moment in (self.start, start) if moment is not None]
        ends = [moment for moment in (self.end, end) if moment is not None]
        return replace(
            self, start=max(starts, default=None), end=min(ends, default=None), apps=apps
        )

    def in_bucket(self, granularity: Granularity) -> Place:
        """The place of one row of a series of `granularity` here."""
        finest = granularity
        if self.bucket is not None:
            finest = min(self.bucket, granularity, key=_COARSER.index)
        return replace(self, bucket=finest)


# Every list of rows in the schema, each counted by _Walk.rule (tests/hostile/test_cost.py checks
# that no list is left out); those in _SIZED_ABOVE have the size the field above them fixed.
COUNTED_LISTS = frozenset({
    ("Query", "apps"), ("Query", "prices"), ("Mutation", "setPrices"),
    ("Usage", "timeseries"), ("Usage", "feedback"), ("Usage", "activeUsers"),
    ("Usage", "models"), ("Usage", "tags"), ("Usage", "apps"), ("Usage", "breakdown"),
    ("Usage", "chatTags"), ("UserUsageConnection", "edges"), ("ChatConnection", "edges"),
    ("BreakdownRow", "keys"), ("IngestReport", "rejected"), ("IngestReport", "conflicts"),
})  # fmt: skip
_SIZED_ABOVE = {("UserUsageConnection", "edges"), ("ChatConnection", "edges"),
                ("BreakdownRow", "keys"), ("IngestReport", "rejected"),
                ("IngestReport", "conflicts")}  # fmt: skip


def estimate(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
    facts: Facts,
) -> Estimate | None:
    """The estimate of the operation to run; None when execution will refuse it before running
    anything (no such operation, or variables that cannot be used)."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return None
    definitions = operation.variable_definitions or ()
    inputs = dict(variables or {})
    used = [d for d in definitions if _named(d.type) not in _COUNTED_INPUTS]
    coerced = get_variable_values(schema, used, inputs)
    if isinstance(coerced, list):
        return None
    root = schema.get_root_type(operation.operation)
    if root is None:
        return None
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    walk = _Walk(
        schema=schema,
        fragments=fragments,
        variables=coerced,
        inputs=inputs,
        definitions=definitions,
        facts=facts,
    )
    place = Place(apps=None if facts.apps is None else frozenset(facts.apps))
    rows = walk.selections(operation.selection_set, root, 1, place, frozenset())
    return Estimate(rows=rows, records=walk.records)


class _Walk:
    """One pass over an operation's selections, adding up rows and records."""

    def __init__(
        self,
        *,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: VariableValues,
        inputs: Mapping[str, Any],
        definitions: Collection[VariableDefinitionNode],
        facts: Facts,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.inputs = inputs
        self.defaults = {d.variable.name.value: d.default_value for d in definitions}
        self.facts = facts
        self.records = 0

    def selections(
        self,
        node: SelectionSetNode | None,
        parent: GraphQLObjectType,
        multiplier: int,
        place: Place,
        seen: frozenset[str],
    ) -> int:
        if node is None:
            return 0
        total = 0
        for selection in node.selections:
            if isinstance(selection, FieldNode):
                total += self.field(selection, parent, multiplier, place, seen)
            elif isinstance(selection, InlineFragmentNode):
                inner = self._type(selection.type_condition, parent)
                total += self.selections(selection.selection_set, inner, multiplier, place, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is not None and name not in seen:
                    inner = self._type(fragment.type_condition, parent)
                    total += self.selections(
                        fragment.selection_set, inner, multiplier, place, seen | {name}
                    )
        return total

    def field(
        self,
        node: FieldNode,
        parent: GraphQLObjectType,
        multiplier: int,
        place: Place,
        seen: frozenset[str],
    ) -> int:
        definition = parent.fields.get(node.name.value)
        if definition is None:  # __typename, introspection
            return 0
        try:
            size, inner = self.rule(parent.name, node, definition, place)
        except GraphQLError:  # arguments execution refuses: the field returns no rows
            return 0
        rows = 0 if size is None else multiplier * size
        named = get_named_type(definition.type)
        if not is_object_type(named):
            return rows
        below = multiplier if size is None else multiplier * size
        return rows + self.selections(node.selection_set, named, below, inner, seen)

    def rule(
        self, parent: str, node: FieldNode, definition: GraphQLField, place: Place
    ) -> tuple[int | None, Place]:
        """How many rows a field returns (None: not a list) and where its children are."""
        name = node.name.value
        if parent == "Mutation":  # records and prices are counted, not coerced
            return self._mutation(name, node, place)
        if (parent, name) in _SIZED_ABOVE:
            return place.rows, place
        if (parent, name) == ("TimeBucket", "usage") and place.series is not None:
            return None, place.in_bucket(place.series)
        if parent not in ("Query", "Usage"):
            return None, place
        arguments = get_argument_values(definition, node, self.variables)
        if parent == "Query":
            return self._query(name, arguments, place)
        return self._usage(name, arguments, place.filtered(arguments.get("filter")))

    def _mutation(self, name: str, node: FieldNode, place: Place) -> tuple[int | None, Place]:
        if name in RECORD_ARGUMENTS:
            records = self._count(node, RECORD_ARGUMENTS[name])
            self.records += records
            return None, replace(place, rows=records)  # at most one rejection (conflict) each
        if name == "setPrices":
            return self._count(node, "prices"), place
        return None, place

    def _query(
        self, name: str, arguments: Mapping[str, Any], place: Place
    ) -> tuple[int | None, Place]:
        if name == "usage":
            root = Place(zone=_zone(arguments["timezone"]), apps=place.apps)
            return None, root.filtered(arguments.get("filter"))
        if name == "apps":
            bound = self.facts.apps
            return self.facts.catalog.apps if bound is None else len(bound), place
        if name == "prices":
            builtin = len(BUILTIN_PRICES) if arguments["includeBuiltin"] else 0
            return self.facts.catalog.configured_prices + builtin, place
        return None, place

    def _usage(
        self, name: str, arguments: Mapping[str, Any], place: Place
    ) -> tuple[int | None, Place]:
        """Fields of a Usage scope, in `place` already narrowed by their filter."""
        if name in ("timeseries", "feedback"):
            return self.series(place, arguments["granularity"], fill_gaps=arguments["fillGaps"])
        if name == "activeUsers":
            rolling = arguments["window"].name == "ROLLING"  # one row per day of the range
            period = Granularity.DAY if rolling else arguments["period"]
            return self.series(place, period, fill_gaps=True)
        if name in ("users", "chats"):  # the page's size is counted on its edges
            return None, replace(place, rows=_size(arguments["first"]))
        if name == "breakdown":
            keys = len(arguments["by"]) + len(arguments.get("metadataKeys") or ())
            return _size(arguments["limit"]), replace(place, rows=keys)
        if "limit" in arguments:  # models, tags, apps, chatTags
            return _size(arguments["limit"]), place
        return None, place

    def series(
        self, place: Place, granularity: Granularity, *, fill_gaps: bool
    ) -> tuple[int, Place]:
        """Buckets of a series in `place`, and the place of its rows: open ends are the data's
        (gaps are filled from the first event to the last), and without filled gaps only
        buckets that hold events are returned. With gaps filled, more than MAX_BUCKETS fails."""
        first = self.facts.catalog.earliest(place.apps)
        # Nothing known of these apps (no data, or not read yet): ingestion refuses events
        # before EARLIEST, so no series reaches further back.
        data_start = EARLIEST if first is None else max(first, EARLIEST)
        data_end = self.facts.now + FUTURE_SLACK + _TICK  # stored events are at most this late
        start = data_start if place.start is None else place.start
        end = data_end if place.end is None else place.end
        if not fill_gaps:
            start, end = max(start, data_start), min(end, data_end)
        count = count_buckets(start, end, granularity, place.zone)
        if place.bucket is not None:
            count = min(count, most_buckets(place.bucket, granularity))
        if fill_gaps:
            count = min(count, MAX_BUCKETS)
        if start >= end:
            return count, replace(place, series=granularity)
        # A row's children see its bucket, which may reach past an end the data set.
        tz = place.zone
        outer_start = bucket_start(start, granularity, tz)
        outer_end = bucket_end(bucket_start(end - _TICK, granularity, tz), granularity, tz)
        return count, replace(
            place,
            start=place.start if place.start is not None else outer_start,
            end=place.end if place.end is not None else outer_end,
            series=granularity,
        )

    def _count(self, node: FieldNode, argument: str) -> int:
        """Items in a list argument, from the document or the variables as sent."""
        value = next((a.value for a in node.arguments or () if a.name.value == argument), None)
        return 0 if value is None else self._items(value)

    def _items(self, value: ValueNode) -> int:
        if isinstance(value, VariableNode):
            name = value.name.value
            if name in self.inputs:
                sent = self.inputs[name]
                return len(sent) if isinstance(sent, list) else int(sent is not None)
            default = self.defaults.get(name)
            return 0 if default is None else self._items(default)
        if isinstance(value, ListValueNode):
            return len(value.values)
        return int(not isinstance(value, NullValueNode))  # one item stands for a list of one

    def _type(
        self, condition: NamedTypeNode | None, parent: GraphQLObjectType
    ) -> GraphQLObjectType:
        if condition is None:
            return parent
        named = self.schema.get_type(condition.name.value)
        return named if isinstance(named, GraphQLObjectType) else parent


def _size(value: int) -> int:
    """A list's size argument; 0 when the resolver refuses it (and returns no rows)."""
    return value if 1 <= value <= MAX_LIMIT else 0


def _named(node: TypeNode) -> str:
    while not isinstance(node, NamedTypeNode):
        node = node.type  # type: ignore[attr-defined]
    return node.name.value


def _zone(name: str) -> ZoneInfo:
    try:
        return zone(name)
    except TimeZoneError:  # refused by the field itself; count as if in UTC
        return ZoneInfo("UTC")


def _instant(value: object) -> datetime | None:
    """A filter's from/to, clamped to instants the calendar can count around; None when absent
    or without an offset (which the field refuses)."""
    if not isinstance(value, datetime) or value.tzinfo is None:
        return None
    return min(max(value, _FIRST), _LAST)
