"""``lokaalmeten places`` as an operator runs it: edits of the node directory, where the
server reads them (``places set`` once saved into a store the server never read)."""

from __future__ import annotations

from pathlib import Path

from lokaalmeten.gateway.directory import Directory
from lokaalmeten.gateway.registry import Registry
from lokaalmeten.protocol.status import StatusReport
from tests.test_cli import lm


def registry(tmp_path: Path) -> Path:
    path = tmp_path / "registry.db"
    Registry(path).close()  # as `nodes add` or the gateway leave it
    return path


def test_set_changes_only_the_fields_given_and_list_shows_them(tmp_path: Path) -> None:
    path = registry(tmp_path)
    where = ["--registry", str(path)]
    out = lm("places", "set", "kit-1", "--lat", "52.091234", "--lon", "5.121987", "--name",
             "Lombok", "--interval", "60", "--outdoor", "--height", "3.5", *where)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "published rounded" in out.stdout
    assert lm("places", "set", "kit-1", "--notes", "ladder nodig", *where).returncode == 0
    entry = Directory(path).entry("kit-1")
    assert entry is not None and entry.place is not None
    assert (entry.place.latitude, entry.place.longitude, entry.place.exact) == (
        52.091234,
        5.121987,
        False,
    )
    assert (entry.name, entry.interval, entry.siting.indoor, entry.siting.height_m) == (
        "Lombok",
        60.0,
        False,
        3.5,
    )
    assert entry.siting.notes == "ladder nodig"  # the second set kept everything else
    listed = lm("places", "list", *where)
    assert listed.returncode == 0, listed.stderr
    assert "kit-1\t52.091234,5.121987\trounded\toperator\t-\t-\t60.0\tLombok" in listed.stdout


def test_exact_consent_is_given_and_withdrawn_and_moves_are_history(tmp_path: Path) -> None:
    path = registry(tmp_path)
    where = ["--registry", str(path)]
    assert lm("places", "set", "school-1", "--lat", "52.1", "--lon", "5.2", *where).returncode == 0
    assert lm("places", "set", "school-1", "--exact", *where).returncode == 0
    assert "exact" in lm("places", "list", *where).stdout.splitlines()[1]
    moved = lm("places", "set", "school-1", "--lat", "52.2", "--lon", "5.3", *where)
    assert moved.returncode == 0 and "published rounded" in moved.stdout  # consent was for 52.1
    history = lm("places", "history", "school-1", *where)
    assert history.returncode == 0, history.stderr
    rows = history.stdout.splitlines()[1:]
    assert len(rows) == 2 and rows[0].split("\t")[2] == "52.1,5.2"
    assert rows[1].split("\t")[1] == "now" and rows[1].split("\t")[2] == "52.2,5.3"
    assert lm("places", "set", "school-1", "--no-exact", *where).returncode == 0
    assert all(not p.exact for p in Directory(path).history("school-1"))


def test_the_kits_own_location_counts_until_the_operator_sets_one(tmp_path: Path) -> None:
    path = registry(tmp_path)
    directory = Directory(path)
    report = StatusReport("online", "0.2.0", {}, (52.09, 5.12, False))
    directory.report_status("kit-7", report, 1_000, retained=False)
    directory.close()
    listed = lm("places", "list", "--registry", str(path)).stdout
    assert "kit-7\t52.09,5.12\trounded\tkit\tonline\t0.2.0" in listed
    assert lm("places", "set", "kit-7", "--lat", "52.1", "--lon", "5.1",
              "--registry", str(path)).returncode == 0  # fmt: skip
    assert (
        "kit-7\t52.1,5.1\trounded\toperator" in lm("places", "list", "--registry", str(path)).stdout
    )
    cleared = lm("places", "set", "kit-7", "--clear-location", "--registry", str(path))
    assert cleared.returncode == 0 and "52.09,5.12 (kit's)" in cleared.stdout


def test_bad_input_is_one_clear_line_and_a_missing_registry_is_not_made(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "registry.db"
    for args, problem in (
        (["set", "kit-1", "--lat", "52", "--registry", str(missing)], "both --lat and --lon"),
        (["set", "kit-1", "--registry", str(missing)], "nothing to change"),
        (["list", "--registry", str(missing)], f"no registry at {missing}"),
        (["history", "kit-1", "--registry", str(registry(tmp_path))], "has no location"),
        (["set", "kit-1", "--lat", "95", "--lon", "5"], "less than or equal to 90"),
    ):
        out = lm("places", *args)
        assert out.returncode == 2, (args, out.stdout, out.stderr)
        assert problem in out.stderr, (args, out.stderr)
        assert "Traceback" not in out.stderr
    assert not missing.parent.exists()
