"""The browser pages as the server sends them: the dashboard and GraphiQL, built from ui/ into
the package, each with a Content-Security-Policy allowing only usageql's own assets and API, and
their assets (and licence notices) served from the package itself."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx

from usageql.graphql.view import FIRST_QUERY
from usageql.pages import CONTENT_SECURITY_POLICY, STATIC_DIR, Pages

CONFIG = re.compile(r'<script id="usageql-config" type="application/json">(.*?)</script>', re.S)


def _assets(page: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', page)


async def test_the_root_opens_the_dashboard(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 307
    assert response.headers["location"] == "/dashboard"


async def test_the_dashboard_is_served_with_a_csp_and_its_assets_local(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/dashboard")
    assert response.status_code == 200
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY
    assert "connect-src 'self'" in CONTENT_SECURITY_POLICY
    assert "unsafe" not in CONTENT_SECURITY_POLICY  # no inline script or style, no eval
    page = response.text
    found = CONFIG.search(page)
    assert found
    assert json.loads(found.group(1)) == {"auth": True, "graphiql": True}
    assets = [a for a in _assets(page) if a.startswith("/static/")]
    assert {Path(a).suffix for a in assets} >= {".js", ".css"}
    # Nothing is fetched from another origin, and no script is inline.
    assert "://" not in "".join(_assets(page))
    assert re.findall(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)", page) == []
    for asset in assets:
        served = await client.get(asset, headers={"accept-encoding": "gzip"})
        assert served.status_code == 200, asset
        assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert served.headers["content-encoding"] == "gzip", asset


async def test_answers_are_compressed_at_zlibs_default_level(client: httpx.AsyncClient) -> None:
    """Level 9 (Starlette's default) costs 4x the CPU for ~10% fewer bytes. A gzip header's
    tenth byte says 2 for level 9, 4 for level 1 and 0 for the levels between."""
    page = (await client.get("/dashboard")).text
    asset = next(a for a in _assets(page) if a.endswith(".js"))
    async with client.stream("GET", asset, headers={"accept-encoding": "gzip"}) as served:
        raw = b"".join([chunk async for chunk in served.aiter_raw()])
    assert served.headers["content-encoding"] == "gzip"
    assert raw[:3] == b"\x1f\x8b\x08"  # gzip, deflate
    assert raw[8] == 0


async def test_graphiql_is_built_from_npm_with_its_key_prompt_and_a_csp(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    page = response.text
    assert "usageql needs an API key" in page
    found = CONFIG.search(page)
    assert found
    config = json.loads(found.group(1))
    assert config["firstQuery"] == FIRST_QUERY
    assert config["auth"] is True
    assets = [a for a in _assets(page) if a.startswith("/static/assets/")]
    assert assets
    for asset in assets:
        assert (await client.get(asset)).status_code == 200, asset
    # The committed 4 MB bundle is gone: only what the build makes, in the package's static/.
    assert not (STATIC_DIR.parent / "graphql" / "static").exists()


async def test_licence_notices_of_what_the_pages_bundle_are_served_with_them(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/static/licenses.txt")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-cache"
    notices = response.text
    for package in ("react ", "react-dom ", "graphiql 3.8.3", "uplot 1.6.32", "codemirror "):
        assert f"\n  {package}" in notices, package
    assert notices.count("==== ") >= 50  # every bundled package's own text, not only a name
    assert "Permission is hereby granted" in notices


def test_config_cannot_close_its_script_element(tmp_path: Path) -> None:
    (tmp_path / "dashboard.html").write_text(
        '<script id="usageql-config" type="application/json">{{config}}</script>'
    )
    page = Pages(tmp_path).response("dashboard", {"q": "</script><script>alert(1)</script>"})
    body = bytes(page.body).decode()
    assert "</script><script>" not in body
    found = CONFIG.search(body)
    assert found
    assert json.loads(found.group(1)) == {"q": "</script><script>alert(1)</script>"}


def test_pages_not_built_say_how_to_build_them(tmp_path: Path) -> None:
    page = Pages(tmp_path).response("dashboard", {})
    assert page.status_code == 503
    assert "pip install" in bytes(page.body).decode()
