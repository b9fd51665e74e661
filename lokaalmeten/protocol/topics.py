"""MQTT topic layout: ``<prefix>/<node>/<kind>``.

The node id as a topic level lets one broker ACL line (``pattern write lokaalmeten/%u/#``)
confine every kit to its own subtree::

    >>> readings_topic("esp32-0a1b2c")
    'lokaalmeten/esp32-0a1b2c/readings'
    >>> node_of("lokaalmeten/esp32-0a1b2c/readings")
    'esp32-0a1b2c'
"""

from __future__ import annotations

DEFAULT_PREFIX = "lokaalmeten"
READINGS = "readings"  # QoS 1, not retained: one record per message
STATUS = "status"  # QoS 1, retained; the Last Will sets it to offline
COMMAND = "command"  # optional, gateway to kit
UPDATE = "update"  # QoS 1, retained, gateway to kit: a firmware release offered (docs/fleet.md)
# QoS 1, a neighbourhood gateway to a city gateway: a batch of its stored readings
# (lokaalmeten/protocol/relay.py); the level before it is the relay's name, not a node.
RELAY = "relay"


def readings_topic(node: str, prefix: str = DEFAULT_PREFIX) -> str:
    return f"{prefix}/{node}/{READINGS}"


def status_topic(node: str, prefix: str = DEFAULT_PREFIX) -> str:
    return f"{prefix}/{node}/{STATUS}"


def command_topic(node: str, prefix: str = DEFAULT_PREFIX) -> str:
    return f"{prefix}/{node}/{COMMAND}"


def update_topic(node: str, prefix: str = DEFAULT_PREFIX) -> str:
    return f"{prefix}/{node}/{UPDATE}"


def relay_topic(relay: str, prefix: str = DEFAULT_PREFIX) -> str:
    return f"{prefix}/{relay}/{RELAY}"


def readings_subscription(prefix: str = DEFAULT_PREFIX) -> str:
    return f"{prefix}/+/{READINGS}"


def status_subscription(prefix: str = DEFAULT_PREFIX) -> str:
    return f"{prefix}/+/{STATUS}"


def relay_subscription(prefix: str = DEFAULT_PREFIX) -> str:
    return f"{prefix}/+/{RELAY}"


def is_relay(topic: str, prefix: str = DEFAULT_PREFIX) -> bool:
    """Is this a relay's topic, ``<prefix>/<relay>/relay``?"""
    return node_of(topic, prefix) is not None and topic.endswith(f"/{RELAY}")


def is_status(topic: str, prefix: str = DEFAULT_PREFIX) -> bool:
    """Is this a kit's status topic, ``<prefix>/<node>/status``?"""
    return node_of(topic, prefix) is not None and topic.endswith(f"/{STATUS}")


def node_of(topic: str, prefix: str = DEFAULT_PREFIX) -> str | None:
    """The node level of a topic under ``prefix``, or None when the topic is not ours."""
    parts = topic.split("/")
    if len(parts) != 3 or parts[0] != prefix or not parts[1]:
        return None
    return parts[1]
