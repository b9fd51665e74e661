"""MQTT topics of a kit: ``<prefix>/<node>/readings|status|command`` (docs/protocol.md)."""

PREFIX = "lokaalmeten"


def readings(node, prefix=PREFIX):
    return prefix + "/" + node + "/readings"


def status(node, prefix=PREFIX):
    return prefix + "/" + node + "/status"


def command(node, prefix=PREFIX):
    return prefix + "/" + node + "/command"
