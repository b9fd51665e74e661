"""The installer's hint and the guide's commands, run exactly as written, from an operator's
home folder, as the service user, against a real Mosquitto.

The installation is made with ``gateway install --root``; a private mount namespace then
puts its files where the guide's commands expect them (/etc/lokaalmeten,
/var/lib/lokaalmeten, /etc/mosquitto/lokaalmeten, /opt/lokaalmeten/venv, and an /etc/passwd
that knows the user ``lokaalmeten``), so nothing on this machine is touched. Two
translations only: ``sudo -u USER`` runs as ``runuser -u USER --`` (what sudo does for root;
sudo is not installed here), and ``sudo systemctl reload mosquitto`` sends the test's
broker the SIGHUP that reload sends.

Once: the installer's hint, run from a home folder, made a new empty ``./var/registry.db``
and rewrote Mosquitto's passwords from it: the gateway and every kit were locked out.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from lokaalmeten.gateway.directory import DirectoryReader
from lokaalmeten.services.mosquitto import Mosquitto
from lokaalmeten.store import open_store
from tests.helpers import REPO, reachable_by_others

UID = 64123  # the service user inside the namespace
GUIDE = REPO / "docs" / "gateway-install.md"
# (inside the namespace, from the --root tree) — the installed layout
MOUNTS = ["etc/lokaalmeten", "var/lib/lokaalmeten", "etc/mosquitto/lokaalmeten"]

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not all(shutil.which(p) for p in ("unshare", "runuser", "mount")),
    reason="needs root, unshare, runuser and mount for a private mount namespace",
)


def guide_commands() -> list[str]:
    """Step 5's commands, as the guide prints them (deploy needs a kit on a USB port)."""
    text = GUIDE.read_text().split("## Step 5", 1)[1].split("\n## ", 1)[0]
    lines = re.findall(r"^sudo .*$", text, re.M)
    return [line for line in lines if " deploy " not in line]


class Installation:
    def __init__(self, root: Path, broker: Mosquitto, home: Path) -> None:
        self.root, self.broker, self.home = root, broker, home

    def run(self, line: str, as_root: bool = True) -> subprocess.CompletedProcess[str]:
        """One command line of the guide, in the namespace, from the operator's home."""
        if line == "sudo systemctl reload mosquitto":
            os.kill(self.broker.process.pid, signal.SIGHUP)
            time.sleep(0.5)
            return subprocess.CompletedProcess(line, 0, "", "")
        words = shlex.split(line)
        if words[:3] == ["sudo", "-u", "lokaalmeten"]:
            words = ["runuser", "-u", "lokaalmeten", "--", *words[3:]]
        elif not as_root:
            words = ["runuser", "-u", "operator", "--", *words]
        binds = [(self.root / m, Path("/") / m) for m in MOUNTS]
        binds += [(Path(sys.prefix), Path("/opt/lokaalmeten/venv"))]
        binds += [
            (self.root / "passwd", Path("/etc/passwd")),
            (self.root / "group", Path("/etc/group")),
        ]
        script = "set -e\n"
        for source, target in binds:
            if not target.exists():
                script += f"mkdir -p {target}\n"
            script += f"mount --bind {source} {target}\n"
        # The interpreter (pyenv under /root) or the checkout the editable install points at
        # (a mktemp -d folder) may lie under a folder only root may enter.
        opened = [Path(sys.base_prefix), REPO]
        script += reachable_by_others(opened, self.root.parent / "reachable")
        script += f"cd {self.home}\nexec {shlex.join(words)}\n"
        env = {k: v for k, v in os.environ.items() if not k.startswith("LM_")}
        env["HOME"] = str(self.home)
        return subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
            capture_output=True, text=True, env=env, timeout=120,
        )  # fmt: skip

    def cleanup(self) -> None:
        for mount in [*MOUNTS, "opt/lokaalmeten/venv"]:
            folder = Path("/") / mount
            while folder != Path("/") and folder.is_dir() and not any(folder.iterdir()):
                if folder in (Path("/etc"), Path("/var/lib"), Path("/opt"), Path("/etc/mosquitto")):
                    break
                folder.rmdir()
                folder = folder.parent


def can_connect(port: int, user: str, password: str) -> bool:
    answers: list[int] = []
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"check-{user}")
    client.username_pw_set(user, password)
    client.on_connect = lambda c, u, f, reason, p: answers.append(reason.value)
    client.connect("127.0.0.1", port)
    deadline = time.monotonic() + 10
    while not answers and time.monotonic() < deadline:
        client.loop(0.1)
    client.disconnect()
    return answers == [0]


@pytest.fixture
def installation(tmp_path: Path) -> Iterator[tuple[Installation, str]]:
    if Mosquitto.find() is None:
        pytest.skip("mosquitto not available: apt-get install mosquitto")
    root = tmp_path / "root"
    out = subprocess.run(
        [sys.executable, "-m", "lokaalmeten", "gateway", "install", "--root", str(root),
         "--store", "sqlite"],
        capture_output=True, text=True, timeout=120, env={**os.environ, "LM_CONFIG": "none"},
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    hint = re.search(r"^Register kits with: (.*)$", out.stdout, re.M)
    assert hint, out.stdout
    # What the printed useradd and chown commands make.
    (root / "passwd").write_text(
        Path("/etc/passwd").read_text()
        + f"lokaalmeten:x:{UID}:{UID}::/var/lib/lokaalmeten:/usr/sbin/nologin\n"
        + f"operator:x:{UID + 1}:{UID + 1}::/nonexistent:/bin/sh\n"
    )
    (root / "group").write_text(
        Path("/etc/group").read_text() + f"lokaalmeten:x:{UID}:\noperator:x:{UID + 1}:\n"
    )
    for folder in ("var/lib/lokaalmeten", "etc/mosquitto/lokaalmeten"):
        for path in [root / folder, *(root / folder).rglob("*")]:
            os.chown(path, UID, UID)
    os.chown(root / "etc/lokaalmeten/lokaalmeten.env", 0, UID)
    # The gateway made the store when it first started.
    open_store("sqlite:///" + str(root / "var/lib/lokaalmeten/readings.db")).close()
    os.chown(root / "var/lib/lokaalmeten/readings.db", UID, UID)
    # Mosquitto on the installation's password and ACL files, on a free loopback port.
    auth = (root / "etc/mosquitto/lokaalmeten/passwd", root / "etc/mosquitto/lokaalmeten/acl")
    broker = Mosquitto.start(tmp_path / "broker", auth=auth)
    home = Path(tempfile.mkdtemp(prefix="lm-operator-"))  # a home any user may enter
    home.chmod(0o777)
    found = Installation(root, broker, home)
    try:
        yield found, hint.group(1)
    finally:
        broker.stop()
        found.cleanup()
        shutil.rmtree(home)


def env_value(root: Path, name: str) -> str:
    text = (root / "etc/lokaalmeten/lokaalmeten.env").read_text()
    match = re.search(rf"^{name}=(.*)$", text, re.M)
    assert match
    return match.group(1)


def accounts(root: Path) -> set[str]:
    text = (root / "etc/mosquitto/lokaalmeten/passwd").read_text()
    return {line.split(":", 1)[0] for line in text.splitlines() if ":" in line}


def test_the_hint_and_the_guide_keep_the_gateway_and_every_kit_able_to_connect(
    installation: tuple[Installation, str],
) -> None:
    inst, hint = installation
    port = inst.broker.port
    gateway_token = env_value(inst.root, "LM_MQTT_PASSWORD")
    assert can_connect(port, "gateway", gateway_token)

    tokens: dict[str, str] = {}
    for node, line in [
        ("kit-hint", hint.replace("NODE", "kit-hint")),
        *(("esp32-0a1b2c", command) for command in guide_commands()),
    ]:
        out = inst.run(line)
        assert out.returncode == 0, (line, out.stdout, out.stderr)
        found = re.search(r"^token: (\S+)$", out.stdout, re.M)
        if found:
            tokens[node] = found.group(1)
    assert set(tokens) == {"kit-hint", "esp32-0a1b2c"}
    inst.run("sudo systemctl reload mosquitto")
    assert accounts(inst.root) == {"gateway", "kit-hint", "esp32-0a1b2c"}
    assert can_connect(port, "gateway", gateway_token)
    for node, token in tokens.items():
        assert can_connect(port, node, token), node
    # Nothing was made in the operator's folder; the place went into the installation's
    # node directory, which the server reads.
    assert list(inst.home.iterdir()) == []
    directory = DirectoryReader(inst.root / "var/lib/lokaalmeten/registry.db")
    entry = directory.entry("esp32-0a1b2c")
    directory.close()
    assert entry is not None and entry.name == "Dorpsstraat" and entry.place is not None

    # Adding twice, rotating and removing never lose another account.
    program = "sudo -u lokaalmeten /opt/lokaalmeten/venv/bin/lokaalmeten nodes"
    assert inst.run(f"{program} add kit-hint").returncode == 2  # already registered
    rotated = inst.run(f"{program} rotate esp32-0a1b2c")
    assert rotated.returncode == 0, rotated.stderr
    tokens["esp32-0a1b2c"] = rotated.stdout.split(": ", 1)[1].split()[0]
    assert inst.run(f"{program} remove kit-hint").returncode == 0
    inst.run("sudo systemctl reload mosquitto")
    assert can_connect(port, "gateway", gateway_token)
    assert can_connect(port, "esp32-0a1b2c", tokens["esp32-0a1b2c"])
    assert not can_connect(port, "kit-hint", tokens["kit-hint"])


def test_an_operator_without_sudo_is_told_how_to_run_the_command(
    installation: tuple[Installation, str],
) -> None:
    inst, _ = installation
    before = (inst.root / "etc/mosquitto/lokaalmeten/passwd").read_text()
    out = inst.run("/opt/lokaalmeten/venv/bin/lokaalmeten nodes add kit-x", as_root=False)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "cannot read the configuration /etc/lokaalmeten/lokaalmeten.env" in out.stderr
    assert "sudo -u lokaalmeten" in out.stderr and "Traceback" not in out.stderr
    assert (inst.root / "etc/mosquitto/lokaalmeten/passwd").read_text() == before
