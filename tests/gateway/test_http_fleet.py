"""``GET /fleet/{version}/{march}/{path}`` (gateway/http_fleet.py) on the gateway's real HTTP
ingest, served by uvicorn on a loopback port and asked with raw request lines (http.client
normalises no path): whole files with a Content-Length, ranges that resume a download, HEAD,
credentials, paths that leave the build, kits the rollout does not offer it to, a paused
rollout, and the counters."""

from __future__ import annotations

import base64
import http.client
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from lokaalmeten.gateway.fleet import Offer, Pause, Rollout, RolloutFile
from lokaalmeten.gateway.http_ingest import create_ingest_app
from lokaalmeten.gateway.pipeline import Gateway
from lokaalmeten.protocol.status import parse_status
from lokaalmeten.services.ports import free_port
from lokaalmeten.settings import GatewaySettings
from tests.helpers import served_in_thread

VERSION = "0.3.0"
MARCH = "xtensawin"
# Larger than the server's 64 KiB pieces, and not a multiple of them.
RUNTIME = bytes((i * 7 + i // 251) % 256 for i in range(150_001))
MANIFEST = json.dumps({"v": 1, "version": VERSION, "march": MARCH, "files": []}).encode()
BASE = f"/fleet/{VERSION}/{MARCH}"


@dataclass
class Served:
    gateway: Gateway
    port: int
    tokens: dict[str, str]
    state: RolloutFile
    outside: Path

    def ask(
        self, path: str, node: str | None = "kit-1", method: str = "GET", **headers: str
    ) -> tuple[int, dict[str, str], bytes]:
        """(status, headers by lower-case name, body) of one request sent as given."""
        sent = {name.replace("_", "-"): value for name, value in headers.items()}
        if node is not None:
            pair = f"{node}:{self.tokens[node]}".encode()
            sent["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request(method, path, headers=sent)
            answer = connection.getresponse()
            body = answer.read()
            return answer.status, {k.lower(): v for k, v in answer.getheaders()}, body
        finally:
            connection.close()

    def offer(self, *nodes: str, paused: str | None = None, version: str = VERSION) -> None:
        offers = {
            node: Offer(int(time.time()), n, "canary", "0.2.0") for n, node in enumerate(nodes, 1)
        }
        pause = None if paused is None else Pause(int(time.time()), "operator", paused)
        self.state.change(lambda _: Rollout(version, int(time.time()), offers=offers, paused=pause))


def _release(releases: Path) -> Path:
    """A release folder as `lokaalmeten fleet release` leaves it (the route reads files only),
    with a file beside the build and a symbolic link out of it."""
    build = releases / VERSION / MARCH
    (build / "kit").mkdir(parents=True)
    (build / "manifest.json").write_bytes(MANIFEST)
    (build / "manifest.sig").write_bytes(bytes(64))
    (build / "kit" / "runtime.mpy").write_bytes(RUNTIME)
    (build / "kit" / "empty.mpy").write_bytes(b"")
    (releases / VERSION / "secret.txt").write_text("not part of any build")
    outside = releases.parent / "outside.key"
    outside.write_bytes(b"the release key, say")
    os.symlink(outside, build / "kit" / "escape.mpy")
    return outside


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("fleet-http")
    outside = _release(folder / "releases")
    settings = GatewaySettings(
        broker="mqtt://127.0.0.1:1",  # never connected: HTTP only
        store=f"sqlite:///{folder / 'lm.db'}",
        spool=str(folder / "spool.db"),
        registry=str(folder / "registry.db"),
        releases=str(folder / "releases"),
        rollout=str(folder / "fleet" / "rollout.json"),
        ingest_port=0,
    )
    gateway = Gateway(settings)
    assert gateway.registry is not None
    tokens = {node: gateway.registry.add(node) for node in ("kit-1", "kit-2", "kit-3")}
    port = free_port()
    with served_in_thread(create_ingest_app(gateway), port):
        yield Served(gateway, port, tokens, RolloutFile(Path(settings.rollout)), outside)


@pytest.fixture
def offered(served: Served) -> Served:
    """Release 0.3.0 offered to kit-1 only, not paused."""
    served.offer("kit-1")
    return served


def test_a_whole_file_has_its_length_and_is_never_chunked(offered: Served) -> None:
    status, headers, body = offered.ask(f"{BASE}/kit/runtime.mpy")
    assert status == 200 and body == RUNTIME
    assert headers["content-length"] == str(len(RUNTIME))
    assert "transfer-encoding" not in headers
    assert headers["accept-ranges"] == "bytes" and headers["etag"].startswith('"')
    assert headers["content-type"] == "application/octet-stream"
    status, headers, body = offered.ask(f"{BASE}/manifest.json")
    assert (status, body, headers["content-type"]) == (200, MANIFEST, "application/json")
    status, headers, body = offered.ask(f"{BASE}/kit/empty.mpy")
    assert (status, headers["content-length"], body) == (200, "0", b"")


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=65536-", 65536, len(RUNTIME) - 1),  # a download resumed after a drop
        ("bytes=10-19", 10, 19),
        ("bytes=-100", len(RUNTIME) - 100, len(RUNTIME) - 1),
        ("bytes=149990-999999999", 149990, len(RUNTIME) - 1),  # clipped at the end
        ("bytes=-999999", 0, len(RUNTIME) - 1),
        ("Bytes=0-0", 0, 0),
    ],
)
def test_a_range_is_answered_with_206_and_its_content_range(
    offered: Served, header: str, first: int, last: int
) -> None:
    status, headers, body = offered.ask(f"{BASE}/kit/runtime.mpy", Range=header)
    assert status == 206
    assert headers["content-range"] == f"bytes {first}-{last}/{len(RUNTIME)}"
    assert headers["content-length"] == str(last - first + 1)
    assert body == RUNTIME[first : last + 1]


@pytest.mark.parametrize("header", [f"bytes={len(RUNTIME)}-", "bytes=999999-", "bytes=-0"])
def test_a_range_past_the_end_is_416_with_the_size(offered: Served, header: str) -> None:
    status, headers, body = offered.ask(f"{BASE}/kit/runtime.mpy", Range=header)
    assert status == 416
    assert headers["content-range"] == f"bytes */{len(RUNTIME)}"
    assert "past its end" in json.loads(body)["error"]["message"]
    status, headers, _ = offered.ask(f"{BASE}/kit/empty.mpy", Range="bytes=0-")
    assert (status, headers["content-range"]) == (416, "bytes */0")


@pytest.mark.parametrize(
    "header", ["bytes=0-1,5-6", "items=0-5", "bytes=9-3", "bytes=1" + "0" * 4400 + "-"]
)
def test_a_range_the_server_does_not_take_gets_the_whole_file(offered: Served, header: str) -> None:
    status, headers, body = offered.ask(f"{BASE}/kit/runtime.mpy", Range=header)
    assert (status, body) == (200, RUNTIME)
    assert "content-range" not in headers


def test_if_range_resumes_only_the_same_file(offered: Served) -> None:
    _, first, _ = offered.ask(f"{BASE}/kit/runtime.mpy", Range="bytes=0-99")
    tag = first["etag"]
    status, _, body = offered.ask(f"{BASE}/kit/runtime.mpy", Range="bytes=100-", If_Range=tag)
    assert (status, body) == (206, RUNTIME[100:])
    for other in ['"1-2"', f"W/{tag}", "Wed, 21 Oct 2026 07:28:00 GMT"]:
        status, headers, body = offered.ask(
            f"{BASE}/kit/runtime.mpy", Range="bytes=100-", If_Range=other
        )
        assert (status, body) == (200, RUNTIME), other
        assert headers["content-length"] == str(len(RUNTIME))


def test_head_answers_the_headers_without_the_body(offered: Served) -> None:
    _, got, _ = offered.ask(f"{BASE}/kit/runtime.mpy")
    status, headers, body = offered.ask(f"{BASE}/kit/runtime.mpy", method="HEAD")
    assert (status, body) == (200, b"")
    assert headers["content-length"] == str(len(RUNTIME)) and headers["etag"] == got["etag"]
    status, headers, body = offered.ask(f"{BASE}/kit/runtime.mpy", method="HEAD", Range="bytes=5-")
    assert (status, body, headers["content-length"]) == (206, b"", str(len(RUNTIME) - 5))


def test_without_the_kits_credentials_it_is_401(offered: Served) -> None:
    status, _, body = offered.ask(f"{BASE}/manifest.json", node=None)
    assert status == 401 and "basic auth" in json.loads(body)["error"]["message"]
    offered.tokens["kit-9"] = offered.tokens["kit-1"]  # a token of another kit
    try:
        assert offered.ask(f"{BASE}/manifest.json", node="kit-9")[0] == 401
    finally:
        del offered.tokens["kit-9"]


@pytest.mark.parametrize(
    "path",
    [
        f"/fleet/9.9.9/{MARCH}/manifest.json",  # no such version
        f"/fleet/{VERSION}/rv32imc/manifest.json",  # no build for that chip
        f"{BASE}/kit/missing.mpy",
        f"{BASE}/kit",  # a folder
        f"{BASE}/",
        f"{BASE}/../secret.txt",
        f"{BASE}/kit/../../secret.txt",
        f"{BASE}/%2e%2e/secret.txt",
        f"{BASE}/kit/%2E%2E/%2e%2e/secret.txt",
        f"{BASE}/..%2fsecret.txt",
        f"/fleet/{VERSION}/..%2f{VERSION}/{MARCH}/manifest.json",
        f"/fleet/..%2f..%2f/{MARCH}/manifest.json",
        f"{BASE}/kit/escape.mpy",  # a symbolic link out of the build
        f"{BASE}/.hidden",
        f"{BASE}/kit%5c..%5c..%5csecret.txt",
    ],
)
def test_what_is_not_a_file_of_the_build_is_404(offered: Served, path: str) -> None:
    status, _, body = offered.ask(path)
    assert status == 404, path
    assert offered.outside.read_bytes() not in body and b"not part of any build" not in body


def test_a_kit_the_rollout_does_not_offer_it_to_is_403(served: Served) -> None:
    served.offer("kit-1")
    status, _, body = served.ask(f"{BASE}/manifest.json", node="kit-2")
    assert status == 403
    assert json.loads(body)["error"]["message"] == f"release {VERSION} is not offered to kit-2"
    # A withdrawn offer admits no more; nor does a rollout of another release.
    served.state.change(
        lambda r: r and replace(r, offers={"kit-1": replace(r.offers["kit-1"], withdrawn=1)})
    )
    assert served.ask(f"{BASE}/manifest.json")[0] == 403
    served.offer("kit-1", version="0.3.1")
    assert served.ask(f"{BASE}/manifest.json")[0] == 403
    served.state.change(lambda _: None)  # no rollout at all
    assert served.ask(f"{BASE}/manifest.json")[0] == 403


def test_a_paused_rollout_is_503_with_retry_after_and_the_reason(served: Served) -> None:
    served.offer("kit-1", "kit-2", paused="kit-3 reboots every minute")
    status, headers, body = served.ask(f"{BASE}/kit/runtime.mpy", Range="bytes=4096-")
    assert status == 503 and int(headers["retry-after"]) > 0
    message = json.loads(body)["error"]["message"]
    assert message == f"the rollout of {VERSION} is paused: kit-3 reboots every minute"
    served.state.change(lambda r: r and r.resumed())
    assert served.ask(f"{BASE}/kit/runtime.mpy", Range="bytes=4096-")[0] == 206


def test_a_download_applies_the_health_gate_first(served: Served) -> None:
    """At its manifest, with which every kit's download starts; the files after it are
    served on the rollout's state as it stands (one stat, no directory read)."""
    served.offer("kit-1", "kit-2", "kit-3")
    failed = b'{"v": 1, "state": "online", "fw": "0.2.0", "counters": {"update": ' \
        b'"rolled_back", "update_version": "0.3.0", "update_reason": "MemoryError"}}'  # fmt: skip
    now = int(time.time())
    for node in ("kit-2", "kit-3"):  # written as the gateway's KitFacts would, but no status
        served.gateway.directory.report_status(node, parse_status(failed), now, retained=False)
    try:
        status, _, body = served.ask(f"{BASE}/manifest.json")
        assert status == 503
        assert "2 of 3 kits offered 0.3.0 failed" in json.loads(body)["error"]["message"]
        current = served.state.current()
        assert current is not None and current.paused is not None
        assert current.paused.by == "gate"
    finally:  # back to kits that have not taken the offer up
        plain = parse_status(b'{"v": 1, "state": "online", "fw": "0.2.0", "counters": {"seq": 1}}')
        for node in ("kit-2", "kit-3"):
            served.gateway.directory.report_status(node, plain, now, retained=False)


def test_the_counters_count_files_sent_and_downloads_refused(served: Served) -> None:
    metrics = served.gateway.metrics
    before = metrics.count("fleet_files_served"), metrics.count("fleet_downloads_refused")
    sent = metrics.count("fleet_bytes_served")
    served.offer("kit-1")
    _, _, manifest = served.ask(f"{BASE}/manifest.json")
    _, _, part = served.ask(f"{BASE}/kit/runtime.mpy", Range="bytes=10-")
    served.ask(f"{BASE}/kit/runtime.mpy", method="HEAD")  # nothing sent
    served.ask(f"{BASE}/manifest.json", node="kit-2")  # 403
    served.ask(f"{BASE}/kit/nothing.mpy")  # 404: not a refused download
    served.offer("kit-1", paused="checking")
    served.ask(f"{BASE}/manifest.json")  # 503
    after = metrics.count("fleet_files_served"), metrics.count("fleet_downloads_refused")
    assert (after[0] - before[0], after[1] - before[1]) == (2, 2)
    assert metrics.count("fleet_bytes_served") - sent == len(manifest) + len(part)
    _, _, text = served.ask("/metrics", node=None)
    assert f"lokaalmeten_gateway_fleet_files_served_total {float(after[0])}".encode() in text
    refused = f"lokaalmeten_gateway_fleet_downloads_refused_total {float(after[1])}"
    assert refused.encode() in text
