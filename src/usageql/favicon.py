"""`/favicon.ico`: a 16x16 bar chart drawn here, so browsers find an icon.

Every browser asks for /favicon.ico on its own, whatever the page says; a 404 there was logged for
every GraphiQL session, and browsers keep asking for an icon they did not get. The icon is drawn
in code (an ICO holding one 32-bit bitmap) rather than kept as an opaque binary file.
"""

from __future__ import annotations

import struct

from starlette.requests import Request
from starlette.responses import Response

SIZE = 16
BARS = ((2, 4, 7), (7, 9, 11), (12, 14, 15))
"""(first column, last column, height in pixels) of each bar, rising to the right."""
COLOR = bytes((0xEB, 0x63, 0x25, 0xFF))  # #2563eb, opaque, as a bitmap stores it (B, G, R, A)
CLEAR = bytes(4)  # transparent
CACHE_SECONDS = 7 * 24 * 3600


def _opaque(x: int, row_from_bottom: int) -> bool:
    return any(first <= x <= last and row_from_bottom < height for first, last, height in BARS)


def icon() -> bytes:
    """The ICO file: its directory, one entry, and a bitmap (rows from the bottom up, colours
    with alpha, then the 1-bit mask that alpha makes redundant, all zeros)."""
    pixels = b"".join(
        COLOR if _opaque(x, row) else CLEAR for row in range(SIZE) for x in range(SIZE)
    )
    mask = bytes(SIZE * 4)  # a 16-pixel row of 1 bit each, padded to 4 bytes
    header = struct.pack(
        "<IiiHHIIiiII", 40, SIZE, 2 * SIZE, 1, 32, 0, len(pixels) + len(mask), 0, 0, 0, 0
    )
    bitmap = header + pixels + mask
    directory = struct.pack("<HHH", 0, 1, 1)
    entry = struct.pack("<BBBBHHII", SIZE, SIZE, 0, 0, 1, 32, len(bitmap), 6 + 16)
    return directory + entry + bitmap


ICON = icon()


async def favicon(request: Request) -> Response:
    """The icon, cacheable for a week."""
    return Response(
        ICON,
        media_type="image/x-icon",
        headers={"Cache-Control": f"public, max-age={CACHE_SECONDS}"},
    )
