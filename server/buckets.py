"""The rate limit's token buckets: in this process, or shared by every worker process.

    buckets = SharedBuckets.create()           # in the supervisor, before the workers fork
    wait = buckets.take("192.0.2.7", time.monotonic(), capacity=600, refill=10)
    # 0: admitted (one token taken); otherwise seconds until the next token

:class:`LocalBuckets` is a dict, for one process. :class:`SharedBuckets` is a fixed table of
slots in an unlinked temporary file that every worker maps (the descriptor is inherited across
the fork), so that a client gets ``per_minute`` in all, not once per worker:

* a slot holds (key, tokens, at): the key is an 8-byte BLAKE2b hash of the address (Python's
  ``hash()`` differs between interpreters), ``at`` a ``time.monotonic()`` reading, which on
  Linux is one clock for every process of the machine;
* an address probes ``PROBE`` neighbouring slots; it takes its own, else one that is empty or
  whose bucket has refilled (a full bucket is no state worth keeping), else the one refilling
  soonest — so past ``SLOTS`` busy clients the nearly full ones are forgotten, as the
  in-process table forgets its full ones;
* the probed range is locked with ``fcntl.lockf`` (a POSIX record lock): the kernel drops it
  when its holder dies, so a worker killed with SIGKILL inside the lock blocks nobody, and two
  addresses whose ranges do not overlap do not wait for each other. A slot torn by such a
  death holds at worst nonsense for one client, which is read as a full bucket.
"""

from __future__ import annotations

import fcntl
import hashlib
import math
import mmap
import os
import struct
import tempfile
from typing import Protocol

_MAX_LOCAL = 10_000  # clients LocalBuckets keeps before it forgets the full ones
SLOTS = 16_384
PROBE = 8
_SLOT = struct.Struct("<Qdd")  # key (0: empty), tokens, at


class Buckets(Protocol):
    def take(self, address: str, now: float, capacity: float, refill: float) -> float:
        """0 when a token was taken; else the seconds until one is there (nothing taken)."""
        ...


def _wait(tokens: float, refill: float) -> float:
    return max(1.0, math.ceil((1 - tokens) / refill))


class LocalBuckets:
    def __init__(self) -> None:
        self.buckets: dict[str, tuple[float, float]] = {}  # address -> (tokens, at)

    def take(self, address: str, now: float, capacity: float, refill: float) -> float:
        tokens, at = self.buckets.get(address, (capacity, now))
        tokens = min(capacity, tokens + (now - at) * refill)
        if tokens < 1:
            return _wait(tokens, refill)
        if len(self.buckets) >= _MAX_LOCAL and address not in self.buckets:
            self._forget_full(now, capacity, refill)
        self.buckets[address] = (tokens - 1, now)
        return 0.0

    def _forget_full(self, now: float, capacity: float, refill: float) -> None:
        """Drop clients whose bucket has refilled: they hold no state worth keeping."""
        for address, (tokens, at) in list(self.buckets.items()):
            if tokens + (now - at) * refill >= capacity:
                del self.buckets[address]
        if len(self.buckets) >= _MAX_LOCAL:
            self.buckets.clear()


def _unlinked_file(folder: str | None) -> int | None:
    try:
        with tempfile.TemporaryFile(prefix="lokaalmeten-rate-", dir=folder) as handle:
            return os.dup(handle.fileno())
    except OSError:
        return None


class SharedBuckets:
    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.map = mmap.mmap(fd, SLOTS * _SLOT.size, mmap.MAP_SHARED)

    @classmethod
    def create(cls) -> SharedBuckets:
        """A zeroed table in an unlinked file: nothing to clean up after, whatever ends us.
        /dev/shm when there is one, so that the table never waits on a disk."""
        fd = _unlinked_file("/dev/shm")
        if fd is None:  # none, or not writable here (a sandbox): the temporary folder
            fd = _unlinked_file(None)
        if fd is None:
            raise OSError("no folder to keep the rate limit's table in (/dev/shm, TMPDIR)")
        os.ftruncate(fd, SLOTS * _SLOT.size)
        return cls(fd)

    @staticmethod
    def key(address: str) -> int:
        digest = hashlib.blake2b(address.encode(), digest_size=8).digest()
        return int.from_bytes(digest, "little") or 1  # 0 marks an empty slot

    def take(self, address: str, now: float, capacity: float, refill: float) -> float:
        key = self.key(address)
        first = key % (SLOTS - PROBE + 1)  # the probed range never wraps: one lock covers it
        fcntl.lockf(self.fd, fcntl.LOCK_EX, PROBE * _SLOT.size, first * _SLOT.size)
        try:
            chosen, soonest = -1, math.inf
            tokens = capacity
            for slot in range(first, first + PROBE):
                held, had, at = _SLOT.unpack_from(self.map, slot * _SLOT.size)
                level = had + (now - at) * refill if held else capacity
                if not 0 <= level < capacity:  # refilled, empty, or torn: free to take
                    level = capacity
                if held == key:
                    chosen, tokens = slot, level
                    break
                # The soonest full is the best to take: a full one holds nothing.
                if capacity - level < soonest:
                    chosen, soonest, tokens = slot, capacity - level, capacity
            if tokens < 1:
                return _wait(tokens, refill)
            _SLOT.pack_into(self.map, chosen * _SLOT.size, key, tokens - 1, now)
            return 0.0
        finally:
            fcntl.lockf(self.fd, fcntl.LOCK_UN, PROBE * _SLOT.size, first * _SLOT.size)

    def close(self) -> None:
        self.map.close()
        os.close(self.fd)
