"""The kits' wiring: one description (hardware/wiring/kits.json) -> SVG diagrams and pin tables.

    wiring = load(Path("hardware/wiring/kits.json"))
    for kit in wiring.kits:
        Path(f"{kit.id}.svg").write_text(svg(wiring, kit))
    Path("README.md").write_text(markdown(wiring))

A wire goes from a part's pin either to a power pin of the board (5V, 3V3, GND) or to one
of the part's bus signals (rx, tx, sda, scl, sck, ws, sd), whose GPIO number the part's
``bus`` gives: that bus is the firmware's default configuration for the sensor, which a test
compares with firmware/kit/sensors.py. Output is deterministic, so the committed files can
be compared with a fresh generation.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, replace
from html import escape
from pathlib import Path
from typing import Any

from lokaalmeten.kit_tools.boards import BOARDS, Board

POWER = ("5V", "3V3", "GND")
COLOURS = {
    "5V": "#c0392b", "3V3": "#e67e22", "GND": "#222222", "rx": "#27ae60", "tx": "#16a085",
    "sda": "#2471a3", "scl": "#8e44ad", "sck": "#795548", "ws": "#d81b60", "sd": "#9e9d24",
}  # fmt: skip
ROW = 26
BOARD_X, BOARD_W = 30, 210
PART_X, PART_W = 560, 230
WIDTH = 820


@dataclass(frozen=True)
class Wire:
    pin: str
    to: str  # a power pin, or a bus signal of the part
    note: str = ""


@dataclass(frozen=True)
class Part:
    key: str
    name: str
    sensor: str  # the firmware's sensor type
    bus: dict[str, int]  # the firmware's bus keys, e.g. {"i2c": 0, "sda": 21, "scl": 22}
    wires: tuple[Wire, ...]
    address: int | None = None

    @property
    def bus_kind(self) -> str:
        return next(iter(self.bus))

    def board_pin(self, wire: Wire) -> str:
        """The board pin a wire ends at: '5V', '3V3', 'GND' or a GPIO number as text."""
        if wire.to in POWER:
            return wire.to
        if wire.to not in self.bus:
            raise ValueError(f"{self.key}: wire {wire.pin} goes to {wire.to!r}, not a bus signal")
        return str(self.bus[wire.to])


@dataclass(frozen=True)
class Kit:
    id: str
    title: str
    parts: tuple[Part, ...]

    @property
    def sensors(self) -> list[str]:
        return [part.sensor for part in self.parts]


@dataclass(frozen=True)
class Wiring:
    board: str
    labels: dict[str, str]
    parts: dict[str, Part]
    kits: tuple[Kit, ...]

    def label(self, pin: str) -> str:
        return self.labels.get(pin, pin if pin in POWER else f"GPIO {pin}")

    def for_board(self, board: Board) -> Wiring:
        """The same kits on another board profile: every part on that board's pins."""
        parts = {
            key: replace(part, bus=dict(board.pins[part.bus_kind]))
            for key, part in self.parts.items()
        }
        kits = tuple(
            replace(kit, parts=tuple(parts[p.key] for p in kit.parts)) for kit in self.kits
        )
        return Wiring(board.title, {}, parts, kits)


def joins(kit: Kit) -> dict[str, int]:
    """Board pins that more than one wire goes to, with the number of wires.

    Counted as if the board had one 5V, one 3V3 and one GND pin (an ESP32-C3 SuperMini has
    no more), so the wiring works on every profile: such wires meet on a mini breadboard
    (or a header strip or a splitter), and one more wire goes from there to the board.
    """
    count = Counter(part.board_pin(wire) for part in kit.parts for wire in part.wires)
    return {pin: n for pin, n in count.items() if n > 1}


def jumper_count(kit: Kit) -> int:
    """Jumper wires the kit needs: one per part pin, plus one per joined board pin."""
    return sum(len(part.wires) for part in kit.parts) + len(joins(kit))


def load(path: Path) -> Wiring:
    doc: dict[str, Any] = json.loads(path.read_text())
    parts = {
        key: Part(
            key,
            spec["name"],
            spec["sensor"],
            dict(spec["bus"]),
            tuple(Wire(**wire) for wire in spec["wires"]),
            spec.get("address"),
        )
        for key, spec in doc["parts"].items()
    }
    kits = tuple(
        Kit(kit["id"], kit["title"], tuple(parts[key] for key in kit["parts"]))
        for kit in doc["kits"]
    )
    return Wiring(doc["board"]["name"], dict(doc["board"]["labels"]), parts, kits)


def _board_pins(kit: Kit) -> list[str]:
    used = {part.board_pin(wire) for part in kit.parts for wire in part.wires}
    power = [pin for pin in POWER if pin in used]
    return power + sorted((pin for pin in used if pin not in POWER), key=int)


def svg(wiring: Wiring, kit: Kit) -> str:
    """The kit's wiring diagram: the board's used pins on the left, the parts on the right."""
    pins = _board_pins(kit)
    top = 70
    board_y = {pin: top + 40 + i * ROW for i, pin in enumerate(pins)}
    part_rows: list[tuple[Part, int]] = []
    y = top
    for part in kit.parts:
        part_rows.append((part, y))
        y += 40 + len(part.wires) * ROW + 24
    board_h = 40 + len(pins) * ROW
    height = max(y, top + board_h + 24) + 40
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="DejaVu Sans, Arial, sans-serif" '
        'font-size="13">',
        f"<title>{escape(kit.title)}</title>",
        f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>',
        f'<text x="{BOARD_X}" y="32" font-size="18" font-weight="bold">{escape(kit.title)}</text>',
        f'<text x="{BOARD_X}" y="54" fill="#555555">lokaalmeten deploy --sensors '
        f"{','.join(kit.sensors)}</text>",
        f'<rect x="{BOARD_X}" y="{top}" width="{BOARD_W}" height="{board_h}" rx="8" '
        'fill="#1b2631" stroke="#000000"/>',
        f'<text x="{BOARD_X + 12}" y="{top + 24}" fill="#ffffff" font-weight="bold">'
        f"{escape(wiring.board.split(' (')[0])}</text>",
    ]
    for pin in pins:
        py = board_y[pin]
        out.append(
            f'<text x="{BOARD_X + BOARD_W - 14}" y="{py + 4}" fill="#ffffff" '
            f'text-anchor="end">{escape(wiring.label(pin))}</text>'
        )
        out.append(f'<circle cx="{BOARD_X + BOARD_W}" cy="{py}" r="4" fill="#f1c40f"/>')
    # Each wire: from its board pin across to its own vertical lane, then to the part's pin.
    wires = []
    for part, py0 in part_rows:
        box_h = 40 + len(part.wires) * ROW
        out.append(
            f'<rect x="{PART_X}" y="{py0}" width="{PART_W}" height="{box_h}" rx="8" '
            'fill="#eaf2f8" stroke="#2e4053"/>'
        )
        out.append(
            f'<text x="{PART_X + 12}" y="{py0 + 24}" font-weight="bold">{escape(part.name)}</text>'
        )
        for i, wire in enumerate(part.wires):
            wy = py0 + 40 + i * ROW + ROW // 2 - 4
            wires.append((board_y[part.board_pin(wire)], wy, wire))
    lane_step = (PART_X - BOARD_X - BOARD_W - 60) // max(len(wires), 1)
    for lane, (by, wy, wire) in enumerate(_lane_order(wires)):
        colour = COLOURS.get(wire.to, "#555555")
        x = BOARD_X + BOARD_W + 30 + lane * lane_step
        out.append(
            f'<polyline points="{BOARD_X + BOARD_W},{by} {x},{by} {x},{wy} {PART_X},{wy}" '
            f'fill="none" stroke="{colour}" stroke-width="2.5"/>'
        )
        out.append(f'<circle cx="{PART_X}" cy="{wy}" r="4" fill="{colour}"/>')
        out.append(f'<text x="{PART_X + 14}" y="{wy + 4}">{escape(wire.pin)}</text>')
    out.append(
        f'<text x="{BOARD_X}" y="{height - 16}" fill="#555555" font-size="11">Generated from '
        "hardware/wiring/kits.json by hardware/wiring/generate.py; do not edit.</text>"
    )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _lane_order(wires: list[tuple[int, int, Wire]]) -> list[tuple[int, int, Wire]]:
    """Lanes from left to right that keep crossings few.

    Two wires that both go up do not cross when the one from the higher board pin takes
    the lane further left; two that both go down do not cross when the one from the lower
    board pin (and, from the same pin, the one to the lower part pin) takes it.
    """
    up = sorted((w for w in wires if w[1] < w[0]), key=lambda w: (w[0], w[1]))
    down = sorted((w for w in wires if w[1] >= w[0]), key=lambda w: (-w[0], -w[1]))
    return up + down


def _joins_text(wiring: Wiring, kit: Kit) -> str:
    shared = joins(kit)
    if not shared:
        return f"Jumper wires: {jumper_count(kit)}, each from a part's pin straight to the board."
    listed = ", ".join(f"{wiring.label(pin)} ({n} wires)" for pin, n in shared.items())
    return (
        f"Shared pins: {listed}. Join each on a row of a mini breadboard (or a header strip "
        f"or a splitter) and run one wire from that row to the board: {jumper_count(kit)} "
        "jumper wires in all."
    )


def markdown(wiring: Wiring, svg_folder: str = "") -> str:
    """hardware/wiring/README.md: every kit's diagram and pin table."""
    lines = [
        "# Wiring",
        "",
        "<!-- Generated from kits.json by generate.py (python hardware/wiring/generate.py);",
        "     edit kits.json, not this file. -->",
        "",
        f"How the parts of each kit connect to an {wiring.board}. The pins are the",
        "firmware's defaults (`firmware/kit/sensors.py`), so a kit wired like this needs no pin",
        "settings: `lokaalmeten deploy --sensors …` with the list under each kit, or the same",
        "sensor names in the set-up portal. A test checks these tables against the firmware.",
        "",
        "Power: **5V** is the board's 5 V pin (VIN, straight from USB), **3V3** its regulated",
        "3.3 V, **GND** any ground pin. Every I²C sensor shares the same two wires (SDA, SCL);",
        "most breakout boards carry the pull-up resistors the bus needs.",
        "",
        "Other boards have other pins; `lokaalmeten deploy` detects the board and writes its",
        "pins (`--board` to choose). The same kits on each board profile:",
        "",
        "| board | heap | UART rx, tx | I²C sda, scl | I²S sck, ws, sd | wiring |",
        "|---|---|---|---|---|---|",
        *[
            f"| {b.title} | {b.heap_kib} KiB | {b.pins['uart']['rx']}, {b.pins['uart']['tx']} "
            f"| {b.pins['i2c']['sda']}, {b.pins['i2c']['scl']} | {b.pins['i2s']['sck']}, "
            f"{b.pins['i2s']['ws']}, {b.pins['i2s']['sd']} | "
            + ("this page" if b is BOARDS[0] else f"[{b.name}]({b.name}/README.md)")
            + " |"
            for b in BOARDS
        ],
        "",
        "The noise kit and kits with several sensors are best built on a board with PSRAM",
        "(ESP32-WROVER or ESP32-S3 N16R8): a WROOM-32 leaves MicroPython about 96 KiB.",
        "",
        "| kit | sensors for `--sensors` | parts |",
        "|---|---|---|",
    ]
    for kit in wiring.kits:
        parts = ", ".join(part.name for part in kit.parts)
        lines.append(f"| [{kit.title}](#{kit.id}) | `{','.join(kit.sensors)}` | {parts} |")
    for kit in wiring.kits:
        lines += [
            "",
            f'<a id="{kit.id}"></a>',
            "",
            f"## {kit.title}",
            "",
            f"![{kit.title}]({svg_folder}{kit.id}.svg)",
            "",
            f"Sensors: `{','.join(kit.sensors)}`",
            "",
            _joins_text(wiring, kit),
            "",
            "| part | pin | to the ESP32 | notes |",
            "|---|---|---|---|",
        ]
        for part in kit.parts:
            for wire in part.wires:
                lines.append(
                    f"| {part.name} | {wire.pin} | {wiring.label(part.board_pin(wire))} "
                    f"| {wire.note} |"
                )
    return "\n".join(lines) + "\n"


def generate(folder: Path) -> dict[Path, str]:
    """Every generated file of ``folder`` (which holds kits.json) with its content."""
    wiring = load(folder / "kits.json")
    files = {folder / f"{kit.id}.svg": svg(wiring, kit) for kit in wiring.kits}
    files[folder / "README.md"] = markdown(wiring)
    for board in BOARDS[1:]:  # kits.json is the first profile's (ESP32-DevKitC) wiring
        other = wiring.for_board(board)
        for kit in other.kits:
            files[folder / board.name / f"{kit.id}.svg"] = svg(other, kit)
        files[folder / board.name / "README.md"] = _board_page(other, board)
    return files


def _board_page(wiring: Wiring, board: Board) -> str:
    """A board profile's wiring page: the first page's kits on this board's pins."""
    text = markdown(wiring)
    body = text.split("| kit | sensors for `--sensors` | parts |", 1)[1]
    head = [
        f"# Wiring on an {board.title}",
        "",
        "<!-- Generated from ../kits.json and lokaalmeten/kit_tools/boards.py by",
        "     ../generate.py; edit those, not this file. -->",
        "",
        "The kits of [the main wiring page](../README.md) on this board's pins, which",
        f"`lokaalmeten deploy --board {board.name}` writes (and picks by itself when the kit",
        f"reports this board). Heap for the kit: {board.heap_kib} KiB.",
        "",
        "| kit | sensors for `--sensors` | parts |",
    ]
    return "\n".join(head) + body
