"""Mosquitto from the machine's PATH on a loopback port, persistence on.

broker = Mosquitto.start(Path("/tmp/run/mqtt"))
...  # broker.url == "mqtt://127.0.0.1:<port>"
broker.stop()
"""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Any

from lokaalmeten.services.local_server import LocalServer


class Mosquitto(LocalServer):
    binary_name = "mosquitto"
    debian_package = "mosquitto"

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    @classmethod
    def command(cls, binary: str, folder: Path, port: int, **options: Any) -> list[str]:
        """Option ``auth`` = (password file, ACL file) turns anonymous access off."""
        auth: tuple[Path, Path] | None = options.get("auth")
        config = folder / "mosquitto.conf"
        lines = [
            # Started as root, mosquitto would drop to the 'mosquitto' user and could not
            # write its persistence file in our folder; stay the user who started it.
            f"user {getpass.getuser()}",
            f"listener {port} 127.0.0.1",
            "allow_anonymous false" if auth else "allow_anonymous true",
            "persistence true",
            f"persistence_location {folder.resolve()}/",
            "autosave_interval 1",
            # A gateway that falls behind must find its backlog in the broker, not lose it:
            # no per-client queue limit (default 1000), and a wide in-flight window so that
            # the gateway can acknowledge in batches.
            "max_queued_messages 0",
            "max_inflight_messages 10000",
            "log_dest stdout",
            "log_type error",
            "log_type warning",
            "log_type notice",
        ]
        if auth:
            lines += [f"password_file {auth[0].resolve()}", f"acl_file {auth[1].resolve()}"]
        config.write_text("\n".join(lines) + "\n")
        return [binary, "-c", str(config)]


def find_mosquitto() -> str | None:
    return Mosquitto.find()
