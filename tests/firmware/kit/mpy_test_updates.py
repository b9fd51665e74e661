# MicroPython tests of kit/updates.py: how the running kit hears a firmware offer on its
# MQTT topic and when it takes it. In a heap of its own: updates.py and the MQTT inbound
# code are loaded only on kits with a release key, and a 64k heap shared with the slot tests
# (mpy_test_slots.py) ran out by a few hundred bytes, depending on the run's paths.
import os

from mpy_test_support import drop_flash, fresh_flash

OFFER = b'{"v":1,"version":"0.3.0","port":8081,"path":"/fleet/0.3.0/","serial":7}'


class _Host:
    def __init__(self):
        self.trial = True
        self.offered = []

    def update_offered(self, version):
        self.offered.append(version)


class _Clock:
    def now_ms(self):
        return 1000


class _Link:
    def __init__(self):
        self.conf = {"topic_prefix": "lokaalmeten"}
        self.node = "kit-1"
        self.fw = "0.3.0"  # on trial
        self.tb = _Clock()
        self.host = _Host()
        self.last_error = None


class _Client:
    def check_msg(self):
        pass


def test_an_offer_waits_while_the_release_that_runs_is_on_trial():
    from kit.updates import Updates

    flash = fresh_flash()
    try:
        link = _Link()
        updates = Updates(link)
        updates._message("lokaalmeten/kit-2/update", OFFER)  # not its topic
        assert updates.offer is None
        updates._message("lokaalmeten/kit-1/update", OFFER.replace(b"0.3.0", b"0.3.1"))
        updates.poll(_Client(), 5000)
        assert link.host.offered == [] and "offer.json" not in os.listdir()
        link.host.trial = False  # committed
        updates.poll(_Client(), 5000)
        assert link.host.offered == ["0.3.1"] and "offer.json" in os.listdir()
        assert updates.counters() == {"update": "offered", "update_version": "0.3.1"}
    finally:
        drop_flash(flash)
