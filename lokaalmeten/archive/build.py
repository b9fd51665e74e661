"""One run of the archive: check every day asked for, write what changed, then the sums and
the index.

    plan = ArchivePlan(folder, start, end, today)
    summary = build_archive(store, places, settings, plan, echo=print)

A day's CSV is written when its file is missing or its fingerprint
(:mod:`lokaalmeten.archive.fingerprint`) differs from the one recorded when it was written;
a month's Parquet for a quantity when any of its days' fingerprints for that quantity did.
A file is never replaced by one with fewer readings: when a store's retention drops old
readings, the archive keeps them (the run says so). Only complete UTC days are archived;
the month in progress is written up to ``today`` and grows night by night.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from lokaalmeten.archive.csvday import write_day
from lokaalmeten.archive.files import Replacement, write_text
from lokaalmeten.archive.fingerprint import combined, fingerprints
from lokaalmeten.archive.index import ArchivedFile, index_document, sums_text
from lokaalmeten.archive.layout import (
    DAY,
    INDEX,
    LOCK,
    STATE,
    SUMS,
    day_file,
    month_file,
    month_of,
    next_month,
)
from lokaalmeten.archive.parquet import write_month
from lokaalmeten.server.privacy import PublicPlace
from lokaalmeten.settings import ServerSettings
from lokaalmeten.store import Store

STATE_VERSION = 1


class ArchiveError(Exception):
    """The archive cannot be written; the message says what to fix."""


@dataclass(frozen=True, slots=True)
class ArchivePlan:
    folder: Path
    start: int  # the first UTC day to check (epoch seconds of its midnight)
    end: int  # the day after the last one (exclusive); at most ``today``
    today: int  # midnight of the current UTC day: nothing from it on is archived
    rebuild: bool = False  # write every file again, fingerprints or not


@dataclass
class ArchiveSummary:
    days: int = 0  # days with readings checked
    written: list[str] = field(default_factory=list)
    unchanged: int = 0  # files whose fingerprint had not changed, or rewritten to equal bytes
    kept: list[str] = field(default_factory=list)  # the store holds fewer readings than they


@dataclass
class _Entry:
    fingerprint: str
    file: ArchivedFile


def _load_state(folder: Path) -> dict[str, _Entry]:
    path = folder / STATE
    try:
        raw = json.loads(path.read_text())
        if raw.get("version") != STATE_VERSION:
            return {}
        return {
            name: _Entry(entry["fingerprint"], ArchivedFile(**entry["file"]))
            for name, entry in raw["files"].items()
        }
    except FileNotFoundError:
        return {}
    except (ValueError, KeyError, TypeError):
        # Unreadable: every file is checked again, and rewritten only if its bytes differ.
        return {}


def _save_state(folder: Path, state: dict[str, _Entry]) -> None:
    files = {
        name: {"fingerprint": entry.fingerprint, "file": asdict(entry.file)}
        for name, entry in sorted(state.items())
    }
    write_text(folder / STATE, json.dumps({"version": STATE_VERSION, "files": files}, indent=1))


def _check_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{id(folder)}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ArchiveError(
            f"cannot write to the archive folder {folder}: {exc.strerror or exc}; give the "
            "user running the archive (lokaalmeten) write access, or choose another with "
            "--folder / LM_ARCHIVE_FOLDER"
        ) from None


@contextmanager
def _only_run(folder: Path) -> Iterator[None]:
    """One run per folder at a time: the nightly timer and an operator's run would otherwise
    each write the state from what they saw, the later one losing the earlier's files. An
    advisory lock, which the kernel drops with the process however it ends."""
    with (folder / LOCK).open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ArchiveError(
                f"another lokaalmeten archive is writing {folder} now; wait for it to end "
                "(systemctl status lokaalmeten-archive) and run again"
            ) from None
        yield


def build_archive(
    store: Store,
    places: dict[str, PublicPlace],
    settings: ServerSettings,
    plan: ArchivePlan,
    echo: Callable[[str], None] = lambda line: None,
) -> ArchiveSummary:
    _check_folder(plan.folder)
    with _only_run(plan.folder):
        return _build(store, places, settings, plan, echo)


def _build(
    store: Store,
    places: dict[str, PublicPlace],
    settings: ServerSettings,
    plan: ArchivePlan,
    echo: Callable[[str], None],
) -> ArchiveSummary:
    folder = plan.folder
    state = _load_state(folder)
    summary = ArchiveSummary()
    end = min(plan.end, plan.today)
    if plan.start >= end:
        raise ArchiveError("nothing to archive: the first day is not before the last")
    # Whole months, so that a month's Parquet is judged by all its days, not those asked.
    first_month = month_of(plan.start)
    month_end = min(next_month(month_of(end - 1)), plan.today)
    found = fingerprints(store, first_month, month_end)

    def record(name: str, fingerprint: str, out: Replacement, entry: ArchivedFile) -> None:
        state[name] = _Entry(fingerprint, entry)
        if out.changed:
            summary.written.append(name)
            echo(f"{name}: written ({entry.readings:,} readings, {out.size:,} bytes)")
        else:
            summary.unchanged += 1

    def due(name: str, fingerprint: str, readings: int) -> bool:
        old = state.get(name)
        if old is not None and readings < old.file.readings:
            summary.kept.append(name)
            echo(
                f"{name}: kept; the store now holds {readings:,} of its "
                f"{old.file.readings:,} readings (its retention?)"
            )
            return False
        if plan.rebuild or old is None or not (folder / name).is_file():
            return True
        if old.fingerprint == fingerprint:
            summary.unchanged += 1
            return False
        return True

    try:
        for day in range(plan.start, end, DAY):
            parts = sorted((q, fp) for (d, q), fp in found.items() if d == day)
            if not parts:
                continue  # no readings (any more): an earlier file stays
            summary.days += 1
            name = day_file(day)
            fingerprint = combined([f"{q}:{fp}" for q, (fp, _) in parts])
            readings = sum(count for _, (_, count) in parts)
            if due(name, fingerprint, readings):
                out = write_day(store, places, day, folder / name)
                record(name, fingerprint, out, ArchivedFile(
                    name, out.sha256, out.size, day, day + DAY, readings
                ))  # fmt: skip
        month = first_month
        while month < month_end:
            until = min(next_month(month), plan.today)
            quantities = sorted({q for (d, q) in found if month <= d < until})
            for quantity in quantities:
                days = sorted(
                    (d, fp) for (d, q), fp in found.items() if q == quantity and month <= d < until
                )
                name = month_file(month, quantity)
                fingerprint = combined([str(until)] + [f"{d}:{fp}" for d, (fp, _) in days])
                readings = sum(count for _, (_, count) in days)
                if due(name, fingerprint, readings):
                    out = write_month(store, places, month, quantity, folder / name, until)
                    record(name, fingerprint, out, ArchivedFile(
                        name, out.sha256, out.size, month, until, readings, quantity
                    ))  # fmt: skip
            month = next_month(month)
    finally:
        _save_state(folder, state)
        files = [entry.file for entry in state.values()]
        write_text(folder / SUMS, sums_text(files))
        write_text(folder / INDEX, json.dumps(index_document(files, settings), indent=1) + "\n")
    return summary
