"""Why some text is not JSON, in words the person fixing it reads.

The decoder's own messages name its state, not the mistake (`invalid literal, expected 'null'`
for `nope`). This says what was found where, and what JSON wants there.
"""

from __future__ import annotations

import re

import orjson

VALUES = "a string in double quotes, a number, true, false, null, an object or an array"
_TOKEN = re.compile(r"[^\s,:\[\]{}\"]{1,40}")  # a bare word where a value or key should be

_SAYINGS = tuple(
    (re.compile(pattern), saying)
    for pattern, saying in (
        # (the decoder's message, matched from its start; what to say instead)
        (r"invalid literal|.*expected a JSON value", f"expected a value at {{where}}, found"
         f" {{found}}: a value is {VALUES}"),
        (r"unexpected character, expected a string key", "expected a key in double quotes at"
         " {where}, found {found}"),
        (r"unexpected character, expected (?P<wanted>.+)", "expected {wanted} at {where}, found"
         " {found}"),
        (r"unexpected end of data", "it ends at {where} with a string, object or array still"
         " open"),
        (r"unexpected content after document", "more text follows the JSON value at {where},"
         " found {found}"),
        (r"trailing comma", "a trailing comma at {where}: JSON allows no comma before a closing"
         " bracket"),
        (r"unexpected control character", "a line break or control character inside a string"
         " at {where}: write it as \\n, \\t or \\u00XX"),
        (r"invalid escape", "an invalid escape in a string at {where}: a backslash may only come"
         ' before " \\ / b f n r t or uXXXX'),
        (r".*surrogate", "an unpaired \\u surrogate escape in a string at {where}"),
        (r".*infinity", "a number too large to hold at {where}"),
        (r".*number|no digit", "a malformed number at {where} ({message})"),
        (r"depth limit", "objects and arrays nested more than 1,024 deep at {where}"),
        (r".*empty", "there is nothing to read"),
        (r".*UTF-8", "it is not UTF-8 text"),
    )
)  # fmt: skip


def json_problem(error: orjson.JSONDecodeError, *, multiline: bool) -> str:
    """What is wrong where `error` stopped, e.g. "expected ',' or '}' at column 9, found '\"'".
    Positions count characters from 1; with `multiline` they name the line too."""
    message: str = error.msg
    where = f"line {error.lineno}, column {error.colno}" if multiline else f"column {error.colno}"
    document = error.doc if isinstance(error.doc, str) else ""
    for pattern, saying in _SAYINGS:
        if said := pattern.match(message):
            found = _found(document, error.pos)
            return saying.format(where=where, found=found, message=message, **said.groupdict())
    return f"{message} at {where}"


def _found(document: str, position: int) -> str:
    """The word or character at `position`, quoted; or the end of the text."""
    if position >= len(document):
        return "the end of the text"
    token = _TOKEN.match(document, position)
    return repr(token.group(0) if token else document[position])
