"""/favicon.ico: browsers ask for it on every visit, so it answers with a real icon."""

from __future__ import annotations

import struct

import httpx
from starlette.applications import Starlette

# The icon as a person sees it, top row first: three bars rising to the right.
PICTURE = """\
................
............###.
............###.
............###.
............###.
.......###..###.
.......###..###.
.......###..###.
.......###..###.
..###..###..###.
..###..###..###.
..###..###..###.
..###..###..###.
..###..###..###.
..###..###..###.
..###..###..###."""


def _decode(data: bytes) -> list[str]:
    """The picture an ICO of one 16x16 32-bit bitmap holds ('#' opaque, '.' transparent),
    read the way an icon decoder reads it."""
    reserved, kind, count = struct.unpack_from("<HHH", data, 0)
    assert (reserved, kind, count) == (0, 1, 1)
    width, height, _, _, planes, bits, size, offset = struct.unpack_from("<BBBBHHII", data, 6)
    assert (width, height, planes, bits) == (16, 16, 1, 32)
    assert offset + size == len(data)
    header_size, bmp_width, bmp_height, _, bmp_bits, compression = struct.unpack_from(
        "<IiiHHI", data, offset
    )
    assert (header_size, bmp_width, bmp_height, bmp_bits, compression) == (40, 16, 32, 32, 0)
    pixels = offset + header_size
    assert size == header_size + 16 * 16 * 4 + 16 * 4  # colours, then the padded 1-bit mask
    rows = []
    for row in range(16):  # stored bottom-up
        start = pixels + row * 16 * 4
        alphas = data[start + 3 : start + 16 * 4 : 4]
        rows.append("".join("#" if alpha == 255 else "." for alpha in alphas))
    return rows[::-1]


async def test_the_favicon_is_an_icon_anyone_may_fetch_and_cache(app: Starlette) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/favicon.ico")  # no key: browsers send none
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/x-icon"
    assert response.headers["cache-control"] == "public, max-age=604800"
    assert "\n".join(_decode(response.content)) == PICTURE
