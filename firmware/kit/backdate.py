"""Dating records made before NTP answered, from the uptime clock; loaded only for them.

A record made while the clock was not synced carries ``"time": null`` and ``"uptime":
[boot, ms]`` (kit.record). When NTP answers, the runtime notes for this boot the Unix time
at its uptime 0 (``save``: ``clock.txt``, the last eight boots), so that a record of this
boot, or of an earlier one that reached NTP before it ended, gets its real time before it is
sent::

    from kit import backdate
    offsets = backdate.load()                 # {7: 1764323940000}
    backdate.save(offsets, 8, 1764330000000)
    payload = backdate.date(payload, offsets, 8, 61000)  # ... "time": "2025-11-28T10:00:01Z" ...

A record of this boot that cannot be dated yet (NTP never answered) is sent with its age
instead, ``"age_ms"``, so that the gateway dates it from its own clock (flagged
``time_estimated``) and a backlog does not pile up on one receive time. A record of an
earlier boot that never reached NTP goes as it is: the gateway's receive time, flagged.
"""

from kit.clock import iso_utc

FILE = "clock.txt"  # "<boot> <Unix ms at its uptime 0>" per line
_BOOTS = 8  # records of boots older than these are long sent (or dropped)
_UPTIME = b'"uptime": ['


def load():
    offsets = {}
    try:
        with open(FILE) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 2:
                    offsets[int(parts[0])] = int(parts[1])
    except (OSError, ValueError):
        pass
    return offsets


def save(offsets, boot, offset):
    offsets[boot] = offset
    keep = sorted(offsets)[-_BOOTS:]
    for old in [b for b in offsets if b not in keep]:
        del offsets[old]
    try:
        with open(FILE, "w") as f:
            for b in keep:
                f.write("%d %d\n" % (b, offsets[b]))
    except OSError:
        pass  # this boot's records still get dated; only a later boot's resend would not


def date(payload, offsets, boot_now, now_ms):
    """The record with its real time if ``offsets`` knows its boot; else, when it is of this
    boot (``boot_now``, whose uptime is ``now_ms``), with its age; else ``payload``."""
    text = bytes(payload)
    start = text.find(_UPTIME)
    if start < 0:
        return payload  # undated by firmware that did not note its uptime: nothing to go by
    end = text.find(b"]", start)
    try:
        boot, ms = (int(part) for part in text[start + len(_UPTIME) : end].split(b","))
    except ValueError:
        return payload
    offset = offsets.get(boot)
    if offset is not None:
        when = iso_utc((offset + ms) // 1000).encode()
        return text.replace(b'"time": null', b'"time": "' + when + b'"', 1)
    if boot == boot_now and now_ms >= ms:
        return text.replace(_UPTIME, b'"age_ms": %d, "uptime": [' % (now_ms - ms), 1)
    return payload  # a boot that never reached NTP: the gateway's receive time it is
