"""A kit on a serial line: MicroPython's unix port behind a pseudo-terminal, for real mpremote.

mpremote talks to a board's REPL over a serial port: Ctrl-C, Ctrl-A (raw REPL), Ctrl-D
(soft reboot), then code to run. The unix port has the same raw REPL, so a relay between a
pty and a ``micropython -i`` process makes a kit that mpremote can use: its folder is the
kit's flash (mpremote cp writes into it), and a soft reboot is what it is on a board, a
fresh interpreter (the relay starts a new process and prints ``soft reboot``). The firmware
runs from that folder as it would on the kit, with the simulator's ``machine`` in front.

The relay is also the board's hardware:

- A hard reset (power-on, ``machine.reset()``, the watchdog) starts the interpreter with
  ``BOOT`` below, which runs ``boot.py`` and ``main.py`` as MicroPython does at
  power-on, with the kit's Wi-Fi network and simulated sensors in place; ``main.py`` then
  measures until it is stopped. ``machine.reset_cause()`` tells which reset it was.
- Ctrl-C while a program runs is an interrupt (SIGINT, which the unix port turns into
  KeyboardInterrupt), as a board's UART raises it; at a prompt it is just a byte.
- The watchdog: the fake ``machine.WDT`` writes its time-out at every feed into the
  board's control folder; once a feed is overdue the relay resets the board. As on an
  ESP32 it survives a soft reboot and stops only at a hard reset.
- ``baud`` slows what the host sends to a serial line's pace (115200 baud: 11.5 KB/s).

    with FakeKit(micropython, flash_folder, board=True) as kit:
        subprocess.run(["python", "-m", "mpremote", "connect", kit.port, "exec", "print(1)"])
        kit.resets        # ["power-on", "watchdog", "reset", ...]
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import threading
import time
import tty
from pathlib import Path
from types import TracebackType

from lokaalmeten.simulate import firmware_dir

RAW_PROMPT = b"raw REPL; CTRL-B to exit\r\n>"
FRIENDLY_PROMPT = b">>> "
# MicroPython code, run at each hard reset of the fake board: what an ESP32 does at power-on
# (boot.py, then main.py, then the REPL), with the kit's surroundings in place: its Wi-Fi
# network exists and a simulated device is wired to each sensor the configuration names
# (firmware/sim/devices_bus.py), read with the kit's own configuration code.
BOOT = """
import os
import sys

import network

network.NETWORKS["sim-wifi"] = "simulated"
if "config.json" in os.listdir() and "kit" in os.listdir():
    from kit import config  # the kit's own reading: its default pins and addresses
    from sim import devices_bus

    devices_bus.prepare(config.load()[0]["sensors"])
    # Nothing of the kit stays loaded: main.py may take it from a release's slot (slots.py).
    for name in [name for name in sys.modules if name == "kit" or name.startswith("kit.")]:
        del sys.modules[name]


def _run(name):
    if name in os.listdir():
        with open(name) as f:
            code = f.read()
        exec(code, {"__name__": "__main__"})


_run("boot.py")
_run("main.py")
"""
# machine.reset_cause() values, as the firmware's fake machine module names them
PWRON_RESET, HARD_RESET, WDT_RESET, SOFT_RESET = 1, 2, 3, 5


class FakeKit:
    def __init__(
        self,
        micropython: str,
        flash: Path,
        heap: str = "256k",
        board: bool = False,
        baud: int | None = None,
    ) -> None:
        self.micropython = micropython
        self.flash = flash
        self.heap = heap
        self.board = board
        self.baud = baud
        self.controller, self.device = os.openpty()
        tty.setraw(self.controller)
        tty.setraw(self.device)
        self.port = os.ttyname(self.device)
        self.reboots = 0
        self.resets: list[str] = []  # hard resets of a board: power-on, watchdog, reset
        self._fed = ("", 0.0)  # the watchdog file's text and when it last changed
        self.output = bytearray()  # everything the kit wrote to its serial line
        self._control = Path(tempfile.mkdtemp(prefix="lm-board-"))
        (self._control / "power_on.py").write_text(BOOT)
        self._lock = threading.Lock()
        self._tail = b""  # the interpreter's latest output, to see the prompts
        self._running = False  # a program runs (main.py): Ctrl-C interrupts it
        self._process: subprocess.Popen[bytes] | None = None
        self._closed = False

    def __enter__(self) -> FakeKit:
        if self.board:
            self._hard_reset("power-on", PWRON_RESET)
            threading.Thread(target=self._hardware, daemon=True).start()
        else:
            self._start()
        threading.Thread(target=self._from_port, daemon=True).start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._closed = True
        with self._lock:
            process = self._process
        if process is not None:
            process.kill()
            process.wait()
        os.close(self.device)
        os.close(self.controller)
        for leftover in self._control.iterdir():
            leftover.unlink()
        self._control.rmdir()

    def _start(self, boot: bool = False, cause: int = SOFT_RESET) -> None:
        path = f".frozen:{firmware_dir() / 'sim'}:."
        env = {**os.environ, "MICROPYPATH": path, "LM_RESET_CAUSE": str(cause)}
        if self.board:
            # behind the flash: only the simulated sensors (sim.sensors) come from there
            env["MICROPYPATH"] = f"{path}:{firmware_dir()}"
            env["LM_FAKE_BOARD"] = str(self._control)
        command = [self.micropython, "-X", f"heapsize={self.heap}", "-i"]
        process = subprocess.Popen(
            [*command, str(self._control / "power_on.py")] if boot else command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=self.flash,
            env=env,
        )
        with self._lock:
            self._process = process
            self._tail = b""
            self._running = boot
        threading.Thread(target=self._to_port, args=(process,), daemon=True).start()

    def _to_port(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        while chunk := os.read(process.stdout.fileno(), 4096):
            with self._lock:
                if process is self._process:
                    self._tail = (self._tail + chunk)[-64:]
                    if self._tail.endswith((RAW_PROMPT, FRIENDLY_PROMPT)):
                        self._running = False
                    self.output += chunk
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
            if self.baud:
                time.sleep(len(chunk) * 10 / self.baud)  # 8N1: ten bits a byte
            with self._lock:
                at_prompt = self._tail.endswith(RAW_PROMPT)
                running = self._running
                process = self._process
            if chunk == b"\x04" and at_prompt:  # Ctrl-D at an empty raw REPL: soft reboot
                self._reboot()
                continue
            assert process is not None and process.stdin is not None
            if running and b"\x03" in chunk:
                # The UART sees Ctrl-C and interrupts the program; the rest is typed after.
                with self._lock:
                    self._running = False
                process.send_signal(signal.SIGINT)
                chunk = chunk.replace(b"\x03", b"")
                time.sleep(0.2)  # the traceback and the REPL's banner come first
            with self._lock:
                self._tail = b""
            try:
                process.stdin.write(chunk)
                process.stdin.flush()
            except (BrokenPipeError, ValueError):
                with self._lock:
                    replaced = process is not self._process
                if replaced:
                    continue  # reset meanwhile (the watchdog): the new one starts by itself
                if self.board:
                    self._hard_reset("reset", HARD_RESET)
                else:
                    self._reboot()  # the program ended (machine.reset): the board starts again

    def power_cut(self) -> None:
        """Pull the plug and put it back: the interpreter is killed wherever it was."""
        self._hard_reset("power-on", PWRON_RESET)

    def _reboot(self) -> None:
        self._stop()
        self.reboots += 1
        os.write(self.controller, b"soft reboot\r\n")
        self._start()
        assert self._process is not None and self._process.stdin is not None
        self._process.stdin.write(b"\r\x01")  # a soft reboot keeps the raw REPL
        self._process.stdin.flush()

    def _stop(self) -> None:
        with self._lock:
            old = self._process
        if old is not None:
            old.kill()
            old.wait()

    def _hard_reset(self, why: str, cause: int) -> None:
        self._stop()
        for name in ("wdt", "reset"):  # a hard reset stops the watchdog
            (self._control / name).unlink(missing_ok=True)
        self.resets.append(why)
        self._start(boot=True, cause=cause)

    def _hardware(self) -> None:
        """The watchdog and the reset line, checked as a board's hardware would."""
        while not self._closed:
            time.sleep(0.05)
            if (self._control / "reset").exists():
                self._hard_reset("reset", HARD_RESET)
                continue
            # A feed is a change of the file's text ("<time-out ms> <feeds>"), timed by this
            # process's clock: a file's time comes from the file system's, which need not
            # agree with it (the likely reason a watchdog did not fire in CI once).
            try:
                text = (self._control / "wdt").read_text()
                timeout = int(text.split()[0]) / 1000
            except (OSError, ValueError, IndexError):
                self._fed = ("", 0.0)
                continue
            now = time.monotonic()
            if text != self._fed[0]:
                self._fed = (text, now)
                continue
            if now - self._fed[1] > timeout:
                self._fed = ("", 0.0)
                self._hard_reset("watchdog", WDT_RESET)
