"""Fleet update: 50 simulated kits updated from one gateway, beside a plain copy of the files.

Fifty kits on fake boards (tests/firmware/kit/fleet_kits.py: the deployed firmware under the
real MicroPython, a reset is a new interpreter) measure every second against the real
Mosquitto and the real gateway. A release of the repository's firmware, built for this
machine (``x64``), is offered to all of them at once; the time is taken from the offer to
every kit switched (downloaded, checked, pointer written) and to every kit healthy (three
cycles on the new release with a publish, committed); the gateway counts the bytes of file
bodies it served (``fleet_bytes_served``). In the same run, with the kits still on the
machine, a plain copy of the same files over the same HTTP server (httpx, one client per
kit, all at once) gives the floor: what moving the bytes alone costs here.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from lokaalmeten.services.mosquitto import Mosquitto
from lokaalmeten.simulate import find_micropython
from tests.firmware.kit.fleet_kits import Fleet, slot

NAME = "fleet_update"
TITLE = "Fleet update: 50 simulated kits from one gateway, beside a plain copy of the files"
KITS = 50


def _wait(check: Any, timeout: float, what: str) -> float:
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)
    return time.monotonic()


def _plain_copy(port: int, names: list[str]) -> tuple[float, int]:
    """Every kit's files fetched by a plain HTTP client at once: seconds, bytes per kit."""

    def one_kit(_: int) -> int:
        received = 0
        with httpx.Client(base_url=f"http://127.0.0.1:{port}/fleet/0.3.0/x64/") as client:
            for name in names:
                answer = client.get(name)
                answer.raise_for_status()
                received += len(answer.content)
        return received

    started = time.monotonic()
    with ThreadPoolExecutor(KITS) as pool:
        sizes = list(pool.map(one_kit, range(KITS)))
    return time.monotonic() - started, max(sizes)


def measure(work: Path) -> dict[str, Any]:
    broker = Mosquitto.start(work / "mosquitto")
    try:
        fleet = Fleet(broker, work, find_micropython())
        try:
            return _measure(fleet)
        finally:
            fleet.close()
    finally:
        broker.stop()


def _measure(fleet: Fleet) -> dict[str, Any]:
    build = fleet.releases.make("0.3.0")
    manifest = json.loads((build / "manifest.json").read_bytes())
    names = ["manifest.json", "manifest.sig", *(f["path"] for f in manifest["files"])]
    release_bytes = sum((build / name).stat().st_size for name in names)
    nodes = [f"kit-{n:02d}" for n in range(1, KITS + 1)]
    for node in nodes:
        fleet.start(node)

    def online() -> bool:
        return all(fleet.counters(n).get("state") == "online" for n in nodes)

    _wait(online, 600, "every kit online")
    metrics = fleet.gateway.gateway.metrics
    served = metrics.count("fleet_bytes_served")
    offered = time.monotonic()
    fleet.offer("0.3.0", *nodes)
    switched = _wait(
        lambda: all(slot(fleet.flashes[n])[1:2] == ["0.3.0"] for n in nodes), 600, "the switches"
    )
    healthy = _wait(
        lambda: all(slot(fleet.flashes[n])[1:4] == ["0.3.0", "-", "ok"] for n in nodes),
        600,
        "every kit healthy",
    )
    kits_bytes = (metrics.count("fleet_bytes_served") - served) / KITS
    copy_s, copy_bytes = _plain_copy(fleet.settings.ingest_port, names)
    return {
        "files": len(names),
        "release_bytes": release_bytes,
        "switched_s": switched - offered,
        "healthy_s": healthy - offered,
        "kits_bytes": kits_bytes,
        "copy_s": copy_s,
        "copy_bytes": copy_bytes,
    }


def run(work: Path) -> str:
    f = measure(work)
    kib = 1024
    return "\n".join(
        [
            f"A release of {f['files']} files (manifest and signature included), "
            f"{f['release_bytes'] / kib:.0f} KiB; {KITS} kits recording every second.",
            "",
            "| | time from the offer | bytes per kit (bodies) |",
            "|---|---|---|",
            f"| every kit switched (downloaded, checked, pointer written) | "
            f"{f['switched_s']:.1f} s | {f['kits_bytes'] / kib:.1f} KiB |",
            f"| every kit healthy (3 cycles with a publish, committed) | "
            f"{f['healthy_s']:.1f} s | |",
            f"| plain copy of the same files, httpx, {KITS} clients at once | "
            f"{f['copy_s']:.1f} s | {f['copy_bytes'] / kib:.1f} KiB |",
            "",
            f"The update took {f['switched_s'] / f['copy_s']:.1f} times the plain copy to "
            f"switch every kit and {f['healthy_s'] / f['copy_s']:.1f} times to see every kit "
            "healthy. The pace is the gateway's: the plain copy's "
            f"{KITS * f['files']} requests came at {KITS * f['files'] / f['copy_s']:.0f} per "
            "second (one Python process on 2 cores, beside 50 kits publishing), and the kits' "
            "downloads spread out over their restarts, while all 50 plain clients asked at "
            "once. Beside the bytes each kit restarts into update mode, joins Wi-Fi, checks the "
            "Ed25519 signature twice and every SHA-256 in MicroPython, restarts into the new "
            "release and measures three cycles. The gateway sent each kit "
            f"{f['kits_bytes'] / f['release_bytes']:.2f} times the release's size: nothing is "
            "fetched twice when no download breaks off.",
        ]
    )


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory(prefix="lm-bench-fleet-") as folder:
        print(run(Path(folder)))
