"""The kit registry: which nodes may send, and their credentials.

Each kit gets one secret token at registration. It is the kit's MQTT password (its MQTT user
name is its node id) and its HTTP bearer token; only a hash of it is kept. From the registry
the gateway writes Mosquitto's password file and an ACL that confines every kit to its own
topics, so kit A cannot publish as kit B::

    registry = Registry(Path("/var/lib/lokaalmeten/registry.db"))
    token = registry.add("esp32-0a1b2c3d4e5f")      # shown once to the operator
    registry.check_token("esp32-0a1b2c3d4e5f", token)   # True
    registry.write_mosquitto_files(Path("/etc/mosquitto/lokaalmeten"))
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import re
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lokaalmeten.protocol.schema import NODE_ID_PATTERN
from lokaalmeten.protocol.topics import DEFAULT_PREFIX
from lokaalmeten.store.sqlite import immediate_transaction

# A kit; a gateway's own broker account; a relay: a neighbourhood gateway that forwards its
# stored readings into this one (docs/gateway.md, "Several gateways, one city store").
Role = Literal["kit", "gateway", "relay"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS node (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    token_sha256 TEXT NOT NULL,
    mosquitto_hash TEXT NOT NULL,
    created INTEGER NOT NULL,
    rotated INTEGER NOT NULL,
    note TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX IF NOT EXISTS node_token ON node (token_sha256);
"""
_NODE_ID = re.compile(NODE_ID_PATTERN)
# Mosquitto 2's own default; the tokens are random, so more iterations would add nothing
# but CPU time at every kit connection.
_PBKDF2_ITERATIONS = 101
# How long the gateway trusts its cached answer to "is this node registered?".
_CACHE_SECONDS = 5.0


class RegistryError(ValueError):
    """A registry request that cannot be done; the message says why."""


@dataclass(frozen=True, slots=True)
class NodeEntry:
    name: str
    role: Role
    created: int
    rotated: int
    note: str


def mosquitto_hash(password: str, salt: bytes | None = None) -> str:
    """Mosquitto 2's password hash: ``$7$iterations$salt$PBKDF2-SHA512`` in base64."""
    salt = salt if salt is not None else os.urandom(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, _PBKDF2_ITERATIONS)
    encoded_salt = base64.b64encode(salt).decode()
    return f"$7${_PBKDF2_ITERATIONS}${encoded_salt}${base64.b64encode(digest).decode()}"


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Registry:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._cache: dict[str, tuple[bool, float]] = {}
        conn = self._conn()
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(f"BEGIN IMMEDIATE;{_SCHEMA}COMMIT;")

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self._local.conn = conn
        return conn

    # -- changes (the `lokaalmeten nodes` command) ---------------------------------------

    def add(self, name: str, role: Role = "kit", note: str = "") -> str:
        """Register a node; returns its new token (shown once, never stored)."""
        if not _NODE_ID.match(name):
            raise RegistryError(
                f"{name!r} is not a valid node id: 2 to 32 characters from a-z, 0-9, '-' and "
                "'_', starting with a letter or digit (e.g. esp32-0a1b2c3d4e5f)"
            )
        token = secrets.token_urlsafe(24)
        now = int(time.time())
        conn = self._conn()
        try:
            with immediate_transaction(conn):
                conn.execute(
                    "INSERT INTO node VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (name, role, _sha256(token), mosquitto_hash(token), now, now, note),
                )
        except sqlite3.IntegrityError:
            raise RegistryError(
                f"{name} is already registered; use 'lokaalmeten nodes rotate {name}' "
                "for a new token"
            ) from None
        self._cache.pop(name, None)
        return token

    def rotate(self, name: str) -> str:
        """A new token for a node; the old one stops working."""
        token = secrets.token_urlsafe(24)
        conn = self._conn()
        with immediate_transaction(conn):
            changed = conn.execute(
                "UPDATE node SET token_sha256 = ?, mosquitto_hash = ?, rotated = ? WHERE name = ?",
                (_sha256(token), mosquitto_hash(token), int(time.time()), name),
            ).rowcount
        if not changed:
            raise RegistryError(f"{name} is not registered")
        return token

    def remove(self, name: str) -> None:
        conn = self._conn()
        with immediate_transaction(conn):
            removed = conn.execute("DELETE FROM node WHERE name = ?", (name,)).rowcount
        if not removed:
            raise RegistryError(f"{name} is not registered")
        self._cache.pop(name, None)

    def entries(self) -> list[NodeEntry]:
        rows = self._conn().execute(
            "SELECT name, role, created, rotated, note FROM node ORDER BY name"
        )
        return [NodeEntry(*row) for row in rows]

    # -- checks (the gateway) -------------------------------------------------------------

    def known(self, name: str) -> bool:
        """Is this a registered kit? Cached for a few seconds per name."""
        cached = self._cache.get(name)
        now = time.monotonic()
        if cached is not None and now - cached[1] < _CACHE_SECONDS:
            return cached[0]
        row = (
            self._conn()
            .execute("SELECT 1 FROM node WHERE name = ? AND role = 'kit'", (name,))
            .fetchone()
        )
        self._cache[name] = (row is not None, now)
        return row is not None

    def node_for_token(self, token: str) -> str | None:
        """The kit a bearer token belongs to, if any."""
        row = (
            self._conn()
            .execute(
                "SELECT name FROM node WHERE token_sha256 = ? AND role = 'kit'", (_sha256(token),)
            )
            .fetchone()
        )
        return None if row is None else str(row[0])

    def check_token(self, name: str, token: str) -> bool:
        row = (
            self._conn()
            .execute("SELECT token_sha256 FROM node WHERE name = ? AND role = 'kit'", (name,))
            .fetchone()
        )
        return row is not None and hmac.compare_digest(row[0], _sha256(token))

    # -- broker files --------------------------------------------------------------------

    def write_mosquitto_files(
        self, folder: Path, prefix: str = DEFAULT_PREFIX
    ) -> tuple[Path, Path]:
        """Write ``passwd`` and ``acl`` for Mosquitto; replace them atomically."""
        folder.mkdir(parents=True, exist_ok=True)
        rows = (
            self._conn()
            .execute("SELECT name, role, mosquitto_hash FROM node ORDER BY name")
            .fetchall()
        )
        passwd = "".join(f"{name}:{digest}\n" for name, _, digest in rows)
        acl = [
            "# Written by lokaalmeten from its kit registry; edits are overwritten.",
            "# A kit's user name is its node id: it may publish only its own readings and",
            "# status, and read only its own commands and firmware offers.",
        ]
        for name, role, _ in rows:
            if role == "gateway":
                acl += [
                    f"user {name}",
                    f"topic read {prefix}/+/readings",
                    f"topic read {prefix}/+/status",
                    f"topic write {prefix}/+/command",
                    # Kit-health alert events (gateway/alert_delivery.py); Mosquitto drops a
                    # publish the ACL does not allow without a word, so it must be here.
                    f"topic write {prefix}/+/alerts",
                    # ... and read them: an operator's dashboard uses a gateway account.
                    f"topic read {prefix}/+/alerts",
                    # Firmware offers (lokaalmeten fleet rollout, docs/fleet.md), retained.
                    f"topic write {prefix}/+/update",
                    # Neighbourhood gateways' relayed readings (lokaalmeten/protocol/relay.py).
                    f"topic read {prefix}/+/relay",
                    # Home Assistant's discovery and the kits' latest values, for the kits
                    # whose owners chose it (gateway/home_assistant.py); Home Assistant
                    # signs in with a gateway account too and reads them.
                    "topic readwrite homeassistant/#",
                    f"topic readwrite {prefix}/+/latest/+",
                ]
            elif role == "relay":
                # A relay may write only under its own name; the topic tells the city
                # gateway which relay sent a batch, and so which kits it may speak for.
                acl += [f"user {name}", f"topic write {prefix}/{name}/relay"]
        acl += [
            "",
            f"pattern write {prefix}/%u/readings",
            f"pattern write {prefix}/%u/status",
            f"pattern read {prefix}/%u/command",
            f"pattern read {prefix}/%u/update",
        ]
        passwd_path, acl_path = folder / "passwd", folder / "acl"
        # Group-readable: Mosquitto reads it through its group (see docs/gateway-install.md).
        _replace(passwd_path, passwd, mode=0o640)
        _replace(acl_path, "\n".join(acl) + "\n", mode=0o644)
        return passwd_path, acl_path

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def _replace(path: Path, text: str, mode: int) -> None:
    """Write atomically. An existing file keeps its mode and group, so that a broker that
    reads it as another user (Mosquitto on Debian, through the group) still can."""
    temporary = path.with_name(path.name + ".new")
    temporary.write_text(text)
    try:
        current = path.stat()
    except FileNotFoundError:
        temporary.chmod(mode)
    else:
        temporary.chmod(current.st_mode & 0o7777)
        with contextlib.suppress(PermissionError):  # only root may give away a group
            os.chown(temporary, -1, current.st_gid)
    os.replace(temporary, path)
