"""``lokaalmeten fleet release``: the repository's firmware built for every kind of chip,
each build with a manifest of exactly its files, signed by a release key made on first use;
the real MicroPython's release check accepts it, and what must not happen is refused."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from typer.testing import CliRunner

from lokaalmeten.cli import app
from lokaalmeten.kit_tools.chips import CHIPS
from lokaalmeten.kit_tools.release import ReleaseError, make_release, public_key, release_key
from lokaalmeten.simulate import compile_firmware, firmware_dir
from tests.firmware.mpy import kit_release_check


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(releases folder, key file) after one release 0.2.0 through the command line."""
    work = tmp_path_factory.mktemp("fleet")
    args = ["fleet", "release", str(firmware_dir()), "--version", "0.2.0",
            "--releases", str(work / "releases"), "--key", str(work / "release.key")]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    key = release_key(work / "release.key")
    assert f"release public key (kits verify with it): {public_key(key).hex()}" in result.output
    return work / "releases", work / "release.key"


def test_each_chip_gets_a_build_whose_manifest_lists_exactly_its_files(
    released: tuple[Path, Path],
) -> None:
    releases, key_file = released
    marches = {chip.march for chip in CHIPS}
    assert {p.name for p in (releases / "0.2.0").iterdir()} == marches
    verifier = Ed25519PublicKey.from_public_bytes(public_key(release_key(key_file)))
    for march in marches:
        folder = releases / "0.2.0" / march
        manifest = (folder / "manifest.json").read_bytes()
        verifier.verify((folder / "manifest.sig").read_bytes(), manifest)  # raises if not
        doc = json.loads(manifest)
        assert (doc["v"], doc["version"], doc["march"]) == (1, "0.2.0", march)
        assert doc["boards"] and doc["min_free_heap_kib"] > 0
        on_disk = {
            p.relative_to(folder).as_posix()
            for p in folder.rglob("*")
            if p.is_file() and p.name not in ("manifest.json", "manifest.sig")
        }
        assert {f["path"] for f in doc["files"]} == on_disk
        assert "kit/runtime.mpy" in on_disk and "kit/update.mpy" in on_disk
        # How a kit boots and goes back stays what it was deployed with (firmware/slots.py).
        assert not on_disk & {"main.py", "boot.py", "slots.mpy", "slots.py"}
        for entry in doc["files"]:
            data = (folder / entry["path"]).read_bytes()
            assert entry["size"] == len(data)
            assert entry["sha256"] == hashlib.sha256(data).hexdigest()


def test_the_kits_own_check_accepts_the_release(
    released: tuple[Path, Path], micropython: str, tmp_path: Path
) -> None:
    """In a 64 KB heap with the check compiled, as a kit runs it (from source, the compiler
    itself needs more heap than the check)."""
    releases, key_file = released
    folder = releases / "0.2.0" / "xtensawin"
    compiled = compile_firmware(tmp_path / "fw")
    key = public_key(release_key(key_file))
    assert kit_release_check(micropython, folder, key, compiled=compiled, heap="64k") == "None"


def test_the_key_is_made_once_readable_by_its_owner_only(released: tuple[Path, Path]) -> None:
    _, key_file = released
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert public_key(release_key(key_file)) == public_key(release_key(key_file))
    key_file.with_name("broken.key").write_bytes(b"short")
    with pytest.raises(ReleaseError, match="is not a release key"):
        release_key(key_file.with_name("broken.key"))


def test_a_release_is_never_changed_nor_left_half_made(
    released: tuple[Path, Path], tmp_path: Path
) -> None:
    releases, key_file = released
    before = (releases / "0.2.0" / "xtensawin" / "manifest.json").read_bytes()
    args = ["fleet", "release", str(firmware_dir()), "--version", "0.2.0",
            "--releases", str(releases), "--key", str(key_file)]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "release 0.2.0 exists" in result.output and "Traceback" not in result.output
    assert (releases / "0.2.0" / "xtensawin" / "manifest.json").read_bytes() == before
    key = release_key(key_file)
    with pytest.raises(ReleaseError, match="use letters, digits"):
        make_release(firmware_dir(), "../0.3", releases, key)
    with pytest.raises(ReleaseError, match="is not a firmware folder"):
        make_release(tmp_path, "0.3.0", releases, key)
    broken = tmp_path / "broken"
    (broken / "kit").mkdir(parents=True)
    (broken / "kit" / "runtime.py").write_text("def run(:\n")
    with pytest.raises(ReleaseError, match="does not compile"):
        make_release(broken, "0.3.0", releases, key)
    assert sorted(p.name for p in releases.iterdir()) == ["0.2.0"]  # nothing half-made


def test_a_release_for_simulated_kits_only_and_an_unknown_chip(tmp_path: Path) -> None:
    args = ["fleet", "release", str(firmware_dir()), "--version", "0.2.1", "--march", "x64",
            "--releases", str(tmp_path / "releases"), "--key", str(tmp_path / "k")]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert [p.name for p in (tmp_path / "releases" / "0.2.1").iterdir()] == ["x64"]
    doc = json.loads((tmp_path / "releases" / "0.2.1" / "x64" / "manifest.json").read_bytes())
    assert doc["march"] == "x64"
    args[args.index("x64")] = "z80"
    args[args.index("0.2.1")] = "0.2.2"
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "--march z80: known are" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "releases" / "0.2.2").exists()
