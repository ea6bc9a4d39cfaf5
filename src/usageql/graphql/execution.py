"""Plain fields answered without graphql-core's per-field machinery.

A dashboard's answer is mostly small values: a month of days for each of ten models is ~1,900
values in the overview, and ~700 `metrics` objects holding them. For each field graphql-core
builds a resolve info (and strawberry its own Info and argument lists), calls the resolver, and
completes the value through the non-null, list, leaf, abstract and object checks: ~10 µs per
leaf on a loaded core, against ~3 µs answered as below. A field that takes no arguments and is
answered by an attribute, or by a method of the object alone (no info, no extension, no
permission), and returns a scalar, an enum or an object type (no list, no union or interface,
no `is_type_of`) needs none of that: a leaf is the value coerced by its type; an object goes
straight to its sub-selection. Those fields are found once per schema. Anything unusual (null,
an exception, a value its type refuses) goes the ordinary way, and an object's sub-fields
report their errors exactly as graphql-core does, so answers and errors read and are placed as
before (tests/test_execution.py compares both on a schema made for it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from operator import attrgetter
from typing import Any, cast
from weakref import WeakKeyDictionary

from graphql import (
    GraphQLLeafType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    get_nullable_type,
    is_leaf_type,
)
from graphql.pyutils import Path, Undefined
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

# How to answer a plain field: its value on the source, the name of its type, whether it is
# non-null, and whether its type is an object type (else a leaf). Names, not the types: a type
# leads back to the schema (its fields' resolvers to strawberry's converter and schema), which
# would then never be forgotten.
Plain = tuple[Callable[[Any], Any], str, bool, bool]

_FOUND: WeakKeyDictionary[GraphQLSchema, dict[tuple[str, str], Plain]] = WeakKeyDictionary()


def plain_fields(schema: GraphQLSchema) -> dict[tuple[str, str], Plain]:
    """(type name, field name) → how to answer it, for every plain field of the schema; worked
    out once per schema, and forgotten with it (each app builds its own)."""
    found = _FOUND.get(schema)
    if found is None:
        found = _FOUND[schema] = _plain_fields(schema)
    return found


def _plain_fields(schema: GraphQLSchema) -> dict[tuple[str, str], Plain]:
    found: dict[tuple[str, str], Plain] = {}
    for type_ in schema.type_map.values():
        if not isinstance(type_, GraphQLObjectType) or type_.name.startswith("__"):
            continue
        for name, field in type_.fields.items():
            definition = field.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
            value = _value(definition) if field.args == {} else None
            non_null = isinstance(field.type, GraphQLNonNull)
            named = get_nullable_type(field.type)
            plain_object = isinstance(named, GraphQLObjectType) and named.is_type_of is None
            if value is not None and (is_leaf_type(named) or plain_object):
                found[type_.name, name] = (value, named.name, non_null, plain_object)
    return found


def _value(field: object) -> Callable[[Any], Any] | None:
    """The source's attribute, or its method taking nothing but itself; None for anything else."""
    if not isinstance(field, StrawberryField) or field.extensions or field.permission_classes:
        return None
    resolver = field.base_resolver
    if resolver is None:
        if field.default_resolver is getattr:  # strawberry's default: the attribute itself
            return attrgetter(field.python_name)
        return partial(_resolved, field.default_resolver, field.python_name)
    only_self = resolver.self_parameter is not None and len(resolver.signature.parameters) == 1
    if resolver.is_async or not only_self:
        return None
    method = resolver.wrapped_func
    return None if isinstance(method, staticmethod | classmethod) else method


def _resolved(resolver: Callable[[Any, str], Any], name: str, source: Any) -> Any:
    return resolver(source, name)


def _found(value: Callable[[Any], Any], source: Any) -> Any:
    """The field's value; Undefined when it raised or is an exception (the ordinary way says so)."""
    try:
        found = value(source)
    except Exception:
        return Undefined
    return Undefined if isinstance(found, Exception) else found


def _coerced(type_: GraphQLLeafType, value: Any) -> Any:
    """The leaf's output value; Undefined when its type refuses it (the ordinary way says why)."""
    try:
        coerced = type_.coerce_output_value(value)
    except Exception:
        return Undefined
    return Undefined if coerced is None else coerced


class PlainFieldExecution(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's execution context, answering the schema's plain fields directly."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        wrapped = self.middleware_manager is not None and self.middleware_manager.middlewares
        # A middleware (an extension's `resolve`) sees every field: then none is answered here.
        self.plain = {} if wrapped else plain_fields(self.schema)

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: Any,
        path: Path,
        position_context: Any,
    ) -> Any:
        plain = self.plain.get((parent_type.name, field_details_list[0].node.name.value))
        if plain is not None:
            value, name, non_null, is_object = plain
            found = _found(value, source)
            if found is None and not non_null:
                return None
            if found is not None and found is not Undefined:
                named = self.schema.type_map[name]
                if is_object:
                    return self._object(
                        cast("GraphQLObjectType", named),
                        non_null,
                        found,
                        field_details_list,
                        path=path,
                        context=position_context,
                    )
                coerced = _coerced(cast("GraphQLLeafType", named), found)
                if coerced is not Undefined:
                    return coerced
        return super().execute_field(
            parent_type, source, field_details_list, path, position_context
        )

    def _object(
        self,
        named: GraphQLObjectType,
        non_null: bool,
        found: Any,
        field_details_list: Any,
        *,
        path: Path,
        context: Any,
    ) -> Any:
        """The object's sub-selection; an error in it is this field's, as graphql-core has it."""
        try:
            completed = self.collect_and_execute_subfields(
                named, field_details_list, path, found, context
            )
        except Exception as error:
            self._failed(error, named, non_null, field_details_list, path)
            return None
        if self.is_awaitable(completed):
            return self._awaited(completed, named, non_null, field_details_list, path)
        return completed

    async def _awaited(
        self,
        completed: Awaitable[Any],
        named: GraphQLObjectType,
        non_null: bool,
        field_details_list: Any,
        path: Path,
    ) -> Any:
        try:
            return await completed
        except Exception as error:
            self._failed(error, named, non_null, field_details_list, path)
            return None

    def _failed(
        self,
        error: Exception,
        named: GraphQLObjectType,
        non_null: bool,
        field_details_list: Any,
        path: Path,
    ) -> None:
        """graphql-core's handling of a field's error: raised on where the field is non-null."""
        returns: GraphQLOutputType = GraphQLNonNull(named) if non_null else named
        self.handle_field_error(error, returns, field_details_list, path)
