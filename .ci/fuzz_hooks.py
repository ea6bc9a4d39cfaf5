"""Schemathesis check for .ci/fuzz: answers may refuse a query (that is GraphQL's 200 with
errors), but never fail: no 5xx status and no masked internal error."""

from __future__ import annotations

from typing import Any

import schemathesis


@schemathesis.check
def no_server_fault(ctx: Any, response: Any, case: Any) -> None:
    if response.status_code >= 500:
        raise AssertionError(f"the server answered {response.status_code}")
    body = response.json()
    for error in body.get("errors") or []:
        if (error.get("extensions") or {}).get("code") == "INTERNAL":
            raise AssertionError(f"a masked internal error: {error['message']}")
