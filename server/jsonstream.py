"""JSON answers sent in pieces, so that no single encoder call holds up the other requests.

``json.dumps`` of a page of thousands of entities is one C call that keeps the GIL until it
is done (tens of milliseconds): every other request waits, also the light ones. Encoding
the page a few hundred entities at a time, each piece handed to the event loop as it is
ready, lets them in between (docs/api.md, "Bounded requests")::

    return json_response({"@iot.count": 5, "value": [...]})   # a StreamingResponse

The bytes are those of Starlette's ``JSONResponse``: UTF-8, no NaN, no spaces.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from starlette.responses import StreamingResponse

PER_PIECE = 200  # list items per piece: about 20-100 KB of JSON
_encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


def pieces(body: Mapping[str, Any], per_piece: int = PER_PIECE) -> Iterator[bytes]:
    """The JSON of ``body``, its lists written ``per_piece`` items at a time."""
    opening = "{"
    for key, value in body.items():
        head = f"{opening}{_encode(key)}:"
        opening = ","
        if not isinstance(value, list) or len(value) <= per_piece:
            yield (head + _encode(value)).encode()
            continue
        yield (head + "[").encode()
        for start in range(0, len(value), per_piece):
            text = _encode(value[start : start + per_piece])[1:-1]
            yield (text if start == 0 else "," + text).encode()
        yield b"]"
    yield b"{}" if opening == "{" else b"}"


def json_response(body: Mapping[str, Any], status_code: int = 200) -> StreamingResponse:
    return StreamingResponse(pieces(body), status_code=status_code, media_type="application/json")
