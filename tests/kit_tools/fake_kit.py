"""A kit on a serial line: MicroPython's unix port behind a pseudo-terminal, for real mpremote.

mpremote talks to a board's REPL over a serial port: Ctrl-C, Ctrl-A (raw REPL), Ctrl-D
(soft reboot), then code to run. The unix port has the same raw REPL, so a relay between a
pty and a ``micropython -i`` process makes a kit that mpremote can use: its folder is the
kit's flash (mpremote cp writes into it), and a soft reboot is what it is on a board, a
fresh interpreter (the relay starts a new process and prints ``soft reboot``). The firmware
runs from that folder as it would on the kit, with the simulator's ``machine`` in front so
that ``machine.unique_id`` and ``machine.reset`` exist.

    with FakeKit(micropython, flash_folder) as kit:
        subprocess.run(["python", "-m", "mpremote", "connect", kit.port, "exec", "print(1)"])
"""

from __future__ import annotations

import os
import subprocess
import threading
import tty
from pathlib import Path
from types import TracebackType

from lokaalmeten.simulate import firmware_dir

RAW_PROMPT = b"raw REPL; CTRL-B to exit\r\n>"


class FakeKit:
    def __init__(self, micropython: str, flash: Path, heap: str = "256k") -> None:
        self.micropython = micropython
        self.flash = flash
        self.heap = heap
        self.controller, self.device = os.openpty()
        tty.setraw(self.controller)
        tty.setraw(self.device)
        self.port = os.ttyname(self.device)
        self.reboots = 0
        self._lock = threading.Lock()
        self._tail = b""  # the interpreter's latest output, to see the raw prompt
        self._process: subprocess.Popen[bytes] | None = None
        self._closed = False

    def __enter__(self) -> FakeKit:
        self._start()
        threading.Thread(target=self._from_port, daemon=True).start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._closed = True
        if self._process is not None:
            self._process.kill()
            self._process.wait()
        os.close(self.device)
        os.close(self.controller)

    def _start(self) -> None:
        env = {**os.environ, "MICROPYPATH": f".frozen:{firmware_dir() / 'sim'}:."}
        process = subprocess.Popen(
            [self.micropython, "-X", f"heapsize={self.heap}", "-i"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=self.flash,
            env=env,
        )
        self._process = process
        self._tail = b""
        threading.Thread(target=self._to_port, args=(process,), daemon=True).start()

    def _to_port(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        while chunk := os.read(process.stdout.fileno(), 4096):
            with self._lock:
                if process is self._process:
                    self._tail = (self._tail + chunk)[-64:]
            try:
                os.write(self.controller, chunk)
            except OSError:
                return

    def _from_port(self) -> None:
        while not self._closed:
            try:
                chunk = os.read(self.controller, 4096)
            except OSError:
                return
            with self._lock:
                at_prompt = self._tail.endswith(RAW_PROMPT)
            if chunk == b"\x04" and at_prompt:  # Ctrl-D at an empty raw REPL: soft reboot
                self._reboot()
                continue
            process = self._process
            assert process is not None and process.stdin is not None
            with self._lock:
                self._tail = b""
            try:
                process.stdin.write(chunk)
                process.stdin.flush()
            except (BrokenPipeError, ValueError):
                self._reboot()  # the program ended (machine.reset): the board starts again

    def _reboot(self) -> None:
        old = self._process
        if old is not None:
            old.kill()
            old.wait()
        self.reboots += 1
        os.write(self.controller, b"soft reboot\r\n")
        self._start()
        assert self._process is not None and self._process.stdin is not None
        self._process.stdin.write(b"\r\x01")  # a soft reboot keeps the raw REPL
        self._process.stdin.flush()
