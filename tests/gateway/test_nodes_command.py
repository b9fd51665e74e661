"""`lokaalmeten nodes …` as an operator runs it: never a lost broker account.

Once: the installer's hint, run from a home folder, made a new empty ``./var/registry.db``
and rewrote Mosquitto's ``passwd`` from it with only the new kit; the gateway's account and
every earlier kit were gone at the next broker reload.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.test_cli import lm


def accounts(folder: Path) -> set[str]:
    lines = (folder / "passwd").read_text().splitlines()
    return {line.split(":", 1)[0] for line in lines if ":" in line}


def installed(tmp_path: Path) -> tuple[Path, Path]:
    """An installation's registry (the gateway and two kits) and its broker folder."""
    registry, broker = tmp_path / "lib" / "registry.db", tmp_path / "mosquitto"
    (tmp_path / "lib").mkdir()
    for args in (["gw-1", "--gateway"], ["kit-1"], ["kit-2"]):
        out = lm("nodes", "add", *args, "--registry", str(registry), "--mosquitto-dir",
                 str(broker))  # fmt: skip
        assert out.returncode == 0, out.stderr
    assert accounts(broker) == {"gw-1", "kit-1", "kit-2"}
    return registry, broker


def test_a_registry_that_does_not_know_the_brokers_accounts_changes_nothing(
    tmp_path: Path,
) -> None:
    _, broker = installed(tmp_path)
    before = (broker / "passwd").read_text()
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "LM_REGISTRY"}
    out = lm("nodes", "add", "kit-3", "--mosquitto-dir", str(broker), cwd=home, env=env)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "gw-1, kit-1, kit-2" in out.stderr and "registry" in out.stderr
    assert "Traceback" not in out.stderr
    assert (broker / "passwd").read_text() == before  # nobody locked out
    assert not (home / "var").exists()  # and no new registry left behind


def test_add_rotate_and_remove_with_the_right_registry_keep_every_other_account(
    tmp_path: Path,
) -> None:
    registry, broker = installed(tmp_path)
    common = ["--registry", str(registry), "--mosquitto-dir", str(broker)]
    assert lm("nodes", "add", "kit-3", *common).returncode == 0
    assert lm("nodes", "rotate", "kit-1", *common).returncode == 0
    assert lm("nodes", "remove", "kit-2", *common).returncode == 0
    assert accounts(broker) == {"gw-1", "kit-1", "kit-3"}


def test_a_registry_that_does_not_exist_is_not_created_by_list_rotate_or_remove(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "does-not-exist.db"
    for args in (["list"], ["rotate", "kit-1"], ["remove", "kit-1"]):
        out = lm("nodes", *args, "--registry", str(missing))
        assert out.returncode == 2, out.stdout + out.stderr
        assert f"no registry at {missing}" in out.stderr
        assert not missing.exists()


def test_a_removed_kit_keeps_its_place_but_not_its_last_status(tmp_path: Path) -> None:
    from lokaalmeten.gateway.directory import Directory, Edit
    from lokaalmeten.protocol.status import StatusReport

    registry, broker = installed(tmp_path)
    directory = Directory(registry)
    directory.edit("kit-2", Edit(name="Dak", location=(52.1, 5.1)))
    directory.report_status("kit-2", StatusReport("online"), 1000, retained=False)
    directory.close()
    out = lm(
        "nodes", "remove", "kit-2", "--registry", str(registry), "--mosquitto-dir", str(broker)
    )
    assert out.returncode == 0, out.stderr
    entry = Directory(registry).entry("kit-2")
    assert entry is not None and entry.status is None  # a retained "online" no longer counts
    assert entry.name == "Dak" and entry.place is not None
