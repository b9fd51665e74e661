"""The noise indicators through SensorThings: a node's year of daily Lden as Observations of
its ``node:lden`` Datastream, over the store of bench/noise_indicators.py (100 nodes, one
LAeq reading an hour for a year). Target: a page ≤ 500 ms, as /v1/noise/indicators.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

from fastapi.testclient import TestClient

from bench.noise_indicators import build_store, row, timed
from lokaalmeten.server.app import create_app
from lokaalmeten.settings import ServerSettings

NAME = "sta_noise"
TITLE = "SensorThings noise-indicator Datastreams: a year of daily Lden per node on SQLite"


def _ok(client: TestClient, url: str) -> dict[str, object]:
    response = client.get(url, headers={"Accept-Encoding": "identity"})
    if response.status_code != 200:
        raise RuntimeError(f"{url}: {response.status_code} {response.text[:300]}")
    body: dict[str, object] = response.json()
    return body


def run(work: Path) -> str:
    nodes = int(os.environ.get("LM_BENCH_NOISE_NODES", 100))
    path = work / "noise.db"
    build = build_store(path, nodes)
    settings = ServerSettings(
        store=f"sqlite:///{path}",
        rate_limit=0,
        measurement_interval=3600,
        registry=str(work / "registry.db"),
    )
    stream = "/v1.1/Datastreams('kit-000:lden')/Observations"
    summer = quote(
        "phenomenonTime ge 2026-06-01T00:00:00Z and phenomenonTime lt 2026-07-01T00:00:00Z"
    )
    cases = [
        ("first page, `$top=100`", f"{stream}?$top=100", 100),
        ("a month by `phenomenonTime`", f"{stream}?$filter={summer}", 30),
        ("the year's `$count=true&$top=1`", f"{stream}?$count=true&$top=1", 1),
        ("the loudest 10, `$orderby=result desc`", f"{stream}?$orderby=result%20desc&$top=10", 10),
        ("one day by id", "/v1.1/Observations('kit-000:lden:1780264800')", None),
        (
            f"every node's newest Lden: {nodes} Datastreams, each "
            "`$expand=Observations($top=1;$orderby=phenomenonTime desc)`",
            "/v1.1/Datastreams?$filter="
            + quote("ObservedProperty/@iot.id eq 'lden'")
            + "&$expand="
            + quote("Observations($top=1;$orderby=phenomenonTime desc)"),
            min(100, nodes),
        ),
        (
            f"`/Datastreams` ({nodes * 5} of them), `$top=100`",
            "/v1.1/Datastreams",
            min(100, nodes * 5),
        ),
    ]
    lines = []
    with TestClient(create_app(settings)) as client:
        for name, url, size in cases:
            value = _ok(client, url).get("value")  # warm, and checked
            if size is not None:
                assert isinstance(value, list) and len(value) == size, (url, value)

            def ask(url: str = url) -> object:
                return _ok(client, url)

            lines.append(row(name, [timed(ask) for _ in range(7)], "≤ 500 ms"))
    return "\n".join(
        [
            f"Store: {nodes} nodes × one LAeq reading an hour for a year, built in {build:.1f} s "
            "(bench/noise_indicators.py's). Requests through the FastAPI app in-process.",
            "",
            "| request | CPU, median | wall clock, median | target |",
            "|---|---|---|---|",
            *lines,
            "",
            "A page in the Datastream's order computes as many days as it needs from the first "
            "(or last) one, doubling while gaps leave it short, at most `max_range_days` at a "
            "time; `$count` and another order compute every day in range.",
        ]
    )
