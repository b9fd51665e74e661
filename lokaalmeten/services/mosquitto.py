"""Run a Mosquitto broker from the machine's PATH on a loopback port, in its own folder.

    broker = Mosquitto.start(Path("/tmp/run"), persistence=True)
    ...  # mqtt://127.0.0.1:{broker.port}
    broker.stop()
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from lokaalmeten.services.ports import free_port, wait_listening
from lokaalmeten.services.processes import spawn

# Debian installs the broker in /usr/sbin, which is not on an ordinary user's PATH.
_EXTRA_DIRS = ("/usr/sbin", "/usr/local/sbin")


def find_mosquitto() -> str | None:
    found = shutil.which("mosquitto")
    if found:
        return found
    for folder in _EXTRA_DIRS:
        candidate = Path(folder) / "mosquitto"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


class BrokerError(RuntimeError):
    """The broker could not be started; the message says why and what to do."""


@dataclass
class Mosquitto:
    """A running mosquitto process bound to 127.0.0.1."""

    folder: Path
    port: int
    process: subprocess.Popen[bytes]
    persistence: bool
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.folder / "mosquitto.log"

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    @classmethod
    def start(
        cls,
        folder: Path,
        *,
        port: int | None = None,
        persistence: bool = True,
        extra_config: str = "",
    ) -> Mosquitto:
        binary = find_mosquitto()
        if binary is None:
            raise BrokerError("mosquitto is not installed (Debian: apt-get install mosquitto)")
        folder.mkdir(parents=True, exist_ok=True)
        port = port or free_port()
        config = folder / "mosquitto.conf"
        # A gateway that falls behind must find its backlog in the broker, not lose it:
        # the per-client queue limit (default 1000) is lifted for the gateway's session.
        lines = [
            # Started as root, mosquitto would drop to the 'mosquitto' user and could not
            # write its persistence file in our folder; stay the user who started it.
            f"user {getpass.getuser()}",
            f"listener {port} 127.0.0.1",
            "allow_anonymous true",
            f"persistence {'true' if persistence else 'false'}",
            f"persistence_location {folder}/",
            "autosave_interval 1",
            "max_queued_messages 0",
            "max_inflight_messages 1000",
            f"log_dest file {folder / 'mosquitto.log'}",
            "log_type error",
            "log_type warning",
            "log_type notice",
        ]
        config.write_text("\n".join(lines) + "\n" + extra_config)
        process = spawn([binary, "-c", str(config)], stdout=subprocess.DEVNULL,
                        stderr=subprocess.PIPE)
        broker = cls(folder=folder, port=port, process=process, persistence=persistence)
        if not wait_listening("127.0.0.1", port, 10, alive=lambda: process.poll() is None):
            broker.stop()
            raise BrokerError(f"mosquitto did not start: {broker.diagnostics()}")
        return broker

    def diagnostics(self) -> str:
        stderr = b""
        if self.process.poll() is not None and self.process.stderr is not None:
            stderr = self.process.stderr.read()
        log = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return (stderr.decode(errors="replace") + log).strip()[-2000:] or "no output"

    def stop(self, kill: bool = False) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stderr is not None:
            self.process.stderr.close()

    def restart(self) -> None:
        """Stop and start again on the same port and folder (persistence keeps sessions)."""
        self.stop()
        fresh = Mosquitto.start(self.folder, port=self.port, persistence=self.persistence)
        self.process = fresh.process
