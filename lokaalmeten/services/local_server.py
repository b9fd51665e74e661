"""A server program from the machine's PATH, run on a loopback port in its own folder.

Subclasses say how to find the binary and write its configuration; starting, waiting until
it listens, stopping (gracefully or with SIGKILL) and restarting on the same port are here::

    broker = Mosquitto.start(Path("/tmp/run/mqtt"))
    broker.restart()
    broker.stop()
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Self

from lokaalmeten.services.ports import free_port, wait_listening
from lokaalmeten.services.processes import spawn

# Debian installs daemons in /usr/sbin, which is not on an ordinary user's PATH.
_EXTRA_DIRS = ("/usr/sbin", "/usr/local/sbin")


class ServiceError(RuntimeError):
    """A server could not be started; the message says why and what to install."""


def find_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for folder in _EXTRA_DIRS:
        candidate = Path(folder) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


class LocalServer:
    binary_name: ClassVar[str]
    debian_package: ClassVar[str]
    start_timeout: ClassVar[float] = 15.0

    def __init__(
        self, folder: Path, port: int, process: subprocess.Popen[bytes], options: dict[str, Any]
    ) -> None:
        self.folder = folder
        self.port = port
        self.process = process
        self.options = options  # what start() was given, so restart() starts the same server

    @property
    def log_path(self) -> Path:
        return self.folder / f"{self.binary_name}.log"

    @classmethod
    def find(cls) -> str | None:
        return find_binary(cls.binary_name)

    @classmethod
    def start(
        cls,
        folder: Path,
        *,
        port: int | None = None,
        abort: Callable[[], bool] | None = None,
        **options: Any,
    ) -> Self:
        """Start on ``port`` (a free one if None); ``options`` go to :meth:`command`.

        ``abort``: asked while waiting for the server to listen; once it says True the
        server is stopped and ServiceError raised (a program asked to stop meanwhile)."""
        binary = cls.find()
        if binary is None:
            raise ServiceError(
                f"{cls.binary_name} is not installed (Debian: apt-get install {cls.debian_package})"
            )
        folder.mkdir(parents=True, exist_ok=True)
        port = port or free_port()
        command = cls.command(binary, folder, port, **options)
        log = cls._log_file(folder).open("ab")
        process = spawn(command, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        server = cls(folder, port, process, options)

        def keep_waiting() -> bool:
            return server.running() and not (abort is not None and abort())

        if not wait_listening("127.0.0.1", port, cls.start_timeout, alive=keep_waiting):
            server.stop(kill=True)
            if abort is not None and abort():
                raise ServiceError(f"{cls.binary_name}: the start was cancelled")
            raise ServiceError(f"{cls.binary_name} did not start: {server.diagnostics()}")
        return server

    @classmethod
    def _log_file(cls, folder: Path) -> Path:
        return folder / f"{cls.binary_name}.log"

    @classmethod
    def command(cls, binary: str, folder: Path, port: int, **options: Any) -> list[str]:
        raise NotImplementedError

    def running(self) -> bool:
        return self.process.poll() is None

    def diagnostics(self) -> str:
        log = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return log.strip()[-2000:] or "no output"

    def stop(self, kill: bool = False) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def restart(self) -> None:
        """Stop and start again on the same port, keeping the folder (and its data)."""
        self.stop()
        self.process = type(self).start(self.folder, port=self.port, **self.options).process
