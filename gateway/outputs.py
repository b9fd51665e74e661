"""The gateway's outputs by URL: every store, and write-only outputs such as forwarders.

    registry = Path(settings.registry)
    outputs = [open_output(url, registry) for url in (settings.store, *settings.extra_stores)]

A URL whose scheme is ``<kind>+<transport>`` (``sensorcommunity+https://…``) names a
write-only output registered in :data:`OUTPUTS`; any other URL is a store
(:func:`lokaalmeten.store.open_store`, which has its own registry by scheme). A new output is
one module with an ``open_output(url, registry)`` function and one line here; ``registry`` is
the gateway's registry file, whose node directory holds the kit owners' forwarding choices.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from urllib.parse import urlsplit

from lokaalmeten.gateway.writer import Output
from lokaalmeten.store import open_store

# The part of the scheme before "+" -> the module that opens the output. Imported only when
# a URL names it, so that a gateway without forwarders never loads them.
OUTPUTS: dict[str, str] = {
    "homeassistant": "lokaalmeten.gateway.home_assistant",
    "opensensemap": "lokaalmeten.gateway.opensensemap",
    "sensorcommunity": "lokaalmeten.gateway.sensor_community",
    "upstream": "lokaalmeten.gateway.upstream",
}


def open_output(url: str, registry: Path | None = None) -> Output:
    """The output a URL names; raises :class:`~lokaalmeten.store.StoreError` for a bad URL."""
    kind, plus, _ = urlsplit(url).scheme.partition("+")
    module = OUTPUTS.get(kind) if plus else None
    if module is None:
        return open_store(url)
    opened: Output = importlib.import_module(module).open_output(url, registry)
    return opened
