"""Decoding NDJSON, JSON arrays and CSV into raw records (usageql.ingest.readers)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from usageql.ingest.parse import ParseOptions, RecordError, parse_record
from usageql.ingest.pipeline import Ingestor, Location, RawRecord, Undecodable
from usageql.ingest.readers import BodyError, csv_text, read_csv, read_json, read_ndjson
from usageql.ingest.records import Feedback, Message, Usage, UserRef

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)
OPTIONS = ParseOptions(now=NOW)


def line(number: int) -> Location:
    return Location("line", number)


def index(number: int) -> Location:
    return Location("index", number)


def read(text: str) -> list[RawRecord]:
    """CSV text through the same path as a file: bytes, then csv_text, then read_csv."""
    return list(read_csv(csv_text(text.encode())))


def only_record(text: str) -> object:
    """The single data row of a CSV text, decoded."""
    records = read(text)
    assert len(records) == 1
    assert records[0][0] == line(2)
    return records[0][1]


# NDJSON


def test_ndjson_keeps_one_undecoded_line_per_record() -> None:
    lines = [b'{"id": "a"}\n', b'{"id": "b", "cost": 0.5}\n']
    assert list(read_ndjson(lines)) == [(line(1), lines[0]), (line(2), lines[1])]


def test_ndjson_skips_blank_lines_but_keeps_counting_them() -> None:
    lines = ['{"id": "a"}\n', "\n", "   \t\n", "", '{"id": "b"}\n']
    assert list(read_ndjson(lines)) == [(line(1), b'{"id": "a"}\n'), (line(5), b'{"id": "b"}\n')]


def test_ndjson_lines_can_start_at_a_given_number() -> None:
    assert list(read_ndjson([b"{}", b"[]"], first_line=41)) == [
        (line(41), b"{}"),
        (line(42), b"[]"),
    ]


def _parsed(body: bytes) -> tuple[list[str], list[tuple[int, str]]]:
    """Message ids stored and (line, error) rejected when an NDJSON body is parsed."""
    ingestor = Ingestor(None, OPTIONS)  # type: ignore[arg-type]  # parsing needs no database
    parsed = ingestor.parse(list(read_ndjson(body.split(b"\n"))))
    batch, _, rejected = asyncio.run(parsed)
    return [m.id for m in batch.messages], [(r.location.number, r.error) for r in rejected]


def test_ndjson_from_a_split_body_tolerates_crlf_and_a_final_newline() -> None:
    body = b'{"id": "a", "timestamp": 1748772000, "model": "m"}\r\n' * 2
    assert _parsed(body) == (["a", "a"], [])


def test_a_bad_ndjson_line_is_rejected_alone_and_its_neighbours_still_parse() -> None:
    good = b'{"id": "%s", "timestamp": 1748772000, "model": "m"}'
    ids, rejected = _parsed(b"\n".join([good % b"a", b'{"id": "b",', good % b"c"]))
    assert ids == ["a", "c"]
    assert [number for number, _ in rejected] == [2]
    assert rejected[0][1].startswith("not valid JSON: ")


A_VALUE = "a value is a string in double quotes, a number, true, false, null, an object or an array"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (b"nope", f"expected a value at column 1, found 'nope': {A_VALUE}"),
        (b'{"id": "a", "model": gpt-4o}', f"expected a value at column 22, found 'gpt-4o':"
         f" {A_VALUE}"),
        (b'{"id": "a", "ok": True}', f"expected a value at column 19, found 'True': {A_VALUE}"),
        (b'{"id": "a",', "it ends at column 12 with a string, object or array still open"),
        (b"{'id': 'a'}", "expected a key in double quotes at column 2, found \"'id'\""),
        (b'{"id": "a" "model": "m"}', "expected ',' or '}' at column 12, found '\"'"),
        (b'{"id": "a",}', "a trailing comma at column 11: JSON allows no comma before a closing"
         " bracket"),
        (b'{"id": "a"} {"id": "b"}', "more text follows the JSON value at column 13, found '{'"),
        (b'{"id": "a\\qb"}', "an invalid escape in a string at column 10: a backslash may only come"
         ' before " \\ / b f n r t or uXXXX'),
        (b'{"id": "a", "cost": 01}', "a malformed number at column 21 (number with leading zero is"
         " not allowed)"),
    ],
)  # fmt: skip
def test_a_line_that_is_not_json_says_what_is_wrong_where_in_words(
    text: bytes, problem: str
) -> None:
    assert _parsed(text) == (
        [],
        [(1, f"not valid JSON: {problem}; each line must be one JSON object")],
    )


def test_a_json_body_that_is_not_json_names_the_line_and_column() -> None:
    body = b'[\n  {"id": "a"},\n  {"id": "b", "model": nope}\n]\n'
    with pytest.raises(BodyError) as raised:
        read_json(body)
    assert str(raised.value) == (
        "the body is not valid JSON: expected a value at line 3, column 24, found 'nope':"
        f" {A_VALUE}"
    )


def test_ndjson_lines_that_are_not_objects_are_rejected_by_validation() -> None:
    assert _parsed(b'5\n"text"') == (
        [],
        [
            (1, "a record must be a JSON object, got a number"),
            (2, "a record must be a JSON object, got a string"),
        ],
    )


# JSON arrays


def test_a_json_array_gives_records_with_zero_based_indexes() -> None:
    data = b'[{"id": "a"}, {"id": "b"}, 5]'
    assert read_json(data) == [(index(0), {"id": "a"}), (index(1), {"id": "b"}), (index(2), 5)]


def test_an_empty_json_array_gives_no_records() -> None:
    assert read_json(b"[]") == []


def test_a_single_json_object_is_one_record_at_index_0() -> None:
    assert read_json(b'{"id": "a", "model": "gpt-4o"}') == [
        (index(0), {"id": "a", "model": "gpt-4o"})
    ]


@pytest.mark.parametrize("data", [b"5", b'"records"', b"null", b"true"])
def test_json_that_is_neither_an_array_nor_an_object_is_a_body_error(data: bytes) -> None:
    with pytest.raises(BodyError, match="expected a JSON array of records"):
        read_json(data)


@pytest.mark.parametrize("data", [b'[{"id": "a"}', b"", b"{'id': 'a'}", b"[1, 2,]"])
def test_invalid_json_is_a_body_error(data: bytes) -> None:
    with pytest.raises(BodyError, match="the body is not valid JSON"):
        read_json(data)


# CSV: shape of the input


def test_csv_header_is_line_1_so_data_starts_at_line_2() -> None:
    records = read("id,model\na,gpt-4o\nb,gpt-4o\n")
    assert records == [
        (line(2), {"id": "a", "model": "gpt-4o"}),
        (line(3), {"id": "b", "model": "gpt-4o"}),
    ]


def test_csv_with_only_a_header_or_nothing_gives_no_records() -> None:
    assert read("id,model\n") == []
    assert read("") == []


def test_csv_quoted_cells_keep_commas_and_quotes() -> None:
    record = only_record('id,content\na,"Hello, ""world"""\n')
    assert record == {"id": "a", "content": 'Hello, "world"'}


def test_a_csv_row_with_more_cells_than_the_header_is_undecodable() -> None:
    records = read("id,model\na,gpt-4o,extra\nb,gpt-4o\n")
    assert [location for location, _ in records] == [line(2), line(3)]
    bad = records[0][1]
    assert isinstance(bad, Undecodable)
    assert bad.error == "more cells than columns in the header"
    assert records[1][1] == {"id": "b", "model": "gpt-4o"}


# CSV: quotes. The threat: one unbalanced quote swallowing the records after it into a field.


def errors(records: list[RawRecord]) -> list[tuple[int, str]]:
    """(line, problem) of the undecodable records."""
    return [(loc.number, raw.error) for loc, raw in records if isinstance(raw, Undecodable)]


def ids(records: list[RawRecord]) -> list[tuple[int, object]]:
    """(line, id) of the decoded records."""
    return [(loc.number, raw["id"]) for loc, raw in records if isinstance(raw, dict)]


def test_an_unclosed_quote_rejects_its_record_on_the_line_it_opened_and_reading_resumes() -> None:
    records = read('id,model,chat_id\na,gpt-4o,c1\nb,"gpt-4o,c2\nc,gpt-4o,c3\nd,gpt-4o,c4\n')
    assert ids(records) == [(2, "a"), (4, "c"), (5, "d")]
    assert errors(records) == [
        (3, "model: a quote opened on this line is still open at the end of the file")
    ]


def test_a_quote_closed_on_a_later_line_outside_free_text_is_an_error_on_its_first_line() -> None:
    text = 'id,model,content\na,"gpt\n4o",hi\nb,gpt-4o,"fine"\n'
    records = read(text)
    assert errors(records)[0] == (
        2,
        "model: a quote opened on this line is not closed on it (only content, title and"
        " comment cells may span lines)",
    )
    # Reading resumes on line 3, which was inside the broken cell: it is read as a record.
    assert ids(records) == [(3, '4o"'), (4, "b")]


def test_a_swallowing_quote_closed_by_a_later_record_is_caught() -> None:
    text = 'id,model,content\na,"gpt-4o,x\nb,gpt-4o,"y"\nc,gpt-4o,z\n'
    records = read(text)
    assert errors(records) == [
        (2, 'model: a quoted cell goes on after its closing quote (inside quotes, write a quote'
            ' as "")'),
    ]  # fmt: skip
    assert ids(records) == [(3, "b"), (4, "c")]
    assert records[1][1] == {"id": "b", "model": "gpt-4o", "content": "y"}


@pytest.mark.parametrize("column", ["content", "title", "comment"])
def test_free_text_cells_may_span_lines_and_records_start_where_they_start(column: str) -> None:
    records = read(f'id,{column}\na,"one\r\ntwo\nthree"\nb,"x"\n')
    assert records == [
        (line(2), {"id": "a", column: "one\r\ntwo\nthree"}),
        (line(5), {"id": "b", column: "x"}),
    ]


def test_a_quote_in_free_text_still_open_at_the_end_is_an_error_on_its_line() -> None:
    records = read('id,content\na,"fine\nstill fine"\nb,"never closed\nc,more\n')
    assert ids(records) == [(2, "a"), (5, "c")]
    assert errors(records) == [
        (4, "content: a quote opened on this line is still open at the end of the file")
    ]


def test_a_quote_opened_in_a_cell_beyond_the_header_is_named_so() -> None:
    records = read('id,model\na,m,"x\nb,m\n')
    assert errors(records) == [
        (2, "a cell beyond the header's columns: a quote opened on this line is still open at the"
            " end of the file"),
    ]  # fmt: skip
    assert ids(records) == [(3, "b")]


def test_a_cell_longer_than_csv_allows_is_rejected_alone() -> None:
    records = read(f'id,content\na,"{"x" * 200_000}"\nb,y\n')
    assert errors(records) == [
        (2, "content: a cell is longer than 131,072 characters, the most a CSV cell may hold")
    ]
    assert ids(records) == [(3, "b")]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('id,"model\na,m\n', 'line 1: the CSV header is not valid: column 2: a quote opened on'
                                ' this line is still open at the end of the file'),
        ('id,"mo\ndel"\na,m\n', "line 1: the CSV header is not valid: column 2: a quote opened"
                                  " on this line is not closed on it"),
    ],
)  # fmt: skip
def test_a_broken_quote_in_the_header_is_a_body_error(text: str, error: str) -> None:
    with pytest.raises(BodyError) as caught:
        read(text)
    assert str(caught.value) == error


def test_a_short_csv_row_leaves_the_missing_cells_absent() -> None:
    assert only_record("id,model,cost\na\n") == {"id": "a"}


def test_empty_csv_cells_are_absent_fields() -> None:
    assert only_record("id,model,cost,tags,user.name\na,,,,\n") == {"id": "a"}


def test_csv_with_a_utf8_bom_reads_the_first_column_name_cleanly() -> None:
    data = "\ufeffid,model\r\na,gpt-4o\r\n".encode()
    assert data.startswith(b"\xef\xbb\xbf")
    assert list(read_csv(csv_text(data))) == [(line(2), {"id": "a", "model": "gpt-4o"})]


def test_csv_text_keeps_non_ascii_utf8() -> None:
    assert only_record("id,content\na,Grüße ☃\n") == {"id": "a", "content": "Grüße ☃"}


def test_csv_that_is_not_utf8_is_a_body_error() -> None:
    with pytest.raises(BodyError, match="CSV is not UTF-8"):
        csv_text(b"id,content\na,caf\xe9\n")


# CSV: columns


def test_dotted_csv_columns_build_nested_objects() -> None:
    text = (
        "id,user.id,user.name,usage.input_tokens,"
        "usage.prompt_tokens_details.cached_tokens,metadata.team\n"
        "m-1,u-1,Ann,100,40,search\n"
    )
    assert only_record(text) == {
        "id": "m-1",
        "user": {"id": "u-1", "name": "Ann"},
        "usage": {"input_tokens": 100, "prompt_tokens_details": {"cached_tokens": 40}},
        "metadata": {"team": "search"},
    }


@pytest.mark.parametrize(
    "text",
    ["id,user,user.name\nm-1,u-1,Ann\n", "id,user.name,user\nm-1,Ann,u-1\n"],
    ids=["user-first", "user-name-first"],
)
def test_a_user_column_beside_user_name_is_the_user_id(text: str) -> None:
    assert only_record(text) == {"id": "m-1", "user": {"id": "u-1", "name": "Ann"}}


def test_a_user_column_alone_is_a_string_id() -> None:
    assert only_record("id,user\nm-1,u-1\n") == {"id": "m-1", "user": "u-1"}


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("a|b", ["a", "b"]),
        ("feature:summarize", ["feature:summarize"]),
        ("a||b|", ["a", "b"]),
        ('"[""a"",""b""]"', ["a", "b"]),
        ('"[""a|b"",""c""]"', ["a|b", "c"]),
    ],
)
def test_csv_tags_are_pipe_separated_or_a_json_array(cell: str, expected: list[str]) -> None:
    assert only_record(f"id,tags\na,{cell}\n") == {"id": "a", "tags": expected}


def test_csv_numeric_fields_become_numbers() -> None:
    text = (
        "timestamp,cost,latency_ms,ttft_ms,rating,usage.output_tokens,"
        "usage.completion_tokens_details.reasoning_tokens\n"
        "1748736000,0.25,1500,120.5,-1,200,50\n"
    )
    record = only_record(text)
    assert isinstance(record, dict)
    assert record == {
        "timestamp": 1_748_736_000,
        "cost": 0.25,
        "latency_ms": 1500,
        "ttft_ms": 120.5,
        "rating": -1,
        "usage": {"output_tokens": 200, "completion_tokens_details": {"reasoning_tokens": 50}},
    }
    assert type(record["timestamp"]) is int
    assert type(record["cost"]) is float
    assert type(record["latency_ms"]) is int
    assert type(record["ttft_ms"]) is float
    assert type(record["rating"]) is int


def test_csv_numeric_fields_that_are_not_numbers_stay_text() -> None:
    text = "timestamp,cost,rating,usage.input_tokens\n2025-06-01T10:00:00Z,abc,up,many\n"
    assert only_record(text) == {
        "timestamp": "2025-06-01T10:00:00Z",
        "cost": "abc",
        "rating": "up",
        "usage": {"input_tokens": "many"},
    }


def test_csv_text_fields_stay_text_even_when_they_look_like_numbers() -> None:
    text = "id,chat_id,user.id,model,content\n007,42,1001,4,3.5\n"
    assert only_record(text) == {
        "id": "007",
        "chat_id": "42",
        "user": {"id": "1001"},
        "model": "4",
        "content": "3.5",
    }


# CSV through the parser


def test_a_csv_record_parses_to_the_same_message_as_its_json() -> None:
    text = (
        "id,timestamp,app,role,chat_id,user,user.name,user.email,model,provider,source,status,"
        "usage.prompt_tokens,usage.completion_tokens,usage.total_tokens,"
        "usage.prompt_tokens_details.cached_tokens,"
        "usage.completion_tokens_details.reasoning_tokens,"
        "cost,latency_ms,ttft_ms,tags,metadata.team,content\n"
        "m-1,2025-06-01T12:30:00+02:00,acme,assistant,c-1,u-1,Ann,ann@example.com,gpt-4o,"
        "openai,api,success,1000,200,1200,600,50,0.0125,1500,250.5,feature:a|beta,search,"
        '"Hello, world"\n'
    )
    as_json = {
        "id": "m-1",
        "timestamp": "2025-06-01T12:30:00+02:00",
        "app": "acme",
        "role": "assistant",
        "chat_id": "c-1",
        "user": {"id": "u-1", "name": "Ann", "email": "ann@example.com"},
        "model": "gpt-4o",
        "provider": "openai",
        "source": "api",
        "status": "success",
        "usage": {
            "prompt_tokens": 1000,
            "completion_tokens": 200,
            "total_tokens": 1200,
            "prompt_tokens_details": {"cached_tokens": 600},
            "completion_tokens_details": {"reasoning_tokens": 50},
        },
        "cost": 0.0125,
        "latency_ms": 1500,
        "ttft_ms": 250.5,
        "tags": ["feature:a", "beta"],
        "metadata": {"team": "search"},
        "content": "Hello, world",
    }
    from_csv = parse_record(only_record(text), OPTIONS)
    assert isinstance(from_csv, Message)
    assert from_csv == parse_record(as_json, OPTIONS)
    assert from_csv.timestamp == datetime(2025, 6, 1, 10, 30, tzinfo=UTC)
    assert from_csv.user == UserRef(id="u-1", name="Ann", email="ann@example.com")
    assert from_csv.usage == Usage(input=1000, output=200, cache_read=600, reasoning=50)
    assert from_csv.tags == ("feature:a", "beta")
    assert from_csv.content_preview == "Hello, world"


def test_a_csv_row_with_an_epoch_timestamp_parses_like_iso() -> None:
    records = read("id,timestamp,model\na,1748736000000,gpt-4o\nb,2025-06-01T00:00:00Z,gpt-4o\n")
    first, second = (parse_record(raw, OPTIONS) for _, raw in records)
    assert first.timestamp == second.timestamp == datetime(2025, 6, 1, tzinfo=UTC)


@pytest.mark.parametrize(("cell", "rating"), [("up", 1), ("down", -1), ("1", 1), ("-1", -1)])
def test_a_csv_feedback_row_parses_its_rating(cell: str, rating: int) -> None:
    raw = only_record(f"type,id,timestamp,message_id,rating\nfeedback,f-1,1748736000,m-1,{cell}\n")
    feedback = parse_record(raw, OPTIONS)
    assert isinstance(feedback, Feedback)
    assert feedback.rating == rating
    assert feedback.model is None
    assert feedback.message_id == "m-1"


def test_a_non_numeric_csv_cost_is_rejected_by_the_parser_with_its_field() -> None:
    raw = only_record("id,timestamp,model,cost\na,2025-06-01T10:00:00Z,gpt-4o,cheap\n")
    with pytest.raises(RecordError, match=r"^cost: expected a number, got 'cheap'$"):
        parse_record(raw, OPTIONS)


@pytest.mark.parametrize("field", ["timestamp", "cost", "latency_ms", "ttft_ms"])
def test_a_csv_number_too_large_for_a_float_is_a_record_error(field: str) -> None:
    # Python's int() reads any number of digits, so CSV can carry integers JSON cannot.
    cells = {"id": "a", "timestamp": "2025-06-01T10:00:00Z", "model": "gpt-4o", field: "9" * 400}
    text = ",".join(cells) + "\n" + ",".join(cells.values()) + "\n"
    with pytest.raises(RecordError) as caught:
        parse_record(only_record(text), OPTIONS)
    assert caught.value.field == field


def test_a_future_csv_timestamp_is_rejected_like_json() -> None:
    future = NOW + timedelta(days=2)
    raw = only_record(f"id,timestamp,model\na,{int(future.timestamp())},gpt-4o\n")
    with pytest.raises(RecordError, match="more than a day in the future"):
        parse_record(raw, OPTIONS)
