"""The set-up portal's heap: what it adds to a kit while it is open, and the smallest heap.

A MicroPython script (firmware compiled to ``.mpy`` as deploy copies it, the fake radio and
real loopback sockets) loads what a running kit already holds (clock, errors, sensors,
quantities), then opens the portal and serves the requests a neighbour's phone makes: the
Dutch form, an English form with four errors (the headers a Chromium sends), and a good
Dutch form that is saved. It reports the heap (``gc.mem_alloc`` after a collection) the
portal's code takes once imported (with ``kit.config``, which the runtime unloads after
boot and the portal needs again), once open (its request buffer), after each request, and
after ``close``. Then the smallest ``-X heapsize`` (1 KiB steps) at which the same script
runs is found with the portal and without it (``portal=0``: the same kit, no portal), in
the same run; their difference is the heap the portal needs, peaks included.

These are 64-bit unix-port figures; MicroPython objects are smaller on the 32-bit ESP32
(ratio 0.70 for the firmware's code, measured with a 32-bit build: docs/kit.md).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from lokaalmeten.simulate import compile_firmware, find_micropython, micropython_env

NAME = "portal_heap"
TITLE = "Set-up portal: heap while open, smallest heap with and without it"
# 32-bit / 64-bit heap of the firmware's code (measured: docs/kit.md, "Memory budget")
CODE_RATIO_32 = 0.70

HEADERS = (
    "Host: 192.168.4.1\r\nConnection: keep-alive\r\nCache-Control: max-age=0\r\n"
    'sec-ch-ua: "Chromium";v="140", "Not=A?Brand";v="24"\r\nsec-ch-ua-mobile: ?1\r\n'
    'sec-ch-ua-platform: "Android"\r\nOrigin: http://192.168.4.1\r\n'
    "Upgrade-Insecure-Requests: 1\r\nUser-Agent: Mozilla/5.0 (Linux; Android 14; Pixel 8) "
    "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Mobile Safari/537.36\r\n"
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "image/apng,*/*;q=0.8\r\nReferer: http://192.168.4.1/\r\n"
    "Accept-Encoding: gzip, deflate\r\n"
)
ERRORS = (
    "lang=en&wifi_ssid=Thuis&wifi_password=geheim+123%21&node=buurt-7&gateway_host=127.0.0.1"
    "&gateway_port=70000&mqtt_user=&mqtt_password=&latitude=52.09&longitude=&interval_s=often"
    "&sensors=sds011+uart%3D2+rx%3D16+tx%3D17%0D%0Asds012+uart%3D1&calibration="
)
GOOD = (
    "lang=nl&wifi_ssid=Thuis&wifi_password=geheim+123%21&node=buurt-7&gateway_host=127.0.0.1"
    "&gateway_port=1883&mqtt_user=&mqtt_password=&latitude=52.09&longitude=5.12&interval_s=145"
    "&sensors=sds011+uart%3D2+rx%3D16+tx%3D17%0D%0Abme280+i2c%3D0&calibration=temperature%3D-1"
)


def _request(method: str, language: str, body: str = "") -> bytes:
    head = f"{method} / HTTP/1.1\r\n{HEADERS}Accept-Language: {language}\r\n"
    if body:
        head += (
            f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n"
        )
    return (head + "\r\n" + body).encode()


REQUESTS = [
    ("GET, Dutch", _request("GET", "nl-NL,nl;q=0.9,en;q=0.8"), "200"),
    ("POST, English, 4 errors", _request("POST", "en-GB,en;q=0.9", ERRORS), "400"),
    ("POST, Dutch, saved", _request("POST", "nl-NL,nl;q=0.9", GOOD), "200"),
]

SCRIPT = """
import gc, json, os, socket, sys
PORTAL = int(sys.argv[1])
PORT = int(sys.argv[2])
REQUESTS = {requests}
from kit import clock, errors, quantities, sensors  # held by a running kit anyway

class Link:
    mqtt_up = False
    last_publish = None
    reconnects = 0
    takes_updates = False
    last_error = "Wi-Fi: no connection to 'Thuis'"
    class sta:
        def isconnected():
            return False

class Sampler:
    latest = {{"pm25": 8.1, "pm10": 14.2, "temperature": 12.5, "humidity": 81.0}}
    errors = 0
    invalid = 0
    last_error = None

class Outbox:
    count = 3
    dropped = 0
    torn = 0

class Kit:  # what kit.status reads of a running kit
    node = "buurt-7"
    fw = "bench"
    link = Link
    sampler = Sampler
    outbox = Outbox
    seq = 123
    published = 120
    crashes = 0
    safe_mode = False
    mem_min = 0
    mem_max = 0
    sensor_problems = []
    config_problem = None
    last_crash = None
    def __init__(self, conf):
        self.conf = conf
    def apply_config(self, doc):
        from kit import config
        config.save(doc)
    def event(self, kind, info=None):
        pass

gc.collect()
start = gc.mem_alloc()
out = {{}}
if PORTAL:
    from kit import config
    conf = config.validate({{"node": "buurt-7", "gateway_host": "127.0.0.1",
                            "sensors": [{{"type": "sds011"}}, {{"type": "bme280"}}]}})
    from kit.portal import Portal, kit_status
    gc.collect()
    out["code"] = gc.mem_alloc() - start
    kit = Kit(conf)  # what kit.runtime.Kit.open_portal passes
    portal = Portal(conf, kit.node, "127.0.0.1", PORT, 0, kit.event, kit.apply_config,
                    lambda: kit_status(kit))
    gc.collect()
    out["open"] = gc.mem_alloc() - start
    address = socket.getaddrinfo("127.0.0.1", PORT)[0][-1]
    for name, request, expect in REQUESTS:
        client = socket.socket()
        client.connect(address)
        client.send(request)
        portal.step(0)
        size = 0
        first = b""
        while True:
            chunk = client.recv(1024)
            if not chunk:
                break
            if not first:
                first = chunk[:12]
            size += len(chunk)
        client.close()
        if expect.encode() not in first:
            raise SystemExit("%s: answered %r" % (name, first))
        gc.collect()
        out[name] = [gc.mem_alloc() - start, size]
    portal.close()  # unloads kit.portal and kit.config, as on a kit
    portal = None
    kit = None
    conf = None
    config = None
    Portal = None
    kit_status = None
    gc.collect()
    out["closed"] = gc.mem_alloc() - start
print(json.dumps(out))
"""


def _run(micropython: str, env: dict[str, str], work: Path, heap: int, portal: bool) -> str | None:
    from lokaalmeten.services.ports import free_port

    script = work / "portal_bench.py"
    script.write_text(SCRIPT.format(requests=repr(REQUESTS)))
    folder = work / "flash"
    folder.mkdir(exist_ok=True)
    done = subprocess.run(
        [micropython, "-X", f"heapsize={heap}", str(script), str(int(portal)), str(free_port())],
        env=env, cwd=folder, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return done.stdout.strip().splitlines()[-1] if done.returncode == 0 else None


def _smallest(micropython: str, env: dict[str, str], work: Path, portal: bool) -> int:
    low, high = 4 * 1024, 256 * 1024  # low fails, high works
    if _run(micropython, env, work, high, portal) is None:
        raise RuntimeError("the portal script fails even with a 256 KiB heap")
    while high - low > 1024:
        middle = (low + high) // 2 // 1024 * 1024
        if _run(micropython, env, work, middle, portal) is None:
            low = middle
        else:
            high = middle
    return high


def measure(work: Path) -> dict[str, Any]:
    micropython = find_micropython()
    env = micropython_env(fakes=True, compiled=compile_firmware(work / ".firmware"))
    line = _run(micropython, env, work, 256 * 1024, True)
    if line is None:
        raise RuntimeError("the portal script failed")
    figures: dict[str, Any] = json.loads(line)
    figures["smallest_with"] = _smallest(micropython, env, work, True)
    figures["smallest_without"] = _smallest(micropython, env, work, False)
    return figures


def run(work: Path) -> str:
    f = measure(work)
    kib = 1024
    needed = f["smallest_with"] - f["smallest_without"]
    lines = [
        "| state | heap taken (64-bit) | page size |",
        "|---|---|---|",
        f"| code imported (portal, its form, kit.config) | {f['code'] / kib:.1f} KiB | |",
        f"| open (plus its 3 KiB request buffer) | {f['open'] / kib:.1f} KiB | |",
    ]
    for name, _request_bytes, _expect in REQUESTS:
        taken, size = f[name]
        lines.append(f"| after {name} | {taken / kib:.1f} KiB | {size} bytes |")
    lines += [
        f"| closed | {f['closed'] / kib:.1f} KiB | |",
        "",
        "What stays after closing are the names the code interned (MicroPython never frees "
        "its qstrs); the next opening reuses them.",
        "",
        f"Smallest `-X heapsize` for the three requests: {f['smallest_with'] / kib:.0f} KiB "
        f"with the portal, {f['smallest_without'] / kib:.0f} KiB for the same kit without it: "
        f"the portal needs {needed / kib:.0f} KiB while open, peaks included "
        f"({needed / f['smallest_with']:.2f} of the smallest heap). With the firmware's "
        f"32/64-bit ratio for code ({CODE_RATIO_32}) that is about "
        f"{needed * CODE_RATIO_32 / kib:.0f} KiB on an ESP32 (an estimate: the ratio was "
        "measured for the whole firmware, not the portal alone).",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory(prefix="lm-bench-portal-") as folder:
        print(run(Path(folder)))
