"""Firmware slots: which firmware release the kit runs, its trial, and the way back.

The firmware a kit was deployed with (``lokaalmeten deploy``) lives at the top of its flash
and never changes by itself; a release the gateway offered lives beside it in
``releases/<version>/`` (kit/update.py downloads and checks it). ``slot.txt`` says which one
runs, in one line written to a temporary file and renamed over the old one, so a power cut
leaves either the old pointer or the new::

    v1 <current> <previous> <trial|ok> <boots in trial>      e.g. "v1 0.3.0 - trial 1"

``-`` is the deployed firmware. ``main.py`` calls :func:`boot` before anything of ``kit`` is
imported: it puts the current slot in front of ``sys.path``, and while the slot is on trial
counts its boots; a slot that did not become healthy within ``TRIAL_BOOTS`` boots is rolled
back by itself (a crash loop, a hang the watchdog ended, power cut over and over). The
running kit commits the slot once it is healthy, or rolls it back when it never publishes
(kit/updates.py); ``main.py`` rolls back on a MemoryError or a slot that does not import.

``update.txt`` tells the gateway how the latest update went (the status counters ``update``,
``update_version``, ``update_reason``)::

    <state> <version> <offer serial> <attempts> <reason…>     e.g. "rolled_back 0.3.0 7 1 …"

This module is the deployed firmware's own (it is never part of a release), so the way back
cannot be broken by the release it leads away from.
"""

import os
import sys

POINTER = "slot.txt"
UPDATE = "update.txt"
OFFER = "offer.json"
SLOTS = "releases"  # not "slots": a folder would hide this module from import
BOOT_FILE = "boot.txt"  # kit/runtime.py's crash-loop guard
TRIAL_BOOTS = 3
_REASON_MAX = 64  # characters of a reason the status carries


def read():
    """(current, previous, on trial, boots in trial); '' is the deployed firmware."""
    try:
        with open(POINTER) as f:
            parts = f.read().split()
        if parts[0] != "v1":
            raise ValueError
        current = "" if parts[1] == "-" else parts[1]
        previous = "" if parts[2] == "-" else parts[2]
        return current, previous, parts[3] == "trial", int(parts[4])
    except (OSError, ValueError, IndexError):
        return "", "", False, 0


def write(current, previous, trial, boots):
    _replace(
        POINTER,
        "v1 %s %s %s %d\n" % (current or "-", previous or "-", "trial" if trial else "ok", boots),
    )


def _replace(path, text):
    temporary = path + ".new"
    with open(temporary, "w") as f:
        f.write(text)
    os.rename(temporary, path)


def folder(version):
    return SLOTS + "/" + version


def _is_dir(path):
    try:
        return os.stat(path)[0] & 0x4000 != 0
    except OSError:
        return False


def note(state, version, serial=0, attempts=0, reason=""):
    """Write ``update.txt``: how the update to ``version`` stands."""
    reason = " ".join(str(reason).split())[:_REASON_MAX]
    try:
        _replace(UPDATE, "%s %s %d %d %s\n" % (state, version, serial, attempts, reason))
    except OSError:
        pass  # the status then says less; the update itself goes on


def noted():
    """(state, version, serial, attempts, reason) from ``update.txt``, or None."""
    try:
        with open(UPDATE) as f:
            parts = f.read().split(" ", 4)
        return parts[0], parts[1], int(parts[2]), int(parts[3]), parts[4].strip()
    except (OSError, ValueError, IndexError):
        return None


def _serial(version):
    """The serial of the offer ``update.txt`` notes for ``version`` (0: none)."""
    last = noted()
    return last[2] if last is not None and last[1] == version else 0


def boot():
    """Run at every start, before ``kit`` is imported: the version that runs ('' deployed)."""
    current, previous, trial, boots = read()
    if current and trial:
        boots += 1
        if boots > TRIAL_BOOTS:
            rollback("not healthy within %d boots" % TRIAL_BOOTS)
            current, previous, trial, boots = read()
        else:
            write(current, previous, True, boots)
    if current and not _is_dir(folder(current) + "/kit"):
        # Its slot is gone (removed by hand): the deployed firmware is always there.
        write("", "", False, 0)
        current = ""
    if current:
        sys.path.insert(0, folder(current))
    return current


def switch(version, previous):
    """Run ``version`` from the next boot on, on trial; ``previous`` is the way back."""
    write(version, previous, True, 0)


def commit():
    """The slot on trial is healthy: it stays."""
    current, previous, trial, _ = read()
    if trial:
        write(current, previous, False, 0)
        note("healthy", current, _serial(current))


def rollback(reason):
    """Leave the slot on trial for the one before it, saying why; nothing when none is on
    trial. The crash-loop guard starts afresh: the firmware gone back to did not fail."""
    current, previous, trial, _ = read()
    if not trial:
        return False
    write(previous, "", False, 0)
    try:
        with open(BOOT_FILE) as f:
            boot_number = int(f.read().split()[2])
    except (OSError, ValueError, IndexError):
        boot_number = 0
    try:
        _replace(BOOT_FILE, "0 ok %d\n" % boot_number)
    except OSError:
        pass
    remove_tree(folder(current))  # a power cut before this: the next update removes it
    note("rolled_back", current, _serial(current), 0, reason)
    return True


def remove_tree(path):
    """Remove a folder and everything in it (MicroPython has no shutil)."""
    try:
        entries = list(os.ilistdir(path))
    except OSError:
        return
    for entry in entries:
        inner = path + "/" + entry[0]
        if entry[1] == 0x4000:
            remove_tree(inner)
        else:
            try:
                os.remove(inner)
            except OSError:
                pass
    try:
        os.rmdir(path)
    except OSError:
        pass


def keep_only(*versions):
    """Remove every slot but these (and downloads left half-way)."""
    for entry in list(_entries(SLOTS)):
        if entry not in versions:
            remove_tree(SLOTS + "/" + entry)


def _entries(path):
    try:
        return [entry[0] for entry in os.ilistdir(path)]
    except OSError:
        return []
