"""Child processes that die with their parent and stop in a stated order.

The demo and the simulator start several processes; Ctrl-C, SIGTERM or a crash of the parent
must leave none of them behind. On Linux each child asks the kernel for SIGTERM when its
parent dies (PR_SET_PDEATHSIG), which covers even a parent killed with SIGKILL. The kernel
sends it when the *thread* that started the child ends: spawn from a thread that lives as long
as the child (the main thread, as the demo does).
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from functools import partial
from typing import IO, Any

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:
    """In the child, before it runs the program: SIGTERM when the parent dies. A parent that
    died between the fork and this call is not watched any more: leave at once."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        return  # not Linux: the parent's own clean-up still stops the children
    if os.getppid() != parent:
        os._exit(1)


def spawn(
    command: Sequence[str],
    *,
    stdout: int | IO[Any] | None = None,
    stderr: int | IO[Any] | None = None,
    env: dict[str, str] | None = None,
    text: bool = False,
) -> subprocess.Popen[Any]:
    """Start a child in its own session (a terminal's Ctrl-C reaches only the parent)."""
    return subprocess.Popen(
        list(command),
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        env=env,
        text=text,
        start_new_session=True,
        preexec_fn=partial(die_with_parent, os.getpid()) if sys.platform == "linux" else None,
    )


def stop_all(processes: Iterable[subprocess.Popen[Any]], timeout: float = 10.0) -> None:
    """SIGTERM each still-running process in the given order and wait for it; SIGKILL what is
    still there when ``timeout`` seconds, for all of them together, are up."""
    deadline = time.monotonic() + timeout
    running = [p for p in processes if p.poll() is None]
    for process in running:
        process.terminate()
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
