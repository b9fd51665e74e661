"""Small helpers the tests share."""

from __future__ import annotations

import contextlib
import json
import random
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

REPO = Path(__file__).resolve().parent.parent


def record(
    node: str = "kit-1",
    seq: int = 1,
    time_text: str | None = "2026-11-27T10:00:00Z",
    **values: float,
) -> bytes:
    """A protocol v1 record as a kit would publish it."""
    doc: dict[str, Any] = {
        "v": 1,
        "node": node,
        "seq": seq,
        "time": time_text,
        "values": values or {"pm25": 7.5},
    }
    return json.dumps(doc).encode()


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` until true; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


STORM_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# What a storm may end a program with: 0 when its own handler stopped it; the signal's own
# way (or 130 for SIGINT's KeyboardInterrupt) when a signal came before the handler was set
# (still importing) or after the program gave its handlers back.
STORM_EXITS = {0, 1, 130, -signal.SIGINT, -signal.SIGTERM}


@dataclass(frozen=True)
class Storm:
    delay: float  # seconds from the start of the program to the first signal
    signals: int
    took: float  # seconds from the first signal until the program was gone
    returncode: int


def signal_storm(process: subprocess.Popen[Any], chance: random.Random, delay: float) -> Storm:
    """After ``delay`` s, 1-20 SIGINT/SIGTERM 0-50 ms apart; then wait until ``process``
    is gone (killed after 30 s, so that a hang fails the test instead of stopping the run)."""
    time.sleep(delay)
    count = chance.randint(1, 20)
    first = time.monotonic()
    sent = 0
    for _ in range(count):
        if process.poll() is not None:
            break
        process.send_signal(chance.choice(STORM_SIGNALS))
        sent += 1
        time.sleep(chance.random() * 0.05)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    return Storm(delay, sent, time.monotonic() - first, process.returncode)


def in_lanes(lanes: int, work: Callable[[int], list[T]]) -> list[T]:
    """``work(lane)`` for each lane at once, in threads; every lane's results together."""
    with ThreadPoolExecutor(lanes) as pool:
        return [item for found in pool.map(work, range(lanes)) for item in found]


def reachable_by_others(paths: list[Path], staging: Path) -> str:
    """Shell lines that, run as root inside a private mount namespace, let any user reach
    ``paths`` even where a folder above them only its owner may enter (a checkout in a
    ``mktemp -d`` folder, an interpreter under /root): each closed folder becomes an open
    tmpfs holding just the paths, bound back where they were. Nothing outside the namespace
    changes."""
    wanted = sorted({p.resolve() for p in paths})
    # A path inside another one travels with it.
    wanted = [p for p in wanted if not any(o != p and o in p.parents for o in wanted)]
    closed: list[Path] = []
    for path in wanted:
        tops = [f for f in reversed(path.parents) if f != Path("/") and not f.stat().st_mode & 1]
        if tops and not any(c == tops[0] or c in tops[0].parents for c in closed):
            closed.append(tops[0])
    if not closed:
        return ""
    lines = []
    for i, path in enumerate(wanted):
        lines += [f"mkdir -p {staging}/{i}", f"mount --bind {path} {staging}/{i}"]
    lines += [f"mount -t tmpfs -o mode=0755 lm-open {top}" for top in closed]
    for i, path in enumerate(wanted):
        lines += [f"mkdir -p {path}", f"mount --move {staging}/{i} {path}"]
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def served_in_thread(app: Any, port: int) -> Iterator[None]:
    """An ASGI app served by uvicorn on 127.0.0.1:``port`` in a thread, for the block."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(10)
