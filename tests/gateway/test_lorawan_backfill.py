"""The LoRaWAN back-fill (gateway/ttn_backfill.py): after an outage of the webhook, the
Storage Integration's uplinks fill the gap, and nothing is stored twice however often it
runs. The Storage Integration is the one stand-in: a local HTTP server that answers its
documented request with its documented format (one ``{"result": …}`` per line) from a file
of this folder, filtering by ``after`` as it does."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from fastapi.testclient import TestClient

from lokaalmeten.gateway.http_ingest import create_ingest_app
from lokaalmeten.gateway.pipeline import Gateway
from lokaalmeten.gateway.ttn_backfill import Backfill, BackfillError, Cursors
from lokaalmeten.services.ports import free_port
from tests.gateway.harness import stored
from tests.gateway.test_http_ingest import make_gateway, spooled
from tests.gateway.test_lorawan_ingest import APPLICATIONS, SECRET

STORED = Path(__file__).with_name("data") / "ttn-storage-uplinks.ndjson"
APP = "lokaalmeten-utrecht"
KEY = "NNSXS.TESTKEYTESTKEYTESTKEY.0123456789"
NOW = datetime.fromisoformat("2026-12-02T12:00:00+00:00").timestamp()


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.split(".")[0].replace("Z", "") + "+00:00").timestamp()


class StorageIntegration:
    """The documented endpoint, answered from STORED; every request is kept."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.lines = STORED.read_text().splitlines()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                outer.requests.append({"path": url.path, "query": query, **dict(self.headers)})
                expected = f"/api/v3/as/applications/{APP}/packages/storage/uplink_message"
                if self.headers.get("Authorization") != f"Bearer {KEY}":
                    self._send(401, b'{"code": 16, "message": "error:pkg/auth:token_invalid"}')
                    return
                if url.path != expected:
                    self._send(404, b'{"code": 5}')
                    return
                after = _epoch(query["after"]) if "after" in query else 0
                found = [
                    line
                    for line in outer.lines
                    if _epoch(json.loads(line)["result"]["received_at"]) > after
                ][: int(query.get("limit", "1000"))]
                self._send(200, "".join(line + "\n" for line in found).encode())

            def _send(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def storage() -> Iterator[StorageIntegration]:
    server = StorageIntegration()
    yield server
    server.close()


@pytest.fixture
def gateway(tmp_path: Path) -> Gateway:
    return make_gateway(tmp_path, require_registration=False, lorawan_applications=APPLICATIONS)


def backfill(gateway: Gateway, url: str, key: str = KEY) -> Backfill:
    cursors = Cursors(Path(gateway.settings.spool).with_name("lorawan-backfill.json"))
    return Backfill(
        url, {APP: key}, gateway.validator, gateway.commit_checked, cursors, 86400, lambda: NOW
    )


def _store_all(gateway: Gateway, folder: Path) -> list[tuple[str, int]]:
    gateway.stores[0].write(spooled(gateway))
    return sorted((r.quantity, r.time) for r in stored(folder / "lm.db"))


def test_a_gap_in_the_webhook_is_filled_and_nothing_is_stored_twice(
    gateway: Gateway, storage: StorageIntegration, tmp_path: Path
) -> None:
    client = TestClient(create_ingest_app(gateway))
    for line in storage.lines[:2]:  # the webhook delivered the first two, then went down
        uplink = json.loads(line)["result"]
        answer = client.post(
            "/lorawan/ttn", content=json.dumps(uplink), headers={"X-Lokaalmeten-Secret": SECRET}
        )
        assert answer.status_code == 200
    filled = backfill(gateway, storage.url).fill()
    assert [(f.uplinks, f.readings, f.refused) for f in filled] == [(6, 30, 0)]
    times = {
        _epoch(json.loads(line)["result"]["uplink_message"]["received_at"])
        for line in storage.lines
    }
    expected = sorted(
        (q, int(t)) for t in times for q in ("humidity", "pm10", "pm25", "pressure", "temperature")
    )
    assert _store_all(gateway, tmp_path) == expected
    # Again, and again: the same readings, nothing twice.
    backfill(gateway, storage.url).fill()
    backfill(gateway, storage.url).fill()
    assert _store_all(gateway, tmp_path) == expected


def test_the_request_is_the_documented_one_and_the_next_starts_at_the_cursor(
    gateway: Gateway, storage: StorageIntegration
) -> None:
    backfill(gateway, storage.url).fill()
    first = storage.requests[0]
    assert first["path"] == f"/api/v3/as/applications/{APP}/packages/storage/uplink_message"
    assert first["Authorization"] == f"Bearer {KEY}" and first["Accept"] == "text/event-stream"
    assert first["query"] == {
        "after": "2026-12-01T12:00:00Z",
        "order": "received_at",
        "limit": "1000",
    }
    cursors = json.loads(
        Path(gateway.settings.spool).with_name("lorawan-backfill.json").read_text()
    )
    assert cursors == {APP: json.loads(storage.lines[-1])["result"]["received_at"]}
    backfill(gateway, storage.url).fill()
    # A minute before the latest taken: the Storage Integration writes in batches.
    assert storage.requests[1]["query"]["after"] == "2026-12-02T10:24:01Z"


def test_a_refused_key_or_an_unreachable_server_moves_nothing(
    gateway: Gateway, storage: StorageIntegration
) -> None:
    with pytest.raises(BackfillError, match="refused the API key"):
        backfill(gateway, storage.url, key="NNSXS.WRONGWRONGWRONG").fill()
    with pytest.raises(BackfillError, match="cannot reach"):
        backfill(gateway, f"http://127.0.0.1:{free_port()}").fill()
    assert not Path(gateway.settings.spool).with_name("lorawan-backfill.json").exists()
    assert spooled(gateway) == []


def test_it_fills_at_start_and_stops_when_the_gateway_stops(
    gateway: Gateway, storage: StorageIntegration
) -> None:
    shutdown = threading.Event()
    runner = threading.Thread(target=backfill(gateway, storage.url).run, args=(3600, shutdown))
    runner.start()
    deadline = time.monotonic() + 10
    while len(spooled(gateway)) < 30 and time.monotonic() < deadline:
        time.sleep(0.05)
    shutdown.set()
    runner.join(5)
    assert not runner.is_alive()
    assert len(storage.requests) == 1 and len(spooled(gateway)) == 30


def test_the_gateway_says_what_it_serves_for_lorawan(tmp_path: Path) -> None:
    gateway = make_gateway(
        tmp_path,
        require_registration=False,
        lorawan_applications=APPLICATIONS,
        lorawan_storage=f"{APP}={KEY}",
    )
    gateway.ingest_port = 8081
    line = gateway.serves()
    assert "LoRaWAN webhook /lorawan/ttn for elders, lokaalmeten-utrecht" in line
    assert "back-fill from https://eu1.cloud.thethings.network" in line
    assert KEY not in line and SECRET not in line
