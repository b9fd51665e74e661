"""``lokaalmeten places``: the operator sets metadata the server then publishes rounded."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from lokaalmeten.cli import app
from lokaalmeten.store import NodeMeta, open_store


def test_places_set_and_list(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'lm.db'}"
    open_store(url).close()  # the gateway's; places never makes one
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "places",
            "set",
            "kit-1",
            "--lat",
            "52.091234",
            "--lon",
            "5.121987",
            "--name",
            "Lombok",
            "--interval",
            "60",
            "--store",
            url,
        ],
    )
    assert result.exit_code == 0, result.output
    store = open_store(url)
    assert store.node_meta() == {
        "kit-1": NodeMeta("kit-1", 52.091234, 5.121987, False, "Lombok", "", 60.0)
    }
    store.close()
    listed = runner.invoke(app, ["places", "list", "--store", url])
    assert "kit-1\t52.091234,5.121987\trounded\t60.0\tLombok" in listed.output
    half = runner.invoke(app, ["places", "set", "kit-2", "--lat", "52", "--store", url])
    assert half.exit_code == 2 and "both --lat and --lon" in half.output
