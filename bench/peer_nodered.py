"""Peer: Node-RED as an MQTT -> InfluxDB gateway, beside the lokaalmeten gateway.

Contestants, all fed the same messages (4 readings each, bench/gateway_ingest.py's payload())
by the same paho QoS 1 publisher, each in its own cell: a fresh Mosquitto (persistence on,
loopback, a free port) and a fresh InfluxDB or SQLite database per contestant and scenario.

1. Node-RED 4.1.15, direct flow: mqtt in (QoS 1, clean session off, fixed client id) -> json
   -> function (record to points) -> influxdb batch (node-red-contrib-influxdb 0.7.0).
2. Node-RED, tuned flow: the same with a join node (500 messages or 1 s) before the function.
3. A bare paho QoS 1 subscriber that acknowledges each message on arrival and does nothing
   else: the upper bound.
4. ``python -m lokaalmeten gateway`` into InfluxDB 1.6.7, and 5. into SQLite.

npm installs Node-RED and the InfluxDB nodes into build/node-red (once; skipped when the
pinned versions are there). The publisher and the bare subscriber are separate processes
(``python -m bench.peer_nodered publish|bare ...``), so that neither shares this process's
interpreter lock with the polling. Readings stored are counted in the store: each reading's
identity is (quantity, node, time), and both stores keep one row per identity, so a
redelivered reading overwrites itself (InfluxDB) or is ignored (SQLite): duplicates are
invisible in the stores. The gateway counts such repeats itself (``readings_repeated`` on
/metrics), which the tables give as "repeats absorbed".

Knobs for short runs (defaults in brackets):

- LM_PEER_MESSAGES: messages of the flood and of each backlog [50000]
- LM_PEER_LADDER: steady rates of the ladder, msg/s [1000,2000,4000,8000]
- LM_PEER_STEP_S: seconds per ladder step [20]
- LM_PEER_RATE: rate of the outage and kill runs, msg/s [500]
- LM_PEER_OUTAGE_S: length of the outage run; InfluxDB is down from 25 % to 75 % of it [120]
- LM_PEER_KILL_S: length of the kill -9 run, the kill at a third of it [30]
- LM_PEER_CPU_RATE, LM_PEER_CPU_S: rate and length of the CPU measurement [100, 60]
- LM_PEER_SETTLE_S: no new readings for this long = settled [10]
- LM_PEER_CONTESTANTS, LM_PEER_SCENARIOS: comma lists to run only some (keys below)
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.gateway_ingest import NODES, create_session, payload
from lokaalmeten.services.influxdb import InfluxDB
from lokaalmeten.services.mosquitto import Mosquitto
from lokaalmeten.services.ports import free_port
from lokaalmeten.services.processes import spawn, stop_all

NAME = "peer_nodered"
TITLE = "Peer: Node-RED MQTT -> InfluxDB flows beside the lokaalmeten gateway"

ROOT = Path(__file__).resolve().parent.parent
NODE_RED = ROOT / "build" / "node-red"
NPM_PACKAGES = {"node-red": "4.1.15", "node-red-contrib-influxdb": "0.7.0"}


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, str(default)))


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, str(default)))


MESSAGES = _env_int("LM_PEER_MESSAGES", 50_000)
LADDER = [int(r) for r in os.environ.get("LM_PEER_LADDER", "1000,2000,4000,8000").split(",")]
STEP_S = _env_float("LM_PEER_STEP_S", 20)
RATE = _env_int("LM_PEER_RATE", 500)
OUTAGE_S = _env_float("LM_PEER_OUTAGE_S", 120)
KILL_S = _env_float("LM_PEER_KILL_S", 30)
CPU_RATE = _env_int("LM_PEER_CPU_RATE", 100)
CPU_S = _env_float("LM_PEER_CPU_S", 60)
SETTLE_S = _env_float("LM_PEER_SETTLE_S", 10)
POLL_S = 0.1  # how often the store is counted
PUBLISH_WINDOW = 20_000  # messages the publisher has out without an acknowledgement
TOPIC = "lokaalmeten/+/readings"
DATABASE = "peer"
QUANTITIES = ("pm25", "pm10", "temperature", "humidity")

CONTESTANTS = {
    "nr-direct": "Node-RED, direct flow -> InfluxDB",
    "nr-tuned": "Node-RED, tuned flow (join 500 / 1 s) -> InfluxDB",
    "bare": "bare paho QoS 1 subscriber (receives only)",
    "gw-influx": "lokaalmeten gateway -> spool -> InfluxDB",
    "gw-sqlite": "lokaalmeten gateway -> spool -> SQLite",
}
SCENARIOS = ["flood", "drain", "ladder", "outage", "kill", "kill-drain", "cpu"]


def _chosen(variable: str, every: list[str]) -> list[str]:
    wanted = os.environ.get(variable)
    if not wanted:
        return every
    names = [n.strip() for n in wanted.split(",") if n.strip()]
    unknown = sorted(set(names) - set(every))
    if unknown:
        raise SystemExit(
            f"{variable}: unknown {', '.join(unknown)}; choose from {', '.join(every)}"
        )
    return [n for n in every if n in names]


# -- helper processes: the publisher and the bare subscriber -----------------------------


def _helper(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    """``python -m bench.peer_nodered ARGS`` with this repository's bench package."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    with log.open("ab") as out:
        return spawn(
            [sys.executable, "-m", "bench.peer_nodered", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )


def publisher_main(port: int, count: int, rate: float, offset: int, result: Path) -> None:
    """Publish ``count`` messages at ``rate`` msg/s (0: as fast as paho goes), wait for every
    PUBACK, then write what happened to ``result`` as JSON."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    acked = 0

    def on_publish(*_: object) -> None:
        nonlocal acked
        acked += 1

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"peer-publisher-{offset}")
    client.max_inflight_messages_set(1000)
    client.on_publish = on_publish
    connected = threading.Event()
    client.on_connect = lambda *_: connected.set()
    client.connect("127.0.0.1", port, keepalive=60)
    client.loop_start()
    if not connected.wait(30):
        raise SystemExit("the publisher could not connect")
    refused = 0
    started = time.time()
    for i in range(count):
        # At most PUBLISH_WINDOW messages not yet acknowledged: message ids are 16 bits, and
        # paho refuses a publish whose id is still waiting (MQTT_ERR_QUEUE_SIZE), so a
        # publisher far ahead of the broker would drop messages. The rate reached is then
        # the one the broker accepts.
        while i - acked >= PUBLISH_WINDOW:
            time.sleep(0.0005)
        n = offset + i
        topic = f"lokaalmeten/kit-{n % NODES}/readings"
        while client.publish(topic, payload(n), qos=1).rc == mqtt.MQTT_ERR_QUEUE_SIZE:
            refused += 1
            time.sleep(0.01)
        if rate:
            pause = started + (i + 1) / rate - time.time()
            if pause > 0:
                time.sleep(pause)
    handed = time.time()
    deadline = handed + 600
    while acked < count and time.time() < deadline:
        time.sleep(0.01)
    finished = time.time()
    client.disconnect()
    client.loop_stop()
    facts = {
        "sent": count,
        "acked": acked,
        "refused": refused,
        "started": started,
        "handed": handed,
    }
    result.write_text(json.dumps({**facts, "finished": finished}))


def bare_main(port: int, client_id: str, status: Path) -> None:
    """Subscribe (clean session off), acknowledge each message on arrival; keep ``status``
    current with "received last-arrival-epoch" until killed."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    received, last = 0, 0.0

    def on_connect(client: mqtt.Client, *_: object) -> None:
        client.subscribe(TOPIC, qos=1)
        print("bare: connected", flush=True)

    def on_message(client: mqtt.Client, _: object, message: mqtt.MQTTMessage) -> None:
        nonlocal received, last
        client.ack(message.mid, message.qos)
        received += 1
        last = time.time()

    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False, manual_ack=True
    )
    client.on_connect = on_connect
    client.on_message = on_message
    client.connect("127.0.0.1", port, keepalive=60)
    client.loop_start()
    scratch = status.with_suffix(".tmp")
    while True:
        scratch.write_text(f"{received} {last}")
        scratch.replace(status)
        time.sleep(0.05)


# -- the stores ---------------------------------------------------------------------------


def influx_counts(url: str, measurements: tuple[str, ...] = QUANTITIES) -> int | None:
    """Points in the measurements (each point one distinct identity); None if unreachable."""
    names = ",".join(f'"{m}"' for m in measurements)
    try:
        answer = httpx.get(
            f"{url}/query",
            params={"db": DATABASE, "q": f'SELECT count("value") FROM {names}'},
            timeout=30,
        )
        results = answer.json()["results"][0]
    except (httpx.HTTPError, ValueError, KeyError, IndexError):
        return None
    if "error" in results:
        return None
    return sum(int(s["values"][0][1]) for s in results.get("series", []))


def sqlite_counts(path: Path, quick: bool) -> int | None:
    """Readings in the SQLite store; ``quick``: rows inserted so far, from the change log."""
    if not path.exists():
        return 0
    query = (
        "SELECT coalesce(max(seq), 0) FROM reading_change"
        if quick
        else "SELECT count(*) FROM reading"
    )
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute(query).fetchone()[0])
    except sqlite3.Error:
        return None


# -- contestants --------------------------------------------------------------------------


def npm_install() -> Path:
    """Node-RED and the InfluxDB nodes at the pinned versions in build/node-red."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise RuntimeError("node and npm are needed for the Node-RED contestants")

    def installed(name: str) -> str | None:
        manifest = NODE_RED / "node_modules" / name / "package.json"
        if not manifest.exists():
            return None
        return str(json.loads(manifest.read_text()).get("version"))

    if any(installed(name) != version for name, version in NPM_PACKAGES.items()):
        NODE_RED.mkdir(parents=True, exist_ok=True)
        (NODE_RED / "package.json").write_text(
            json.dumps(
                {
                    "name": "lokaalmeten-bench-node-red",
                    "private": True,
                    "dependencies": NPM_PACKAGES,
                },
                indent=2,
            )
        )
        with (NODE_RED / "npm-install.log").open("ab") as log:
            process = spawn(
                [npm, "install", "--no-audit", "--no-fund", "--prefix", str(NODE_RED)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        if process.wait(600) != 0:
            raise RuntimeError(f"npm install failed; see {NODE_RED / 'npm-install.log'}")
    return NODE_RED / "node_modules" / "node-red" / "red.js"


def _log_has(log: Path, marker: str, offset: int) -> bool:
    try:
        with log.open("rb") as f:
            f.seek(offset)
            return marker.encode() in f.read()
    except OSError:
        return False


def counted_in_influx(cell: Any, quick: bool) -> int | None:
    """Readings in a cell's InfluxDB: quick, one quantity's points × 4 (each message carries
    the four); else every quantity's."""
    assert cell.influx is not None
    if quick:
        n = influx_counts(cell.influx.url, ("pm25",))
        return None if n is None else n * 4
    return influx_counts(cell.influx.url)


class Consumer:
    """A contestant in one cell: started, killed, restarted, counted."""

    key = ""
    marker = ""  # what its log says once it is connected to the broker
    uses_influx = False

    def __init__(self, cell: Cell) -> None:
        self.cell = cell
        self.folder = cell.folder / self.key
        self.folder.mkdir(parents=True, exist_ok=True)
        self.log = self.folder / "consumer.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.client_id = f"peer-{self.key}"

    def command_start(self) -> subprocess.Popen[bytes]:
        raise NotImplementedError

    def start(self, timeout: float = 60) -> float:
        """Start; return the time (epoch) its log first said it is connected."""
        offset = self.log.stat().st_size if self.log.exists() else 0
        self.process = self.command_start()
        deadline = time.monotonic() + timeout
        while not _log_has(self.log, self.marker, offset):
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.key} exited: {self.tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.key} did not connect: {self.tail()}")
            time.sleep(0.01)
        return time.time()

    def tail(self) -> str:
        """The last line of its log (a traceback's last line says what happened)."""
        lines = (
            self.log.read_text(errors="replace").strip().splitlines() if self.log.exists() else []
        )
        return lines[-1][-300:] if lines else "no output"

    def kill(self) -> None:
        """SIGKILL to all its processes at once (spawn() made it a process group's leader):
        the gateway's writer processes die with it, as in a power cut."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None:
            self.final_state()
            stop_all([self.process], timeout=15)

    def final_state(self) -> None:
        """Read what only a running consumer can tell (before a graceful stop)."""

    def count(self, quick: bool = True) -> int | None:
        """Readings stored (the bare subscriber: messages received × 4)."""
        raise NotImplementedError

    def last_arrival(self) -> float | None:
        """Epoch of the last reading stored, when the consumer knows it more precisely than
        the polling does."""
        return None

    def settled(self) -> bool:
        """Nothing kept that will still reach the store."""
        return True

    def backlog(self) -> int | None:
        """Readings it holds durably that are not stored yet; None: it keeps none."""
        return None

    def repeats(self) -> int | None:
        """Redelivered readings the store absorbed; None: not observable."""
        return None


class NodeRed(Consumer):
    marker = "Connected to broker"
    uses_influx = True
    tuned = False

    def __init__(self, cell: Cell) -> None:
        super().__init__(cell)
        self.red = npm_install()
        self.port = free_port()
        self.write_config()

    def write_config(self) -> None:
        user_dir = self.folder / "user"
        user_dir.mkdir(exist_ok=True)
        settings = f"""// Written by bench/peer_nodered.py: no editor, no admin API, log to stdout.
module.exports = {{
    uiHost: "127.0.0.1",
    uiPort: {self.port},
    userDir: {json.dumps(str(user_dir))},
    flowFile: "flows.json",
    credentialSecret: false,
    httpAdminRoot: false,
    httpNodeRoot: false,
    disableEditor: true,
    externalModules: {{ autoInstall: false, palette: {{ allowInstall: false }} }},
    logging: {{ console: {{ level: "info", metrics: false, audit: false }} }},
}};
"""
        (user_dir / "settings.js").write_text(settings)
        (user_dir / "flows.json").write_text(json.dumps(self.flows(), indent=2))

    def flows(self) -> list[dict[str, Any]]:
        assert self.cell.influx is not None
        to_points = (
            "// One record, or a joined array of them, to InfluxDB points (precision s).\n"
            "const records = Array.isArray(msg.payload) ? msg.payload : [msg.payload];\n"
            "const points = [];\n"
            "for (const record of records) {\n"
            "    const seconds = Math.floor(Date.parse(record.time) / 1000);\n"
            "    for (const [quantity, value] of Object.entries(record.values)) {\n"
            "        points.push({ measurement: quantity, tags: { node: record.node },\n"
            "                      fields: { value: value }, timestamp: seconds });\n"
            "    }\n"
            "}\n"
            "msg.payload = points;\n"
            "return msg;\n"
        )
        after_json = "n-join" if self.tuned else "n-points"
        nodes: list[dict[str, Any]] = [
            {"id": "n-tab", "type": "tab", "label": "peer", "disabled": False, "info": ""},
            {
                "id": "n-broker",
                "type": "mqtt-broker",
                "name": "mosquitto",
                "broker": "127.0.0.1",
                "port": str(self.cell.broker.port),
                "clientid": self.client_id,
                "autoConnect": True,
                "usetls": False,
                "protocolVersion": "4",
                "keepalive": "60",
                "cleansession": False,
                # Off, or a stop would unsubscribe and the broker stop queueing for us.
                "autoUnsubscribe": False,
                "birthTopic": "",
                "closeTopic": "",
                "willTopic": "",
            },
            {
                "id": "n-influx",
                "type": "influxdb",
                "hostname": "127.0.0.1",
                "port": str(self.cell.influx.port),
                "protocol": "http",
                "database": DATABASE,
                "name": "influxdb",
                "usetls": False,
                "tls": "",
                "influxdbVersion": "1.x",
            },
            {
                "id": "n-in",
                "type": "mqtt in",
                "z": "n-tab",
                "name": "readings",
                "topic": TOPIC,
                "qos": "1",
                "datatype": "utf8",
                "broker": "n-broker",
                "nl": False,
                "rap": True,
                "rh": 0,
                "inputs": 0,
                "wires": [["n-json"]],
            },
            {
                "id": "n-json",
                "type": "json",
                "z": "n-tab",
                "name": "",
                "property": "payload",
                "action": "obj",
                "pretty": False,
                "wires": [[after_json]],
            },
            {
                "id": "n-points",
                "type": "function",
                "z": "n-tab",
                "name": "to points",
                "func": to_points,
                "outputs": 1,
                "timeout": 0,
                "noerr": 0,
                "initialize": "",
                "finalize": "",
                "libs": [],
                "wires": [["n-write"]],
            },
            {
                "id": "n-write",
                "type": "influxdb batch",
                "z": "n-tab",
                "name": "",
                "influxdb": "n-influx",
                "precision": "s",
                "retentionPolicy": "",
                "database": "",
                "precisionV18FluxV20": "s",
                "retentionPolicyV18Flux": "",
                "org": "",
                "bucket": "",
                "wires": [],
            },
        ]
        if self.tuned:
            nodes.append(
                {
                    "id": "n-join",
                    "type": "join",
                    "z": "n-tab",
                    "name": "500 or 1 s",
                    "mode": "custom",
                    "build": "array",
                    "property": "payload",
                    "propertyType": "msg",
                    "key": "topic",
                    "joiner": "\\n",
                    "joinerType": "str",
                    "useparts": False,
                    "accumulate": False,
                    "timeout": "1",
                    "count": "500",
                    "reduceRight": False,
                    "wires": [["n-points"]],
                }
            )
        return nodes

    def command_start(self) -> subprocess.Popen[bytes]:
        user_dir = self.folder / "user"
        with self.log.open("ab") as out:
            return spawn(
                [shutil.which("node") or "node", str(self.red), "-u", str(user_dir),
                 "-p", str(self.port), "flows.json"],
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def count(self, quick: bool = True) -> int | None:
        return counted_in_influx(self.cell, quick)


class NodeRedDirect(NodeRed):
    key = "nr-direct"


class NodeRedTuned(NodeRed):
    key = "nr-tuned"
    tuned = True


class Bare(Consumer):
    key = "bare"
    marker = "bare: connected"

    def __init__(self, cell: Cell) -> None:
        super().__init__(cell)
        self.status = self.folder / "status"
        self.earlier = 0  # readings received by processes before a restart

    def command_start(self) -> subprocess.Popen[bytes]:
        args = ["bare", str(self.cell.broker.port), self.client_id, str(self.status)]
        return _helper(args, self.log)

    def _status(self) -> tuple[int, float]:
        try:
            received, last = self.status.read_text().split()
        except (OSError, ValueError):
            return 0, 0.0
        return int(received), float(last)

    def count(self, quick: bool = True) -> int | None:
        return self._status()[0] * 4 + self.earlier

    def start(self, timeout: float = 60) -> float:
        self.earlier += self._status()[0] * 4
        self.status.unlink(missing_ok=True)
        return super().start(timeout)

    def last_arrival(self) -> float | None:
        return self._status()[1] or None


class Gateway(Consumer):
    marker = "connected to"
    store = ""

    def __init__(self, cell: Cell) -> None:
        super().__init__(cell)
        self.log = self.folder / "gateway.log"
        self.http_port = 0
        self.last_repeats: int | None = None

    def store_url(self) -> str:
        raise NotImplementedError

    def command_start(self) -> subprocess.Popen[bytes]:
        """As bench/gateway_ingest.py starts it, but with PYTHONSAFEPATH: the current folder
        (a worktree's lokaalmeten/) must not shadow the installed package, or its modules
        and the installed gateway's would come from two different trees."""
        self.http_port = free_port()
        with self.log.open("ab") as out:
            return spawn(
                [sys.executable, "-m", "lokaalmeten", "gateway",
                 "--broker", self.cell.broker.url, "--store", self.store_url(),
                 "--spool", str(self.folder / "spool.db"),
                 "--registry", str(self.folder / "registry.db"), "--open",
                 "--ingest-host", "127.0.0.1", "--ingest-port", str(self.http_port),
                 "--client-id", self.client_id, "--stats", "3600", "--log-format", "json"],
                stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONSAFEPATH": "1"},
            )  # fmt: skip

    def metrics(self) -> dict[str, float]:
        try:
            text = httpx.get(f"http://127.0.0.1:{self.http_port}/metrics", timeout=5).text
        except httpx.HTTPError:
            return {}
        found = {}
        for match in re.finditer(r"^lokaalmeten_gateway_(\w+) ([0-9.e+-]+)$", text, re.M):
            found[match.group(1)] = float(match.group(2))
        return found

    def settled(self) -> bool:
        return self.metrics().get("spool_depth", 1) == 0

    def backlog(self) -> int | None:
        depth = self.metrics().get("spool_depth")
        return None if depth is None else int(depth)

    def final_state(self) -> None:
        repeated = self.metrics().get("readings_repeated_total")
        if repeated is not None:
            self.last_repeats = int(repeated)

    def repeats(self) -> int | None:
        return self.last_repeats

    def roles(self) -> dict[str, set[int] | list[int]]:
        """The gateway's processes by role, as its log names them (this start's)."""
        assert self.process is not None
        text = self.log.read_text(errors="replace")
        found: dict[str, set[int] | list[int]] = {"gateway main": [self.process.pid]}
        mqtt = re.findall(r"MQTT process started \(pid (\d+)\)", text)
        writers = re.findall(r"writer process of \S+ started \(pid (\d+)\)", text)
        if mqtt:
            found["gateway MQTT"] = [int(mqtt[-1])]
        if writers:
            found["gateway writer"] = [int(writers[-1])]
        return found


class GatewayInflux(Gateway):
    key = "gw-influx"
    uses_influx = True

    def repeats(self) -> int | None:
        return None  # InfluxDB does not say which points were new: the counter stays 0

    def store_url(self) -> str:
        assert self.cell.influx is not None
        return f"influxdb://127.0.0.1:{self.cell.influx.port}/{DATABASE}"

    def count(self, quick: bool = True) -> int | None:
        return counted_in_influx(self.cell, quick)


class GatewaySqlite(Gateway):
    key = "gw-sqlite"

    def store_url(self) -> str:
        return f"sqlite:///{self.folder / 'lm.db'}"

    def count(self, quick: bool = True) -> int | None:
        return sqlite_counts(self.folder / "lm.db", quick)


KINDS: dict[str, type[Consumer]] = {
    "nr-direct": NodeRedDirect,
    "nr-tuned": NodeRedTuned,
    "bare": Bare,
    "gw-influx": GatewayInflux,
    "gw-sqlite": GatewaySqlite,
}


# -- cells --------------------------------------------------------------------------------


LOADS: list[float] = []  # the 1-minute load average as each cell began


class Cell:
    """A fresh broker (and InfluxDB) for one contestant in one scenario."""

    def __init__(self, work: Path, key: str, scenario: str) -> None:
        LOADS.append(os.getloadavg()[0])
        self.folder = work / f"{scenario}-{key}"
        suffix = 1
        while self.folder.exists():
            suffix += 1
            self.folder = work / f"{scenario}-{key}-{suffix}"
        self.folder.mkdir(parents=True)
        self.broker = Mosquitto.start(self.folder / "mqtt")
        self.influx: InfluxDB | None = None
        kind = KINDS[key]
        if kind.uses_influx:
            self.influx = InfluxDB.start(self.folder / "influx")
            httpx.post(
                f"{self.influx.url}/query", params={"q": f"CREATE DATABASE {DATABASE}"}, timeout=30
            ).raise_for_status()
        self.consumer = kind(self)
        # The session exists before anything is published, as it would after a first start.
        create_session(self.broker, self.consumer.client_id)
        self.offset = 0

    def publish(self, count: int, rate: float) -> Publisher:
        publisher = Publisher(self, count, rate, self.offset)
        self.offset += count
        return publisher

    def close(self) -> None:
        try:
            self.consumer.stop()
        finally:
            if self.influx is not None:
                self.influx.stop()
            self.broker.stop()


class Publisher:
    """The publisher process (spawned from the main thread) and its result."""

    def __init__(self, cell: Cell, count: int, rate: float, offset: int) -> None:
        self.result_path = cell.folder / f"publisher-{offset}.json"
        self.count = count
        args = ["publish", str(cell.broker.port), str(count), str(rate), str(offset)]
        self.process = _helper([*args, str(self.result_path)], cell.folder / "publisher.log")
        self.spawned = time.time()

    def running(self) -> bool:
        return self.process.poll() is None

    def wait(self, timeout: float = 900) -> dict[str, float]:
        self.process.wait(timeout)
        if not self.result_path.exists():
            raise RuntimeError(f"the publisher failed (exit {self.process.returncode})")
        result: dict[str, float] = json.loads(self.result_path.read_text())
        return result


@dataclass
class Watched:
    stored: int  # readings
    last: float  # epoch of the last new reading seen
    timed_out: bool = False


def watch(
    consumer: Consumer,
    target: int,
    *,
    busy: Callable[[], bool] = lambda: False,
    settle: float = SETTLE_S,
    timeout: float = 900,
    each: Callable[[int], None] | None = None,
) -> Watched:
    """Count the store every POLL_S until it holds ``target`` readings, or until nothing new
    came for ``settle`` seconds while ``busy()`` is false and the consumer keeps nothing back.
    ``each(count)`` is called after every poll."""
    started = time.time()
    best = consumer.count() or 0
    last = quiet_since = time.time()
    while True:
        time.sleep(POLL_S)
        now = time.time()
        n = consumer.count()
        if n is not None and n > best:
            best, last, quiet_since = n, now, now
        if each is not None:
            each(best)
        if busy():
            quiet_since = now
            continue
        if best >= target:
            break
        if now - quiet_since >= settle and consumer.settled():
            break
        if now - started > timeout:
            return Watched(best, last, timed_out=True)
    precise = consumer.last_arrival()
    return Watched(best, precise if precise is not None else last)


# -- scenarios ----------------------------------------------------------------------------


@dataclass
class Outcome:
    """One cell's figures; ``rate`` in messages/s."""

    published: int = 0  # messages acknowledged by the broker
    stored: int = 0  # distinct readings in the store (bare: received × 4)
    rate: float | None = None
    repeats: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def lost(self) -> int:
        return self.published * 4 - self.stored

    def lost_text(self) -> str:
        if self.error:
            return f"failed: {self.error}"
        if self.published == 0:
            return "—"
        share = 100 * self.lost / (self.published * 4)
        return f"{self.lost:,} ({share:.1f} %)"


def final_count(consumer: Consumer, fallback: int) -> int:
    """Readings in the store, counted exactly; taken once the consumer is stopped, so that
    whatever it still wrote after it seemed settled counts too."""
    n = consumer.count(quick=False)
    return fallback if n is None else n


def flood(work: Path, key: str) -> Outcome:
    cell = Cell(work, key, "flood")
    try:
        cell.consumer.start()
        publisher = cell.publish(MESSAGES, 0)
        seen = watch(cell.consumer, MESSAGES * 4, busy=publisher.running)
        sent = publisher.wait()
        cell.consumer.stop()
        stored = final_count(cell.consumer, seen.stored)
        return Outcome(
            published=int(sent["acked"]),
            stored=stored,
            rate=stored / 4 / (seen.last - sent["started"]),
            repeats=cell.consumer.repeats(),
            extra={"publish_rate": sent["acked"] / (sent["finished"] - sent["started"])},
        )
    finally:
        cell.close()


# -- CPU time of the processes in a cell ----------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # fields from 3 (state) on


def family(root: int) -> set[int]:
    """``root`` and every live descendant."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None:
                parents[int(entry.name)] = int(fields[1])
    members, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in members:
                members.add(pid)
                frontier.append(pid)
    return members


def _ticks(pids: set[int] | list[int], waited_for: int | None = None) -> int:
    """utime + stime of these processes (those still alive), plus what the waited-for
    children of ``waited_for`` used (cutime + cstime)."""
    total = 0
    for pid in pids:
        fields = _stat(pid)
        if fields is None:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
        if pid == waited_for:
            total += int(fields[13]) + int(fields[14])  # cutime, cstime
    return total


def tree_ticks(root: int) -> int:
    """utime + stime of ``root`` and of every live descendant, plus what its waited-for
    children used (cutime + cstime)."""
    return _ticks(family(root), waited_for=root)


def cpu_seconds(pids: set[int] | list[int]) -> float:
    """utime + stime of these processes (those still alive), in seconds."""
    return _ticks(pids) / CLOCK_TICKS


class CpuWatch:
    """CPU seconds each process of a cell spends between :meth:`start` and :meth:`stop`, by
    role: the broker, the store's server (InfluxDB), the consumer, and for the gateway its
    main process, MQTT process and writer processes apart (their pids from its log)."""

    def __init__(self, cell: Cell) -> None:
        self.cell = cell
        self.roles: dict[str, set[int] | list[int]] = {}
        self.before: dict[str, float] = {}

    def start(self) -> None:
        consumer = self.cell.consumer
        assert consumer.process is not None
        self.roles = {"broker": [self.cell.broker.process.pid]}
        if self.cell.influx is not None:
            self.roles["influxdb"] = [self.cell.influx.process.pid]
        self.roles["consumer"] = family(consumer.process.pid)
        if isinstance(consumer, Gateway):
            self.roles.update(consumer.roles())
        self.before = {role: cpu_seconds(pids) for role, pids in self.roles.items()}

    def stop(self) -> dict[str, float]:
        return {role: cpu_seconds(pids) - self.before[role] for role, pids in self.roles.items()}


def drain(work: Path, key: str, rounds: int = 2) -> list[Outcome]:
    cell = Cell(work, key, "drain")
    outcomes = []
    try:
        for _ in range(rounds):
            sent = cell.publish(MESSAGES, 0).wait()
            # Counted now, with the last round's consumer stopped: what it wrote late
            # belongs to that round, not to this one.
            before = final_count(cell.consumer, 0)
            connected = cell.consumer.start()
            cpu = CpuWatch(cell)
            cpu.start()
            seen = watch(cell.consumer, before + MESSAGES * 4)
            spent = cpu.stop()
            cell.consumer.stop()
            stored = final_count(cell.consumer, seen.stored) - before
            outcomes.append(
                Outcome(
                    published=int(sent["acked"]),
                    stored=stored,
                    rate=stored / 4 / (seen.last - connected),
                    repeats=cell.consumer.repeats(),
                    extra={"cpu": spent, "seconds": seen.last - connected},
                )
            )
        return outcomes
    finally:
        cell.close()


def steady(work: Path, key: str, rate: int) -> Outcome:
    cell = Cell(work, key, "ladder")
    try:
        cell.consumer.start()
        publisher = cell.publish(int(rate * STEP_S), rate)
        seen = watch(cell.consumer, int(rate * STEP_S) * 4, busy=publisher.running)
        sent = publisher.wait()
        cell.consumer.stop()
        stored = final_count(cell.consumer, seen.stored)
        return Outcome(
            published=int(sent["acked"]),
            stored=stored,
            repeats=cell.consumer.repeats(),
            extra={
                "achieved": sent["acked"] / (sent["handed"] - sent["started"]),
                "lag": max(0.0, seen.last - sent["finished"]),
            },
        )
    finally:
        cell.close()


def ladder(work: Path, key: str) -> dict[int, Outcome]:
    """Steps upwards until the first with a loss (higher steps are not run)."""
    steps: dict[int, Outcome] = {}
    for rate in LADDER:
        steps[rate] = attempt(lambda r=rate: steady(work, key, r))  # type: ignore[misc]
        if steps[rate].error or steps[rate].lost > 0:
            break
    return steps


def outage(work: Path, key: str) -> Outcome:
    cell = Cell(work, key, "outage")
    assert cell.influx is not None
    try:
        cell.consumer.start()
        count = int(RATE * OUTAGE_S)
        publisher = cell.publish(count, RATE)
        began = time.monotonic()
        # InfluxDB down from 25 % to 75 % of the run; this thread spawns it again.
        while time.monotonic() - began < OUTAGE_S * 0.25:
            time.sleep(0.05)
        cell.influx.stop()
        peak = None
        while time.monotonic() - began < OUTAGE_S * 0.75:
            depth = cell.consumer.backlog()
            if depth is not None:
                peak = max(peak or 0, depth)
            time.sleep(0.5)
        cell.influx.restart()
        back = time.time()
        # The backlog is worked off once the spool holds less than a second's readings.
        drained: dict[str, float] = {}

        def note_drained(_: int) -> None:
            if "at" not in drained:
                depth = cell.consumer.backlog()
                if depth is not None and depth <= RATE * 4:
                    drained["at"] = time.time() - back

        seen = watch(
            cell.consumer, count * 4, busy=publisher.running, timeout=1800, each=note_drained
        )
        sent = publisher.wait()
        cell.consumer.stop()
        stored = final_count(cell.consumer, seen.stored)
        return Outcome(
            published=int(sent["acked"]),
            stored=stored,
            repeats=cell.consumer.repeats(),
            extra={"peak": peak, "drained": drained.get("at"), "timed_out": seen.timed_out},
        )
    finally:
        cell.close()


def kill_steady(work: Path, key: str) -> Outcome:
    cell = Cell(work, key, "kill")
    try:
        cell.consumer.start()
        count = int(RATE * KILL_S)
        publisher = cell.publish(count, RATE)
        began = time.monotonic()
        while time.monotonic() - began < KILL_S / 3:
            time.sleep(0.05)
        cell.consumer.kill()
        killed_at = cell.consumer.count()
        time.sleep(2)
        cell.consumer.start()
        seen = watch(cell.consumer, count * 4, busy=publisher.running)
        sent = publisher.wait()
        cell.consumer.stop()
        stored = final_count(cell.consumer, seen.stored)
        return Outcome(
            published=int(sent["acked"]),
            stored=stored,
            repeats=cell.consumer.repeats(),
            extra={"killed_at": killed_at},
        )
    finally:
        cell.close()


KILL_DRAIN_AFTER_S = 3.0  # at the latest, for a consumer that never stores a third


KILL_DRAIN_SHARE = 0.1  # early: the fastest drain takes little more than a second


def kill_drain(work: Path, key: str) -> Outcome:
    """A backlog queued, the consumer started, killed once a tenth is stored (or after
    KILL_DRAIN_AFTER_S), restarted 2 s later and left to finish."""
    cell = Cell(work, key, "kill-drain")
    try:
        sent = cell.publish(MESSAGES, 0).wait()
        connected = cell.consumer.start()
        killed: dict[str, float] = {}

        def kill_early(stored: int) -> None:
            late = time.time() - connected >= KILL_DRAIN_AFTER_S
            if not killed and (stored >= MESSAGES * 4 * KILL_DRAIN_SHARE or late):
                cell.consumer.kill()
                killed["stored"] = cell.consumer.count() or stored
                killed["after"] = time.time() - connected
                time.sleep(2)
                cell.consumer.start()

        seen = watch(cell.consumer, MESSAGES * 4, each=kill_early)
        cell.consumer.stop()
        stored = final_count(cell.consumer, seen.stored)
        return Outcome(
            published=int(sent["acked"]),
            stored=stored,
            repeats=cell.consumer.repeats(),
            extra={"killed_at": killed.get("stored"), "killed_after": killed.get("after")},
        )
    finally:
        cell.close()


def cpu(work: Path, key: str) -> Outcome:
    cell = Cell(work, key, "cpu")
    try:
        cell.consumer.start()
        assert cell.consumer.process is not None
        warm = 5.0
        count = int(CPU_RATE * (CPU_S + warm + 2))
        publisher = cell.publish(count, CPU_RATE)
        time.sleep(warm)
        pids = {"consumer": cell.consumer.process.pid}
        if cell.influx is not None:
            pids["influxd"] = cell.influx.process.pid
        before = {name: tree_ticks(pid) for name, pid in pids.items()}
        began = time.monotonic()
        time.sleep(CPU_S)
        after = {name: tree_ticks(pid) for name, pid in pids.items()}
        elapsed = time.monotonic() - began
        share = {name: 100 * (after[name] - before[name]) / CLOCK_TICKS / elapsed for name in pids}
        seen = watch(cell.consumer, count * 4, busy=publisher.running)
        sent = publisher.wait()
        cell.consumer.stop()
        stored = final_count(cell.consumer, seen.stored)
        return Outcome(
            published=int(sent["acked"]), stored=stored, repeats=cell.consumer.repeats(),
            extra=share,
        )  # fmt: skip
    finally:
        cell.close()


def attempt(measure: Callable[[], Any]) -> Any:
    """The measurement, or an Outcome saying why it failed (the other cells still run)."""
    try:
        return measure()
    except Exception as error:  # a failed cell is reported, not fatal
        print(f"   failed: {error!r}", file=sys.stderr, flush=True)
        text = " ".join(str(error).split())[:300]
        return Outcome(error=f"{type(error).__name__}: {text}")


# -- report -------------------------------------------------------------------------------


def _num(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _ratio(value: float | None, base: float | None) -> str:
    if value is None or not base:
        return "—"
    return f"{value / base:.2f}"


def _repeats(outcome: Outcome) -> str:
    if outcome.error:
        return "—"
    return "not observable" if outcome.repeats is None else f"{outcome.repeats:,}"


def report(results: dict[str, dict[str, Any]], contestants: list[str], source: str) -> str:
    out: list[str] = []
    say = out.append

    say(
        f"Each cell (contestant × scenario) has its own fresh Mosquitto 2.0.11 (persistence on, "
        f"loopback) and a fresh InfluxDB 1.6.7 or SQLite database. Messages carry 4 readings "
        f"(from {NODES} kits); the publisher is a paho-mqtt QoS 1 client in its own process. "
        f"Node-RED {NPM_PACKAGES['node-red']} with node-red-contrib-influxdb "
        f"{NPM_PACKAGES['node-red-contrib-influxdb']}: mqtt in (QoS 1, clean session off, "
        "fixed client id) -> json -> function -> influxdb batch; the tuned flow adds a join "
        "node (500 messages or 1 s) before the function. Every consumer's persistent session "
        "is created before anything is published. Stored readings are counted in the store "
        f"every {POLL_S} s (the bare subscriber: messages received × 4, its own clock); a "
        f"consumer has settled when nothing new came for {SETTLE_S:g} s and (gateway) its "
        "spool is empty. Lost = published × 4 − distinct readings stored. Both stores keep one "
        "row per (quantity, node, time), so a redelivered reading overwrites itself "
        "(InfluxDB) or is ignored (SQLite): duplicates cannot show in the stores; "
        "'repeats absorbed' is the gateway's own count of such readings "
        "(`readings_repeated`, of its last process; on SQLite only, as InfluxDB does not say "
        "which points were new); Node-RED keeps no such count. kill -9 goes to the "
        "consumer's whole process group. The gateway is `python -m lokaalmeten gateway` "
        f"from {source}."
    )
    if LOADS:
        say("")
        say(
            f"Other work on the machine: the 1-minute load average was {min(LOADS):.2f} to "
            f"{max(LOADS):.2f} as the cells began (median {statistics.median(LOADS):.2f}); "
            "with 2 cores, a load well above the run's own shows other programs competing, "
            "and the rates vary with it."
        )

    def label(key: str) -> str:
        return CONTESTANTS[key]

    if "flood" in results:
        rows = results["flood"]
        tuned = _rate(rows.get("nr-tuned"))
        bare = _rate(rows.get("bare"))
        say("")
        say(
            f"**Flood**: {MESSAGES:,} messages published as fast as the publisher goes while "
            "the consumer runs; rate = messages stored ÷ time from the first publish until the "
            "last is stored. The publisher shares the 2 cores with the consumer, its store and "
            "the broker: how fast it goes depends on the consumer. Rates of a cell that lost "
            "readings are in brackets and not compared."
        )
        say("")
        head(
            say,
            "consumer",
            "publisher msg/s",
            "stored msg/s",
            "÷ tuned Node-RED",
            "÷ bare paho",
            "lost readings",
            "repeats absorbed",
        )
        for key in contestants:
            if key in rows:
                o = rows[key]
                say(
                    f"| {label(key)} | {_num(o.extra.get('publish_rate'))} | {_rate_text(o)} | "
                    f"{_ratio(_rate(o), tuned)} | {_ratio(_rate(o), bare)} | {o.lost_text()} | "
                    f"{_repeats(o)} |"
                )

    if "drain" in results:
        rows = results["drain"]
        say("")
        say(
            f"**Backlog drain**: {MESSAGES:,} messages queued in the broker for the stopped "
            "consumer's session, then the consumer started and timed from its log's "
            "'connected' line until the last reading is stored (bare: received); two rounds "
            "into the same store, the consumer stopped in between. Rates of a cell that lost "
            "readings are in brackets and not compared. Targets for the gateway: "
            "≥ 1.5 × tuned Node-RED, ≥ 0.7 × bare paho, 0 lost, 0 duplicates."
        )
        say("")
        head(
            say,
            "consumer",
            "round",
            "msg/s",
            "÷ tuned Node-RED",
            "÷ bare paho",
            "lost readings",
            "repeats absorbed",
            "targets met",
        )
        for round_ in (0, 1):
            tuned = _rate(_round(rows.get("nr-tuned"), round_))
            bare = _rate(_round(rows.get("bare"), round_))
            for key in contestants:
                o = _round(rows.get(key), round_)
                if o is None:
                    continue
                met = "—"
                if key.startswith("gw-") and o.rate and tuned and bare:
                    ok = (
                        o.rate >= 1.5 * tuned
                        and o.rate >= 0.7 * bare
                        and o.lost == 0
                        and not o.repeats
                    )
                    met = "yes" if ok else "no"
                say(
                    f"| {label(key)} | {round_ + 1} | {_rate_text(o)} | "
                    f"{_ratio(_rate(o), tuned)} | {_ratio(_rate(o), bare)} | {o.lost_text()} | "
                    f"{_repeats(o)} | {met} |"
                )

    if "drain" in results:
        cpu_table(say, results["drain"], contestants, label)

    if "ladder" in results:
        rows = results["ladder"]
        say("")
        say(
            f"**Highest lossless steady rate**: steady publish rates of {STEP_S:g} s each, "
            "a fresh cell per step, upwards until the first step with a loss. A cell: lost "
            "readings; the rate the publisher reached (on 2 cores the consumer, its store, "
            "the broker and the publisher share the CPU, so a busy consumer holds the "
            "publisher back); how long after the publisher's last acknowledgement the last "
            "reading was stored. Highest lossless: the highest rate reached in a step "
            "without a loss, msg/s."
        )
        say("")
        say("| consumer | " + " | ".join(f"{r:,} msg/s" for r in LADDER) + " | highest lossless |")
        say("|---|" + "---|" * (len(LADDER) + 1))
        for key in contestants:
            if key not in rows:
                continue
            steps = rows[key]
            cells: list[str] = []
            best: float | None = None
            for rate in LADDER:
                o = steps.get(rate)
                if o is None:
                    cells.append("not run")
                    continue
                if o.error:
                    cells.append(o.lost_text())
                    continue
                achieved = o.extra["achieved"]
                short = " (publisher short of the rate)" if achieved < 0.95 * rate else ""
                cells.append(
                    f"{o.lost_text()} lost; reached {achieved:,.0f}/s{short}; "
                    f"lag {o.extra['lag']:.1f} s"
                )
                if o.lost == 0:
                    best = max(best or 0.0, achieved)
            say(f"| {label(key)} | " + " | ".join(cells) + f" | {_num(best)} |")

    if "outage" in results:
        rows = results["outage"]
        say("")
        say(
            f"**InfluxDB outage**: {RATE:,} msg/s for {OUTAGE_S:g} s, InfluxDB stopped from "
            f"{OUTAGE_S * 0.25:g} s to {OUTAGE_S * 0.75:g} s; counted once everything settled. "
            "The backlog is worked off once the spool holds less than a second's readings."
        )
        say("")
        head(
            say,
            "consumer",
            "published msgs",
            "lost readings",
            "repeats absorbed",
            "most readings kept (spool)",
            "backlog worked off, s after InfluxDB returned",
        )
        for key in contestants:
            if key in rows:
                o = rows[key]
                peak = o.extra.get("peak")
                kept = "keeps none" if peak is None and not o.error else _num(peak)
                after = _num(o.extra.get("drained"), 1) if peak is not None else "—"
                if o.extra.get("timed_out"):
                    after += " (timed out)"
                say(
                    f"| {label(key)} | {o.published:,} | {o.lost_text()} | {_repeats(o)} | "
                    f"{kept} | {after} |"
                )

    for name, text in (
        (
            "kill",
            f"**kill -9 at {RATE:,} msg/s**: {KILL_S:g} s of publishing; the consumer killed "
            f"(SIGKILL) at {KILL_S / 3:g} s and started again 2 s later.",
        ),
        (
            "kill-drain",
            f"**kill -9 during a backlog drain**: {MESSAGES:,} messages queued, the consumer "
            f"started, killed (SIGKILL) once {KILL_DRAIN_SHARE:.0%} of the readings were "
            f"stored or {KILL_DRAIN_AFTER_S:g} s after it connected, whichever came first, "
            "started again 2 s later and left to finish. 'Stored when killed' is counted "
            "just after the kill.",
        ),
    ):
        if name in results:
            rows = results[name]
            say("")
            say(text)
            say("")
            head(
                say,
                "consumer",
                "published msgs",
                "readings stored when killed",
                "lost readings",
                "repeats absorbed",
            )
            for key in contestants:
                if key in rows:
                    o = rows[key]
                    killed = _num(o.extra.get("killed_at"))
                    if o.extra.get("killed_after") is not None:
                        killed += f" ({o.extra['killed_after']:.1f} s after connecting)"
                    say(
                        f"| {label(key)} | {o.published:,} | {killed} | "
                        f"{o.lost_text()} | {_repeats(o)} |"
                    )

    if "cpu" in results:
        rows = results["cpu"]
        say("")
        say(
            f"**CPU at {CPU_RATE:,} msg/s**: {CPU_S:g} s after 5 s of warming up; % of one "
            "core from /proc/<pid>/stat (utime + stime over the process tree, children "
            "included), the consumer and its InfluxDB apart."
        )
        say("")
        say("| consumer | consumer % of a core | influxd % of a core | lost readings |")
        say("|---|---|---|---|")
        for key in contestants:
            if key in rows:
                o = rows[key]
                say(
                    f"| {label(key)} | {_num(o.extra.get('consumer'), 1)} | "
                    f"{_num(o.extra.get('influxd'), 1)} | {o.lost_text()} |"
                )
    return "\n".join(out)


def cpu_table(
    say: Callable[[str], None],
    rows: dict[str, Any],
    contestants: list[str],
    label: Callable[[str], str],
) -> None:
    """Where the CPU of a drain goes, per message, and what that allows on this machine."""
    cores = os.cpu_count() or 1
    first = {key: _round(rows.get(key), 0) for key in contestants}
    # A lossy cell's CPU went partly into readings it then lost: not compared.
    measured = {
        k: o for k, o in first.items() if o is not None and o.extra.get("cpu") and o.lost == 0
    }
    if not measured:
        return
    say("")
    say(
        "**CPU per message during the drain** (round 1): CPU seconds of each process from "
        "the consumer's 'connected' until the last reading was stored, ÷ messages; the "
        "consumer's whole process tree, and the gateway's three processes apart. All = "
        "consumer + broker + InfluxDB. On "
        f"{cores} cores nothing drains faster than {cores} cores ÷ all (the bound), however "
        "well its work is spread; busy = all ÷ the drain's seconds."
    )
    say("")
    head(
        say, "consumer", "consumer µs", "gateway main · MQTT · writer µs", "broker µs",
        "InfluxDB µs", "all µs", "cores busy", "bound msg/s", "measured ÷ bound",
    )  # fmt: skip
    per: dict[str, dict[str, float]] = {}
    for key, o in measured.items():
        assert o is not None
        messages = o.stored / 4 or 1
        us = {role: 1e6 * spent / messages for role, spent in o.extra["cpu"].items()}
        per[key] = us
        total = us["consumer"] + us["broker"] + us.get("influxdb", 0.0)
        parts = " · ".join(
            f"{us[role]:.0f}" for role in ("gateway main", "gateway MQTT", "gateway writer")
            if role in us
        )  # fmt: skip
        busy = total * messages / 1e6 / o.extra["seconds"]
        bound = cores * 1e6 / total
        say(
            f"| {label(key)} | {us['consumer']:.0f} | {parts or '—'} | {us['broker']:.1f} | "
            f"{_num(us.get('influxdb'), 1) if 'influxdb' in us else '—'} | {total:.0f} | "
            f"{busy:.2f} | {bound:,.0f} | {_ratio(o.rate, bound)} |"
        )
    bare, tuned = per.get("bare"), _rate(first.get("nr-tuned"))
    if bare is not None and tuned is not None:
        # What InfluxDB spends on the readings alone: under the tuned flow, which writes
        # nothing else (the gateway also writes its change log).
        influx = per.get("nr-tuned", {}).get("influxdb", 0.0)
        floor = bare["consumer"] + bare["broker"] + influx
        budget = cores * 1e6 / (1.5 * tuned)  # µs of CPU a message at 1.5 × tuned
        left = budget - floor
        own = [
            us["consumer"] - bare["consumer"]
            for key, us in per.items()
            if key.startswith("gw-") and "gateway main" in us
        ]
        verdict = (
            f"the target leaves {left:.0f} µs a message for the gateway's own work (decoding, "
            "validating, spooling, writing)"
            if left > 0
            else f"the target is out of reach by {-left:.0f} µs a message before the gateway "
            "does any work of its own"
        )
        own_text = (
            f"; the gateway spends {min(own):.0f}–{max(own):.0f} µs on it beyond paho's receiving"
            if own
            else ""
        )
        say("")
        say(
            "What the target asks of this machine: a gateway receives with paho as the bare "
            f"subscriber does ({bare['consumer']:.0f} µs a message, the bare subscriber's "
            f"own CPU), the broker spends {bare['broker']:.1f} µs and InfluxDB "
            f"{influx:.0f} µs storing a message's readings (under the tuned flow): "
            f"{floor:.0f} µs. 1.5 × the tuned flow, {1.5 * tuned:,.0f} msg/s, allows "
            f"{budget:.0f} µs of CPU a message on {cores} cores, all processes together: "
            f"{verdict}{own_text}."
        )


def head(say: Callable[[str], None], *columns: str) -> None:
    say("| " + " | ".join(columns) + " |")
    say("|" + "---|" * len(columns))


def _rate(outcome: Outcome | None) -> float | None:
    """A rate to compare with: only of a cell that lost nothing."""
    if outcome is None or outcome.error or outcome.lost:
        return None
    return outcome.rate


def _rate_text(outcome: Outcome) -> str:
    if outcome.error or outcome.rate is None:
        return "—"
    if outcome.lost:
        return f"({outcome.rate:,.0f}, lossy)"
    return f"{outcome.rate:,.0f}"


def _round(outcomes: Any, index: int) -> Outcome | None:
    if outcomes is None:
        return None
    if isinstance(outcomes, Outcome):  # the whole cell failed
        return outcomes
    return outcomes[index] if index < len(outcomes) else None


def gateway_source() -> str:
    """Which tree ``python -m lokaalmeten gateway`` runs from, and its commit."""
    env = {**os.environ, "PYTHONSAFEPATH": "1"}
    probe = "import lokaalmeten.gateway as g, os; print(os.path.dirname(g.__file__))"
    try:
        folder = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True
        ).stdout.strip()
        described = subprocess.run(
            ["git", "-C", folder, "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "the installed lokaalmeten"
    return f"{Path(folder).parent} at {described}"


def run(work: Path) -> str:
    contestants = _chosen("LM_PEER_CONTESTANTS", list(CONTESTANTS))
    scenarios = _chosen("LM_PEER_SCENARIOS", SCENARIOS)
    if any(key.startswith("nr-") for key in contestants):
        npm_install()
    measures: dict[str, Callable[[Path, str], Any]] = {
        "flood": flood,
        "drain": drain,
        "ladder": ladder,
        "outage": outage,
        "kill": kill_steady,
        "kill-drain": kill_drain,
        "cpu": cpu,
    }
    wanted = {
        "outage": [k for k in contestants if KINDS[k].uses_influx],
        "kill": [k for k in contestants if k != "bare"],
        "kill-drain": [k for k in contestants if k != "bare"],
    }
    results: dict[str, dict[str, Any]] = {}
    for scenario in scenarios:
        results[scenario] = {}
        for key in wanted.get(scenario, contestants):
            print(f"-- {scenario}: {key}", file=sys.stderr, flush=True)
            started = time.monotonic()
            measure = measures[scenario]
            results[scenario][key] = attempt(lambda m=measure, k=key: m(work, k))  # type: ignore[misc]
            print(f"   {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    return report(results, contestants, gateway_source())


def main(argv: list[str]) -> None:
    mode, *args = argv
    if mode == "publish":
        port, count, rate, offset, result = args
        publisher_main(int(port), int(count), float(rate), int(offset), Path(result))
    elif mode == "bare":
        port, client_id, status = args
        bare_main(int(port), client_id, Path(status))
    else:
        raise SystemExit(f"unknown mode {mode!r}: publish or bare")


if __name__ == "__main__":
    main(sys.argv[1:])
