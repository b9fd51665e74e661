"""OGC API Features at /ogc on both stores: the documents a client reads first, items with
bbox, datetime, limit and next links, the refusals; and GDAL's OAPIF driver (ogrinfo, as QGIS
reads it) against a real server process listing every collection and filtering by bbox."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from lokaalmeten.readings import Reading
from lokaalmeten.server.guard import is_heavy
from lokaalmeten.services.ports import free_port, wait_listening
from lokaalmeten.services.processes import spawn
from tests.server.conftest import META, fill, get_ok, registry_for
from tests.server.test_stream import stop

DAY = "datetime=2026-11-28T00:00:00Z/2026-11-28T23:59:59Z"


def test_landing_conformance_and_collections(client: TestClient) -> None:
    landing = get_ok(client, "/ogc")
    rels = {link["rel"]: link["href"] for link in landing["links"]}
    assert set(rels) == {"self", "service-desc", "conformance", "data"}
    api = client.get(rels["service-desc"].removeprefix("http://testserver"))
    assert api.status_code == 200 and api.json()["openapi"].startswith("3.")
    assert "/ogc/collections/{cid}/items" in api.json()["paths"]
    assert all(path.startswith("/ogc") for path in api.json()["paths"])
    classes = get_ok(client, "/ogc/conformance")["conformsTo"]
    assert any(c.endswith("/conf/core") for c in classes)
    assert any(c.endswith("/conf/geojson") for c in classes)
    assert any(c.endswith("/conf/oas30") for c in classes)
    listed = get_ok(client, "/ogc/collections")["collections"]
    assert [c["id"] for c in listed] == ["kits", "hourly", "daily"]
    # The extent is of the published places: kit-1 rounded, kit-2 exact.
    assert listed[0]["extent"]["spatial"]["bbox"] == [[5.122, 52.091, 5.200051, 52.100049]]
    assert get_ok(client, "/ogc/collections/daily")["id"] == "daily"


def test_kits_are_points_at_the_rounded_place_with_latest_values(client: TestClient) -> None:
    response = client.get("/ogc/collections/kits/items")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/geo+json")
    body = response.json()
    assert (body["numberMatched"], body["numberReturned"]) == (2, 2)
    assert body["timeStamp"].endswith("Z")
    first = body["features"][0]
    assert first["id"] == "kit-1"
    assert first["geometry"] == {"type": "Point", "coordinates": [5.122, 52.091]}
    assert first["properties"]["pm25"] == 34.0  # the newest of 5.0 + i, i < 30
    assert first["properties"]["exactness"] == "rounded-3dp"
    one = get_ok(client, "/ogc/collections/kits/items/kit-2")
    assert one["geometry"]["coordinates"] == [5.200051, 52.100049]


def test_bbox_chooses_on_the_published_place(client: TestClient) -> None:
    # The box ends between kit-1's recorded longitude (5.121987) and its published 5.122.
    inside = get_ok(client, "/ogc/collections/kits/items?bbox=5.0,52.0,5.12199,52.2")
    assert inside["features"] == []
    inside = get_ok(client, "/ogc/collections/kits/items?bbox=5.0,52.0,5.15,52.2")
    assert [f["id"] for f in inside["features"]] == ["kit-1"]


def test_hourly_and_daily_features_by_datetime(client: TestClient) -> None:
    hourly = get_ok(client, f"/ogc/collections/hourly/items?{DAY}")
    ids = [f["id"] for f in hourly["features"]]
    assert ids == ["kit-1~pm25~1795824000", "kit-1~temperature~1795824000", "kit-2~pm25~1795824000"]
    pm25 = hourly["features"][0]["properties"]
    assert (pm25["method"], pm25["value"], pm25["count"]) == ("mean", 19.5, 30)
    assert pm25["coverage"] == 1.0 and pm25["end"] == "2026-11-28T01:00:00Z"
    assert hourly["features"][0]["geometry"]["coordinates"] == [5.122, 52.091]
    # An instant: the window holding it; an open start ends at the instant.
    instant = get_ok(client, "/ogc/collections/daily/items?datetime=2026-11-28T12:00:00Z")
    assert instant["numberMatched"] == 3
    before = get_ok(client, "/ogc/collections/hourly/items?datetime=../2026-11-27T12:00:00Z")
    assert before["features"] == []
    one = get_ok(client, "/ogc/collections/hourly/items/kit-2~pm25~1795824000")
    assert one["properties"]["count"] == 5


def test_limit_and_next_links_page_through_every_feature(client: TestClient) -> None:
    url: str | None = f"/ogc/collections/hourly/items?{DAY}&limit=2"
    seen = []
    while url is not None:
        page = get_ok(client, url)
        # Counted only where the page holds every match (the store reads no further).
        assert "numberMatched" not in page and page["numberReturned"] <= 2
        seen += [f["id"] for f in page["features"]]
        nexts = [link["href"] for link in page["links"] if link["rel"] == "next"]
        url = nexts[0].removeprefix("http://testserver") if nexts else None
    assert len(seen) == len(set(seen)) == 3
    whole = get_ok(client, f"/ogc/collections/hourly/items?{DAY}")
    assert whole["numberMatched"] == 3 and [f["id"] for f in whole["features"]] == seen
    # An offset still skips, after the cursor too.
    skipped = get_ok(client, f"/ogc/collections/hourly/items?{DAY}&offset=1&limit=1")
    assert [f["id"] for f in skipped["features"]] == seen[1:2]
    later = get_ok(client, f"/ogc/collections/hourly/items?{DAY}&after={seen[0]}&offset=1")
    assert [f["id"] for f in later["features"]] == seen[2:]
    # Above the maximum is served as the maximum (the standard asks for no error).
    assert get_ok(client, "/ogc/collections/kits/items?limit=999999")["numberReturned"] == 2


@pytest.mark.parametrize(
    ("url", "status", "parameter"),
    [
        ("/ogc/collections/nothing", 404, None),
        ("/ogc/collections/nothing/items", 404, None),
        ("/ogc/collections/kits/items/kit-9", 404, None),
        ("/ogc/collections/hourly/items/kit-1~pm25~12", 404, None),
        ("/ogc/collections/kits/items?bbox=1,2,3", 400, "bbox"),
        ("/ogc/collections/kits/items?limit=0", 400, "limit"),
        ("/ogc/collections/hourly/items?after=kit-1~pm25", 400, "after"),
        ("/ogc/collections/hourly/items?after=kit-1~pm25~¹", 400, "after"),
        ("/ogc/collections/daily/items?after=kit-1~nothing~0", 400, "after"),
        ("/ogc/collections/kits/items?datetime=yesterday", 400, "datetime"),
        ("/ogc/collections/kits/items?datetime=2026-11-29/2026-11-28", 400, "datetime"),
        ("/ogc/collections/hourly/items?datetime=2025-01-01/2026-11-28", 400, "from"),
    ],
)
def test_refusals_say_what_to_send(
    client: TestClient, url: str, status: int, parameter: str | None
) -> None:
    response = client.get(url)
    assert response.status_code == status, response.text
    if parameter is not None:
        assert response.json()["error"]["parameter"] == parameter


@pytest.fixture
def live_base(store_url: str, tmp_path: Path) -> Iterator[str]:
    """A real server process over the store, with readings in the last hour (the aggregates'
    default span is the last 24 hours: a client that sends no datetime sees them)."""
    now = int(time.time()) - 600
    readings = [Reading("kit-1", "pm25", now + i, 7.0, "SDS011") for i in range(3)]
    readings.append(Reading("kit-2", "pm25", now, 9.0, "SPS30"))
    fill(store_url, readings, META)
    port = free_port()
    env = {**os.environ, "LM_RATE_LIMIT": "0"}
    with (tmp_path / "server.log").open("ab") as log:
        process = spawn(
            [sys.executable, "-m", "lokaalmeten", "server", "--store", store_url,
             "--registry", str(registry_for(store_url)), "--port", str(port)],
            stdout=log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    try:
        assert wait_listening("127.0.0.1", port, 20, alive=lambda: process.poll() is None), (
            tmp_path / "server.log"
        ).read_text()
        yield f"http://127.0.0.1:{port}/ogc"
    finally:
        stop(process)


def run(ogrinfo: str, *arguments: str) -> str:
    done = subprocess.run(
        [ogrinfo, "-ro", *arguments], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_ogrinfo_lists_every_collection_and_reads_by_bbox(ogrinfo: str, live_base: str) -> None:
    listing = run(ogrinfo, "-so", f"OAPIF:{live_base}")
    for name in ("kits", "hourly", "daily"):
        assert f": {name} (Point)" in listing or f": {name}" in listing, listing
    for name in ("kits", "hourly", "daily"):
        summary = run(ogrinfo, "-so", f"OAPIF:{live_base}", name)
        assert f"Layer name: {name}" in summary, summary
    everything = run(ogrinfo, f"OAPIF:{live_base}", "kits")
    assert everything.count("OGRFeature(kits)") == 2, everything
    # -spat sends bbox: only kit-1's published place (5.122, 52.091) lies inside.
    boxed = run(ogrinfo, "-spat", "5.0", "52.0", "5.15", "52.2", f"OAPIF:{live_base}", "kits")
    assert boxed.count("OGRFeature(kits)") == 1, boxed
    assert "node (String) = kit-1" in boxed and "POINT (5.122 52.091)" in boxed, boxed
    hourly = run(ogrinfo, "-spat", "5.19", "52.09", "5.21", "52.11", f"OAPIF:{live_base}", "hourly")
    assert hourly.count("OGRFeature(hourly)") >= 1 and "kit-1" not in hourly, hourly


def test_aggregate_items_are_heavy_requests_and_kits_are_not() -> None:
    assert is_heavy("/ogc/collections/hourly/items") and is_heavy("/ogc/collections/daily/items")
    assert not is_heavy("/ogc/collections/kits/items") and not is_heavy("/ogc/collections")
