# MicroPython tests of the firmware slots (firmware/slots.py) and of the offers a kit takes
# (firmware/kit/offer.py): the pointer, a trial's boots, commit and rollback, and which
# offers are taken, left or refused as unsafe.
import os
import sys

import slots
from mpy_test_support import drop_flash, fresh_flash

from kit import offer

MPY_HEAP = "64k"


def _slot(version):
    if "releases" not in os.listdir():
        os.mkdir("releases")
    os.mkdir("releases/" + version)
    os.mkdir("releases/" + version + "/kit")


def _read(name):
    with open(name) as f:
        return f.read()


def test_without_a_pointer_the_deployed_firmware_runs():
    flash = fresh_flash()
    try:
        path = list(sys.path)
        assert slots.boot() == ""
        assert sys.path == path
        assert slots.read() == ("", "", False, 0)
    finally:
        drop_flash(flash)


def test_a_trial_counts_its_boots_and_the_fourth_rolls_back():
    flash = fresh_flash()
    try:
        _slot("0.3.0")
        with open("boot.txt", "w") as f:
            f.write("2 crash 17\n")
        slots.note("trial", "0.3.0", 4, 1)
        slots.switch("0.3.0", "")
        for boots in (1, 2, 3):
            assert slots.boot() == "0.3.0"
            assert sys.path[0] == "releases/0.3.0"
            sys.path.pop(0)
            assert slots.read() == ("0.3.0", "", True, boots)
        assert slots.boot() == ""
        assert slots.read() == ("", "", False, 0)
        assert _read("update.txt") == "rolled_back 0.3.0 4 0 not healthy within 3 boots\n"
        assert _read("boot.txt") == "0 ok 17\n"  # the guard starts afresh, the boot counts on
        assert "0.3.0" not in os.listdir("releases")
    finally:
        drop_flash(flash)


def test_commit_keeps_the_release_and_a_committed_one_never_rolls_back():
    flash = fresh_flash()
    try:
        _slot("0.3.0")
        slots.note("trial", "0.3.0", 2, 1)
        slots.switch("0.3.0", "")
        slots.commit()
        assert slots.read() == ("0.3.0", "", False, 0)
        assert slots.noted() == ("healthy", "0.3.0", 2, 0, "")
        assert slots.rollback("MemoryError: x") is False
        for _ in range(5):
            assert slots.boot() == "0.3.0"
            sys.path.pop(0)
    finally:
        drop_flash(flash)


def test_a_rollback_goes_to_the_release_before_and_a_missing_slot_to_the_deployed_one():
    flash = fresh_flash()
    try:
        _slot("0.3.0")
        _slot("0.3.1")
        slots.switch("0.3.1", "0.3.0")
        assert slots.rollback("no publish in 10 cycles") is True
        assert slots.read() == ("0.3.0", "", False, 0)
        assert slots.boot() == "0.3.0"
        sys.path.pop(0)
        slots.remove_tree("releases/0.3.0")
        assert slots.boot() == ""  # its folder is gone: the deployed firmware
        assert slots.read() == ("", "", False, 0)
    finally:
        drop_flash(flash)


def test_a_pointer_written_half_is_the_old_one():
    flash = fresh_flash()
    try:
        _slot("0.3.0")
        with open("slot.txt.new", "w") as f:
            f.write("v1 0.3.0 - trial 0\n")  # the power went before the rename
        assert slots.boot() == ""
        with open("slot.txt", "w") as f:
            f.write("garbage")
        assert slots.boot() == ""
    finally:
        drop_flash(flash)


OFFER = b'{"v":1,"version":"0.3.0","port":8081,"path":"/fleet/0.3.0/","serial":7}'


def test_an_offer_is_taken_unless_it_is_the_running_version():
    flash = fresh_flash()
    try:
        taken, wait = offer.judge(OFFER, "0.2.0")
        assert taken == {"version": "0.3.0", "port": 8081, "path": "/fleet/0.3.0/", "serial": 7}
        assert wait == 0
        assert offer.judge(OFFER, "0.3.0") is None
        assert offer.judge(b"", "0.2.0") is None  # withdrawn
        offer.take(taken)
        assert slots.noted() == ("offered", "0.3.0", 7, 0, "")
        assert "offer.json" in os.listdir()
    finally:
        drop_flash(flash)


def test_unsafe_or_unknown_offers_are_left():
    for payload in (
        b'{"v":1,"version":"../boot","port":8081,"path":"/fleet/x/","serial":1}',
        b'{"v":1,"version":".hidden","port":8081,"path":"/fleet/x/","serial":1}',
        b'{"v":1,"version":"0.3.0","port":8081,"path":"/fleet/../x/","serial":1}',
        b'{"v":1,"version":"0.3.0","port":8081,"path":"/fleet/0.3.0/\\r\\nX: y/","serial":1}',
        b'{"v":1,"version":"0.3.0","port":0,"path":"/fleet/0.3.0/","serial":1}',
        b'{"v":2,"version":"0.3.0","port":8081,"path":"/fleet/0.3.0/","serial":1}',
        b'{"version":"0.3.0"}',
        b"not json",
    ):
        assert offer.parse(payload) is None, payload


def test_refused_rolled_back_and_waiting_offers_by_their_history():
    flash = fresh_flash()
    try:
        slots.note("rolled_back", "0.3.0", 3, 0, "crash")
        assert offer.judge(OFFER, "0.2.0") is None  # never again, whatever the serial
        slots.note("refused", "0.3.0", 7, 1, "hash")
        assert offer.judge(OFFER, "0.2.0") is None  # the same offer
        slots.note("refused", "0.3.0", 6, 1, "hash")
        assert offer.judge(OFFER, "0.2.0")[1] == 0  # offered anew
        slots.note("waiting", "0.3.0", 7, 2, "paused")
        assert offer.judge(OFFER, "0.2.0")[1] == 2 * offer.RETRY_MS
        slots.note("downloading", "0.3.0", 7, 2)
        assert offer.judge(OFFER, "0.2.0")[1] == 0  # cut off: at once
        slots.note("waiting", "0.3.0", 7, offer.MAX_ATTEMPTS, "paused")
        assert offer.judge(OFFER, "0.2.0") is None
    finally:
        drop_flash(flash)
