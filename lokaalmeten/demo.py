"""The one-command demo: broker, gateway, server and simulated kits on this machine.

Everything runs as the real programs in separate processes (as on a gateway Pi), writes under
``var/demo/`` and stops together on Ctrl-C, SIGTERM or SIGHUP, at any moment of its start too,
and when its own parent goes (``make run`` terminated): it watches that it is not orphaned.
Its children get SIGTERM from the kernel if the demo itself is killed (services/processes.py)::

    run_demo(DemoPlan(http_port=8000, kits=3))
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lokaalmeten.services.local_server import ServiceError
from lokaalmeten.services.mosquitto import Mosquitto, find_mosquitto
from lokaalmeten.services.ports import free_port, wait_listening
from lokaalmeten.services.processes import spawn, stop_all
from lokaalmeten.shutdown import STOP_SIGNALS, Shutdown

_STOP_BUDGET_S = 4.0  # for stopping every child, in order, before SIGKILL


class DemoError(RuntimeError):
    """The demo could not start; the message says what to do."""


@dataclass(frozen=True)
class DemoPlan:
    http_port: int = 8000
    kits: int = 3
    interval: float = 5.0
    folder: Path = Path("var/demo")
    embedded_broker: bool = False  # use amqtt even where Mosquitto is installed


def _python(*args: str) -> list[str]:
    return [sys.executable, "-m", "lokaalmeten", *args]


def _start_broker(
    folder: Path, port: int, embedded: bool, say: Any, abort: Any
) -> subprocess.Popen[Any]:
    if not embedded and find_mosquitto() is not None:
        broker = Mosquitto.start(folder / "mosquitto", port=port, abort=abort)
        say(f"broker:  Mosquitto on 127.0.0.1:{port} (log: {broker.log_path})")
        return broker.process
    try:
        import amqtt  # noqa: F401
    except ImportError:
        raise DemoError(
            "no MQTT broker: install Mosquitto (apt-get install mosquitto) or the embedded "
            "broker (pip install 'lokaalmeten[demo]')"
        ) from None
    reason = "as asked" if embedded else "because Mosquitto is not installed"
    say(
        f"broker:  the embedded broker (amqtt) on 127.0.0.1:{port}, {reason}; "
        "a real gateway runs Mosquitto (apt-get install mosquitto)"
    )
    return spawn([sys.executable, "-m", "lokaalmeten.services.embedded_broker", str(port)])


def run_demo(plan: DemoPlan, say: Any = print) -> int:
    """Run until Ctrl-C/SIGTERM/SIGHUP, until the parent goes or a part fails; returns the
    exit code."""
    folder = plan.folder
    folder.mkdir(parents=True, exist_ok=True)
    if not _port_is_free(plan.http_port):
        raise DemoError(
            f"port {plan.http_port} is in use; choose another with LM_SERVER_PORT=8080 make run"
        )
    # The demo's parts work on its own folder: on a machine that is also an installed
    # gateway they must not read its configuration (registry, store, ports).
    os.environ["LM_CONFIG"] = "none"
    broker_port = free_port()
    store = f"sqlite:{folder / 'readings.db'}"
    broker_url = f"mqtt://127.0.0.1:{broker_port}"
    # The handlers only set a flag (an Event.set() in a handler once hung the demo for good:
    # lokaalmeten/shutdown.py); every wait below looks at it, and at the parent, often.
    shutdown = Shutdown()
    parent = os.getppid()

    def stopping() -> bool:
        return shutdown.is_set() or os.getppid() != parent

    processes: list[tuple[str, subprocess.Popen[Any]]] = []

    def starting() -> bool:
        """For the waits of the start: go on while every part runs and no stop came."""
        return not stopping() and all(p.poll() is None for _, p in processes)

    with shutdown.on_signals((*STOP_SIGNALS, signal.SIGHUP)):
        try:
            try:
                broker = _start_broker(
                    folder, broker_port, plan.embedded_broker, say, abort=stopping
                )
            except ServiceError as exc:
                if stopping():
                    return 0
                raise DemoError(str(exc)) from None
            processes.append(("broker", broker))
            if not wait_listening("127.0.0.1", broker_port, 15, alive=starting):
                if stopping():
                    return 0
                raise DemoError("the MQTT broker did not start; see the messages above")
            registry = folder / "registry.db"
            _register_kits(registry, plan.kits)
            _place_kits(registry, plan)
            if stopping():
                return 0
            gateway = _python(
                "gateway",
                "--broker",
                broker_url,
                "--store",
                store,
                "--stats",
                "30",
                "--spool",
                str(folder / "spool.db"),
                "--registry",
                str(registry),
                "--ingest-host",
                "127.0.0.1",
                "--ingest-port",
                str(free_port()),
            )
            processes.append(("gateway", spawn(gateway)))
            server = _python(
                "server",
                "--store",
                store,
                "--registry",
                str(registry),
                "--port",
                str(plan.http_port),
            )
            processes.append(("server", spawn(server)))
            if not wait_listening("127.0.0.1", plan.http_port, 20, alive=starting):
                if stopping():
                    return 0
                raise DemoError("the server did not start; see the messages above")
            simulate = _python(
                "simulate",
                "--kits",
                str(plan.kits),
                "--broker",
                broker_url,
                "--interval",
                str(plan.interval),
                "--quiet",
            )
            processes.append(("kits", spawn(simulate)))
            url = f"http://127.0.0.1:{plan.http_port}"
            say("")
            say(f"lokaalmeten demo is running: {plan.kits} simulated kits -> gateway -> {store}")
            say(f"  map:       {url}/")
            say(f"  API docs:  {url}/docs")
            say(f"  nodes:     {url}/v1/nodes")
            say(f"  readings:  {url}/v1/readings?quantity=pm25")
            say("Press Ctrl-C to stop.")
            while not stopping():
                shutdown.wait(0.25)  # a signal wakes it at once; the parent is seen within
                for name, process in processes:
                    if process.poll() is not None and not stopping():
                        say(
                            f"the {name} stopped (exit code {process.returncode}); "
                            "stopping the demo"
                        )
                        return 1
            with contextlib.suppress(OSError):  # an orphan's terminal may be gone
                say("stopping ...")
            return 0
        finally:
            # Producers first, so that the gateway stores what was already published.
            stop_all((process for _, process in reversed(processes)), _STOP_BUDGET_S)


def _register_kits(registry_path: Path, kits: int) -> None:
    """The gateway accepts registered kits only: register the simulated ones (sim-1 …)."""
    from lokaalmeten.gateway.registry import Registry, RegistryError

    registry = Registry(registry_path)
    for index in range(1, kits + 1):
        with contextlib.suppress(RegistryError):  # registered by an earlier demo run
            registry.add(f"sim-{index}", note="simulated kit of the demo")
    registry.close()


# Around Utrecht's Domtoren, about a kilometre apart: where the demo's kits stand on the map.
_DEMO_CENTRE = (52.0907, 5.1214)


def _place_kits(registry_path: Path, plan: DemoPlan) -> None:
    """Give the simulated kits a (made-up) place and their interval, as an operator would
    with ``lokaalmeten places set``."""
    from lokaalmeten.gateway.directory import Directory, Edit

    directory = Directory(registry_path)
    try:
        for index in range(plan.kits):
            angle = 2 * math.pi * index / plan.kits
            where = (
                _DEMO_CENTRE[0] + 0.009 * math.sin(angle),
                _DEMO_CENTRE[1] + 0.014 * math.cos(angle),
            )
            edit = Edit(
                name=f"Simulated kit {index + 1}",
                description="A kit of the lokaalmeten demo: simulated sensors, made-up place.",
                interval=plan.interval,
                location=where,
            )
            directory.edit(f"sim-{index + 1}", edit)
    finally:
        directory.close()


def _alive(processes: list[tuple[str, subprocess.Popen[Any]]]) -> Any:
    return lambda: all(p.poll() is None for _, p in processes)


def _port_is_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
