"""The rollout's state: which release is offered to which kits, the stage, the pause.

One JSON file (setting ``rollout``, default ``/var/lib/lokaalmeten/fleet/rollout.json``) that
the operator's commands (``lokaalmeten fleet rollout/pause/resume``) and the gateway's health
gate change, and the gateway's HTTP route reads to decide who may download::

    state = RolloutFile(Path("/var/lib/lokaalmeten/fleet/rollout.json"))
    rollout = state.current()            # None: no rollout; re-read only when the file changed
    rollout.admits("esp32-0a1b2c")       # offered and not withdrawn
    state.change(lambda r: r.paused_by("operator", "checking kit-3", now))

Every change is a read-modify-write under an exclusive lock on ``rollout.json.lock``, written
to a temporary file and renamed, so readers (other processes too) see the old state or the new
one, never half of one, and two writers never lose each other's change.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from lokaalmeten.archive.files import write_text

FORMAT = 1  # the "v" of rollout.json
OFFER_FORMAT = 1  # the "v" of an offer message; the kit accepts this one
DEFAULT_MAX_FAILED = 0.2
DEFAULT_SILENT_AFTER_S = 30 * 60

Stage = Literal["canary", "all"]
PausedBy = Literal["gate", "operator"]


class RolloutError(ValueError):
    """The rollout's state cannot be read or written; the message says why."""


@dataclass(frozen=True, slots=True)
class Gate:
    """When the health gate pauses: more than ``max_failed`` of the offered kits failed or
    silent, silent meaning no sign of life for ``silent_after`` seconds."""

    max_failed: float = DEFAULT_MAX_FAILED
    silent_after: int = DEFAULT_SILENT_AFTER_S


@dataclass(frozen=True, slots=True)
class Offer:
    at: int  # when it was (last) published
    serial: int  # the offer message's serial
    stage: Stage
    was: str  # the firmware the kit ran when it was first offered the release ('' unknown)
    withdrawn: int | None = None  # when the retained offer was cleared (pause --withdraw)


@dataclass(frozen=True, slots=True)
class Pause:
    at: int
    by: PausedBy
    reason: str


@dataclass(frozen=True, slots=True)
class Rollout:
    version: str
    started: int
    stage: Stage = "canary"
    gate: Gate = Gate()
    offers: Mapping[str, Offer] = field(default_factory=dict)
    paused: Pause | None = None
    serial: int = 0  # the last serial an offer message was given

    def admits(self, node: str) -> bool:
        """May this kit download the release now (leaving the pause aside)?"""
        offer = self.offers.get(node)
        return offer is not None and offer.withdrawn is None

    def offered(self, offers: Mapping[str, Offer]) -> Rollout:
        """With these offers made (or made again); an offer to all ends the canary stage."""
        stage: Stage = "all" if any(o.stage == "all" for o in offers.values()) else self.stage
        return replace(
            self,
            offers={**self.offers, **offers},
            stage=stage,
            serial=max([self.serial, *(o.serial for o in offers.values())]),
        )

    def paused_by(self, by: PausedBy, reason: str, now: int) -> Rollout:
        return replace(self, paused=Pause(now, by, reason))

    def resumed(self) -> Rollout:
        return replace(self, paused=None)


def offer_message(version: str, port: int, serial: int) -> bytes:
    """The retained message on ``<prefix>/<node>/update`` that offers a kit ``version``: it
    fetches ``http://<its gateway>:<port><path><march>/manifest.json``, the signature, then
    each file."""
    path = f"/fleet/{version}/"
    doc = {"v": OFFER_FORMAT, "version": version, "port": port, "path": path, "serial": serial}
    return json.dumps(doc, separators=(",", ":")).encode()


def release_builds(releases: Path, version: str) -> dict[str, Path]:
    """The complete builds of release ``version`` under ``releases`` (march -> folder): each
    with its manifest of that version and its signature. Empty when there is none."""
    folder = releases / version
    if not version or version.startswith(".") or "/" in version or not folder.is_dir():
        return {}
    builds = {}
    for build in sorted(folder.iterdir()):
        manifest, signature = build / "manifest.json", build / "manifest.sig"
        if build.name.startswith(".") or not (manifest.is_file() and signature.is_file()):
            continue
        try:
            named = json.loads(manifest.read_bytes()).get("version")
        except (OSError, ValueError, AttributeError):
            continue
        if named == version:
            builds[build.name] = build
    return builds


def _doc(rollout: Rollout) -> dict[str, Any]:
    return {
        "v": FORMAT,
        "version": rollout.version,
        "started": rollout.started,
        "stage": rollout.stage,
        "gate": {"max_failed": rollout.gate.max_failed, "silent_after": rollout.gate.silent_after},
        "paused": None
        if rollout.paused is None
        else {"at": rollout.paused.at, "by": rollout.paused.by, "reason": rollout.paused.reason},
        "serial": rollout.serial,
        "offers": {
            node: {
                "at": o.at,
                "serial": o.serial,
                "stage": o.stage,
                "was": o.was,
                "withdrawn": o.withdrawn,
            }
            for node, o in sorted(rollout.offers.items())
        },
    }


def _rollout(doc: Any) -> Rollout:
    if not isinstance(doc, dict) or doc.get("v") != FORMAT:
        raise ValueError(f'not a rollout state of format {FORMAT} ({{"v": {FORMAT}, ...}})')
    gate, paused = doc["gate"], doc["paused"]
    return Rollout(
        version=str(doc["version"]),
        started=int(doc["started"]),
        stage="all" if doc["stage"] == "all" else "canary",
        gate=Gate(float(gate["max_failed"]), int(gate["silent_after"])),
        offers={
            str(node): Offer(
                int(o["at"]),
                int(o["serial"]),
                "all" if o["stage"] == "all" else "canary",
                str(o["was"]),
                None if o["withdrawn"] is None else int(o["withdrawn"]),
            )
            for node, o in doc["offers"].items()
        },
        paused=None if paused is None else _pause(paused),
        serial=int(doc["serial"]),
    )


def _pause(doc: dict[str, Any]) -> Pause:
    by: PausedBy = "gate" if doc["by"] == "gate" else "operator"
    return Pause(int(doc["at"]), by, str(doc["reason"]))


class RolloutFile:
    """The state file; :meth:`current` costs one ``stat`` while the file is unchanged."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._seen: tuple[int, int, int] | None = None  # inode, mtime, size of the cached
        self._cached: Rollout | None = None

    def current(self) -> Rollout | None:
        """The rollout as the file has it now; None when there is none."""
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise RolloutError(f"cannot read the rollout state {self.path}: {exc}") from exc
        # A change is a rename onto the path: a new inode, even within one mtime tick.
        seen = (info.st_ino, info.st_mtime_ns, info.st_size)
        with self._lock:
            if seen == self._seen:
                return self._cached
        rollout = self._read()
        with self._lock:
            self._seen, self._cached = seen, rollout
        return rollout

    def _read(self) -> Rollout | None:
        try:
            text = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise RolloutError(f"cannot read the rollout state {self.path}: {exc}") from exc
        try:
            return _rollout(json.loads(text))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise RolloutError(
                f"{self.path} is not a rollout state ({exc}); move it away and start the "
                "rollout again"
            ) from None

    def change(self, edit: Callable[[Rollout | None], Rollout | None]) -> Rollout | None:
        """Apply ``edit`` to the state as it is on disk, under the lock, and write what it
        returns (the same object: nothing is written)."""
        with self._locked():
            before = self._read()
            after = edit(before)
            if after is not before:
                self._write(after)
            return after

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            lock = self.path.with_name(self.path.name + ".lock")
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise RolloutError(f"cannot change the rollout state {self.path}: {exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def _write(self, rollout: Rollout | None) -> None:
        try:
            if rollout is None:
                self.path.unlink(missing_ok=True)
                return
            # Flushed, renamed over the old file, and the folder synced: a power cut leaves
            # the old state or the new one.
            write_text(self.path, json.dumps(_doc(rollout), indent=1) + "\n")
        except OSError as exc:
            raise RolloutError(f"cannot write the rollout state {self.path}: {exc}") from exc
