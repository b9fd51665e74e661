# MicroPython tests of the outbox on flash (firmware/kit/outbox.py).
import os

from mpy_test_support import drop_flash, fresh_flash

from kit.outbox import Outbox

MPY_HEAP = "64k"


def _payload(seq):
    return b'{"seq": %d, "values": {"pm25": 1.5}}' % seq


def _drain(box):
    got = []
    while True:
        item = box.peek()
        if item is None:
            return got
        got.append((item[0], bytes(item[1])))
        box.ack()


def test_records_come_out_in_order_and_only_ack_removes_them():
    flash = fresh_flash()
    try:
        box = Outbox("outbox", max_records=256, segment_records=8)
        for seq in range(1, 21):
            box.append(seq, _payload(seq))
        assert box.count == 20
        first = box.peek()
        again = box.peek()  # not acknowledged: the same record again
        assert first[0] == again[0] == 1 and bytes(first[1]) == _payload(1)
        assert _drain(box) == [(s, _payload(s)) for s in range(1, 21)]
        assert box.count == 0
        # Sent segments are deleted; only the one being written may stay.
        assert len([n for n in os.listdir("outbox") if n.endswith(".seg")]) <= 1
    finally:
        drop_flash(flash)


def test_unsent_records_and_the_read_position_survive_a_reboot():
    flash = fresh_flash()
    try:
        box = Outbox("outbox", max_records=256, segment_records=8)
        for seq in range(1, 13):
            box.append(seq, _payload(seq))
        for _ in range(5):
            box.peek()
            box.ack()
        box = Outbox("outbox", max_records=256, segment_records=8)  # reboot
        assert box.count == 7 and box.last_seq == 12
        assert [s for s, _ in _drain(box)] == list(range(6, 13))
        box.append(13, _payload(13))
        box = Outbox("outbox", max_records=256, segment_records=8)
        assert [s for s, _ in _drain(box)] == [13]
        assert box.last_seq == 13
    finally:
        drop_flash(flash)


def test_a_write_cut_in_the_middle_loses_only_that_record():
    flash = fresh_flash()
    try:
        box = Outbox("outbox", max_records=256, segment_records=8)
        for seq in range(1, 4):
            box.append(seq, _payload(seq))
        segment = f"outbox/{box.segments[-1]}.seg"
        with open(segment, "rb") as f:
            whole = f.read()
        # The power goes off while record 4 is written: its header and half its payload.
        box.append(4, _payload(4))
        with open(segment, "rb") as f:
            torn = f.read()[: len(whole) + 11 + 10]
        with open(segment, "wb") as f:
            f.write(torn)
        box = Outbox("outbox", max_records=256, segment_records=8)
        assert box.torn == 1 and box.count == 3 and box.last_seq == 3
        box.append(4, _payload(4))  # written again after the reboot, into a new segment
        box.append(5, _payload(5))
        assert _drain(box) == [(s, _payload(s)) for s in range(1, 6)]
    finally:
        drop_flash(flash)


def test_a_cut_before_the_commit_marker_is_not_a_record():
    flash = fresh_flash()
    try:
        box = Outbox("outbox", max_records=256, segment_records=8)
        box.append(1, _payload(1))
        segment = f"outbox/{box.segments[-1]}.seg"
        box.append(2, _payload(2))
        with open(segment, "rb") as f:
            data = f.read()
        with open(segment, "wb") as f:
            f.write(data[:-1])  # everything but the final commit byte
        box = Outbox("outbox", max_records=256, segment_records=8)
        assert [s for s, _ in _drain(box)] == [1] and box.torn == 1
    finally:
        drop_flash(flash)


def test_a_flipped_bit_fails_the_crc_and_is_never_sent():
    flash = fresh_flash()
    try:
        box = Outbox("outbox", max_records=256, segment_records=4)
        for seq in range(1, 9):
            box.append(seq, _payload(seq))
        first = f"outbox/{box.segments[0]}.seg"
        with open(first, "rb") as f:
            data = bytearray(f.read())
        data[11 + 3] ^= 0x01  # inside the first record's payload
        with open(first, "wb") as f:
            f.write(data)
        box = Outbox("outbox", max_records=256, segment_records=4)
        sent = _drain(box)
        assert [s for s, _ in sent] == [2, 3, 4, 5, 6, 7, 8], sent
        assert box.torn == 1
        for seq, payload in sent:
            assert payload == _payload(seq)
    finally:
        drop_flash(flash)


def test_when_full_the_oldest_are_dropped_counted_and_remembered():
    flash = fresh_flash()
    try:
        box = Outbox("outbox", max_records=64, segment_records=16)
        for seq in range(1, 101):
            box.append(seq, _payload(seq))
        assert box.count <= 64 and box.dropped == 100 - box.count
        box = Outbox("outbox", max_records=64, segment_records=16)
        assert box.dropped == 100 - box.count
        seqs = [s for s, _ in _drain(box)]
        assert seqs == list(range(101 - len(seqs), 101)), seqs  # the newest, in order
    finally:
        drop_flash(flash)


def test_a_lost_head_file_means_duplicates_not_losses():
    flash = fresh_flash()
    try:
        box = Outbox("outbox", max_records=256, segment_records=8)
        for seq in range(1, 6):
            box.append(seq, _payload(seq))
        for _ in range(3):
            box.peek()
            box.ack()
        os.remove("outbox/head")
        box = Outbox("outbox", max_records=256, segment_records=8)
        assert [s for s, _ in _drain(box)] == [1, 2, 3, 4, 5]
    finally:
        drop_flash(flash)


def test_a_failed_write_drops_the_oldest_and_goes_on_in_a_new_segment():
    flash = fresh_flash()
    try:
        box = Outbox("outbox", max_records=256, segment_records=4)
        for seq in range(1, 10):
            box.append(seq, _payload(seq))
        failures = [OSError(28)]  # ENOSPC once, after the payload, before the commit marker

        def flash_full():
            if failures:
                raise failures.pop()

        box.pause = flash_full
        box.append(10, _payload(10))
        box.pause = None
        assert box.dropped == 4  # the oldest segment, records 1-4, made room
        box = Outbox("outbox", max_records=256, segment_records=4)  # and after a reboot
        assert box.torn == 1 and box.dropped == 4
        assert _drain(box) == [(s, _payload(s)) for s in range(5, 11)]
    finally:
        drop_flash(flash)
