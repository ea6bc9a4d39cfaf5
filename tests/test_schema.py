from __future__ import annotations

from pathlib import Path

from strawberry.printer import print_schema
from strawberry.schema.name_converter import NameConverter

from usageql.graphql.schema import CachedNames, schema

COMMITTED = Path(__file__).resolve().parents[1] / "schema.graphql"


def test_schema_graphql_matches_the_code() -> None:
    exported = print_schema(schema) + "\n"
    committed = COMMITTED.read_text(encoding="utf-8")
    assert exported == committed, (
        "schema.graphql is out of date with the code. Regenerate it with:\n"
        "    usageql export-schema --output schema.graphql"
    )


def test_every_type_and_field_is_described() -> None:
    missing = []
    for name, gql_type in schema._schema.type_map.items():
        if name.startswith("__") or name in {"String", "Boolean", "Int", "Float", "ID"}:
            continue
        if not gql_type.description:
            missing.append(name)
        for field_name, field in getattr(gql_type, "fields", {}).items():
            if not field.description:
                missing.append(f"{name}.{field_name}")
    assert missing == []


def test_graphql_names_are_worked_out_once() -> None:
    """Every argument conversion asks for the names of an input type's fields: the schema's
    converter gives strawberry's names, and the same string objects the second time."""
    names = schema.config.name_converter
    assert isinstance(names, CachedNames)
    plain = NameConverter()
    for python_name in ("tag_contains", "successful_requests", "from_", "users"):
        first = names.apply_naming_config(python_name)
        assert first == plain.apply_naming_config(python_name)
        assert names.apply_naming_config(python_name) is first
