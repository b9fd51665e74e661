"""LoRaWAN frames (firmware/kit/lora_frame.py, lokaalmeten/protocol/lora_frame.py): what the
kit encodes under the real MicroPython, the gateway decodes, and the payload formatter it
generates for The Things Stack, run by Node.js, reads the same; broken frames are refused
with a sentence by both."""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from lokaalmeten.cli import app
from lokaalmeten.protocol.lora_frame import FIELDS, Frame, FrameError, decode, payload_formatter
from lokaalmeten.protocol.quantities import QUANTITIES
from tests.firmware.mpy import run_micropython

QUANTITY_FIELDS = [f for f in FIELDS if f.name not in ("age", "seq")]
Record = dict[str, Any]
EU868_SF12_MAX = 51  # bytes of application payload at DR0 (SF12) and DR1, DR2


def _records(count: int) -> list[Record]:
    """Records as a kit makes them: a random subset of quantities within their ranges, now
    and then a value no field can hold, an age and a sequence number."""
    pick = random.Random(19)
    records: list[Record] = []
    for n in range(count):
        values = {}
        for f in QUANTITY_FIELDS:
            if pick.random() < 0.6:
                q = QUANTITIES[f.name]
                values[f.name] = round(pick.uniform(q.minimum, q.maximum), 3)
        if n % 17 == 0:
            values["pm10"] = 70000.0  # beyond its 16 bits: left out, never wrapped
        age = pick.choice([None, 0, 600, 65535, 70000])
        records.append({"values": values, "age": age, "seq": n * 977})
    return records


@pytest.fixture(scope="module")
def encoded(
    micropython: str, tmp_path_factory: pytest.TempPathFactory
) -> list[tuple[Record, bytes]]:
    records = _records(300)
    folder = tmp_path_factory.mktemp("lora")
    (folder / "records.json").write_text("\n".join(json.dumps(r) for r in records))
    script = (
        "import binascii, json\nfrom kit.lora_frame import encode\n"
        f"for line in open({str(folder / 'records.json')!r}):\n"
        "    r = json.loads(line)\n"
        "    print(binascii.hexlify(encode(r['values'], r['age'], r['seq'])).decode())\n"
    )
    out = run_micropython(micropython, script, folder, heap="64k")
    frames = [bytes.fromhex(line) for line in out.split()]
    assert len(frames) == len(records)
    return list(zip(records, frames, strict=True))


def _expected(record: Record) -> Frame:
    values = {}
    for f in QUANTITY_FIELDS:
        value = record["values"].get(f.name)
        if value is not None and round(value * f.scale) < 1 << 16:
            raw = round(value * f.scale)
            values[f.name] = raw / f.scale if f.scale != 1 else float(raw)
    age = record["age"] if record["age"] is not None and record["age"] < 1 << 16 else None
    return Frame(values, age, record["seq"] & 0xFFFF)


def test_what_the_kit_encodes_the_gateway_decodes(encoded: list[tuple[Record, bytes]]) -> None:
    for record, frame in encoded:
        assert decode(frame) == _expected(record)
        assert len(frame) <= EU868_SF12_MAX


def test_a_full_record_fits_the_smallest_lorawan_payload() -> None:
    full = 3 + sum(f.size for f in FIELDS)
    assert full <= EU868_SF12_MAX, full


def _formatter(node: str, folder: Path, frames: list[bytes]) -> list[Record]:
    script = folder / "run.js"
    script.write_text(
        payload_formatter()
        + "\nvar frames = "
        + json.dumps([list(f) for f in frames])
        + ";\nconsole.log(JSON.stringify(frames.map(function (b) {"
        + " return decodeUplink({bytes: b, fPort: 1}); })));\n"
    )
    done = subprocess.run([node, str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    answers: list[Record] = json.loads(done.stdout)
    return answers


def test_the_things_stack_formatter_reads_what_the_gateway_reads(
    encoded: list[tuple[Record, bytes]], node: str, tmp_path: Path
) -> None:
    frames = [frame for _, frame in encoded]
    for frame, answer in zip(frames, _formatter(node, tmp_path, frames), strict=True):
        decoded = decode(frame)
        meta = {k: v for k, v in (("age", decoded.age), ("seq", decoded.seq)) if v is not None}
        assert answer == {"data": {**decoded.values, **meta}}


BROKEN = [
    (b"\x01\x00", "at least 3 bytes"),
    (b"\x02\x00\x00", "frame format 2"),
    (b"\x01\x80\x00", "fields this"),
    (b"\x01\x00\x02\x00", "ends inside its field pm25"),
    (b"\x01\x00\x00\x07", "1 bytes after"),
]


@pytest.mark.parametrize(("frame", "words"), BROKEN)
def test_a_broken_frame_is_refused_with_a_sentence(frame: bytes, words: str) -> None:
    with pytest.raises(FrameError, match=words):
        decode(frame)


def test_the_formatter_refuses_broken_frames_too(node: str, tmp_path: Path) -> None:
    answers = _formatter(node, tmp_path, [frame for frame, _ in BROKEN])
    assert all(list(answer) == ["errors"] and answer["errors"] for answer in answers)


def test_the_command_prints_and_writes_the_formatter(tmp_path: Path) -> None:
    printed = CliRunner().invoke(app, ["lorawan", "formatter"])
    assert printed.exit_code == 0 and printed.output == payload_formatter()
    target = tmp_path / "formatter.js"
    written = CliRunner().invoke(app, ["lorawan", "formatter", "--output", str(target)])
    assert written.exit_code == 0 and target.read_text() == payload_formatter()
    refused = CliRunner().invoke(app, ["lorawan", "formatter", "-o", str(tmp_path / "no/x.js")])
    assert refused.exit_code == 2 and "cannot write" in refused.output


def test_the_protocol_doc_lists_the_frame_table() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()
    for index, f in enumerate(FIELDS):
        kind = ("signed" if f.signed else "unsigned") + f" {8 * f.size}-bit"
        assert f"| {index} | `{f.name}` | {kind} | {1 / f.scale:g} |" in doc, f.name
