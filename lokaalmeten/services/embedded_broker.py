"""An MQTT broker inside Python (amqtt), for the demo on a machine without Mosquitto.

Only the zero-install demo uses it; a gateway in service runs Mosquitto. Run it as
``python -m lokaalmeten.services.embedded_broker PORT``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys


async def _serve(port: int) -> None:
    from amqtt.broker import Broker

    config = {
        "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }
    broker = Broker(config)
    await broker.start()
    try:
        await asyncio.Event().wait()
    finally:
        await broker.shutdown()


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    port = int(sys.argv[1])
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(port))


if __name__ == "__main__":
    main()
