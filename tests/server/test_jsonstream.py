"""JSON sent in pieces is the JSON Starlette would have sent in one."""

from __future__ import annotations

import json

import pytest
from starlette.responses import JSONResponse

from lokaalmeten.server.jsonstream import pieces


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"value": []},
        {"@iot.count": 3, "value": [{"a": 1}, {"b": "é"}, {"c": None}]},
        {"value": [{"result": i / 3, "name": f"kit-{i}"} for i in range(1001)], "x": [1, 2]},
        {"first": list(range(450)), "second": {"nested": [1]}, "third": list(range(200))},
    ],
)
def test_pieces_make_the_same_bytes_as_one_json_response(body: dict[str, object]) -> None:
    streamed = b"".join(pieces(body, per_piece=200))
    assert streamed == JSONResponse(body).body
    assert json.loads(streamed) == body


def test_a_long_list_goes_in_several_pieces() -> None:
    # the opening, ten pieces, "]" and "}"
    assert len(list(pieces({"value": list(range(1000))}, per_piece=100))) == 13


def test_nan_is_refused_as_by_json_response() -> None:
    with pytest.raises(ValueError):
        b"".join(pieces({"value": [float("nan")]}))
