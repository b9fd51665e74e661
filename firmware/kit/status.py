"""The kit's status: counters, public location and problems; loaded only to report them.

Published (retained) on connect and every 10 minutes, and shown by the set-up portal::

    from kit import status
    status.online(kit)      # the retained status record, b'{"v": 1, "state": "online", ...'
    status.counters(kit)    # {"seq": 43, "queued": 0, "published": 42, ...}
    status.problems(kit)    # ["sds011 on uart 2: no answer", ...]

Kept out of ``kit.runtime`` so that its bytecode is in the heap only while a status is
made (docs/kit.md, "Memory").
"""

from kit import record


def counters(kit):
    box = kit.outbox
    found = {
        "seq": kit.seq,
        "queued": box.count,
        "published": kit.published,
        "dropped": box.dropped,
        "torn": box.torn,
        "sensor_errors": kit.sampler.errors,
        "invalid_samples": kit.sampler.invalid,
        "reconnects": kit.link.reconnects,
        "crashes": kit.crashes,
        "safe_mode": kit.safe_mode,
        "heap_min": kit.mem_min if kit.mem_max else None,  # None before a cycle
    }
    if kit.link.updates:
        found.update(kit.link.updates.counters())
    return found


def location(kit):
    conf = kit.conf
    lat = conf["latitude"]
    if lat is None:
        return None
    lon = conf["longitude"]
    if not conf["location_exact"]:
        # About 100 m: enough for a map, not enough to find the house.
        lat = round(lat, 3)
        lon = round(lon, 3)
    return {"lat": lat, "lon": lon, "exact": conf["location_exact"]}


def problems(kit):
    found = list(kit.sensor_problems)
    for problem in (kit.config_problem, kit.sampler.last_error, kit.link.last_error):
        if problem:
            found.append(problem)
    if kit.safe_mode:
        found.append("safe mode after %d failed boots; last: %s" % (kit.crashes, kit.last_crash))
    return found


def online(kit):
    return record.status("online", kit.fw, counters(kit), location(kit))
