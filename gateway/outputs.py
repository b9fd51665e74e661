"""The gateway's outputs by URL: every store, and write-only outputs such as forwarders.

    outputs = [open_output(url) for url in (settings.store, *settings.extra_stores)]

A URL whose scheme is ``<kind>+<transport>`` (``sensorcommunity+https://…``) names a
write-only output registered in :data:`OUTPUTS`; any other URL is a store
(:func:`lokaalmeten.store.open_store`, which has its own registry by scheme). A new output is
one module with an ``open_output(url)`` function and one line here.
"""

from __future__ import annotations

import importlib
from urllib.parse import urlsplit

from lokaalmeten.gateway.writer import Output
from lokaalmeten.store import open_store

# The part of the scheme before "+" -> the module that opens the output. Imported only when
# a URL names it, so that a gateway without forwarders never loads them.
OUTPUTS: dict[str, str] = {
    "sensorcommunity": "lokaalmeten.gateway.sensor_community",
}


def open_output(url: str) -> Output:
    """The output a URL names; raises :class:`~lokaalmeten.store.StoreError` for a bad URL."""
    kind, plus, _ = urlsplit(url).scheme.partition("+")
    module = OUTPUTS.get(kind) if plus else None
    if module is None:
        return open_store(url)
    opened: Output = importlib.import_module(module).open_output(url)
    return opened
