"""The commands ``lokaalmeten flash`` and ``lokaalmeten deploy`` (registered in lokaalmeten.cli).

lokaalmeten flash --port /dev/ttyUSB0 --firmware ESP32_GENERIC-20250415-v1.25.0.bin
lokaalmeten deploy --port /dev/ttyUSB0 --node esp32-0a1b2c --gateway 192.168.1.10 --token T
"""

from __future__ import annotations

import os
import shlex
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from lokaalmeten.cli_errors import fail
from lokaalmeten.kit_tools.boards import FitError, board_by_name, board_for_chip
from lokaalmeten.kit_tools.build import MIP_PACKAGES, SENSOR_TYPES, BuildError
from lokaalmeten.kit_tools.chips import Chip, ChipError, chip_by_name
from lokaalmeten.kit_tools.deploy import DeployError, DeployPlan
from lokaalmeten.kit_tools.flash import Step
from lokaalmeten.kit_tools.label import label_line
from lokaalmeten.kit_tools.serialport import PortError, check_port

PortOption = Annotated[
    str,
    typer.Option("--port", "-p", help="The kit's serial port, e.g. /dev/ttyUSB0 or /dev/ttyACM0."),
]


def flash(
    port: PortOption,
    firmware: Annotated[
        Path | None,
        typer.Option(
            help="The MicroPython image (.bin) for the board's chip; default: the newest "
            "ESP32_GENERIC…-*.bin for the detected chip in the current folder."
        ),
    ] = None,
    chip: Annotated[
        str | None,
        typer.Option(help="ESP32, ESP32-S3, ESP32-C3 or ESP32-C6; default: ask the board."),
    ] = None,
    baud: Annotated[int, typer.Option(help="Baud rate for writing.")] = 460800,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the esptool commands; touch nothing.")
    ] = False,
) -> None:
    """Put MicroPython on a kit's ESP32: detect the chip, erase the flash, write the image.

    The image comes from micropython.org/download (ESP32_GENERIC, ESP32_GENERIC_S3,
    ESP32_GENERIC_C3). It is checked against the chip before anything is erased, and
    written at the chip's offset (0x1000 on the ESP32, 0x0 on the S3, C3 and C6).
    Everything on the kit is erased, its configuration too.
    """
    from lokaalmeten.kit_tools.flash import (
        FlashError,
        detect,
        find_image,
        flash_steps,
    )

    try:
        if dry_run:
            if chip is None:
                fail("a dry run does not ask the board: give --chip (ESP32, ESP32-S3, ...)")
            target = chip_by_name(chip)
        else:
            check_port(port)
            if chip is None:
                typer.echo(f"asking the board on {port} which chip it has ...")
                target = detect(port)
            else:
                target = chip_by_name(chip)
            typer.echo(f"chip: {target.name}, MicroPython goes at offset {hex(target.offset)}")
        image = find_image(firmware, target)
        steps = flash_steps(port, target, image, baud)
        if dry_run:
            for step in steps:
                typer.echo(shown(step.command))
            return
        typer.echo(f"image: {image} ({image.stat().st_size} bytes)")
        for step in steps:
            _run_step(step)
    except (PortError, ChipError, FlashError) as exc:
        fail(str(exc))
    typer.echo(
        f"done: MicroPython is on the {target.name}. Next: lokaalmeten deploy --port {port} ..."
    )


def _run_step(step: Step) -> None:
    from lokaalmeten.kit_tools.flash import run_esptool

    label = {"erase": "erasing the flash", "write": "writing MicroPython"}[step.what]
    with typer.progressbar(length=100, label=label, show_percent=True) as bar:
        done = [0.0]

        def progress(percent: float) -> None:
            if percent > done[0]:
                bar.update(int(percent - done[0]))
                done[0] = float(int(percent))

        run_esptool(step, progress, lambda line: None)
        bar.update(100 - int(done[0]))


def deploy(
    port: PortOption,
    gateway: Annotated[
        str,
        typer.Option(
            help="The gateway's MQTT broker, HOST or HOST:PORT (e.g. 192.168.1.10); "
            "not needed with --keep-config."
        ),
    ] = "",
    node: Annotated[
        str | None,
        typer.Option(help="The kit's node id; default (not in a dry run): esp32-<its MAC>."),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            help="The kit's token, as the gateway operator gave it. Without it the registry "
            "(--registry) issues a new one, and the kit's old token stops working."
        ),
    ] = None,
    registry: Annotated[
        Path | None,
        typer.Option(
            help="The gateway's kit registry (default: LM_REGISTRY, as in the installation's "
            "/etc/lokaalmeten/lokaalmeten.env)."
        ),
    ] = None,
    mosquitto_dir: Annotated[
        Path | None,
        typer.Option(
            help="Rewrite Mosquitto's passwd and acl here when a token is issued (default: "
            "LM_MOSQUITTO_DIR, as in the installation's configuration)."
        ),
    ] = None,
    sensors: Annotated[
        str,
        typer.Option(
            help="Sensor types, comma-separated, on their default pins (hardware/wiring/): "
            + ", ".join(SENSOR_TYPES)
            + ". Air-quality kit: sds011,bme280; noise kit: noise."
        ),
    ] = "sds011,bme280",
    wifi_ssid: Annotated[
        str, typer.Option(help="Wi-Fi network; empty: set it in the kit's portal.")
    ] = "",
    wifi_password: Annotated[str, typer.Option(help="Wi-Fi password.")] = "",
    lat: Annotated[float | None, typer.Option(help="Latitude of the kit's place.")] = None,
    lon: Annotated[float | None, typer.Option(help="Longitude of the kit's place.")] = None,
    keep_config: Annotated[
        bool,
        typer.Option("--keep-config", help="Copy only the firmware; keep the kit's config.json."),
    ] = False,
    chip: Annotated[
        str, typer.Option(help="With --dry-run: the chip to compile for (the kit is not asked).")
    ] = "ESP32",
    board: Annotated[
        str,
        typer.Option(
            help="The board profile (default: from the chip and PSRAM the kit reports; in a "
            "dry run, --chip's usual board): esp32-devkitc, esp32-wrover, esp32s3-n16r8, "
            "esp32c3. Sets the default pins and the memory the sensors must fit."
        ),
    ] = "",
    release_key: Annotated[
        str,
        typer.Option(
            help="The public key of the gateway's firmware releases (the 64 hex digits "
            "'lokaalmeten fleet release' prints), so that the kit can check releases; "
            "default: the gateway's own, when this machine is the gateway."
        ),
    ] = "",
    build_dir: Annotated[
        Path | None,
        typer.Option(help="Keep the compiled files here (default: a temporary folder)."),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Build and list every file with its size and the commands; touch no port.",
        ),
    ] = False,
) -> None:
    """Copy the firmware (compiled to .mpy) and the kit's configuration to a flashed kit.

    The configuration holds the node id, the gateway, the kit's token (its MQTT password),
    the sensors and, optionally, Wi-Fi; anything else is set later in the kit's set-up
    portal. After copying, the kit checks its files and configuration and restarts.
    """
    host, _, port_text = gateway.partition(":")
    if not host and not keep_config:
        fail("--gateway HOST is needed: the address of your gateway (ask its operator)")
    try:
        gateway_port = int(port_text or 1883)
    except ValueError:
        fail(f"--gateway: {port_text!r} is not a port number")
    kinds = [s.strip() for s in sensors.split(",") if s.strip()]
    if dry_run and node is None:
        fail("a dry run does not ask the kit for its MAC address: give --node")
    plan = DeployPlan(
        port=port, node=node or "", gateway_host=host, gateway_port=gateway_port,
        sensors=kinds, wifi_ssid=wifi_ssid, wifi_password=wifi_password,
        latitude=lat, longitude=lon, keep_config=keep_config, board=board,
        release_key=release_key or _local_release_key(),
    )  # fmt: skip
    try:
        plan.config()  # refuse bad options before touching anything
        if dry_run:
            _dry_run(plan, chip_by_name(chip), token, registry, build_dir)
            return
        check_port(port)
        if not plan.node:
            plan.node = _node_from_kit(port)
        if not keep_config:  # the kit keeps its token too: nothing to issue
            plan.token = _token(plan.node, token, registry, mosquitto_dir)
        with tempfile.TemporaryDirectory(prefix="lokaalmeten-kit-") as temporary:
            from lokaalmeten.kit_tools.deploy import deploy as run_deploy

            state = run_deploy(plan, build_dir or Path(temporary), typer.echo)
    except (PortError, ChipError, BuildError, DeployError, FitError) as exc:
        fail(str(exc))
    typer.echo(
        f"done: {state['node']} with sensors {', '.join(state['sensors']) or 'none'}; "
        f"{state['mem_free']} bytes of heap free; the kit restarts and starts measuring"
    )
    typer.echo(label_line(plan.node, plan.portal_password))  # write it on the kit's label
    if not wifi_ssid and not keep_config:
        typer.echo(
            f"No Wi-Fi was given: join the Wi-Fi network lokaalmeten-{plan.node[-6:]} with a "
            "phone (the password on the label) and fill in your Wi-Fi in the page that opens "
            "(http://192.168.4.1/)."
        )


def _dry_run(
    plan: DeployPlan, chip: Chip, token: str | None, registry: Path | None, build_dir: Path | None
) -> None:
    from lokaalmeten.kit_tools.deploy import (
        copy_commands,
        mip_commands,
        mpremote,
        prepare,
        probe_command,
        reset_command,
        verify_command,
    )

    if token is None:
        where = registry or Path("LM_REGISTRY")
        plan.token = "<new token from the registry>"
        typer.echo(f"token: a new one would be issued for {plan.node} by the registry {where}")
    else:
        plan.token = token
    profile = board_by_name(plan.board) if plan.board else board_for_chip(chip.name)
    if profile.chip != chip.name:
        raise FitError(f"--board {profile.name} has an {profile.chip}, not an {chip.name}")
    if not plan.keep_config:
        need = plan.fit(profile)
        typer.echo(
            f"board: {profile.title}; the sensors need {need:.0f} of its {profile.heap_kib} KiB"
        )
        for spec in plan.config()["sensors"]:
            pins = " ".join(f"{k}={v}" for k, v in spec.items() if k != "type")
            typer.echo(f"  {spec['type']}: {pins}")
    with tempfile.TemporaryDirectory(prefix="lokaalmeten-kit-") as temporary:
        build = build_dir or Path(temporary)
        files = prepare(plan, build, chip.march)
        typer.echo(f"files for an {chip.name} (mpy-cross -march={chip.march}):")
        for item in files:
            typer.echo(f"  {item.size:8d}  {item.device_path}")
        typer.echo(f"  {sum(f.size for f in files):8d}  total, {len(files)} files")
        if not MIP_PACKAGES:
            typer.echo("micropython-lib packages: none needed (MicroPython's ESP32 build has them)")
        typer.echo("set-up password: the kit's own if it has one, else a new one (on the label)")
        typer.echo("commands:")
        commands = [probe_command(plan.port), mpremote(plan.port, "exec", "<label.py's script>")]
        commands += [
            mpremote(plan.port, "exec", "<maintenance request, maintenance.py>", "+", "reset"),
            mpremote(plan.port, "exec", "<maintenance check, maintenance.py>"),
        ]
        commands += copy_commands(plan.port, build, files)
        check = verify_command(plan.port, files)
        commands += [*mip_commands(plan.port), [*check[:-1], "<the check script, build.py>"]]
        commands.append(reset_command(plan.port))
        for command in commands:
            typer.echo("  " + shown(command))


def shown(command: list[str]) -> str:
    """A command as a person would type it (``python -m esptool …``)."""
    return shlex.join(["python", *command[1:]])


def _local_release_key() -> str:
    """The public key of this machine's release key, when deploy runs on the gateway and may
    read it; empty otherwise."""
    from lokaalmeten.settings import STATE_DIR

    path = STATE_DIR / "release.key"
    if not path.is_file() or not os.access(path, os.R_OK):
        return ""
    from lokaalmeten.kit_tools.release import ReleaseError, public_key, release_key

    try:
        return public_key(release_key(path)).hex()
    except (ReleaseError, OSError):
        return ""


def _node_from_kit(port: str) -> str:
    from lokaalmeten.kit_tools.deploy import last_json, mpremote, run_checked

    script = (
        "import machine, json; print(json.dumps({'node': 'esp32-' + "
        "''.join('%02x' % b for b in machine.unique_id())}))"
    )
    answer = last_json(run_checked(mpremote(port, "exec", script), "asking the kit its MAC", 30))
    if answer is None:
        raise DeployError("the kit did not tell its MAC address; give --node")
    return str(answer["node"])


def _token(node: str, token: str | None, registry: Path | None, mosquitto_dir: Path | None) -> str:
    from lokaalmeten.gateway.cli import guard_broker, registry_locations
    from lokaalmeten.gateway.registry import Registry, RegistryError

    path, mosquitto_dir = registry_locations(registry, mosquitto_dir)
    if token is not None:
        if registry is not None and not Registry(path).check_token(node, token):
            raise DeployError(f"that token is not {node}'s in {path}")
        return token
    if not path.exists():
        raise DeployError(
            f"no kit registry at {path}: pass the kit's token with --token (the gateway "
            "operator has it), or run deploy on the gateway with --registry"
        )
    store = Registry(path)
    guard_broker(path, mosquitto_dir, store)
    try:
        if any(entry.name == node for entry in store.entries()):
            new = store.rotate(node)
            typer.echo(f"issued a new token for {node}; its old token no longer works")
        else:
            new = store.add(node, "kit", "registered by lokaalmeten deploy")
            typer.echo(f"registered {node} in {path}")
    except RegistryError as exc:
        raise DeployError(str(exc)) from None
    if mosquitto_dir is not None:
        store.write_mosquitto_files(mosquitto_dir)
        typer.echo(f"updated {mosquitto_dir}; make Mosquitto read it: systemctl reload mosquitto")
    else:
        typer.echo(
            "Mosquitto still has the old token: write its files with --mosquitto-dir "
            "/etc/mosquitto/lokaalmeten (or lokaalmeten nodes ... --mosquitto-dir) and reload it"
        )
    return new
