"""Firmware offers on the running kit: the subscription, the offer to take, the trial.

Loaded by ``kit.link`` only when the settings hold a release key (``release_key``,
docs/fleet.md), so that a kit which takes no updates carries none of this in its heap::

    updates = Updates(link)           # link.updates
    MQTTClient = updates.client       # the client class that can subscribe
    updates.connected(client)         # subscribe to <prefix>/<node>/update (QoS 1)
    updates.poll(client, now)         # a waiting message; the offer once it is due
    updates.counters()                # {"update": "trial", "update_version": "0.3.0", ...}
    updates.judge_trial(kit)          # after each record of a release on trial

Whether an offer is taken is decided by ``kit.offer`` (loaded for the moment it takes);
taking it asks the host for the restart into update mode (main.py, kit/update.py).
"""

import sys

from micropython import const

from kit.mqtt_inbound import InboundClient

# A release on trial (slots.py) is healthy after this many records and a publish; one that
# published nothing in _TRIAL_RECORDS goes back to the release before it.
_HEALTHY_RECORDS = const(3)
_TRIAL_RECORDS = const(10)


def _unload(name):
    """Give an occasional module's bytecode back, as kit.runtime.forget does: the link's side
    of the kit does not import the runtime (kit/link.py)."""
    module = sys.modules.pop(name, None)
    package, _, short = name.rpartition(".")
    if module is not None and hasattr(sys.modules.get(package), short):
        delattr(sys.modules[package], short)


class Updates:
    client = InboundClient

    def __init__(self, link):
        self.link = link
        self.topic = "%s/%s/update" % (link.conf["topic_prefix"], link.node)
        self.offer = None  # an offer to take at ``offer_at``
        self.offer_at = 0

    def connected(self, client):
        client.on_message = self._message
        client.subscribe(self.topic, 1)  # the broker sends the retained offer, if any

    def poll(self, client, now):
        client.check_msg()
        # A release on trial is judged first: the way back must be a release that was healthy.
        if self.offer is not None and now >= self.offer_at and not self.link.host.trial:
            self._take()

    def _message(self, topic, payload):
        if topic != self.topic:
            return
        from kit import offer

        taken = offer.judge(payload, self.link.fw)
        self.offer, wait = (None, 0) if taken is None else taken
        self.offer_at = self.link.tb.now_ms() + wait
        _unload("kit.offer")

    def _take(self):
        from kit import offer

        taken = self.offer
        self.offer = None
        if taken is None:
            return
        try:
            offer.take(taken)
        except OSError as exc:
            self.link.last_error = "update: %s" % exc
            return
        finally:
            _unload("kit.offer")
        self.link.host.update_offered(taken["version"])

    def counters(self):
        """How the latest firmware update went, for the rollout's health gate."""
        import slots  # the deployed firmware's own: loaded for the moment it is needed

        last = slots.noted()
        _unload("slots")
        if last is None:
            return {}
        found = {"update": last[0], "update_version": last[1]}
        if last[4]:
            found["update_reason"] = last[4]
        return found

    def judge_trial(self, kit):
        """Commit the release on trial once it measures and publishes; roll it back (and
        restart) when it does not publish."""
        import slots

        if kit.records >= _HEALTHY_RECORDS and self.link.published and not kit.safe_mode:
            slots.commit()
            kit.trial = False
            kit.event("update_healthy", {"version": kit.fw})
            self.link.next_status = 0  # tell the gateway now
        elif kit.records >= _TRIAL_RECORDS:
            why = "safe mode" if kit.safe_mode else "no publish in %d cycles" % _TRIAL_RECORDS
            slots.rollback(why)
            kit.trial = False
            kit.event("update_rolled_back", {"version": kit.fw, "reason": why})
            kit.restart = True
        _unload("slots")
