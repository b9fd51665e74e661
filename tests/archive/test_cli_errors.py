"""``lokaalmeten archive`` refuses bad input with one line that says what to fix."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lokaalmeten.services.ports import free_port
from tests.server.conftest import META, READINGS, fill
from tests.test_cli import lm


@pytest.fixture
def store(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'lm.db'}"
    fill(url, READINGS, META)
    return url


def refused(*args: str) -> str:
    out = lm("archive", *args)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr
    assert out.stderr.startswith("error: ")
    return out.stderr


def test_no_store(tmp_path: Path) -> None:
    message = refused("--store", f"sqlite:///{tmp_path}/nothing.db", "--folder", str(tmp_path))
    assert f"no store at {tmp_path}/nothing.db" in message


def test_an_unreachable_store_is_named(tmp_path: Path) -> None:
    url = f"influxdb://127.0.0.1:{free_port()}/lokaalmeten"
    message = refused("--store", url, "--folder", str(tmp_path / "a"))
    assert "127.0.0.1" in message


def test_no_folder(store: str) -> None:
    assert "no archive folder: pass --folder or set LM_ARCHIVE_FOLDER" in refused("--store", store)


def test_a_folder_that_cannot_be_written(store: str, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    message = refused("--store", store, "--folder", str(blocker / "archive"))
    assert f"cannot write to the archive folder {blocker / 'archive'}" in message
    assert "--folder / LM_ARCHIVE_FOLDER" in message


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "2026-13-01"], "--since '2026-13-01': send a date as YYYY-MM-DD"),
        (["--until", "28-11-2026"], "--until '28-11-2026': send a date as YYYY-MM-DD"),
        (["--days", "3", "--since", "2026-11-01"], "--days and --since both say where"),
        (["--since", "2026-11-29", "--until", "2026-11-28"], "--since 2026-11-29 is after"),
    ],
)
def test_bad_days(store: str, tmp_path: Path, args: list[str], message: str) -> None:
    assert message in refused("--store", store, "--folder", str(tmp_path / "a"), *args)


def test_a_day_not_over_yet(store: str, tmp_path: Path) -> None:
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    message = refused("--store", store, "--folder", str(tmp_path / "a"), "--until", today)
    assert "the archive holds complete UTC days only" in message


def test_an_empty_store_makes_an_empty_index(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    fill(url, [], [])
    out = lm("archive", "--store", url, "--folder", str(tmp_path / "a"))
    assert out.returncode == 0, out.stderr
    assert "nothing to archive" in out.stdout
    assert (tmp_path / "a" / "SHA256SUMS").read_text() == ""
    assert '"dcat:distribution": []' in (tmp_path / "a" / "index.jsonld").read_text()


def test_one_run_per_folder_at_a_time(store: str, tmp_path: Path) -> None:
    folder = tmp_path / "a"
    folder.mkdir()
    # Another run holds the folder: a real process, as the nightly timer's would be.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys, time; lock = open(sys.argv[1], 'w'); "
            "fcntl.flock(lock, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)",
            str(folder / ".archive-lock"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        message = refused("--store", store, "--folder", str(folder))
        assert f"another lokaalmeten archive is writing {folder} now" in message
    finally:
        holder.kill()
        holder.wait()
    out = lm("archive", "--store", store, "--folder", str(folder))
    assert out.returncode == 0, out.stderr
    assert "files written" in out.stdout
