"""The kit's outbox on flash: records wait here, in order, until the broker has them.

Every record is appended here before anyone tries to send it; it leaves only after the
broker's PUBACK (``ack``). The outbox survives reboots and power cuts in the middle of a
write, and is bounded: when full, the oldest records are dropped and counted::

    box = Outbox("outbox", max_records=2048)
    box.append(42, b'{"v":1, ...}')
    seq, payload = box.peek()       # the oldest unsent record (payload is a memoryview)
    client.publish(topic, payload, qos=1)
    box.ack()                       # only now is it gone

On flash: numbered segment files ``<n>.seg`` of up to ``segment_records`` entries, written
append-only. An entry is ``A5 | length u16 | seq u32 | crc32 u32 | payload | 5A``, all
little-endian; the CRC covers seq and payload, and the final 5A byte is the commit marker,
written last. A cut in the middle of a write leaves an entry without a valid CRC or marker:
at boot the scan stops there, so that entry (the record being written) is the only loss, and
writing continues in a new segment. A whole entry whose CRC fails (a flipped bit) is skipped,
never sent. When a write fails (flash full), the oldest records are dropped and the write
is tried once more in a new segment. ``head`` holds the read position and counters, replaced
atomically (write ``head.tmp``, rename) after each acknowledgement; if it is lost, sending
restarts at the oldest segment: duplicates, never loss.
"""

import binascii
import os
import struct

from micropython import const

from kit.errors import KitError

_MAGIC = const(0xA5)
_COMMIT = b"\x5a"
_HEADER = const(11)


def _seg_number(name):
    if name.endswith(".seg"):
        try:
            return int(name[:-4])
        except ValueError:
            pass
    return -1


class Outbox:
    def __init__(self, folder="outbox", max_records=2048, segment_records=32, max_payload=1024):
        self.folder = folder
        self.max_records = max_records
        # Dropping works per segment: keep at least four segments of room.
        self.segment_records = max(1, min(segment_records, max_records // 4))
        self.dropped = 0  # records dropped because the outbox was full (kept across reboots)
        self.torn = 0  # entries found cut in the middle of a write at this boot
        self.last_seq = 0
        self.pause = None  # test hook, called between a payload and its commit marker
        # One buffer for every read and write, made once: no allocation per record.
        self._buf = bytearray(_HEADER + max_payload + 1)
        self._mv = memoryview(self._buf)
        self.segments = []  # segment numbers, oldest first; the last one is being written
        self.sizes = []  # committed entries per segment
        self.count = 0  # records not yet acknowledged
        self.head_off = 0  # byte offset of the oldest unsent record in segments[0]
        self.head_idx = 0  # and its index there
        self._loaded = -1  # head_off of the record now in _buf, -1 for none
        self._loaded_len = 0
        self._loaded_seq = 0
        self._writing = False  # whether segments[-1] was started at this boot
        try:
            os.mkdir(folder)
        except OSError:
            pass  # exists
        self._recover()

    # -- boot --------------------------------------------------------------------------

    def _path(self, number):
        return "%s/%d.seg" % (self.folder, number)

    def _recover(self):
        numbers = sorted(n for n in map(_seg_number, os.listdir(self.folder)) if n >= 0)
        head = self._read_head()
        first = head[0] if head else 0
        for number in numbers:
            if number < first:
                # Fully sent: the power went off between saving head and deleting the file.
                self._remove(number)
                continue
            size, last_seq = self._scan(number)
            if size == 0:
                self._remove(number)
                continue
            self.segments.append(number)
            self.sizes.append(size)
            if last_seq > self.last_seq:
                self.last_seq = last_seq
        if head:
            self.last_seq = max(self.last_seq, head[3])
            self.dropped = head[4]
            if self.segments and self.segments[0] == head[0] and head[2] <= self.sizes[0]:
                self.head_off, self.head_idx = head[1], head[2]
        self.count = sum(self.sizes) - self.head_idx
        self._next_number = max(numbers[-1] + 1 if numbers else 1, first)

    def _read_head(self):
        try:
            with open(self.folder + "/head") as f:
                parts = f.read().split()
            values = tuple(int(p) for p in parts)
            if len(values) == 5:
                return values
        except (OSError, ValueError):
            pass
        return None

    def _read_entry(self, f):
        """Read one entry into _buf; return its payload length, -1 if it is not whole, or
        -2 - length when it is whole but its CRC fails (a flipped bit: skip just that one)."""
        mv = self._mv
        if f.readinto(mv[:_HEADER]) != _HEADER or self._buf[0] != _MAGIC:
            return -1
        length = self._buf[1] | self._buf[2] << 8
        if length > len(self._buf) - _HEADER - 1:
            return -1
        end = _HEADER + length + 1
        if f.readinto(mv[_HEADER:end]) != length + 1 or self._buf[end - 1] != _COMMIT[0]:
            return -1
        crc = binascii.crc32(mv[_HEADER : end - 1], binascii.crc32(mv[3:7]))
        if crc != struct.unpack_from("<I", self._buf, 7)[0]:
            return -2 - length
        return length

    def _scan(self, number):
        count = 0
        last_seq = 0
        good_end = 0
        path = self._path(number)
        with open(path, "rb") as f:
            while True:
                length = self._read_entry(f)
                if length == -1:
                    break
                count += 1  # a damaged entry keeps its place; peek skips it
                if length < 0:
                    length = -2 - length
                else:
                    last_seq = struct.unpack_from("<I", self._buf, 3)[0]
                good_end += _HEADER + length + 1
        if os.stat(path)[6] > good_end:
            self.torn += 1  # bytes after the last whole entry: a cut write
        return count, last_seq

    # -- writing -----------------------------------------------------------------------

    def append(self, seq, payload):
        """Store one record durably; drops the oldest records first if the outbox is full."""
        length = len(payload)
        if length > len(self._buf) - _HEADER - 1:
            raise KitError("outbox: a record of %d bytes is over the limit" % length)
        while self.count >= self.max_records:
            self._drop_oldest()
        if not self._writing or self.sizes[-1] >= self.segment_records:
            self.segments.append(self._next_number)
            self.sizes.append(0)
            self._next_number += 1
            self._writing = True
        header = self._mv[:_HEADER]
        struct.pack_into("<BHI", self._buf, 0, _MAGIC, length, seq)
        crc = binascii.crc32(payload, binascii.crc32(header[3:7]))
        struct.pack_into("<I", self._buf, 7, crc)
        self._loaded = -1  # _buf now holds the header being written
        for attempt in (0, 1):
            try:
                with open(self._path(self.segments[-1]), "ab") as f:
                    f.write(header)
                    f.write(payload)
                    if self.pause:
                        self.pause()
                    f.write(_COMMIT)
                break
            except OSError as exc:
                # Flash full (or failing): what was written is an uncommitted tail, so go on
                # in a new segment, after making room by dropping the oldest records.
                if attempt or len(self.segments) < 2:
                    raise KitError("outbox: cannot write to flash: %s" % exc)
                self._drop_oldest()
                self.segments.append(self._next_number)
                self.sizes.append(0)
                self._next_number += 1
        self.sizes[-1] += 1
        self.count += 1
        self.last_seq = seq

    def _drop_oldest(self):
        # The oldest segment's unsent records are lost (counted), then it goes as a sent one.
        lost = self.sizes[0] - self.head_idx
        self.dropped += lost
        self.count -= lost
        self._next_segment()

    # -- reading -----------------------------------------------------------------------

    def peek(self):
        """Return ``(seq, payload)`` of the oldest unsent record, or None when all are sent."""
        while self.count:
            if self.head_idx >= self.sizes[0]:
                self._next_segment()
                continue
            if self._loaded == self.head_off:
                return self._loaded_seq, self._mv[_HEADER : _HEADER + self._loaded_len]
            with open(self._path(self.segments[0]), "rb") as f:
                f.seek(self.head_off)
                length = self._read_entry(f)
            if length == -1:
                # Checked at boot, so flash changed under us: skip what cannot be trusted.
                self.torn += 1
                self.count -= self.sizes[0] - self.head_idx
                self.head_idx = self.sizes[0]
                continue
            if length < 0:
                # A damaged record is never sent; the ones after it are.
                self.torn += 1
                self.head_off += _HEADER + (-2 - length) + 1
                self.head_idx += 1
                self.count -= 1
                continue
            self._loaded = self.head_off
            self._loaded_len = length
            self._loaded_seq = struct.unpack_from("<I", self._buf, 3)[0]
        return None

    def find(self, text):
        """Where ``text`` is in the payload ``peek`` returned, or -1 (no copy is made)."""
        if self._loaded != self.head_off:
            return -1
        found = self._buf.find(text, _HEADER, _HEADER + self._loaded_len)
        return found - _HEADER if found >= 0 else -1

    def ack(self):
        """The broker has the record ``peek`` returned: forget it, durably."""
        if self._loaded != self.head_off or not self.count:
            raise KitError("outbox: ack without a peeked record")
        self.head_off += _HEADER + self._loaded_len + 1
        self.head_idx += 1
        self.count -= 1
        self._loaded = -1
        if self.head_idx >= self.sizes[0] and len(self.segments) > 1:
            self._next_segment()
        else:
            self._save_head()

    def _next_segment(self):
        number = self.segments.pop(0)
        self.sizes.pop(0)
        self.head_off = self.head_idx = 0
        self._loaded = -1
        if not self.segments:
            self._writing = False
        self._save_head()  # first the new position, then the file: a cut in between is harmless
        self._remove(number)

    def _save_head(self):
        first = self.segments[0] if self.segments else self._next_number
        tmp = self.folder + "/head.tmp"
        with open(tmp, "w") as f:
            f.write(
                "%d %d %d %d %d\n"
                % (first, self.head_off, self.head_idx, self.last_seq, self.dropped)
            )
        os.rename(tmp, self.folder + "/head")

    def _remove(self, number):
        try:
            os.remove(self._path(number))
        except OSError:
            pass
